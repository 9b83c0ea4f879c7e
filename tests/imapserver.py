"""A throwaway Dovecot IMAP server on loopback for tests, and the ``dovecot`` fixture."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

CONFIG = """\
# Test-only Dovecot instance; everything lives under {root}.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = maildesk-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
{auth_extra}
{login_users}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
imap_idle_notify_interval = 1 secs
{capability}
rawlog_dir = {root}/rawlog
{passdbs}userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service anvil {{
  chroot =
{anvil_extra}}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


PASSWD_PASSDB = """\
passdb {{
  driver = passwd-file
  {mechanisms}args = scheme=PLAIN username_format=%u {root}/passwd
}}
"""

# Token logins: every login asks the IdP's RFC 7662 introspection endpoint (nothing cached).
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""

# Refused tokens are tested on purpose: without this, anvil delays each next login from
# 127.0.0.1 by 2, 4, 8, then 15 seconds.
NO_AUTH_PENALTY = """\
  unix_listener anvil-auth-penalty {
    mode = 0
  }
"""

OAUTH2_CONFIG = """\
# Dovecot 2.3 oauth2 passdb: introspect every token, refuse inactive ones and other users'.
introspection_url = {url}
introspection_mode = {mode}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


def find_dovecot() -> str | None:
    """Path of the dovecot binary, or None when it is not installed."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_root(prefix: str) -> Path:
    """A new temporary directory the server's unprivileged processes can traverse (mode 0755)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root


def mail_owner() -> tuple[int, int]:
    """Who owns the test servers' mail: us, or ``nobody`` when we are root (Dovecot refuses root)."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


class DovecotServer:
    """One Dovecot instance with the single user ``support``/``secret``.

    It lives in its own temporary directory (mode 0755, so the unprivileged
    login processes can traverse it) with its own config, ``base_dir``,
    ``state_dir`` and ``instance_name``; several can run side by side. The
    master runs in the foreground (``dovecot -F``) as our child, in its own
    process group, with its output in a file (never a pipe we would block on).
    When run as root, mail belongs to ``nobody``.

    UIDVALIDITY changes two ways. ``delete_folder`` then ``create_folder`` (or
    an ``append``, which creates the folder) on a folder other than INBOX, which
    cannot be deleted. Or ``reset_uidvalidity(folder)``, which works for INBOX
    too: with the server down it removes the folder's ``dovecot-uidlist`` and
    index files, and Dovecot renumbers the same messages from UID 1 under a new
    UIDVALIDITY drawn from its ``dovecot-uidvalidity`` counter (so it differs).

    Every session's traffic is written to ``rawlog/*.in``/``*.out``
    (``rawlog_dir``), so tests can check which commands the server received.

    Token logins: ``make_dovecot(oauth2=oauth_server)`` (or ``oauth2_introspection_url=...``
    with ``oauth2_introspection_mode`` ``post``, ``auth`` or ``get``) adds ``xoauth2
    oauthbearer`` to the mechanisms and a second passdb, Dovecot's ``oauth2`` driver, which
    asks the IdP's RFC 7662 introspection endpoint about every token and requires
    ``active: true`` and ``username`` equal to the login name. The passwd-file passdb stays
    for ``plain login`` only (a password is never taken as a token nor a token as a password),
    so ``client()`` and the helpers built on it still log in with the password; the userdb
    stays passwd-file, so only ``support`` has a mail home. The auth cache is off
    (``auth_cache_size = 0``): with it, Dovecot caches the oauth2 passdb's answer per token and
    a revoked token keeps working until the cache entry expires. The anvil auth penalty is off
    too (refused tokens would otherwise delay the next login by up to 15 s) and
    ``auth_verbose`` logs why a token was refused in ``dovecot.log``.
    """

    user = "support"
    password = "secret"
    host = "127.0.0.1"

    def __init__(self, binary: str, imap_capability: str | None = None, *,
                 oauth2: Any = None, oauth2_introspection_url: str = "",
                 oauth2_introspection_mode: str = "post") -> None:
        """``imap_capability`` replaces the advertised capabilities (e.g. to hide MOVE).

        ``oauth2`` (anything with an ``introspection_url``, such as the ``oauth_server``
        fixture) or ``oauth2_introspection_url`` turns on token logins; see the class docstring.
        """
        self.binary = binary
        self.imap_capability = imap_capability
        self.oauth2_introspection_url = oauth2_introspection_url or (
            oauth2.introspection_url if oauth2 is not None else "")
        self.oauth2_introspection_mode = oauth2_introspection_mode
        self.root = server_root("maildesk-dovecot-")
        self.port = free_port()
        self.uid, self.gid = mail_owner()
        self.home = self.root / "home" / self.user
        self.config = self.root / "dovecot.conf"
        self.rawlog = self.root / "rawlog"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_files()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the master and wait for the ``* OK`` greeting."""
        if self.running:
            return
        with open(self.root / "master.out", "ab") as out:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def stop(self) -> None:
        """Stop the master gracefully, then end every process it left (connections drop)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the master and its processes: connections drop without BYE."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in connection of "another client", logged out afterwards."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the server may be gone already
                client.shutdown()

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = ()) -> int:
        """Append one message (creating the folder if needed); returns its UID."""
        return self.append_many(folder, [raw], flags)[0]

    def append_many(self, folder: str, raws: Iterable[bytes],
                    flags: Sequence[str] = ()) -> list[int]:
        uids: list[int] = []
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in raws:
                reply = client.append(folder, raw, flags=tuple(flags))
                match = re.search(rb"APPENDUID \d+ (\d+)", reply)
                assert match, reply
                uids.append(int(match.group(1)))
        return uids

    def uids(self, folder: str) -> list[int]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def flags(self, folder: str) -> dict[int, set[str]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            fetched = client.get_flags(client.search("ALL"))
            return {uid: {flag.decode() for flag in flags} for uid, flags in fetched.items()}

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def create_folder(self, folder: str) -> None:
        with self.client() as client:
            client.create_folder(folder)

    def delete_folder(self, folder: str) -> None:
        """Delete a folder and its mail; re-creating it gives a new UIDVALIDITY."""
        with self.client() as client:
            client.delete_folder(folder)

    def reset_uidvalidity(self, folder: str = "INBOX") -> None:
        """Keep the folder's mail but give it a new UIDVALIDITY and UIDs from 1.

        The server is killed rather than stopped (a graceful stop takes a
        second): the files it could have been writing are the ones removed.
        """
        self.kill()
        maildir = self.home / "Maildir"
        target = maildir if folder.upper() == "INBOX" else maildir / f".{folder}"
        stale = [*target.glob("dovecot-uidlist*"), *target.glob("dovecot.index*")]
        for path in [*stale, *maildir.glob("dovecot.list.index*")]:
            path.unlink()
        self.start()

    def freeze_sessions(self) -> None:
        """SIGSTOP every IMAP session process: commands now get no answer."""
        assert self._proc is not None
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, ValueError):
                text = stat.read_text()  # "pid (comm) state ppid pgrp ..."
                name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") :]
                if name == "imap" and int(rest.split()[3]) == self._proc.pid:
                    os.kill(int(stat.parent.name), signal.SIGSTOP)

    def unread_bytes(self) -> int:
        """Bytes clients have sent that the server has not read yet (Linux only)."""
        total = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local, state, queues = line.split()[1], line.split()[3], line.split()[4]
            if int(local.split(":")[1], 16) == self.port and state == "01":  # ESTABLISHED
                total += int(queues.split(":")[1], 16)
        return total

    def rawlog_commands(self, pattern: str) -> list[str]:
        """Lines clients sent, in every session so far, that match a regex."""
        wanted = re.compile(pattern, re.IGNORECASE)
        lines: list[str] = []
        for path in sorted(self.rawlog.glob("*.in")):
            text = path.read_bytes().decode("utf-8", "replace")
            lines.extend(line for line in text.splitlines() if wanted.search(line))
        return lines

    def _write_files(self) -> None:
        login_users = ""
        if os.geteuid() != 0:  # run every service as ourselves
            me, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
            login_users = "\n".join([f"default_login_user = {me}", f"default_internal_user = {me}",
                                     f"default_internal_group = {group}"])
        capability = f"imap_capability = {self.imap_capability}" if self.imap_capability else ""
        self.config.write_text(CONFIG.format(
            root=self.root, port=self.port, uid=self.uid, gid=self.gid,
            login_users=login_users, capability=capability, **self._auth_settings(),
        ))
        passwd = self.root / "passwd"
        entry = f"{self.user}:{{PLAIN}}{self.password}:{self.uid}:{self.gid}::{self.home}::"
        passwd.write_text(entry + "\n")
        passwd.chmod(0o644)
        for path in (self.root / "home", self.home, self.rawlog):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)
        for path in (self.home, self.rawlog):
            os.chown(path, self.uid, self.gid)

    @property
    def token_logins(self) -> bool:
        """True when XOAUTH2/OAUTHBEARER logins are checked against an OAuth2 IdP."""
        return bool(self.oauth2_introspection_url)

    def _auth_settings(self) -> dict[str, str]:
        """The mechanisms and passdbs: passwords only, or passwords plus oauth2 tokens."""
        if not self.token_logins:
            return {"mechanisms": "plain login", "auth_extra": "", "anvil_extra": "",
                    "passdbs": PASSWD_PASSDB.format(root=self.root, mechanisms="")}
        conf = self.root / "dovecot-oauth2.conf.ext"
        conf.write_text(OAUTH2_CONFIG.format(url=self.oauth2_introspection_url,
                                             mode=self.oauth2_introspection_mode))
        conf.chmod(0o644)
        passwords = PASSWD_PASSDB.format(root=self.root, mechanisms="mechanisms = plain login\n  ")
        return {"mechanisms": "plain login xoauth2 oauthbearer",
                "auth_extra": "auth_cache_size = 0\nauth_verbose = yes",
                "anvil_extra": NO_AUTH_PENALTY,
                "passdbs": passwords + OAUTH2_PASSDB.format(root=self.root)}

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"dovecot exited on start:\n{self._diagnostics()}")
            with suppress(OSError), socket.create_connection((self.host, self.port), 1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return
            time.sleep(0.01)
        raise RuntimeError(f"dovecot did not greet within {START_TIMEOUT}s:\n{self._diagnostics()}")

    def _end(self, sig: signal.Signals) -> None:
        """Signal the master, then SIGKILL its whole process group.

        Dovecot leaves imap session processes running when its master exits, so
        without the group kill a "stopped" server would still serve its clients.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.01)

    def _diagnostics(self) -> str:
        parts = []
        for name in ("master.out", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def require_dovecot() -> str:
    """The dovecot binary; skips the test without one, or fails it when ``CI=true``."""
    binary = find_dovecot()
    if binary is None:
        message = "dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture
def make_dovecot() -> Iterator[Callable[..., DovecotServer]]:
    """Start extra or specially configured servers; all are removed after the test."""
    servers: list[DovecotServer] = []

    def make(**options: Any) -> DovecotServer:
        binary = require_dovecot()
        attempts = 3  # the free port may be taken before dovecot binds it
        while True:
            server = DovecotServer(binary, **options)
            servers.append(server)
            try:
                server.start()
                return server
            except RuntimeError:
                attempts -= 1
                if not attempts:
                    raise

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture
def dovecot(make_dovecot: Callable[..., DovecotServer]) -> DovecotServer:
    """A fresh, running Dovecot (function scope: a cold start takes ~0.05 s)."""
    return make_dovecot()
