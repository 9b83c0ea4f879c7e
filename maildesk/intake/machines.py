"""What auto-replies write without saying so in headers: out-of-office subjects, other help desks' acknowledgements."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

#: Prefixes mail clients put before the original subject of an automatic reply, as they write them
#: (Outlook/Exchange in its languages, Lotus/HCL Notes, Zimbra, Yahoo, GroupWise, mobile clients).
#: No person starts a subject like this, so the subject alone decides.
_AUTOMATIC_PREFIX = (
    r"automatic reply|auto[- ]?reply|auto[- ]?response|automated (?:reply|response)|out of (?:the )?office auto ?reply"
    r"|out of (?:the )?office reply|automatische antwort|autom\. antwort|abwesenheitsnotiz|abwesenheitsmeldung"
    r"|r[ée]ponse automatique(?: d'absence du bureau)?|respuesta autom[áa]tica|risposta automatica"
    r"|automatisch antwoord|resposta autom[áa]tica|automatiskt svar|automatisk svar|automatisk besked|autosvar"
    r"|automaattinen vastaus|odpowied[źz] automatyczna|automatyczna odpowied[źz]|automatick[áa] odpov[ěe]ď"
    r"|automatick[áa] odpove[ďd]|automatikus v[áa]lasz|r[ăa]spuns automat|otomatik yan[ıi]t|otomatik cevap"
    r"|автоматический ответ|автоответ|автоматична відповідь|αυτόματη απάντηση|תשובה אוטומטית|رد تلقائي"
    r"|自動応答|自動返信|自动回复|自動回覆|自動回復|자동 회신|자동 응답|trả lời tự động|balasan automatik"
)
STRONG_SUBJECT = re.compile(rf"^\s*(?:{_AUTOMATIC_PREFIX})\s*[:：]", re.I)
#: Lotus/HCL Notes and others: "Jane Doe is out of the office." (in English and German).
NOTES_SUBJECT = re.compile(r"\b(?:is|will be) out of (?:the )?office\b|\bist (?:au[ßs]er haus|abwesend)\b", re.I)

#: Prefixes a person might also write ("Out of office: my laptop…"): they count with another sign.
_ABSENCE_PREFIX = (
    r"out of (?:the )?office|ooo|auto|away|on vacation|on holiday|abwesend|nicht im b[üu]ro|absence(?: du bureau)?|absent"
    r"|fuera de (?:la )?oficina|ausente|fuori (?:sede|ufficio)|assente|afwezig|niet op kantoor|afwezigheid"
    r"|aus[êe]ncia(?: tempor[áa]ria)?|fora do escrit[óo]rio|fr[åa]nvaro|frav[æa]r(?:ende)?|poissa|lomalla"
    r"|poza biurem|nieobecno[śs][ćc]|mimo kancel[áa][řr]|nepř[íi]tomen|irodán kívül|nu sunt la birou|ofis d[ıi][şs][ıi]nda"
    r"|нет на месте|вне офиса|отсутству[юе]|不在|外出中|休暇中|不在办公室|休假|부재중"
)
ABSENCE_SUBJECT = re.compile(rf"^\s*(?:{_ABSENCE_PREFIX})\s*[:：\-–]", re.I)
#: Wording of an absence notice in its body, in the common languages.
ABSENCE_BODY = re.compile(
    r"\b(?:i am|i'm|i will be|i'll be) (?:currently )?(?:out of (?:the )?office|away|on (?:annual )?(?:leave|vacation|"
    r"holiday)|travel+ing|out until)|(?:limited|no) access to (?:my )?e-?mail|will (?:respond|reply|get back to you) "
    r"(?:to your (?:e-?mail|message) )?(?:as soon as possible |when i return|upon my return|on my return)"
    r"|bin (?:ich )?(?:bis|vom) .{0,40}(?:nicht im b[üu]ro|abwesend|nicht erreichbar)|ich bin (?:derzeit |zurzeit )?"
    r"(?:nicht im b[üu]ro|abwesend|im urlaub)|je suis (?:actuellement )?absent|je serai absente?"
    r"|estar[ée] fuera|estoy fuera de la oficina|sar[òo] fuori (?:sede|ufficio)|sono assente"
    r"|ik ben (?:momenteel )?afwezig|estou ausente|estarei ausente|jag är (?:ledig|borta|på semester)"
    r"|jeg er (?:på ferie|fraværende)|olen lomalla|jestem nieobecn|я в отпуске|не в офисе",
    re.I,
)

#: Headers only help desk software writes, and the product each names.
_DESK_HEADERS: dict[str, str] = {
    "x-zendesk-": "Zendesk", "x-freshdesk-": "Freshdesk", "x-rt-": "Request Tracker", "rt-ticket": "Request Tracker",
    "rt-originator": "Request Tracker", "x-otrs-": "OTRS/Znuny", "x-znuny-": "OTRS/Znuny", "x-zammad-": "Zammad",
    "x-osticket": "osTicket", "x-freescout-": "FreeScout", "x-helpscout-": "Help Scout", "x-servicenow-": "ServiceNow",
    "x-jira-fingerprint": "Jira", "x-jsd-": "Jira Service Management", "x-sfdc-": "Salesforce",
    "x-kayako-": "Kayako", "x-happyfox-": "HappyFox", "x-spiceworks-": "Spiceworks", "x-glpi-": "GLPI",
}
_DESK_MAILERS = re.compile(
    r"zendesk|freshdesk|request tracker|\brt \d|otrs|znuny|zammad|osticket|freescout|help ?scout|servicenow"
    r"|jira|salesforce|kayako|happyfox|spiceworks|glpi|helpdesk|help desk|service ?desk|ticket system", re.I)
#: Subjects of an acknowledgement: "[Request received]", "Ticket #123 created", "[#123] AutoReply: …".
ACK_SUBJECT = re.compile(
    r"\[?request received\]?|\bauto ?reply\b|\bticket (?:#?\s?[\w-]+ )?(?:has been )?(?:received|created|opened|logged)"
    r"|\bsupport ticket opened|\b(?:case|incident|request|ticket) (?:#?\s?[\w-]+\]? )?(?:-+ )?(?:has been )?"
    r"(?:opened|created|received|logged)(?: on your behalf)?|we(?:'ve| have) received your (?:request|e-?mail|message)"
    r"|your (?:request|ticket|case|message|e-?mail) (?:#?\s?[\w-]+ )?has been (?:received|created|opened|logged)"
    r"|thank(?:s| you) for (?:contacting|your (?:e-?mail|message|request))|ticket received|anfrage erhalten"
    r"|ihre anfrage|demande (?:re[çc]ue|enregistr[ée]e)|solicitud recibida",
    re.I,
)
#: What a help desk's automatic mail says of itself in its body.
AUTOMATED_BODY = re.compile(
    r"this is an? (?:automated|automatic|auto-?generated) (?:response|reply|message|e-?mail|acknowledge?ment)"
    r"|(?:automated|automatic) (?:acknowledge?ment|confirmation)|dies ist eine automatische (?:antwort|nachricht)"
    r"|ceci est une r[ée]ponse automatique|esta es una respuesta autom[áa]tica", re.I)
#: A ticket number another desk put in a subject: [#123], [Ticket#2024…], [example.com #12], INC0012345, Case 00012345.
TICKET_TOKEN = re.compile(
    r"\[(?:[^\]]*?\s)?#\s?\d+\]|\[ticket\s?#?\s?:?\s?\d+\]|\b(?:inc|req|ritm|cs|sr)\d{5,}\b|\bcase\s?#?\s?\d{4,}\b"
    r"|\bticket\s?#\s?\d+\b|\brequest\s?#\s?\d+\b", re.I)


def desk_software(header_names: Iterable[str], header: Callable[[str], str | None]) -> str | None:
    """The help desk product whose headers the message carries, if any."""
    for name in header_names:
        for prefix, product in _DESK_HEADERS.items():
            if name.startswith(prefix):
                return product
    for name in ("x-mailer", "user-agent", "x-loop"):
        value = header(name) or ""
        if match := _DESK_MAILERS.search(value):
            return match.group(0)
    return None


def absence_reasons(subject: str, text: str, *, replying: bool, machine: bool) -> list[str]:
    """Why this is an out-of-office reply by its words: a client's automatic prefix alone, or an
    absence prefix with another sign (it answers a message, machine headers, absence wording)."""
    if STRONG_SUBJECT.search(subject):
        return ["auto-reply subject"]
    if NOTES_SUBJECT.search(subject) and (replying or machine or ABSENCE_BODY.search(text[:4000])):
        return ["out-of-office subject"]
    if ABSENCE_SUBJECT.search(subject):
        if machine or ABSENCE_BODY.search(text[:4000]):
            return ["out-of-office subject", *(["absence wording in body"] if not machine else [])]
        if replying:
            return ["out-of-office subject on a reply"]
    return []


def acknowledgement_reasons(subject: str, text: str, *, desk: str | None, replying: bool) -> list[str]:
    """Why this is another help desk's acknowledgement: its software with an acknowledging subject
    or a body calling itself automatic, or an acknowledging subject with a ticket number on a reply."""
    if desk and AUTOMATED_BODY.search(text[:4000]):
        return [f"{desk} automatic message"]
    if not ACK_SUBJECT.search(subject):
        return []
    if desk:
        return [f"{desk} acknowledgement"]
    if TICKET_TOKEN.search(subject) and replying:
        return ["help desk acknowledgement subject"]
    return []
