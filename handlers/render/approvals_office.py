"""Renderers for the office's approval tools: a register as a file, and the 督办 list."""

from __future__ import annotations

import html
from datetime import date, datetime

from bot.approvals.registers import (
    REGISTER_NAMES,
    file_name,
    rows_from_facts,
    to_csv,
    to_xlsx,
)
from bot.i18n import Translator
from bot.messaging.outgoing import Outgoing
from handlers.render import Rendered, renders

TEXT_BUDGET = 3500  # Telegram allows 4096 characters; leave room for the last line


@renders("ap.register_file", offload=True)
def register_file(out: Outgoing, tr: Translator) -> Rendered:
    """The 发文/收文 register as an XLSX or CSV document, its caption saying what it holds."""
    facts = out.facts
    kind = str(facts.get("kind", "outgoing"))
    fmt = "csv" if facts.get("format") == "csv" else "xlsx"
    year = int(facts["year"]) if facts.get("year") else None
    rows = rows_from_facts(facts)
    data = (
        to_csv(rows, tr.locale, kind=kind) if fmt == "csv" else to_xlsx(rows, tr.locale, kind=kind)
    )
    total = int(facts.get("total", len(rows)))
    caption = tr.gettext(
        "{register} {year}: {n} entries.",
        register=html.escape(tr.gettext(REGISTER_NAMES[kind])),
        year=year or "",
        n=total,
    )
    if total > len(rows):
        caption += "\n" + tr.gettext(
            "Only the latest {shown} are in this file; run <code>govbot approvals register</code> "
            "on the server for all of them.",
            shown=len(rows),
        )
    return Rendered(
        "document", caption, file_bytes=data, file_name=file_name(kind, year, fmt, tr.locale)
    )


@renders("ap.register_usage")
def register_usage(out: Outgoing, tr: Translator) -> Rendered:
    """How to ask for a register."""
    return Rendered(
        "send",
        tr.gettext(
            "Usage: /register out|in [xlsx|csv] [year]\n"
            "out: the outgoing register, in: the incoming register."
        ),
    )


def _short(iso: str | None, tr: Translator) -> str:
    if not iso:
        return ""
    if "T" in iso:
        return tr.when(datetime.fromisoformat(iso), "short")
    return tr.day(date.fromisoformat(iso), "medium")


@renders("ap.overdue_list")
def overdue_list(out: Outgoing, tr: Translator) -> Rendered:
    """督办: the overdue items, grouped by the department holding them."""
    groups = out.facts.get("groups", [])
    if not groups:
        return Rendered("send", tr.gettext("Nothing is overdue."))
    total = int(out.facts.get("total", 0))
    lines = [tr.gettext("<b>Overdue items: {n}</b>", n=total)]
    used = len(lines[0])
    listed = 0
    for group in groups:
        head = tr.gettext(
            "<b>{department}</b> ({n})",
            department=html.escape(str(group.get("department", ""))),
            n=int(group.get("count", 0)),
        )
        entries = [_overdue_line(item, tr) for item in group.get("items", [])]
        if used + len(head) + len(entries[0] if entries else "") + 2 > TEXT_BUDGET:
            break
        lines += ["", head]
        used += len(head) + 2
        for line in entries:
            if used + len(line) + 1 > TEXT_BUDGET:
                break
            lines.append(line)
            used += len(line) + 1
            listed += 1
    if listed < total:
        lines += [
            "",
            tr.gettext(
                "… and {n} more: run <code>govbot approvals overdue</code> for the full list.",
                n=total - listed,
            ),
        ]
    return Rendered("send", "\n".join(lines))


def _overdue_line(item: dict[str, object], tr: Translator) -> str:
    # The earlier of the task's deadline and the 办理时限 typed at registration.
    due = min((str(d) for d in (item.get("due"), item.get("deadline")) if d), default=None)
    return tr.gettext(
        "• {number} {title} · {step} · {holder} · due {due}",
        number=html.escape(str(item.get("doc_no") or item.get("number") or "")),
        title=html.escape(str(item.get("title") or "")),
        step=html.escape(str(item.get("step") or "—")),
        holder=html.escape(str(item.get("holder") or "—")),
        due=html.escape(_short(due, tr)),
    )
