"""Staff asking the knowledge base: questions typed in the private chat, and the buttons
under answers (suggestions, follow-ups, 👍/👎, ask a person). Thin adapters over FaqService."""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.i18n import N_
from handlers import callbacks
from handlers.context import Ctx, user_translator

TOASTS = {
    "up": N_("Thank you!"),
    "down": N_("Sorry. You can hand the question to a person."),
    "again": N_("You already told us, thank you."),
}


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_question(update: Update, context: Ctx, text: str) -> None:
    """Free text no flow took: a question for the knowledge base."""
    who = _who(update)
    if who is not None:
        await context.services.faq.ask(tg_id=who[0], chat_id=who[1], text=text)


async def on_ask_command(update: Update, context: Ctx) -> None:
    """``/ask`` (the prompt) or ``/ask QUESTION``."""
    who = _who(update)
    if who is None:
        return
    text = " ".join(context.args or [])
    if text.strip():
        await context.services.faq.ask(tg_id=who[0], chat_id=who[1], text=text)
    else:
        await context.services.faq.prompt(tg_id=who[0], chat_id=who[1])


async def on_button(update: Update, context: Ctx) -> None:
    """kb.open (suggestion or follow-up), kb.up / kb.down, kb.ask."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    service = context.services.faq
    tg_id, chat_id = who
    if press.action == "kb.open":
        await service.open_entry(
            tg_id=tg_id, chat_id=chat_id, entry_id=press.obj_id, question_id=press.version
        )
        await query.answer()
    elif press.action in ("kb.up", "kb.down"):
        result = await service.feedback(
            tg_id=tg_id, chat_id=chat_id, question_id=press.obj_id, up=press.action == "kb.up"
        )
        await query.answer((await user_translator(update, context)).gettext(TOASTS[result.toast]))
    else:
        number = await service.hand_over(tg_id=tg_id, chat_id=chat_id, question_id=press.obj_id)
        await query.answer(
            (await user_translator(update, context)).gettext(
                "Ticket {number} is open.", number=number
            )
        )


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs; free text reaches on_question through handlers/approvals.py."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        (0, CommandHandler("ask", on_ask_command, filters=private)),
        (0, CallbackQueryHandler(on_button, pattern=r"^kb\.(open|up|down|ask):")),
    ]
