"""The support desk in Telegram: agents' messages and buttons in the desk's forum topics, and
the requester's messages while they write to a ticket. Thin adapters over DeskService."""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import Chat, Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.i18n import N_
from bot.support.files import FileInfo
from bot.support.topic import CATEGORIES
from handlers import callbacks
from handlers.context import Ctx, user_translator
from handlers.render.support import PRIORITY
from handlers.staff import download

logger = logging.getLogger(__name__)

CLAIM_TOASTS = {
    "claimed": N_("Ticket {number} is yours."),
    "mine": N_("Ticket {number} is already yours."),
    "taken": N_("{name} has already claimed {number}."),
    "stale": N_("Ticket {number} changed meanwhile; the card shows it as it is now."),
    "closed": N_("Ticket {number} is no longer open."),
    "resolved": N_("Ticket {number} is resolved; the requester has been told."),
    "waiting": N_("{number}: waiting for the requester; the SLA clocks are paused."),
    "resumed": N_("{number}: no longer waiting; the SLA clocks run again."),
    "priority": N_("{number}: priority is now {name}."),
    "picked": N_("{number}: choose below the card."),
    "moved": N_("{number} moved to {name} and its desk group."),
    "recategorized": N_("{number} is now in {name}."),
    "merged": N_("{number} was merged into {name}."),
    "assigned": N_("{number} now belongs to {name}."),
    "same": N_("{number}: that is already so."),
    "nothing_to_merge": N_("{number}: the requester has no other open ticket to merge with."),
    "other_requester": N_("{number}: only tickets of the same requester can be merged."),
    "not_yours": N_("{number}: only a supervisor or the agent who owns it can hand it over."),
    "not_found": N_("{number}: there is no ticket {name}."),
    "drafted": N_("{number} is now draft entry {name}; the trainers will review it."),
    "already": N_("{number} has already been turned into entry {name}."),
    "not_resolved": N_("{number}: only a resolved ticket can become an FAQ entry."),
    "no_answer": N_("{number}: the desk never answered the requester, so there is no answer."),
}
ACK_TOASTS = {
    "acked": N_("Acknowledged: {number} is yours to follow up. Escalation stopped."),
    "ended": N_("This page for {number} has already ended."),
}

CLOSE_TOASTS = {
    "closed": N_("Closed. Thank you!"),
    "already": N_("This ticket is already closed."),
    "stale": N_("The ticket changed meanwhile; please try again."),
}
RATE_TOASTS = {
    "rated": N_("Thank you for your rating."),
    "already": N_("You have already rated this ticket."),
    "open": N_("The ticket is still open: rate it once it is solved."),
    "stale": N_("The ticket changed meanwhile; please try again."),
}

# Kinds of content that are a file (a photo too, handled apart: it comes in several sizes).
_FILES = ("document", "voice", "video", "video_note", "audio", "animation", "sticker")

# What a message that is not text is called in the ticket's history.
_MEDIA = (
    "photo",
    "document",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "sticker",
    "location",
    "contact",
    "venue",
    "poll",
    "dice",
)


def media_kind(message: Message) -> str | None:
    """The kind of content a non-text message carries ("photo", "voice" ...)."""
    for kind in _MEDIA:
        if getattr(message, kind, None):
            return kind
    return None


def _content(message: Message) -> tuple[str | None, str | None]:
    """The text (or caption) and the media kind of a message."""
    return message.text or message.caption, media_kind(message)


def file_info(message: Message) -> FileInfo | None:
    """The file a message carries (a photo: its largest size), if any."""
    kind = media_kind(message)
    if kind == "photo" and message.photo:
        largest = message.photo[-1]
        return FileInfo(
            "photo", largest.file_id, largest.file_unique_id, "", "", largest.file_size
        )
    found = getattr(message, kind, None) if kind in _FILES else None
    if kind is None or found is None:
        return None
    return FileInfo(
        kind,
        found.file_id,
        found.file_unique_id,
        getattr(found, "file_name", None) or "",
        getattr(found, "mime_type", None) or "",
        found.file_size,
    )


async def relay_from_user(update: Update, context: Ctx) -> bool:
    """A private message from a requester writing to a ticket: relayed; False if not. A file
    in it is fetched first, to be archived with the ticket (over 20 MB: marked not)."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or chat.type != Chat.PRIVATE:
        return False
    text, media = _content(message)
    desk = context.services.support_desk
    file = file_info(message)
    if file is not None and await desk.writing_to_ticket(tg_id=user.id):
        file = await _fetch(context, file)
    result = await desk.user_message(
        tg_id=user.id,
        chat_id=chat.id,
        message_id=message.message_id,
        text=text,
        media=media,
        album=message.media_group_id,
        file=file,
    )
    return result.outcome != "not_ours"


async def _fetch(context: Ctx, file: FileInfo) -> FileInfo:
    """The file with its bytes, or with why there are none."""
    if not file.downloadable:
        return replace(file, missing="too_big")
    try:
        got = await context.bot.get_file(file.file_id)
        return replace(file, data=bytes(await got.download_as_bytearray()))
    except TelegramError as exc:  # "file is too big", or Telegram is away
        logger.warning("a ticket's file was not downloaded: %s", exc)
        return replace(file, missing="too_big" if "too big" in str(exc).lower() else "failed")


async def on_private_media(update: Update, context: Ctx) -> None:
    """Voice, video, stickers, locations ...: only a ticket takes them."""
    await relay_from_user(update, context)


async def on_desk_message(update: Update, context: Ctx) -> None:
    """A message in a forum topic of a group: an agent's reply or note on that ticket."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or message.message_thread_id is None:
        return
    if user.is_bot:
        return
    text, media = _content(message)
    await context.services.support_desk.desk_message(
        chat_id=chat.id,
        thread_id=message.message_thread_id,
        message_id=message.message_id,
        tg_id=user.id,
        text=text,
        media=media,
    )


async def on_edited(update: Update, context: Ctx) -> None:
    """An edited message: the requester's (noted in the topic) or an agent's (mirrored)."""
    user, chat, message = update.effective_user, update.effective_chat, update.edited_message
    if user is None or chat is None or message is None or user.is_bot:
        return
    desk = context.services.support_desk
    if chat.type == Chat.PRIVATE:
        await desk.user_edit(
            tg_id=user.id,
            chat_id=chat.id,
            message_id=message.message_id,
            text=message.text or message.caption,
        )
    elif message.message_thread_id is not None:
        await desk.agent_edit(
            tg_id=user.id,
            chat_id=chat.id,
            message_id=message.message_id,
            html_text=message.text_html if message.text else None,
        )


async def on_button(update: Update, context: Ctx) -> None:
    """sd.claim / sd.res in the desk group; sd.add / sd.done in the requester's chat."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    press = callbacks.decode(query.data)
    desk = context.services.support_desk
    tr = await user_translator(update, context)
    if press.action in ("sd.pick", "sd.xfer", "sd.mrg", "sd.asg"):
        moves = context.services.support_moves
        if press.action == "sd.pick":
            result = await moves.picker(tg_id=user.id, ticket_id=press.obj_id, what=press.version)
        elif press.action == "sd.xfer":
            result = await moves.transfer(
                tg_id=user.id, ticket_id=press.obj_id, index=press.version
            )
        elif press.action == "sd.mrg":
            result = await moves.merge(
                tg_id=user.id, ticket_id=press.obj_id, into_id=press.version
            )
        else:
            result = await moves.assign(
                tg_id=user.id, ticket_id=press.obj_id, staff_id=press.version
            )
        name = result.by or ""
        if result.outcome in ("moved", "recategorized"):
            name = tr.gettext(dict(CATEGORIES).get(name, name))
        await query.answer(
            tr.gettext(CLAIM_TOASTS[result.outcome], number=result.number, name=name)
        )
        return
    if press.action == "sd.faq":
        result = await context.services.support_faq.draft(tg_id=user.id, ticket_id=press.obj_id)
        await query.answer(
            tr.gettext(CLAIM_TOASTS[result.outcome], number=result.number, name=result.by or "")
        )
        return
    if press.action in ("sd.claim", "sd.res", "sd.wait", "sd.pri"):
        if press.action == "sd.claim":
            result = await desk.claim(tg_id=user.id, ticket_id=press.obj_id, version=press.version)
        elif press.action == "sd.res":
            result = await desk.resolve(
                tg_id=user.id, ticket_id=press.obj_id, version=press.version
            )
        elif press.action == "sd.wait":
            result = await desk.toggle_waiting(tg_id=user.id, ticket_id=press.obj_id)
        else:
            result = await desk.set_priority(
                tg_id=user.id, ticket_id=press.obj_id, index=press.version
            )
        name = result.by or ""
        if result.outcome == "priority":
            name = tr.gettext(PRIORITY.get(name, PRIORITY["normal"]))
        await query.answer(
            tr.gettext(CLAIM_TOASTS[result.outcome], number=result.number, name=name)
        )
        return
    if press.action == "sd.ack":
        outcome, number = await context.services.support_sla.acknowledge(
            tg_id=user.id, escalation_id=press.obj_id
        )
        await query.answer(tr.gettext(ACK_TOASTS[outcome], number=number))
        return
    if chat.type != Chat.PRIVATE:
        await query.answer()
        return
    if press.action == "sd.add":
        await desk.start_writing(tg_id=user.id, chat_id=chat.id, ticket_id=press.obj_id)
        await query.answer()
    elif press.action == "sd.cat":
        await desk.choose_category(tg_id=user.id, chat_id=chat.id, index=press.obj_id)
        await query.answer()
    elif press.action == "sd.close":
        outcome = await desk.close(tg_id=user.id, chat_id=chat.id, ticket_id=press.obj_id)
        await query.answer(tr.gettext(CLOSE_TOASTS[outcome]))
    elif press.action == "sd.rate":
        outcome = await desk.rate(
            tg_id=user.id, chat_id=chat.id, ticket_id=press.obj_id, stars=press.version
        )
        await query.answer(tr.gettext(RATE_TOASTS[outcome]))
    else:
        await desk.stop_writing(tg_id=user.id)
        await query.answer(tr.gettext("Done. Your messages are with the desk."))


async def on_template_command(update: Update, context: Ctx) -> None:
    """``/t KEY`` in a ticket's topic sends a canned reply; ``/t set KEY TEXT`` and
    ``/t del KEY`` (the desk lead, anywhere) keep them."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or message.text is None:
        return
    rest = message.text.split(maxsplit=1)[1] if len(message.text.split(maxsplit=1)) > 1 else ""
    verb, _, tail = rest.strip().partition(" ")
    thread = message.message_thread_id if chat.type != Chat.PRIVATE else None
    if verb.lower() == "set":
        key, _, body = tail.strip().partition(" ")
        if "\n" in key:  # "/t set key\ntext"
            key, _, more = key.partition("\n")
            body = more + (" " + body if body else "")
        await context.services.support_templates.put(
            tg_id=user.id, chat_id=chat.id, thread_id=thread, key=key, body=body
        )
    elif verb.lower() == "del":
        await context.services.support_templates.delete(
            tg_id=user.id, chat_id=chat.id, thread_id=thread, key=tail
        )
    elif thread is not None:
        await context.services.support_desk.send_template(
            tg_id=user.id, chat_id=chat.id, thread_id=thread, key=verb.strip().lower()
        )


async def on_oncall_command(update: Update, context: Ctx) -> None:
    """``/oncall`` shows the roster; ``/oncall add LEVEL PERSON FROM TO`` and ``/oncall del
    ID`` (the desk lead) change it. Answered where it was given."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or message.text is None:
        return
    parts = message.text.split(maxsplit=2)
    verb = parts[1].lower() if len(parts) > 1 else ""
    rest = parts[2] if len(parts) > 2 else ""
    roster = context.services.support_oncall
    if verb == "add":
        await roster.add(tg_id=user.id, chat_id=chat.id, args=rest)
    elif verb in ("del", "delete", "rm"):
        await roster.delete(tg_id=user.id, chat_id=chat.id, shift_id=rest)
    else:
        await roster.show(tg_id=user.id, chat_id=chat.id)


async def on_roster_file(update: Update, context: Ctx) -> bool:
    """A CSV/XLSX document captioned ``/oncall``: the shifts in it are imported (all or
    none). False when the document is not one."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or message.document is None:
        return False
    if not (message.caption or "").strip().lower().startswith("/oncall"):
        return False
    document = message.document
    data = await download(context, document.file_id, document.file_size)
    await context.services.support_oncall.import_file(
        data, document.file_name or "roster.csv", tg_id=user.id, chat_id=chat.id
    )
    return True


async def on_merge_command(update: Update, context: Ctx) -> None:
    """``/merge T2026-000123`` in a ticket's topic: this ticket goes into that one."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or message.text is None:
        return
    parts = message.text.split(maxsplit=1)
    if message.message_thread_id is None or len(parts) < 2:
        return
    await context.services.support_moves.merge_command(
        tg_id=user.id, chat_id=chat.id, thread_id=message.message_thread_id, number=parts[1]
    )


async def on_desk_command(update: Update, context: Ctx) -> None:
    """``/desk`` shows where tickets go; in a forum group ``/desk default``, ``/desk
    CATEGORY…`` and ``/desk off`` (the desk lead) route them."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None or message.text is None:
        return
    parts = message.text.split(maxsplit=1)
    await context.services.support_routing.command(
        tg_id=user.id,
        chat_id=chat.id,
        title=chat.title or "",
        group=chat.type in (Chat.GROUP, Chat.SUPERGROUP),
        forum=bool(chat.is_forum),
        args=parts[1] if len(parts) > 1 else "",
    )


async def on_summary_command(update: Update, context: Ctx) -> None:
    """``/summary`` in a desk group: the desk's last 24 hours, now, where it was asked."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    thread = message.message_thread_id if message.is_topic_message else None
    await context.services.support_summary.post_now(
        tg_id=user.id, chat_id=chat.id, thread_id=thread
    )


async def on_desk_membership(update: Update, context: Ctx) -> None:
    """The bot was added to a group, promoted, or removed: a desk group is set or dropped."""
    change = update.my_chat_member
    if change is None or change.chat.type == Chat.PRIVATE:
        return
    routing = context.services.support_routing
    status = change.new_chat_member.status
    if status in ("kicked", "left"):
        await routing.left(chat_id=change.chat.id)
    elif status in ("administrator", "member") and change.old_chat_member.status != status:
        await routing.joined(
            chat_id=change.chat.id,
            title=change.chat.title or "",
            forum=bool(change.chat.is_forum),
            admin=status == "administrator",
            by_tg_id=change.from_user.id,
        )


async def on_support_command(update: Update, context: Ctx) -> None:
    """/support: the requester's open tickets and the categories to open one."""
    user, chat = update.effective_user, update.effective_chat
    if user is not None and chat is not None and chat.type == Chat.PRIVATE:
        await context.services.support_desk.home(tg_id=user.id, chat_id=chat.id)


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs; private text and files reach relay_from_user through
    handlers/approvals.py, after the flows that wait for them."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    other_media = (
        filters.VOICE
        | filters.VIDEO
        | filters.VIDEO_NOTE
        | filters.AUDIO
        | filters.ANIMATION
        | filters.Sticker.ALL
        | filters.LOCATION
        | filters.CONTACT
        | filters.POLL
        | filters.Dice.ALL
    )
    in_topic = (
        filters.ChatType.SUPERGROUP
        & filters.UpdateType.MESSAGE
        & filters.IS_TOPIC_MESSAGE
        & ~filters.COMMAND
        & ~filters.StatusUpdate.ALL
    )
    return [
        (0, MessageHandler(private & other_media, on_private_media)),
        (0, MessageHandler(in_topic, on_desk_message)),
        (0, CommandHandler("support", on_support_command, filters=private)),
        (0, CommandHandler("t", on_template_command)),
        (0, CommandHandler("oncall", on_oncall_command)),
        (0, CommandHandler("desk", on_desk_command)),
        (0, CommandHandler("merge", on_merge_command, filters=filters.ChatType.SUPERGROUP)),
        (0, CommandHandler("summary", on_summary_command, filters=filters.ChatType.SUPERGROUP)),
        (0, MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edited)),
        (
            0,
            CallbackQueryHandler(
                on_button,
                pattern=r"^sd\.(claim|res|add|done|cat|close|rate|wait|pri|ack"
                r"|pick|xfer|mrg|asg|faq):",
            ),
        ),
    ]
