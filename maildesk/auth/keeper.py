"""Fresh access tokens for one login: refreshed before expiry, rotated refresh tokens saved at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from maildesk.auth.oauth2 import OAuthClient, TokenSet
from maildesk.auth.providers import endpoints
from maildesk.auth.seal import SealBroken, Sealer
from maildesk.clock import Clock, system_clock
from maildesk.config.auth import OAuthConfig
from maildesk.errors import AuthFailed, MailboxError, OAuthError
from maildesk.store import Store

log = logging.getLogger("maildesk.auth")

MARGIN = timedelta(minutes=5)  # an access token this close to expiry is refreshed first


def client_for(oauth: OAuthConfig, *, clock: Clock = system_clock) -> OAuthClient:
    """The OAuth2 client of one configured login (reads the client secret from its source)."""
    ends = endpoints(oauth.provider, tenant=oauth.tenant, token_url=oauth.token_url, device_url=oauth.device_url,
                     scope=oauth.scope, service=oauth.service, auth_url=oauth.auth_url)
    return OAuthClient(ends, client_id=oauth.client_id, client_secret=oauth.client_secret(), clock=clock)


def save_login(store: Store, sealer: Sealer, name: str, *, subject: str, tokens: TokenSet,
               rotated: bool = False, clock: Clock = system_clock) -> None:
    """Store a login's tokens, sealed; a TokenSet without a refresh token keeps the stored one."""
    with store.atomic():
        store.tokens.put(name, subject=subject,
                         refresh_token=sealer.seal(name, tokens.refresh_token) if tokens.refresh_token else None,
                         access_token=sealer.seal(name, tokens.access_token), expires_at=tokens.expires_at,
                         now=clock(), rotated=rotated)


class TokenKeeper:
    """Access tokens for one login name (a mailbox's name, or "outbound").

    The access token and its expiry are kept sealed in the database too, so a ``run --once``
    from cron and the daemon share them instead of refreshing on every start. A refresh the
    provider refuses with ``invalid_grant`` is tried once more when another process rotated the
    refresh token meanwhile; otherwise the login needs an admin: ``AuthFailed``.
    """

    def __init__(self, name: str, oauth: OAuthConfig, *, subject: str, open_store: Callable[[], Store],
                 secret: bytes, clock: Clock = system_clock, client: OAuthClient | None = None) -> None:
        self.name, self.oauth, self.subject = name, oauth, subject
        self._open_store, self._sealer, self._clock = open_store, Sealer(secret), clock
        self._client = client

    def token(self, *, fresh: bool = False) -> str:
        """A usable access token; ``fresh`` skips the stored one (the server just refused it)."""
        store = self._open_store()
        try:
            return self._token(store, fresh)
        except SealBroken as exc:
            raise AuthFailed(f"{self.name}: {exc}") from exc
        finally:
            store.close()

    def _token(self, store: Store, fresh: bool) -> str:
        stored = store.tokens.get(self.name)
        if stored is not None and stored.subject.lower() != self.subject.lower() and not self.oauth.service:
            raise AuthFailed(f"{self.name}: the stored OAuth2 login is for {stored.subject}, not {self.subject}; "
                             f"run `maildesk auth login {self.name}`")
        if (not fresh and stored is not None and stored.access_token and stored.expires_at
                and stored.expires_at - MARGIN > self._clock()):
            return self._sealer.open(self.name, stored.access_token)
        if self.oauth.service:
            tokens = self._ask(lambda client: client.client_credentials())
            save_login(store, self._sealer, self.name, subject=self.subject, tokens=tokens, clock=self._clock)
            return tokens.access_token
        if stored is None or stored.refresh_token is None:
            raise AuthFailed(f"{self.name}: no OAuth2 login stored; run `maildesk auth login {self.name}`")
        return self._refresh(store, self._sealer.open(self.name, stored.refresh_token), retry=True)

    def _refresh(self, store: Store, refresh_token: str, *, retry: bool) -> str:
        try:
            tokens = self._ask(lambda client: client.refresh(refresh_token))
        except AuthFailed:
            again = store.tokens.get(self.name)
            if retry and again is not None and again.refresh_token is not None:
                newer = self._sealer.open(self.name, again.refresh_token)
                if newer != refresh_token:  # rotated by another process meanwhile
                    return self._refresh(store, newer, retry=False)
            raise
        rotated = tokens.refresh_token is not None and tokens.refresh_token != refresh_token
        save_login(store, self._sealer, self.name, subject=self.subject, tokens=tokens, rotated=rotated,
                   clock=self._clock)
        log.info("%s: access token refreshed%s, valid until %s", self.name,
                 " (refresh token rotated and saved)" if rotated else "", tokens.expires_at.isoformat())
        return tokens.access_token

    def _ask(self, call: Callable[[OAuthClient], TokenSet]) -> TokenSet:
        """One token request; a refusal needs an admin (AuthFailed), a network hiccup does not."""
        if self._client is None:
            self._client = client_for(self.oauth, clock=self._clock)
        try:
            return call(self._client)
        except OAuthError as exc:
            where = f"{self.name}: the token endpoint of {self.oauth.provider}"
            if exc.transient:
                raise MailboxError(f"{where} is unavailable ({exc})") from exc
            raise AuthFailed(f"{where} refused: {exc}") from exc

