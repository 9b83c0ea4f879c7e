"""The running desk: configuration, secret and clock, shared by every stage."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from maildesk.clock import Clock, system_clock
from maildesk.config import Config
from maildesk.errors import ConfigError
from maildesk.store import DB_NAME, Store
from maildesk.tokens import load_secret


@dataclass(frozen=True)
class Desk:
    config: Config
    secret: bytes = field(repr=False)
    clock: Clock = system_clock

    @classmethod
    def load(cls, config: Config, *, clock: Clock = system_clock) -> Desk:
        """Read the secret; the embedded default creates its own on first use."""
        path = config.desk.secret_file
        try:
            secret = load_secret(path, create=config.embedded)
        except FileNotFoundError as exc:
            raise ConfigError("desk.secret_file", f"file not found: {path} (run `maildesk init` to create it)") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError("desk.secret_file", str(exc)) from exc
        return cls(config, secret, clock)

    @property
    def address(self) -> str:
        return self.config.desk.address

    @property
    def data_dir(self) -> Path:
        return self.config.desk.data_dir

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    @property
    def loop_id(self) -> str:
        """The value of our X-Maildesk-Loop stamp: unique to this desk, stable across restarts."""
        tag = hmac.new(self.secret, b"maildesk-loop", hashlib.sha256).hexdigest()[:16]
        return f"{self.address} {tag}"

    def open_store(self) -> Store:
        return Store.open(self.db_path, busy_timeout_ms=self.config.desk.db_busy_timeout_ms)
