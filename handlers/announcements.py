"""Announcement handlers (#8): /announce, the composing steps' buttons, ✅ 已阅, the counts.
Typed steps and the attachment arrive through handlers/approvals.py's text and file handlers
(``compose_text``, ``compose_file``)."""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.announcements.services import Attachment
from handlers import callbacks
from handlers.context import Ctx, user_translator


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_announce_command(update: Update, context: Ctx) -> None:
    """``/announce``: compose one; ``/announce status [ID]``: the counts (or the list)."""
    who = _who(update)
    if who is None:
        return
    args = list(context.args or [])
    service = context.services.announcements
    if args and args[0].lower() in ("status", "状态"):
        number = args[1].lstrip("#") if len(args) > 1 else ""
        await service.show_status(
            tg_id=who[0],
            chat_id=who[1],
            announcement_id=int(number) if number.isascii() and number.isdigit() else None,
        )
        return
    await service.start(tg_id=who[0], chat_id=who[1])


async def on_announce_button(update: Update, context: Ctx) -> None:
    """The composing buttons, Send / Cancel, the counts button."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    service = context.services.announcements
    tg_id, chat_id = who
    toast: str | None = None
    if press.action == "an.need":
        await service.choose_ack(
            tg_id=tg_id, chat_id=chat_id, number=press.obj_id, required=press.version == 1
        )
    elif press.action == "an.nodl":
        await service.no_deadline(tg_id=tg_id, chat_id=chat_id, number=press.obj_id)
    elif press.action == "an.send":
        sent = await service.confirm(tg_id=tg_id, chat_id=chat_id, announcement_id=press.obj_id)
        tr = await user_translator(update, context)
        toast = tr.gettext("Sending to {n} people.", n=str(sent.messaged))
    elif press.action == "an.drop":
        await service.cancel(tg_id=tg_id, chat_id=chat_id, announcement_id=press.obj_id)
    elif press.action == "an.nudge":
        nudged = await service.nudge(tg_id=tg_id, announcement_id=press.obj_id)
        tr = await user_translator(update, context)
        if nudged.again_at is not None:
            toast = tr.gettext(
                "Reminded recently; you can remind them again from {time}.",
                time=tr.when(nudged.again_at, "HH:mm"),
            )
        elif nudged.waiting == 0:
            toast = tr.gettext("Everybody has acknowledged it.")
        elif nudged.at is not None and nudged.at > context.services.runtime.clock():
            toast = tr.gettext(
                "Quiet hours: the {n} who have not acknowledged are reminded at {time}.",
                n=str(nudged.waiting),
                time=tr.when(nudged.at, "HH:mm"),
            )
        else:
            toast = tr.gettext(
                "The {n} who have not acknowledged are being reminded.", n=str(nudged.waiting)
            )
    elif press.action == "an.csv":
        await service.export_to_chat(tg_id=tg_id, chat_id=chat_id, announcement_id=press.obj_id)
    elif press.action == "an.stat":
        await service.show_status(
            tg_id=tg_id,
            chat_id=chat_id,
            announcement_id=press.obj_id,
            below=press.version == 0,  # 🔄 on the card redraws it in place
        )
    await query.answer(toast)


async def on_ack_button(update: Update, context: Ctx) -> None:
    """✅ 已阅 on an announcement (or its reminder): recorded once, the tap answered."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    press = callbacks.decode(query.data)
    acked = await context.services.announcements.acknowledge(
        tg_id=user.id, announcement_id=press.obj_id
    )
    tr = await user_translator(update, context)
    if acked.first:
        await query.answer(tr.gettext("Recorded: acknowledged."))
    else:
        await query.answer(
            tr.gettext("You acknowledged this at {time}.", time=tr.when(acked.at, "short"))
        )


async def compose_text(update: Update, context: Ctx) -> bool:
    """A private text that is a step of composing an announcement (False: it is not)."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.text is None:
        return False
    return await context.services.announcements.typed(
        tg_id=who[0], chat_id=who[1], text=message.text, html_text=message.text_html
    )


async def compose_file(update: Update, context: Ctx) -> bool:
    """A photo or document sent as the announcement's content (False: it is not)."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None:
        return False
    if message.photo:
        attachment = Attachment("photo", message.photo[-1].file_id)
    elif message.document is not None:
        attachment = Attachment("document", message.document.file_id, message.document.file_name)
    else:
        return False
    return await context.services.announcements.attachment(
        tg_id=who[0],
        chat_id=who[1],
        attachment=attachment,
        caption=message.caption or "",
        caption_html=message.caption_html or "",
    )


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("announce", on_announce_command, filters=private)),
        (
            0,
            CallbackQueryHandler(
                on_announce_button, pattern=r"^an\.(need|nodl|send|drop|stat|csv|nudge):"
            ),
        ),
        (0, CallbackQueryHandler(on_ack_button, pattern=r"^an\.ack:")),
    ]
