"""Bot API method implementations over ``EmulatorState`` (transport-agnostic).

``BotApi.dispatch`` takes already-decoded parameters and returns ``(http_status, envelope)``;
the aiohttp layer in ``server`` only decodes requests and encodes responses.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .html import HtmlParseError, parse_html, trim_entities_text, utf16_len
from .limits import RateLimiter
from .state import (
    RIGHTS,
    ApiCall,
    ApiError,
    CallbackAnswer,
    ChatRecord,
    EmulatorState,
    FileRecord,
    JsonDict,
    MessageRecord,
    MessageVersion,
    TopicRecord,
    WebhookConfig,
    chat_member_json,
)

__all__ = ["BotApi", "Fault", "UploadedFile"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_COPIES = 100  # copyMessages / forwardMessages take 1-100 ids
MAX_ALBUM = 10
MAX_MESSAGE_ID = 2**31 - 1  # the Bot API server reads ids as int32
INLINE_BUTTON_KINDS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
LANG_RE = re.compile(r"^[a-z]{2}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Methods that need no emulation beyond "it worked".
TRIVIAL_TRUE = frozenset(
    {
        "setmyname",
        "setmydefaultadministratorrights",
        "pinchatmessage",
        "unpinchatmessage",
        "unpinallchatmessages",
        "setmessagereaction",
        "banchatmember",
        "unbanchatmember",
        "restrictchatmember",
        "promotechatmember",
        "setchattitle",
        "setchatdescription",
        "setchatpermissions",
        "approvechatjoinrequest",
        "declinechatjoinrequest",
        "answerinlinequery",
        "closegeneralforumtopic",
        "reopengeneralforumtopic",
        "unpinallforumtopicmessages",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


@dataclass(frozen=True)
class UploadedFile:
    """A file part from a multipart request."""

    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` matching calls."""

    method: str
    status: int
    description: str
    remaining: int
    retry_after: int | None = None
    chat_id: int | None = None


def _default_description(status: int, retry_after: int | None) -> str:
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict",
        429: f"Too Many Requests: retry after {retry_after or 1}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, f"Error {status}")


class Params:
    """Typed access to request parameters that may be JSON values or form strings."""

    def __init__(self, raw: JsonDict, files: dict[str, UploadedFile]) -> None:
        self.raw = raw
        self.files = files

    def has(self, name: str) -> bool:
        """Present and not empty."""
        return self.raw.get(name) not in (None, "")

    def get_str(self, name: str, required: bool = False) -> str | None:
        """String parameter."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise ApiError.bad_request(f"{name} is empty")
            return None
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def get_int(self, name: str, required: bool = False) -> int | None:
        """Integer parameter (form values arrive as strings)."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise ApiError.bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str) -> bool:
        """Boolean parameter; PTB sends "true"/"false" in form bodies."""
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def get_json(self, name: str) -> Any:
        """A parameter that is a JSON object/array; form bodies carry it JSON-encoded."""
        value = self.raw.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError.bad_request(f"can't parse {name} JSON object") from None
        return value

    def chat_ref(self, name: str = "chat_id") -> int | str | None:
        """chat_id as int, or the raw ``@username`` string, or None when absent/invalid."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.startswith("@"):
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            return None


Handler = Callable[[Params], Awaitable[Any]]
Content = tuple[str, list[JsonDict], str | None]  # text or caption, its entities, raw HTML


class BotApi:
    """The emulated Bot API: validation, Telegram's error texts, limits and faults."""

    def __init__(
        self,
        state: EmulatorState,
        token: str,
        *,
        limiter: RateLimiter,
        rate_limits: bool = False,
        strict_html: bool = True,
    ) -> None:
        self.state = state
        self.token = token
        self.limiter = limiter
        self.rate_limits = rate_limits
        self.strict_html = strict_html
        self.latency_s = 0.0
        self.faults: list[Fault] = []
        self.on_webhook_change: Callable[[], None] | None = None
        self.descriptions: dict[str, str] = {}
        self.default_menu_button: JsonDict = {"type": "default"}
        self._poll_generation = 0
        self._handlers: dict[str, Handler] = {}
        for name in dir(self):
            if name.startswith("m_"):
                self._handlers[name[2:].lower()] = getattr(self, name)

    # ---- entry point --------------------------------------------------------------------

    def knows(self, method: str) -> bool:
        """Whether ``method`` is an implemented (or trivially accepted) Bot API method."""
        key = method.lower()
        return key in self._handlers or key in TRIVIAL_TRUE

    async def dispatch(
        self,
        token: str,
        method: str,
        raw: JsonDict,
        files: dict[str, UploadedFile] | None = None,
    ) -> tuple[int, JsonDict]:
        """Run one call and return (HTTP status, Telegram envelope); logs it in ``calls``."""
        started = time.monotonic()
        at = time.time()
        key = method.lower()
        params = Params(raw, files or {})
        chat_ref = params.chat_ref()
        chat_id = chat_ref if isinstance(chat_ref, int) else None
        status, description, retry_after = 200, None, None
        result: Any = None
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._handlers.get(key)
            if handler is None and key not in TRIVIAL_TRUE:
                raise ApiError(404, "Not Found: method not found")
            self._check_faults(method, chat_id)
            result = True if handler is None else await handler(params)
        except ApiError as exc:
            status, description, retry_after = exc.status, exc.description, exc.retry_after
        except Exception as exc:  # a bug in the emulator must not look like a bot bug
            status, description = 500, f"Internal Server Error: emulator bug: {exc!r}"
        self.state.counters[str(status)] += 1
        call = ApiCall(
            method=method,
            params=_loggable(raw, params.files),
            status=status,
            error_description=description,
            at=at,
            latency_s=time.monotonic() - started,
            chat_id=chat_id if chat_id is not None else self._callback_chat(method, raw),
        )
        self.state.calls_log.append(call)
        event: JsonDict = {"type": "api_call", **call.summary()}
        if key == "getupdates" and isinstance(result, list):
            event["updates"] = [_update_brief(u) for u in result]
        if key == "getupdates" and not result and status == 200:
            self.state.touch()  # an empty long poll is not traffic anyone wants to see
        else:
            self.state.publish(event)
        if status == 200:
            return 200, {"ok": True, "result": result}
        body: JsonDict = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return status, body

    def _callback_chat(self, method: str, raw: JsonDict) -> int | None:
        """answerCallbackQuery names no chat: take it from the query it answers."""
        if method.lower() != "answercallbackquery":
            return None
        record = self.state.callbacks.get(str(raw.get("callback_query_id", "")))
        return record.chat_id if record is not None else None

    async def call(self, method: str, params: JsonDict | None = None) -> Any:
        """In-process call with the right token; returns the result or raises ApiError."""
        status, body = await self.dispatch(self.token, method, params or {})
        if status != 200:
            raise ApiError(
                status, str(body["description"]), body.get("parameters", {}).get("retry_after")
            )
        return body["result"]

    def _check_faults(self, method: str, chat_id: int | None) -> None:
        for fault in self.faults:
            if fault.method not in ("*", method.lower()):
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
            raise ApiError(fault.status, fault.description, fault.retry_after)

    def inject(
        self,
        method: str,
        status: int,
        description: str | None = None,
        count: int = 1,
        retry_after: int | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Make the next ``count`` calls of ``method`` ("*" = any) fail."""
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(
            method=method.lower() if method != "*" else "*",
            status=status,
            description=description or _default_description(status, retry_after),
            remaining=count,
            retry_after=retry_after,
            chat_id=chat_id,
        )
        self.faults.append(fault)
        return fault

    # ---- shared helpers -----------------------------------------------------------------

    def _chat(self, p: Params, name: str = "chat_id") -> ChatRecord:
        if not p.has(name):
            raise ApiError.bad_request(f"{name} is empty")
        ref = p.chat_ref(name)
        chat: ChatRecord | None = None
        if isinstance(ref, int):
            chat = self.state.chats.get(ref)
        elif isinstance(ref, str):
            wanted = ref[1:].lower()
            chat = next(
                (c for c in self.state.chats.values() if (c.username or "").lower() == wanted),
                None,
            )
        if chat is None:
            raise ApiError.bad_request("chat not found")
        return chat

    def _writable(self, chat: ChatRecord) -> None:
        if chat.type == "private":
            if self.state.require_user(chat.id).blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind}")

    def _rate(self, chat: ChatRecord, count: int = 1) -> None:
        """Count ``count`` messages put in ``chat`` against the flood limits, or raise 429."""
        if not self.rate_limits:
            return
        retry_after = self.limiter.acquire(chat.id, is_group=chat.is_group, count=count)
        if retry_after is not None:
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def _format(
        self, p: Params, text_key: str, *, caption: bool
    ) -> tuple[str, list[JsonDict], str | None]:
        """Apply parse_mode/entities; return (plain text, entities, raw html or None)."""
        raw = p.get_str(text_key) or ""
        mode = (p.get_str("parse_mode") or "").strip()
        html: str | None = None
        if not mode:
            entities = p.get_json("caption_entities" if caption else "entities") or []
            if not isinstance(entities, list):
                raise ApiError.bad_request("can't parse entities JSON object")
            parsed = trim_entities_text(raw, [e for e in entities if isinstance(e, dict)])
        elif mode.lower() == "html":
            html = raw
            try:
                parsed = parse_html(raw, strict_ampersand=self.strict_html)
            except HtmlParseError as exc:
                raise ApiError.bad_request(f"can't parse entities: {exc}") from None
        elif mode.lower() in ("markdown", "markdownv2"):
            # Markdown is not parsed: the text is kept verbatim without entities.
            parsed = trim_entities_text(raw, [])
        else:
            raise ApiError.bad_request("unsupported parse_mode")
        length = utf16_len(parsed.text)
        if caption:
            if length > MAX_CAPTION:
                raise ApiError.bad_request("message caption is too long")
        elif length == 0:
            raise ApiError.bad_request("message text is empty")
        elif length > MAX_TEXT:
            raise ApiError.bad_request("message is too long")
        return parsed.text, parsed.entities, html

    def _markup(self, p: Params) -> JsonDict | None:
        markup = p.get_json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline(markup["inline_keyboard"])
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError.bad_request(
                    'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    text = (
                        button
                        if isinstance(button, str)
                        else (button.get("text") if isinstance(button, dict) else None)
                    )
                    if not isinstance(text, str) or not text:
                        raise ApiError.bad_request("keyboard button text is empty")
        elif "remove_keyboard" in markup:
            if markup["remove_keyboard"] is not True:
                raise ApiError.bad_request("remove_keyboard must be true")
        elif "force_reply" in markup:
            if markup["force_reply"] is not True:
                raise ApiError.bad_request("force_reply must be true")
        else:
            raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _thread(self, chat: ChatRecord, p: Params) -> int | None:
        thread_id = p.get_int("message_thread_id")
        if thread_id is None or not chat.forum:
            return None  # outside forums Telegram ignores the parameter
        if thread_id not in chat.topics:
            raise ApiError.bad_request("message thread not found")
        return thread_id

    def _reply_to(self, chat: ChatRecord, p: Params) -> int | None:
        params = p.get_json("reply_parameters")
        allow_missing = p.get_bool("allow_sending_without_reply")
        target: int | None = None
        if isinstance(params, dict):
            target = _as_int(params.get("message_id"))
            allow_missing = allow_missing or bool(params.get("allow_sending_without_reply"))
        elif p.has("reply_to_message_id"):
            target = p.get_int("reply_to_message_id")
        if target is None:
            return None
        found = chat.messages.get(target)
        if found is None or found.deleted:
            if allow_missing:
                return None
            raise ApiError.bad_request("message to be replied not found")
        return target

    def _emit(self, kind: str, record: MessageRecord) -> None:
        self.state.publish(
            {
                "type": kind,
                "chat_id": record.chat_id,
                "message": self.state.snapshot(record).to_json(),
            }
        )

    def _resolve_file(self, p: Params, field: str, kind: str) -> FileRecord:
        part = p.files.get(field)
        value = p.raw.get(field)
        if part is None and isinstance(value, str) and value.startswith("attach://"):
            part = p.files.get(value[len("attach://") :])
        if part is not None:
            name = part.filename or ("photo.jpg" if kind == "photo" else "file")
            return self.state.store_file(part.data, kind, name, part.content_type)
        if not isinstance(value, str) or not value:
            raise ApiError.bad_request(f"there is no {kind} in the request")
        existing = self.state.files.get(value)
        if existing is not None:
            if existing.kind != kind:
                noun = {"photo": "Photo", "document": "Document"}
                raise ApiError.bad_request(
                    f"can't use file of type {noun[existing.kind]} as {noun[kind]}"
                )
            return existing
        if value.startswith(("http://", "https://")):
            # Telegram would download it; the emulator keeps an empty placeholder.
            name = value.rstrip("/").rsplit("/", 1)[-1] or "file"
            return self.state.store_file(b"", kind, name, None)
        raise ApiError.bad_request("wrong file identifier/HTTP URL specified")

    def _message(self, chat: ChatRecord, mid: int | None, missing: str) -> MessageRecord:
        record = chat.messages.get(mid) if mid is not None else None
        if record is None or record.deleted or record.kind == "service":
            raise ApiError.bad_request(missing)
        return record

    # ---- updates & webhook --------------------------------------------------------------

    async def m_getUpdates(self, p: Params) -> Any:
        """getUpdates with long polling and Telegram's confirmation rules."""
        if self.state.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = p.get_int("offset")
        limit = min(max(p.get_int("limit") or 100, 1), 100)
        timeout = max(p.get_int("timeout") or 0, 0)
        if p.has("allowed_updates"):
            allowed = p.get_json("allowed_updates")
            if isinstance(allowed, list):
                self.state.allowed_updates = frozenset(map(str, allowed)) if allowed else None
        # A newer getUpdates terminates an older waiting one, exactly like Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self.state.updates_signal.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self.state.webhook is not None:
                raise ApiError(
                    409, "Conflict: can't use getUpdates method while webhook is active"
                )
            updates = self.state.take_updates(offset, limit)
            remaining = deadline - loop.time()
            if updates or remaining <= 0 or self.state.closing:
                self.state.touch()
                return [u.to_json() for u in updates]
            await self.state.updates_signal.wait(remaining)

    async def m_setWebhook(self, p: Params) -> Any:
        """Register (or with an empty url remove) the webhook."""
        url = p.get_str("url") or ""
        if p.get_bool("drop_pending_updates"):
            self.state.pending.clear()
        if p.has("allowed_updates"):
            allowed = p.get_json("allowed_updates")
            if isinstance(allowed, list):
                self.state.allowed_updates = frozenset(map(str, allowed)) if allowed else None
        if not url:
            self.state.webhook = None
        else:
            if not url.startswith(("http://", "https://")):
                raise ApiError.bad_request(
                    "bad webhook: An HTTPS URL must be provided for webhook"
                )
            secret = p.get_str("secret_token")
            if secret is not None and not SECRET_RE.match(secret):
                raise ApiError.bad_request("secret token contains unallowed characters")
            max_connections = p.get_int("max_connections") or 40
            if not 1 <= max_connections <= 100:
                raise ApiError.bad_request("invalid max_connections specified")
            self.state.webhook_generation += 1
            self.state.webhook = WebhookConfig(
                url, secret, max_connections, self.state.webhook_generation
            )
        self._webhook_changed()
        return True

    async def m_deleteWebhook(self, p: Params) -> Any:
        """Remove the webhook."""
        if p.get_bool("drop_pending_updates"):
            self.state.pending.clear()
        self.state.webhook = None
        self._webhook_changed()
        return True

    def _webhook_changed(self) -> None:
        self.state.updates_signal.notify()
        self.state.touch()
        if self.on_webhook_change is not None:
            self.on_webhook_change()

    async def m_getWebhookInfo(self, p: Params) -> Any:
        """WebhookInfo."""
        hook = self.state.webhook
        info: JsonDict = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        if self.state.allowed_updates is not None:
            info["allowed_updates"] = sorted(self.state.allowed_updates)
        return info

    async def m_logOut(self, p: Params) -> Any:
        """Always succeeds."""
        return True

    async def m_close(self, p: Params) -> Any:
        """Always succeeds."""
        return True

    # ---- identity -----------------------------------------------------------------------

    async def m_getMe(self, p: Params) -> Any:
        """The bot user."""
        return {
            **self.state.bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def m_getMyName(self, p: Params) -> Any:
        """Bot name."""
        return {"name": self.descriptions.get("name", self.state.bot_first_name)}

    async def m_getMyDescription(self, p: Params) -> Any:
        """Bot description."""
        return {"description": self.descriptions.get("description", "")}

    async def m_getMyShortDescription(self, p: Params) -> Any:
        """Bot short description."""
        return {"short_description": self.descriptions.get("short_description", "")}

    async def m_setMyDescription(self, p: Params) -> Any:
        """Store the description."""
        self.descriptions["description"] = p.get_str("description") or ""
        return True

    async def m_setMyShortDescription(self, p: Params) -> Any:
        """Store the short description."""
        self.descriptions["short_description"] = p.get_str("short_description") or ""
        return True

    async def m_getMyDefaultAdministratorRights(self, p: Params) -> Any:
        """No default rights."""
        return {"is_anonymous": False, **dict.fromkeys(RIGHTS, False)}

    # ---- sending ------------------------------------------------------------------------

    async def m_sendMessage(self, p: Params) -> Any:
        """sendMessage."""
        return self._send(p, "text")

    async def _send_media(self, p: Params, kind: str) -> Any:
        return self._send(p, kind)

    def _send(self, p: Params, kind: str) -> Any:
        """A message from the bot: text, or a document/photo with an optional caption."""
        chat = self._chat(p)
        self._writable(chat)
        thread_id = self._thread(chat, p)
        media = kind != "text"
        file = self._resolve_file(p, kind, kind) if media else None
        text, entities, html = self._format(p, "caption" if media else "text", caption=media)
        markup = self._markup(p)
        reply_to = self._reply_to(chat, p)
        self._rate(chat)
        record = self.state.add_message(
            chat,
            from_bot=True,
            sender_id=self.state.bot_id,
            kind=kind,
            text=text,
            entities=entities,
            html=html,
            reply_markup=markup,
            thread_id=thread_id,
            file=file,
            reply_to_id=reply_to,
        )
        self._emit("message", record)
        return self.state.message_json(record)

    async def m_sendDocument(self, p: Params) -> Any:
        """sendDocument (multipart upload, file_id or URL)."""
        return await self._send_media(p, "document")

    async def m_sendPhoto(self, p: Params) -> Any:
        """sendPhoto (multipart upload, file_id or URL)."""
        return await self._send_media(p, "photo")

    async def m_sendMediaGroup(self, p: Params) -> Any:
        """sendMediaGroup: an album of 2–10 photos or documents (uploads as attach://NAME or
        file_ids), each with its own caption; returns the Messages, one media_group_id."""
        chat = self._chat(p)
        self._writable(chat)
        thread_id = self._thread(chat, p)
        media = p.get_json("media")
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise ApiError.bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise ApiError.bad_request("wrong number of messages in the media group, must be 2-10")
        kinds = {str(m.get("type")) for m in media}
        if not kinds <= {"photo", "document", "video", "audio"}:
            raise ApiError.bad_request("unsupported media type in the media group")
        if "document" in kinds and kinds != {"document"}:
            raise ApiError.bad_request("documents can't be mixed with other media types")
        items: list[tuple[str, FileRecord, Content]] = []
        for entry in media:
            kind = "document" if entry.get("type") == "document" else "photo"
            # Each item reads like a one-file request: its media and caption fields.
            fields = {"media": entry.get("media"), "caption": entry.get("caption")}
            if entry.get("parse_mode"):
                fields["parse_mode"] = entry.get("parse_mode")
            if entry.get("caption_entities"):
                fields["caption_entities"] = entry.get("caption_entities")
            item = Params(fields, p.files)
            file = self._resolve_file(item, "media", kind)
            items.append((kind, file, self._format(item, "caption", caption=True)))
        reply_to = self._reply_to(chat, p)
        self._rate(chat, len(items))  # each photo is a message toward the flood limits
        album = self.state.new_media_group_id()
        records = []
        for kind, file, (text, entities, html) in items:
            record = self.state.add_message(
                chat,
                from_bot=True,
                sender_id=self.state.bot_id,
                kind=kind,
                text=text,
                entities=entities,
                html=html,
                thread_id=thread_id,
                file=file,
                reply_to_id=reply_to,
                media_group_id=album,
            )
            self._emit("message", record)
            records.append(record)
        return [self.state.message_json(r) for r in records]

    async def _copy_like(self, p: Params, *, forward: bool) -> MessageRecord:
        source_chat = self._chat(p, "from_chat_id")
        chat = self._chat(p)
        self._writable(chat)
        thread_id = self._thread(chat, p)
        missing = "message to forward not found" if forward else "message to copy not found"
        source = self._message(source_chat, p.get_int("message_id"), missing)
        content: Content | None = None
        markup = None if forward else source.current.reply_markup
        if not forward and p.has("caption") and source.kind != "text":
            content = self._format(p, "caption", caption=True)
        if not forward and p.has("reply_markup"):
            markup = self._markup(p)
        extra: JsonDict = {}
        if forward:
            origin: JsonDict = {"date": source.date}
            if source.from_bot:
                origin.update(type="user", sender_user=self.state.bot_json())
            elif source_chat.is_group:
                origin.update(type="chat", sender_chat=self.state.chat_json(source_chat))
            else:
                origin.update(
                    type="user", sender_user=self.state.require_user(source.sender_id).to_json()
                )
            extra["forward_origin"] = origin
        reply_to = None if forward else self._reply_to(chat, p)
        self._rate(chat)
        return self._put_copy(
            chat,
            source,
            thread_id=thread_id,
            content=content,
            markup=markup,
            reply_to=reply_to,
            protect=p.get_bool("protect_content"),
            extra=extra,
        )

    def _put_copy(
        self,
        chat: ChatRecord,
        source: MessageRecord,
        *,
        thread_id: int | None,
        content: Content | None = None,
        markup: JsonDict | None = None,
        reply_to: int | None = None,
        protect: bool = False,
        extra: JsonDict | None = None,
        media_group_id: str | None = None,
    ) -> MessageRecord:
        """Put a copy of ``source`` in ``chat`` as the bot and tell the phones; the callers
        have checked the chat, the topic and the flood limits. ``content`` replaces the
        source's (text, entities, html)."""
        version = source.current
        text, entities, html = (
            content if content is not None else (version.text, version.entities, version.html)
        )
        extra = dict(extra or {})
        if protect:
            extra["has_protected_content"] = True
        record = self.state.add_message(
            chat,
            from_bot=True,
            sender_id=self.state.bot_id,
            kind=source.kind,
            text=text,
            entities=entities,
            html=html,
            reply_markup=markup,
            thread_id=thread_id,
            file=source.file,
            reply_to_id=reply_to,
            extra=extra,
            media_group_id=media_group_id,
        )
        self._emit("message", record)
        return record

    async def m_copyMessage(self, p: Params) -> Any:
        """copyMessage; returns MessageId."""
        record = await self._copy_like(p, forward=False)
        return {"message_id": record.message_id}

    async def m_copyMessages(self, p: Params) -> Any:
        """copyMessages; skips missing and service messages, keeps albums, returns MessageIds."""
        ids = _message_ids(p)
        chat = self._chat(p)
        self._writable(chat)
        thread_id = self._thread(chat, p)
        source_chat = self._chat(p, "from_chat_id")
        found = [m for m in map(source_chat.messages.get, ids) if m is not None and not m.deleted]
        if not found:
            # The Bot API server drops the ids it can't find, then tdlib has nothing left.
            raise ApiError.bad_request("there are no messages to forward")
        sources = [m for m in found if m.kind != "service"]
        if not sources:
            # telegram-bot-api's TdOnForwardMessagesCallback when tdlib copied none of them.
            raise ApiError.bad_request("messages can't be forwarded")
        albums = _copied_albums(sources, self.state.new_media_group_id)
        remove_caption = p.get_bool("remove_caption")
        protect = p.get_bool("protect_content")
        # Each copy is a message in the chat, so each counts toward its flood limits.
        self._rate(chat, len(sources))
        copies = [
            self._put_copy(
                chat,
                source,
                thread_id=thread_id,
                content=("", [], None) if remove_caption and source.kind != "text" else None,
                markup=source.current.reply_markup,
                protect=protect,
                media_group_id=album,
            )
            for source, album in zip(sources, albums, strict=True)
        ]
        return [{"message_id": record.message_id} for record in copies]

    async def m_forwardMessage(self, p: Params) -> Any:
        """forwardMessage; returns the new Message with forward_origin."""
        record = await self._copy_like(p, forward=True)
        return self.state.message_json(record)

    # ---- editing ------------------------------------------------------------------------

    def _edit_target(self, p: Params) -> tuple[ChatRecord, MessageRecord]:
        if p.has("inline_message_id"):
            raise ApiError.bad_request("message to edit not found")
        chat = self._chat(p)
        self._writable(chat)
        if not p.has("message_id"):
            raise ApiError.bad_request("message identifier is not specified")
        record = self._message(chat, p.get_int("message_id"), "message to edit not found")
        if not record.from_bot:
            raise ApiError.bad_request("message can't be edited")
        return chat, record

    def _apply_edit(
        self,
        chat: ChatRecord,
        record: MessageRecord,
        text: str,
        entities: list[JsonDict],
        html: str | None,
        inline_markup: JsonDict | None,
    ) -> Any:
        current = record.current
        current_inline = _inline_part(current.reply_markup)
        if (
            text == current.text
            and entities == current.entities
            and (inline_markup == current_inline)
        ):
            raise ApiError.bad_request(NOT_MODIFIED)
        self._rate(chat)
        # A reply keyboard is not part of the message bubble, so edits keep it.
        markup = (
            inline_markup
            if inline_markup is not None or current_inline
            else (current.reply_markup)
        )
        record.versions.append(MessageVersion(text, entities, html, markup, time.time()))
        record.edit_date = int(time.time())
        self._emit("edit", record)
        return self.state.message_json(record)

    def _inline_markup(self, p: Params) -> JsonDict | None:
        markup = self._markup(p)
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError.bad_request("inline keyboard expected")
        return markup

    async def m_editMessageText(self, p: Params) -> Any:
        """editMessageText; without reply_markup the inline keyboard is removed."""
        chat, record = self._edit_target(p)
        if record.kind != "text":
            raise ApiError.bad_request("there is no text in the message to edit")
        text, entities, html = self._format(p, "text", caption=False)
        return self._apply_edit(chat, record, text, entities, html, self._inline_markup(p))

    async def m_editMessageCaption(self, p: Params) -> Any:
        """editMessageCaption."""
        chat, record = self._edit_target(p)
        if record.kind not in ("document", "photo"):
            raise ApiError.bad_request("there is no caption in the message to edit")
        text, entities, html = self._format(p, "caption", caption=True)
        return self._apply_edit(chat, record, text, entities, html, self._inline_markup(p))

    async def m_editMessageReplyMarkup(self, p: Params) -> Any:
        """editMessageReplyMarkup; without reply_markup the inline keyboard is removed."""
        chat, record = self._edit_target(p)
        current = record.current
        return self._apply_edit(
            chat, record, current.text, current.entities, current.html, self._inline_markup(p)
        )

    async def m_deleteMessage(self, p: Params) -> Any:
        """deleteMessage."""
        chat = self._chat(p)
        record = self._message(chat, p.get_int("message_id"), "message to delete not found")
        record.deleted = True
        self._emit("delete", record)
        return True

    async def m_deleteMessages(self, p: Params) -> Any:
        """deleteMessages; silently skips unknown ids as Telegram does."""
        chat = self._chat(p)
        ids = p.get_json("message_ids")
        if not isinstance(ids, list) or not ids:
            raise ApiError.bad_request("message_ids is empty")
        for mid in ids:
            record = chat.messages.get(_as_int(mid) or 0)
            if record is not None and not record.deleted:
                record.deleted = True
                self._emit("delete", record)
        return True

    # ---- callbacks ----------------------------------------------------------------------

    async def m_answerCallbackQuery(self, p: Params) -> Any:
        """answerCallbackQuery; each query can be answered once."""
        query_id = p.get_str("callback_query_id")
        record = self.state.callbacks.get(query_id or "")
        if record is None or record.answered:
            raise ApiError.bad_request(QUERY_TOO_OLD)
        text = p.get_str("text")
        if text is not None and len(text) > 200:
            raise ApiError.bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer_text = text
        record.show_alert = p.get_bool("show_alert")
        record.url = p.get_str("url")
        answer = CallbackAnswer(record.id, text, record.show_alert, record.url)
        self.state.answers.append(answer)
        self.state.publish(
            {
                "type": "callback_answer",
                "chat_id": record.chat_id,
                "user_id": record.user_id,
                "callback_query_id": record.id,
                "text": text,
                "show_alert": record.show_alert,
                "url": record.url,
            }
        )
        return True

    # ---- files --------------------------------------------------------------------------

    async def m_getFile(self, p: Params) -> Any:
        """getFile; assigns a file_path for the /file/ download route."""
        file_id = p.get_str("file_id", required=True) or ""
        record = self.state.files.get(file_id)
        if record is None:
            raise ApiError.bad_request("invalid file_id")
        if record.size > MAX_DOWNLOAD:
            raise ApiError.bad_request("file is too big")
        path = self.state.assign_file_path(record)
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
            "file_path": path,
        }

    # ---- commands & menu ----------------------------------------------------------------

    def _scope_key(self, p: Params) -> tuple[str, int | None, int | None, str]:
        scope = p.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES:
            raise ApiError.bad_request("can't parse BotCommandScope")
        kind = str(scope["type"])
        chat_id = _as_int(scope.get("chat_id")) if kind.startswith("chat") else None
        user_id = _as_int(scope.get("user_id")) if kind == "chat_member" else None
        if kind.startswith("chat") and chat_id is None:
            raise ApiError.bad_request("chat not found")
        lang = p.get_str("language_code") or ""
        if lang and not LANG_RE.match(lang):
            raise ApiError.bad_request("invalid language code specified")
        return kind, chat_id, user_id, lang

    async def m_setMyCommands(self, p: Params) -> Any:
        """Store commands per (scope, language_code)."""
        commands = p.get_json("commands")
        if not isinstance(commands, list):
            raise ApiError.bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError.bad_request("too many commands specified")
        cleaned: list[JsonDict] = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError.bad_request("can't parse BotCommand")
            command = str(item.get("command", "")).lstrip("/")
            description = str(item.get("description", ""))
            if not COMMAND_RE.match(command):
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise ApiError.bad_request("command description is empty")
            cleaned.append({"command": command, "description": description})
        key = self._scope_key(p)
        if cleaned:
            self.state.commands[key] = cleaned
        else:
            self.state.commands.pop(key, None)
        return True

    async def m_getMyCommands(self, p: Params) -> Any:
        """Commands stored for exactly this (scope, language_code)."""
        return list(self.state.commands.get(self._scope_key(p), []))

    async def m_deleteMyCommands(self, p: Params) -> Any:
        """Forget commands for (scope, language_code)."""
        self.state.commands.pop(self._scope_key(p), None)
        return True

    async def m_setChatMenuButton(self, p: Params) -> Any:
        """Store the menu button (per chat or the default)."""
        button = p.get_json("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise ApiError.bad_request("can't parse menu button JSON object")
        if p.has("chat_id"):
            self._chat(p).menu_button = button
        else:
            self.default_menu_button = button
        return True

    async def m_getChatMenuButton(self, p: Params) -> Any:
        """The stored menu button."""
        if p.has("chat_id"):
            return self._chat(p).menu_button
        return self.default_menu_button

    # ---- chats --------------------------------------------------------------------------

    async def m_getChat(self, p: Params) -> Any:
        """ChatFullInfo with the fields PTB requires."""
        chat = self._chat(p)
        info: JsonDict = {
            **self.state.chat_json(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        return info

    def _member_json(self, chat: ChatRecord, user_id: int) -> JsonDict:
        if user_id == self.state.bot_id:
            user_json = self.state.bot_json()
            status = chat.bot_status if chat.is_group else "member"
        else:
            user = self.state.users.get(user_id)
            if user is None:
                raise ApiError.bad_request("user not found")
            user_json = user.to_json()
            if chat.type == "private":
                status = "member" if chat.id == user_id else "left"
            elif user_id == chat.owner_id:
                status = "creator"
            elif user_id in chat.admin_ids:
                status = "administrator"
            elif user_id in chat.member_ids:
                status = "member"
            else:
                status = "left"
        return chat_member_json(status, user_json)

    async def m_getChatMember(self, p: Params) -> Any:
        """ChatMember of a user (or the bot) in a chat."""
        chat = self._chat(p)
        return self._member_json(chat, p.get_int("user_id", required=True) or 0)

    async def m_getChatAdministrators(self, p: Params) -> Any:
        """Owner, admins and the bot if it is an admin."""
        chat = self._chat(p)
        ids = [i for i in [chat.owner_id, *sorted(chat.admin_ids)] if i is not None]
        result = [self._member_json(chat, uid) for uid in dict.fromkeys(ids)]
        if chat.bot_status == "administrator":
            result.append(self._member_json(chat, self.state.bot_id))
        return result

    async def m_getChatMemberCount(self, p: Params) -> Any:
        """Members including the bot."""
        chat = self._chat(p)
        if not chat.is_group:
            return 2
        return len(chat.member_ids) + (1 if chat.bot_status in ("member", "administrator") else 0)

    async def m_leaveChat(self, p: Params) -> Any:
        """The bot leaves a group."""
        chat = self._chat(p)
        if chat.is_group:
            chat.bot_status = "left"
        return True

    async def m_sendChatAction(self, p: Params) -> Any:
        """Record a chat action."""
        chat = self._chat(p)
        self._writable(chat)
        action = p.get_str("action", required=True) or ""
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        self.state.chat_actions.append((chat.id, action))
        self.state.publish({"type": "chat_action", "chat_id": chat.id, "action": action})
        return True

    # ---- forum topics -------------------------------------------------------------------

    def _forum(self, p: Params) -> ChatRecord:
        chat = self._chat(p)
        self._writable(chat)
        if not chat.forum:
            raise ApiError.bad_request("the chat is not a forum")
        if chat.bot_status != "administrator":
            raise ApiError.bad_request("not enough rights to manage topics")
        return chat

    def _topic(self, chat: ChatRecord, p: Params) -> TopicRecord:
        topic = chat.topics.get(p.get_int("message_thread_id") or 0)
        if topic is None:
            raise ApiError.bad_request("message thread not found")
        return topic

    async def m_createForumTopic(self, p: Params) -> Any:
        """Create a topic; its id is the id of its service message."""
        chat = self._forum(p)
        name = p.get_str("name") or ""
        if not 1 <= len(name) <= 128:
            raise ApiError.bad_request("TOPIC_NAME_INVALID")
        color = p.get_int("icon_color") or 7322096
        service = self.state.add_message(
            chat, from_bot=True, sender_id=self.state.bot_id, kind="service", text=""
        )
        topic = TopicRecord(service.message_id, name, color, p.get_str("icon_custom_emoji_id"))
        service.thread_id = topic.thread_id
        service.extra["forum_topic_created"] = {"name": name, "icon_color": color}
        chat.topics[topic.thread_id] = topic
        self.state.publish({"type": "topic_created", "chat_id": chat.id, **topic.to_json()})
        return topic.to_json()

    async def m_editForumTopic(self, p: Params) -> Any:
        """Rename a topic / change its icon."""
        chat = self._forum(p)
        topic = self._topic(chat, p)
        name = p.get_str("name")
        emoji = p.get_str("icon_custom_emoji_id")
        if name is not None and not 1 <= len(name) <= 128:
            raise ApiError.bad_request("TOPIC_NAME_INVALID")
        if (name is None or name == topic.name) and (
            emoji is None or emoji == topic.icon_custom_emoji_id
        ):
            raise ApiError.bad_request("TOPIC_NOT_MODIFIED")
        if name is not None:
            topic.name = name
        if emoji is not None:
            topic.icon_custom_emoji_id = emoji
        self.state.publish({"type": "topic_edited", "chat_id": chat.id, **topic.to_json()})
        return True

    async def m_deleteForumTopic(self, p: Params) -> Any:
        """Delete a topic and its messages."""
        chat = self._forum(p)
        topic = self._topic(chat, p)
        del chat.topics[topic.thread_id]
        for record in chat.messages.values():
            if record.thread_id == topic.thread_id and not record.deleted:
                record.deleted = True
                if record.kind != "service":
                    self._emit("delete", record)
        return True

    async def m_closeForumTopic(self, p: Params) -> Any:
        """Close a topic."""
        self._topic(self._forum(p), p).closed = True
        return True

    async def m_reopenForumTopic(self, p: Params) -> Any:
        """Reopen a topic."""
        self._topic(self._forum(p), p).closed = False
        return True


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message_ids(p: Params) -> list[int]:
    """message_ids of copyMessages, with the Bot API server's checks and error texts."""
    if not p.has("message_ids"):
        raise ApiError.bad_request("message identifiers are not specified")
    ids = p.get_json("message_ids")
    if not isinstance(ids, list):
        raise ApiError.bad_request("expected an Array of message identifiers")
    if len(ids) > MAX_COPIES:
        raise ApiError.bad_request("too many message identifiers specified")
    if not ids:
        raise ApiError.bad_request("message identifiers are not specified")
    parsed: list[int] = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ApiError.bad_request("message identifier must be a Number")
        number = value if isinstance(value, int) else _strict_int(str(value))
        if number is None or not -MAX_MESSAGE_ID - 1 <= number <= MAX_MESSAGE_ID:
            raise ApiError.bad_request("can't parse message identifier as a Number")
        if number <= 0:
            raise ApiError.bad_request("invalid message identifier specified")
        parsed.append(number)
    # tdlib checks the order of the ids it found; checking all of them is stricter.
    if any(a >= b for a, b in itertools.pairwise(parsed)):
        raise ApiError.bad_request("message identifiers must be in a strictly increasing order")
    return parsed


def _strict_int(text: str) -> int | None:
    """An integer written in ASCII digits with an optional sign ("3.0" and "１" are not)."""
    return int(text) if re.fullmatch(r"[-+]?[0-9]+", text) else None


def _copied_albums(sources: list[MessageRecord], new_id: Callable[[], str]) -> list[str | None]:
    """The album of each copy: a fresh one per source album with 2-10 copied items, as tdlib
    does (one copied item of an album is a plain message)."""
    counts = Counter(m.media_group_id for m in sources if m.media_group_id is not None)
    fresh = {album: new_id() for album, n in counts.items() if 2 <= n <= MAX_ALBUM}
    return [fresh.get(m.media_group_id) if m.media_group_id else None for m in sources]


def _inline_part(markup: JsonDict | None) -> JsonDict | None:
    return markup if markup and "inline_keyboard" in markup else None


def _validate_inline(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError.bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    if sum(len(r) for r in rows) > 100:
        raise ApiError.bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError.bad_request("can't parse inline keyboard button: Text is empty")
            kinds = [k for k in INLINE_BUTTON_KINDS if k in button]
            if not kinds:
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if len(kinds) > 1:
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: "
                    "exactly one of the optional fields must be used"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise ApiError.bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.startswith(
                    ("http://", "https://", "tg://")
                ):
                    raise ApiError.bad_request("BUTTON_URL_INVALID")


def _update_brief(update: Any) -> JsonDict:
    """update_id, kind and chat of a delivered update (for the traffic event)."""
    if not isinstance(update, dict):
        return {}
    kind = next((k for k in update if k != "update_id"), "")
    payload = update.get(kind) if kind else None
    chat_id: Any = None
    user_id: Any = None
    if isinstance(payload, dict):
        message = payload.get("message") if kind == "callback_query" else payload
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat_id = message["chat"].get("id")
        sender = payload.get("from")
        if isinstance(sender, dict):
            user_id = sender.get("id")
    return {
        "update_id": update.get("update_id"),
        "kind": kind,
        "chat_id": chat_id,
        "user_id": user_id,
    }


def _loggable(raw: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
    logged = dict(raw)
    for name, part in files.items():
        logged[name] = f"<file {part.filename or '?'} ({len(part.data)} bytes)>"
    return logged
