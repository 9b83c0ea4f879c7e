"""Service-level agreements: business-hours calendars and the clocks that run on them."""
