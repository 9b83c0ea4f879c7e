"""Notices about the desk rather than one ticket: admins' alerts, answers to agents' questions, digests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from maildesk.models import Address, StoredAttachment
from maildesk.notify.compose import AUTO_SUBMITTED, Outgoing, compose, envelope, new_message_id, to_bytes
from maildesk.notify.files import file_limit, select
from maildesk.notify.notifier import Parent, templates_for
from maildesk.notify.render import NOTICE_VARIABLES

if TYPE_CHECKING:  # the desk opens the store, whose timers plan with the agents' workflow
    from maildesk.desk import Desk
    from maildesk.store import Store

NO_TICKET = 0  # in Message-IDs; the outbox row has no ticket at all


def queue_desk_notice(desk: Desk, store: Store, *, kind: str, to: Address, context: Mapping[str, Any],
                      reply_to: str, parent: Parent = Parent(), files: Sequence[StoredAttachment] = (),
                      counted: bool = True) -> int:
    """Render and queue one notice of ``kind`` that belongs to no ticket, in the caller's transaction.

    ``files`` were asked for: they go up to the message size limit. A notice not ``counted`` never
    counts against an address's daily cap of automatic mail. Returns the outbox id.
    """
    outbound = desk.config.outbound
    assert outbound is not None
    chosen = select(files, data_dir=desk.data_dir, sent=frozenset(), limit=file_limit(desk.config, asked=True),
                    never=desk.config.notify.attach_never)
    listing = ({"files": [asdict(f) for f in chosen.listed], "files_unlisted": chosen.unlisted}
               if "files" in NOTICE_VARIABLES.get(kind, ()) else {})
    variables = {"desk": {"name": desk.config.desk.name, "address": desk.address}, "ticket": {}, **context,
                 "recipient": {"address": to.addr, "name": to.name}, "reply_address": reply_to, **listing}
    rendered = templates_for(desk.config.notify.templates_dir).render(kind, variables)
    out = Outgoing(ticket_id=NO_TICKET, kind=kind, to=to, subject=rendered.subject, text=rendered.text,
                   html=rendered.html, message_id=new_message_id(desk.config.desk.domain, NO_TICKET),
                   in_reply_to=parent.message_id, references=parent.references, reply_to=reply_to,
                   auto_submitted=AUTO_SUBMITTED[kind], files=chosen.attached)
    msg = compose(out, sender=outbound.sender, loop_id=desk.loop_id, clock=desk.clock)
    env_from, _, smtputf8 = envelope(out, outbound.sender)
    return store.outbox.enqueue(ticket_id=None, kind=kind, recipient=to.addr, message_id=out.message_id,
                                envelope_from=env_from, data=to_bytes(msg, smtputf8=smtputf8), smtputf8=smtputf8,
                                automatic=counted, now=desk.clock())
