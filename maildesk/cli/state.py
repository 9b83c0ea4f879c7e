"""What every subcommand shares: the chosen config, loaded on demand, and error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from maildesk.cli.output import echo
from maildesk.clock import Clock, system_clock
from maildesk.config import Config, load_config
from maildesk.desk import Desk
from maildesk.errors import ConfigError, MaildeskError, NotFound
from maildesk.store import Store

EXIT_CONFIG = 2


class State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    def config_or_raise(self) -> Config:
        return load_config(self.config_path)

    def config(self) -> Config:
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            fail_config(exc)
            raise  # unreachable

    def desk(self, *, clock: Clock = system_clock) -> Desk:
        config = self.config()
        try:
            return Desk.load(config, clock=clock)
        except ConfigError as exc:
            fail_config(exc)
            raise

    def open_store(self) -> Store:
        """The desk's database; one that cannot be opened (newer schema, unreadable) is a clear error."""
        desk = self.desk()
        try:
            return desk.open_store()
        except MaildeskError as exc:
            raise click.ClickException(str(exc)) from exc

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = self.open_store()
        try:
            yield store
        except NotFound as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            store.close()


def fail_config(exc: ConfigError) -> None:
    """Print every config problem with its key path and exit 2."""
    for key, problem in exc.problems:
        echo(f"config error: {key}: {problem}" if key else f"config error: {problem}", err=True)
    raise SystemExit(EXIT_CONFIG)
