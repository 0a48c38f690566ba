"""Course handlers (#8): /course (my courses), /course progress ID (trainers), the lesson
card's buttons, and a course YAML sent captioned /course publish AUDIENCE DUE_DATE."""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.courses.services import CourseNotFoundError
from handlers import callbacks
from handlers.context import Ctx
from handlers.staff import download

PUBLISH = "/course publish"


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_course_command(update: Update, context: Ctx) -> None:
    """``/course``: my courses; ``/course progress ID``: completion by department."""
    who = _who(update)
    if who is None:
        return
    args = context.args or []
    if args and args[0].lower() == "progress":
        number = args[1] if len(args) > 1 else ""
        if not number.isascii() or not number.isdigit():
            raise CourseNotFoundError(0)
        await context.services.courses.report(tg_id=who[0], chat_id=who[1], course_id=int(number))
        return
    await context.services.courses.list_mine(tg_id=who[0], chat_id=who[1])


async def on_course_button(update: Update, context: Ctx) -> None:
    """Open a course (resume where the person stopped), or next / previous on a lesson."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    service = context.services.courses
    if press.action == "cr.open":
        await service.open(tg_id=who[0], chat_id=who[1], course_id=press.obj_id)
    else:
        await service.press(
            tg_id=who[0],
            chat_id=who[1],
            course_id=press.obj_id,
            lesson=press.version,
            forward=press.action == "cr.next",
        )
    await query.answer()


async def on_course_file(update: Update, context: Ctx) -> bool:
    """A course definition (YAML) captioned ``/course publish AUDIENCE DUE_DATE``: assigned
    to that audience. False when the document is not one."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.document is None:
        return False
    caption = " ".join((message.caption or "").split())
    if not caption.lower().startswith(PUBLISH):
        return False
    document = message.document
    data = await download(context, document.file_id, document.file_size)
    await context.services.course_publishing.publish_file(
        tg_id=who[0],
        chat_id=who[1],
        data=data,
        file_name=document.file_name or "course.yaml",
        args=caption[len(PUBLISH) :],
    )
    return True


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("course", on_course_command, filters=private)),
        (0, CallbackQueryHandler(on_course_button, pattern=r"^cr\.(open|next|prev):")),
    ]
