"""maildesk: an email-driven, tiered support desk daemon."""

__version__ = "0.1.0"
