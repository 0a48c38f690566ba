"""Renderers for announcements (#8): the message each recipient gets (and its 已阅 edit), the
reminder, the author's composing steps, preview, confirmation and the counts."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from bot.spreadsheet import csv_bytes
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders
from handlers.render.surveys import AUDIENCE_PROBLEMS

PROMPTS = {
    "title": N_("📢 <b>New announcement</b>\nStep 1/4: send its title (one line). /cancel stops."),
    "content": N_(
        "Step 2/4: send the announcement itself: a text (bold, italics and links are kept), "
        "or a photo or a document with the text as its caption."
    ),
    "audience": N_(
        "Step 3/4: who is it for? Send all, or departments, roles, employee numbers and "
        "groups separated by commas, for example dept:办公室,role:trainer,staff:E0001,"
        "group:试点组."
    ),
    "ack": N_("Step 4/4: {count} people. Must they acknowledge it with a tap on ✅ Acknowledged?"),
    "deadline": N_(
        "By when? Send a date, for example 2026-12-10, 12月10日 or 2026-12-10 17:00, or tap "
        "No deadline."
    ),
    "preview": N_("Please tap Send or Cancel on the preview above."),
}
PROBLEMS = {
    "title_empty": N_("The title is empty."),
    "title_long": N_("The title is {length} characters long; at most {limit}."),
    "body_empty": N_("The announcement has no text."),
    "body_long": N_("The text is {length} characters long; at most {limit}."),
    "caption_long": N_(
        "A caption may be {limit} characters long; this one has {length}. Send the text "
        "first as a message, or shorten it."
    ),
    "deadline_format": N_("“{text}” is not a date (2026-12-10, 12月10日 or 2026-12-10 17:00)."),
    "deadline_past": N_("“{text}” has passed. Please send a date in the future."),
}


def _button(label: str, action: str, obj_id: int, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj_id, version)))


def _when(value: object, tr: Translator, fmt: str = "short") -> str:
    return tr.when(datetime.fromisoformat(value), fmt) if isinstance(value, str) else ""


def message_text(facts: dict[str, Any], tr: Translator) -> str:
    """The announcement as its recipients see it: title, the author's formatted text, who
    sent it, and what acknowledging asks for (or when it was acknowledged)."""
    parts = [tr.gettext("📢 <b>{title}</b>", title=html.escape(str(facts.get("title", ""))))]
    body = str(facts.get("body") or "")
    if body:
        parts.append(body)  # the HTML PTB made from the author's entities (escaped text)
    footer: list[str] = []
    author = facts.get("author")
    if author:
        footer.append(
            tr.gettext(
                "— {name}, {department}",
                name=html.escape(str(author)),
                department=html.escape(str(facts.get("department") or "")),
            )
        )
    acked = facts.get("acked_at")
    if isinstance(acked, str):
        footer.append(tr.gettext("✅ Acknowledged {time}", time=_when(acked, tr, "HH:mm")))
    elif facts.get("ack"):
        if facts.get("ack_by"):
            footer.append(
                tr.gettext(
                    "Please tap ✅ Acknowledged once you have read it, by {when}.",
                    when=_when(facts.get("ack_by"), tr),
                )
            )
        else:
            footer.append(tr.gettext("Please tap ✅ Acknowledged once you have read it."))
    if footer:
        parts.append("\n".join(footer))
    return "\n\n".join(parts)


def _media(
    out: Outgoing,
    facts: dict[str, Any],
    text: str,
    rows: list[list[InlineKeyboardButton]] | None,
) -> Rendered:
    """Sent the first time (as text, photo or document), edited in place after."""
    attachment = facts.get("attachment")
    if not isinstance(attachment, dict) or not attachment.get("file_id"):
        return living_card(out, text, rows)
    markup = InlineKeyboardMarkup(rows) if rows else None
    if out.card_message_id is not None:
        return Rendered("caption", text, markup, message_id=out.card_message_id)
    if attachment.get("kind") == "photo":
        return Rendered("photo", text, markup, file_id=str(attachment["file_id"]))
    return Rendered("document", text, markup, file_id=str(attachment["file_id"]))


@renders("announce.message")
def announcement(out: Outgoing, tr: Translator) -> Rendered:
    """A recipient's announcement, with ✅ Acknowledged until they tap it."""
    facts = out.facts
    rows = None
    if facts.get("ack") and not facts.get("acked_at"):
        rows = [[_button(tr.gettext("✅ Acknowledged"), "an.ack", int(facts.get("id", 0)))]]
    return _media(out, facts, message_text(facts, tr), rows)


@renders("announce.preview")
def preview(out: Outgoing, tr: Translator) -> Rendered:
    """The author's preview: the message exactly as recipients will get it, without the
    button."""
    facts = out.facts
    text = tr.gettext("👁 Preview") + "\n\n" + message_text(facts, tr)
    if facts.get("ack"):
        text += "\n" + tr.gettext("(Recipients get a ✅ Acknowledged button here.)")
    return _media(out, facts, text, None)


@renders("announce.remind")
def remind(out: Outgoing, tr: Translator) -> Rendered:
    """To somebody who has not acknowledged yet: a reply to their announcement."""
    facts = out.facts
    title = html.escape(str(facts.get("title", "")))
    if facts.get("ack_by"):
        text = tr.gettext(
            "⏰ Please read the announcement <b>{title}</b> and tap ✅ Acknowledged, by {when}.",
            title=title,
            when=_when(facts.get("ack_by"), tr),
        )
    else:
        text = tr.gettext(
            "⏰ Please read the announcement <b>{title}</b> and tap ✅ Acknowledged.",
            title=title,
        )
    reply_to = facts.get("reply_to")
    return Rendered(
        "send",
        text,
        InlineKeyboardMarkup(
            [[_button(tr.gettext("✅ Acknowledged"), "an.ack", int(facts.get("id", 0)))]]
        ),
        reply_to=int(reply_to) if isinstance(reply_to, int) else None,
    )


@renders("announce.prompt")
def prompt(out: Outgoing, tr: Translator) -> Rendered:
    """One step of composing: what to send next, or what was wrong with the last."""
    facts = out.facts
    step = str(facts.get("step", ""))
    lines: list[str] = []
    error = facts.get("error")
    if isinstance(error, dict) and error.get("code") in PROBLEMS:
        values = {k: html.escape(str(v)) for k, v in error.items() if k != "code"}
        lines.append("⚠️ " + tr.gettext(PROBLEMS[str(error["code"])], **values))
    for item in facts.get("problems") or []:
        if isinstance(item, list) and len(item) == 2 and item[0] in AUDIENCE_PROBLEMS:
            lines.append(
                "⚠️ " + tr.gettext(AUDIENCE_PROBLEMS[item[0]], what=html.escape(str(item[1])))
            )
    if facts.get("tap"):
        lines.append(tr.gettext("Please use the buttons."))
    if step in PROMPTS:
        lines.append(tr.gettext(PROMPTS[step], count=str(facts.get("count", 0))))
    flow = int(facts.get("flow", 0))
    rows: list[list[InlineKeyboardButton]] = []
    if step == "ack":
        rows = [
            [_button(tr.gettext("✅ Yes, require acknowledgement"), "an.need", flow, 1)],
            [_button(tr.gettext("No, for information only"), "an.need", flow, 0)],
        ]
    elif step == "deadline":
        rows = [[_button(tr.gettext("No deadline"), "an.nodl", flow)]]
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


@renders("announce.confirm")
def confirm(out: Outgoing, tr: Translator) -> Rendered:
    """The author's card: before sending, to whom and Send / Cancel; after, how many it went
    to and the counts button."""
    facts = out.facts
    announcement_id = int(facts.get("id", 0))
    state = facts.get("state")
    if state == "cancelled":
        return living_card(out, tr.gettext("✖️ Cancelled: nothing was sent."))
    ack = ""
    if facts.get("ack"):
        ack = (
            tr.gettext("Acknowledgement required by {when}.", when=_when(facts.get("ack_by"), tr))
            if facts.get("ack_by")
            else tr.gettext("Acknowledgement required.")
        )
    else:
        ack = tr.gettext("For information (no acknowledgement).")
    if state == "sent":
        lines = [
            tr.gettext(
                "📤 Announcement #{id} sent: {recipients} recipients, {messaged} of them on "
                "Telegram get it now.",
                id=str(announcement_id),
                recipients=str(facts.get("recipients", 0)),
                messaged=str(facts.get("messaged", 0)),
            ),
            ack,
        ]
        missing = [html.escape(str(n)) for n in facts.get("unreachable") or []]
        if missing:
            lines.append(
                tr.gettext("Not on Telegram (not sent): {names}", names="、".join(missing))
            )
        return living_card(
            out,
            "\n".join(lines),
            [[_button(tr.gettext("📊 Acknowledgements"), "an.stat", announcement_id)]],
        )
    departments = "、".join(
        f"{html.escape(str(name))} {count}"
        for name, count in facts.get("departments") or []
        if isinstance(count, int)
    )
    lines = [
        tr.gettext(
            "To {recipients} people ({messaged} on Telegram): {departments}",
            recipients=str(facts.get("recipients", 0)),
            messaged=str(facts.get("messaged", 0)),
            departments=departments,
        ),
        ack,
        tr.gettext("Nothing has been sent yet."),
    ]
    return living_card(
        out,
        "\n".join(lines),
        [
            [
                _button(tr.gettext("📤 Send"), "an.send", announcement_id),
                _button(tr.gettext("✖️ Cancel"), "an.drop", announcement_id),
            ]
        ],
    )


@renders("announce.status")
def status(out: Outgoing, tr: Translator) -> Rendered:
    """Per department: recipients, delivered, acknowledged, not yet; then who has not."""
    facts = out.facts
    announcement_id = int(facts.get("id", 0))
    lines = [
        tr.gettext("⏰ The deadline has passed. The final counts:")
        if facts.get("deadline_reached")
        else "",
        tr.gettext(
            "📊 <b>#{id} {title}</b>",
            id=str(announcement_id),
            title=html.escape(str(facts.get("title", ""))),
        ),
        tr.gettext(
            "Delivered means Telegram accepted the message; acknowledged means the person "
            "tapped ✅."
        ),
    ]
    ack = bool(facts.get("ack"))
    rows = [r for r in facts.get("departments") or [] if isinstance(r, list) and len(r) == 4]
    for name, recipients, delivered, acked in rows:
        if ack:
            lines.append(
                tr.gettext(
                    "{department}: {recipients} recipients, {delivered} delivered, "
                    "{acked} acknowledged, {waiting} not yet",
                    department=html.escape(str(name)) or "—",
                    recipients=str(recipients),
                    delivered=str(delivered),
                    acked=str(acked),
                    waiting=str(int(recipients) - int(acked)),
                )
            )
        else:
            lines.append(
                tr.gettext(
                    "{department}: {recipients} recipients, {delivered} delivered",
                    department=html.escape(str(name)) or "—",
                    recipients=str(recipients),
                    delivered=str(delivered),
                )
            )
    total = facts.get("total") or [0, 0, 0]
    if isinstance(total, list) and len(total) == 3:
        if ack:
            lines.append(
                tr.gettext(
                    "<b>In all: {recipients} recipients, {delivered} delivered, {acked} "
                    "acknowledged, {waiting} not yet</b>",
                    recipients=str(total[0]),
                    delivered=str(total[1]),
                    acked=str(total[2]),
                    waiting=str(int(total[0]) - int(total[2])),
                )
            )
        else:
            lines.append(
                tr.gettext(
                    "<b>In all: {recipients} recipients, {delivered} delivered</b>",
                    recipients=str(total[0]),
                    delivered=str(total[1]),
                )
            )
    waiting = [html.escape(str(n)) for n in facts.get("waiting") or []]
    if ack and waiting:
        more = int(facts.get("more", 0) or 0)
        names = "、".join(waiting)
        if more:
            names += tr.gettext(" and {n} more", n=str(more))
        lines.append(tr.gettext("Not acknowledged yet: {names}", names=names))
    if ack and facts.get("ack_by"):
        lines.append(tr.gettext("Deadline: {when}", when=_when(facts.get("ack_by"), tr)))
    lines.append(tr.gettext("As of {when}", when=_when(facts.get("at"), tr)))
    rows = [
        [
            _button(tr.gettext("🔄 Refresh"), "an.stat", announcement_id, 1),
            _button(tr.gettext("📥 CSV"), "an.csv", announcement_id),
        ]
    ]
    if ack and waiting and not facts.get("deadline_reached"):
        rows.append(
            [_button(tr.gettext("⏰ Remind those not acknowledged"), "an.nudge", announcement_id)]
        )
    return living_card(out, "\n".join(line for line in lines if line), rows)


EXPORT_HEADERS = (
    N_("Employee no."),
    N_("Name"),
    N_("Department"),
    N_("Delivered at"),
    N_("Acknowledged at"),
)


@renders("announce.export")
def export(out: Outgoing, tr: Translator) -> Rendered:
    """The per-person CSV (UTF-8 with a BOM for Excel; cells made formula-safe when taken)."""
    facts = out.facts
    rows = [[str(c) for c in r] for r in facts.get("rows") or [] if isinstance(r, list)]
    data = csv_bytes([tr.gettext(h) for h in EXPORT_HEADERS], rows)
    caption = tr.gettext(
        "📥 #{id} {title}: one row per recipient",
        id=str(facts.get("id", "")),
        title=html.escape(str(facts.get("title", ""))),
    )
    return Rendered(
        "document", caption, file_bytes=data, file_name=f"announcement-{facts.get('id', 0)}.csv"
    )


@renders("announce.list")
def announcement_list(out: Outgoing, tr: Translator) -> Rendered:
    """/announce status: the latest announcements, a button each for their counts."""
    items = [i for i in out.facts.get("items") or [] if isinstance(i, dict)]
    if not items:
        return Rendered("send", tr.gettext("📢 You have not sent any announcement yet."))
    lines = [tr.gettext("📢 <b>Your announcements</b>")]
    rows = []
    for item in items:
        title = html.escape(str(item.get("title", "")))
        lines.append(f"#{item.get('id')} {title} · {_when(item.get('sent_at'), tr)}")
        rows.append(
            [
                _button(
                    f"📊 #{item.get('id')} {str(item.get('title', ''))[:30]}",
                    "an.stat",
                    int(item.get("id", 0)),
                )
            ]
        )
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows))
