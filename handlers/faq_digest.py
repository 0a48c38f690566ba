"""The trainers' digest in chat (#6): ``/digest`` and the buttons under each group.

Thin adapters over DigestService: the digest and its edits come back through the outbox; a
tap is answered once, with what it did or why it did nothing.
"""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.faq.digest import (
    DigestHandledError,
    GroupGoneError,
    NoSuggestionError,
    PhrasingRejectedError,
)
from bot.faq.library import StaleEntryError
from handlers import callbacks
from handlers.context import Ctx, user_translator
from handlers.render import faq_digest as render


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_digest_command(update: Update, context: Ctx) -> None:
    """``/digest``: the questions the knowledge base could not answer, now (trainers)."""
    who = _who(update)
    if who is not None:
        await context.services.faq_digest.show(tg_id=who[0], chat_id=who[1])


async def on_digest_button(update: Update, context: Ctx) -> None:
    """Add as a phrasing, draft an entry, or ignore one group of the digest."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)  # BadCallbackError if forged
    verb = press.action.split(".", 1)[1]
    try:
        decided = await context.services.faq_digest.decide(
            tg_id=who[0],
            chat_id=who[1],
            group_id=press.obj_id,
            version=press.version,
            verb=verb,
        )
    except DigestHandledError as exc:
        await query.answer(
            render.handled_text(exc, await user_translator(update, context)), show_alert=True
        )
        return
    except PhrasingRejectedError as exc:
        await query.answer(
            render.rejected_text(exc, await user_translator(update, context)), show_alert=True
        )
        return
    except GroupGoneError:
        await query.answer(
            render.gone_text(await user_translator(update, context)), show_alert=True
        )
        return
    except NoSuggestionError:
        await query.answer(
            render.no_suggestion_text(await user_translator(update, context)), show_alert=True
        )
        return
    except StaleEntryError:
        await query.answer(
            render.stale_entry_text(await user_translator(update, context)), show_alert=True
        )
        return
    await query.answer(render.decided_toast(decided, await user_translator(update, context)))


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs, registered before the fallbacks."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        (0, CommandHandler("digest", on_digest_command, filters=private)),
        (0, CallbackQueryHandler(on_digest_button, pattern=r"^kd\.(add|draft|ignore):")),
    ]
