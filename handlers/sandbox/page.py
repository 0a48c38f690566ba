"""What the sandbox page is told: who it may play, which chats exist, and its own words.

The emulator's page has no catalogs of its own: every label it shows comes from here, through
the project's translation layer, in each supported language.
"""

from __future__ import annotations

from typing import Any

from bot.emulator import BotApiEmulator
from bot.i18n import SUPPORTED, translator
from bot.people.domain import ROLE_LABELS
from bot.text import N_

from .people import DEFAULT_PHONES, DEMO_STAFF

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # what the bot accepts as an attachment (approvals)

# key → English msgid; the page looks labels up by key.
STRINGS: dict[str, str] = {
    "page_title": N_("GovOffice Assistant sandbox"),
    "tagline": N_(
        "The real bot against a built-in Telegram emulator: play several members of staff "
        "side by side. No token, no internet."
    ),
    "ui_language": N_("Page language"),
    "phone_count": N_("Phones"),
    "tour_button": N_("What to try"),
    "tour_title": N_("What to try"),
    "close": N_("Close"),
    "who": N_("Who"),
    "chat": N_("Chat"),
    "topic": N_("Topic"),
    "topic_general": N_("General"),
    "phone_language": N_("Phone language"),
    "private_chat": N_("Chat with {bot}"),
    "input_placeholder": N_("Message"),
    "send": N_("Send"),
    "attach": N_("Attach a file"),
    "commands": N_("Commands"),
    "no_commands": N_("The bot has set no commands for this chat."),
    "reply": N_("Reply"),
    "replying_to": N_("Replying to: {text}"),
    "cancel_reply": N_("Cancel reply"),
    "edited": N_("edited"),
    "open_file": N_("Open"),
    "download_file": N_("Download"),
    "file_size_kb": N_("{size} KB"),
    "file_size_mb": N_("{size} MB"),
    "alert_ok": N_("OK"),
    "traffic_title": N_("Bot API traffic"),
    "traffic_for": N_("Calls for {name}'s screen"),
    "traffic_empty": N_("No calls yet."),
    "traffic_collapse": N_("Hide traffic"),
    "traffic_expand": N_("Show traffic"),
    "connection_open": N_("Live"),
    "connection_lost": N_("Connection lost — reconnecting…"),
    "typing": N_("typing…"),
    "upload_too_big": N_("This file is larger than {mb} MB."),
    "send_failed": N_("Could not send: {error}"),
    "no_messages": N_("No messages yet. Type /menu or tap the / button."),
    "select_phone_hint": N_("Click a phone to see its traffic."),
    "keyboard_show": N_("Show keyboard"),
    "keyboard_hide": N_("Hide keyboard"),
    "spoiler_hint": N_("Tap to reveal"),
    "photo": N_("Photo"),
    "loading": N_("Loading…"),
    "latency_ms": N_("{ms} ms"),
}

TOUR: tuple[str, ...] = (
    N_(
        "On 徐丽's phone type /apply, tap 费用报销 (reimbursement), answer 6000 and a purpose, "
        "skip the optional questions and tap Submit: the summary shows the route "
        "(6000 > 5000 adds finance)."
    ),
    N_(
        "On 吴强's phone (her department head) the task card appears: tap Approve. The card "
        "is edited in place, and 徐丽's status card moves on at the same time."
    ),
    N_("On 刘洋's phone (finance) approve it too; 徐丽 is told it is approved."),
    N_(
        "吴强 also has 孙浩's leave request waiting (/todo): try Return with a reason, then "
        "switch a phone to 孙浩 and resubmit it."
    ),
    N_(
        "Switch a phone's language to English: the bot answers in English from then on, and "
        "the command list changes with it."
    ),
    N_(
        "Watch the traffic panel: every Bot API call the bot makes for the selected phone, "
        "with its latency."
    ),
    N_(
        "A 发文: as 朱琳 /apply → 发文审批, attach a draft with the paper clip; 王磊 (office) "
        "checks it, 张建国 signs it (签发) and 王磊 numbers and files it."
    ),
    N_(
        "Ask the knowledge base on any phone: just type a question in your own words, e.g. "
        "“U盾被锁了” or “how do I book a meeting room”. Tap 👍 or 👎 under the answer; after "
        "👎, “Ask a person” opens a support ticket."
    ),
    N_(
        "Tickets from the knowledge base arrive in the support desk group: open it on 赵敏's "
        "phone (chat menu) to see who asked what, and what the bot had shown them."
    ),
)


def _strings(locale: str) -> dict[str, str]:
    tr = translator(locale)
    return {key: tr.gettext(msgid) for key, msgid in STRINGS.items()}


def _roles(roles: tuple[str, ...], locale: str) -> str:
    tr = translator(locale)
    shown = [r for r in roles if r != "staff"] or ["staff"]
    return tr.gettext("、").join(tr.gettext(ROLE_LABELS[r]) for r in shown)


def ui_config(emu: BotApiEmulator) -> dict[str, Any]:
    """The page's configuration, read fresh (phone languages and groups change)."""
    personas = []
    for person in DEMO_STAFF:
        user = emu.state.users.get(person.tg_id)
        personas.append(
            {
                "user_id": person.tg_id,
                "name": person.name,
                "employee_no": person.employee_no,
                "department": person.department,
                "roles": {loc: _roles(person.roles, loc) for loc in SUPPORTED},
                "language_code": user.language_code if user is not None else None,
            }
        )
    groups = [
        {
            "chat_id": chat.id,
            "title": chat.title or "",
            "forum": chat.forum,
            "member_ids": list(chat.member_ids),
        }
        for chat in emu.state.chats.values()
        if chat.is_group and chat.bot_status in ("member", "administrator")
    ]
    return {
        "bot": emu.state.bot_json(),
        "ui_locales": [{"code": "zh_CN", "label": "中文"}, {"code": "en", "label": "English"}],
        "default_ui_locale": "zh_CN",
        "strings": {loc: _strings(loc) for loc in SUPPORTED},
        "phone_languages": [
            {"code": "zh-hans", "label": "中文"},
            {"code": "en", "label": "English"},
        ],
        "personas": personas,
        "groups": groups,
        "default_phones": list(DEFAULT_PHONES),
        "tour": {loc: [translator(loc).gettext(step) for step in TOUR] for loc in SUPPORTED},
        "max_upload_bytes": MAX_UPLOAD_BYTES,
    }
