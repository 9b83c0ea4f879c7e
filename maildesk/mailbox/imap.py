"""An IMAP folder as a mailbox source: fetch new mail in batches, settle by flag or move."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from maildesk.clock import Clock, system_clock
from maildesk.errors import AuthFailed, MailboxError
from maildesk.mailbox.base import Ledger, Reconciliation, Settlement
from maildesk.mailbox.idle import idle_until
from maildesk.mailbox.imapplan import chunked, fetched_header, header_message_id, plan_batches, settle_targets
from maildesk.models import Origin, RawMessage

if TYPE_CHECKING:
    from maildesk.auth import TokenSource

log = logging.getLogger("maildesk.mailbox")

SECURITY_MODES = ("ssl", "starttls", "none")
COMMAND_UIDS = 500  # UIDs per size/header FETCH, STORE or MOVE: keeps command lines short
IDLE_MAX_SECONDS = 600.0  # re-issue IDLE well within the 29 minutes of RFC 2177
IDLE_SLICE_SECONDS = 1.0  # how often ``stop`` is looked at while idling
SIZE, BODY = b"RFC822.SIZE", b"BODY[]"
MESSAGE_ID_ITEM = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"


class ImapSource:
    """One IMAP folder read for the intake loop (implements ``Source``).

    Messages are keyed by ``(mailbox, UIDVALIDITY, UID)``; nothing on the server
    changes until the caller has committed them and calls ``settle``. Which UIDs
    are read never depends on ``\\Seen`` (other clients set it): without a
    ``processed_folder``, UIDs above the ledger's highest committed UID; with
    one, every UID in the folder (settled mail leaves it); known refs excepted.

    A new UIDVALIDITY (or the first sync) voids the stored UIDs and rescans the
    folder. With a ``processed_folder`` the folder only holds unsettled mail, so
    all of it is yielded again; the intake loop deduplicates by Message-ID and
    its receipt lets ``settle`` move the message out. Without one, the folder
    holds all old mail: the rescan fetches only Message-ID headers first and does
    not download mail whose Message-ID the ledger knows, except the highest UID,
    which is always yielded so that, once committed, the ledger's highest UID
    lies above every skipped message and none is ever reconsidered.
    """

    def __init__(self, *, name: str, host: str, port: int | None = None, security: str = "ssl",
                 username: str, password: str = "", tokens: TokenSource | None = None, folder: str = "INBOX",
                 processed_folder: str | None = None, quarantine_folder: str | None = None,
                 idle: bool = True, poll_seconds: float = 60, batch_size: int = 50,
                 batch_bytes: int = 20 * 1024 * 1024, timeout: float = 60,
                 ssl_context: ssl.SSLContext | None = None, clock: Clock = system_clock) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {SECURITY_MODES}, not {security!r}")
        if batch_size < 1 or batch_bytes < 1:
            raise ValueError("batch_size and batch_bytes must be positive")
        if folder in (processed_folder, quarantine_folder):
            raise ValueError("processed and quarantine folders must differ from the folder read")
        self.name, self.host, self.security = name, host, security
        self.port = port if port is not None else (993 if security == "ssl" else 143)
        self.username, self.password, self.ssl_context = username, password, ssl_context
        self.tokens = tokens
        self.folder, self.processed_folder = folder, processed_folder
        self.quarantine_folder = quarantine_folder
        self.idle, self.poll_seconds, self.timeout = idle, poll_seconds, timeout
        self.batch_size, self.batch_bytes = batch_size, batch_bytes
        self._clock = clock
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._high_uid: int | None = None  # highest UID seen by the last search
        self._rescan: int | None = None  # UIDVALIDITY whose rescan has not finished
        self._folders: set[str] = set()  # target folders known to exist
        self._stored_by_id: set[int] = set()  # UIDs without a receipt whose Message-ID is stored

    def connect(self) -> None:
        self.close()
        try:
            with self._guard("connect"):
                self._client = IMAPClient(self.host, self.port, ssl=self.security == "ssl",
                                          ssl_context=self.ssl_context, timeout=self.timeout)
                if self.security == "starttls":
                    self._client.starttls(self.ssl_context)  # never falls back to plain text
                self._login(self._client)
                selected = self._client.select_folder(self.folder)
        except MailboxError:
            self._drop()
            raise
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self._high_uid, self._folders, self._stored_by_id = None, set(), set()
        if self.security == "none" and self.host not in ("127.0.0.1", "::1", "localhost"):
            log.warning("%s: password sent without TLS to %s", self.name, self.host)
        log.info("%s: connected to %s:%d, folder %s (UIDVALIDITY %d)",
                 self.name, self.host, self.port, self.folder, self._uidvalidity)

    def _login(self, client: IMAPClient) -> None:
        """LOGIN with the password, or SASL with an OAuth2 token: OAUTHBEARER where offered,
        else XOAUTH2. A refused token is refreshed once; a second refusal is ``AuthFailed``."""
        if self.tokens is None:
            try:
                client.login(self.username, self.password)
            except LoginError as exc:
                raise AuthFailed(f"mailbox {self.name!r} on {self.host}:{self.port}: connect failed: "
                                 f"login of {self.username!r} refused: {exc}") from exc
            return
        bearer = client.has_capability("AUTH=OAUTHBEARER")
        for fresh in (False, True):
            access = self.tokens.token(fresh=fresh)
            try:
                if bearer:
                    client.oauthbearer_login(self.username, access)
                else:
                    client.oauth2_login(self.username, access)
                return
            except LoginError as exc:
                if fresh:
                    raise AuthFailed(f"mailbox {self.name!r} on {self.host}:{self.port}: connect failed: "
                                     f"a freshly refreshed OAuth2 token for {self.username!r} was refused: "
                                     f"{exc}") from exc
                log.info("%s: the server refused the access token; refreshing it once", self.name)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError) as exc:
            log.debug("%s: logout failed (%s); closing the socket", self.name, exc)
            with suppress(Exception):
                client.shutdown()

    def batches(self, ledger: Ledger) -> Iterator[Sequence[RawMessage]]:
        client = self._require()
        uidvalidity = self._uidvalidity
        previous = ledger.uidvalidity(self.name)
        if previous != uidvalidity:
            self._start_rescan(ledger, previous, uidvalidity)
        skip_known = self._rescan == uidvalidity and self.processed_folder is None
        candidates = self._candidates(client, ledger, uidvalidity)
        for chunk in chunked(candidates, COMMAND_UIDS):
            for uids in self._plan(client, ledger, chunk, skip_known, keep=candidates[-1]):
                batch = self._fetch(client, uids, uidvalidity)
                if batch:
                    yield batch
        if self._rescan == uidvalidity:
            self._rescan = None

    def _start_rescan(self, ledger: Ledger, previous: int | None, uidvalidity: int) -> None:
        if previous is None:
            log.info("%s: first sync (UIDVALIDITY %d), scanning the folder", self.name, uidvalidity)
        else:
            log.warning("%s: UIDVALIDITY changed from %d to %d; stored UIDs are void, rescanning",
                        self.name, previous, uidvalidity)
        ledger.set_uidvalidity(self.name, uidvalidity)
        self._rescan = uidvalidity

    def _candidates(self, client: IMAPClient, ledger: Ledger, uidvalidity: int) -> list[int]:
        floor = 0 if self.processed_folder else ledger.max_uid(self.name, uidvalidity)
        found = self._search_above(client, floor)
        uids = sorted(uid for uid in found if uid > floor)  # "UID n:*" always has the highest
        self._high_uid = max([floor, *found])
        refs = {uid: Origin.imap(self.name, uidvalidity, uid).ref for uid in uids}
        known: set[str] = set()
        for chunk in chunked(uids, COMMAND_UIDS):
            known |= ledger.known_refs(self.name, [refs[uid] for uid in chunk])
        log.debug("%s: %d UID(s) above %d, %d known", self.name, len(uids), floor, len(known))
        return [uid for uid in uids if refs[uid] not in known]

    def _plan(self, client: IMAPClient, ledger: Ledger, uids: Sequence[int], skip_known: bool,
              keep: int) -> list[list[int]]:
        """Batches of these UIDs by size; during a rescan, without known Message-IDs."""
        items = ["RFC822.SIZE", MESSAGE_ID_ITEM] if skip_known else ["RFC822.SIZE"]
        with self._guard("fetch of sizes"):
            fetched = client.fetch(list(uids), items)
        present = [uid for uid in uids if SIZE in fetched.get(uid, {})]
        if skip_known:
            unknown = set(self._unknown_ids(ledger, present, fetched)) | {keep}
            if len(unknown & set(present)) < len(present):
                log.info("%s: rescan skips %d message(s) whose Message-ID is already stored",
                         self.name, len(set(present) - unknown))
            present = [uid for uid in present if uid in unknown]
        sizes = [(uid, int(fetched[uid][SIZE])) for uid in present]
        return plan_batches(sizes, self.batch_size, self.batch_bytes)

    def _unknown_ids(self, ledger: Ledger, uids: list[int], fetched: dict[int, Any]) -> list[int]:
        """These UIDs, but for those whose Message-ID is already stored (no Message-ID: unknown)."""
        ids = {uid: header_message_id(fetched_header(fetched[uid])) for uid in uids}
        known = ledger.known_message_ids(sorted({mid for mid in ids.values() if mid}))
        return [uid for uid in uids if ids[uid] not in known]

    def _fetch(self, client: IMAPClient, uids: list[int], uidvalidity: int) -> list[RawMessage]:
        """One FETCH command for the whole batch; vanished messages are left out."""
        with self._guard(f"fetch of {len(uids)} message(s)"):
            fetched = client.fetch(uids, ["BODY.PEEK[]"])
        received_at = self._clock()
        batch: list[RawMessage] = []
        for uid in uids:
            data = fetched.get(uid, {}).get(BODY)
            if data is None:
                log.info("%s: UID %d vanished before it could be fetched", self.name, uid)
            else:
                origin = Origin.imap(self.name, uidvalidity, uid)
                batch.append(RawMessage(origin, bytes(data), received_at))
        return batch

    def settle(self, done: Sequence[Settlement]) -> None:
        client = self._require()
        targets = settle_targets(done, mailbox=self.name, uidvalidity=self._uidvalidity,
                                 processed=self.processed_folder, quarantine=self.quarantine_folder)
        for target, uids in targets.items():
            for chunk in chunked(sorted(uids), COMMAND_UIDS):
                if target is None:
                    with self._guard("flagging \\Seen"):
                        client.add_flags(list(chunk), [b"\\Seen"], silent=True)
                else:
                    self._move(client, list(chunk), target)
            log.debug("%s: settled %d message(s) to %s", self.name, len(uids), target or "\\Seen")

    def _move(self, client: IMAPClient, uids: list[int], target: str) -> None:
        self._ensure_folder(client, target)
        with self._guard(f"move to {target}"):
            if client.has_capability("MOVE"):
                client.move(uids, target)
                return
            client.copy(uids, target)
            client.add_flags(uids, [b"\\Deleted"], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)  # exactly these UIDs, never a plain EXPUNGE
            else:
                log.warning("%s: server lacks UIDPLUS; copies left flagged \\Deleted", self.name)

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if folder in self._folders:
            return
        with self._guard(f"creating folder {folder}"):
            if not client.folder_exists(folder):
                client.create_folder(folder)  # losing a race to another client: retried later
                log.info("%s: created folder %s", self.name, folder)
        self._folders.add(folder)

    def reconcile(self, ledger: Ledger) -> Reconciliation:
        """UIDs above the last search are waiting; older ones with neither a receipt nor a stored
        Message-ID are missing (the intake looked past them)."""
        client = self._require()
        uids = sorted(self._search_above(client, 0))
        refs = {uid: Origin.imap(self.name, self._uidvalidity, uid).ref for uid in uids}
        known: set[str] = set()
        for chunk in chunked(uids, COMMAND_UIDS):
            known |= ledger.known_refs(self.name, [refs[uid] for uid in chunk])
        unknown = [uid for uid in uids if refs[uid] not in known]
        looked_at = [uid for uid in unknown if uid <= (self._high_uid or 0)]
        missing = self._unstored(client, ledger, [uid for uid in looked_at if uid not in self._stored_by_id])
        self._stored_by_id.update(set(looked_at) - set(missing))  # after a rescan: not fetched again
        return Reconciliation(on_server=len(uids), waiting=len(unknown) - len(looked_at),
                              missing=tuple(refs[uid] for uid in missing), uidvalidity=self._uidvalidity)

    def _unstored(self, client: IMAPClient, ledger: Ledger, uids: list[int]) -> list[int]:
        fetched: dict[int, Any] = {}
        for chunk in chunked(uids, COMMAND_UIDS):
            with self._guard("fetch of Message-IDs"):
                fetched.update(client.fetch(list(chunk), [MESSAGE_ID_ITEM]))
        return self._unknown_ids(ledger, [uid for uid in uids if uid in fetched], fetched)

    @property
    def uidvalidity(self) -> int | None:
        return self._uidvalidity or None

    def wait(self, stop: threading.Event, timeout: float) -> None:
        client = self._require()
        if stop.is_set() or self._new_mail_waiting(client):
            return
        with self._guard("capability"):
            can_idle = self.idle and client.has_capability("IDLE")
        if not can_idle:
            stop.wait(max(0.0, min(timeout, self.poll_seconds)))
            return
        until = time.monotonic() + max(0.0, min(timeout, IDLE_MAX_SECONDS))
        with self._guard("IDLE"):
            client.idle()
            why = idle_until(client, stop, until, IDLE_SLICE_SECONDS)
            client.idle_done()  # on a dead connection this is what fails
        log.debug("%s: IDLE ended (%s)", self.name, why)

    def _new_mail_waiting(self, client: IMAPClient) -> bool:
        """Did mail arrive after the last search (before IDLE could report it)?"""
        if self._high_uid is None:
            return False
        return any(uid > self._high_uid for uid in self._search_above(client, self._high_uid))

    def _search_above(self, client: IMAPClient, floor: int) -> list[int]:
        """UIDs from ``floor + 1`` on (plus the highest UID, which ``n:*`` always matches).

        The NOOP first makes the server announce mail other clients added: a
        SEARCH alone answers from the view of the folder it last announced.
        """
        with self._guard("search"):
            client.noop()
            return list(client.search(["UID", f"{floor + 1}:*"]))


    def _require(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError(f"mailbox {self.name!r} on {self.host}: not connected")
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with suppress(Exception):
                client.shutdown()

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn imapclient, socket and TLS errors into MailboxError."""
        try:
            yield
        except (IMAPClientError, OSError) as exc:
            if not isinstance(exc, IMAPClientError) or isinstance(exc, IMAPClientAbortError):
                self._drop()  # the connection is unusable; the caller reconnects
            where = f"mailbox {self.name!r} on {self.host}:{self.port}"
            raise MailboxError(f"{where}: {action} failed: {exc}") from exc
