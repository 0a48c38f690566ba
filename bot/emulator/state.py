"""The emulator's world: users, chats, messages, files, callback queries and the update queue.

Pure asyncio + stdlib (no aiohttp) so the state model can be tested without HTTP. Both the
Bot API layer (``methods``) and the test-side helpers (``phones``/``control``) act on it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "RIGHTS",
    "ApiCall",
    "ApiError",
    "CallbackAnswer",
    "CallbackRecord",
    "ChatRecord",
    "EmulatorState",
    "FileRecord",
    "MessageRecord",
    "MessageVersion",
    "SentDocument",
    "SentMessage",
    "Signal",
    "TopicRecord",
    "UpdateRecord",
    "UserRecord",
    "WebhookConfig",
    "chat_member_json",
]

JsonDict = dict[str, Any]
BOT_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,})?")
# Telegram's default update set omits these three unless asked for explicitly.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)


def chat_member_json(status: str, user: JsonDict) -> JsonDict:
    """ChatMember object with the fields PTB requires for ``status``."""
    data: JsonDict = {"status": status, "user": user}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(can_be_edited=False, is_anonymous=False, **dict.fromkeys(RIGHTS, True))
    elif status == "kicked":
        data["until_date"] = 0
    return data


class ApiError(Exception):
    """A Bot API failure with Telegram's status code and description."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    @classmethod
    def bad_request(cls, detail: str) -> ApiError:
        """400 with the usual "Bad Request: " prefix."""
        return cls(400, f"Bad Request: {detail}")


class Signal:
    """A broadcast wake-up: every waiter is released by the next ``notify()``."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everybody currently waiting."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, within: float | None) -> bool:
        """Wait for the next notify; False on timeout."""
        event = self._event
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the event, and a cancelled waiter would loop forever.
            async with asyncio.timeout(within):
                await event.wait()
        except TimeoutError:
            return False
        return True


@dataclass
class UserRecord:
    """A human Telegram account driven by the test side."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False

    def to_json(self) -> JsonDict:
        """User object as the Bot API serialises it."""
        data: JsonDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class TopicRecord:
    """A forum topic; its id is the id of the service message that created it."""

    thread_id: int
    name: str
    icon_color: int = 7322096
    icon_custom_emoji_id: str | None = None
    closed: bool = False

    def to_json(self) -> JsonDict:
        """ForumTopic object."""
        data: JsonDict = {
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


@dataclass
class FileRecord:
    """Bytes known to the emulator under a file_id (uploaded by a phone or by the bot)."""

    file_id: str
    file_unique_id: str
    data: bytes
    kind: str  # "document" | "photo" | "video"
    file_name: str | None = None
    mime_type: str | None = None
    file_path: str | None = None
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def to_json(self) -> JsonDict:
        """Document or PhotoSize object, depending on kind."""
        data: JsonDict = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.kind == "photo":
            data["width"] = self.width
            data["height"] = self.height
            return data
        if self.file_name:
            data["file_name"] = self.file_name
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data


@dataclass(frozen=True)
class MessageVersion:
    """One state of a message's text/caption and markup; edits append versions."""

    text: str
    entities: list[JsonDict]
    html: str | None
    reply_markup: JsonDict | None
    at: float


@dataclass
class MessageRecord:
    """A message in a chat, from the bot or from a user."""

    chat_id: int
    message_id: int
    date: int
    from_bot: bool
    sender_id: int
    kind: str  # "text" | "document" | "photo" | "service"
    versions: list[MessageVersion]
    thread_id: int | None = None
    file: FileRecord | None = None
    reply_to_id: int | None = None
    deleted: bool = False
    edit_date: int | None = None
    extra: JsonDict = field(default_factory=dict)
    media_group_id: str | None = None  # the album it belongs to

    @property
    def current(self) -> MessageVersion:
        """Latest version."""
        return self.versions[-1]


@dataclass(frozen=True)
class SentDocument:
    """A file attached to a message, with its bytes."""

    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    file_size: int
    data: bytes = field(repr=False)

    def read(self) -> bytes:
        """The file's content."""
        return self.data


def _button_rows(markup: JsonDict | None, key: str) -> list[list[Any]]:
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    out: list[list[Any]] = []
    for row in rows:
        cells: list[Any] = []
        for button in row:
            if isinstance(button, str):
                cells.append(button if key == "text" else None)
            else:
                cells.append(button.get(key))
        out.append(cells)
    return out


@dataclass(frozen=True)
class SentMessage:
    """Immutable snapshot of a message as the phone sees it (take a new one after edits).

    ``text`` is the plain text (the caption for media), ``html`` the raw HTML the bot sent,
    ``versions`` every text the message has had, ``document`` the attached file (document or
    photo, see ``kind``), ``media_group_id`` the album it belongs to.
    """

    message_id: int
    chat_id: int
    text: str
    html: str | None
    entities: list[JsonDict]
    reply_markup: JsonDict | None
    versions: list[str]
    deleted: bool
    date: int
    message_thread_id: int | None
    kind: str
    from_bot: bool
    document: SentDocument | None
    edit_date: int | None
    sender_id: int = 0
    sender_name: str = ""
    reply_to_message_id: int | None = None
    media_group_id: str | None = None

    @property
    def buttons(self) -> list[list[str]]:
        """Button texts, row by row (inline or reply keyboard)."""
        return [[str(t) for t in row] for row in _button_rows(self.reply_markup, "text")]

    @property
    def callback_data(self) -> list[list[str | None]]:
        """callback_data per inline button (None for URL and other buttons), row by row."""
        return _button_rows(self.reply_markup, "callback_data")

    @property
    def version_count(self) -> int:
        """How many versions existed when this snapshot was taken."""
        return len(self.versions)

    @property
    def caption(self) -> str:
        """Alias of ``text`` for media messages."""
        return self.text

    def to_json(self) -> JsonDict:
        """JSON for the control API / event stream (file bytes omitted)."""
        data: JsonDict = {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "text": self.text,
            "html": self.html,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "buttons": self.buttons,
            "callback_data": self.callback_data,
            "versions": self.versions,
            "deleted": self.deleted,
            "date": self.date,
            "message_thread_id": self.message_thread_id,
            "kind": self.kind,
            "from_bot": self.from_bot,
            "edit_date": self.edit_date,
            "sender_id": self.sender_id,
            "sender_name": self.sender_name,
            "reply_to_message_id": self.reply_to_message_id,
            "media_group_id": self.media_group_id,
            "document": None,
        }
        if self.document is not None:
            data["document"] = {
                "file_id": self.document.file_id,
                "file_name": self.document.file_name,
                "mime_type": self.document.mime_type,
                "file_size": self.document.file_size,
            }
        return data


@dataclass
class ChatRecord:
    """A private chat with a user, a group or a supergroup (optionally a forum)."""

    id: int
    type: str  # "private" | "group" | "supergroup"
    title: str | None = None
    user_id: int | None = None
    member_ids: list[int] = field(default_factory=list)
    admin_ids: set[int] = field(default_factory=set)
    owner_id: int | None = None
    forum: bool = False
    username: str | None = None
    bot_status: str = "member"  # member | administrator | left | kicked
    next_message_id: int = 1
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    topics: dict[int, TopicRecord] = field(default_factory=dict)
    menu_button: JsonDict = field(default_factory=lambda: {"type": "default"})

    @property
    def is_group(self) -> bool:
        """True for groups and supergroups."""
        return self.type != "private"

    def take_message_id(self) -> int:
        """Allocate the next message id; ids are per chat, shared by both sides."""
        mid = self.next_message_id
        self.next_message_id += 1
        return mid


@dataclass
class CallbackRecord:
    """A callback query created by a press, and how the bot answered it."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    at: float
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None


@dataclass(frozen=True)
class CallbackAnswer:
    """What the phone showed after the bot answered a callback query."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass
class UpdateRecord:
    """An update; ``forced`` marks a redelivery that must reach the bot regardless of offset."""

    update_id: int
    kind: str
    payload: JsonDict
    lane: str
    forced: bool = False

    def to_json(self) -> JsonDict:
        """Update object."""
        return {"update_id": self.update_id, self.kind: self.payload}


_PAYLOAD_SKIP = frozenset({"chat_id", "parse_mode"})
_PAYLOAD_TEXT = 80


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= _PAYLOAD_TEXT else text[: _PAYLOAD_TEXT - 1] + "…"


def _short_payload(params: JsonDict) -> str:
    """``text="…" reply_markup=3 buttons`` — what a traffic panel row shows."""
    parts: list[str] = []
    for name, value in params.items():
        if name in _PAYLOAD_SKIP or value is None:
            continue
        if name == "reply_markup":
            markup = value
            if isinstance(value, str):
                try:
                    markup = json.loads(value)
                except ValueError:
                    markup = None
            rows = _button_rows(markup if isinstance(markup, dict) else None, "text")
            parts.append(f"{name}={sum(len(r) for r in rows)} buttons")
            continue
        parts.append(f"{name}={_short(value)}")
    return " ".join(parts)


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request as the emulator served it."""

    method: str
    params: JsonDict
    status: int
    error_description: str | None
    at: float
    latency_s: float
    chat_id: int | None

    def summary(self) -> JsonDict:
        """A short, display-ready form: method, status, latency and the key parameters."""
        return {
            "method": self.method,
            "chat_id": self.chat_id,
            "status": self.status,
            "error_description": self.error_description,
            "at": self.at,
            "latency_ms": round(self.latency_s * 1000, 1),
            "payload": _short_payload(self.params),
        }

    def to_json(self) -> JsonDict:
        """JSON form for the control API."""
        return {
            "method": self.method,
            "params": self.params,
            "status": self.status,
            "error_description": self.error_description,
            "at": self.at,
            "latency_s": self.latency_s,
            "chat_id": self.chat_id,
        }


@dataclass
class WebhookConfig:
    """Current webhook registration."""

    url: str
    secret_token: str | None
    max_connections: int
    generation: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class EmulatorState:
    """All mutable emulator state plus the wake-up signals that async waiters use."""

    def __init__(self, bot_id: int, bot_username: str, bot_first_name: str) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self.files_by_path: dict[str, FileRecord] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.answers: list[CallbackAnswer] = []
        self.commands: dict[tuple[str, int | None, int | None, str], list[JsonDict]] = {}
        self.calls_log: list[ApiCall] = []
        self.counters: Counter[str] = Counter()
        self.chat_actions: list[tuple[int, str]] = []
        self.all_updates: dict[int, UpdateRecord] = {}
        self.pending: dict[int, UpdateRecord] = {}
        self.allowed_updates: frozenset[str] | None = None
        self.webhook: WebhookConfig | None = None
        self.webhook_generation = 0
        self.closing = False
        # Telegram keeps updates but hands none out (its delivery to the bot is broken):
        # getUpdates answers [] and the webhook gets nothing, while ``pending`` grows.
        self.holding = False
        self.updates_signal = Signal()
        self.changed = Signal()
        self.revision = 0  # bumped on every visible change (autosave compares it)
        self._subscribers: list[asyncio.Queue[JsonDict | None]] = []
        self._user_ids = itertools.count(1000)
        self._group_ids = itertools.count(1)
        self._update_ids = itertools.count(100_000_001)
        self._file_seq = itertools.count(1)
        self._callback_seq = itertools.count(1)

    # ---- id counters (saved and restored by the sandbox) -----------------------------------
    _COUNTERS: ClassVar[dict[str, str]] = {
        "user": "_user_ids",
        "group": "_group_ids",
        "update": "_update_ids",
        "file": "_file_seq",
        "callback": "_callback_seq",
    }

    def next_ids(self) -> dict[str, int]:
        """The next value of every id counter, without using any of them up."""
        found: dict[str, int] = {}
        for name, attr in self._COUNTERS.items():
            value = next(getattr(self, attr))
            setattr(self, attr, itertools.count(value))
            found[name] = value
        return found

    def continue_ids(self, next_values: dict[str, int]) -> None:
        """Make every id counter continue from a saved :meth:`next_ids`."""
        for name, attr in self._COUNTERS.items():
            setattr(self, attr, itertools.count(int(next_values[name])))

    # ---- identities ---------------------------------------------------------------------

    def bot_json(self) -> JsonDict:
        """The bot as a User object (``from`` of every bot message)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def add_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        user_id: int | None = None,
    ) -> UserRecord:
        """Create a user and the private chat with the bot."""
        uid = user_id if user_id is not None else next(self._user_ids)
        while user_id is None and uid in self.users:
            uid = next(self._user_ids)
        if uid in self.users:
            raise ValueError(f"user {uid} already exists")
        user = UserRecord(uid, first_name, last_name, username, language_code)
        self.users[uid] = user
        self.chats[uid] = ChatRecord(id=uid, type="private", user_id=uid)
        return user

    def add_group(
        self,
        title: str,
        member_ids: list[int],
        *,
        forum: bool = False,
        chat_id: int | None = None,
        supergroup: bool | None = None,
    ) -> ChatRecord:
        """Create a group (supergroup when forum) that the bot has not joined yet."""
        is_super = forum or bool(supergroup)
        if chat_id is None:
            n = next(self._group_ids)
            chat_id = -1_000_000_000_000 - n if is_super else -5000 - n
        if chat_id in self.chats:
            raise ValueError(f"chat {chat_id} already exists")
        for uid in member_ids:
            self.require_user(uid)
        chat = ChatRecord(
            id=chat_id,
            type="supergroup" if is_super else "group",
            title=title,
            member_ids=list(member_ids),
            owner_id=member_ids[0] if member_ids else None,
            forum=forum,
            bot_status="left",
        )
        self.chats[chat_id] = chat
        return chat

    def require_user(self, user_id: int) -> UserRecord:
        """Look a user up or raise KeyError with a clear message."""
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"no such user {user_id}; create it with emu.user()") from None

    def require_chat(self, chat_id: int) -> ChatRecord:
        """Look a chat up or raise KeyError with a clear message."""
        try:
            return self.chats[chat_id]
        except KeyError:
            raise KeyError(f"no such chat {chat_id}") from None

    def chat_json(self, chat: ChatRecord) -> JsonDict:
        """Chat object (the short form embedded in messages)."""
        if chat.type == "private":
            user = self.require_user(chat.id)
            data = {"id": chat.id, "type": "private", "first_name": user.first_name}
            if user.last_name:
                data["last_name"] = user.last_name
            if user.username:
                data["username"] = user.username
            return data
        data = {"id": chat.id, "type": chat.type, "title": chat.title or ""}
        if chat.username:
            data["username"] = chat.username
        if chat.forum:
            data["is_forum"] = True
        return data

    # ---- files --------------------------------------------------------------------------

    def store_file(
        self,
        data: bytes,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> FileRecord:
        """Register bytes under a fresh file_id."""
        n = next(self._file_seq)
        prefix = {"photo": "AgAC", "video": "BAAC"}.get(kind, "BQAC")
        record = FileRecord(
            file_id=f"{prefix}EMU{n:06d}{secrets.token_hex(8)}",
            file_unique_id=f"AQAD{n:06d}",
            data=data,
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
            width=320 if kind == "photo" else 0,
            height=240 if kind == "photo" else 0,
        )
        self.files[record.file_id] = record
        return record

    def assign_file_path(self, record: FileRecord) -> str:
        """Give a file its download path (done lazily by getFile, as Telegram does)."""
        if record.file_path is None:
            folder = "photos" if record.kind == "photo" else "documents"
            suffix = ".jpg" if record.kind == "photo" else ""
            if record.kind != "photo" and record.file_name and "." in record.file_name:
                suffix = "." + record.file_name.rsplit(".", 1)[1][:10]
            record.file_path = f"{folder}/file_{record.file_unique_id}{suffix}"
            self.files_by_path[record.file_path] = record
        return record.file_path

    # ---- messages -----------------------------------------------------------------------

    def add_message(
        self,
        chat: ChatRecord,
        *,
        from_bot: bool,
        sender_id: int,
        kind: str,
        text: str,
        entities: list[JsonDict] | None = None,
        html: str | None = None,
        reply_markup: JsonDict | None = None,
        thread_id: int | None = None,
        file: FileRecord | None = None,
        reply_to_id: int | None = None,
        extra: JsonDict | None = None,
        media_group_id: str | None = None,
    ) -> MessageRecord:
        """Append a message to a chat (no update, no event: callers decide)."""
        now = time.time()
        record = MessageRecord(
            chat_id=chat.id,
            message_id=chat.take_message_id(),
            date=int(now),
            from_bot=from_bot,
            sender_id=sender_id,
            kind=kind,
            versions=[MessageVersion(text, list(entities or []), html, reply_markup, now)],
            thread_id=thread_id,
            file=file,
            reply_to_id=reply_to_id,
            extra=dict(extra or {}),
            media_group_id=media_group_id,
        )
        chat.messages[record.message_id] = record
        return record

    def new_media_group_id(self) -> str:
        """A fresh album id; Telegram's are long decimal strings."""
        return str(10**16 + secrets.randbelow(9 * 10**16))

    def message_json(self, record: MessageRecord, *, with_reply: bool = True) -> JsonDict:
        """Message object as the Bot API returns/delivers it."""
        chat = self.require_chat(record.chat_id)
        if record.from_bot:
            sender = self.bot_json()
        else:
            sender = self.require_user(record.sender_id).to_json()
        data: JsonDict = {
            "message_id": record.message_id,
            "from": sender,
            "chat": self.chat_json(chat),
            "date": record.date,
        }
        if record.thread_id is not None:
            data["message_thread_id"] = record.thread_id
            data["is_topic_message"] = True
        if record.media_group_id is not None:
            data["media_group_id"] = record.media_group_id
        version = record.current
        if record.kind == "text":
            data["text"] = version.text
            if version.entities:
                data["entities"] = version.entities
        elif record.kind in ("document", "photo", "video"):
            assert record.file is not None
            if record.kind in ("document", "video"):
                data[record.kind] = record.file.to_json()
            else:
                data["photo"] = [record.file.to_json()]
            if version.text:
                data["caption"] = version.text
                if version.entities:
                    data["caption_entities"] = version.entities
        # Telegram only echoes inline keyboards in Message.reply_markup.
        if version.reply_markup and "inline_keyboard" in version.reply_markup:
            data["reply_markup"] = version.reply_markup
        if record.edit_date is not None:
            data["edit_date"] = record.edit_date
        if with_reply and record.reply_to_id is not None:
            replied = chat.messages.get(record.reply_to_id)
            if replied is not None and not replied.deleted:
                data["reply_to_message"] = self.message_json(replied, with_reply=False)
        data.update(record.extra)
        return data

    def snapshot(self, record: MessageRecord) -> SentMessage:
        """Immutable test-side view of a message."""
        version = record.current
        document = None
        if record.file is not None:
            f = record.file
            document = SentDocument(
                f.file_id, f.file_unique_id, f.file_name, f.mime_type, f.size, f.data
            )
        return SentMessage(
            message_id=record.message_id,
            chat_id=record.chat_id,
            text=version.text,
            html=version.html,
            entities=list(version.entities),
            reply_markup=version.reply_markup,
            versions=[v.text for v in record.versions],
            deleted=record.deleted,
            date=record.date,
            message_thread_id=record.thread_id,
            kind=record.kind,
            from_bot=record.from_bot,
            document=document,
            edit_date=record.edit_date,
            sender_id=record.sender_id,
            sender_name=self.display_name(record),
            reply_to_message_id=record.reply_to_id,
            media_group_id=record.media_group_id,
        )

    def display_name(self, record: MessageRecord) -> str:
        """Who sent a message, as a chat list shows it."""
        if record.from_bot:
            return self.bot_first_name
        user = self.users.get(record.sender_id)
        if user is None:
            return str(record.sender_id)
        return " ".join(part for part in (user.first_name, user.last_name) if part)

    def chat_messages(
        self, chat_id: int, *, include_user: bool = False, include_deleted: bool = True
    ) -> list[SentMessage]:
        """Snapshots of a chat's messages in id order."""
        chat = self.require_chat(chat_id)
        return [
            self.snapshot(m)
            for m in sorted(chat.messages.values(), key=lambda m: m.message_id)
            if (include_user or m.from_bot)
            and m.kind != "service"
            and (include_deleted or not m.deleted)
        ]

    # ---- commands -----------------------------------------------------------------------

    def visible_commands(self, chat_id: int, user_id: int) -> list[JsonDict]:
        """The command list a Telegram client shows this user in this chat.

        Telegram's documented order: the narrowest scope that has commands wins, and within a
        scope the user's language beats the language-less list.
        """
        chat = self.require_chat(chat_id)
        user = self.require_user(user_id)
        if chat.is_group:
            admin = user_id in chat.admin_ids or user_id == chat.owner_id
            scopes: list[tuple[str, int | None, int | None]] = [("chat_member", chat_id, user_id)]
            if admin:
                scopes.append(("chat_administrators", chat_id, None))
            scopes.append(("chat", chat_id, None))
            if admin:
                scopes.append(("all_chat_administrators", None, None))
            scopes.append(("all_group_chats", None, None))
        else:
            scopes = [("chat", chat_id, None), ("all_private_chats", None, None)]
        scopes.append(("default", None, None))
        lang = (user.language_code or "").split("-")[0].lower()
        for kind, scope_chat, scope_user in scopes:
            for code in (lang, "") if lang else ("",):
                found = self.commands.get((kind, scope_chat, scope_user, code))
                if found:
                    return [dict(c) for c in found]
        return []

    # ---- updates ------------------------------------------------------------------------

    def push_update(self, kind: str, payload: JsonDict, lane: str) -> UpdateRecord:
        """Queue a new update for the bot."""
        update = UpdateRecord(next(self._update_ids), kind, payload, lane)
        self.all_updates[update.update_id] = update
        self.pending[update.update_id] = update
        self.updates_signal.notify()
        self.publish({"type": "update", "update": update.to_json()})
        return update

    def redeliver(self, update_id: int) -> UpdateRecord:
        """Put an update back, same id, and make the next fetch return it whatever the offset."""
        try:
            update = self.all_updates[update_id]
        except KeyError:
            raise KeyError(f"no update {update_id} was ever created") from None
        update.forced = True
        self.pending[update_id] = update
        self.updates_signal.notify()
        return update

    def is_allowed(self, kind: str) -> bool:
        """Whether the bot's allowed_updates lets this update type through."""
        if self.allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self.allowed_updates

    def take_updates(self, offset: int | None, limit: int) -> list[UpdateRecord]:
        """getUpdates semantics: confirm below ``offset``, return up to ``limit`` pending."""
        if offset is not None and offset < 0:
            keep = sorted(self.pending)[offset:]
            for uid in list(self.pending):
                if uid not in keep and not self.pending[uid].forced:
                    del self.pending[uid]
        elif offset is not None:
            for uid in list(self.pending):
                if uid < offset and not self.pending[uid].forced:
                    del self.pending[uid]
        result: list[UpdateRecord] = []
        if self.holding:
            return result
        for uid in sorted(self.pending):
            update = self.pending[uid]
            if not self.is_allowed(update.kind):
                # Telegram drops updates the bot opted out of instead of holding them.
                del self.pending[uid]
                continue
            if len(result) < limit:
                result.append(update)
        for update in result:
            update.forced = False
        return result

    def confirm_one(self, update_id: int) -> None:
        """Forget one update (webhook delivery acknowledged)."""
        self.pending.pop(update_id, None)
        self.touch()

    # ---- callbacks ----------------------------------------------------------------------

    def new_callback(self, user_id: int, message: MessageRecord, data: str) -> CallbackRecord:
        """Register a callback query for a press."""
        cid = str(4_000_000_000_000_000_000 + next(self._callback_seq) * 7919)
        record = CallbackRecord(
            cid, user_id, message.chat_id, message.message_id, data, time.time()
        )
        self.callbacks[cid] = record
        return record

    # ---- events / waiting ---------------------------------------------------------------

    def touch(self) -> None:
        """Something test-visible changed: wake waiters."""
        self.revision += 1
        self.changed.notify()

    def publish(self, event: JsonDict) -> None:
        """Send an event to every event-stream subscriber and wake waiters."""
        for queue in self._subscribers:
            queue.put_nowait(event)
        self.touch()

    def subscribe(self) -> asyncio.Queue[JsonDict | None]:
        """New event queue; a ``None`` item means the emulator is stopping."""
        queue: asyncio.Queue[JsonDict | None] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[JsonDict | None]) -> None:
        """Remove an event queue."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def close_subscribers(self) -> None:
        """Tell every subscriber to finish."""
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def wait_until(
        self, predicate: Callable[[], bool], within: float, describe: Callable[[], str]
    ) -> None:
        """Wait until ``predicate()`` holds; TimeoutError carries ``describe()``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(describe())
            await self.changed.wait(min(remaining, 0.5))
