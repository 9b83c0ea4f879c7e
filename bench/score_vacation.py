"""Real vacation replies from Dovecot's Pigeonhole, fed to the intake: how many open a ticket or get an acknowledgement.

usage: python bench/score_vacation.py [-n 40]

Starts a Dovecot LMTP server with sieve vacation scripts (subjects as people set them, in several
languages, plain and MIME) and an aiosmtpd server that receives their replies, delivers ``-n``
person-written messages from the desk to each user, then takes every reply into a fresh desk as
new mail. Scored twice: the replies as written, and with their auto-reply headers
(Auto-Submitted, Precedence, X-Auto-Response-Suppress) removed, as some relays and clients lose
them, so only subject and body can tell.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SCRIPTS = {
    "pat": 'vacation :days 1 "I am away until Monday.";',
    "kim": 'vacation :days 1 :subject "Out of Office: ${s}" "I am out of the office with limited access to email.";',
    "uwe": 'vacation :days 1 :subject "Abwesenheitsnotiz: ${s}" "Ich bin bis 12. nicht im Buero.";',
    "ana": 'vacation :days 1 :subject "Respuesta automática: ${s}" "Estoy fuera de la oficina.";',
    "leo": 'vacation :days 1 :subject "Réponse automatique : ${s}" "Je suis actuellement absent.";',
    "mia": 'vacation :days 1 :subject "Automatic reply: ${s}" :mime "Content-Type: text/html\\r\\n\\r\\n'
           '<p>I am on vacation.</p>";',
    "ola": 'vacation :days 1 :subject "Automatiskt svar: ${s}" "Jag är ledig.";',
    "zoe": 'vacation :days 1 :subject "自动回复: ${s}" "我在休假。";',
}
HEADER = 'require ["vacation", "variables"];\nif header :matches "subject" "*" { set "s" "${1}"; }\n'
STRIP = re.compile(rb"^(?:Auto-Submitted|Precedence|X-Auto-Response-Suppress):.*\r?\n", re.I | re.M)


def generate(count: int) -> list[bytes]:
    from imapserver import find_dovecot
    from mailfactory import make_message
    from smtpserver import SmtpTestServer
    from vacationserver import VacationServer

    smtp = SmtpTestServer()
    smtp.start()
    server = VacationServer(find_dovecot() or "dovecot", smtp.port)
    try:
        users = {name: server.add_user(name, HEADER + script + "\n") for name, script in SCRIPTS.items()}
        server.start()
        for i in range(count):
            for address in users.values():  # :days 1 answers each sender once a day: one sender per message
                server.deliver(f"agent{i}@example.test", address,
                               make_message(sender=f"Agent {i} <agent{i}@example.test>", to=address,
                                            subject=f"Re: your printer, step {i}", body="Please try again.\n"))
        return [r.content for r in smtp.received]
    finally:
        server.stop()
        smtp.stop()


def score(replies: list[bytes]) -> Counter[str]:
    import logging

    from desktools import harness

    logging.getLogger("maildesk").setLevel(logging.ERROR)
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        h = harness(Path(tmp), tiers=[{"name": "L1", "agents": ["alice@example.test"]}])
        for i, reply in enumerate(replies):
            out = h.take(reply, ref=str(i))
            counts["tickets opened" if out.new_ticket else out.status] += 1
        counts["acknowledgements"] = h.store.db.execute(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").fetchone()[0]
        counts["alerts"] = h.store.db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'").fetchone()[0]
        h.store.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=40, help="messages delivered to each vacation user")
    args = ap.parse_args()
    replies = generate(args.n)
    print(f"{len(replies)} vacation replies from {len(SCRIPTS)} sieve scripts")
    for label, batch in (("as written", replies), ("auto-reply headers removed", [STRIP.sub(b"", r) for r in replies])):
        print(f"{label:28s}", dict(sorted(score(batch).items())))


if __name__ == "__main__":
    main()
