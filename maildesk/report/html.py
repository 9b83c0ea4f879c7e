"""The KPI report as one self-contained HTML page: tables and inline SVG charts, nothing fetched."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from maildesk.report.kpi import OPEN, TicketFacts

WIDTH, BAR_GAP, HEIGHT, MAX_BAR = 640, 2, 160, 72
RESPONSE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1h", 3600), ("1-4h", 4 * 3600), ("4-8h", 8 * 3600), ("8-24h", 86400), ("1-3d", 3 * 86400))


def bars(title: str, data: Sequence[tuple[str, float]], *, unit: str = "") -> Markup:
    """A bar chart as inline SVG, labelled; values are numbers, labels are escaped."""
    top = max((v for _, v in data), default=0) or 1
    width = min(MAX_BAR, max(4, (WIDTH - BAR_GAP * len(data)) // max(1, len(data))))
    parts = [Markup('<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" role="img" '
                    'width="{}" height="{}" viewBox="0 -12 {} {}">').format(title, WIDTH, HEIGHT + 40, WIDTH,
                                                                          HEIGHT + 40)]
    for i, (label, value) in enumerate(data):
        h = int(HEIGHT * value / top)
        x = i * (width + BAR_GAP)
        parts.append(Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="#3b82f6">'
                            '<title>{}: {}{}</title></rect>').format(x, HEIGHT - h, width, h, label, value, unit))
        if len(data) <= 16:  # few bars: each labelled, with its value on top
            parts.append(Markup('<text x="{}" y="{}" font-size="11">{}</text>').format(x, HEIGHT + 14, label))
            parts.append(Markup('<text x="{}" y="{}" font-size="11">{}{}</text>').format(
                x, max(11, HEIGHT - h - 3), value, unit))
    parts.append(Markup("</svg></figure>"))
    return Markup("").join(parts)


def charts(facts: Sequence[TicketFacts], kpi: dict[str, Any]) -> list[Markup]:
    """Daily volume, backlog by tier, first response distribution, SLA compliance."""
    daily = sorted(Counter(f.created_at.date().isoformat() for f in facts).items())
    backlog = sorted(Counter(f.tier for f in facts if f.status in OPEN).items())
    seconds = [(f.first_response_at - f.created_at).total_seconds() for f in facts if f.first_response_at]
    spread = [(name, sum(1 for s in seconds if s < limit and s >= low))
              for (name, limit), low in zip(RESPONSE_BUCKETS, [0, *(b for _, b in RESPONSE_BUCKETS)])]
    spread.append(("3d+", sum(1 for s in seconds if s >= RESPONSE_BUCKETS[-1][1])))
    compliance = [(c.replace("_", " "), round(100 * r, 1)) for c, r in kpi["overall"]["sla_compliance"].items()
                  if r is not None]
    return [bars("Tickets created per day", daily), bars("Open backlog by tier", backlog),
            bars("First response times", spread), bars("SLA compliance", compliance, unit="%")]


def page(facts: Sequence[TicketFacts], kpi: dict[str, Any], *, title: str) -> str:
    rows = [("overall", kpi["overall"]), *((f"tier {n}", k) for n, k in kpi["tiers"].items()),
            *kpi["agents"].items()]
    table = Markup("").join(Markup("<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                   "<td>{}</td><td>{}</td></tr>").format(
        name, k["tickets_in"], k["resolved"], _hours(k["first_response"]["median_seconds"]),
        _hours(k["resolution"]["median_seconds"]), _pct(k["first_contact_resolution_rate"]),
        _pct(k["escalation_rate"]), k["csat"]["average"] or "-") for name, k in rows)
    return str(Markup(
        "<!doctype html><html lang=en><meta charset=utf-8><title>{t}</title>"
        "<style>body{{font-family:sans-serif;margin:2em;color:#111}}table{{border-collapse:collapse}}"
        "td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}figure{{margin:2em 0}}"
        "figcaption{{font-weight:bold;margin-bottom:.5em}}</style><h1>{t}</h1><table><tr><th></th><th>in</th>"
        "<th>resolved</th><th>first response (median)</th><th>resolution (median)</th><th>first contact "
        "resolution</th><th>escalated</th><th>CSAT</th></tr>{table}</table>{charts}</html>\n").format(
        t=escape(title), table=table, charts=Markup("").join(charts(facts, kpi))))


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"
