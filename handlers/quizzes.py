"""Quiz handlers (#8): /quiz (the open quizzes), /quiz campaign … and /quiz results ID (for
those allowed), and the quiz card's buttons."""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.errors import BadCallbackError
from handlers import callbacks
from handlers.context import Ctx


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_quiz_command(update: Update, context: Ctx) -> None:
    """``/quiz``: the open quizzes; ``/quiz campaign KEY AUDIENCE [CLOSES] [quarter|month]``;
    ``/quiz results ID``."""
    who = _who(update)
    if who is None:
        return
    args = list(context.args or [])
    if args and args[0].lower() == "campaign":
        await context.services.quiz_campaigns.open_in_chat(
            tg_id=who[0], chat_id=who[1], args=args[1:]
        )
    elif args and args[0].lower() == "results":
        number = args[1] if len(args) > 1 else ""
        campaign_id = int(number) if number.isascii() and number.isdigit() else 0
        await context.services.quiz_results.show(
            tg_id=who[0], chat_id=who[1], campaign_id=campaign_id
        )
    else:
        await context.services.quizzes.list_open(tg_id=who[0], chat_id=who[1])


async def on_quiz_button(update: Update, context: Ctx) -> None:
    """Start, resume or retry a quiz; an option; the next question."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    service = context.services.quizzes
    if press.action == "qz.go":
        await service.begin(tg_id=who[0], chat_id=who[1], campaign_id=press.obj_id)
    elif press.action == "qz.ans":
        await service.answer(
            tg_id=who[0], chat_id=who[1], attempt_id=press.obj_id, code=press.version
        )
    elif press.action == "qz.next":
        await service.next(
            tg_id=who[0], chat_id=who[1], attempt_id=press.obj_id, position=press.version
        )
    else:
        raise BadCallbackError()
    await query.answer()


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("quiz", on_quiz_command, filters=private)),
        (0, CallbackQueryHandler(on_quiz_button, pattern=r"^qz\.(go|ans|next):")),
    ]
