"""The deployment files in contrib/: the systemd unit is sandboxed and runs the daemon; the image is complete."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
SANDBOX = {
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/maildesk",
    "StateDirectory": "maildesk",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallFilter": "@system-service",
    "UMask": "0077",
}


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((CONTRIB / "maildesk.service").read_text())
    return parser


def test_the_unit_runs_the_daemon_as_its_own_user_and_reloads_on_hup():
    service = unit()["Service"]
    assert service["Type"] == "simple"
    assert service["User"] == "maildesk"
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "maildesk" and argv[-1] == "run"
    assert argv[argv.index("--config") + 1] == "/etc/maildesk/maildesk.toml"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_unit_is_sandboxed():
    service = unit()["Service"]
    for key, value in SANDBOX.items():
        assert service.get(key) == value, f"{key}={service.get(key)}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit():
    result = subprocess.run(["systemd-analyze", "verify", str(CONTRIB / "maildesk.service")],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "is not executable" not in line]  # the binary is not installed here
    assert problems == []


def instructions() -> dict[str, list[str]]:
    """Each Containerfile instruction with its arguments, continuation lines joined."""
    found: dict[str, list[str]] = {}
    text = (CONTRIB / "Containerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.setdefault(word.upper(), []).append(" ".join(rest.split()))
    return found


def test_the_image_runs_the_daemon_unprivileged_with_a_volume_and_a_health_check():
    found = instructions()
    assert found["FROM"] == ["python:3.11-slim"]
    assert found["USER"] == ["maildesk"]
    assert json.loads(found["VOLUME"][0]) == ["/var/lib/maildesk"]
    assert json.loads(found["CMD"][-1]) == ["maildesk", "--config", "/etc/maildesk/maildesk.toml", "run"]
    check = found["HEALTHCHECK"][0]
    assert json.loads(check[check.index("CMD") + 3:])[-1] == "status"
    assert any("pip install /src" in run for run in found["RUN"])
