"""Admin commands: ``init`` writes a starter config and secret; ``check-config`` validates them."""

from __future__ import annotations

from email import message_from_binary_file, policy
from pathlib import Path

import click
import tomli_w

from maildesk.cli.output import echo
from maildesk.cli.state import State, fail_config
from maildesk.config import DEFAULT_FILE, build, parse_toml, starter_text
from maildesk.errors import ConfigError
from maildesk.intake.authres import parse_authentication_results
from maildesk.notify.render import Templates
from maildesk.tokens import write_secret


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing maildesk.toml (never an existing secret).")
@click.option("--authserv-id", "authserv_id", metavar="ID",
              help="The receiving server's authserv-id: agents' commands then need its DKIM/DMARC pass.")
@click.option("--sample", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE.eml",
              help="A message as the receiving server delivered it: its Authentication-Results give the ID.")
def init(directory: Path, force: bool, authserv_id: str | None, sample: Path | None) -> None:
    """Write a starter maildesk.toml and a new secret key file into DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / DEFAULT_FILE
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists (use --force to overwrite it)")
    server = authserv_id or (receiving_server(sample) if sample else None)
    text = starter_text() + (security_section(server) if server else "")
    config = build(parse_toml(text, where="starter"), base=directory.resolve(), source=target)
    target.write_text(text, encoding="utf-8")
    echo(f"wrote {target}")
    secret = config.desk.secret_file
    if secret.exists():
        echo(f"kept existing secret {secret}")
    else:
        write_secret(secret)
        echo(f"wrote {secret} (mode 0600; keep it private and backed up)")
    if server:
        echo(f"agents' commands need a DKIM or DMARC pass from {server} ([security] require_dmarc = true)")
    echo(f"next: edit {target}, then `maildesk --config {target} check-config`")


def receiving_server(sample: Path) -> str:
    """The authserv-id of the topmost Authentication-Results in a delivered message."""
    with sample.open("rb") as f:
        headers = message_from_binary_file(f, policy=policy.compat32).get_all("Authentication-Results") or []
    for value in headers:
        found = parse_authentication_results(str(value))
        if found is not None and found.authserv_id:
            return found.authserv_id
        break  # only the topmost one is the receiving server's
    raise click.ClickException(f"{sample} has no Authentication-Results with an authserv-id at the top: the server "
                               "that delivered it does not add them, so require_dmarc cannot be used (see README)")


def security_section(server: str) -> str:
    """``[security]`` requiring the receiving server's DKIM/DMARC pass for agents' commands."""
    return ("\n# Agents' commands also need a DKIM or DMARC pass for their domain, as this server found it\n"
            "# (its topmost Authentication-Results). What turning it off gives up: README.md, \"Agents by email\".\n"
            + tomli_w.dumps({"security": {"require_dmarc": True, "authserv_id": server}}))


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
