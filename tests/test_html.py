"""HTML bodies to readable text: structure kept, active content dropped, broken input survived."""

from __future__ import annotations

import pytest

from maildesk.intake.html import _prepare, html_to_text

CONVERSIONS = [
    ("plain words", "Hello   there", "Hello there"),
    ("entities", "Fish &amp; chips &lt;3 &eacute;t&eacute; &#8364;5&nbsp;each", "Fish & chips <3 été €5 each"),
    ("script and style dropped", "<style>p{color:red}</style>a<script>alert('<b>x</b>')</script>b", "ab"),
    ("head and title dropped", "<html><head><title>T</title><meta charset=utf-8></head><body>body</body></html>",
     "body"),
    ("head left open ends at body", "<head><title>T</title><body>still here", "still here"),
    ("noscript and template dropped", "<noscript>enable js</noscript><template><p>t</p></template>ok", "ok"),
    ("comments dropped", "a<!-- <p>hidden</p> -->b<!--[if mso]>outlook only<![endif]-->c", "abc"),
    ("br breaks lines", "one<br>two<br/>three", "one\ntwo\nthree"),
    ("paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"),
    ("divs", "<div>one</div><div>two</div>", "one\ntwo"),
    ("gmail blank line", "<div>one</div><div><br></div><div>two</div>", "one\n\ntwo"),
    ("at most one blank line", "a<br><br><br><br><p></p><p></p>b", "a\n\nb"),
    ("list items", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("nested lists", "<ul><li>one<ul><li>inner</li></ul></li></ul>", "- one\n  - inner"),
    ("paragraph inside a list item", "<ul><li><p>one</p></li><li></li></ul><p>after</p>", "- one\n\nafter"),
    ("link with other text", '<a href="https://example.test/a">the page</a>', "the page (https://example.test/a)"),
    ("link showing its url", '<a href="https://example.test/a">https://example.test/a</a>', "https://example.test/a"),
    ("link without scheme in text", '<a href="https://www.example.test/">www.example.test</a>', "www.example.test"),
    ("mailto link", '<a href="mailto:help@example.test">help@example.test</a>', "help@example.test"),
    ("javascript link", '<a href="javascript:steal()">click</a>', "click"),
    ("link around an image only", '<a href="https://t.example/x"><img src="cid:1"></a>text', "text"),
    ("blockquote", "<p>reply</p><blockquote>original</blockquote>", "reply\n\n> original"),
    ("nested blockquote", "<blockquote>a<blockquote>b</blockquote></blockquote>", "> a\n>\n> > b"),
    ("whitespace collapsed in lines", "<p>  a \n\t b  </p>", "a b"),
    ("pre keeps spacing", "<pre>  x = 1\n    y = 2</pre>", "  x = 1\n    y = 2"),
    ("table cells", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
    ("stray less-than", "1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
    ("quoted greater-than in attribute", '<a title="x>y" href="https://e.test">go</a>', "go (https://e.test)"),
    ("svg script", "<svg><script>alert(1)</script><text>label</text></svg>", "label"),
    ("event handlers are markup, not text", '<p onclick="alert(1)">hi</p>', "hi"),
]


@pytest.mark.parametrize(("html", "expected"), [(h, e) for _, h, e in CONVERSIONS],
                         ids=[n for n, _, _ in CONVERSIONS])
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


BROKEN = [
    "<",
    "<<<<>>>>",
    "<a href='unclosed>text",
    '<a b="x>',
    "<p>never closed<div>nor this<b>",
    "</p></div></blockquote></a></pre></ul>",
    "<!-- never closed comment",
    "<![CDATA[ x ]]> <?php echo 1 ?> <!DOCTYPE html>",
    "<script>unterminated script <b>",
    "<style>unterminated",
    "&#xffffffff; &#0; &#55296; &bogus; &",
    "<a href=x<b>c</b>",
    "\x00<p>\x00</p>\udc80",
]


@pytest.mark.parametrize("html", BROKEN)
def test_broken_html_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


def test_broken_html_keeps_the_words() -> None:
    assert html_to_text("<p>never closed<div>nor this <b>bold") == "never closed\nnor this bold"
    assert html_to_text("<a href='unclosed>text") == "<a href='unclosed>text"


# Inputs on which the stdlib's HTMLParser alone rescans unfinished constructs, in time quadratic
# in their length; bench/score_mime.py --hostile shows the times.
PATHOLOGICAL = ["<a b='", '<a b="x>', "<!--", "<a\n", "</", "<![CDATA[", "<", "<script>", "<a b==\"x>"]


@pytest.mark.parametrize("unit", PATHOLOGICAL)
def test_the_parser_is_only_handed_complete_tags(unit: str) -> None:
    prepared = _prepare(unit * 1000 + "<p>tail</p>")
    pieces = prepared.split("<")[1:]
    assert all(">" in piece for piece in pieces)  # every "<" is closed before the next one opens
    assert "<!" not in prepared and "<?" not in prepared
    assert "tail" in html_to_text(unit * 1000 + "<p>tail</p>") or unit in ("<!--", "<script>")  # those eat the rest


def test_deep_nesting_does_not_grow_the_output() -> None:
    text = html_to_text("<blockquote>" * 20_000 + "x<br>" * 20_000)
    assert len(text) < 20 * 20_000 * 2
