"""Test-side actors: a ``Phone`` (one human account) and a ``Group`` chat."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Sequence

from .state import (
    BOT_COMMAND_RE,
    CallbackAnswer,
    ChatRecord,
    EmulatorState,
    JsonDict,
    MessageRecord,
    MessageVersion,
    SentMessage,
    UserRecord,
    chat_member_json,
)

__all__ = ["ButtonNotFound", "Group", "Phone"]

MessageRef = SentMessage | int | None
ALBUM_KINDS = frozenset({"photo", "document"})  # photos and documents don't mix in an album
MAX_ALBUM = 10


class ButtonNotFound(KeyError):
    """No inline button with that text/data exists where the phone looked."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "button not found"


def _command_entities(text: str) -> list[JsonDict]:
    match = BOT_COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(match.group(0))}]


def _describe(state: EmulatorState, chat_id: int, header: str) -> str:
    chat = state.require_chat(chat_id)
    lines = [header, f"chat {chat_id} has {len(chat.messages)} message(s):"]
    for record in sorted(chat.messages.values(), key=lambda m: m.message_id)[-25:]:
        if record.kind == "service":
            continue
        who = "bot" if record.from_bot else f"user {record.sender_id}"
        flags = " [deleted]" if record.deleted else ""
        flags += f" [v{len(record.versions)}]" if len(record.versions) > 1 else ""
        buttons = state.snapshot(record).buttons
        shown = f" buttons={buttons}" if buttons else ""
        lines.append(f"  #{record.message_id} {who}{flags}: {record.current.text!r}{shown}")
    return "\n".join(lines)


class _ChatView:
    """Reading and waiting helpers shared by private chats and groups."""

    def __init__(self, state: EmulatorState, chat_id: int) -> None:
        self._state = state
        self.chat_id = chat_id

    @property
    def _chat(self) -> ChatRecord:
        return self._state.require_chat(self.chat_id)

    def messages(
        self, *, include_deleted: bool = True, include_user: bool = False
    ) -> list[SentMessage]:
        """Bot messages in this chat (current state; deleted ones flagged), oldest first."""
        return self._state.chat_messages(
            self.chat_id, include_user=include_user, include_deleted=include_deleted
        )

    def last_message(self) -> SentMessage | None:
        """Newest bot message that is not deleted."""
        alive = self.messages(include_deleted=False)
        return alive[-1] if alive else None

    def _find(
        self,
        containing: str | None,
        after: int | None,
        where: Callable[[SentMessage], bool] | None,
    ) -> SentMessage | None:
        for message in self.messages(include_deleted=False):
            if after is not None and message.message_id <= after:
                continue
            if containing is not None and containing not in message.text:
                continue
            if where is not None and not where(message):
                continue
            return message
        return None

    async def wait_message(
        self,
        containing: str | None = None,
        *,
        after: int | SentMessage | None = None,
        where: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
    ) -> SentMessage:
        """Wait for the oldest live bot message (id > ``after``) matching; return it."""
        after_id = after.message_id if isinstance(after, SentMessage) else after
        found: list[SentMessage] = []

        def ready() -> bool:
            message = self._find(containing, after_id, where)
            if message is not None:
                found.append(message)
            return message is not None

        header = f"no bot message containing {containing!r} (after={after_id}) in {timeout}s"
        await self._state.wait_until(
            ready, timeout, lambda: _describe(self._state, self.chat_id, header)
        )
        return found[-1]

    async def wait_edit(
        self,
        message: SentMessage,
        *,
        where: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
    ) -> SentMessage:
        """Wait until ``message`` gets a newer version (or is deleted); return the new state.
        With ``where``: until its newest version matches (later edits may come first)."""
        record = self._record(message.message_id)

        def ready() -> bool:
            changed = len(record.versions) > message.version_count or (
                record.deleted and not message.deleted
            )
            return changed and (where is None or where(self._state.snapshot(record)))

        header = f"message #{message.message_id} was not edited within {timeout}s"
        await self._state.wait_until(
            ready, timeout, lambda: _describe(self._state, self.chat_id, header)
        )
        return self._state.snapshot(record)

    def _record(self, message_id: int) -> MessageRecord:
        record = self._chat.messages.get(message_id)
        if record is None:
            raise KeyError(f"chat {self.chat_id} has no message #{message_id}")
        return record

    def _post(
        self,
        user: UserRecord,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to: MessageRef = None,
        entities: Sequence[JsonDict] = (),
    ) -> int:
        chat = self._chat
        reply_id = reply_to.message_id if isinstance(reply_to, SentMessage) else reply_to
        record = self._state.add_message(
            chat,
            from_bot=False,
            sender_id=user.id,
            kind="text",
            text=text,
            entities=_command_entities(text) + list(entities),
            thread_id=thread_id,
            reply_to_id=reply_id,
        )
        return self._push_message(record)

    def _edit(self, user: UserRecord, message_id: int, text: str) -> int:
        record = self._chat.messages.get(message_id)
        if record is None or record.from_bot or record.sender_id != user.id:
            raise KeyError(f"no message {message_id} of user {user.id} in chat {self.chat_id}")
        now = time.time()
        record.versions.append(MessageVersion(text, _command_entities(text), None, None, now))
        record.edit_date = int(now)
        payload = self._state.message_json(record)
        self._state.publish(
            {
                "type": "edit",
                "chat_id": record.chat_id,
                "message": self._state.snapshot(record).to_json(),
            }
        )
        return self._state.push_update("edited_message", payload, f"chat:{self.chat_id}").update_id

    def _push_message(self, record: MessageRecord) -> int:
        payload = self._state.message_json(record)
        update_id = self._state.push_update("message", payload, f"chat:{self.chat_id}").update_id
        # What the user sent shows up on every screen of the chat, like any other message.
        self._state.publish(
            {
                "type": "message",
                "chat_id": record.chat_id,
                "message": self._state.snapshot(record).to_json(),
            }
        )
        return update_id

    def _upload(
        self,
        user: UserRecord,
        file_name: str,
        data: bytes,
        *,
        kind: str = "document",
        mime_type: str | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
        caption_entities: Sequence[JsonDict] = (),
    ) -> int:
        file = self._state.store_file(data, kind, file_name, mime_type)
        record = self._state.add_message(
            self._chat,
            from_bot=False,
            sender_id=user.id,
            kind=kind,
            text=caption or "",
            entities=list(caption_entities),
            thread_id=thread_id,
            file=file,
        )
        return self._push_message(record)

    def _upload_album(
        self,
        user: UserRecord,
        files: Sequence[tuple[str, bytes]],
        *,
        kind: str,
        caption: str | None,
        thread_id: int | None = None,
    ) -> list[int]:
        if kind not in ALBUM_KINDS:
            raise ValueError(f"an album holds photos or documents, not {kind!r}")
        if not 2 <= len(files) <= MAX_ALBUM:
            raise ValueError(f"an album has 2-{MAX_ALBUM} items, not {len(files)}")
        album = self._state.new_media_group_id()
        update_ids: list[int] = []
        for index, (file_name, data) in enumerate(files):
            mime_type = "image/jpeg" if kind == "photo" else mimetypes.guess_type(file_name)[0]
            record = self._state.add_message(
                self._chat,
                from_bot=False,
                sender_id=user.id,
                kind=kind,
                # A client puts the album's caption on its first item.
                text=(caption or "") if index == 0 else "",
                thread_id=thread_id,
                file=self._state.store_file(data, kind, file_name, mime_type),
                media_group_id=album,
            )
            # Telegram delivers an album as one message update per item.
            update_ids.append(self._push_message(record))
        return update_ids

    def _explicit(self, message: SentMessage | int) -> MessageRecord:
        if isinstance(message, SentMessage) and message.chat_id != self.chat_id:
            raise ValueError(
                f"message #{message.message_id} belongs to chat {message.chat_id}, "
                f"not {self.chat_id}"
            )
        record = self._record(message if isinstance(message, int) else message.message_id)
        if record.deleted:
            raise ValueError(f"message #{record.message_id} was deleted; it has no buttons")
        return record

    def _target_for_text(self, text: str, message: MessageRef) -> tuple[MessageRecord, str]:
        if message is not None:
            candidates = [self._explicit(message)]
        else:
            candidates = sorted(
                (m for m in self._chat.messages.values() if m.from_bot and not m.deleted),
                key=lambda m: -m.message_id,
            )
        for record in candidates:
            markup = record.current.reply_markup or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button.get("text") != text:
                        continue
                    if "callback_data" not in button:
                        raise ValueError(
                            f"button {text!r} in #{record.message_id} is not a callback "
                            f"button: {button}"
                        )
                    return record, str(button["callback_data"])
        where = "the given message" if message is not None else "any bot message"
        header = f"no inline button {text!r} in {where}"
        raise ButtonNotFound(_describe(self._state, self.chat_id, header))

    def _callback(self, user: UserRecord, record: MessageRecord, data: str) -> str:
        callback = self._state.new_callback(user.id, record, data)
        payload: JsonDict = {
            "id": callback.id,
            "from": user.to_json(),
            "message": self._state.message_json(record),
            "chat_instance": str(abs(self.chat_id) * 7919 + 17),
            "data": data,
        }
        self._state.push_update("callback_query", payload, f"chat:{self.chat_id}")
        return callback.id

    def _press_text(self, user: UserRecord, text: str, message: MessageRef) -> str:
        record, data = self._target_for_text(text, message)
        return self._callback(user, record, data)

    def _press_data(self, user: UserRecord, data: str, message: MessageRef) -> str:
        if message is None:
            alive = [m for m in self._chat.messages.values() if m.from_bot and not m.deleted]
            if not alive:
                raise ButtonNotFound(f"chat {self.chat_id} has no bot message to press on")
            record = max(alive, key=lambda m: m.message_id)
        else:
            record = self._explicit(message)
        return self._callback(user, record, data)


class Phone(_ChatView):
    """One Telegram user and their private chat with the bot."""

    def __init__(self, state: EmulatorState, user: UserRecord) -> None:
        super().__init__(state, user.id)
        self.user = user
        self._last_sent_id: int | None = None

    @property
    def id(self) -> int:
        """The user id (also the private chat id)."""
        return self.user.id

    def _ensure_can_write(self) -> None:
        if self.user.blocked:
            raise RuntimeError(f"user {self.id} has blocked the bot; call phone.unblock() first")

    def _mark(self) -> None:
        self._last_sent_id = self._chat.next_message_id - 1

    async def send(
        self, text: str, *, reply_to: MessageRef = None, entities: Sequence[JsonDict] = ()
    ) -> int:
        """Type a text message to the bot (``entities``: its formatting, offsets in UTF-16
        code units as Telegram counts them); returns the update_id."""
        self._ensure_can_write()
        update_id = self._post(self.user, text, reply_to=reply_to, entities=entities)
        self._mark()
        return update_id

    async def command(self, text: str) -> int:
        """Send a command such as "/start abc" (with its bot_command entity)."""
        if not text.startswith("/"):
            raise ValueError(f"a command starts with '/': {text!r}")
        return await self.send(text)

    async def press(self, text: str, message: MessageRef = None) -> str:
        """Press the inline button labelled ``text``; returns the callback query id."""
        self._ensure_can_write()
        return self._press_text(self.user, text, message)

    def set_language(self, language_code: str | None) -> None:
        """Change the app's language: later updates carry the new ``language_code``."""
        self.user.language_code = language_code or None
        self._state.publish({"type": "user", "user": self.user.to_json()})

    def visible_commands(self) -> list[JsonDict]:
        """The command menu this user sees in the private chat."""
        return self._state.visible_commands(self.chat_id, self.id)

    async def edit(self, message_id: int, text: str) -> int:
        """Edit one of this user's own text messages; returns the edited_message update_id."""
        self._ensure_can_write()
        return self._edit(self.user, message_id, text)

    async def press_data(self, data: str, message: MessageRef = None) -> str:
        """Send a callback query with arbitrary (possibly forged) data."""
        self._ensure_can_write()
        return self._press_data(self.user, data, message)

    async def upload(
        self,
        file_name: str,
        data: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> int:
        """Send a document; returns the update_id."""
        self._ensure_can_write()
        update_id = self._upload(self.user, file_name, data, mime_type=mime_type, caption=caption)
        self._mark()
        return update_id

    async def upload_photo(
        self,
        data: bytes,
        caption: str | None = None,
        caption_entities: Sequence[JsonDict] = (),
    ) -> int:
        """Send a photo (``caption_entities``: the caption's formatting); returns the
        update_id."""
        self._ensure_can_write()
        update_id = self._upload(
            self.user,
            "photo.jpg",
            data,
            kind="photo",
            mime_type="image/jpeg",
            caption=caption,
            caption_entities=caption_entities,
        )
        self._mark()
        return update_id

    async def upload_album(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        kind: str = "photo",
        caption: str | None = None,
    ) -> list[int]:
        """Send 2-10 (file name, bytes) as one album of photos or documents, captioned on its
        first item; returns the update_id of each item."""
        self._ensure_can_write()
        update_ids = self._upload_album(self.user, files, kind=kind, caption=caption)
        self._mark()
        return update_ids

    def _member_update(self, old: str, new: str) -> int:
        bot = self._state.bot_json()
        payload: JsonDict = {
            "chat": self._state.chat_json(self._chat),
            "from": self.user.to_json(),
            "date": int(time.time()),
            "old_chat_member": chat_member_json(old, bot),
            "new_chat_member": chat_member_json(new, bot),
        }
        lane = f"chat:{self.chat_id}"
        return self._state.push_update("my_chat_member", payload, lane).update_id

    def block(self) -> int | None:
        """Block the bot (its sends get 403); emits my_chat_member (kicked)."""
        if self.user.blocked:
            return None
        self.user.blocked = True
        return self._member_update("member", "kicked")

    def unblock(self) -> int | None:
        """Unblock the bot; emits my_chat_member (member)."""
        if not self.user.blocked:
            return None
        self.user.blocked = False
        return self._member_update("kicked", "member")

    def toasts(self) -> list[CallbackAnswer]:
        """Callback answers the bot gave to this user's presses, in answer order."""
        callbacks = self._state.callbacks
        return [
            a
            for a in self._state.answers
            if a.callback_query_id in callbacks
            and callbacks[a.callback_query_id].user_id == self.id
        ]

    async def wait_reply(
        self,
        containing: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented test API
    ) -> SentMessage:
        """Wait for a bot message newer than this phone's last sent message."""
        return await self.wait_message(containing, after=self._last_sent_id, timeout=timeout)

    def __repr__(self) -> str:
        return f"Phone(id={self.id}, first_name={self.user.first_name!r})"


class Group(_ChatView):
    """A group or supergroup (forum) chat with member phones."""

    def __init__(self, state: EmulatorState, chat: ChatRecord) -> None:
        super().__init__(state, chat.id)

    @property
    def id(self) -> int:
        """The chat id (negative)."""
        return self.chat_id

    @property
    def title(self) -> str:
        """Group title."""
        return self._chat.title or ""

    def _member(self, phone: Phone) -> UserRecord:
        chat = self._chat
        if phone.id not in chat.member_ids:
            raise RuntimeError(f"{phone!r} is not a member of group {self.chat_id}")
        if chat.bot_status not in ("member", "administrator"):
            raise RuntimeError(
                f"the bot is not in group {self.chat_id}; call emu.add_bot_to_group() first"
            )
        return phone.user

    def _thread(self, thread_id: int | None) -> int | None:
        if thread_id is not None and thread_id not in self._chat.topics:
            raise KeyError(f"group {self.chat_id} has no topic {thread_id}")
        return thread_id

    def add_member(self, phone: Phone, *, admin: bool = False) -> None:
        """Add a user to the group (no update is emitted)."""
        chat = self._chat
        if phone.id not in chat.member_ids:
            chat.member_ids.append(phone.id)
        if admin:
            chat.admin_ids.add(phone.id)

    async def send(
        self,
        phone: Phone,
        text: str,
        thread_id: int | None = None,
        *,
        reply_to: MessageRef = None,
    ) -> int:
        """``phone`` posts ``text`` in the group (optionally in a forum topic)."""
        user = self._member(phone)
        return self._post(user, text, thread_id=self._thread(thread_id), reply_to=reply_to)

    async def edit(self, phone: Phone, message_id: int, text: str) -> int:
        """``phone`` edits one of its text messages in the group; returns the update_id."""
        return self._edit(self._member(phone), message_id, text)

    async def command(self, phone: Phone, text: str, thread_id: int | None = None) -> int:
        """``phone`` sends a command in the group."""
        if not text.startswith("/"):
            raise ValueError(f"a command starts with '/': {text!r}")
        return await self.send(phone, text, thread_id)

    async def press(self, phone: Phone, text: str, message: MessageRef = None) -> str:
        """``phone`` presses an inline button in the group; returns the callback query id."""
        return self._press_text(self._member(phone), text, message)

    async def press_data(self, phone: Phone, data: str, message: MessageRef = None) -> str:
        """``phone`` sends a forged callback query in the group."""
        return self._press_data(self._member(phone), data, message)

    async def upload(
        self,
        phone: Phone,
        file_name: str,
        data: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        """``phone`` posts a document in the group."""
        user = self._member(phone)
        return self._upload(
            user,
            file_name,
            data,
            mime_type=mime_type,
            caption=caption,
            thread_id=self._thread(thread_id),
        )

    async def upload_album(
        self,
        phone: Phone,
        files: Sequence[tuple[str, bytes]],
        *,
        kind: str = "photo",
        caption: str | None = None,
        thread_id: int | None = None,
    ) -> list[int]:
        """``phone`` posts 2-10 (file name, bytes) as one album in the group (optionally in a
        forum topic); returns the update_id of each item."""
        user = self._member(phone)
        return self._upload_album(
            user, files, kind=kind, caption=caption, thread_id=self._thread(thread_id)
        )

    def delete_topic(self, thread_id: int) -> None:
        """An admin deletes a forum topic and its messages in the app (the bot is not told:
        its next message there gets "message thread not found")."""
        chat = self._chat
        if thread_id not in chat.topics:
            raise KeyError(f"group {self.chat_id} has no topic {thread_id}")
        del chat.topics[thread_id]
        for record in chat.messages.values():
            if record.thread_id == thread_id and not record.deleted:
                record.deleted = True
                if record.kind != "service":
                    self._state.publish(
                        {
                            "type": "delete",
                            "chat_id": chat.id,
                            "message": self._state.snapshot(record).to_json(),
                        }
                    )

    def topics(self) -> dict[int, str]:
        """Forum topics: thread id → name."""
        return {tid: t.name for tid, t in self._chat.topics.items()}

    def __repr__(self) -> str:
        return f"Group(id={self.chat_id}, title={self.title!r})"
