"""Renderers for registration, the menu, language, help and errors."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, SUPPORTED, Translator
from bot.menu import MENU_KEYS
from bot.messaging.outgoing import Outgoing
from handlers.callbacks import Press, encode
from handlers.errors import GENERIC, MESSAGES_BY_CODE
from handlers.render import Rendered, Renderer, renders

ITEM_LABELS = {
    "approvals": N_("📝 Approvals"),
    "knowledge": N_("📚 Ask a question"),
    "support": N_("🛟 Contact support"),
    "surveys": N_("📋 Surveys and training"),
    "quizzes": N_("🛡 Security quizzes"),
    "courses": N_("🎓 My courses"),
    "announce": N_("📢 Send an announcement"),
    "desk": N_("🎧 Support desk"),
    "trainer": N_("🧑‍🏫 Knowledge base editing"),
    "rollout": N_("📈 Rollout and reports"),
    "admin": N_("⚙️ Administration"),
    "language": N_("🌐 Language / 语言"),
    "help": N_("❓ Help"),
}
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


def menu_keyboard(items: list[str], tr: Translator) -> InlineKeyboardMarkup:
    """Two buttons a row, in menu order; the data is the item's index, nothing else."""
    buttons = [
        InlineKeyboardButton(
            tr.gettext(ITEM_LABELS[key]),
            callback_data=encode(Press("mn.open", MENU_KEYS.index(key))),
        )
        for key in items
        if key in ITEM_LABELS
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def _name(out: Outgoing) -> str:
    return html.escape(str(out.facts.get("name", "")))


def _items(out: Outgoing) -> list[str]:
    return [str(i) for i in out.facts.get("items", [])]


@renders("people.not_registered")
def not_registered(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "Hello! This is the GovOffice Assistant, for registered government staff only.\n\n"
            "To use it, ask your administrator for a personal invite link and open it on this "
            "phone."
        ),
    )


def _notice(code: str) -> Renderer:
    """A reply that is exactly the error table's message for ``code``."""

    def render(out: Outgoing, tr: Translator) -> Rendered:
        return Rendered("send", tr.gettext(MESSAGES_BY_CODE[code]))

    return render


for _code in ("account_disabled", "invite_unknown", "invite_used", "invite_expired"):
    renders(f"people.{_code}")(_notice(_code))


@renders("people.invite_rate_limited")
def invite_rate_limited(out: Outgoing, tr: Translator) -> Rendered:
    minutes = int(out.facts.get("minutes", 15))
    return Rendered(
        "send",
        tr.ngettext(
            "Too many attempts. Please try again in {n} minute.",
            "Too many attempts. Please try again in {n} minutes.",
            minutes,
        ),
    )


@renders("people.privacy_notice")
def privacy_notice(out: Outgoing, tr: Translator) -> Rendered:
    invite_id = int(out.facts["invite_id"])
    text = tr.gettext(
        "<b>Privacy notice</b> (version {version})\n\n"
        "<b>What we store:</b> your name, employee number, department and roles from the "
        "staff directory; your Telegram account id and language; the requests, answers and "
        "messages you send to this assistant, and a record of what you do in it.\n\n"
        "<b>Why:</b> to route approvals, answer your questions, handle support requests, run "
        "surveys and training, and keep the audit trail that government records rules require."
        "\n\n<b>How long:</b> while you work here and then as the archive rules require; "
        "received chat messages are deleted from the processing queue after 7 days; the audit "
        "trail is kept for at least 6 months.\n\n"
        "Do not send classified information (秘密/机密/绝密) through this chat.\n\n"
        "Do you accept, and bind this Telegram account to your staff record?",
        version=html.escape(str(out.facts.get("version", ""))),
    )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr.gettext("✅ Accept"), callback_data=encode(Press("rg.ok", invite_id))
                ),
                InlineKeyboardButton(
                    tr.gettext("Decline"), callback_data=encode(Press("rg.no", invite_id))
                ),
            ]
        ]
    )
    return Rendered("send", text, keyboard)


@renders("people.privacy_accepted")
def privacy_accepted(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "edit",
        tr.gettext("✅ You accepted the privacy notice."),
        message_id=int(out.facts["message_id"]),
    )


@renders("people.privacy_declined")
def privacy_declined(out: Outgoing, tr: Translator) -> Rendered:
    text = tr.gettext(
        "You declined the privacy notice, so this account was not registered. If you change "
        "your mind, open your invite link again."
    )
    message_id = out.facts.get("message_id")
    if message_id is None:
        return Rendered("send", text)
    return Rendered("edit", text, message_id=int(message_id))


@renders("people.registered")
def registered(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext("Welcome, {name}! You are registered. Choose what you need:", name=_name(out)),
        menu_keyboard(_items(out), tr),
    )


@renders("people.welcome_back")
def welcome_back(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext("Welcome back, {name}. Choose what you need:", name=_name(out)),
        menu_keyboard(_items(out), tr),
    )


@renders("menu.main")
def main_menu(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("send", tr.gettext("<b>Main menu</b>"), menu_keyboard(_items(out), tr))


@renders("menu.not_yet")
def not_yet(out: Outgoing, tr: Translator) -> Rendered:
    item = str(out.facts.get("item", ""))
    label = tr.gettext(ITEM_LABELS[item]) if item in ITEM_LABELS else ""
    return Rendered(
        "send",
        tr.gettext(
            "{item}: this part of the assistant is not available yet. It is being rolled out step "
            "by step; you will be told when it opens.",
            item=html.escape(label),
        ),
    )


@renders("menu.language")
def language_picker(out: Outgoing, tr: Translator) -> Rendered:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    LANGUAGE_NAMES[code], callback_data=encode(Press("lg.set", i))
                )
                for i, code in enumerate(SUPPORTED)
            ]
        ]
    )
    return Rendered("send", tr.gettext("Choose your language:"), keyboard)


@renders("people.language_set")
def language_set(out: Outgoing, tr: Translator) -> Rendered:
    text = tr.gettext(
        "Language set to {language}.",
        language=LANGUAGE_NAMES.get(str(out.facts.get("language")), ""),
    )
    message_id = out.facts.get("message_id")
    if message_id is None:
        return Rendered("send", text)
    return Rendered("edit", text, message_id=int(message_id))


@renders("menu.help")
def help_text(out: Outgoing, tr: Translator) -> Rendered:
    lines = [
        tr.gettext("<b>What I can do</b>"),
        tr.gettext("/menu – the main menu"),
        tr.gettext("/language – 中文 / English"),
        tr.gettext("/survey – the surveys waiting for you"),
        tr.gettext("/quiz – the security quizzes waiting for you"),
        tr.gettext("/course – your training courses, continued where you stopped"),
        tr.gettext("/cancel – stop what you are doing"),
        tr.gettext("/help – this help"),
    ]
    if "admin" in _items(out):
        lines += [
            "",
            tr.gettext("<b>Administration</b>"),
            tr.gettext("/invite EMPLOYEE_NO – create a one-time invite link"),
            tr.gettext("/disable EMPLOYEE_NO – disable a staff member at once"),
            tr.gettext("Send a CSV or XLSX staff file to import or update the directory."),
        ]
    if "trainer" in _items(out):
        lines += [
            "",
            tr.gettext("<b>Knowledge base</b>"),
            tr.gettext(
                "/kb – search, create and edit entries, publish, roll back, import and export"
            ),
            tr.gettext("/newsurvey – write a survey step by step and publish it"),
            tr.gettext(
                "Send a survey file (YAML or XLSX) captioned /publish AUDIENCE [CLOSES] to open "
                "it, for example /publish dept:办公室 2026-12-31."
            ),
            tr.gettext(
                "/results [ID] – a survey's results: the figures, charts, CSV and XLSX files"
            ),
            tr.gettext(
                "Send a course file (YAML) captioned /course publish AUDIENCE DUE_DATE to assign "
                "it; /course progress ID shows completion by department."
            ),
        ]
    if "announce" in _items(out):
        lines += [
            "",
            tr.gettext("<b>Announcements</b>"),
            tr.gettext(
                "/announce – send an announcement (text, photo or file) to all, departments or "
                "roles, optionally asking each person to tap ✅ Acknowledged"
            ),
            tr.gettext("/announce status [ID] – who has received and acknowledged it"),
        ]
    return Rendered("send", "\n".join(lines), menu_keyboard(_items(out), tr))


@renders("menu.admin")
def admin_menu(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "<b>Administration</b>\n\n"
            "• Import or update staff: send a CSV or XLSX file with the columns employee_no, "
            "name, department, roles, superior, telegram_id, language.\n"
            "• Invite someone: /invite EMPLOYEE_NO\n"
            "• Disable someone at once: /disable EMPLOYEE_NO"
        ),
    )


@renders("flow.cancelled")
def cancelled(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("send", tr.gettext("Cancelled. Use /menu to start again."))


@renders("flow.nothing_to_cancel")
def nothing_to_cancel(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("send", tr.gettext("There is nothing to cancel."))


@renders("chat.unknown_text")
def unknown_text(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send", tr.gettext("I did not understand that. Use /menu to see what I can do, or /help.")
    )


@renders("error.notice")
def error_notice(out: Outgoing, tr: Translator) -> Rendered:
    code = str(out.facts.get("code", GENERIC[0]))
    return Rendered("send", tr.gettext(MESSAGES_BY_CODE.get(code, GENERIC[1])))
