"""Renderers for the trainers' digest of what the knowledge base could not answer (#6).

The digest is a living card per trainer: after any trainer's decision every card of that
digest is edited in place to show it, so nobody acts on a group someone already handled.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.emulator.html import HtmlParseError, parse_html
from bot.faq.digest import (
    ADDED,
    DRAFTED,
    DRAFTED_KIND,
    EMPTY_KIND,
    IGNORED,
    KIND,
    OPEN,
    REPLACED,
    Decided,
    DigestHandledError,
    PhrasingRejectedError,
)
from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders

MAX_TEXT = 4096  # Telegram counts the text after parsing the HTML
QUESTION_CHARS = 120  # a group's question in the digest is cut here
EXAMPLE_CHARS = 60
LABEL_CHARS = 28  # an entry's question inside a button (phones show about 30 characters)

OUTCOMES = {
    ADDED: N_("✅ Added as a phrasing of «{question}» by {name}."),
    DRAFTED: N_("📝 {name} drafted a new entry from it."),
    IGNORED: N_("🙈 Ignored by {name}."),
    REPLACED: N_("⏭ Replaced by a newer digest."),
}
REJECTIONS = {
    "existing_phrasing": N_("This phrasing already leads to entry {entry}; nothing was changed."),
    "long_question": N_(
        "This question is too long to be a phrasing (at most 300 characters); nothing was "
        "changed. Draft a new entry instead."
    ),
    "too_many_alternatives": N_(
        "That entry already has 30 alternative phrasings; nothing was changed."
    ),
}


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _button(label: str, action: str, obj: int, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj, version)))


def _fits(text: str) -> bool:
    try:
        return len(parse_html(text, strict_ampersand=False).text) <= MAX_TEXT
    except HtmlParseError:
        return False


def _outcome(group: Mapping[str, Any], tr: Translator) -> str:
    status = str(group.get("status"))
    if status not in OUTCOMES:
        return ""
    return tr.gettext(
        OUTCOMES[status],
        question=html.escape(_cut(str(group.get("entry_question") or group.get("entry_key")), 40)),
        name=html.escape(str(group.get("by") or "—")),
    )


def _group_text(number: int, group: Mapping[str, Any], examples: int, tr: Translator) -> str:
    head = tr.ngettext(
        "{n} person asked ≈ «{text}»",
        "{n} people asked ≈ «{text}»",
        int(group.get("askers") or 0),
        text=html.escape(_cut(str(group.get("text", "")), QUESTION_CHARS)),
    )
    lines = [f"<b>{number}.</b> {head}"]
    lines += [
        "    · " + html.escape(_cut(str(e), EXAMPLE_CHARS))
        for e in list(group.get("examples") or [])[:examples]
    ]
    outcome = _outcome(group, tr)
    if outcome:
        lines.append("    " + outcome)
    return "\n".join(lines)


def _buttons(number: int, group: Mapping[str, Any], tr: Translator) -> list[list[Any]]:
    if group.get("status") != OPEN:
        return []
    group_id, version = int(group["id"]), int(group["version"])
    rows = []
    if group.get("entry_question"):
        label = tr.gettext(
            "{number}. ➕ Add as phrasing of «{question}»",
            number=number,
            question=_cut(str(group["entry_question"]), LABEL_CHARS),
        )
        rows.append([_button(label, "kd.add", group_id, version)])
    rows.append(
        [
            _button(
                tr.gettext("{number}. 📝 Draft a new entry", number=number),
                "kd.draft",
                group_id,
                version,
            ),
            _button(
                tr.gettext("{number}. 🙈 Ignore", number=number), "kd.ignore", group_id, version
            ),
        ]
    )
    return rows


def digest_text(groups: Sequence[Mapping[str, Any]], days: int, tr: Translator) -> str:
    """The digest's text: as many example phrasings per group as Telegram's limit allows."""
    head = (
        tr.gettext("<b>Questions the knowledge base could not answer</b>")
        + "\n"
        + tr.gettext(
            "From the last {days} days, the most asked first. Nothing changes until a trainer "
            "taps a button.",
            days=days,
        )
    )
    text = head
    for examples in (3, 1, 0):
        parts = [_group_text(i, g, examples, tr) for i, g in enumerate(groups, start=1)]
        text = "\n\n".join([head, *parts])
        if _fits(text):
            break
    return text


@renders(KIND)
def digest_card(out: Outgoing, tr: Translator) -> Rendered:
    groups = list(out.facts.get("groups") or [])
    text = digest_text(groups, int(out.facts.get("days") or 0), tr)
    rows = [row for i, g in enumerate(groups, start=1) for row in _buttons(i, g, tr)]
    return living_card(out, text, rows)


@renders(EMPTY_KIND)
def nothing_to_review(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "Nothing to review: every question of the last {days} days was answered, or a "
            "trainer has dealt with it.",
            days=int(out.facts.get("days") or 0),
        ),
    )


@renders(DRAFTED_KIND)
def drafted(out: Outgoing, tr: Translator) -> Rendered:
    text = tr.gettext(
        "📝 Draft entry {key} was made from «{question}». Write its answer in the editor, "
        "then publish it.",
        key=html.escape(str(out.facts.get("key", ""))),
        question=html.escape(_cut(str(out.facts.get("question", "")), QUESTION_CHARS)),
    )
    button = _button(tr.gettext("✏️ Open the draft"), "ke.open", int(out.facts["entry_id"]))
    return Rendered("send", text, InlineKeyboardMarkup([[button]]))


# --- answers to a tap (the handler shows them as a toast or an alert) -------------------------
def decided_toast(decided: Decided, tr: Translator) -> str:
    """What the trainer's tap did."""
    if decided.status == ADDED and decided.published_version is None:
        return tr.gettext(
            "It already was a phrasing of entry {key}: nothing to publish.",
            key=decided.entry_key or "",
        )
    if decided.status == ADDED:
        return tr.gettext(
            "Added to entry {key} and published as version {version}.",
            key=decided.entry_key or "",
            version=decided.published_version,
        )
    if decided.status == DRAFTED:
        return tr.gettext("Draft {key} made.", key=decided.entry_key or "")
    return tr.gettext("Ignored.")


def handled_text(exc: DigestHandledError, tr: Translator) -> str:
    """The loser of a race is told who won (or that a newer digest took the group)."""
    if exc.status == REPLACED:
        return tr.gettext(
            "This digest was replaced by a newer one. Send /digest to see the current one."
        )
    if exc.by and isinstance(exc.at, datetime):
        return tr.gettext(
            "Already handled by {name} at {at}.", name=exc.by, at=tr.when(exc.at, "short")
        )
    return tr.gettext("This was already handled.")


def rejected_text(exc: PhrasingRejectedError, tr: Translator) -> str:
    """Why "add as phrasing" changed nothing."""
    message = REJECTIONS.get(
        exc.code,
        N_("The entry would not pass the content checks with this phrasing; nothing was changed."),
    )
    return tr.gettext(message, entry=exc.entry)


def gone_text(tr: Translator) -> str:
    """A group that does not exist (forged data, or a restored database)."""
    return tr.gettext(
        "This item of the digest does not exist. Send /digest to see the current digest."
    )


def no_suggestion_text(tr: Translator) -> str:
    """ "Add" on a group whose entry is not published any more."""
    return tr.gettext(
        "The entry suggested for this question is no longer published. Draft a new entry "
        "instead, or ignore it."
    )


def stale_entry_text(tr: Translator) -> str:
    """The entry changed while the phrasing was being added (nothing was changed)."""
    return tr.gettext("Someone changed this entry at the same moment. Please tap again.")
