"""Renderers: an outbox kind plus its facts, in one locale, becomes a Bot API call.

Each capability registers its renderers with ``@renders("kind")`` in
``handlers/render/<capability>.py``; the sender looks them up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.i18n import Translator
from bot.messaging.outgoing import Outgoing

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class Rendered:
    """One Bot API call: send a message, edit one, delete one, send a document, photo or
    video (``file_key``: tell the delivery service the file id Telegram gives an upload), take
    a message's buttons off (``markup``), nothing at all (``none``), or copy one
    (``copyMessage`` of ``source_message_id`` in ``source_chat_id``, with ``text`` as the
    caption of a media message when given), copy several at once (``copyMessages`` of
    ``source_message_ids``: an album stays an album), rename the row's forum topic to
    ``text``, send ``photos`` (PNG bytes and a caption each: one photo, or an album of 2–10,
    ``sendMediaGroup``), send a photo by its ``file_id`` with ``text`` as its caption, or edit
    the caption (and buttons) of a photo or document message."""

    method: Literal[
        "send",
        "edit",
        "delete",
        "document",
        "photo",
        "video",
        "markup",
        "none",
        "copy",
        "copies",
        "topic",
        "photos",
        "photo",
        "caption",
    ]
    text: str = ""  # the caption, for a document
    reply_markup: Markup | None = None
    message_id: int | None = None  # for edit and delete
    disable_preview: bool = True
    # A document: a Telegram file_id to send again, or bytes to upload under file_name.
    file_id: str | None = None
    file_bytes: bytes | None = None
    file_name: str | None = None
    file_key: str | None = None
    source_chat_id: int | None = None
    source_message_id: int | None = None
    source_message_ids: tuple[int, ...] = ()
    reply_to: int | None = None  # send as a reply to this message (if it is still there)
    photos: tuple[tuple[bytes, str], ...] = ()  # (image, HTML caption) for "photos"
    # A copy Telegram refuses (the message is gone, or cannot be copied): send this instead.
    fallback: Rendered | None = None


def living_card(
    out: Outgoing, text: str, rows: list[list[InlineKeyboardButton]] | None = None
) -> Rendered:
    """A living card: sent the first time, edited in place after (same key, same message).

    No rows: no markup at all (an edit without one removes the buttons; PTB would send an
    empty inline keyboard as {}, which Telegram refuses).
    """
    markup = InlineKeyboardMarkup(rows) if rows else None
    if out.card_message_id is None:
        return Rendered("send", text, markup)
    return Rendered("edit", text, markup, message_id=out.card_message_id)


Renderer = Callable[[Outgoing, Translator], Rendered]
RENDERERS: dict[str, Renderer] = {}
# Kinds whose rendering takes real CPU time (building an XLSX): run off the event loop.
OFFLOADED: set[str] = set()


def renders(kind: str, *, offload: bool = False) -> Callable[[Renderer], Renderer]:
    """Register the renderer for one outbox kind (``offload``: render in a worker thread)."""

    def register(fn: Renderer) -> Renderer:
        if kind in RENDERERS:
            raise ValueError(f"two renderers for {kind!r}")
        RENDERERS[kind] = fn
        if offload:
            OFFLOADED.add(kind)
        return fn

    return register
