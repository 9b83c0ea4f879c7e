"""Human-readable text for tickets and quarantine entries."""

from __future__ import annotations

from typing import Any


def _short(value: Any, width: int) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def ticket_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no tickets"
    lines = [f"{'ID':>6}  {'STATUS':<9} {'TIER':<4} {'PRIO':<7} {'MSGS':>4}  {'UPDATED':<20} {'REQUESTER':<28} SUBJECT"]
    for r in rows:
        lines.append(f"{r['id']:>6}  {r['status']:<9} {r['tier']:<4} {r['priority']:<7} {r['message_count']:>4}  "
                     f"{r['updated_at'][:19]:<20} {_short(r['requester'], 28):<28} {_short(r['subject'], 60)}")
    return "\n".join(lines)


def ticket_detail(t: dict[str, Any]) -> str:
    lines = [f"Ticket #{t['id']}: {t['subject']}",
             f"  status {t['status']}, tier {t['tier']}, priority {t['priority']}, assignee {t['assignee'] or '-'}",
             f"  requester {t['requester'] or '-'}; created {t['created_at']}; updated {t['updated_at']}",
             "  participants: " + (", ".join(f"{p['address']} ({p['role']})" for p in t["participants"]) or "-")]
    if t.get("tags") or t.get("sla"):
        lines.append(f"  tags: {', '.join(t.get('tags') or []) or '-'}; SLA policy: {t.get('sla') or '-'}")
    for c in t.get("sla") or []:
        when = f", due {c['due_at'][:16]}" if c["due_at"] else ""
        lines.append(f"  SLA {c['policy']} {c['clock'].replace('_', ' ')}: {c['state']} "
                     f"({c['elapsed']} of {c['limit']}{when})")
    for e in t["events"]:
        if e["kind"] == "routed":
            lines.append("  routed by: " + _routing_reasons(e["detail"]))
    for m in t["messages"]:
        who = f"{m['sender'] or '?'}" + (" (stranger)" if m.get("sender_role") == "stranger" else "")
        lines += ["", f"--- message {m['id']} {m['direction']} from {who} at {m['date'] or m['created_at']}",
                  f"    subject: {m['subject']}",
                  f"    threaded by: {m['thread_reason']} {m['thread_detail']}".rstrip(),
                  f"    kind: {m['kind']}" + (f" ({'; '.join(m['kind_reasons'])})" if m["kind_reasons"] else "")]
        for a in m["attachments"]:
            lines.append(f"    attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes)")
        lines += ["", *("    " + line for line in (m["new_text"] or m["body_text"]).splitlines())]
    lines += ["", "events:"]
    lines += [f"  {e['at'][:19]} {e['actor']}: {e['kind']} {e['old'] or ''} -> {e['new'] or ''}".rstrip()
              for e in t["events"]]
    lines += ["", "notices:"]
    lines += [f"  {n['created_at'][:19]} {n['kind']} to {n['recipient']}: {n['status']}"
              + (f" ({_short(n['last_error'], 60)})" if n["last_error"] and n["status"] != "sent" else "")
              for n in t.get("notices", ())]
    return "\n".join(lines)


def quarantine_table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "quarantine is empty"
    lines = [f"{'ID':>5}  {'KIND':<14} {'TICKET':>6}  {'CREATED':<20} {'FROM':<28} REASON"]
    for e in entries:
        lines.append(f"{e['id']:>5}  {e['kind']:<14} {e['ticket_id'] or '-':>6}  {e['created_at'][:19]:<20} "
                     f"{_short(e['sender'], 28):<28} {_short(e['reason'], 70)}")
    return "\n".join(lines)


def outbox_table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "outbox is empty"
    lines = [f"{'ID':>5}  {'STATUS':<8} {'KIND':<15} {'TRIES':>5}  {'NEXT ATTEMPT':<20} {'TO':<28} LAST ERROR"]
    for e in entries:
        nxt = e["next_attempt_at"][:19] if e["status"] in ("queued", "sending") else "-"
        lines.append(f"{e['id']:>5}  {e['status']:<8} {e['kind']:<15} {e['attempts']:>5}  {nxt:<20} "
                     f"{_short(e['recipient'], 28):<28} {_short(e['last_error'], 60)}")
    return "\n".join(lines)


def queues(by_tier: dict[str, list[dict[str, Any]]]) -> str:
    lines: list[str] = []
    for tier, tickets in by_tier.items():
        lines += [f"{tier}: {len(tickets)} open" + (":" if tickets else "")]
        lines += [f"  #{t['id']:<6} {_age(t['age_seconds']):>6}  {t['priority']:<7} {t['status']:<8} "
                  f"{_short(t['assignee'] or 'unassigned', 24):<24} {_short(t['subject'], 50)}"
                  + "".join(f"  {c['clock'].replace('_', ' ')}: {c['state']}" for c in t.get("sla") or [])
                  + (f"  [{t['next_sla']['timer'].replace('_', ' ')} {t['next_sla']['due_at'][:16]}]"
                     if t.get("next_sla") else "") for t in tickets]
    return "\n".join(lines)


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def rule_trace(decision: Any) -> str:
    lines = []
    for t in decision.trace:
        if t.skipped:
            lines.append(f"  -  {t.name}: not tried (an earlier rule decided)")
            continue
        lines.append(f"  {'✓' if t.matched else '✗'}  {t.name}: {'matched' if t.matched else 'no match'}")
        for c in t.conditions:
            lines.append(f"       {'ok  ' if c.held else 'FAIL'} {c.key}: {c.why}")
    d = decision
    what = {"ignore": "ignored (no ticket, no notices)", "quarantine": "quarantined"}.get(d.action)
    lines += ["", "decision: " + (what or f"tier {d.tier}, priority {d.priority}"
                                 + (f", tags {', '.join(d.tags)}" if d.tags else "")
                                 + (f", assign {d.assign}" if d.assign else "")
                                 + (f", sla {d.sla}" if d.sla else "")
                                 + (f", acknowledgement template {d.template}" if d.template else "")),
              "decided by: " + (", ".join(d.rules) or "no rule matched: the defaults")]
    return "\n".join(lines)


def _routing_reasons(detail: dict[str, Any]) -> str:
    """Which rules decided and the conditions that matched, from a ``routed`` event."""
    matched = detail.get("matched") or []
    if not matched:
        return "no rule matched: the defaults"
    return "; ".join(f"rule \"{m['rule']}\"" + (f" ({', '.join(c['why'] for c in m['conditions'])})"
                                                 if m["conditions"] else "") for m in matched)
