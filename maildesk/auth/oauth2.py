"""OAuth2 token flows over HTTP (refresh, client credentials, device code) for IMAP/SMTP logins."""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.client import HTTPException
from typing import Any

from maildesk.auth.providers import Endpoints
from maildesk.clock import system_clock
from maildesk.errors import OAuthError

log = logging.getLogger("maildesk.auth")


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_EXPIRES_IN = 3600.0
DEFAULT_DEVICE_EXPIRES_IN = 900.0
DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0
MAX_BODY = 1 << 20
MAX_DESCRIPTION = 300
MAX_SECONDS = 10 * 366 * 86400


@dataclass(frozen=True)
class TokenSet:
    """An access token, when it stops working (aware UTC), and the refresh token to renew it."""

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""


@dataclass(frozen=True)
class DeviceCode:
    """A started device authorization (RFC 8628): show ``user_code`` and ``verification_uri``."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_at: datetime
    interval: float = DEFAULT_INTERVAL
    verification_uri_complete: str = ""
    message: str = ""


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("the clock must give timezone-aware datetimes")
    return now.astimezone(timezone.utc)


def _seconds(data: Mapping[str, Any], key: str, default: float) -> float:
    """A non-negative number of seconds from ``data[key]`` (number or numeric string)."""
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        seconds = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds <= MAX_SECONDS:  # also refuses NaN and infinity
        raise OAuthError("invalid_response", f"{key} is not a sensible number of seconds")
    return seconds


def _text(data: Mapping[str, Any], *keys: str, required: bool = False) -> str:
    """The first non-empty string among ``keys``; "" or OAuthError when there is none."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    if required:
        raise OAuthError("invalid_response", f"the response has no {keys[0]}")
    return ""


def parse_token_response(data: Mapping[str, Any], *, now: datetime,
                         previous_refresh: str | None) -> TokenSet:
    """A successful token response (RFC 6749 section 5.1) as a TokenSet.

    Without a new ``refresh_token`` the previous one is kept; with one, it is the rotated token.
    """
    access = _text(data, "access_token", required=True)
    token_type = data.get("token_type")
    if isinstance(token_type, str) and token_type and token_type.lower() != "bearer":
        raise OAuthError("invalid_response", f"unsupported token_type {token_type[:40]!r}")
    expires_in = _seconds(data, "expires_in", DEFAULT_EXPIRES_IN)
    return TokenSet(access_token=access,
                    expires_at=_utc(now) + timedelta(seconds=expires_in),
                    refresh_token=_text(data, "refresh_token") or previous_refresh,
                    scope=_text(data, "scope"))


def parse_device_response(data: Mapping[str, Any], *, now: datetime) -> DeviceCode:
    """A device authorization response (RFC 8628 section 3.2; Google's field names too)."""
    interval = _seconds(data, "interval", DEFAULT_INTERVAL) or DEFAULT_INTERVAL
    return DeviceCode(
        device_code=_text(data, "device_code", required=True),
        user_code=_text(data, "user_code", required=True),
        verification_uri=_text(data, "verification_uri", "verification_url", required=True),
        expires_at=_utc(now) + timedelta(seconds=_seconds(data, "expires_in",
                                                          DEFAULT_DEVICE_EXPIRES_IN)),
        interval=interval,
        verification_uri_complete=_text(data, "verification_uri_complete",
                                        "verification_url_complete"),
        message=_text(data, "message"),
    )


def parse_error_response(status: int, body: bytes) -> OAuthError:
    """An RFC 6749 section 5.2 error body as OAuthError; ``http`` when the body is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"]:
        description = data.get("error_description")
        text = description if isinstance(description, str) else ""
        return OAuthError(data["error"][:80], text[:MAX_DESCRIPTION], status=status)
    return OAuthError("http", f"HTTP status {status} without an OAuth2 error", status=status)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Token endpoints never redirect; following one could carry the secret elsewhere."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


class OAuthClient:
    """Talks to one provider's token and device endpoints as one OAuth2 client."""

    def __init__(self, endpoints: Endpoints, *, client_id: str, client_secret: str = "",
                 clock: Callable[[], datetime] = system_clock, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if not client_id:
            raise ValueError("client_id is empty")
        self.endpoints = endpoints
        self.client_id = client_id
        self._secret = client_secret
        self._clock = clock
        self.timeout = timeout
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl_context), _NoRedirect())

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token for a refresh token (kept unless the provider rotates it)."""
        if not refresh_token:
            raise ValueError("refresh_token is empty")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token(form, previous_refresh=refresh_token)

    def client_credentials(self) -> TokenSet:
        """An app-only access token (RFC 6749 section 4.4)."""
        return self._token({"grant_type": "client_credentials"}, previous_refresh=None)

    def exchange_code(self, code: str, *, redirect_uri: str, verifier: str) -> TokenSet:
        """Tokens for the code a browser sign-in returned (RFC 6749 section 4.1.3, with PKCE)."""
        if not code:
            raise ValueError("code is empty")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}
        return self._token(form, previous_refresh=None, extra=(code, verifier))

    def start_device(self) -> DeviceCode:
        """Start a device authorization (RFC 8628); show the user its code and address."""
        url = self.endpoints.device_url
        if not url:
            raise ValueError("these endpoints have no device_url")
        form = {"client_id": self.client_id}
        if self.endpoints.scope:
            form["scope"] = self.endpoints.scope
        data = self._post(url, form, secrets=())
        return parse_device_response(data, now=self._clock())

    def poll_device(self, code: DeviceCode, *,
                    sleep: Callable[[float], None] = time.sleep) -> TokenSet:
        """Wait for the user to approve ``code``; OAuthError on denial or expiry."""
        form = {"grant_type": DEVICE_GRANT, "device_code": code.device_code}
        interval = max(code.interval, 1.0)
        polls = 0
        budget = (code.expires_at - _utc(self._clock())).total_seconds() / interval + 2
        while True:
            polls += 1
            if _utc(self._clock()) >= code.expires_at or polls > budget:
                raise OAuthError("expired_token", "the device code expired before approval")
            try:
                return self._token(form, previous_refresh=None, extra=(code.device_code,))
            except OAuthError as exc:
                interval = self._poll_verdict(exc, interval)
            sleep(interval)

    @staticmethod
    def _poll_verdict(exc: OAuthError, interval: float) -> float:
        """The interval to wait before the next poll, or re-raise a final answer."""
        if exc.error == "authorization_pending":
            return interval
        if exc.error == "slow_down":
            return interval + SLOW_DOWN_STEP
        if exc.transient:
            log.warning("device code poll failed (%s), polling on", exc)
            return interval
        raise exc

    def _token(self, form: dict[str, str], *, previous_refresh: str | None,
               extra: tuple[str, ...] = ()) -> TokenSet:
        body = {**form, "client_id": self.client_id}
        if self._secret:
            body["client_secret"] = self._secret
        if self.endpoints.scope and form["grant_type"] in ("refresh_token", "client_credentials"):
            body["scope"] = self.endpoints.scope
        secrets = (previous_refresh, *extra)
        data = self._post(self.endpoints.token_url, body, secrets=secrets)
        tokens = parse_token_response(data, now=self._clock(), previous_refresh=previous_refresh)
        log.debug("token for client %s valid until %s", self.client_id,
                  tokens.expires_at.isoformat())
        return tokens

    def _post(self, url: str, form: Mapping[str, str], *,
              secrets: Iterable[str | None]) -> dict[str, Any]:
        """POST a form, return the JSON object; every failure becomes an OAuthError."""
        hidden = (self._secret, *secrets)
        request = urllib.request.Request(
            url, data=urllib.parse.urlencode(form).encode("ascii"), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json", "User-Agent": "maildesk"})
        log.debug("POST %s (grant %s)", url, form.get("grant_type", "device authorization"))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, body = response.status, response.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            error = parse_error_response(exc.code, _read_quietly(exc))
            raise _scrubbed(error, hidden) from None
        except (OSError, HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OAuthError("network", scrub(f"{url}: {reason}", hidden)) from None
        return _json_object(status, body, hidden)


def _json_object(status: int, body: bytes, hidden: Iterable[str | None]) -> dict[str, Any]:
    """A 2xx answer's JSON object; an ``error`` in it (GitHub answers 200 so) is raised."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise OAuthError("invalid_response", "the answer is not a JSON object", status=status)
    if isinstance(data.get("error"), str) and "access_token" not in data:
        raise _scrubbed(parse_error_response(status, body), hidden)
    return data


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    """The error response's body (b"" when there is none), and the connection closed."""
    try:
        return exc.read(MAX_BODY)
    except (OSError, HTTPException):
        return b""
    finally:
        exc.close()


def _scrubbed(error: OAuthError, secrets: Iterable[str | None]) -> OAuthError:
    return OAuthError(error.error, scrub(error.description, secrets), status=error.status)
