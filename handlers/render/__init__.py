"""Renderers: an outbox kind plus its facts, in one locale, becomes a Bot API call.

Each capability registers its renderers with ``@renders("kind")`` in
``handlers/render/<capability>.py``; the sender looks them up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.i18n import Translator
from bot.messaging.outgoing import Outgoing

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class Rendered:
    """One Bot API call: send a message, edit one, or delete one."""

    method: Literal["send", "edit", "delete"]
    text: str = ""
    reply_markup: Markup | None = None
    message_id: int | None = None  # for edit and delete
    disable_preview: bool = True


Renderer = Callable[[Outgoing, Translator], Rendered]
RENDERERS: dict[str, Renderer] = {}


def renders(kind: str) -> Callable[[Renderer], Renderer]:
    """Register the renderer for one outbox kind."""

    def register(fn: Renderer) -> Renderer:
        if kind in RENDERERS:
            raise ValueError(f"two renderers for {kind!r}")
        RENDERERS[kind] = fn
        return fn

    return register
