"""Renderers for the trainers' tools (#6): home, search results, the entry card, the steps of
creating and editing, versions, import reports, exported files and the glossary."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.faq import glossary as kb_glossary
from bot.faq.content import (
    ERRORS,
    MAX_ATTACHMENT_NAME,
    MAX_ATTACHMENTS,
    MAX_FOLLOW_UPS,
    MAX_TAGS,
    EntryContent,
    Problem,
)
from bot.faq.editor import EXPORT_FORMATS, GLOSSARY, GLOSSARY_FORMATS, PAGE_SIZE, plain
from bot.faq.files import write_file
from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from handlers.callbacks import Press, encode
from handlers.render import Rendered, renders
from handlers.render.people import ITEM_LABELS

CARD_ANSWER = 1500  # characters of the answer shown on a card (the preview shows it whole)
CARD_PHRASINGS = 1200
CARD_TAGS = 300  # characters of the tags shown on a card
SHOWN_RAW = 3000  # an answer longer than this is not repeated under the edit prompt
BUTTON_TEXT = 40

STATUS_LABELS = {
    "published": N_("Published"),
    "draft": N_("Draft, never published"),
    "archived": N_("Archived"),
}
# content.check's problems, said about the one entry being typed (no line numbers).
CHAT_PROBLEMS = {
    "no_words": N_("That has no words to match. Please type it as staff would write it."),
    "same_entry": N_("“{value}” is already a phrasing of this entry."),
    "empty_question": N_("The question is empty."),
    "long_question": N_("A question or phrasing can have at most 300 characters."),
    "too_many_alternatives": N_("An entry can have at most 30 other phrasings."),
    "existing_phrasing": N_(
        "“{value}” already leads to entry {entry}; a question can lead to one entry only."
    ),
    "duplicate_phrasing": N_(
        "“{value}” already leads to entry {entry}; a question can lead to one entry only."
    ),
    "empty_answer": N_("The answer is empty."),
    "long_answer": N_("The answer has {value} characters; Telegram allows 4096 in a message."),
    "bad_html": N_(
        "Telegram would refuse the answer's formatting ({value}). Check that every tag is "
        "closed, and type < and & as &lt; and &amp;."
    ),
    "long_category": N_("A category can have at most 60 characters."),
    "no_tags": N_("That has no tags. Type them separated by commas."),
    "too_many_tags": N_("An entry can have at most {most} tags."),
    "same_follow_up": N_("{entry} is already a follow-up of this entry."),
    "self_follow_up": N_("An entry cannot be its own follow-up."),
    "too_many_follow_ups": N_(
        "An entry can have at most {most} follow-ups. Remove one before adding another."
    ),
    "broken_follow_up": N_("{value} cannot be a follow-up: it is archived or no longer exists."),
    "same_attachment": N_("A document named “{value}” is already attached."),
    "too_many_attachments": N_(
        "An entry can have at most {most} attachments. Remove one before attaching another."
    ),
    "long_file_name": N_(
        "The file name is too long (at most {most} characters). Rename the file and send it again."
    ),
    "bad_file": N_("“{value}” cannot be attached. Please send it again as a document."),
}
# The limit each of those problems names.
PROBLEM_LIMITS = {
    "too_many_tags": MAX_TAGS,
    "too_many_follow_ups": MAX_FOLLOW_UPS,
    "too_many_attachments": MAX_ATTACHMENTS,
    "long_file_name": MAX_ATTACHMENT_NAME,
}
NOTES = {
    "stale": N_(
        "⚠️ This entry was changed after that card was shown, so nothing was done. Here it "
        "is as it is now."
    ),
    "created": N_(
        "✅ New entry saved as a draft. Above is how staff will see the answer. Publish it "
        "now, or keep it as a draft."
    ),
    "saved": N_("✅ Saved as a draft. Staff get the published words until you publish."),
    "published": N_("✅ Published as version {number}. Staff get these words from now on."),
    "rolled_back": N_("✅ Version {old}'s words are published again as version {number}."),
    "archived": N_("🗄 Archived: staff no longer get this entry. You can restore it."),
    "restored": N_("✅ Restored."),
}
# The steps whose changes are saved one by one: they end with Done, not Cancel.
DONE_STEPS = frozenset({"follow_ups", "follow_up_results", "attachments"})
STEP_NOTES = {
    "added": N_("✅ Added {name}. Saved as a draft."),
    "removed": N_("✅ Removed {name}. Saved as a draft."),
}
NOTICES = {
    "stale_list": N_("This list is out of date. Please search again."),
    "stale_step": N_("This button belongs to a step that is no longer open. Nothing was changed."),
    "cancelled": N_("Stopped. Nothing was changed."),
    "kept_draft": N_(
        "{key} is kept as a draft. Staff will not see it until it is published; you find it "
        "under Drafts."
    ),
    "nothing_to_publish": N_(
        "There is nothing to publish: staff already get this entry's latest words."
    ),
    "cannot_publish": N_("This draft cannot be published yet:"),
    "cannot_restore": N_("This entry cannot be restored as it is:"),
    "cannot_preview": N_("The answer cannot be shown:"),
    "no_phrasings": N_("This entry has no other phrasings to remove."),
    "send_file": N_("Please send the file as a document (the 📎 button), or tap Cancel."),
    "send_document": N_(
        "Please send what staff should get as a document (📎, then File), or tap Finished."
    ),
    "import_cancelled": N_("The uploaded file was discarded; nothing changed."),
    "same_version": N_("Version {version} is the one staff get now."),
    "has_followers": N_(
        "Entries {keys} offer this entry as a follow-up. Remove it from their follow-ups "
        "first (export the file, edit the follow_ups column, import it)."
    ),
}
FILE_ERRORS = {
    "unsupported_format": N_("Please send the knowledge base as an .xlsx, .csv or .yaml file."),
    "too_large": N_("The file is too large (at most 10 MB)."),
    "unreadable": N_("The file could not be read. Is it a valid XLSX, CSV or YAML file?"),
    "missing_columns": N_("The file lacks required columns: {reason}."),
    "duplicate_columns": N_("These columns appear more than once: {reason}."),
    "empty": N_("The file has no entries."),
}
GLOSSARY_FILE_ERRORS = {
    "unsupported_format": N_("Please send the glossary as an .xlsx or .csv file."),
    "too_large": N_("The file is too large (at most 2 MB and 5,000 rows)."),
    "unreadable": N_("The file could not be read. Is it a valid XLSX or CSV file?"),
    "empty": N_("The file has no synonym groups."),
}
NOTE_LABELS = {"import": N_("from a file"), "chat": N_("in chat")}
_ROLLBACK_NOTE = re.compile(r"rollback to v([0-9]+)")


def file_error_text(reason: str, tr: Translator, *, kind: str = "entries") -> str:
    """The message for an ImportFileError reason of a knowledge-base or glossary file."""
    code, _, detail = reason.partition(":")
    table = GLOSSARY_FILE_ERRORS if kind == GLOSSARY else FILE_ERRORS
    template = table.get(code, table["unreadable"])
    return tr.gettext(template, reason=html.escape(detail.replace(",", ", ")))


def _button(label: str, action: str, obj: int = 0, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj, version)))


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rows(buttons: Sequence[InlineKeyboardButton], per_row: int = 2) -> list[list[Any]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def _home_button(tr: Translator) -> InlineKeyboardButton:
    return _button(tr.gettext("🏠 Knowledge base"), "ke.home")


def _cancel(tr: Translator, entry_id: int = 0) -> InlineKeyboardButton:
    return _button(tr.gettext("Cancel"), "ke.quit", entry_id)


def problem_text(problem: Mapping[str, Any], tr: Translator) -> str:
    """One problem with the entry being typed, in the trainer's language (HTML-escaped)."""
    code = str(problem.get("code", ""))
    value, entry = str(problem.get("value", "")), str(problem.get("entry", ""))
    if code in CHAT_PROBLEMS:
        text = tr.gettext(
            CHAT_PROBLEMS[code],
            value=_short(value, 80),
            entry=entry,
            most=PROBLEM_LIMITS.get(code),
        )
        return html.escape(text)
    if code in ERRORS:
        return html.escape(Problem(1, code, value, entry=entry).message(tr.gettext))
    return html.escape(code)


def _problem_lines(problems: Sequence[Mapping[str, Any]], tr: Translator) -> list[str]:
    return ["• " + problem_text(p, tr) for p in problems]


def _formatting(tr: Translator) -> str:
    example = '<b>…</b> <i>…</i> <u>…</u> <code>…</code> <a href="https://…">…</a>'
    return tr.gettext(
        "You can format it by typing Telegram's HTML tags: {example}",
        example="<code>" + html.escape(example) + "</code>",
    )


# --- home, lists -------------------------------------------------------------------------------
@renders("faq_trainer.home")
def home(out: Outgoing, tr: Translator) -> Rendered:
    """The trainer's start card."""
    f = out.facts
    lines = [
        "<b>" + html.escape(tr.gettext(ITEM_LABELS["trainer"])) + "</b>",
        tr.gettext(
            "Entries: {published} published, {drafts} not yet published, {archived} archived.",
            published=int(f.get("published", 0)),
            drafts=int(f.get("drafts", 0)),
            archived=int(f.get("archived", 0)),
        ),
        tr.gettext("Drafts waiting to be published: {n}", n=int(f.get("pending", 0))),
        tr.gettext("Trainers' glossary: {n} synonym groups", n=int(f.get("glossary", 0))),
        "",
        tr.gettext("Nothing reaches staff until it is published; every change is recorded."),
    ]
    buttons = [
        _button(tr.gettext("🔎 Search"), "ke.find"),
        _button(tr.gettext("➕ New entry"), "ke.new"),
        _button(tr.gettext("📝 Drafts"), "ke.list", 0, 1),
        _button(tr.gettext("📥 Import a file"), "ke.imp", 0, 0),
    ]
    exports = [
        _button(tr.gettext("📤 Export {format}", format=fmt.upper()), "ke.exp", 0, i)
        for i, fmt in enumerate(EXPORT_FORMATS)
    ]
    more = [
        _button(tr.gettext("📖 Glossary"), "ke.gloss"),
        _button(tr.gettext("🗄 Archived"), "ke.list", 0, 2),
    ]
    keyboard = [*_rows(buttons), exports, more]
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(keyboard))


def _mark(status: str, has_draft: bool) -> str:
    if status == "archived":
        return "🗄"
    if status == "draft":
        return "🆕"
    return "✏️" if has_draft else "📄"


@renders("faq_trainer.results")
def results(out: Outgoing, tr: Translator) -> Rendered:
    """A page of search results (or of drafts, or of archived entries), one button each."""
    f = out.facts
    mode = str(f.get("mode", "search"))
    total, page, pages = int(f.get("total", 0)), int(f.get("page", 0)), int(f.get("pages", 1))
    query = html.escape(_short(str(f.get("query", "")), 60))
    if mode == "drafts":
        head = tr.gettext("<b>Drafts waiting to be published</b>: {n}", n=total)
        empty = tr.gettext("No drafts are waiting.")
    elif mode == "archived":
        head = tr.gettext("<b>Archived entries</b>: {n}", n=total)
        empty = tr.gettext("No entry is archived.")
    else:
        head = tr.gettext("<b>Search “{query}”</b>: {n} found", query=query, n=total)
        empty = tr.gettext("Nothing found. Try other words, or create a new entry.")
    lines = [head]
    buttons = []
    items = f.get("items", [])
    first = page * PAGE_SIZE
    for i, (entry_id, key, question, status, has_draft) in enumerate(items, start=first + 1):
        mark = _mark(str(status), bool(has_draft))
        lines.append(
            f"{i}. {mark} {html.escape(_short(str(question), 80))} "
            f"<code>{html.escape(str(key))}</code>"
        )
        buttons.append(
            [
                _button(
                    f"{i}. {mark} {_short(str(question), BUTTON_TEXT)}", "ke.open", int(entry_id)
                )
            ]
        )
    if not items:
        lines.append(empty)
    elif pages > 1:
        lines.append(tr.gettext("Page {page} of {pages}", page=page + 1, pages=pages))
    nav = []
    version = int(f.get("flow_version", 0))
    if page > 0:
        nav.append(_button(tr.gettext("◀️ Previous"), "ke.page", version, page - 1))
    if page + 1 < pages:
        nav.append(_button(tr.gettext("Next ▶️"), "ke.page", version, page + 1))
    if nav:
        buttons.append(nav)
    tail = [_button(tr.gettext("🔎 Search"), "ke.find"), _home_button(tr)]
    if mode == "search" and not items:
        tail.insert(1, _button(tr.gettext("➕ New entry"), "ke.new"))
    buttons.append(tail)
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(buttons))


# --- the entry card ------------------------------------------------------------------------------
def _answer_block(f: Mapping[str, Any]) -> str:
    answer = str(f.get("answer", ""))
    if f.get("answer_ok") and len(answer) <= CARD_ANSWER:
        return answer  # checked: Telegram accepts it as it is
    return html.escape(_short(plain(answer), CARD_ANSWER))


def _phrasing_lines(alternatives: Sequence[str], tr: Translator) -> list[str]:
    lines: list[str] = []
    used = 0
    for i, phrasing in enumerate(alternatives):
        line = "• " + html.escape(str(phrasing))
        if used + len(line) > CARD_PHRASINGS:
            lines.append(tr.ngettext("… and {n} more.", "… and {n} more.", len(alternatives) - i))
            break
        lines.append(line)
        used += len(line)
    return lines


def _follow_up_pairs(f: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, question) of each follow-up; a card queued before questions were listed has the
    keys only."""
    asked = {str(k): str(q) for k, q in f.get("follow_up_questions") or ()}
    return [(str(key), asked.get(str(key), "")) for key in f.get("follow_ups") or ()]


def _follow_up_line(key: str, question: str) -> str:
    code = f"<code>{html.escape(key)}</code>"
    return f"{html.escape(_short(question, 80))} {code}" if question else code


@renders("faq_trainer.card")
def card(out: Outgoing, tr: Translator) -> Rendered:
    """One entry: its words, where it stands, and the buttons to change it."""
    f = out.facts
    entry_id, revision = int(f["entry_id"]), int(f["revision"])
    status = str(f.get("status", "draft"))
    note = str(f.get("note", ""))
    lines: list[str] = []
    if note in NOTES:
        lines += [tr.gettext(NOTES[note], number=f.get("number", ""), old=f.get("old", "")), ""]
    state = tr.gettext(STATUS_LABELS.get(status, STATUS_LABELS["draft"]))
    if f.get("published_version") and status != "draft":
        state += " · " + tr.gettext("version {n}", n=int(f["published_version"]))
    if f.get("has_draft") and status != "draft":
        state += " · " + tr.gettext("✏️ a draft is waiting to be published")
    lines.append(f"<b>📄 {html.escape(str(f.get('key', '')))}</b>")
    lines.append(html.escape(state))
    lines.append("")
    lines.append(
        tr.gettext("<b>Question:</b> {question}", question=html.escape(str(f["question"])))
    )
    alternatives = [str(a) for a in f.get("alternatives", [])]
    if alternatives:
        lines.append(tr.gettext("<b>Other phrasings ({n}):</b>", n=len(alternatives)))
        lines += _phrasing_lines(alternatives, tr)
    else:
        lines.append(tr.gettext("<b>Other phrasings:</b> none yet"))
    category = str(f.get("category") or "") or "—"
    lines.append(tr.gettext("<b>Category:</b> {category}", category=html.escape(category)))
    if f.get("tags"):
        tags = _short("｜".join(str(t) for t in f["tags"]), CARD_TAGS)
        lines.append(tr.gettext("<b>Tags:</b> {tags}", tags=html.escape(tags)))
    follow_ups = _follow_up_pairs(f)
    if follow_ups:
        lines.append(tr.gettext("<b>Follow-ups ({n}):</b>", n=len(follow_ups)))
        lines += ["• " + _follow_up_line(key, question) for key, question in follow_ups]
    attachments = [str(a) for a in f.get("attachments") or ()]
    if attachments:
        lines.append(tr.gettext("<b>Attachments ({n}):</b>", n=len(attachments)))
        lines += ["📎 " + html.escape(name) for name in attachments]
    lines += ["", tr.gettext("<b>Answer:</b>"), _answer_block(f)]
    buttons: list[InlineKeyboardButton]
    if status == "archived":
        buttons = [
            _button(tr.gettext("♻️ Restore"), "ke.unarch", entry_id, revision),
            _button(tr.gettext("👁 Preview"), "ke.view", entry_id),
            _button(tr.gettext("🕘 Versions"), "ke.vers", entry_id),
        ]
    else:
        buttons = [
            _button(tr.gettext("✏️ Question"), "ke.editq", entry_id, revision),
            _button(tr.gettext("✏️ Answer"), "ke.editans", entry_id, revision),
            _button(tr.gettext("➕ Phrasing"), "ke.addalt", entry_id, revision),
        ]
        if alternatives:
            buttons.append(_button(tr.gettext("➖ Phrasing"), "ke.delalt", entry_id, revision))
        buttons += [
            _button(tr.gettext("🏷 Category"), "ke.editcat", entry_id, revision),
            _button(tr.gettext("🔖 Tags"), "ke.tags", entry_id, revision),
            _button(tr.gettext("🔗 Follow-ups"), "ke.fups", entry_id, revision),
            _button(tr.gettext("📎 Attachments"), "ke.files", entry_id, revision),
            _button(tr.gettext("👁 Preview"), "ke.view", entry_id),
        ]
        if f.get("has_draft"):
            buttons.append(_button(tr.gettext("🚀 Publish"), "ke.pub", entry_id, revision))
        if note == "created":
            buttons.append(_button(tr.gettext("📝 Keep as draft"), "ke.keep", entry_id))
        if f.get("published_version"):
            buttons.append(_button(tr.gettext("🕘 Versions"), "ke.vers", entry_id))
        buttons.append(_button(tr.gettext("🗄 Archive"), "ke.arch", entry_id, revision))
    keyboard = [*_rows(buttons), [_home_button(tr)]]
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(keyboard))


def _note_label(note: str, tr: Translator) -> str:
    match = _ROLLBACK_NOTE.fullmatch(note)
    if match is not None:
        return tr.gettext("rolled back to v{n}", n=int(match[1]))
    if note in NOTE_LABELS:
        return tr.gettext(NOTE_LABELS[note])
    return html.escape(note)


@renders("faq_trainer.versions")
def versions(out: Outgoing, tr: Translator) -> Rendered:
    """The published versions, newest first, each with its rollback button."""
    f = out.facts
    entry_id = int(f["entry_id"])
    current = f.get("published_version")
    lines = [tr.gettext("<b>Versions of {key}</b>", key=html.escape(str(f.get("key", ""))))]
    buttons = []
    history = f.get("versions", [])
    if not history:
        lines.append(tr.gettext("Not published yet."))
    for number, at, name, note, question in history:
        parts = [f"v{int(number)}", tr.when(datetime.fromisoformat(str(at)), "short")]
        if name:
            parts.append(html.escape(str(name)))
        if note:
            parts.append(_note_label(str(note), tr))
        mark = " ✅" if number == current and f.get("status") == "published" else ""
        lines.append(" · ".join(parts) + mark)
        lines.append("   " + html.escape(_short(str(question), 80)))
        if number != current and f.get("status") != "archived":
            label = tr.gettext("↩️ Roll back to v{n}", n=int(number))
            buttons.append(_button(label, "ke.rb", entry_id, int(number)))
    if int(f.get("total", 0)) > len(history):
        lines.append(tr.gettext("Only the latest {n} versions are shown.", n=len(history)))
    keyboard = _rows(buttons)
    keyboard.append([_button(tr.gettext("⬅️ Back to the entry"), "ke.open", entry_id)])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(keyboard))


@renders("faq_trainer.confirm")
def confirm(out: Outgoing, tr: Translator) -> Rendered:
    """Asked before a rollback or an archive: both change what staff get at once."""
    f = out.facts
    entry_id = int(f["entry_id"])
    key = html.escape(str(f.get("key", "")))
    question = html.escape(_short(str(f.get("question", "")), 200))
    if f.get("what") == "archive":
        text = tr.gettext(
            "Archive <b>{key}</b> ({question})? Staff will no longer get this answer. Its "
            "history is kept and it can be restored.",
            key=key,
            question=question,
        )
        ok = _button(tr.gettext("🗄 Archive"), "ke.arok", entry_id)
    else:
        version = int(f["version"])
        text = tr.gettext(
            "Publish the words of version {version} of <b>{key}</b> again, as a new version? "
            "Staff get them at once.\nQuestion in version {version}: {question}",
            version=version,
            key=key,
            question=question,
        )
        if f.get("has_draft"):
            text += "\n\n" + tr.gettext("⚠️ The draft waiting to be published will be replaced.")
        ok = _button(tr.gettext("↩️ Roll back"), "ke.rbok", entry_id, version)
    return Rendered("send", text, InlineKeyboardMarkup([[ok, _cancel(tr, entry_id)]]))


# --- steps ---------------------------------------------------------------------------------------
def _category_buttons(
    f: Mapping[str, Any], tr: Translator, entry_id: int
) -> list[list[InlineKeyboardButton]]:
    choices = [str(c) for c in f.get("categories", [])]
    buttons = [
        _button(_short(name, BUTTON_TEXT), "ke.cat", entry_id, i + 1)
        for i, name in enumerate(choices)
    ]
    buttons.append(_button(tr.gettext("No category"), "ke.cat", entry_id, 0))
    return _rows(buttons)


@renders("faq_trainer.ask")
def ask(out: Outgoing, tr: Translator) -> Rendered:
    """The prompt of a step, with the problem of the last answer if it was refused."""
    f = out.facts
    step = str(f.get("step", ""))
    entry_id = int(f.get("entry_id") or 0)
    key = html.escape(str(f.get("key", "")))
    current = str(f.get("current", ""))
    lines: list[str] = []
    if f.get("problem"):
        lines += ["⚠️ " + problem_text(f["problem"], tr), ""]
    rows: list[list[InlineKeyboardButton]] = []
    if step == "search":
        lines.append(
            tr.gettext(
                "🔎 Type words to search for: part of a question, a phrasing, an answer, a "
                "category or an entry's id."
            )
        )
    elif step == "new_question":
        lines.append(tr.gettext("➕ <b>New entry</b> (step 1 of 4)"))
        lines.append(tr.gettext("Type the question as staff would ask it."))
    elif step == "new_phrasings":
        lines.append(tr.gettext("➕ <b>New entry</b> (step 2 of 4)"))
        lines.append(
            tr.gettext(
                "Send other ways staff ask the same thing, one per message; real questions "
                "from staff are best. Tap Done when there are no more."
            )
        )
        lines.append(tr.gettext("Phrasings so far: {n}", n=int(f.get("count", 0))))
        rows.append([_button(tr.gettext("✅ Finished"), "ke.done")])
    elif step == "new_answer":
        lines.append(tr.gettext("➕ <b>New entry</b> (step 3 of 4)"))
        lines.append(tr.gettext("Type the answer staff should get."))
        lines.append(_formatting(tr))
    elif step == "new_category":
        lines.append(tr.gettext("➕ <b>New entry</b> (step 4 of 4)"))
        lines.append(tr.gettext("Choose a category, or type a new one."))
        rows += _category_buttons(f, tr, 0)
    elif step == "edit_question":
        lines.append(tr.gettext("✏️ Type the new question for <b>{key}</b>.", key=key))
        lines.append(tr.gettext("Now: {current}", current=html.escape(current)))
    elif step == "edit_phrasing":
        lines.append(
            tr.gettext(
                "➕ Type another way staff ask <b>{key}</b>; paste a real question from staff "
                "if you have one.",
                key=key,
            )
        )
    elif step == "edit_answer":
        lines.append(tr.gettext("✏️ Type the new answer for <b>{key}</b>.", key=key))
        lines.append(_formatting(tr))
        if current and len(current) <= SHOWN_RAW:
            lines.append(tr.gettext("The answer now, to copy and change:"))
            lines.append("<code>" + html.escape(current) + "</code>")
    elif step == "edit_category":
        lines.append(
            tr.gettext(
                "🏷 Choose the category of <b>{key}</b>, or type a new one. Now: {current}",
                key=key,
                current=html.escape(current or "—"),
            )
        )
        rows += _category_buttons(f, tr, entry_id)
    elif step == "edit_tags":
        lines.append(
            tr.gettext(
                "🔖 Type the tags of <b>{key}</b>, separated by commas (or 、 or ｜, or one per "
                "line). They replace the tags it has; at most {most}.",
                key=key,
                most=MAX_TAGS,
            )
        )
        lines.append(tr.gettext("Now: {current}", current=html.escape(current or "—")))
        if current:
            rows.append([_button(tr.gettext("🗑 Remove all tags"), "ke.notags", entry_id)])
    elif step == "follow_ups":
        lines += _follow_ups_step(f, tr, key, rows)
    elif step == "follow_up_results":
        lines += _follow_up_results(f, tr, key, rows)
    elif step == "attachments":
        lines += _attachments_step(f, tr, key, rows)
    elif step == "remove_phrasing":
        lines.append(tr.gettext("➖ Which phrasing of <b>{key}</b> should go?", key=key))
        rows += [
            [_button("➖ " + _short(str(p), BUTTON_TEXT), "ke.rmalt", entry_id, i + 1)]
            for i, p in enumerate(f.get("phrasings", []))
        ]
    elif step == "import_file":
        lines.append(
            tr.gettext(
                "📥 Send the knowledge-base file as a document: XLSX, CSV or YAML, with the "
                "columns of an export. It is checked first; nothing changes until you confirm."
            )
        )
    elif step == "glossary_file":
        lines.append(
            tr.gettext(
                "📥 Send the glossary as an XLSX or CSV document: one synonym group per row, "
                "the canonical term first, then its synonyms and English terms. It is checked "
                "first; nothing changes until you confirm."
            )
        )
    if step in DONE_STEPS:  # every change there is saved at once: nothing to cancel
        rows.append([_button(tr.gettext("✅ Finished"), "ke.quit", entry_id)])
    else:
        rows.append([_cancel(tr, entry_id)])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows))


def _saved_note(f: Mapping[str, Any], tr: Translator) -> list[str]:
    note = str(f.get("note", ""))
    if note not in STEP_NOTES:
        return []
    name = html.escape(_short(str(f.get("name", "")), 80))
    return [tr.gettext(STEP_NOTES[note], name=name), ""]


def _follow_ups_step(
    f: Mapping[str, Any], tr: Translator, key: str, rows: list[list[InlineKeyboardButton]]
) -> list[str]:
    """The follow-ups step: what the entry offers now, a remove button each, how to add."""
    lines = _saved_note(f, tr)
    lines.append(
        tr.gettext(
            "🔗 <b>Follow-ups of {key}</b>: under the answer, staff get a button for each "
            "published one, at most {most}.",
            key=key,
            most=MAX_FOLLOW_UPS,
        )
    )
    version = int(f.get("flow_version") or 0)
    follow_ups = [(str(k), str(q)) for k, q in f.get("follow_ups") or ()]
    for i, (other, question) in enumerate(follow_ups, start=1):
        lines.append(f"{i}. " + _follow_up_line(other, question))
        label = "➖ " + _short(question or other, BUTTON_TEXT)
        rows.append([_button(label, "ke.furm", version, i)])
    if not follow_ups:
        lines.append(tr.gettext("No follow-ups yet."))
    lines += ["", tr.gettext("To add one, type words to search for the entry.")]
    return lines


def _follow_up_results(
    f: Mapping[str, Any], tr: Translator, key: str, rows: list[list[InlineKeyboardButton]]
) -> list[str]:
    """Entries found for a follow-up: tapping one adds it."""
    total = int(f.get("total", 0))
    query = html.escape(_short(str(f.get("query", "")), 60))
    lines = [tr.gettext("<b>Search “{query}”</b>: {n} found", query=query, n=total)]
    entry_id = int(f.get("entry_id") or 0)
    items = f.get("items") or []
    for i, (other_id, other, question, status, has_draft) in enumerate(items, start=1):
        mark = _mark(str(status), bool(has_draft))
        lines.append(
            f"{i}. {mark} {html.escape(_short(str(question), 80))} "
            f"<code>{html.escape(str(other))}</code>"
        )
        label = f"➕ {i}. {_short(str(question), BUTTON_TEXT)}"
        rows.append([_button(label, "ke.fuadd", entry_id, int(other_id))])
    if not items:
        lines.append(tr.gettext("Nothing found. Type other words."))
    else:
        lines.append(tr.gettext("Tap an entry to add it as a follow-up of <b>{key}</b>.", key=key))
        if total > len(items):
            lines.append(
                tr.gettext(
                    "Only the best {shown} are shown; type more words to narrow the search.",
                    shown=len(items),
                )
            )
    return lines


def _attachments_step(
    f: Mapping[str, Any], tr: Translator, key: str, rows: list[list[InlineKeyboardButton]]
) -> list[str]:
    """The attachments step: the documents attached, a remove button each, how to add."""
    lines = _saved_note(f, tr)
    lines.append(
        tr.gettext(
            "📎 <b>Attachments of {key}</b>: staff get these documents after the answer, at "
            "most {most}. Send a document (📎, then File) to attach it; you can send several.",
            key=key,
            most=MAX_ATTACHMENTS,
        )
    )
    version = int(f.get("flow_version") or 0)
    names = [str(n) for n in f.get("attachments") or ()]
    for i, name in enumerate(names, start=1):
        lines.append(f"{i}. 📎 {html.escape(name)}")
        rows.append([_button("➖ " + _short(name, BUTTON_TEXT), "ke.rmfile", version, i)])
    if not names:
        lines.append(tr.gettext("No attachments yet."))
    return lines


@renders("faq_trainer.notice")
def notice(out: Outgoing, tr: Translator) -> Rendered:
    """A short answer: a step that is gone, something refused, a confirmation."""
    f = out.facts
    code = str(f.get("code", "cancelled"))
    template = NOTICES.get(code, NOTICES["stale_step"])
    keys = ", ".join(str(k) for k in f.get("keys", []))
    lines = [
        tr.gettext(
            template,
            key=html.escape(str(f.get("key", ""))),
            version=f.get("version", ""),
            keys=html.escape(keys),
        )
    ]
    lines += _problem_lines(f.get("problems", []), tr)
    markup = None
    if code == "send_file":
        markup = InlineKeyboardMarkup([[_cancel(tr)]])
    elif code == "send_document":
        done = _button(tr.gettext("✅ Finished"), "ke.quit", int(f.get("entry_id") or 0))
        markup = InlineKeyboardMarkup([[done]])
    elif code in ("cancelled", "kept_draft", "stale_list", "import_cancelled"):
        markup = InlineKeyboardMarkup([[_home_button(tr)]])
    return Rendered("send", "\n".join(lines), markup)


# --- files ---------------------------------------------------------------------------------------
def _problem_report(f: Mapping[str, Any], tr: Translator) -> list[str]:
    count = int(f.get("problem_count", 0))
    if not count:
        return []
    lines = ["", tr.ngettext("{n} problem:", "{n} problems:", count)]
    for line, code, value, other, entry in f.get("problems", []):
        if str(code) not in (kb_glossary.ERRORS if f.get("kind") == GLOSSARY else ERRORS):
            text = f"{line}: {code}"  # a problem this version has no words for
        elif f.get("kind") == GLOSSARY:
            found = kb_glossary.GlossaryProblem(int(line), str(code), str(value), int(other))
            text = found.message(tr.gettext)
        else:
            text = Problem(int(line), str(code), str(value), int(other), str(entry)).message(
                tr.gettext
            )
        lines.append("• " + html.escape(text))
    hidden = count - len(f.get("problems", []))
    if hidden > 0:
        lines.append(tr.ngettext("… and {n} more.", "… and {n} more.", hidden))
    return lines


@renders("faq_trainer.import_report")
def import_report(out: Outgoing, tr: Translator) -> Rendered:
    """What an uploaded file would change and every problem in it, before anything changes."""
    f = out.facts
    glossary = f.get("kind") == GLOSSARY
    lines = [tr.gettext("<b>Check of {file}</b>", file=html.escape(str(f.get("filename", ""))))]
    if glossary:
        lines.append(
            tr.gettext(
                "{total} synonym groups: {new} new, {changed} changed, {removed} removed, "
                "{unchanged} unchanged",
                total=f.get("total", 0),
                new=f.get("new", 0),
                changed=f.get("changed", 0),
                removed=f.get("removed", 0),
                unchanged=f.get("unchanged", 0),
            )
        )
    else:
        lines.append(
            tr.gettext(
                "{entries} entries: {new} new, {changed} changed, {unchanged} unchanged",
                entries=f.get("total", 0),
                new=f.get("new", 0),
                changed=f.get("changed", 0),
                unchanged=f.get("unchanged", 0),
            )
        )
        for label, keys, n in (
            (N_("New: {keys}"), f.get("new_keys", []), int(f.get("new", 0))),
            (N_("Changed: {keys}"), f.get("changed_keys", []), int(f.get("changed", 0))),
        ):
            if keys:
                shown = ", ".join(str(k) for k in keys) + (" …" if n > len(keys) else "")
                lines.append(tr.gettext(label, keys=html.escape(shown)))
    lines += _problem_report(f, tr)
    lines.append("")
    version = int(f.get("flow_version", 0))
    rows: list[list[InlineKeyboardButton]] = []
    if not f.get("ok"):
        lines.append(
            tr.gettext("Nothing was changed. Fix the lines above and send the file again.")
        )
        rows.append([_button(tr.gettext("Cancel"), "ke.imno", version)])
    elif not f.get("applicable"):
        if glossary:
            lines.append(tr.gettext("The file matches the glossary: there is nothing to change."))
        else:
            lines.append(
                tr.gettext("The file matches the knowledge base: there is nothing to change.")
            )
        rows.append([_home_button(tr)])
    elif glossary:
        lines.append(
            tr.gettext(
                "Nothing has changed yet. Importing replaces the trainers' glossary with this "
                "file."
            )
        )
        rows.append(
            [
                _button(tr.gettext("✅ Replace the glossary"), "ke.imok", version),
                _button(tr.gettext("Cancel"), "ke.imno", version),
            ]
        )
    else:
        lines.append(
            tr.gettext(
                "Nothing has changed yet. Publish everything now, or save it as drafts to "
                "check and publish entry by entry."
            )
        )
        rows.append(
            [
                _button(tr.gettext("🚀 Publish all"), "ke.imok", version),
                _button(tr.gettext("📝 Save as drafts"), "ke.imdr", version),
            ]
        )
        rows.append([_button(tr.gettext("Cancel"), "ke.imno", version)])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows))


@renders("faq_trainer.imported")
def imported(out: Outgoing, tr: Translator) -> Rendered:
    """What an applied import did."""
    f = out.facts
    name = html.escape(str(f.get("filename", "")))
    if f.get("kind") == GLOSSARY:
        text = tr.gettext(
            "✅ {file}: the trainers' glossary now has {groups} synonym groups ({new} new, "
            "{changed} changed, {removed} removed).",
            file=name,
            groups=f.get("groups", 0),
            new=f.get("new", 0),
            changed=f.get("changed", 0),
            removed=f.get("removed", 0),
        )
        return Rendered("send", text, InlineKeyboardMarkup([[_home_button(tr)]]))
    if int(f.get("published", 0)):
        text = tr.ngettext(
            "✅ {file}: {n} entry published ({new} new, {changed} changed); {unchanged} "
            "unchanged. Staff get it from now on.",
            "✅ {file}: {n} entries published ({new} new, {changed} changed); {unchanged} "
            "unchanged. Staff get them from now on.",
            int(f.get("published", 0)),
            file=name,
            new=f.get("new", 0),
            changed=f.get("changed", 0),
            unchanged=f.get("unchanged", 0),
        )
    else:
        text = tr.ngettext(
            "✅ {file}: {n} entry saved as a draft ({new} new, {changed} changed). Staff do "
            "not see it until it is published; you find it under Drafts.",
            "✅ {file}: {n} entries saved as drafts ({new} new, {changed} changed). Staff do "
            "not see them until they are published; you find them under Drafts.",
            int(f.get("drafted", 0)),
            file=name,
            new=f.get("new", 0),
            changed=f.get("changed", 0),
        )
    keyboard = [[_button(tr.gettext("📝 Drafts"), "ke.list", 0, 1), _home_button(tr)]]
    return Rendered("send", text, InlineKeyboardMarkup(keyboard))


@renders("faq_trainer.file_error")
def file_error(out: Outgoing, tr: Translator) -> Rendered:
    """A file that cannot be read at all; nothing changed."""
    f = out.facts
    text = file_error_text(str(f.get("reason", "unreadable")), tr, kind=str(f.get("kind", "")))
    text += "\n" + tr.gettext("Nothing was changed.")
    return Rendered("send", text, InlineKeyboardMarkup([[_cancel(tr)]]))


def _day(out: Outgoing, tr: Translator) -> str:
    at = out.facts.get("at")
    if not at:
        return ""
    return datetime.fromisoformat(str(at)).astimezone(tr.tz).date().isoformat()


@renders("faq_trainer.export", offload=True)
def export_file(out: Outgoing, tr: Translator) -> Rendered:
    """The knowledge base as an XLSX, CSV or YAML document."""
    f = out.facts
    fmt = str(f.get("format", "xlsx"))
    if fmt not in EXPORT_FORMATS:
        fmt = "xlsx"
    entries = [EntryContent.from_json(e) for e in f.get("entries", [])]
    data = write_file(entries, fmt, title=tr.gettext("Knowledge base")[:31])
    total = int(f.get("total", len(entries)))
    caption = tr.gettext(
        "Knowledge base: {n} entries. Where a draft waits, the file has the draft's words. "
        "Edit the file and send it back to import your changes.",
        n=total,
    )
    if total > len(entries):
        caption += "\n" + tr.gettext(
            "Only the first {shown} are in this file; run <code>govbot faq export</code> on "
            "the server for all of them.",
            shown=len(entries),
        )
    stem = "knowledge-base" if tr.locale == "en" else "知识库"
    name = f"{stem}-{_day(out, tr)}.{fmt}"
    return Rendered("document", caption, file_bytes=data, file_name=name)


# --- the glossary ------------------------------------------------------------------------------
@renders("faq_trainer.glossary")
def glossary(out: Outgoing, tr: Translator) -> Rendered:
    """The trainers' glossary: its size, its first groups, export and import."""
    f = out.facts
    lines = [
        tr.gettext("<b>📖 Glossary</b>"),
        tr.gettext(
            "Synonym groups edited by trainers: {n}. Staff questions and entries are matched "
            "through them, together with the office glossary shipped with the assistant; a "
            "trainers' group wins a term both define.",
            n=int(f.get("total", 0)),
        ),
    ]
    groups = f.get("groups", [])
    if groups:
        lines.append("")
        for group in groups:
            terms = [html.escape(str(t)) for t in group]
            head = f"• <b>{terms[0]}</b>"
            lines.append(head + " = " + ", ".join(terms[1:]) if len(terms) > 1 else head)
        if int(f.get("total", 0)) > len(groups):
            lines.append(
                tr.ngettext("… and {n} more.", "… and {n} more.", int(f["total"]) - len(groups))
            )
    buttons = [
        _button(tr.gettext("📤 Export {format}", format=fmt.upper()), "ke.gexp", 0, i)
        for i, fmt in enumerate(GLOSSARY_FORMATS)
    ]
    keyboard = [
        buttons,
        [_button(tr.gettext("📥 Import a glossary file"), "ke.imp", 0, 1)],
        [_home_button(tr)],
    ]
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(keyboard))


@renders("faq_trainer.glossary_file", offload=True)
def glossary_file(out: Outgoing, tr: Translator) -> Rendered:
    """The trainers' glossary as an XLSX or CSV document."""
    f = out.facts
    fmt = str(f.get("format", "xlsx"))
    if fmt not in GLOSSARY_FORMATS:
        fmt = "xlsx"
    groups = [[str(t) for t in g] for g in f.get("groups", [])]
    data = kb_glossary.write_glossary(groups, fmt)
    caption = tr.gettext(
        "Glossary: {n} synonym groups. One group per row, the canonical term first. Edit it "
        "and send it back with “Import a glossary file”.",
        n=len(groups),
    )
    stem = "glossary" if tr.locale == "en" else "术语表"
    return Rendered(
        "document", caption, file_bytes=data, file_name=f"{stem}-{_day(out, tr)}.{fmt}"
    )
