"""A Dovecot LMTP server with Pigeonhole's sieve ``vacation`` on loopback: real out-of-office replies on demand."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

from imapserver import free_port, mail_owner, server_root

HOST = "127.0.0.1"


class VacationServer:
    """Delivers mail by LMTP to local users, each with a sieve ``vacation`` script of their own.

    Vacation replies leave through ``submission_host``: the SMTP server given (an aiosmtpd in tests).
    """

    domain = "customer.example"

    def __init__(self, binary: str, smtp_port: int) -> None:
        self.binary, self.smtp_port = binary, smtp_port
        self.root = server_root("maildesk-vacation-")
        self.port = free_port()
        self.uid, self.gid = mail_owner()
        self.users: dict[str, Path] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def add_user(self, name: str, sieve: str) -> str:
        """A mailbox whose active sieve script is ``sieve``; returns its address."""
        home = self.root / "home" / name
        home.mkdir(parents=True)
        (home / ".dovecot.sieve").write_text(sieve)
        for path in (home, home / ".dovecot.sieve"):
            os.chown(path, self.uid, self.gid)
        self.users[name] = home
        return f"{name}@{self.domain}"

    def _write_config(self) -> None:
        passwd = "".join(f"{n}:{{PLAIN}}x:{self.uid}:{self.gid}::{home}::\n" for n, home in self.users.items())
        (self.root / "passwd").write_text(passwd)
        for sub in ("run", "state"):
            (self.root / sub).mkdir(exist_ok=True)
        internal = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        (self.root / "dovecot.conf").write_text(f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = maildesk-vacation-{self.port}
protocols = lmtp
listen = {HOST}
ssl = no
log_path = {self.root}/dovecot.log
default_internal_user = {internal}
default_login_user = {internal}
hostname = mx.{self.domain}
postmaster_address = postmaster@{self.domain}
auth_username_format = %n
passdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
mail_location = maildir:~/Maildir
submission_host = {HOST}:{self.smtp_port}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.port}
  }}
}}
protocol lmtp {{
  mail_plugins = sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
""")

    def start(self) -> None:
        self._write_config()
        with open(self.root / "master.out", "ab") as out:
            self._proc = subprocess.Popen([self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if self._proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"Dovecot LMTP did not start: {self.log()[-2000:]}")

    def deliver(self, envelope_from: str, to: str, data: bytes) -> None:
        with smtplib.LMTP(HOST, self.port) as lmtp:
            lmtp.sendmail(envelope_from, [to], data)

    def log(self) -> str:
        parts = [self.root / "dovecot.log", self.root / "master.out"]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
