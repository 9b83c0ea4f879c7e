"""Browser sign-in: the authorization-code flow with PKCE (RFC 7636) and a loopback redirect (RFC 8252)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer

from maildesk.auth.providers import Endpoints
from maildesk.errors import OAuthError

LOOPBACK = "127.0.0.1"
DONE_PAGE = (b"<!doctype html><title>maildesk</title><p>Sign-in received. You can close this tab and go back "
             b"to the terminal.</p>")


@dataclass(frozen=True)
class Authorization:
    """A started browser sign-in: open ``url``; the provider sends the browser to ``redirect_uri``."""

    url: str
    redirect_uri: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)


def challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def start_authorization(endpoints: Endpoints, *, client_id: str, redirect_uri: str,
                        account: str = "") -> Authorization:
    """The sign-in address, with a fresh PKCE verifier and state. Asks for offline access (a
    refresh token) and for consent, so a second sign-in gets a refresh token again."""
    if not endpoints.auth_url:
        raise ValueError("these endpoints have no auth_url for a browser sign-in")
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": endpoints.scope, "state": state, "code_challenge": challenge(verifier),
              "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent"}
    if account:
        params["login_hint"] = account
    joiner = "&" if "?" in endpoints.auth_url else "?"
    return Authorization(endpoints.auth_url + joiner + urllib.parse.urlencode(params), redirect_uri, state, verifier)


def code_from_redirect(address: str, *, state: str) -> str:
    """The authorization code in the address the browser was sent back to; OAuthError for a
    refusal, a foreign ``state`` (a forged or stale redirect) or an address without a code."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(address.strip()).query)
    first = {key: values[0] for key, values in query.items() if values}
    if "error" in first:
        raise OAuthError(first["error"][:100], first.get("error_description", "")[:300])
    if not secrets.compare_digest(first.get("state", ""), state):
        raise OAuthError("state_mismatch", "the redirect does not belong to this sign-in")
    if not first.get("code"):
        raise OAuthError("invalid_response", "the redirect carries no authorization code")
    return first["code"]


class LoopbackCatcher:
    """Waits on 127.0.0.1 for the browser's one redirect back from the provider."""

    def __init__(self, port: int = 0) -> None:
        self.address: str | None = None
        self._got = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if "code=" in self.path or "error=" in self.path:
                    catcher.address = f"{catcher.redirect_uri.rstrip('/')}{self.path}"
                    catcher._got.set()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(DONE_PAGE)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep the terminal quiet
                return

        self._server = HTTPServer((LOOPBACK, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-redirect", daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/"

    def wait(self, timeout: float) -> str | None:
        """The address the browser came back to, or None after ``timeout`` seconds."""
        return self.address if self._got.wait(timeout) else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
