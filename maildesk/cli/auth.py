"""``maildesk auth``: sign a mailbox (or the outbound server) in with OAuth2, and see or forget stored logins."""

from __future__ import annotations

import click

from typing import TYPE_CHECKING

from maildesk.cli.state import State
from maildesk.config import Config
from maildesk.config.auth import OAuthConfig
from maildesk.errors import MaildeskError, OAuthError

if TYPE_CHECKING:
    from maildesk.auth.oauth2 import DeviceCode

OUTBOUND = "outbound"


def login_of(config: Config, name: str) -> tuple[OAuthConfig, str]:
    """The OAuth2 settings and account of a mailbox name, or of "outbound"."""
    if name == OUTBOUND:
        outbound = config.outbound
        if outbound is None or outbound.oauth is None:
            raise click.ClickException('[outbound] does not use auth = "oauth2"')
        return outbound.oauth, outbound.username
    mailbox = config.mailbox(name)
    if mailbox is None:
        known = ", ".join([m.name for m in config.mailboxes] + [OUTBOUND])
        raise click.ClickException(f"no mailbox {name!r} (known: {known})")
    if mailbox.oauth is None:
        raise click.ClickException(f'mailbox {name!r} does not use auth = "oauth2"')
    return mailbox.oauth, mailbox.username


@click.group()
def auth() -> None:
    """OAuth2 logins for Microsoft 365, Google and other providers."""


@auth.command("login")
@click.argument("name")
@click.pass_obj
def auth_login(state: State, name: str) -> None:
    """Sign NAME (a mailbox, or "outbound") in: the device-code flow shows a URL and a code to
    enter there, and waits until you approve; client_credentials gets a token at once. The
    refresh token is stored encrypted in the database, never in the config file."""
    from maildesk.auth.keeper import client_for, save_login  # cryptography only when signing in
    from maildesk.auth.seal import Sealer

    desk = state.desk()
    oauth, account = login_of(desk.config, name)
    try:
        client = client_for(oauth, clock=desk.clock)
        if oauth.service:
            tokens = client.client_credentials()
        else:
            code = client.start_device()
            _show(code, account)
            tokens = client.poll_device(code)
    except (OAuthError, MaildeskError) as exc:
        raise click.ClickException(f"sign-in of {name!r} failed: {exc}") from exc
    store = desk.open_store()
    try:
        save_login(store, Sealer(desk.secret), name, subject=account, tokens=tokens, clock=desk.clock)
    finally:
        store.close()
    kept = "refresh token stored encrypted" if tokens.refresh_token else "access token stored encrypted"
    click.echo(f"{name}: signed in as {account}; {kept}; access valid until "
               f"{tokens.expires_at.isoformat(timespec='seconds')}")


def _show(code: DeviceCode, account: str) -> None:
    click.echo(f"To sign in as {account}, open {code.verification_uri_complete or code.verification_uri}")
    click.echo(f"and enter the code {code.user_code} (valid until {code.expires_at.isoformat(timespec='seconds')}).")
    click.echo("Waiting for the sign-in ...")


@auth.command("list")
@click.pass_obj
def auth_list(state: State) -> None:
    """Stored logins: account, when the access token expires, how often the refresh token rotated."""
    with state.store() as store:
        rows = [store.tokens.get(name) for name in store.tokens.names()]
    if not rows:
        click.echo("no OAuth2 logins stored")
    for row in rows:
        if row is not None:
            expires = row.expires_at.isoformat(timespec="seconds") if row.expires_at else "-"
            click.echo(f"{row.name}: {row.subject}, refresh token {'kept' if row.refresh_token else 'none'}, "
                       f"access until {expires}, rotated {row.rotations} time(s), updated "
                       f"{row.updated_at.isoformat(timespec='seconds')}")


@auth.command("logout")
@click.argument("name")
@click.pass_obj
def auth_logout(state: State, name: str) -> None:
    """Forget NAME's stored tokens (revoke the app's access at the provider too)."""
    with state.store() as store:
        with store.atomic():
            gone = store.tokens.forget(name)
    if not gone:
        raise click.ClickException(f"no stored login {name!r}")
    click.echo(f"{name}: stored tokens removed")
