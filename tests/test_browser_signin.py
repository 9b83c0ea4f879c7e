"""Browser sign-in (authorization code with PKCE, loopback redirect): pure pieces and a real round trip."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest

from maildesk.auth.browser import LoopbackCatcher, challenge, code_from_redirect, start_authorization
from maildesk.auth.oauth2 import OAuthClient
from maildesk.auth.providers import Endpoints, endpoints
from maildesk.errors import OAuthError
from oauthserver import CLIENT_ID, OAuthTestServer


def test_s256_challenge_matches_rfc_7636_appendix_b():
    assert challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_sign_in_address_asks_for_a_refresh_token_with_pkce():
    ends = endpoints("google")
    started = start_authorization(ends, client_id="cid", redirect_uri="http://127.0.0.1:5000/",
                                  account="support@example.test")
    url = urllib.parse.urlsplit(started.url)
    query = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == ends.auth_url
    assert query == {"response_type": "code", "client_id": "cid", "redirect_uri": "http://127.0.0.1:5000/",
                     "scope": "https://mail.google.com/", "state": started.state,
                     "code_challenge": challenge(started.verifier), "code_challenge_method": "S256",
                     "access_type": "offline", "prompt": "consent", "login_hint": "support@example.test"}
    assert 43 <= len(started.verifier) <= 128
    again = start_authorization(ends, client_id="cid", redirect_uri="http://127.0.0.1:5000/")
    assert (again.state, again.verifier) != (started.state, started.verifier)
    assert started.verifier not in repr(started)  # the URL carries the challenge, never the verifier
    assert started.verifier not in started.url


def test_endpoints_without_a_browser_sign_in_are_refused():
    with pytest.raises(ValueError, match="auth_url"):
        start_authorization(Endpoints("https://idp.example/t"), client_id="c", redirect_uri="http://127.0.0.1:1/")


@pytest.mark.parametrize("address, error", [
    ("http://127.0.0.1:5000/?code=abc&state=S1", None),
    ("  http://127.0.0.1:5000/?state=S1&code=abc&scope=x \n", None),
    ("http://127.0.0.1:5000/?error=access_denied&error_description=The+user+declined&state=S1", "access_denied"),
    ("http://127.0.0.1:5000/?code=abc&state=OTHER", "state_mismatch"),
    ("http://127.0.0.1:5000/?code=abc", "state_mismatch"),
    ("http://127.0.0.1:5000/?state=S1", "invalid_response"),
    ("not a url at all", "state_mismatch"),
])
def test_the_code_is_taken_only_from_this_sign_ins_redirect(address, error):
    if error is None:
        assert code_from_redirect(address, state="S1") == "abc"
    else:
        with pytest.raises(OAuthError) as caught:
            code_from_redirect(address, state="S1")
        assert caught.value.error == error


def browse(url: str) -> None:
    """What the browser does: open the sign-in address and follow the provider's redirect."""
    with urllib.request.urlopen(url, timeout=10) as page:
        assert b"Sign-in received" in page.read()


def test_a_round_trip_through_the_provider_and_the_loopback_listener(oauth_server: OAuthTestServer):
    oauth_server.browser_user = "support"
    client = OAuthClient(Endpoints(oauth_server.token_url, scope="mail", auth_url=oauth_server.auth_url),
                         client_id=CLIENT_ID)
    catcher = LoopbackCatcher()
    try:
        started = start_authorization(client.endpoints, client_id=CLIENT_ID, redirect_uri=catcher.redirect_uri)
        browse(started.url)
        address = catcher.wait(10)
    finally:
        catcher.close()
    assert address is not None
    code = code_from_redirect(address, state=started.state)
    tokens = client.exchange_code(code, redirect_uri=started.redirect_uri, verifier=started.verifier)
    assert tokens.refresh_token and tokens.access_token
    with pytest.raises(OAuthError, match="invalid_grant"):  # a code works once
        client.exchange_code(code, redirect_uri=started.redirect_uri, verifier=started.verifier)


def test_a_stolen_code_is_useless_without_the_verifier(oauth_server: OAuthTestServer):
    oauth_server.browser_user = "support"
    client = OAuthClient(Endpoints(oauth_server.token_url, auth_url=oauth_server.auth_url), client_id=CLIENT_ID)
    catcher = LoopbackCatcher()
    try:
        started = start_authorization(client.endpoints, client_id=CLIENT_ID, redirect_uri=catcher.redirect_uri)
        browse(started.url)
        code = code_from_redirect(catcher.wait(10) or "", state=started.state)
    finally:
        catcher.close()
    with pytest.raises(OAuthError, match="invalid_grant"):
        client.exchange_code(code, redirect_uri=started.redirect_uri, verifier="x" * 64)


def test_nothing_comes_back_when_the_browser_never_does():
    catcher = LoopbackCatcher()
    try:
        assert catcher.wait(0.01) is None
    finally:
        catcher.close()
