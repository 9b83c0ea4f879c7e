"""``maildesk kb``: review, search and export the knowledge articles made from resolutions."""

from __future__ import annotations

import html
import re
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import click

from maildesk.cli.output import echo, json_text
from maildesk.cli.state import State
from maildesk.store.kb import STATUSES, Article


@click.group()
def kb() -> None:
    """Knowledge articles: drafted by #kb with #resolve, published after review, suggested to customers."""


def _table(articles: list[Article]) -> str:
    if not articles:
        return "no articles"
    lines = [f"{'ID':>5}  {'STATUS':<10} {'TICKET':>6}  TITLE"]
    lines += [f"{a.id:>5}  {a.status:<10} {a.source_ticket or '-':>6}  {a.title}" for a in articles]
    return "\n".join(lines)


@kb.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def kb_list(state: State, status: str | None, as_json: bool) -> None:
    """List articles with their status and source ticket."""
    with state.store() as store:
        articles = store.kb.list(status=status)
    echo(json_text([asdict(a) for a in articles], indent=2) if as_json else _table(articles))


@kb.command("search")
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def kb_search(state: State, words: tuple[str, ...], as_json: bool) -> None:
    """Articles matching any of the words, best first (all statuses)."""
    with state.store() as store:
        articles = store.kb.search(" ".join(words))
    echo(json_text([asdict(a) for a in articles], indent=2) if as_json else _table(articles))


@kb.command("show")
@click.argument("article_id", type=int)
@click.pass_obj
def kb_show(state: State, article_id: int) -> None:
    """One article in full, as Markdown."""
    with state.store() as store:
        echo(markdown(store.kb.get(article_id)))


def _set(state: State, article_id: int, status: str) -> None:
    with state.store() as store:
        with store.atomic():
            store.kb.set_status(article_id, status, now=datetime.now(timezone.utc))
    echo(f"article {article_id} is {status}")


@kb.command("publish")
@click.argument("article_id", type=int)
@click.pass_obj
def kb_publish(state: State, article_id: int) -> None:
    """Publish an article: acknowledgements and L1 alerts may suggest it from now on."""
    _set(state, article_id, "published")


@kb.command("retire")
@click.argument("article_id", type=int)
@click.pass_obj
def kb_retire(state: State, article_id: int) -> None:
    """Retire an article: it is kept but never suggested again."""
    _set(state, article_id, "retired")


@kb.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(STATUSES), help="Only this status (default: all).")
@click.pass_obj
def kb_export(state: State, directory: Path, status: str | None) -> None:
    """Write each article as a Markdown file (kb-ID-title.md) into DIRECTORY."""
    with state.store() as store:
        articles = store.kb.list(status=status)
    directory.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (directory / file_name(article)).write_text(markdown(article), encoding="utf-8")
    echo(f"{len(articles)} article(s) written to {directory}")


def file_name(article: Article) -> str:
    """``kb-ID-slug.md``: the title as lower-case ASCII words, never a path."""
    slug = "-".join(re.findall(r"[a-z0-9]+", article.title.lower()))[:60].strip("-") or "article"
    return f"kb-{article.id}-{slug}.md"


#: A Markdown link, image or link definition whose target runs script: escaped so no link is made.
_SCHEME = r"(?=(?:javascript|vbscript|data)\s*:)"
_SCRIPT_LINK = re.compile(r"\]\(\s*" + _SCHEME, re.IGNORECASE)
_SCRIPT_DEFINITION = re.compile(r"^( {0,3})\[(?=[^\]\n]*\]:\s*" + _SCHEME + ")", re.IGNORECASE | re.MULTILINE)


def md_text(text: str, *, one_line: bool = False) -> str:
    """Text from mail made safe inside Markdown: HTML written as text, no script links, a title on one line."""
    text = _SCRIPT_LINK.sub("]\\(", html.escape(text, quote=False))
    text = _SCRIPT_DEFINITION.sub(r"\1\\[", text)
    return " ".join(text.split()) if one_line else text


def markdown(article: Article) -> str:
    """The article as Markdown; every field that came from mail is escaped (``md_text``)."""
    meta = [f"status: {article.status}", f"source ticket: #{article.source_ticket}" if article.source_ticket else "",
            f"tags: {md_text(article.tags, one_line=True)}" if article.tags else "", f"updated: {article.updated_at[:10]}"]
    return (f"# {md_text(article.title, one_line=True)}\n\n" + "  \n".join(m for m in meta if m) + "\n\n## Symptoms\n\n"
            f"{md_text(article.symptoms) or '(not recorded)'}\n\n## Resolution\n\n{md_text(article.resolution)}\n")
