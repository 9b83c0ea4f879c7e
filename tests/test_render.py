"""Notice templates: every notice renders, user data stays data, overrides and the sandbox hold."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError
from markupsafe import escape

from maildesk.errors import MaildeskError
from maildesk.notify.render import (
    NOTICE_VARIABLES,
    NOTICES,
    SAMPLE_CONTEXT,
    Rendered,
    TemplateError,
    Templates,
    sample_context,
)

WITH_HTML = {"acknowledgement", "relay", "resolution"}


def context(name: str, **changes: Any) -> dict[str, Any]:
    """The notice's sample context with dotted paths replaced: ``{"ticket.subject": "x"}``."""
    ctx = sample_context(name)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = ctx
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return ctx


def part(rendered: Rendered, which: str) -> str:
    value = getattr(rendered, which)
    assert value is not None, f"no {which} part"
    return value


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


# -- the shipped templates -------------------------------------------------------

@pytest.mark.parametrize("name, must_show", [
    ("acknowledgement", ["#123", "Example Support", "https://help.example.test/password"]),
    ("alert", ["#123", "L1", "invalid credentials", "Dana Reyes <dana@customer.example>", "2024-05-02 09:14 UTC"]),
    ("relay", ["invalid credentials", "Alice Martin", "#123"]),
    ("status", ["#123", '"open"', '"pending"']),
    ("escalation", ["L1 to L2", "needs an administrator", "Password reset link", "1 day 2 hours",
                    "Could you tell us which browser", "dana@customer.example"]),
    ("resolution", ["#123", "we have unlocked it", "1 (poor) to 5 (excellent)"]),
    ("receipt", ["status pending", "tier L9: no such tier", "thanks!"]),
])
def test_every_notice_renders_with_the_sample_context(templates, name, must_show):
    rendered = templates.render(name, SAMPLE_CONTEXT)
    assert rendered == templates.render(name, sample_context(name))  # needs only its own variables
    assert rendered.subject and "\n" not in rendered.subject and "[#" not in rendered.subject
    assert rendered.text.endswith("\n")
    for fragment in must_show:
        assert fragment in rendered.text
    assert (rendered.html is not None) == (name in WITH_HTML)
    if rendered.html:
        assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
        assert "#123" in rendered.html


def test_the_list_of_notices_is_complete():
    assert set(NOTICE_VARIABLES) == set(NOTICES)
    assert Templates().check() == []


def test_relay_shows_the_agent_name_but_never_the_agent_address(templates):
    ctx = context("relay", **{"message.sender": "agent.secret@staff.example", "agent_name": "Alice"})
    rendered = templates.render("relay", ctx)
    for out in (rendered.subject, rendered.text, part(rendered, "html")):
        assert "agent.secret" not in out
    assert "Alice" in rendered.text and "Alice" in part(rendered, "html")


@pytest.mark.parametrize("time_in_tier, shown", [
    (timedelta(minutes=45), "45 minutes"),
    (timedelta(days=3, hours=1, minutes=7), "3 days 1 hour"),
    (3600, "1 hour"),
    (20, "less than a minute"),
    ("about two hours", "about two hours"),
])
def test_escalation_shows_time_spent_in_the_previous_tier(templates, time_in_tier, shown):
    text = templates.render("escalation", context("escalation", **{"handover.time_in_tier": time_in_tier})).text
    assert f"Time in L1: {shown}\n" in text


# -- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("name, drop", [(n, v) for n, vs in NOTICE_VARIABLES.items() for v in vs]
                         + [("alert", "ticket"), ("relay", "desk"), ("status", "ticket")])
def test_a_missing_variable_is_an_error_naming_the_template(templates, name, drop):
    ctx = context(name)
    del ctx[drop]
    with pytest.raises(TemplateError) as caught:
        templates.render(name, ctx)
    assert isinstance(caught.value, MaildeskError)
    assert f"{name}." in str(caught.value) and ".j2" in str(caught.value)
    assert f"'{drop}' is undefined" in str(caught.value)


def test_a_missing_key_names_the_file_and_line(templates):
    ctx = context("escalation")
    del ctx["handover"]["reason"]
    with pytest.raises(TemplateError, match=r"escalation\.txt\.j2, line \d+: .*'reason'"):
        templates.render("escalation", ctx)


def test_an_unknown_notice_is_an_error(templates):
    with pytest.raises(TemplateError, match="unknown notice 'welcome'.*acknowledgement"):
        templates.render("welcome", SAMPLE_CONTEXT)


# -- user data stays data ---------------------------------------------------------------

PAYLOADS = [
    "{{7*7}}",
    "{{ ''.__class__ }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "<script>alert('x')</script>",
    "{# hidden #} {{ desk.name }}",
]

# (notice, part, variable): where each notice shows a user-controlled value
SHOWN = [
    ("alert", "subject", "ticket.subject"),
    ("alert", "text", "ticket.subject"),
    ("alert", "text", "message.new_text"),
    ("alert", "text", "message.sender_name"),
    ("relay", "subject", "ticket.subject"),
    ("relay", "text", "message.new_text"),
    ("relay", "html", "message.new_text"),
    ("relay", "text", "agent_name"),
    ("relay", "html", "agent_name"),
    ("escalation", "subject", "ticket.subject"),
    ("escalation", "text", "history.0.subject"),
    ("escalation", "text", "history.0.new_text"),
    ("escalation", "text", "history.1.sender_name"),
    ("escalation", "text", "handover.tried"),
    ("escalation", "text", "handover.reason"),
    ("resolution", "text", "resolution"),
    ("resolution", "html", "resolution"),
    ("receipt", "text", "results.ignored.0"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("name, which, variable", SHOWN)
def test_user_data_comes_out_literally_in_text_and_escaped_in_html(templates, name, which, variable, payload):
    out = part(templates.render(name, context(name, **{variable: payload})), which)
    if which == "html":
        assert str(escape(payload)) in out
        assert "<script>" not in out
    else:
        assert payload in out
        assert "&lt;" not in out and "&#" not in out
    assert "49" not in out and "<class" not in out and "looploop" not in out


@pytest.mark.parametrize("subject, shown", [
    ("Hi\r\nBcc: victim@example.test", "Hi Bcc: victim@example.test"),
    ("tab\there\x00nul\x7fdel", "tab here nul del"),
    ("  lots   of\n\n space  ", "lots of space"),
    ("line\u2028separator\x85next", "line separator next"),
    ("", ""),
])
def test_a_subject_is_one_line_whatever_the_data(templates, subject, shown):
    rendered = templates.render("alert", context("alert", **{"ticket.subject": subject}))
    assert rendered.subject == f"New ticket in L1: {shown}".strip()


@pytest.mark.parametrize("date, shown", [
    ("2024-05-02T09:14:00+00:00", "2024-05-02 09:14 UTC"),
    ("2024-05-02T11:14:59.123456+02:00", "2024-05-02 11:14 +0200"),
    ("2024-05-02T09:14:00", "2024-05-02 09:14"),
    ("Thu, 2 May 2024 09:14", "Thu, 2 May 2024 09:14"),
    ("", "unknown"),
])
def test_dates_are_shown_readably(templates, date, shown):
    text = templates.render("alert", context("alert", **{"message.date": date})).text
    assert f"Received:  {shown}\n" in text


MARKERS = {
    "ticket.subject": "ZQX-SUBJECT-MARK",
    "ticket.requester": "zqx-requester-mark@spam.example",
    "recipient.name": "ZQX-NAME-MARK",
    "message": {"sender": "zqx-sender@spam.example", "sender_name": "ZQX-SENDER-NAME", "date": "",
                "subject": "ZQX-MSG-SUBJECT", "new_text": "ZQX-TEXT-MARK buy now"},
}


def test_the_acknowledgement_never_carries_the_senders_content(templates):
    rendered = templates.render("acknowledgement", context("acknowledgement", **MARKERS))
    for out in (rendered.subject, rendered.text, part(rendered, "html")):
        assert "ZQX" not in out.upper()
    assert "#123" in rendered.text and "#123" in part(rendered, "html")


@pytest.mark.parametrize("expression", ["ticket.subject", "recipient.name", "ticket.requester", "message.new_text"])
def test_a_replaced_acknowledgement_cannot_reach_the_senders_content(tmp_path, expression):
    (tmp_path / "acknowledgement.txt.j2").write_text(f"Thanks! {{{{ {expression} }}}}\n")
    with pytest.raises(TemplateError, match=r"acknowledgement\.txt\.j2, line 1: .*gets no subject, text or names"):
        Templates(override_dir=tmp_path).render("acknowledgement", context("acknowledgement", **MARKERS))


# -- overrides and the sandbox ------------------------------------------------------------

@pytest.mark.parametrize("file, content, name, which, expected", [
    ("status.subject.j2", "Now {{ new_status }}!\n", "status", "subject", "Now pending!"),
    ("relay.txt.j2", "{{ agent_name }} says: {{ message.new_text }}", "relay", "text",
     "Alice Martin says: Hello,"),
    ("relay.html.j2", "<b>{{ agent_name }}</b>", "relay", "html", "<b>Alice Martin</b>"),
    ("relay.html.j2", "  \n", "relay", "html", None),                   # an empty file turns HTML off
    ("status.html.j2", "<p>{{ new_status }}</p>", "status", "html", "<p>pending</p>"),
])
def test_an_override_replaces_one_file_and_leaves_the_others_built_in(templates, tmp_path, file, content, name,
                                                                      which, expected):
    (tmp_path / file).write_text(content)
    custom = Templates(override_dir=tmp_path)
    rendered = custom.render(name, SAMPLE_CONTEXT)
    value = getattr(rendered, which)
    assert value == expected if expected is None or which == "subject" else expected in value
    builtin = templates.render(name, SAMPLE_CONTEXT)
    for other in {"subject", "text", "html"} - {which}:
        assert getattr(rendered, other) == getattr(builtin, other)
    for other_notice in set(NOTICES) - {name}:
        assert custom.render(other_notice, SAMPLE_CONTEXT) == templates.render(other_notice, SAMPLE_CONTEXT)
    assert custom.check() == []


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ ticket.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ desk.name.__len__() }}",
    "{{ help_links.append(1) }}",
    "{{ desk.update(name='x') }}",
    "{% set x = [] %}{{ x.append(1) }}",
])
def test_the_sandbox_blocks_attribute_tricks_in_an_override(tmp_path, body):
    (tmp_path / "acknowledgement.txt.j2").write_text(f"Hello\n{body}\n")
    with pytest.raises(TemplateError, match=r"acknowledgement\.txt\.j2, line 2: blocked by the sandbox") as caught:
        Templates(override_dir=tmp_path).render("acknowledgement", SAMPLE_CONTEXT)
    assert isinstance(caught.value.__cause__, SecurityError)


@pytest.mark.parametrize("files, problem, count", [
    ({"status.txt.j2": "Hello {% if new_status %}\n"}, r"status\.txt\.j2, line \d: syntax error", 1),
    ({"receipt.subject.j2": "{{ result.done }}\n"}, r"receipt\.subject\.j2, line 1: 'result' is undefined", 1),
    ({"relay.html.j2": "{{ ticket.id / 0 }}"}, r"relay\.html\.j2, line 1: ZeroDivisionError", 1),
    ({"alert.txt.j2": "{% include '_missing.txt.j2' %}"}, r"alert\.txt\.j2.*no template _missing\.txt\.j2", 1),
    ({"_layout.html.j2": "{{ desk.nme }}"}, r"_layout\.html\.j2 \(rendering \w+\.html\.j2\), line 1: .*'nme'$", 3),
    ({"escalation.txt.j2": "{{ message.new_text }}"}, r"escalation\.txt\.j2.*'message' is undefined", 1),
    ({"acknowledgment.txt.j2": "typo\n"}, r"acknowledgment\.txt\.j2: not a notice template", 1),
    ({"resolution.subject.j2": "{{ '' }}\n"}, r"resolution\.subject\.j2: renders to nothing", 1),
    ({"status.txt.j2": "{{ ''.__class__ }}"}, r"status\.txt\.j2, line 1: blocked by the sandbox", 1),
])
def test_check_reports_a_broken_override(tmp_path, files, problem, count):
    for file, content in files.items():
        (tmp_path / file).write_text(content)
    problems = Templates(override_dir=tmp_path).check()
    assert len(problems) == count, problems  # a shared piece fails every notice that uses it
    for text in problems:
        assert text.startswith(f"template {tmp_path}/")
        assert re.search(problem, text), text


def test_check_reports_a_missing_override_directory(tmp_path: Path):
    missing = tmp_path / "nope"
    assert Templates(override_dir=missing).check() == [f"templates directory {missing} does not exist"]
    assert Templates(override_dir=missing).render("status", SAMPLE_CONTEXT).subject == "Your request is now pending"
