"""``maildesk auth``: sign a mailbox (or the outbound server) in with OAuth2, and see or forget stored logins."""

from __future__ import annotations

import click

from typing import TYPE_CHECKING

from maildesk.cli.output import echo
from maildesk.cli.state import State
from maildesk.config import Config
from maildesk.config.auth import OAuthConfig
from maildesk.errors import MaildeskError, OAuthError

if TYPE_CHECKING:
    from maildesk.auth.oauth2 import DeviceCode, OAuthClient, TokenSet

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


SIGN_IN_SECONDS = 600
PASTE_PORT = 8765  # the redirect address shown with --paste (nothing needs to listen there)


@auth.command("login")
@click.argument("name")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Browser sign-in: the loopback port the browser comes back to (default: any free one).")
@click.option("--paste", is_flag=True,
              help="Browser sign-in on another machine: paste the address the browser ended on instead.")
@click.pass_obj
def auth_login(state: State, name: str, port: int, paste: bool) -> None:
    """Sign NAME (a mailbox, or "outbound") in. device_code shows a URL and a code to enter
    there and waits until you approve; authorization_code (Google) shows a sign-in address and
    waits for the browser to come back to 127.0.0.1; client_credentials gets a token at once.
    The refresh token is stored encrypted in the database, never in the config file."""
    from maildesk.auth.keeper import client_for, save_login  # cryptography only when signing in
    from maildesk.auth.seal import Sealer

    desk = state.desk()
    oauth, account = login_of(desk.config, name)
    try:
        client = client_for(oauth, clock=desk.clock)
        if oauth.service:
            tokens = client.client_credentials()
        elif oauth.grant == "authorization_code":
            tokens = _browser_sign_in(client, account, port=port, paste=paste)
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
    echo(f"{name}: signed in as {account}; {kept}; access valid until "
               f"{tokens.expires_at.isoformat(timespec='seconds')}")


def _browser_sign_in(client: OAuthClient, account: str, *, port: int, paste: bool) -> TokenSet:
    """The authorization-code flow: the browser comes back to a loopback listener, or its final
    address is pasted here (``--paste``: the browser runs on another machine)."""
    from maildesk.auth.browser import LoopbackCatcher, code_from_redirect, start_authorization

    catcher = None if paste else LoopbackCatcher(port)
    redirect_uri = catcher.redirect_uri if catcher else f"http://127.0.0.1:{port or PASTE_PORT}/"
    try:
        started = start_authorization(client.endpoints, client_id=client.client_id, redirect_uri=redirect_uri,
                                      account=account)
        echo(f"To sign in as {account}, open this address in a browser:\n\n  {started.url}\n")
        if catcher is None:
            address = click.prompt("Paste the address the browser ended on (its page may not load)")
        else:
            listening = catcher.redirect_uri.rsplit(":", 1)[1].rstrip("/")
            echo(f"Waiting for the browser to come back to {catcher.redirect_uri} (from another machine: "
                       f"ssh -L {listening}:127.0.0.1:{listening} to this host first, or use --paste) ...")
            address = catcher.wait(SIGN_IN_SECONDS)
            if address is None:
                raise click.ClickException(f"no sign-in came back within {SIGN_IN_SECONDS // 60} minutes")
    finally:
        if catcher is not None:
            catcher.close()
    code = code_from_redirect(address, state=started.state)
    return client.exchange_code(code, redirect_uri=started.redirect_uri, verifier=started.verifier)


def _show(code: DeviceCode, account: str) -> None:
    echo(f"To sign in as {account}, open {code.verification_uri_complete or code.verification_uri}")
    echo(f"and enter the code {code.user_code} (valid until {code.expires_at.isoformat(timespec='seconds')}).")
    echo("Waiting for the sign-in ...")


@auth.command("list")
@click.pass_obj
def auth_list(state: State) -> None:
    """Stored logins: account, when the access token expires, how often the refresh token rotated."""
    with state.store() as store:
        rows = [store.tokens.get(name) for name in store.tokens.names()]
    if not rows:
        echo("no OAuth2 logins stored")
    for row in rows:
        if row is not None:
            expires = row.expires_at.isoformat(timespec="seconds") if row.expires_at else "-"
            echo(f"{row.name}: {row.subject}, refresh token {'kept' if row.refresh_token else 'none'}, "
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
    echo(f"{name}: stored tokens removed")
