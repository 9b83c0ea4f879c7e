"""Configuration: the example loads, defaults apply, and every error names its key path."""

from __future__ import annotations

from datetime import timedelta

from pathlib import Path

import pytest

from maildesk.config import build, load_config, parse_toml
from maildesk.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_and_documents_every_key():
    config = load_config(ROOT / "config.example.toml")
    assert config.desk.address == "support@example.test"
    imap, m365, drop = config.mailboxes
    assert (imap.kind, imap.port, imap.processed_folder, imap.password_env, imap.oauth) == (
        "imap", 993, "Processed", "MAILDESK_IMAP_PASSWORD", None)
    assert m365.oauth is not None and (m365.oauth.provider, m365.oauth.tenant, m365.oauth.grant) == (
        "microsoft", "example.test", "device_code")
    assert config.desk.admins == ("ops@example.test",)
    assert drop.kind == "maildir" and drop.path == ROOT / "var" / "inbox"
    text = (ROOT / "config.example.toml").read_text()
    from maildesk.config import DESK, INTAKE, LIMITS, SECURITY, TICKETS
    from maildesk.config.mailbox import MAILBOX
    from maildesk.config.outbound import NOTIFY, OUTBOUND, TIER
    from maildesk.config.metrics import METRICS
    from maildesk.config.sla import POLICY, TIMERS

    for section, options in (("desk", DESK), ("mailbox", MAILBOX), ("limits", LIMITS), ("intake", INTAKE),
                             ("outbound", OUTBOUND), ("notify", NOTIFY), ("tier", TIER), ("security", SECURITY),
                             ("tickets", TICKETS), ("sla", POLICY), ("timers", TIMERS),
                             ("metrics", METRICS)):
        for key in options:
            assert f"{key} =" in text or f"# {key} =" in text, f"{section}.{key} is not documented"


def test_embedded_default_is_a_local_maildir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    config = load_config(None, cwd=tmp_path)
    assert config.embedded
    assert config.desk.data_dir == tmp_path / "var"
    assert config.mailboxes[0].kind == "maildir" and config.mailboxes[0].path == tmp_path / "var" / "inbox"


def test_env_var_selects_config(tmp_path, monkeypatch):
    path = tmp_path / "other.toml"
    path.write_text('[desk]\naddress = "help@other.example"\n')
    monkeypatch.setenv("MAILDESK_CONFIG", str(path))
    assert load_config(None).desk.address == "help@other.example"


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "maildesk.toml"
    path.parent.mkdir()
    path.write_text('[desk]\naddress = "a@b.example"\ndata_dir = "data"\n')
    config = load_config(path)
    assert config.desk.data_dir == tmp_path / "etc" / "data"
    assert config.desk.secret_file == tmp_path / "etc" / "data" / "secret.key"


IMAP = 'name = "support"\nkind = "imap"\nhost = "imap.example.test"\nusername = "u"\n'

BAD = [
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\n' + IMAP + 'port = "abc"\n',
     'mailbox[0].port: expected an integer, got "abc"'),
    ('[desk]\naddress = "not an address"\n', 'desk.address: not an email address: "not an address"'),
    ("[desk]\n", "desk.address: required key is missing"),
    ('[desk]\naddress = "a@b.example"\nnmae = "x"\n', "desk.nmae: unknown key"),
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\n' + IMAP + 'security = "tls"\n',
     'mailbox[0].security: expected one of "ssl", "starttls", "none", got "tls"'),
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\nname = "m"\nkind = "maildir"\n',
     'mailbox[0].path: required for kind = "maildir"'),
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\n' + IMAP + 'password = "hunter2"\n',
     "mailbox[0].password: never put a password in the file"),
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\n' + IMAP + "idle = 1\n",
     "mailbox[0].idle: expected true or false, got 1"),
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\n' + IMAP + "[[mailbox]]\n" + IMAP,
     'mailbox[1].name: duplicate mailbox name "support"'),
    ('[desk]\naddress = "a@b.example"\n[limits]\nmax_parts = 0\n',
     "limits.max_parts: expected a value from 1 to 100000, got 0"),
    ('[desk]\naddress = "a@b.example"\n[routng]\n', "routng: unknown section"),
    ('[desk]\naddress = "a@b.example"\n[outbound]\nkind = "smtp"\n', 'outbound.host: required for kind = "smtp"'),
    ('[desk]\naddress = "a@b.example"\n[outbound]\nfrom = "two <a@b.example>, c@d.example"\n',
     "outbound.from: expected one address"),
    ('[desk]\naddress = "a@b.example"\n[outbound]\nusername = "u"\n', "outbound.username: a username needs a password"),
    ('[desk]\naddress = "a@b.example"\n[outbound]\nport = "x"\n', 'outbound.port: expected an integer, got "x"'),
    ('[desk]\naddress = "a@b.example"\n[[tier]]\nname = "L1"\nagents = ["alice@example.test", "bob"]\n',
     'tier[0].agents[1]: not an email address: "bob"'),
    ('[desk]\naddress = "a@b.example"\n[[tier]]\nname = "L1"\n[[tier]]\nname = "L1"\n',
     'tier[1].name: duplicate tier name "L1"'),
    ('[desk]\naddress = "a@b.example"\n[[tier]]\nname = "L 1"\n', 'tier[0].name: expected a short name'),
    ('[desk]\naddress = "a@b.example"\n[[tier]]\nname = "L1"\nagents = ["A@B.example"]\n',
     "tier[0].agents[0]: \"A@B.example\" is the desk's own address"),
    ('[desk]\naddress = "a@b.example"\n[[tier]]\nname = "L1"\nagents = ["x@y.example", "X@y.example"]\n',
     'tier[0].agents[1]: "X@y.example" is listed twice'),
    ('tier = []\n[desk]\naddress = "a@b.example"\n', "tier: expected a non-empty list"),
    ('[desk]\naddress = "a@b.example"\n[tickets]\nreopen_window_days = -1\n', "tickets.reopen_window_days"),
    ('[desk]\naddress = "a@b.example"\n[[mailbox]]\nname = "m"\nkind = "maildir"\npath = "in"\n'
     'ca_file = "nope.pem"\n', "mailbox[0].ca_file: file not found"),
    ('[desk]\naddress = "a@b.example"\n[business_hours]\ntimezone = "Mars/Olympus"\nhours = "08:00-18:00"\n',
     "business_hours.timezone"),
    ('[desk]\naddress = "a@b.example"\n[business_hours]\ntimezone = "UTC"\nhours = "18:00-08:00"\n',
     "business_hours.hours"),
    ('[desk]\naddress = "a@b.example"\n[sla.urgent]\nfirst_response = "1 hour"\n', "sla.urgent.first_response"),
    ('[desk]\naddress = "a@b.example"\n[sla.urgent]\nbusiness_hours = false\n', "sla.urgent: policy 'urgent' sets none"),
    ('[desk]\naddress = "a@b.example"\n[timers]\nwarn_at = 1.5\n', "timers.warn_at: expected a share"),
    ('[desk]\naddress = "a@b.example"\n[[rule]]\nname = "vip"\nif.from_domain = "x.example"\n'
     'then.sla = "gold"\n', "rule[0].then.sla: in rule 'vip': no SLA policy 'gold'"),
    ('[desk]\naddress = "a@b.example"\n[security]\nrequire_dmarc = true\n', "security.authserv_id: required"),
    ('[desk]\naddress = "a@b.example"\n[outbound]\nca_file = "nowhere.pem"\n', "outbound.ca_file: file not found"),
    ('[desk]\naddress = "a@b.example"\n[outbound]\nhelo_name = "bad name\\r\\nRCPT"\n',
     "outbound.helo_name: expected a host name"),
    ('[desk]\naddress = "a@b.example"\n[notify]\nhelp_links = [{ title = "x", url = "ftp://x" }]\n',
     'notify.help_links[0].url: expected an http(s) URL'),
    ('mailbox = 3\n[desk]\naddress = "a@b.example"\n', "mailbox: expected a list of [[mailbox]] tables"),
]


@pytest.mark.parametrize("text,expected", BAD)
def test_config_errors_name_the_key_path(text, expected, tmp_path):
    with pytest.raises(ConfigError) as err:
        build(parse_toml(text, where="t"), base=tmp_path, source=None)
    assert expected in str(err.value)


def test_all_problems_are_reported_at_once(tmp_path):
    text = '[desk]\naddress = "x"\n[[mailbox]]\nname = "m"\nkind = "imap"\nport = "abc"\n'
    with pytest.raises(ConfigError) as err:
        build(parse_toml(text, where="t"), base=tmp_path, source=None)
    keys = [k for k, _ in err.value.problems]
    assert {"desk.address", "mailbox[0].port", "mailbox[0].host", "mailbox[0].username"} <= set(keys)


def test_invalid_toml_names_the_file_and_line(tmp_path):
    path = tmp_path / "maildesk.toml"
    path.write_text("[desk\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "line 1" in str(err.value)


def test_password_comes_from_the_environment(tmp_path, monkeypatch):
    text = '[desk]\naddress = "a@b.example"\n[[mailbox]]\n' + IMAP + 'password_env = "MD_TEST_PW"\n'
    box = build(parse_toml(text, where="t"), base=tmp_path, source=None).mailboxes[0]
    monkeypatch.delenv("MD_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match=r"mailbox\[0\].password_env: environment variable MD_TEST_PW is not set"):
        box.password()
    monkeypatch.setenv("MD_TEST_PW", "s3cret")
    assert box.password() == "s3cret"


def test_outbound_defaults_write_to_a_local_outbox(tmp_path):
    config = build(parse_toml('[desk]\nname = "Help"\naddress = "Help@Example.test"\n', where="t"),
                   base=tmp_path, source=None)
    assert config.outbound.kind == "maildir" and config.outbound.path == tmp_path / "var" / "outbox"
    assert (config.outbound.sender.addr, config.outbound.sender.name) == ("help@example.test", "Help")
    assert [t.name for t in config.tiers] == ["L1", "L2", "L3"] and config.outbound.daily_auto_limit == 20


def test_example_tiers_and_outbound(tmp_path):
    config = load_config(ROOT / "config.example.toml")
    assert [(t.name, t.agents) for t in config.tiers][:2] == [
        ("L1", ("alice@example.test", "bob@example.test")), ("L2", ("carol@example.test",))]
    assert (config.outbound.kind, config.outbound.port, config.outbound.sender.name) == ("smtp", 587, "Example Support")
    assert config.notify.help_links[0][1] == "https://help.example.test/password"


def test_sla_policies_count_business_days_as_windows(tmp_path):
    from maildesk.config import build
    data = {"desk": {"address": "s@example.test"},
            "business_hours": {"timezone": "Europe/Berlin", "hours": "08:00-18:00"},
            "sla": {"normal": {"first_response": "8h", "resolution": "2d"},
                    "urgent": {"resolution": "2d", "business_hours": False}},
            "timers": {"customer_update_every": "off"}}
    sla = build(data, base=tmp_path, source=tmp_path / "x.toml").sla
    assert sla.policies["normal"].resolution == timedelta(hours=20)  # two 10-hour business days
    assert sla.policies["urgent"].resolution == timedelta(days=2)
    assert sla.timers.customer_update_every is None and sla.timers.warn_at == 0.8
    assert sla.timers.auto_close_resolved_after is None  # off unless configured


def test_an_imap_mailbox_trusts_its_private_ca(tmp_path, monkeypatch):
    import trustme

    from maildesk.clock import system_clock
    from maildesk.config import build
    from maildesk.mailbox import open_source

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    data = {"desk": {"address": "s@example.test"},
            "mailbox": [{"name": "m", "kind": "imap", "host": "imap.example.test", "username": "u",
                         "password_env": "MD_TEST_PW", "ca_file": "ca.pem"}]}
    box = build(data, base=tmp_path, source=tmp_path / "x.toml").mailboxes[0]
    monkeypatch.setenv("MD_TEST_PW", "x")
    source = open_source(box, system_clock)
    (cert,) = source.ssl_context.get_ca_certs()  # type: ignore[attr-defined]
    assert any("trustme" in str(v) for v in cert["subject"])  # only the private CA, not the system's
