"""Approvals in chat: /apply, /todo, /mine, /find, the form, and the card buttons.

Thin adapters over ApprovalService: parse, call one method, answer the tap once with the
result's toast. Cards and replies come back through the outbox.
"""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.approvals.services import AlreadyHandledError, ApprovalService, Pressed
from handlers import announcements as announcement_handlers
from handlers import callbacks
from handlers import courses as course_handlers
from handlers import faq as faq_handlers
from handlers import faq_trainer as faq_trainer_handlers
from handlers import staff as staff_handlers
from handlers import support as support_handlers
from handlers import surveys as survey_handlers
from handlers.context import Ctx, user_translator
from handlers.render.approvals import already_handled_text, toast_text

logger = logging.getLogger(__name__)

_FORMATTING = frozenset(
    {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "text_link",
        "blockquote",
        "expandable_blockquote",
    }
)


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_apply_command(update: Update, context: Ctx) -> None:
    """``/apply``: the templates this user may start."""
    who = _who(update)
    if who is not None:
        await context.services.approvals.show_templates(tg_id=who[0], chat_id=who[1])


async def on_todo_command(update: Update, context: Ctx) -> None:
    """``/todo``: what waits for me."""
    who = _who(update)
    if who is not None:
        await context.services.approvals.todo(tg_id=who[0], chat_id=who[1])


async def on_mine_command(update: Update, context: Ctx) -> None:
    """``/mine``: my requests."""
    who = _who(update)
    if who is not None:
        await context.services.approvals.mine(tg_id=who[0], chat_id=who[1])


async def on_find_command(update: Update, context: Ctx) -> None:
    """``/find NUMBER``: a request by its number or 发文字号."""
    who = _who(update)
    if who is None:
        return
    number = " ".join(context.args or [])
    await context.services.approvals.find(tg_id=who[0], chat_id=who[1], number=number)


async def on_delegate_command(update: Update, context: Ctx) -> None:
    """``/delegate WHO FROM TO`` | ``/delegate off`` | ``/delegate``: 代理 while away."""
    who = _who(update)
    if who is not None:
        await context.services.approvals.delegate(
            tg_id=who[0], chat_id=who[1], args=list(context.args or [])
        )


async def on_text(update: Update, context: Ctx) -> None:
    """Plain text: the open form's answer or a reason, a trainer's editing step, the answer
    to a survey question, a message to the ticket the user is writing to, else a question for
    the knowledge base."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.text is None:
        return
    reply = message.reply_to_message
    if await context.services.approvals.answer(
        tg_id=who[0],
        chat_id=who[1],
        text=message.text,
        reply_to=reply.message_id if reply is not None else None,
    ):
        return
    # Formatting made with the app's menu reaches an answer as HTML; without any, the text
    # goes as typed (a trainer may write <b>…</b> by hand).
    formatted = (
        message.text_html if any(e.type in _FORMATTING for e in message.entities or ()) else None
    )
    if await context.services.faq_editor.answer(
        tg_id=who[0], chat_id=who[1], text=message.text, formatted=formatted
    ):
        return
    if await announcement_handlers.compose_text(update, context):  # writing an announcement
        return
    if await survey_handlers.answer_typed(update, context):  # answering a survey question
        return
    if await survey_handlers.author_typed(update, context):  # writing a survey (/newsurvey)
        return
    if await support_handlers.relay_from_user(update, context):  # writing to a ticket
        return
    await faq_handlers.on_question(update, context, message.text)


async def on_file(update: Update, context: Ctx) -> None:
    """A document or photo: an attachment of the open form, else a trainer's step waiting for
    a file (an import, an entry's attachments), else (a document) the staff-file upload."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None:
        return
    if message.document is not None:
        doc = message.document
        file_id, unique, name = doc.file_id, doc.file_unique_id, doc.file_name
        mime, size = doc.mime_type, doc.file_size or 0
    elif message.photo:
        photo = message.photo[-1]  # the largest size
        file_id, unique, name = photo.file_id, photo.file_unique_id, None
        mime, size = "image/jpeg", photo.file_size or 0
    else:
        return
    taken = await context.services.approvals.attach(
        tg_id=who[0],
        chat_id=who[1],
        file_id=file_id,
        file_unique_id=unique,
        file_name=name,
        mime=mime,
        size=size,
    )
    if taken:
        return
    if await announcement_handlers.compose_file(update, context):  # an announcement's file
        return
    # A trainer's import or attachments step waiting for a file takes it (a photo there is
    # asked for again as a document), then a ticket the user is writing to; otherwise a
    # document is the staff file.
    if await faq_trainer_handlers.on_kb_file(update, context):
        return
    if await support_handlers.on_roster_file(update, context):
        return
    if await survey_handlers.on_survey_file(update, context):
        return
    if await course_handlers.on_course_file(update, context):
        return
    if await support_handlers.relay_from_user(update, context) or message.document is None:
        return
    await staff_handlers.on_staff_file(update, context)


async def on_form_button(update: Update, context: Ctx) -> None:
    """Buttons of the form: start, option, next, edit, submit, discard."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    service = context.services.approvals
    tg_id, chat_id = who
    toast: str | None = None
    if press.action == "ap.new":
        await service.begin(tg_id=tg_id, chat_id=chat_id, template_id=press.obj_id)
    elif press.action == "ap.opt":
        await service.choose(
            tg_id=tg_id, chat_id=chat_id, draft_id=press.obj_id, option=press.version
        )
    elif press.action == "ap.next":
        await service.files_done(tg_id=tg_id, chat_id=chat_id, draft_id=press.obj_id)
    elif press.action == "ap.edit":
        await service.edit_draft(
            tg_id=tg_id, chat_id=chat_id, draft_id=press.obj_id, index=press.version
        )
    elif press.action in ("ap.send", "ap.resend"):
        number = await service.submit(
            tg_id=tg_id,
            chat_id=chat_id,
            draft_id=press.obj_id,
            version=press.version,
            from_return=press.action == "ap.send",
        )
        toast = toast_text(
            "ap.toast.submitted", {"number": number}, await user_translator(update, context)
        )
    elif press.action == "ap.drop":
        await service.discard(tg_id=tg_id, chat_id=chat_id, draft_id=press.obj_id)
    await query.answer(toast)


async def on_task_button(update: Update, context: Ctx) -> None:
    """Buttons of task and status cards: decide, confirm 签发, withdraw, urge, resubmit."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    service = context.services.approvals
    tg_id, chat_id = who
    verb = press.action.split(".", 1)[1]
    try:
        message = query.message
        pressed_on = message.message_id if message is not None else None
        result = await _task_press(service, verb, press, tg_id, chat_id, pressed_on)
    except AlreadyHandledError as exc:
        # 已由 X 于 T 处理: the loser of a race is told who won, not just "out of date".
        tr = await user_translator(update, context)
        await query.answer(already_handled_text(exc.by, exc.at, tr), show_alert=True)
        return
    if result is None:
        await query.answer()
        return
    await query.answer(
        toast_text(result.toast, result.facts, await user_translator(update, context))
    )


async def _task_press(
    service: ApprovalService,
    verb: str,
    press: callbacks.Press,
    tg_id: int,
    chat_id: int,
    message_id: int | None,
) -> Pressed | None:
    if verb in ("ok", "no", "ret", "tr", "add", "addb", "adda", "addw", "cmt"):
        return await service.press(
            tg_id=tg_id,
            chat_id=chat_id,
            action=verb,
            task_id=press.obj_id,
            version=press.version,
            message_id=message_id,
        )
    if verb == "sign":
        return await service.confirm_sign(
            tg_id=tg_id, chat_id=chat_id, task_id=press.obj_id, version=press.version
        )
    if verb == "open":
        await service.reopen_card(tg_id=tg_id, task_id=press.obj_id)
        return None
    if verb == "wd":
        return await service.withdraw(tg_id=tg_id, instance_id=press.obj_id, version=press.version)
    if verb == "urge":
        return await service.urge(tg_id=tg_id, instance_id=press.obj_id)
    if verb == "rto":
        return await service.pick_return(
            tg_id=tg_id, chat_id=chat_id, task_id=press.obj_id, target=press.version
        )
    if verb == "rvk":
        return await service.revoke(tg_id=tg_id, instance_id=press.obj_id, version=press.version)
    if verb == "read":
        return await service.read_cc(tg_id=tg_id, instance_id=press.obj_id)
    if verb == "note":
        return await service.ask_comment(tg_id=tg_id, chat_id=chat_id, instance_id=press.obj_id)
    if verb == "files":
        return await service.send_files(tg_id=tg_id, chat_id=chat_id, instance_id=press.obj_id)
    if verb == "redit":
        await service.edit_returned(tg_id=tg_id, chat_id=chat_id, instance_id=press.obj_id)
        return None
    return await service.resubmit(
        tg_id=tg_id, chat_id=chat_id, instance_id=press.obj_id, from_return=press.version == 1
    )


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs, registered before the fallbacks."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        (0, CommandHandler("apply", on_apply_command, filters=private)),
        (0, CommandHandler("todo", on_todo_command, filters=private)),
        (0, CommandHandler("mine", on_mine_command, filters=private)),
        (0, CommandHandler("find", on_find_command, filters=private)),
        (0, CommandHandler("delegate", on_delegate_command, filters=private)),
        (0, MessageHandler(private & (filters.Document.ALL | filters.PHOTO), on_file)),
        (0, MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text)),
        (
            0,
            CallbackQueryHandler(
                on_form_button, pattern=r"^ap\.(new|opt|next|edit|send|resend|drop):"
            ),
        ),
        (
            0,
            CallbackQueryHandler(
                on_task_button,
                pattern=r"^ap\.(ok|no|ret|sign|open|wd|urge|resub|redit|tr|add|addb|adda|addw|rto|cmt|note|files|read|rvk):",
            ),
        ),
    ]
