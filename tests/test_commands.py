"""Tests for reply commands: client shapes, block rules, arguments, errors and hostile input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildesk.intake.commands import (
    COMMANDS,
    MAX_COMMANDS,
    Command,
    CommandError,
    ParsedCommands,
    help_text,
    parse_commands,
)


def C(name: str, args: str = "", *, text: str | None = None, tier: str | None = None,
      values: tuple[str, ...] = (), line: int = 1) -> Command:
    """A Command whose text defaults to its args, as for one-line commands."""
    return Command(name, args, args if text is None else text, tier, values, line)


SIGNED = "Hi Dana,\n\nThe certificate is renewed; please try again.\n\nAlice"

# (id, new text, commands, public reply, internal only); none of these has errors.
SHAPES = [
    ("take then reply", "#take\n\n" + SIGNED, [C("take")], SIGNED, False),
    ("take with no blank line before the reply", "#take\nHi Dana", [C("take")], "Hi Dana", False),
    ("reply only", SIGNED, [], SIGNED, False),
    ("reply only, leading blank lines", "\n\n \n" + SIGNED + "\n\n", [], SIGNED, False),
    ("commands only", "#take\n#priority high",
     [C("take"), C("priority", "high", values=("high",), line=2)], "", False),
    (
        "Outlook: CRLF and non-breaking spaces",
        "\xa0\r\n#take\r\n#priority\xa0high\xa0\r\n\xa0\r\nHello\xa0Dana,\r\n\r\nWe are on it.\r\n",
        [C("take", line=2), C("priority", "high", values=("high",), line=3)],
        "Hello\xa0Dana,\n\nWe are on it.",
        False,
    ),
    (
        "Gmail: CRLF handover",
        "#escalate L2 SSO login loops after the password reset\r\n"
        "cleared cookies, tried a private window, reset MFA\r\n\r\n"
        "Hi Dana, I have passed this to our identity team.\r\n",
        [C("escalate", "L2 SSO login loops after the password reset", tier="L2",
           text="SSO login loops after the password reset\n"
                "cleared cookies, tried a private window, reset MFA")],
        "Hi Dana, I have passed this to our identity team.",
        False,
    ),
    (
        "Apple Mail: leading blank lines",
        "\n\n#resolve Replaced the expired certificate\n\n" + SIGNED + "\n",
        [C("resolve", "Replaced the expired certificate", line=3)],
        SIGNED,
        False,
    ),
    (
        "Thunderbird format=flowed: trailing spaces",
        "#escalate L3 mail queue stuck on mx2 \ntried restarting postfix and flushing \nthe queue\n"
        "\n#tag +mail -triage\n\nHi,\nstill digging.",
        [C("escalate", "L3 mail queue stuck on mx2", tier="L3",
           text="mail queue stuck on mx2\ntried restarting postfix and flushing\nthe queue"),
         C("tag", "+mail -triage", values=("+mail", "-triage"), line=5)],
        "Hi,\nstill digging.",
        False,
    ),
    (
        "handover, blank line, more commands, reply",
        "#escalate L2 user cannot log in\ntried password reset\ntried new browser\n\n"
        "#priority high\n\nHello customer,\nwe are escalating.",
        [C("escalate", "L2 user cannot log in", tier="L2",
           text="user cannot log in\ntried password reset\ntried new browser"),
         C("priority", "high", values=("high",), line=5)],
        "Hello customer,\nwe are escalating.",
        False,
    ),
    (
        "reason only on the continuation lines",
        "#escalate L2\nuser cannot log in\n\nHi",
        [C("escalate", "L2", tier="L2", text="user cannot log in")],
        "Hi",
        False,
    ),
    (
        "'#1' lines inside a handover are part of it",
        "#escalate next steps tried:\n#1 restart\n#2 reinstall\n\nHi",
        [C("escalate", "next steps tried:", tier="next",
           text="steps tried:\n#1 restart\n#2 reinstall")],
        "Hi",
        False,
    ),
    (
        "without a blank line the handover runs to the end",
        "#escalate db down\nHi Dana, we are on it.",
        [C("escalate", "db down", text="db down\nHi Dana, we are on it.")],
        "",
        False,
    ),
    (
        "note makes the mail internal",
        "#note customer is on the legacy plan\nask sales first\n\nHi Dana, thanks!",
        [C("note", "customer is on the legacy plan",
           text="customer is on the legacy plan\nask sales first")],
        "",
        True,
    ),
    (
        "note among other commands",
        "#take\n#note: VIP, be careful\n#priority urgent\n\nHi Dana",
        [C("take"), C("note", "VIP, be careful", line=2),
         C("priority", "urgent", values=("urgent",), line=3)],
        "",
        True,
    ),
    ("names are case-insensitive", "#TAKE\n#Close", [C("take"), C("close", line=2)], "", False),
    ("indented command lines", "  #take\n\t#close\n\nHi", [C("take"), C("close", line=2)],
     "Hi", False),
    ("blank lines between commands", "#take\n\n\n#close\n\nHi", [C("take"), C("close", line=4)],
     "Hi", False),
    ("colon after the name", "#priority: low", [C("priority", "low", values=("low",))], "", False),
    ("'#' later in the text is reply", "Hi,\nWe fixed #123 yesterday.\n#close",
     [], "Hi,\nWe fixed #123 yesterday.\n#close", False),
    ("'#' lines after the reply began are reply", "#take\n\nHi\n#close\n#note secret",
     [C("take")], "Hi\n#close\n#note secret", False),
    ("'# heading' ends the block", "#take\n# Steps\n1. do x", [C("take")], "# Steps\n1. do x",
     False),
    ("'#1' ends the block", "#1 priority for us is your uptime.", [],
     "#1 priority for us is your uptime.", False),
    ("'##' ends the block", "##take\nHi", [], "##take\nHi", False),
    ("fullwidth number sign is no command", "＃take\nHi", [], "＃take\nHi", False),
    ("small number sign is no command", "﹟note secret\nHi", [], "﹟note secret\nHi", False),
    ("bare CR line endings", "#take\r\rHi\rthere", [C("take")], "Hi\nthere", False),
    ("empty text", "", [], "", False),
]


@pytest.mark.parametrize(
    ("text", "commands", "reply", "internal"), [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES]
)
def test_shape(text: str, commands: list[Command], reply: str, internal: bool) -> None:
    assert parse_commands(text) == ParsedCommands(tuple(commands), (), reply, internal)


# (command line, tiers, expected tier, expected text)
TIERS = [
    ("#escalate L2 user cannot log in", None, "L2", "user cannot log in"),
    ("#escalate l3 disk full", None, "L3", "disk full"),
    ("#escalate next disk full", None, "next", "disk full"),
    ("#escalate NEXT disk full", None, "next", "disk full"),
    ("#escalate disk full", None, None, "disk full"),
    ("#escalate L2: disk full", None, "L2", "disk full"),
    ("#escalate L5 disk full", None, None, "L5 disk full"),  # not a configured tier
    ("#escalate platform db locks", ("Frontline", "Platform"), "Platform", "db locks"),
    ("#escalate OPS-2 db locks", ("L1", "ops-2"), "ops-2", "db locks"),
    ("#escalate L2 db locks", ("Frontline", "Platform"), None, "L2 db locks"),
    ("#deescalate L1 was a password typo", None, "L1", "was a password typo"),
    ("#deescalate back to first line", None, None, "back to first line"),
]


@pytest.mark.parametrize(("line", "tiers", "tier", "text"), TIERS, ids=[t[0] for t in TIERS])
def test_tier_word(line: str, tiers: tuple[str, ...] | None, tier: str | None, text: str) -> None:
    parsed = parse_commands(line) if tiers is None else parse_commands(line, tiers=tiers)
    assert parsed.errors == ()
    (command,) = parsed.commands
    assert (command.tier, command.text, command.args) == (tier, text, line.split(None, 1)[1])


# (command line, expected values)
VALUES = [
    ("#tag +VIP -old billing", ("+vip", "-old", "+billing")),
    ("#tag +vip, +eu;-legacy", ("+vip", "+eu", "-legacy")),
    ("#tag +vip +vip", ("+vip",)),
    ("#tag +v1.2_beta-x", ("+v1.2_beta-x",)),
    ("#cc +Dana@Example.COM -bob@x.example carol@y.example",
     ("+dana@example.com", "-bob@x.example", "+carol@y.example")),
    ("#cc +dana@example.com<mailto:dana@example.com>", ("+dana@example.com",)),
    ("#cc <dana@example.com>, -mailto:bob@x.example", ("+dana@example.com", "-bob@x.example")),
    ("#priority URGENT", ("urgent",)),
    ("#priority normal", ("normal",)),
    ("#merge 123", ("123",)),
    ("#merge #0042", ("42",)),
    ("#link #7", ("7",)),
    ("#assign alice@example.com", ("alice@example.com",)),
    ("#assign Alice", ("alice",)),
    ("#requester Dana@Example.com", ("dana@example.com",)),
    ("#hold VENDOR-4711", ()),
    ("#kb", ()),
    ("#kb How to reset MFA", ()),
    ("#help", ()),
    ("#pending", ()),
    ("#reopen", ()),
]


@pytest.mark.parametrize(("line", "values"), VALUES, ids=[v[0] for v in VALUES])
def test_values(line: str, values: tuple[str, ...]) -> None:
    parsed = parse_commands(line)
    assert parsed.errors == ()
    (command,) = parsed.commands
    assert command.values == values
    assert command.name == line[1:].split()[0].lower()


# (command text, the one expected problem)
ERRORS = [
    ("#escalate", "#escalate needs a reason: what was tried and why"),
    ("#escalate L2", "#escalate needs a reason: what was tried and why"),
    ("#escalate next\n\nHi Dana", "#escalate needs a reason: what was tried and why"),
    ("#deescalate L1", "#deescalate needs a reason: why"),
    ("#resolve", "#resolve needs a summary of the fix"),
    ("#hold", "#hold needs the vendor's reference"),
    ("#assign", "#assign needs an agent"),
    ("#assign alice bob", "#assign needs an agent, not 'alice bob'"),
    ("#assign a@b@c", "#assign needs an agent, not 'a@b@c'"),
    ("#priority", "#priority needs one of low, normal, high, urgent"),
    ("#priority asap", "#priority needs one of low, normal, high, urgent, not 'asap'"),
    ("#tag", "#tag needs tags: +name to add, -name to remove"),
    ("#tag +Bad!", "#tag cannot use '+Bad!': a tag is +name or -name: a-z, 0-9, '.', '_', '-'"),
    ("#tag +", "#tag cannot use '+': a tag is +name or -name: a-z, 0-9, '.', '_', '-'"),
    ("#tag ++vip", "#tag cannot use '++vip': a tag is +name or -name: a-z, 0-9, '.', '_', '-'"),
    ("#tag +vip _x", "#tag cannot use '_x': a tag is +name or -name: a-z, 0-9, '.', '_', '-'"),
    ("#cc", "#cc needs addresses: +name to add, -name to remove"),
    ("#cc +dana", "#cc cannot use '+dana': not an address"),
    ("#cc +a@b@c.example", "#cc cannot use '+a@b@c.example': not an address"),
    ("#cc Dana <dana@x.example>", "#cc cannot use 'Dana': not an address"),
    ("#merge", "#merge needs one ticket number like 123 or #123"),
    ("#merge abc", "#merge needs one ticket number like 123 or #123, not 'abc'"),
    ("#merge 12 13", "#merge needs one ticket number like 123 or #123, not '12 13'"),
    ("#link ticket-5", "#link needs one ticket number like 123 or #123, not 'ticket-5'"),
    ("#requester", "#requester needs an email address"),
    ("#requester nobody", "#requester needs an email address, not 'nobody'"),
    ("#take now", "#take takes no arguments"),
    ("#close please", "#close takes no arguments"),
    ("#take.", "#take takes no arguments"),
    ("#frobnicate", "unknown command #frobnicate; see #help"),
    ("#Frobnicate now", "unknown command #frobnicate; see #help"),
]


@pytest.mark.parametrize(("text", "problem"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error(text: str, problem: str) -> None:
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.errors == (CommandError(1, text.split("\n")[0], problem),)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_alone(name: str) -> None:
    """Alone, a command either runs or says what it needs."""
    parsed = parse_commands(f"#{name}")
    if name in {"take", "pending", "close", "reopen", "help", "kb", "queue"}:
        assert parsed.commands == (C(name),) and parsed.errors == ()
    else:
        assert parsed.commands == ()
        (error,) = parsed.errors
        assert error.problem.startswith(f"#{name} needs ")


def test_bad_commands_do_not_end_the_block() -> None:
    parsed = parse_commands("#frobnicate\n#take now\n#take\n#tag +Bad!\n\nHi Dana")
    assert parsed.commands == (C("take", line=3),)
    assert [e.line for e in parsed.errors] == [1, 2, 4]
    assert parsed.reply == "Hi Dana"


def test_a_note_without_text_still_keeps_the_mail_internal() -> None:
    parsed = parse_commands("#note\n\nHi Dana, here is the secret")
    assert parsed.errors == (CommandError(1, "#note", "#note needs text"),)
    assert (parsed.reply, parsed.internal_only) == ("", True)


def test_line_numbers_for_receipts() -> None:
    parsed = parse_commands("\n\n#take\n#escalate L2 a\nb\n\n#frobnicate\n#close\n\nHi")
    assert [c.line for c in parsed.commands] == [3, 4, 8]
    assert [e.line for e in parsed.errors] == [7]


def test_command_set_and_help() -> None:
    assert COMMANDS == {
        "take", "assign", "escalate", "deescalate", "priority", "tag", "pending", "hold", "note",
        "resolve", "close", "reopen", "cc", "merge", "link", "help", "requester", "kb", "queue", "show", "file",
    }
    lines = help_text().split("\n")
    assert len(lines) == len(COMMANDS)
    assert {line.split()[0][1:] for line in lines} == COMMANDS
    assert all(len(line.split(None, 2)) >= 2 for line in lines)


def test_every_command_is_in_the_readme_table() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = re.findall(r"^\| `(#[^|]*(?:\\\|[^|]*)*)` \|", readme, flags=re.M)
    listed = {name for row in rows for name in re.findall(r"#([a-z]+)", row)}
    assert listed == COMMANDS, f"README's commands table differs: {sorted(listed ^ COMMANDS)}"


# Hostile input.


def test_many_command_lines_are_capped_with_one_error() -> None:
    parsed = parse_commands("#take\n" * 1000 + "\nHi")
    assert len(parsed.commands) == MAX_COMMANDS
    assert parsed.errors == (
        CommandError(MAX_COMMANDS + 1, "#take",
                     f"too many commands: only the first {MAX_COMMANDS} are read"),
    )
    assert parsed.reply == "Hi"


def test_many_unknown_commands_give_bounded_errors() -> None:
    parsed = parse_commands("#frobnicate\n" * 10_000)
    assert len(parsed.errors) == MAX_COMMANDS + 1
    assert parsed.reply == ""


def test_a_note_past_the_cap_still_keeps_the_mail_internal() -> None:
    parsed = parse_commands("#take\n" * 999 + "#note secret\n\nHi Dana")
    assert (parsed.reply, parsed.internal_only) == ("", True)


# (id, text, commands)
CONTROLS = [
    ("NUL in an address", "#assign ali\x00ce@example.com",
     [C("assign", "alice@example.com", values=("alice@example.com",))]),
    ("escape sequences in a note", "#note a\x07b\x1b[31mred\x7f",
     [C("note", "ab[31mred")]),
    ("bidi override in a reference", "#hold VEND\u202e-1", [C("hold", "VEND-1")]),
    ("NUL inside the name", "#ta\x00ke", [C("take")]),
    ("zero-width space before the '#'", "\u200b#take", [C("take")]),
    ("BOM at the start", "\ufeff#take", [C("take")]),
    ("C1 control in a tag", "#tag +v\x85ip", [C("tag", "+vip", values=("+vip",))]),
]


@pytest.mark.parametrize(
    ("text", "commands"), [c[1:] for c in CONTROLS], ids=[c[0] for c in CONTROLS]
)
def test_control_characters_are_stripped(text: str, commands: list[Command]) -> None:
    parsed = parse_commands(text)
    assert (parsed.commands, parsed.errors) == (tuple(commands), ())


def test_error_text_is_shortened_and_clean() -> None:
    (error,) = parse_commands("#frobnicate\x00 " + "z" * 500).errors
    assert len(error.text) == 200 and error.text.endswith("…")
    assert error.text.startswith("#frobnicate z")
    assert len(error.problem) < 100


MB = 1_000_000
# (id, text); each must parse in well under a second.
LARGE = [
    ("1 MB note", "#note " + "x" * MB),
    ("1 MB tag", "#tag " + "a" * MB),
    ("1 MB of tags", "#tag " + "+a " * (MB // 3)),
    ("1 MB address-like cc", "#cc " + "a@" * (MB // 2)),
    ("1 MB of mailto wrappers", "#cc " + "<mailto:" * (MB // 8)),
    ("1 MB command name", "#" + "a" * MB),
    ("1 MB of number signs", "#" * MB),
    ("1 MB escalation", "#escalate L2 " + "y " * (MB // 2)),
    ("1 MB reply line", "#take\n\n" + "r" * MB),
    ("100k continuation lines", "#note start\n" + "more\n" * 100_000),
    ("100k blank lines", "\n" * 100_000 + "#take"),
    ("100k NUL", "#hold " + "\x00" * 100_000),
]


@pytest.mark.parametrize("text", [c[1] for c in LARGE], ids=[c[0] for c in LARGE])
def test_large_input(text: str) -> None:
    parsed = parse_commands(text)
    assert len(parsed.commands) + len(parsed.errors) <= 1
    assert all(len(e.text) <= 200 and len(e.problem) < 200 for e in parsed.errors)


@pytest.mark.parametrize(("text", "values", "arg", "problem"), [
    ("#queue", (), "", None),
    ("#queue l2", ("L2",), "", None),
    ("#queue MINE", ("mine",), "", None),
    ("#queue everything", None, "", "#queue takes a tier (L1, L2, L3) or mine"),
    ("#show #42", ("42",), "", None),
    ("#show 42 43", None, "", "#show needs one ticket number"),
    ("#file 42 crash report.pdf", ("42",), "crash report.pdf", None),
    ("#file 42", None, "", "#file needs one ticket number like 123 or #123, then the file's name"),
    ("#file report.pdf", None, "", "#file needs one ticket number"),
])
def test_the_questions_agents_ask(text, values, arg, problem) -> None:
    parsed = parse_commands(text, tiers=("L1", "L2", "L3"))
    if problem is None:
        (cmd,) = parsed.commands
        assert cmd.values == values and (cmd.text == arg if arg else True)
    else:
        (error,) = parsed.errors
        assert error.problem.startswith(problem), error.problem
