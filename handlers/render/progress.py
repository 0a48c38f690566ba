"""The author's progress card for a mass send (bot/messaging/progress.py)."""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from bot.i18n import Translator
from bot.messaging.outgoing import Outgoing
from handlers.render import Rendered, living_card, renders


def _bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "▓" * filled + "░" * (width - filled)


@renders("broadcast.progress")
def progress(out: Outgoing, tr: Translator) -> Rendered:
    """Delivered n of N (a bar and the percentage), failures, the rate and the time left."""
    facts = out.facts
    title = facts.get("title") or {}
    name = html.escape(
        str((title.get("en") if tr.locale == "en" else None) or title.get("zh_CN") or "")
    )
    total = int(facts.get("total", 0) or 0)
    sent = int(facts.get("sent", 0) or 0)
    failed = int(facts.get("failed", 0) or 0)
    unreachable = int(facts.get("unreachable", 0) or 0)
    uncertain = int(facts.get("uncertain", 0) or 0)
    queued = int(facts.get("queued", 0) or 0)
    finished = sent + failed + unreachable + uncertain
    if facts.get("done"):
        head = tr.gettext("📤 Sending “{title}”: finished", title=name)
    else:
        head = tr.gettext("📤 Sending “{title}”…", title=name)
    percent = tr.number(round(100 * finished / total)) if total else "100"
    lines = [
        head,
        f"{_bar(finished, total)} {percent}%",
        tr.gettext(
            "Delivered {sent} of {total}; {queued} still queued.",
            sent=tr.number(sent),
            total=tr.number(total),
            queued=tr.number(queued),
        ),
    ]
    if failed or unreachable:
        lines.append(
            tr.gettext(
                "Not delivered: {failed} failed, {unreachable} have blocked the bot or left.",
                failed=tr.number(failed),
                unreachable=tr.number(unreachable),
            )
        )
    if uncertain:
        lines.append(
            tr.ngettext(
                "{n} was being sent when the bot restarted: it may have arrived, and is not sent "
                "twice (reminders still reach them).",
                "{n} were being sent when the bot restarted: they may have arrived, and are not "
                "sent twice (reminders still reach them).",
                uncertain,
            )
        )
    waits = facts.get("waits_until")
    if isinstance(waits, str) and not finished:
        lines.append(
            tr.gettext(
                "Sending starts {when}.", when=tr.when(datetime.fromisoformat(waits), "short")
            )
        )
    rate, eta = facts.get("rate"), facts.get("eta_s")
    if rate and not facts.get("done"):
        line = tr.gettext("{rate} a second", rate=tr.number(float(rate)))
        if eta:
            line += " · " + tr.gettext(
                "about {left} left", left=tr.duration(timedelta(seconds=int(eta)))
            )
        lines.append(line)
    elif facts.get("done") and facts.get("elapsed_s"):
        lines.append(
            tr.gettext(
                "Took {took}.", took=tr.duration(timedelta(seconds=int(facts["elapsed_s"])))
            )
        )
    return living_card(out, "\n".join(lines))
