"""Out-of-office replies and other help desks' acknowledgements that carry no auto-reply header are still machines."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from desktools import harness
from mailfactory import make_message, message_id_of
from maildesk.intake.classify import classify

LOOP_ID = "desk-7f3a9c"
REPLY = b"In-Reply-To: <abc.1@support.example.test>\n"


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def kind_of(subject: bytes, *, extra: bytes = b"", body: bytes = b"Thanks for your mail.\n") -> str:
    raw = b"From: Pat <pat@customer.example>\nTo: support@example.test\nSubject: " + subject + b"\n" + extra
    return classify(parse(raw + b"\n" + body), loop_id=LOOP_ID).kind


# Subjects as each client writes them, with no Auto-Submitted, X-Autoreply or Precedence header.
CLIENT_SUBJECTS = [
    b"Automatic reply: Printer on floor 3 [#12]",  # Outlook, English
    b"Auto Reply: Printer on floor 3",
    b"AutoReply: Printer on floor 3",
    b"Out of Office AutoReply: Printer",  # Exchange 2003
    b"Out of Office Reply: Printer",
    b"Auto Response: Printer",  # Yahoo
    b"Automatische Antwort: Drucker im 3. Stock",  # Outlook, German
    b"Abwesenheitsnotiz: Drucker",  # Lotus Notes / Outlook, German
    b"=?iso-8859-1?q?R=E9ponse_automatique=A0:_Imprimante?=",  # Outlook, French, no-break space
    b"=?utf-8?q?R=C3=A9ponse_automatique_d'absence_du_bureau=C2=A0:_Imprimante?=",
    b"=?iso-8859-1?q?Respuesta_autom=E1tica:_Impresora?=",
    b"Risposta automatica: Stampante",
    b"Automatisch antwoord: Printer",
    b"=?iso-8859-1?q?Resposta_autom=E1tica:_Impressora?=",
    b"Automatiskt svar: Skrivare",
    b"Automatisk svar: Printer",
    b"Autosvar: Printer",
    b"Automaattinen vastaus: Tulostin",
    b"=?utf-8?q?Odpowied=C5=BA_automatyczna:_Drukarka?=",
    b"=?utf-8?q?Automatick=C3=A1_odpov=C4=9B=C4=8F:_Tisk=C3=A1rna?=",
    b"=?utf-8?q?Automatikus_v=C3=A1lasz:_Nyomtat=C3=B3?=",
    b"=?utf-8?q?Otomatik_yan=C4=B1t:_Yaz=C4=B1c=C4=B1?=",
    b"=?utf-8?b?0JDQstGC0L7QvNCw0YLQuNGH0LXRgdC60LjQuSDQvtGC0LLQtdGCOiDQn9GA0LjQvdGC0LXRgA==?=",  # ru
    b"=?utf-8?b?6Ieq5Yqo5Zue5aSNOiDmiZPljbDmnLo=?=",  # zh: 自动回复: 打印机
    b"=?iso-2022-jp?b?GyRCPCtGMDF+RXobKEI6IBskQiVXJWolcyU/GyhC?=",  # ja: 自動応答: プリンタ
    b"=?utf-8?b?7J6Q64+ZIO2ajOyLoDog7ZSE66aw7YSw?=",  # ko: 자동 회신: 프린터
    b"Jane Doe is out of the office.",  # Lotus / HCL Notes, on a reply
]


@pytest.mark.parametrize("subject", CLIENT_SUBJECTS)
def test_an_out_of_office_reply_is_known_by_its_subject_alone(subject):
    assert kind_of(subject, extra=REPLY) == "auto-reply"


@pytest.mark.parametrize("subject, extra, body, kind", [
    # an absence prefix counts with another sign: the mail answers one, absence wording, machine headers
    (b"Out of Office: Printer", REPLY, b"Thanks.", "auto-reply"),
    (b"Abwesend: Drucker", b"", b"Ich bin bis 12. Mai nicht im B\xc3\xbcro.\n", "auto-reply"),
    (b"Out of office: printer", b"", b"I am currently out of the office with limited access to email.\n",
     "auto-reply"),
    (b"Absence du bureau : imprimante", b"", b"Je suis actuellement absent.\n", "auto-reply"),
    (b"Fuera de la oficina: impresora", b"X-Auto-Response-Suppress: All\n", b"Hola.", "auto-reply"),
    # people writing these words are still people
    (b"Out of office: my laptop cannot reach the VPN from home", b"", b"Since Monday the VPN drops.\n", "human"),
    (b"Re: Automatic reply: Printer", REPLY, b"Why did I get an automatic reply?\n", "human"),
    (b"Fwd: Automatische Antwort: Drucker", b"", b"See below.\n", "human"),
    (b"Question about the out of office feature", b"", b"How do I turn it on?\n", "human"),
    (b"Ticket #4512 created in our system", b"", b"We opened a ticket with your team, can you help?\n", "human"),
    (b"We have received your invoice", b"", b"Thank you, we will pay it.\n", "human"),
    (b"Away: notice", b"", b"Is the office open on Friday?\n", "human"),
])
def test_an_absence_prefix_needs_a_second_sign(subject, extra, body, kind):
    assert kind_of(subject, extra=extra, body=body) == kind


DESK_ACKS = [  # (headers another desk writes, subject) — none says Auto-Submitted
    (b"X-Zendesk-From-Account-Id: 12ab\n", b"[Request received] Printer"),
    (b"X-Freshdesk-Ticket: 77\n", b"Ticket Received - Printer"),
    (b"RT-Ticket: example.com #123\nManaged-BY: RT 5.0.3\n", b"[example.com #123] AutoReply: Printer"),
    (b"X-OTRS-Loop: yes\n", b"[Ticket#2026120510000017] We have received your request"),
    (b"X-Mailer: osTicket Mailer\n", b"Support Ticket Opened [#683291]"),
    (b"X-Zammad-Ticket-Id: 5\n", b"Thanks for your email [Ticket#31005]"),
    (b"X-FreeScout-Mail-Type: auto.reply\n", b"Re: Printer"),  # FreeScout marks its auto reply in a header
    (b"X-ServiceNow-Source: email\n", b"Incident INC0012345 -- opened on your behalf"),
    (b"X-JIRA-FingerPrint: 0a1b\n", b"[JIRA] (SD-42) Your request has been received"),
    (b"", b"Re: Printer [Request #48213] has been received"),  # no software named, but a reply with its number
]


@pytest.mark.parametrize("extra, subject", DESK_ACKS)
def test_another_help_desks_acknowledgement_is_an_auto_reply(extra, subject):
    assert kind_of(subject, extra=extra + REPLY, body=b"This is an automated response.\n") == "auto-reply"


def test_a_vendor_agents_reply_through_their_help_desk_is_a_person():
    """L4 vendors answer from Zendesk and the like: their agents' words must reach ours."""
    extra = b"X-Zendesk-From-Account-Id: 12ab\nX-Mailer: Zendesk Mailer\n" + REPLY
    assert kind_of(b"[Vendor] Re: Printer firmware crash", extra=extra, body=b"Please flash 2.1.\n") == "human"


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=[{"name": "L1", "agents": ["alice@example.test"]}])


def outbox(h) -> list[tuple[str, str]]:
    return [tuple(r) for r in h.store.db.execute("SELECT kind, recipient FROM outbox ORDER BY id")]


def test_another_desks_acknowledgement_opens_no_ticket_and_alerts_nobody(h):
    ack = make_message(sender="Vendor Support <support@vendor.example>", subject="[Request received] Printer",
                       headers={"X-Zendesk-From-Account-Id": "12ab"})
    out = h.take(ack)
    assert out.status == "quarantined" and h.store.quarantine.get(out.quarantine_id).kind == "auto-reply"
    assert h.ticket_count() == 0 and outbox(h) == []


def test_an_out_of_office_reply_to_our_acknowledgement_is_not_acknowledged(h):
    first = make_message()
    h.take(first)
    before = outbox(h)
    ooo = make_message(subject="Automatische Antwort: Printer on floor 3 is jammed", in_reply_to=message_id_of(first),
                       body="Ich bin bis Montag nicht im Büro.\n")
    out = h.take(ooo)
    assert out.status == "stored" and not out.new_ticket
    assert outbox(h) == before  # no acknowledgement, no alert


@pytest.mark.parametrize("value", [b"auto-replied (vacation)", b"auto-replied; owner-email=pat@customer.example",
                                   b"Auto-Replied (vacation) ", b"auto-replied"])
def test_auto_submitted_with_a_comment_or_parameters_is_still_an_auto_reply(value):
    """Pigeonhole writes "auto-replied (vacation)" beside Precedence: bulk: an auto-reply, not a list."""
    extra = b"Auto-Submitted: " + value + b"\nPrecedence: bulk\n" + REPLY
    assert kind_of(b"Auto: Re: Printer [#1]", extra=extra) == "auto-reply"
