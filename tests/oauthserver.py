"""A small OAuth2 identity provider on loopback for tests, and the ``oauth_server`` fixture."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HOST = "127.0.0.1"
CLIENT_ID = "maildesk-test-client"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EMAIL_DOMAIN = "example.test"


@dataclass(frozen=True)
class Redirect:
    """A 302 answer (the browser sign-in sends the browser back to the client)."""

    location: str


class OAuthReply(Exception):
    """Ends a request with a JSON error (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.body = {"error": error, **({"error_description": description} if description else {})}
        self.status = status


@dataclass
class Grant:
    """One user's authorization: its refresh token and the access tokens issued under it."""

    user: str
    scope: str
    refresh: str | None
    access: set[str] = field(default_factory=set)


@dataclass
class Access:
    grant: Grant
    exp: float


@dataclass
class Device:
    """A device authorization in progress; ``user`` is set once it is approved."""

    device_code: str
    user_code: str
    scope: str
    expires: float
    user: str | None = None
    denied: bool = False
    polls: int = 0


class OAuthTestServer:
    """An identity provider with a token, device and introspection endpoint on 127.0.0.1.

    ``/token`` takes grant types ``refresh_token``, ``client_credentials`` and the device code;
    the client authenticates with ``client_id`` (and ``client_secret`` when the server has
    one) in the form or with HTTP Basic. ``/introspect`` answers RFC 7662 for a token sent as
    the form field ``token`` (Dovecot ``introspection_mode = post``), as a Bearer
    ``Authorization`` header (``auth``) or as the query parameter ``token`` (``get``, with
    ``introspection_url = .../introspect?token=``); ``introspections`` records which way came.

    Tests steer it from Python: ``issue``/``approve``/``deny``/``revoke``/``expire``,
    ``fail_next``, ``slow_down_next``, and the attributes ``rotate_refresh``, ``access_ttl``,
    ``pending_polls``, ``interval``, ``device_ttl``, ``client_secret`` and ``app_user`` (the
    username client-credentials tokens introspect to); ``requests`` lists (path, form or query)
    and ``headers`` the matching lower-cased request headers. Revoking a refresh token ends its
    whole grant (its access tokens too); revoking an access token ends only that token.
    """

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = "") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.rotate_refresh = False
        self.access_ttl = 3600
        self.pending_polls = 0
        self.interval = 5
        self.device_ttl = 600
        self.app_user = client_id
        self.browser_user: str | None = None  # who signs in at /authorize; None: the user declines
        self._codes: dict[str, tuple[str, str, str, str]] = {}  # code -> (user, redirect_uri, challenge, scope)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.headers: list[dict[str, str]] = []
        self.introspections: list[str] = []
        self._lock = threading.Lock()
        self._access: dict[str, Access] = {}
        self._refresh: dict[str, Grant] = {}
        self._devices: dict[str, Device] = {}
        self._failures: list[int] = []
        self._slow_downs = 0
        self._httpd = ThreadingHTTPServer((HOST, 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle and addresses

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/device"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/introspect"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="oauth-test-server",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    # -- controls for tests

    def issue(self, user: str, scope: str = "mail") -> tuple[str, str]:
        """A fresh grant for ``user``: (access_token, refresh_token)."""
        with self._lock:
            grant = Grant(user, scope, _token("rt"))
            assert grant.refresh is not None
            self._refresh[grant.refresh] = grant
            return self._new_access(grant), grant.refresh

    def approve(self, user_code: str, user: str) -> None:
        with self._lock:
            self._device_by_user_code(user_code).user = user

    def deny(self, user_code: str) -> None:
        with self._lock:
            self._device_by_user_code(user_code).denied = True

    def expire_device(self, user_code: str) -> None:
        """The device code expires now (polls answer ``expired_token``)."""
        with self._lock:
            self._device_by_user_code(user_code).expires = 0.0

    def revoke(self, token: str) -> None:
        """End an access token, or a refresh token with every access token of its grant."""
        with self._lock:
            grant = self._refresh.pop(token, None)
            if grant is not None:
                for access in grant.access:
                    self._access.pop(access, None)
            self._access.pop(token, None)

    def expire(self, access_token: str) -> None:
        """The access token is past its lifetime from now on (introspection: inactive)."""
        with self._lock:
            self._access[access_token].exp = time.time() - 1

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` requests, to any endpoint, get ``status`` with a plain-text body."""
        with self._lock:
            self._failures.extend([status] * n)

    def slow_down_next(self, n: int) -> None:
        """The next ``n`` device-code polls answer ``slow_down``."""
        with self._lock:
            self._slow_downs += n

    def user_codes(self) -> list[str]:
        with self._lock:
            return [device.user_code for device in self._devices.values()]

    def count(self, path: str, grant_type: str | None = None) -> int:
        """How many requests reached ``path`` (with that ``grant_type``, when given)."""
        return sum(1 for seen, form in list(self.requests) if seen == path
                   and (grant_type is None or form.get("grant_type") == grant_type))

    # -- the endpoints (called by the handler thread)

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/authorize"

    def handle(self, method: str, path: str, form: dict[str, str],
               headers: dict[str, str]) -> tuple[int, dict[str, Any] | str | Redirect]:
        with self._lock:
            self.requests.append((path, dict(form)))
            self.headers.append(dict(headers))
            if self._failures:
                status = self._failures.pop(0)
                return status, f"{status} {HTTPStatus(status).phrase}\n"
            try:
                if path == "/introspect":
                    return 200, self._introspect(method, form, headers)
                if path == "/authorize" and method == "GET":
                    return 302, self._authorize(form)
                if method != "POST":
                    return 405, "method not allowed\n"
                if path == "/token":
                    return 200, self._token(form, headers)
                if path == "/device":
                    return 200, self._start_device(form, headers)
            except OAuthReply as reply:
                return reply.status, reply.body
            return 404, "not found\n"

    def _check_client(self, form: dict[str, str], headers: dict[str, str]) -> None:
        client_id, secret, basic = form.get("client_id", ""), form.get("client_secret", ""), False
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, secret = (urllib.parse.unquote(part) for part in decoded.partition(":"))
            basic = True
        status = 401 if basic else 400
        if client_id != self.client_id:
            raise OAuthReply("invalid_client", "unknown client", status)
        if self.client_secret and secret != self.client_secret:
            raise OAuthReply("invalid_client", "client authentication failed", status)

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        self._check_client(form, headers)
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""))
        if grant_type == "client_credentials":
            if not self.client_secret:
                raise OAuthReply("unauthorized_client", "a public client has no credentials")
            grant = Grant(self.app_user, form.get("scope", ""), None)
            return self._answer(grant, refresh=None)
        if grant_type == DEVICE_GRANT:
            return self._device_grant(form.get("device_code", ""))
        if grant_type == "authorization_code":
            return self._code_grant(form)
        raise OAuthReply("unsupported_grant_type", grant_type[:40])

    def _refresh_grant(self, refresh: str) -> dict[str, Any]:
        grant = self._refresh.get(refresh)
        if grant is None:
            raise OAuthReply("invalid_grant", "the refresh token is invalid, expired or revoked")
        new_refresh = None
        if self.rotate_refresh:
            del self._refresh[refresh]
            grant.refresh = new_refresh = _token("rt")
            self._refresh[new_refresh] = grant
        return self._answer(grant, refresh=new_refresh)

    def _authorize(self, query: dict[str, str]) -> Redirect:
        """The browser sign-in, approved (or declined) at once as ``browser_user``."""
        redirect, state = query.get("redirect_uri", ""), query.get("state", "")
        if query.get("client_id") != self.client_id or not redirect.startswith("http://127.0.0.1:"):
            raise OAuthReply("invalid_request", "unknown client or redirect")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return Redirect(redirect + "?" + urllib.parse.urlencode({"error": "invalid_request", "state": state}))
        if self.browser_user is None:
            return Redirect(redirect + "?" + urllib.parse.urlencode({"error": "access_denied", "state": state}))
        code = _token("ac")
        self._codes[code] = (self.browser_user, redirect, query["code_challenge"], query.get("scope", ""))
        return Redirect(redirect + "?" + urllib.parse.urlencode({"code": code, "state": state}))

    def _code_grant(self, form: dict[str, str]) -> dict[str, Any]:
        found = self._codes.pop(form.get("code", ""), None)  # a code works once
        if found is None:
            raise OAuthReply("invalid_grant", "unknown or used authorization code")
        user, redirect, challenge, scope = found
        verifier = form.get("code_verifier", "").encode()
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if form.get("redirect_uri") != redirect or expected != challenge:
            raise OAuthReply("invalid_grant", "redirect_uri or code_verifier does not match")
        grant = Grant(user, scope, _token("rt"))
        assert grant.refresh is not None
        self._refresh[grant.refresh] = grant
        return self._answer(grant, refresh=grant.refresh)

    def _start_device(self, form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        self._check_client(form, headers)
        device = Device(_token("dc"), _user_code(), form.get("scope", ""),
                        time.time() + self.device_ttl)
        self._devices[device.device_code] = device
        return {"device_code": device.device_code, "user_code": device.user_code,
                "verification_uri": f"{self.base_url}/activate",
                "verification_uri_complete": f"{self.base_url}/activate?code={device.user_code}",
                "expires_in": self.device_ttl, "interval": self.interval,
                "message": f"Enter {device.user_code} at {self.base_url}/activate"}

    def _device_grant(self, device_code: str) -> dict[str, Any]:
        device = self._devices.get(device_code)
        if device is None:
            raise OAuthReply("invalid_grant", "unknown or used device code")
        device.polls += 1
        if time.time() >= device.expires:
            raise OAuthReply("expired_token", "the device code expired")
        if self._slow_downs:
            self._slow_downs -= 1
            raise OAuthReply("slow_down")
        if device.denied:
            raise OAuthReply("access_denied", "the user declined")
        if device.user is None or device.polls <= self.pending_polls:
            raise OAuthReply("authorization_pending")
        del self._devices[device_code]
        grant = Grant(device.user, device.scope, _token("rt"))
        assert grant.refresh is not None
        self._refresh[grant.refresh] = grant
        return self._answer(grant, refresh=grant.refresh)

    def _introspect(self, method: str, form: dict[str, str],
                    headers: dict[str, str]) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        if form.get("token"):
            token, how = form["token"], "form" if method == "POST" else "query"
        elif auth.lower().startswith("bearer "):
            token, how = auth[7:].strip(), "header"
        else:
            token, how = "", "none"
        self.introspections.append(f"{method} {how}")
        access = self._access.get(token)
        if access is None or access.exp <= time.time():
            return {"active": False}
        user = access.grant.user
        return {"active": True, "username": user, "sub": user, "client_id": self.client_id,
                "email": user if "@" in user else f"{user}@{EMAIL_DOMAIN}",
                "exp": int(access.exp), "scope": access.grant.scope, "token_type": "Bearer"}

    # -- helpers (the lock is held)

    def _new_access(self, grant: Grant) -> str:
        token = _token("at")
        grant.access.add(token)
        self._access[token] = Access(grant, time.time() + self.access_ttl)
        return token

    def _answer(self, grant: Grant, *, refresh: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self._new_access(grant), "token_type": "Bearer",
                                "expires_in": self.access_ttl, "scope": grant.scope}
        if refresh is not None:
            body["refresh_token"] = refresh
        return body

    def _device_by_user_code(self, user_code: str) -> Device:
        for device in self._devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(user_code)


def _token(kind: str) -> str:
    return f"{kind}-{secrets.token_urlsafe(24)}"


def _user_code() -> str:
    letters = "BCDFGHJKLMNPQRSTVWXZ"
    code = "".join(secrets.choice(letters) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauth-test-idp"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        form = _form(url.query if method == "GET" else body)
        headers = {key.lower(): value for key, value in self.headers.items()}
        owner: OAuthTestServer = self.server.owner  # type: ignore[attr-defined]
        status, reply = owner.handle(method, url.path, form, headers)
        if isinstance(reply, Redirect):
            self.send_response(status)
            self.send_header("Location", reply.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        is_json = not isinstance(reply, str)
        data = (json.dumps(reply) if is_json else reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if is_json else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return


def _form(text: str) -> dict[str, str]:
    return {key: values[0] for key, values in
            urllib.parse.parse_qs(text, keep_blank_values=True).items()}


@pytest.fixture
def oauth_server() -> Iterator[OAuthTestServer]:
    """A running identity provider for one test (client ``CLIENT_ID``, no secret until set)."""
    server = OAuthTestServer()
    server.start()
    yield server
    server.stop()
