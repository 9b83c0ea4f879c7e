"""Tell mail from people apart from bounces, auto-replies, lists, machines and our own loops."""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage, Message
from functools import cached_property

from maildesk.intake.bounce import parse_bounce, ses_notification
from maildesk.intake.machines import absence_reasons, acknowledgement_reasons, desk_software
from maildesk.intake.mailview import MailView, content_param
from maildesk.intake.people import is_desk_address
from maildesk.models import LOOP_HEADER, BounceReport, Classification, MailKind

logger = logging.getLogger("maildesk.intake")


#: Sender local parts of delivery software, separators removed, with the spelling used in reasons.
_DAEMONS = {
    "mailerdaemon": "mailer-daemon",
    "postmaster": "postmaster",
    "maildeliverysubsystem": "mail-delivery-subsystem",
    "maildeliverysystem": "mail-delivery-system",
}

_DAEMON_NAMES = re.compile(r"^\s*(?:mailer[- ]?daemon|mail delivery (?:sub)?system|mail delivery service)\s*$", re.I)
_NOREPLY = frozenset({"noreply", "donotreply", "nereply", "noresponse", "bounce", "bounces"})
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:undeliver(?:ed|able)|delivery status notification|mail delivery status"
    r"|mail delivery (?:failed|failure|problem)|(?:permanent )?delivery (?:failure|failed|has failed|problem)"
    r"|failure (?:notice|delivery)|failed delivery|returned mail|mail system error|message delivery has failed"
    r"|message (?:not|could not be) delivered|mail could not be delivered|non[- ]?delivery|non remis|unzustellbar"
    r"|nicht zustellbar|non recapitabile|no se puede entregar|onbestelbaar|delayed mail|mail failure"
    r"|warning: (?:message \S+ delayed|could not send)|there was an error sending your mail)",
    re.I,
)
#: What delivery software writes and people do not.
_BOUNCE_BOILERPLATE = (
    r"mail delivery software|this is the mail system at host|wasn't able to deliver your message"
    r"|following addresses had (?:permanent fatal|transient non-fatal) errors|following address(?:\(es\)|es)? failed"
    r"|delivery to the following recipients? (?:failed|has been delayed)|delivery has failed to these recipients"
    r"|did not reach some or all of the intended recipients|could not be delivered to:?\s*<|remote host said"
    r"|^(?:final-recipient|diagnostic-code):|\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b"
)
_BOUNCE_MACHINE = re.compile(_BOUNCE_BOILERPLATE, re.I | re.M)
#: The same, plus wording a person might use when a machine vouches for the rest.
_BOUNCE_WORDING = re.compile(
    _BOUNCE_BOILERPLATE + r"|recipients? could not be reached|unable to deliver (?:your |the )?(?:message|mail)"
    r"|(?:message|mail) (?:could not|couldn't|was not|wasn't) (?:be )?delivered|user unknown|no such user"
    r"|mailbox (?:is )?(?:full|unavailable)|recipient address rejected|smtp error",
    re.I | re.M,
)
_LIST_SOFTWARE = ("Mailing-List", "X-Mailing-List", "X-ML-Name", "X-MLServer", "X-Mailman-Version", "X-BeenThere")


def local_part(addr: str) -> str:
    """The local part of an address, lower-cased, without separators (``Mailer-Daemon`` -> ``mailerdaemon``)."""
    return re.sub(r"[-_.\s]", "", addr.strip("<> ").rpartition("@")[0] or addr.strip("<> ")).lower()


def is_daemon(addr: str) -> bool:
    """A mailer-daemon or postmaster address, however it is spelled."""
    return local_part(addr) in _DAEMONS


class _View(MailView):
    """The facts about a message that the rules look at, each read once, safely and only when asked for."""

    @property
    def sender(self) -> str:
        return self.author[1]

    @property
    def sender_name(self) -> str:
        return self.author[0]

    @property
    def null_sender(self) -> bool:
        return self.author[2]

    @cached_property
    def subject(self) -> str:
        return " ".join((self.header("subject") or "").split())

    @cached_property
    def return_path(self) -> str | None:
        """None when absent, "" for the null path <>."""
        value = self.header("return-path")
        return None if value is None else "".join(value.split()).strip("<>")

    @cached_property
    def envelope(self) -> str:
        """The sender of an mbox "From " line, if any."""
        try:
            unixfrom = (self.msg.get_unixfrom() or "").split()
        except Exception:
            return ""
        return unixfrom[1] if len(unixfrom) > 1 else ""

    @cached_property
    def content_type(self) -> str:
        return self.parts[0][1]

    @cached_property
    def report_type(self) -> str:
        return content_param(self.msg, "report-type") if self.content_type == "multipart/report" else ""

    @cached_property
    def ses(self) -> dict[str, object] | None:
        """An Amazon SES notification in the body; only a body opening with "{" can hold one."""
        return ses_notification(self.text) if self.opening in {"{", "!"} else None


def _loop_reasons(view: _View, loop_id: str, own: frozenset[str]) -> tuple[list[str], list[str]]:
    """Reasons that make this our own mail come back, and notes that do not. Any plus-address of
    one of our own addresses is ours too: the reply tokens and agents' personal addresses."""
    loops, notes = [], []
    for value in view.headers(LOOP_HEADER):
        if loop_id and value.strip() == loop_id.strip():
            loops.append(f"{LOOP_HEADER} is ours")
        else:
            notes.append(f"{LOOP_HEADER} from elsewhere: {value.strip()[:60]}")
    if view.sender and any(is_desk_address(view.sender, address) for address in own):
        loops.append("sender is our own address")
    return loops, notes


def _report_reasons(view: _View) -> tuple[list[str], list[str]]:
    """Structural evidence of a delivery report and of a feedback report."""
    bounce, feedback = [], []
    if view.content_type == "multipart/report" and view.report_type == "delivery-status":
        bounce.append("multipart/report delivery-status")
    elif view.part_types & {"message/delivery-status", "message/global-delivery-status"}:
        bounce.append("message/delivery-status part")
    if view.content_type == "multipart/report" and view.report_type == "feedback-report":
        feedback.append("multipart/report feedback-report")
    elif "message/feedback-report" in view.part_types:
        feedback.append("message/feedback-report part")
    return bounce, feedback


def _feedback_hints(view: _View) -> list[str]:
    hints = []
    if view.ses and view.ses.get("notificationType") == "Complaint":
        hints.append("Amazon SES complaint notification")
    if view.subject.lower().startswith("complaint about message from") and "message/rfc822" in view.part_types:
        hints.append("complaint report with attached message")
    if (view.header("x-apple-unsubscribe") or "").lower() == "true":
        hints.append("X-Apple-Unsubscribe: true")
    return hints


def _sender_reasons(view: _View) -> list[str]:
    if view.sender and is_daemon(view.sender) and local_part(view.sender) != "postmaster":
        return [f"sender {_DAEMONS[local_part(view.sender)]}"]
    if not view.sender and view.null_sender:
        return ["sender <>"]
    if _DAEMON_NAMES.match(view.sender_name) or _DAEMON_NAMES.match(view.sender):
        return [f"sender name {view.sender_name or view.sender}"]
    return []


def _envelope_reasons(view: _View) -> list[str]:
    """A null or daemon envelope sender: mail no person sends."""
    if view.return_path == "":
        return ["Return-Path <>"]
    if view.return_path and _DAEMONS.get(local_part(view.return_path)) not in {None, "postmaster"}:
        return ["Return-Path mailer-daemon"]  # postmaster is a person's address often enough
    if view.return_path is None and (view.envelope == "<>" or local_part(view.envelope) == "mailerdaemon"):
        return ["mbox sender mailer-daemon"]
    return []


def _bounce_hints(view: _View, machine: bool) -> list[str]:
    """Evidence of a non-standard bounce, combined the way real ones are built."""
    strong = _sender_reasons(view)
    if view.headers("x-failed-recipients"):
        strong.append("X-Failed-Recipients present")
    ses = view.ses
    if ses and ses.get("notificationType") in {"Bounce", "Delivery"}:
        strong.append(f"Amazon SES {str(ses['notificationType']).lower()} notification")
    envelope = _envelope_reasons(view)
    subject = ["bounce subject"] if _BOUNCE_SUBJECT.search(view.subject) else []
    original = bool(view.part_types & {"message/rfc822", "text/rfc822-headers"})
    postmaster = local_part(view.sender) == "postmaster"
    if not (strong or postmaster or subject or envelope or (machine and original)):
        return []  # body wording alone never counts, so it is not worth decoding
    text = view.text[:20000]
    boilerplate = ["delivery software wording"] if _BOUNCE_MACHINE.search(text) else []
    wording = boilerplate or (["bounce wording in body"] if _BOUNCE_WORDING.search(text) else [])
    if postmaster and (subject or wording or envelope or machine or original):
        strong.append("sender postmaster")
    if strong:
        return strong + subject + wording
    if subject and (envelope or boilerplate):
        return subject + boilerplate + envelope
    if wording and (envelope or (machine and original)):
        return wording + envelope
    return []


def _autoreply_reasons(view: _View, others: bool) -> list[str]:
    reasons = []
    if _auto_submitted(view) == "auto-replied":
        reasons.append("Auto-Submitted: auto-replied")
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if (view.header(name) or "no").lower() not in {"no", "false", ""}:
            reasons.append(f"{name} present")
    if (view.header("x-apple-action") or "").lower() == "vacation":
        reasons.append("X-Apple-Action: vacation")
    if (view.header("precedence") or "").lower() in {"auto_reply", "auto-reply"}:
        reasons.append("Precedence: auto_reply")
    replying = bool(view.header("in-reply-to") or view.header("references"))
    if view.subject:
        reasons += absence_reasons(view.subject, view.text, replying=replying, machine=bool(reasons or others))
        desk = desk_software(view.header_names, view.header)
        reasons += acknowledgement_reasons(view.subject, view.text, desk=desk, replying=replying)
    return reasons


def _bulk_reasons(view: _View) -> list[str]:
    reasons = []
    precedence = (view.header("precedence") or "").lower()
    if precedence in {"bulk", "junk", "list"}:
        reasons.append(f"Precedence: {precedence}")
    reasons += [f"{name.title()} present" for name in sorted(view.header_names) if name.startswith("list-")]
    reasons += [f"{name} present" for name in _LIST_SOFTWARE if name.lower() in view.header_names]
    return reasons


def _auto_submitted(view: _View) -> str:
    """The keyword alone: parameters and comments go ("auto-replied (vacation)", as Pigeonhole writes)."""
    value = re.split(r"[;(]", view.header("auto-submitted") or "", maxsplit=1)[0]
    return value.strip().lower()


def _autogen_reasons(view: _View) -> list[str]:
    reasons = []
    submitted = _auto_submitted(view)
    if submitted and submitted not in {"no", "auto-replied"}:
        reasons.append(f"Auto-Submitted: {submitted[:40]}")
    suppress = view.header("x-auto-response-suppress")
    if suppress:
        reasons.append(f"X-Auto-Response-Suppress: {suppress[:40]}")
    reasons += _envelope_reasons(view)
    if view.sender and local_part(view.sender) in _NOREPLY:
        reasons.append(f"sender {local_part(view.sender)}")
    return reasons


def _decide(msg: Message, loop_id: str, own: frozenset[str]) -> Classification:
    view = _View(msg)
    loops, notes = _loop_reasons(view, loop_id, own)
    reports, feedback = _report_reasons(view)
    feedback += _feedback_hints(view)
    bulk = _bulk_reasons(view)
    autogen = _autogen_reasons(view)
    machine = bool(autogen or _auto_submitted(view))
    hints = [] if reports else _bounce_hints(view, machine)
    autoreply = _autoreply_reasons(view, bool(bulk or autogen))
    ranked: list[tuple[MailKind, list[str]]] = [
        ("loop", loops),
        ("bounce", reports),
        ("feedback", feedback),
        ("bounce", hints),
        ("auto-reply", autoreply),
        ("bulk", bulk),
        ("auto-generated", autogen),
    ]
    kind: MailKind = next((k for k, r in ranked if r), "human")
    reasons = tuple(dict.fromkeys(r for _, rs in ranked for r in rs).keys()) + tuple(notes)
    report = (parse_bounce(msg) or BounceReport()) if kind == "bounce" else None  # type: ignore[arg-type]
    return Classification(kind=kind, reasons=reasons, bounce=report)


def classify(msg: EmailMessage, *, loop_id: str, own_addresses: frozenset[str] = frozenset()) -> Classification:
    """Classify one parsed message; the most specific kind wins. Never raises.

    ``reasons`` lists every signal that matched, in order of the kind it points to;
    weak hints (a subject, body wording) appear only when combined into a decision.
    A message too broken to read is ``auto-generated``: a ticket, never an answer.
    """
    try:
        return _decide(msg, loop_id, own_addresses)
    except Exception:  # every access is guarded; this is the last line of defence
        logger.warning("could not classify message", exc_info=True)
        return Classification(kind="auto-generated", reasons=("unreadable message",))
