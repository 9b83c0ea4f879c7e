"""IMAP intake throughput: django-helpdesk's ``get_email`` versus ``maildesk run --once`` on identical mailboxes.

usage: python bench/helpdesk_compare.py [-n 2000] [--repeat 1] [--warmup 50] [--workers N] [--dir DIR]

Generates N messages with bench/ingest.py's ``generate()`` and APPENDs them, in the same order, to
the INBOX of each of two throwaway Dovecots (tests/imapserver.py). Times each system in its own
process, start-up included: wall time, and the peak RSS of its largest single process (``os.wait4``).
django-helpdesk (its own virtualenv, bench/out/helpdesk-venv, created once; a minimal SQLite site in
bench/out/helpdesk-site, migrated once into a template database each run copies) runs ``manage.py
get_email`` on one IMAP queue, notices to Django's file e-mail backend; it expunges what it took in.
maildesk runs ``run --once`` on one IMAP mailbox (security "none"), notices on, to its default
maildir outbox; it flags what it took in ``\\Seen``. An untimed --warmup round comes first; with
--repeat the order of the two alternates and the table shows median wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.ingest import generate, timed  # noqa: E402
from imapserver import DovecotServer, find_dovecot  # noqa: E402

OUT, MAILDESK_PY = ROOT / "bench" / "out", ROOT / ".venv" / "bin" / "python"
VENV, SITE = OUT / "helpdesk-venv", OUT / "helpdesk-site"
HD_PY, TEMPLATE_DB = VENV / "bin" / "python", SITE / "template.sqlite3"
PINS = ["django-helpdesk==2.6.1", "Django==5.2.20"]
PASSWORD_ENV = "MAILDESK_BENCH_IMAP_PW"
SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # ends each message in a file of the file e-mail backend
RUN_ENV = "HELPDESK_BENCH_RUN"  # the directory of one django-helpdesk run: database, outbox, log

SETTINGS = """\
import os
from pathlib import Path

RUN_DIR = Path(os.environ.get("HELPDESK_BENCH_RUN", Path(__file__).resolve().parent))
SECRET_KEY, DEBUG, ALLOWED_HOSTS, SITE_ID, USE_TZ, TIME_ZONE = "bench-only", False, ["localhost"], 1, True, "UTC"
INSTALLED_APPS = ["django.contrib." + app for app in (
    "admin", "auth", "contenttypes", "sessions", "messages", "staticfiles", "sites", "humanize")]
INSTALLED_APPS += ["rest_framework", "helpdesk"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware", "django.middleware.common.CommonMiddleware",
              "django.middleware.csrf.CsrfViewMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {
    "context_processors": ["django.template.context_processors.request", "django.contrib.auth.context_processors.auth",
                           "django.contrib.messages.context_processors.messages"]}}]
ROOT_URLCONF, STATIC_URL, DEFAULT_AUTO_FIELD = "urls", "/static/", "django.db.models.AutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": RUN_DIR / "db.sqlite3"}}
MEDIA_ROOT = RUN_DIR / "media"
EMAIL_BACKEND, EMAIL_FILE_PATH = "django.core.mail.backends.filebased.EmailBackend", RUN_DIR / "outbox"
DEFAULT_FROM_EMAIL = "support@example.test"
HELPDESK_TEAMS_MODE_ENABLED = False
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
           "handlers": {"file": {"class": "logging.FileHandler", "filename": RUN_DIR / "get_email.log",
                                 "formatter": "plain"}},
           "root": {"handlers": ["file"], "level": "INFO"}}
"""
URLS = 'from django.urls import include, path\n\nurlpatterns = [path("helpdesk/", include("helpdesk.urls"))]\n'
MANAGE = ('import os, sys\nfrom django.core.management import execute_from_command_line\n\n'
          'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")\nexecute_from_command_line(sys.argv)\n')
QUEUE = """\
from helpdesk.models import Queue
Queue.objects.create(title="Support", slug="support", email_address="support@example.test", allow_email_submission=True,
    email_box_type="imap", email_box_host="127.0.0.1", email_box_port={port}, email_box_ssl=False,
    email_box_user={user!r}, email_box_pass={password!r}, email_box_imap_folder="INBOX", email_box_interval=0,
    logging_type="info")
"""
COUNT = """\
import json
from helpdesk.models import FollowUp, FollowUpAttachment as Attachment, Ticket
stored = FollowUp.objects.exclude(message_id=None).exclude(message_id="").count()
print(json.dumps({"tickets": Ticket.objects.count(), "followups": FollowUp.objects.count(), "stored": stored,
                  "attachments": Attachment.objects.count()}))
"""
VERSIONS = ('import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" '
            'for p in ("django-helpdesk", "Django")))')
MAILDIR_BOX = '[[mailbox]]\nname = "inbox"\nkind = "maildir"\npath = "var/inbox"\n'
IMAP_BOX = ('[[mailbox]]\nname = "support"\nkind = "imap"\nhost = "{host}"\nport = {port}\nsecurity = "none"\n'
            'username = "{user}"\npassword_env = "' + PASSWORD_ENV + '"\nfolder = "INBOX"\n')


@dataclass
class Result:
    system: str
    wall: float
    rss_kib: int
    tickets: int
    stored: int
    notices: int
    mailbox: str
    notes: list[str]


def ensure_venv() -> str:
    """Create the django-helpdesk virtualenv once; return the installed versions."""
    if not HD_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(HD_PY), "-m", "pip", "install", "-q", *PINS], check=True)
    return subprocess.run([str(HD_PY), "-c", VERSIONS], check=True, capture_output=True, text=True).stdout.strip()


def manage(*args: str, run_dir: Path = SITE) -> str:
    """Run a ``manage.py`` command of the site in the venv (its database in ``run_dir``); its stdout."""
    env = {**os.environ, RUN_ENV: str(run_dir)}
    done = subprocess.run([str(HD_PY), "manage.py", *args], cwd=SITE, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def ensure_site() -> None:
    """Write the Django site; migrate into a template database when there is none."""
    SITE.mkdir(parents=True, exist_ok=True)
    for name, text in (("settings.py", SETTINGS), ("urls.py", URLS), ("manage.py", MANAGE)):
        (SITE / name).write_text(text)
    if not TEMPLATE_DB.exists():
        (SITE / "db.sqlite3").unlink(missing_ok=True)
        manage("migrate", "--noinput")
        (SITE / "db.sqlite3").rename(TEMPLATE_DB)


def mailbox_state(server: DovecotServer) -> str:
    """How many messages are left in INBOX, and how many of them are unseen."""
    with server.client() as client:
        client.select_folder("INBOX", readonly=True)
        left, unseen = len(client.search("ALL")), len(client.search("UNSEEN"))
    return f"{left} left in INBOX, {unseen} unseen"


def log_notes(log: Path) -> list[str]:
    """WARNING and worse lines of a log, counted by their first 90 characters."""
    levels = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    counts = Counter(line[:90] for line in lines if any(level in line[:40] for level in levels))
    return [f"{n} x {text}" for text, n in counts.most_common(6)]


def run_helpdesk(server: DovecotServer, run_dir: Path) -> Result:
    """A fresh copy of the template database with one IMAP queue on ``server``; time ``get_email``."""
    run_dir.mkdir(parents=True)
    shutil.copyfile(TEMPLATE_DB, run_dir / "db.sqlite3")
    manage("shell", "-c", QUEUE.format(port=server.port, user=server.user, password=server.password),
           run_dir=run_dir)
    os.environ[RUN_ENV] = str(run_dir)  # timed() starts the command with this process's environment
    wall, rss = timed([str(HD_PY), "manage.py", "get_email"], SITE, log=run_dir / "stderr.log")
    counts = json.loads(manage("shell", "-c", COUNT, run_dir=run_dir).strip().splitlines()[-1])
    notices = sum(path.read_bytes().count(SEPARATOR) for path in (run_dir / "outbox").glob("*.log"))
    notes = log_notes(run_dir / "get_email.log") + log_notes(run_dir / "stderr.log")
    notes.append(f"{counts['followups']} follow-ups in all, {counts['attachments']} attachments")
    return Result("django-helpdesk", wall, rss, counts["tickets"], counts["stored"], notices,
                  mailbox_state(server), notes)


def run_maildesk(server: DovecotServer, run_dir: Path, workers: str | None = None) -> Result:
    """``maildesk init`` a site, swap its maildir mailbox for the Dovecot one, time ``run --once``."""
    subprocess.run([str(MAILDESK_PY), "-m", "maildesk", "init", str(run_dir)], check=True, stdout=subprocess.DEVNULL)
    config = run_dir / "maildesk.toml"
    text = config.read_text()
    if MAILDIR_BOX not in text:
        raise SystemExit(f"{config}: the maildir [[mailbox]] written by init was not found")
    text = text.replace(MAILDIR_BOX, IMAP_BOX.format(host=server.host, port=server.port, user=server.user))
    intake = f"\n[intake]\nworkers = {workers}\n" if workers else ""
    config.write_text(text + "\n[notify]\nenabled = true\n" + intake)
    os.environ[PASSWORD_ENV] = server.password
    cmd = [str(MAILDESK_PY), "-m", "maildesk", "--config", str(config), "run", "--once"]
    wall, rss = timed(cmd, run_dir, log=run_dir / "run.log")
    with sqlite3.connect(run_dir / "var" / "maildesk.db") as db:
        tickets, stored, notices = db.execute(
            "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM messages WHERE direction = 'in'),"
            " (SELECT count(*) FROM outbox WHERE status = 'sent')").fetchone()
    return Result("maildesk", wall, rss, tickets, stored, notices, mailbox_state(server),
                  log_notes(run_dir / "run.log"))


def start_server(binary: str, attempts: int = 3) -> DovecotServer:
    """Start a Dovecot; the free port it picked may be taken before it binds, so retry."""
    server = DovecotServer(binary)
    try:
        server.start()
    except (RuntimeError, OSError):
        server.cleanup()
        if attempts <= 1:
            raise
        return start_server(binary, attempts - 1)
    return server


def messages(n: int, scratch: Path) -> list[bytes]:
    """The N messages of bench/ingest.py's ``generate()``, in the order it numbered them."""
    generate(n, scratch)
    files = sorted((scratch / "new").iterdir(), key=lambda p: int(p.name.split(".")[1]))
    return [path.read_bytes() for path in files]


Runner = Callable[[DovecotServer, Path], Result]


def one_round(binary: str, raws: list[bytes], order: list[tuple[str, Runner]], run_dir: Path) -> list[Result]:
    """Fill one fresh Dovecot per system with the same messages, then run the systems in order."""
    servers = [start_server(binary) for _ in order]
    try:
        for server in servers:
            server.append_many("INBOX", raws)
        return [runner(server, run_dir / name) for (name, runner), server in zip(order, servers)]
    finally:
        for server in servers:
            server.cleanup()


def table(results: list[Result], n: int) -> None:
    """The markdown table (median wall time per system), the ratio, and each system's last notes."""
    print("| system | messages | wall s | msg/s | peak RSS MiB | tickets opened | messages stored | notices |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rates, notes = {}, []
    for system in ("django-helpdesk", "maildesk"):
        runs = [r for r in results if r.system == system]
        wall, last = statistics.median(r.wall for r in runs), runs[-1]
        rates[system] = n / wall
        print(f"| {system} | {n} | {wall:.2f} | {n / wall:.0f} | {max(r.rss_kib for r in runs) / 1024:.0f} "
              f"| {last.tickets} | {last.stored} | {last.notices} |")
        notes += [f"\n{system}: wall {', '.join(f'{r.wall:.2f}' for r in runs)} s; mailbox after: {last.mailbox}",
                  *(f"  {note}" for note in last.notes)]
    print(f"\nratio maildesk/django-helpdesk: {rates['maildesk'] / rates['django-helpdesk']:.2f}x msg/s")
    print("\n".join(notes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="messages in each mailbox (default 2000)")
    ap.add_argument("--repeat", type=int, default=1, help="timed rounds, alternating the order (default 1)")
    ap.add_argument("--warmup", type=int, default=50, help="messages in the untimed first round (0: none)")
    ap.add_argument("--workers", help='maildesk [intake] workers (default: the config default, "auto")')
    ap.add_argument("--dir", type=Path, default=OUT / "helpdesk-compare", help="scratch directory (emptied)")
    args = ap.parse_args()
    binary = find_dovecot() or sys.exit("dovecot is not installed (apt-get install dovecot-imapd)")
    print(f"django-helpdesk venv: {ensure_venv()}")
    ensure_site()
    shutil.rmtree(args.dir, ignore_errors=True)
    raws = messages(args.n, args.dir / "generated")
    new = sum(b"\r\nIn-Reply-To:" not in raw.split(b"\r\n\r\n", 1)[0] for raw in raws)
    print(f"mailbox: {args.n} messages, {sum(map(len, raws)) / 1e6:.1f} MB, {new} without In-Reply-To\n")
    systems: list[tuple[str, Runner]] = [("django-helpdesk", run_helpdesk),
                                         ("maildesk", partial(run_maildesk, workers=args.workers))]
    if args.warmup:  # the reverse of the first timed round's order
        one_round(binary, raws[: args.warmup], systems[::-1], args.dir / "warmup")
    results: list[Result] = []
    for i in range(args.repeat):
        results += one_round(binary, raws, systems[::-1] if i % 2 else systems, args.dir / f"round{i}")
    table(results, args.n)


if __name__ == "__main__":
    main()
