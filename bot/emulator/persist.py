"""Keep the emulator's world on disk, so a sandbox restart finds every chat where it was.

Telegram keeps chats, files and undelivered updates across a bot's restarts; the sandbox has to
as well, or living cards would point at messages nobody has and the bot's inbox (which
remembers update ids) would take a restarted emulator's new updates for replays. ``save``
writes ``state.json`` atomically plus one blob per file (written once, files never change);
``load`` restores them, id counters included. Call logs and callback answers shown as toasts
are not kept: they are what happened, not what is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from .state import (
    CallbackRecord,
    ChatRecord,
    EmulatorState,
    FileRecord,
    JsonDict,
    MessageRecord,
    MessageVersion,
    TopicRecord,
    UpdateRecord,
    UserRecord,
)

__all__ = ["FORMAT", "autosave", "load_state", "save_state"]

FORMAT = 1
STATE_FILE = "state.json"
FILES_DIR = "files"
logger = logging.getLogger(__name__)


def _message(record: MessageRecord) -> JsonDict:
    return {
        "message_id": record.message_id,
        "date": record.date,
        "from_bot": record.from_bot,
        "sender_id": record.sender_id,
        "kind": record.kind,
        "versions": [
            {
                "text": v.text,
                "entities": v.entities,
                "html": v.html,
                "reply_markup": v.reply_markup,
                "at": v.at,
            }
            for v in record.versions
        ],
        "thread_id": record.thread_id,
        "file_id": record.file.file_id if record.file is not None else None,
        "reply_to_id": record.reply_to_id,
        "deleted": record.deleted,
        "edit_date": record.edit_date,
        "extra": record.extra,
        "media_group_id": record.media_group_id,
    }


def _chat(chat: ChatRecord) -> JsonDict:
    return {
        "id": chat.id,
        "type": chat.type,
        "title": chat.title,
        "user_id": chat.user_id,
        "member_ids": list(chat.member_ids),
        "admin_ids": sorted(chat.admin_ids),
        "owner_id": chat.owner_id,
        "forum": chat.forum,
        "username": chat.username,
        "bot_status": chat.bot_status,
        "next_message_id": chat.next_message_id,
        "messages": [_message(m) for m in chat.messages.values()],
        "topics": [
            {
                "thread_id": t.thread_id,
                "name": t.name,
                "icon_color": t.icon_color,
                "icon_custom_emoji_id": t.icon_custom_emoji_id,
                "closed": t.closed,
            }
            for t in chat.topics.values()
        ],
        "menu_button": chat.menu_button,
    }


def snapshot(state: EmulatorState) -> JsonDict:
    """Everything worth keeping, as JSON-ready data (file bytes excluded)."""
    return {
        "format": FORMAT,
        "bot_id": state.bot_id,
        "next": state.next_ids(),
        "users": [
            {
                "id": u.id,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "username": u.username,
                "language_code": u.language_code,
                "blocked": u.blocked,
            }
            for u in state.users.values()
        ],
        "chats": [_chat(c) for c in state.chats.values()],
        "files": [
            {
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "kind": f.kind,
                "file_name": f.file_name,
                "mime_type": f.mime_type,
                "file_path": f.file_path,
                "width": f.width,
                "height": f.height,
            }
            for f in state.files.values()
        ],
        "callbacks": [
            {
                "id": c.id,
                "user_id": c.user_id,
                "chat_id": c.chat_id,
                "message_id": c.message_id,
                "data": c.data,
                "at": c.at,
                "answered": c.answered,
            }
            for c in state.callbacks.values()
        ],
        "commands": [
            {"scope": kind, "chat_id": chat, "user_id": user, "language_code": lang, "list": cmds}
            for (kind, chat, user, lang), cmds in state.commands.items()
        ],
        "pending": [
            {"update_id": u.update_id, "kind": u.kind, "payload": u.payload, "lane": u.lane}
            for u in sorted(state.pending.values(), key=lambda u: u.update_id)
        ],
    }


def _write(directory: Path, data: JsonDict, blobs: dict[str, bytes]) -> None:
    files = directory / FILES_DIR
    files.mkdir(parents=True, exist_ok=True)
    for name, content in blobs.items():
        target = files / name
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(content)
            os.replace(tmp, target)
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, directory / STATE_FILE)


def _blobs(state: EmulatorState) -> dict[str, bytes]:
    return {f.file_unique_id: f.data for f in state.files.values()}


def save_state(state: EmulatorState, directory: Path) -> None:
    """Write the world to ``directory`` (atomic: a crash leaves the previous save)."""
    _write(directory, snapshot(state), _blobs(state))


async def save_state_async(state: EmulatorState, directory: Path) -> None:
    """``save_state`` with the disk writes off the event loop (the snapshot is taken here)."""
    data, blobs = snapshot(state), _blobs(state)
    await asyncio.to_thread(_write, directory, data, blobs)


def _opt(value: Any) -> int | None:
    return None if value is None else int(value)


def load_state(state: EmulatorState, directory: Path) -> bool:
    """Restore a saved world into a fresh ``state``; False when there is nothing saved.

    A file from another format or another bot is refused (ValueError): mixing two worlds would
    hand the bot chats it never had.
    """
    path = directory / STATE_FILE
    if not path.exists():
        return False
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: saved by another emulator version ({data.get('format')!r})")
    if data.get("bot_id") != state.bot_id:
        raise ValueError(f"{path}: saved for bot {data.get('bot_id')}, not {state.bot_id}")
    for u in data["users"]:
        state.users[u["id"]] = UserRecord(
            u["id"], u["first_name"], u["last_name"], u["username"], u["language_code"]
        )
        state.users[u["id"]].blocked = bool(u["blocked"])
    for f in data["files"]:
        blob = directory / FILES_DIR / f["file_unique_id"]
        record = FileRecord(
            file_id=f["file_id"],
            file_unique_id=f["file_unique_id"],
            data=blob.read_bytes() if blob.exists() else b"",
            kind=f["kind"],
            file_name=f["file_name"],
            mime_type=f["mime_type"],
            file_path=f["file_path"],
            width=f["width"],
            height=f["height"],
        )
        state.files[record.file_id] = record
        if record.file_path:
            state.files_by_path[record.file_path] = record
    for c in data["chats"]:
        chat = ChatRecord(
            id=c["id"],
            type=c["type"],
            title=c["title"],
            user_id=c["user_id"],
            member_ids=list(c["member_ids"]),
            admin_ids=set(c["admin_ids"]),
            owner_id=c["owner_id"],
            forum=c["forum"],
            username=c["username"],
            bot_status=c["bot_status"],
            next_message_id=c["next_message_id"],
            menu_button=c["menu_button"],
        )
        for t in c["topics"]:
            chat.topics[t["thread_id"]] = TopicRecord(
                t["thread_id"], t["name"], t["icon_color"], t["icon_custom_emoji_id"], t["closed"]
            )
        for m in c["messages"]:
            chat.messages[m["message_id"]] = MessageRecord(
                chat_id=chat.id,
                message_id=m["message_id"],
                date=m["date"],
                from_bot=m["from_bot"],
                sender_id=m["sender_id"],
                kind=m["kind"],
                versions=[
                    MessageVersion(v["text"], v["entities"], v["html"], v["reply_markup"], v["at"])
                    for v in m["versions"]
                ],
                thread_id=_opt(m["thread_id"]),
                file=state.files.get(m["file_id"]) if m["file_id"] else None,
                reply_to_id=_opt(m["reply_to_id"]),
                deleted=m["deleted"],
                edit_date=_opt(m["edit_date"]),
                extra=m["extra"],
                media_group_id=m.get("media_group_id"),  # absent in worlds saved before albums
            )
        state.chats[chat.id] = chat
    for cb in data["callbacks"]:
        state.callbacks[cb["id"]] = CallbackRecord(
            cb["id"], cb["user_id"], cb["chat_id"], cb["message_id"], cb["data"], cb["at"]
        )
        state.callbacks[cb["id"]].answered = bool(cb["answered"])
    for entry in data["commands"]:
        key = (entry["scope"], entry["chat_id"], entry["user_id"], entry["language_code"])
        state.commands[key] = entry["list"]
    for u in data["pending"]:
        update = UpdateRecord(u["update_id"], u["kind"], u["payload"], u["lane"])
        state.all_updates[update.update_id] = update
        state.pending[update.update_id] = update
    state.continue_ids(data["next"])
    state.touch()
    return True


async def autosave(
    state: EmulatorState, directory: Path, stop: asyncio.Event, every_s: float = 2.0
) -> None:
    """Save whenever something changed, at most every ``every_s``, and once more at ``stop``."""
    saved = -1  # the first round always saves: the world may be new, or just restored
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if state.revision == saved:
            continue
        saved = state.revision
        try:
            await save_state_async(state, directory)
        except OSError:
            logger.exception("could not save the emulator state to %s; will retry", directory)
            saved = -1
    await save_state_async(state, directory)
