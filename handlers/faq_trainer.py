"""The trainers' tools in chat (#6): /kb, the ``ke.`` buttons, and knowledge-base uploads.

Thin adapters over FaqEditorService: parse, call one method, answer the tap once. Cards and
replies come back through the outbox. Text typed during a step reaches the service from
handlers/approvals.py (``faq_editor.answer``), documents and photos through ``on_kb_file``.
"""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.errors import BadCallbackError, ImportFileError
from bot.faq.editor import (
    ENTRIES,
    EXPORT_FORMATS,
    GLOSSARY,
    GLOSSARY_FORMATS,
    MAX_UPLOAD_BYTES,
    FaqEditorService,
)
from handlers import callbacks
from handlers.context import Ctx

logger = logging.getLogger(__name__)

LIST_MODES = {1: "drafts", 2: "archived"}  # ke.list's version
IMPORT_KINDS = (ENTRIES, GLOSSARY)  # ke.imp's version
# The fields a card's edit buttons ask for.
EDIT_FIELDS = {
    "editq": "question",
    "addalt": "phrasing",
    "editans": "answer",
    "editcat": "category",
    "tags": "tags",
}


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def _download(context: Ctx, file_id: str, size: int | None) -> bytes:
    """A document's bytes, refused before and after the download when over the limit."""
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise ImportFileError("too_large")
    telegram_file = await context.bot.get_file(file_id)
    data = bytes(await telegram_file.download_as_bytearray())
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportFileError("too_large")
    return data


async def on_kb_command(update: Update, context: Ctx) -> None:
    """``/kb``: the trainer's home card."""
    who = _who(update)
    if who is not None:
        await context.services.faq_editor.home(tg_id=who[0], chat_id=who[1])


async def on_kb_file(update: Update, context: Ctx) -> bool:
    """A document while a trainer's import or an entry's attachments step waits for one (a
    photo there is asked for again as a file); False if it is not for us."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None:
        return False
    editor = context.services.faq_editor
    document = message.document
    if document is None:
        return bool(message.photo) and await editor.take_photo(tg_id=who[0], chat_id=who[1])

    async def fetch() -> bytes:
        return await _download(context, document.file_id, document.file_size)

    return await editor.take_file(
        tg_id=who[0],
        chat_id=who[1],
        file_name=document.file_name,
        file_id=document.file_id,
        size=document.file_size,
        fetch=fetch,
        mime=document.mime_type,
    )


async def on_kb_button(update: Update, context: Ctx) -> None:
    """Every ``ke.`` button: the home card, lists, the entry card, steps, imports, exports."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    editor = context.services.faq_editor
    verb = press.action.split(".", 1)[1]
    tg_id, chat_id = who
    if verb in ("imok", "imdr"):
        pending = await editor.pending_import(
            tg_id=tg_id, chat_id=chat_id, flow_version=press.obj_id
        )
        data = await _download(context, pending.file_id, None)
        await editor.apply_upload(
            tg_id=tg_id,
            chat_id=chat_id,
            flow_version=press.obj_id,
            data=data,
            publish=verb == "imok",
        )
    else:
        await _press(editor, verb, press, tg_id, chat_id)
    await query.answer()


async def _press(
    editor: FaqEditorService, verb: str, press: callbacks.Press, tg_id: int, chat_id: int
) -> None:
    obj, version = press.obj_id, press.version
    if verb in EDIT_FIELDS:
        await editor.start_edit(
            tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version, field=EDIT_FIELDS[verb]
        )
    elif verb == "home":
        await editor.home(tg_id=tg_id, chat_id=chat_id)
    elif verb == "find":
        await editor.start_search(tg_id=tg_id, chat_id=chat_id)
    elif verb == "list":
        if version not in LIST_MODES:
            raise BadCallbackError()
        await editor.show_list(tg_id=tg_id, chat_id=chat_id, mode=LIST_MODES[version])
    elif verb == "page":
        await editor.page(tg_id=tg_id, chat_id=chat_id, flow_version=obj, page=version)
    elif verb == "new":
        await editor.start_new(tg_id=tg_id, chat_id=chat_id)
    elif verb == "imp":
        if version >= len(IMPORT_KINDS):
            raise BadCallbackError()
        await editor.start_import(tg_id=tg_id, chat_id=chat_id, kind=IMPORT_KINDS[version])
    elif verb == "imno":
        await editor.cancel_import(tg_id=tg_id, chat_id=chat_id, flow_version=obj)
    elif verb == "exp":
        if version >= len(EXPORT_FORMATS):
            raise BadCallbackError()
        await editor.export(tg_id=tg_id, chat_id=chat_id, fmt=EXPORT_FORMATS[version])
    elif verb == "gloss":
        await editor.glossary_home(tg_id=tg_id, chat_id=chat_id)
    elif verb == "gexp":
        if version >= len(GLOSSARY_FORMATS):
            raise BadCallbackError()
        await editor.export_glossary(tg_id=tg_id, chat_id=chat_id, fmt=GLOSSARY_FORMATS[version])
    elif verb == "open":
        await editor.open_entry(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    elif verb == "view":
        await editor.preview(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    elif verb == "pub":
        await editor.publish(tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version)
    elif verb == "keep":
        await editor.keep_draft(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    elif verb == "done":
        await editor.phrasings_done(tg_id=tg_id, chat_id=chat_id)
    elif verb == "cat":
        await editor.choose_category(tg_id=tg_id, chat_id=chat_id, entry_id=obj, index=version)
    elif verb == "notags":
        await editor.clear_tags(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    elif verb == "fups":
        await editor.start_follow_ups(tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version)
    elif verb == "fuadd":
        await editor.add_follow_up(
            tg_id=tg_id, chat_id=chat_id, entry_id=obj, follow_up_id=version
        )
    elif verb == "furm":
        await editor.remove_follow_up(
            tg_id=tg_id, chat_id=chat_id, flow_version=obj, index=version
        )
    elif verb == "files":
        await editor.start_attach(tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version)
    elif verb == "rmfile":
        await editor.remove_attachment(
            tg_id=tg_id, chat_id=chat_id, flow_version=obj, index=version
        )
    elif verb == "delalt":
        await editor.ask_remove(tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version)
    elif verb == "rmalt":
        await editor.remove_phrasing(tg_id=tg_id, chat_id=chat_id, entry_id=obj, index=version)
    elif verb == "vers":
        await editor.versions(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    elif verb == "rb":
        await editor.ask_rollback(tg_id=tg_id, chat_id=chat_id, entry_id=obj, version=version)
    elif verb == "rbok":
        await editor.rollback(tg_id=tg_id, chat_id=chat_id, entry_id=obj, version=version)
    elif verb == "arch":
        await editor.ask_archive(tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version)
    elif verb == "arok":
        await editor.archive(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    elif verb == "unarch":
        await editor.restore(tg_id=tg_id, chat_id=chat_id, entry_id=obj, revision=version)
    elif verb == "quit":
        await editor.quit(tg_id=tg_id, chat_id=chat_id, entry_id=obj)
    else:
        raise BadCallbackError()


VERBS = (
    "home|find|list|page|new|imp|imok|imdr|imno|exp|gloss|gexp|open|view|pub|keep|done|cat"
    "|editq|addalt|delalt|rmalt|editans|editcat|tags|notags|fups|fuadd|furm|files|rmfile"
    "|vers|rb|rbok|arch|arok|unarch|quit"
)


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    """(group, handler) pairs for the trainers' tools."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edits re-run nothing
    return [
        (0, CommandHandler("kb", on_kb_command, filters=private)),
        (0, CallbackQueryHandler(on_kb_button, pattern=rf"^ke\.({VERBS}):")),
    ]
