"""The [metrics] section: where the Prometheus endpoint listens, or that there is none."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from maildesk.config.schema import Option, Problems, read_table, show

ALL_INTERFACES = "0.0.0.0"
_HOST_NAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                        r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_EXAMPLES = '"127.0.0.1:9464", "[::1]:9464" or ":9464" (all interfaces)'


def parse_listen(value: str, *, allow_any_port: bool = False) -> tuple[str, int]:
    """``host:port`` as (address to bind, port); ``:port`` binds every IPv4 interface.

    An IPv6 address goes in brackets. Raises ValueError saying what is wrong; ``allow_any_port``
    also accepts port 0 (the system picks one), which tests use.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise ValueError(f"expected host:port like {_EXAMPLES}, got {show(value)}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        _check_ipv6(host, value)
    elif ":" in host:
        raise ValueError(f"an IPv6 address needs brackets, like \"[::1]:9464\", got {show(value)}")
    elif host and not _HOST_NAME.fullmatch(host):
        raise ValueError(f"expected a host name or an IP address before the port, got {show(value)}")
    low = 0 if allow_any_port else 1
    if not port_text.isascii() or not port_text.isdigit() or not low <= int(port_text) <= 65535:
        raise ValueError(f"expected a port from {low} to 65535 after the colon, got {show(value)}")
    return host or ALL_INTERFACES, int(port_text)


def _check_ipv6(host: str, value: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"not an IPv6 address in brackets: {show(value)}") from None


def _check_listen(value: Any) -> str | None:
    if value == "":
        return None
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


METRICS = {
    "listen": Option(str, "", _check_listen, help="host:port of the Prometheus endpoint; empty: no endpoint"),
}


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = ""  # host:port; "" = no metrics endpoint

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def host_port(self) -> tuple[str, int]:
        """The address and port to bind (":9464" gives "0.0.0.0"); ValueError when metrics are off."""
        if not self.listen:
            raise ValueError("metrics are off: [metrics] listen is empty")
        return parse_listen(self.listen)


def read_metrics(raw: Any, problems: Problems) -> MetricsConfig:
    """Validate ``[metrics]``; a bad ``listen`` is reported under ``metrics.listen`` and turns metrics off."""
    before = len(problems.items)
    v = read_table(raw, "metrics", METRICS, problems)
    if len(problems.items) > before:
        return MetricsConfig()
    return MetricsConfig(listen=v["listen"])
