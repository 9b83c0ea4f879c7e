"""Admin commands: ``init`` writes a starter config and secret; ``check-config`` validates them."""

from __future__ import annotations

from pathlib import Path

import click

from maildesk.cli.output import echo
from maildesk.cli.state import State, fail_config
from maildesk.config import DEFAULT_FILE, build, parse_toml, starter_text
from maildesk.errors import ConfigError
from maildesk.notify.render import Templates
from maildesk.tokens import write_secret


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing maildesk.toml (never an existing secret).")
def init(directory: Path, force: bool) -> None:
    """Write a starter maildesk.toml and a new secret key file into DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / DEFAULT_FILE
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists (use --force to overwrite it)")
    text = starter_text()
    config = build(parse_toml(text, where="starter"), base=directory.resolve(), source=target)
    target.write_text(text, encoding="utf-8")
    echo(f"wrote {target}")
    secret = config.desk.secret_file
    if secret.exists():
        echo(f"kept existing secret {secret}")
    else:
        write_secret(secret)
        echo(f"wrote {secret} (mode 0600; keep it private and backed up)")
    echo(f"next: edit {target}, then `maildesk --config {target} check-config`")


@click.command("check-config")
@click.pass_obj
def check_config(state: State) -> None:
    """Validate the configuration; print every problem with its key path (exit 2)."""
    desk = state.desk()
    config = desk.config
    problems: list[tuple[str, str]] = []
    for box in config.mailboxes:
        if box.kind == "imap":
            try:
                box.password()
            except ConfigError as exc:
                problems.extend(exc.problems)
    if config.outbound is not None and config.outbound.kind == "smtp":
        try:
            config.outbound.password()
        except ConfigError as exc:
            problems.extend(exc.problems)
    families = {r.actions.template: "acknowledgement" for r in config.routing.rules if r.actions.template}
    templates = Templates(override_dir=config.notify.templates_dir)
    problems.extend(("notify.templates_dir", p) for p in templates.check(families))
    if problems:
        (key, problem), *more = problems
        fail_config(ConfigError(key, problem, more=tuple(more)))
    for i, tier in enumerate(config.tiers):
        if config.notify.enabled and not tier.agents:
            echo(f"warning: tier[{i}].agents: tier {tier.name} has no agents, so nobody gets its alerts",
                       err=True)
    where = config.source or "embedded default"
    echo(f"ok: {where}: desk {config.desk.address}, {len(config.mailboxes)} mailbox(es), "
               f"data in {config.desk.data_dir}")
