"""Pure checks and wording for SMTP sending: envelope addresses, SMTPUTF8 needs, reply codes, our EHLO name."""

from __future__ import annotations

import email.utils
import socket
from functools import lru_cache

from maildesk.notify.delivery import Delivery, Status


@lru_cache(maxsize=1)
def this_host() -> str:
    """This host's fully qualified name for EHLO, looked up once: a slow resolver costs one lookup."""
    return socket.getfqdn()


def by_code(code: int) -> Status:
    return "permanent" if 500 <= code < 600 else "temporary"


def reply_text(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


def utf8_problem(delivery: Delivery) -> str | None:
    """Why the delivery needs SMTPUTF8 (non-ASCII address or flagged headers), else None."""
    what = ("recipient address" if not all(a.isascii() for a in delivery.recipients)
            else "sender address" if not delivery.envelope_from.isascii()
            else "message" if delivery.smtputf8 else "")
    return f"{what} needs SMTPUTF8, which the server does not offer" if what else None


def address_problem(delivery: Delivery) -> str | None:
    """Why the envelope cannot go out exactly as given: each address must be a bare addr-spec.

    A display name, a list or a control character is refused, never guessed at.
    """
    if not delivery.recipients or not all(delivery.recipients):
        return "no recipients" if not delivery.recipients else "empty recipient address"
    for address in (delivery.envelope_from, *delivery.recipients):
        if email.utils.parseaddr(address)[1] != address or not address.isprintable():
            return f"invalid envelope address {address!r}"
    return None
