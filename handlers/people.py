"""Registration, the main menu, language, help and cancel: thin adapters over PeopleService."""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.ext import BaseHandler as PTBHandler

from bot.errors import BadCallbackError, NotRegisteredError
from bot.i18n import SUPPORTED
from bot.menu import MENU_KEYS
from handlers import callbacks
from handlers.context import Ctx
from handlers.support import on_desk_membership

logger = logging.getLogger(__name__)

# What an unregistered account may still do: start (with a code) and answer the notice.
_OPEN_COMMANDS = ("/start",)
_OPEN_ACTIONS = ("rg.ok:", "rg.no:")


def _private(update: Update) -> tuple[int, int, str | None] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id, user.language_code


async def gate(update: Update, context: Ctx) -> None:
    """Runs first for every private update: unregistered accounts get an explanation only."""
    who = _private(update)
    if who is None:
        return
    tg_id, chat_id, lang = who
    message = update.effective_message
    text = message.text if message is not None and update.callback_query is None else None
    first = (text or "").split(maxsplit=1)  # a text of spaces only has no first word
    if first and first[0].split("@")[0] in _OPEN_COMMANDS:
        return
    query = update.callback_query
    if query is not None and query.data is not None and query.data.startswith(_OPEN_ACTIONS):
        return
    if update.my_chat_member is not None:
        return
    try:
        await context.services.people.actor(tg_id)
    except NotRegisteredError:
        await context.services.people.refuse_unregistered(
            tg_id=tg_id, chat_id=chat_id, language_code=lang
        )
        if query is not None:
            await query.answer()
        raise ApplicationHandlerStop from None


async def on_start_command(update: Update, context: Ctx) -> None:
    """``/start`` or ``/start <invite code>`` (the deep link)."""
    who = _private(update)
    if who is None:
        return
    tg_id, chat_id, lang = who
    code = context.args[0] if context.args else None
    await context.services.people.start(
        tg_id=tg_id, chat_id=chat_id, language_code=lang, code=code
    )


async def on_privacy_button(update: Update, context: Ctx) -> None:
    """Accept or decline the privacy notice."""
    query = update.callback_query
    who = _private(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    tg_id, chat_id, _ = who
    message_id = query.message.message_id if query.message is not None else None
    if press.action == "rg.ok":
        await context.services.people.accept_privacy(
            tg_id=tg_id, chat_id=chat_id, invite_id=press.obj_id, message_id=message_id
        )
    else:
        await context.services.people.decline_privacy(
            tg_id=tg_id, chat_id=chat_id, invite_id=press.obj_id, message_id=message_id
        )
    await query.answer()


async def on_menu_command(update: Update, context: Ctx) -> None:
    """``/menu``: the main menu."""
    who = _private(update)
    if who is None:
        return
    await context.services.people.show_menu(tg_id=who[0], chat_id=who[1])


async def on_help_command(update: Update, context: Ctx) -> None:
    """``/help``: what the bot can do for this user."""
    who = _private(update)
    if who is None:
        return
    await context.services.people.show_help(tg_id=who[0], chat_id=who[1])


async def on_language_command(update: Update, context: Ctx) -> None:
    """``/language``: choose 中文 or English."""
    who = _private(update)
    if who is None:
        return
    await context.services.people.show_language_picker(tg_id=who[0], chat_id=who[1])


async def on_cancel_command(update: Update, context: Ctx) -> None:
    """``/cancel``: leave any multi-step flow."""
    who = _private(update)
    if who is None:
        return
    await context.services.people.cancel(tg_id=who[0], chat_id=who[1], language_code=who[2])


async def on_menu_button(update: Update, context: Ctx) -> None:
    """A main-menu item was tapped."""
    query = update.callback_query
    who = _private(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    if press.obj_id >= len(MENU_KEYS):
        raise BadCallbackError()
    if MENU_KEYS[press.obj_id] == "approvals":
        await context.services.approvals.show_templates(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "knowledge":
        await context.services.faq.prompt(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "support":
        await context.services.support_desk.home(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "surveys":
        await context.services.surveys.list_open(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "quizzes":
        await context.services.quizzes.list_open(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "courses":
        await context.services.courses.list_mine(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "announce":
        await context.services.announcements.start(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "desk":
        await context.services.support_desk.desk_home(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    if MENU_KEYS[press.obj_id] == "trainer":
        await context.services.faq_editor.home(tg_id=who[0], chat_id=who[1])
        await query.answer()
        return
    await context.services.people.open_menu_item(
        tg_id=who[0], chat_id=who[1], key=MENU_KEYS[press.obj_id]
    )
    await query.answer()


async def on_language_button(update: Update, context: Ctx) -> None:
    """A language was chosen."""
    query = update.callback_query
    who = _private(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    if press.obj_id >= len(SUPPORTED):
        raise BadCallbackError()
    message_id = query.message.message_id if query.message is not None else None
    await context.services.people.set_language(
        tg_id=who[0], chat_id=who[1], language=SUPPORTED[press.obj_id], message_id=message_id
    )
    await query.answer()


async def on_unknown_button(update: Update, context: Ctx) -> None:
    """Any press no other handler claimed: data we never produced."""
    raise BadCallbackError()


async def on_other_text(update: Update, context: Ctx) -> None:
    """Text or a command the bot does not know (yet): point to the menu."""
    who = _private(update)
    if who is None:
        return
    await context.services.people.tell(
        tg_id=who[0], chat_id=who[1], language_code=who[2], kind="chat.unknown_text"
    )


async def on_my_chat_member(update: Update, context: Ctx) -> None:
    """The user blocked or unblocked the bot in their private chat; in a group, the bot was
    added or removed (a support desk group)."""
    change = update.my_chat_member
    if change is None:
        return
    if change.chat.type != Chat.PRIVATE:
        await on_desk_membership(update, context)
        return
    status = change.new_chat_member.status
    if status in ("kicked", "left"):
        await context.services.delivery.unreachable(change.chat.id, reason="blocked by user")
    else:
        await context.services.delivery.reachable(change.chat.id)


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs; group -1 runs before everything else."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edits re-run nothing
    return [
        (-1, TypeHandler(Update, gate)),
        (0, CommandHandler("start", on_start_command, filters=private)),
        (0, CommandHandler("menu", on_menu_command, filters=private)),
        (0, CommandHandler("help", on_help_command, filters=private)),
        (0, CommandHandler("language", on_language_command, filters=private)),
        (0, CommandHandler("cancel", on_cancel_command, filters=private)),
        (0, CallbackQueryHandler(on_privacy_button, pattern=r"^rg\.(ok|no):")),
        (0, CallbackQueryHandler(on_menu_button, pattern=r"^mn\.open:")),
        (0, CallbackQueryHandler(on_language_button, pattern=r"^lg\.set:")),
        (0, ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)),
    ]


def fallback_handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """Registered last (after every capability's handlers)."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edits re-run nothing
    return [
        (0, CallbackQueryHandler(on_unknown_button)),
        (0, MessageHandler(private & (filters.TEXT | filters.COMMAND), on_other_text)),
    ]
