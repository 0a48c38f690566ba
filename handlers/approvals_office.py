"""The office's approval tools in chat: /register (the 发文/收文 registers as a file) and /overdue.

Thin adapters over RegisterService, which checks the office/admin role, now, on every call;
the file and the list come back through the outbox.
"""

from __future__ import annotations

import re

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CommandHandler, filters

from bot.approvals.registers import INCOMING, OUTGOING, RegisterService
from handlers.context import Ctx

KIND_WORDS = {
    "out": OUTGOING,
    "outgoing": OUTGOING,
    "发文": OUTGOING,
    "in": INCOMING,
    "incoming": INCOMING,
    "收文": INCOMING,
}
FORMAT_WORDS = {"xlsx": "xlsx", "excel": "xlsx", "csv": "csv"}
_YEAR = re.compile(r"(19|20)[0-9]{2}")  # not \d: int() takes "２０２６"


def parse_register_args(args: list[str]) -> tuple[str | None, str, int | None]:
    """(kind or None if missing or unknown, format, year) from ``/register`` arguments."""
    kind: str | None = None
    fmt = "xlsx"
    year: int | None = None
    for raw in args:
        word = raw.strip().casefold()
        if word in KIND_WORDS and kind is None:
            kind = KIND_WORDS[word]
        elif word in FORMAT_WORDS:
            fmt = FORMAT_WORDS[word]
        elif _YEAR.fullmatch(word):
            year = int(word)
        else:
            return None, fmt, year
    return kind, fmt, year


def _registers(context: Ctx) -> RegisterService:
    """The composition root's RegisterService."""
    return context.services.registers


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_register_command(update: Update, context: Ctx) -> None:
    """``/register out|in [xlsx|csv] [YEAR]``: the register as a file (office and admin)."""
    who = _who(update)
    if who is None:
        return
    kind, fmt, year = parse_register_args(list(context.args or []))
    await _registers(context).send_register(
        tg_id=who[0], chat_id=who[1], kind=kind, fmt=fmt, year=year
    )


async def on_overdue_command(update: Update, context: Ctx) -> None:
    """``/overdue``: 督办, the overdue 发文 and 收文 by department (office and admin)."""
    who = _who(update)
    if who is None:
        return
    await _registers(context).send_overdue(tg_id=who[0], chat_id=who[1])


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs, registered before the fallbacks."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        (0, CommandHandler("register", on_register_command, filters=private)),
        (0, CommandHandler("overdue", on_overdue_command, filters=private)),
    ]
