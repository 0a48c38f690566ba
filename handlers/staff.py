"""Administration in chat: /invite, /disable, and uploading the staff file."""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.errors import ImportFileError
from bot.people.importing import MAX_BYTES
from handlers import callbacks
from handlers.context import Ctx

logger = logging.getLogger(__name__)

STAFF_FILE_TYPES = (".csv", ".xlsx")


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def _employee_no(update: Update, context: Ctx, command: str) -> tuple[int, int, str] | None:
    """The private chat and the EMPLOYEE_NO argument; without one, the usage is the reply."""
    who = _who(update)
    if who is None:
        return None
    if not context.args:
        await context.services.people.tell(
            tg_id=who[0],
            chat_id=who[1],
            language_code=None,
            kind="staff.usage",
            facts={"command": command},
        )
        return None
    return who[0], who[1], context.args[0]


async def on_invite_command(update: Update, context: Ctx) -> None:
    """``/invite EMPLOYEE_NO``: a one-time invite link, for administrators."""
    who = await _employee_no(update, context, "invite")
    if who is None:
        return
    await context.services.people.invite_in_chat(
        tg_id=who[0],
        chat_id=who[1],
        employee_no=who[2],
        bot_username=context.bot.username,
    )


async def on_disable_command(update: Update, context: Ctx) -> None:
    """``/disable EMPLOYEE_NO``: takes effect at once, for administrators."""
    who = await _employee_no(update, context, "disable")
    if who is None:
        return
    await context.services.people.disable_in_chat(tg_id=who[0], chat_id=who[1], employee_no=who[2])


async def download(context: Ctx, file_id: str, size: int | None) -> bytes:
    if size is not None and size > MAX_BYTES:
        raise ImportFileError("too_large")
    telegram_file = await context.bot.get_file(file_id)
    data = bytes(await telegram_file.download_as_bytearray())
    if len(data) > MAX_BYTES:
        raise ImportFileError("too_large")
    return data


async def on_staff_file(update: Update, context: Ctx) -> None:
    """A CSV/XLSX document from an administrator: import the staff directory."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.document is None:
        return
    document = message.document
    name = document.file_name or "staff.csv"
    services = context.services
    await services.staff_admin.check_may_import(who[0])
    if not name.lower().endswith(STAFF_FILE_TYPES):
        raise ImportFileError("unsupported_format")
    data = await download(context, document.file_id, document.file_size)
    await services.staff_admin.import_upload(
        tg_id=who[0],
        chat_id=who[1],
        filename=name,
        data=data,
        file_id=document.file_id,
        partial=False,
    )


async def on_partial_button(update: Update, context: Ctx) -> None:
    """ "Import the valid rows" or "Discard" under an import report with errors."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    admin = context.services.staff_admin
    if press.action == "st.drop":
        await admin.discard_upload(tg_id=who[0], chat_id=who[1], version=press.obj_id)
        await query.answer()
        return
    pending = await admin.pending_upload(tg_id=who[0], chat_id=who[1], version=press.obj_id)
    await query.answer()
    data = await download(context, pending.file_id, None)
    await admin.import_upload(
        tg_id=who[0],
        chat_id=who[1],
        filename=pending.filename,
        data=data,
        file_id=pending.file_id,
        partial=True,
    )


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs for administration."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edits re-run nothing
    return [
        (0, CommandHandler("invite", on_invite_command, filters=private)),
        (0, CommandHandler("disable", on_disable_command, filters=private)),
        (0, MessageHandler(private & filters.Document.ALL, on_staff_file)),
        (0, CallbackQueryHandler(on_partial_button, pattern=r"^st\.(part|drop):")),
    ]
