"""``/__emu/*`` HTTP control API: a thin JSON adapter over the in-process test-side API.

Lets a harness in another process (or the browser sandbox) create users, act as them,
inspect chats and calls, inject faults and follow everything live via Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from .state import JsonDict

if TYPE_CHECKING:
    from .emulator import BotApiEmulator
    from .phones import Group, Phone

__all__ = ["add_control_routes"]

EMU_KEY: web.AppKey[Any] = web.AppKey("emulator", object)
SSE_KEEPALIVE_S = 15.0
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain"}
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadInput(Exception):
    """Client error in a control request."""


def _ok(result: Any, status: int = 200) -> web.Response:
    return web.json_response(
        {"ok": True, "result": result},
        status=status,
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
    )


def _fail(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _guard(handler: Handler) -> Handler:
    """Turn the test API's exceptions into JSON errors instead of 500 pages."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except KeyError as exc:
            return _fail(404, str(exc.args[0]) if exc.args else "not found")
        except (_BadInput, ValueError, TypeError, RuntimeError) as exc:
            return _fail(400, str(exc))

    return wrapped


async def _body(request: web.Request) -> JsonDict:
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise _BadInput("body must be JSON") from None
    if not isinstance(data, dict):
        raise _BadInput("body must be a JSON object")
    return data


def _emu(request: web.Request) -> BotApiEmulator:
    emu: BotApiEmulator = request.app[EMU_KEY]
    return emu


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _BadInput(f"{name} must be an integer") from None


def _opt_int(value: Any, name: str) -> int | None:
    return None if value is None else _int(value, name)


def _phone(request: web.Request) -> Phone:
    return _emu(request).phone(_int(request.match_info["user_id"], "user_id"))


def _group(request: web.Request) -> Group:
    return _emu(request).group_by_id(_int(request.match_info["chat_id"], "chat_id"))


def _text(body: JsonDict) -> str:
    text = body.get("text")
    if not isinstance(text, str):
        raise _BadInput("text (string) is required")
    return text


async def info(request: web.Request) -> web.StreamResponse:
    """Emulator summary."""
    emu = _emu(request)
    return _ok(
        {
            "bot": emu.state.bot_json(),
            "base_url": emu.base_url,
            "file_base_url": emu.file_base_url,
            "pending_updates": emu.pending_updates(),
            "counters": emu.counters,
            "webhook": emu.webhook_url(),
            "rate_limits": emu.rate_limits,
            "users": [u.to_json() for u in emu.state.users.values()],
            "groups": [
                {"chat_id": c.id, "title": c.title, "type": c.type, "forum": c.forum}
                for c in emu.state.chats.values()
                if c.is_group
            ],
        }
    )


async def create_user(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users {first_name, last_name?, username?, language_code?, user_id?}."""
    body = await _body(request)
    phone = _emu(request).user(
        first_name=str(body.get("first_name") or "Test"),
        last_name=body.get("last_name"),
        username=body.get("username"),
        language_code=body.get("language_code"),
        user_id=_opt_int(body.get("user_id"), "user_id"),
    )
    return _ok({**phone.user.to_json(), "chat_id": phone.chat_id}, status=201)


async def user_send(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/send {text, reply_to?}."""
    body = await _body(request)
    phone = _phone(request)
    reply_to = _opt_int(body.get("reply_to"), "reply_to")
    return _ok({"update_id": await phone.send(_text(body), reply_to=reply_to)})


async def user_command(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/command {text}."""
    body = await _body(request)
    return _ok({"update_id": await _phone(request).command(_text(body))})


async def user_press(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/press {text | data, message_id?}."""
    body = await _body(request)
    phone = _phone(request)
    message_id = _opt_int(body.get("message_id"), "message_id")
    if isinstance(body.get("data"), str):
        query_id = await phone.press_data(body["data"], message_id)
    else:
        query_id = await phone.press(_text(body), message_id)
    return _ok({"callback_query_id": query_id})


def _decode_file(body: JsonDict) -> tuple[str, bytes]:
    name = body.get("file_name")
    if not isinstance(name, str) or not name:
        raise _BadInput("file_name is required")
    try:
        data = base64.b64decode(str(body.get("data_base64", "")), validate=True)
    except (binascii.Error, ValueError):
        raise _BadInput("data_base64 is not valid base64") from None
    return name, data


async def user_upload(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/upload {file_name, data_base64, mime_type?, caption?}."""
    body = await _body(request)
    name, data = _decode_file(body)
    update_id = await _phone(request).upload(
        name, data, mime_type=body.get("mime_type"), caption=body.get("caption")
    )
    return _ok({"update_id": update_id})


async def user_block(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/block."""
    return _ok({"update_id": _phone(request).block()})


async def user_unblock(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/unblock."""
    return _ok({"update_id": _phone(request).unblock()})


async def user_toasts(request: web.Request) -> web.StreamResponse:
    """GET /__emu/users/{id}/toasts."""
    return _ok(
        [
            {
                "callback_query_id": t.callback_query_id,
                "text": t.text,
                "show_alert": t.show_alert,
                "url": t.url,
            }
            for t in _phone(request).toasts()
        ]
    )


async def user_language(request: web.Request) -> web.StreamResponse:
    """POST /__emu/users/{id}/language {language_code}: the app's language changed."""
    body = await _body(request)
    code = body.get("language_code")
    if code is not None and (not isinstance(code, str) or len(code) > 35):
        raise _BadInput("language_code must be a short string or null")
    phone = _phone(request)
    phone.set_language(code)
    return _ok(phone.user.to_json())


async def user_commands(request: web.Request) -> web.StreamResponse:
    """GET /__emu/users/{id}/commands?chat_id=: the command menu this user sees in that chat."""
    phone = _phone(request)
    chat_id = _opt_int(request.query.get("chat_id"), "chat_id")
    return _ok(_emu(request).state.visible_commands(chat_id or phone.chat_id, phone.id))


async def create_group(request: web.Request) -> web.StreamResponse:
    """POST /__emu/groups {title, member_ids, forum?, supergroup?, chat_id?}."""
    body = await _body(request)
    emu = _emu(request)
    members = [emu.phone(_int(i, "member_ids")) for i in body.get("member_ids") or []]
    group = emu.group(
        title=str(body.get("title") or "Test group"),
        members=members,
        forum=bool(body.get("forum")),
        chat_id=_opt_int(body.get("chat_id"), "chat_id"),
        supergroup=bool(body.get("supergroup")),
    )
    return _ok({"chat_id": group.chat_id, "title": group.title}, status=201)


async def group_add_bot(request: web.Request) -> web.StreamResponse:
    """POST /__emu/groups/{chat_id}/add_bot {by, admin?}."""
    body = await _body(request)
    emu = _emu(request)
    by = emu.phone(_int(body.get("by"), "by"))
    update_id = await emu.add_bot_to_group(_group(request), by, bool(body.get("admin", True)))
    return _ok({"update_id": update_id})


async def group_send(request: web.Request) -> web.StreamResponse:
    """POST /__emu/groups/{chat_id}/send {user_id, text, thread_id?}."""
    body = await _body(request)
    phone = _emu(request).phone(_int(body.get("user_id"), "user_id"))
    thread_id = _opt_int(body.get("thread_id"), "thread_id")
    reply_to = _opt_int(body.get("reply_to"), "reply_to")
    update_id = await _group(request).send(phone, _text(body), thread_id, reply_to=reply_to)
    return _ok({"update_id": update_id})


async def group_upload(request: web.Request) -> web.StreamResponse:
    """POST /__emu/groups/{chat_id}/upload {user_id, file_name, data_base64, mime_type?,
    caption?, thread_id?}."""
    body = await _body(request)
    phone = _emu(request).phone(_int(body.get("user_id"), "user_id"))
    name, data = _decode_file(body)
    update_id = await _group(request).upload(
        phone,
        name,
        data,
        mime_type=body.get("mime_type"),
        caption=body.get("caption"),
        thread_id=_opt_int(body.get("thread_id"), "thread_id"),
    )
    return _ok({"update_id": update_id})


async def group_topics(request: web.Request) -> web.StreamResponse:
    """GET /__emu/groups/{chat_id}/topics: the forum's topics."""
    chat = _emu(request).state.require_chat(_group(request).chat_id)
    return _ok([topic.to_json() for topic in chat.topics.values()])


async def group_press(request: web.Request) -> web.StreamResponse:
    """POST /__emu/groups/{chat_id}/press {user_id, text | data, message_id?}."""
    body = await _body(request)
    group = _group(request)
    phone = _emu(request).phone(_int(body.get("user_id"), "user_id"))
    message_id = _opt_int(body.get("message_id"), "message_id")
    if isinstance(body.get("data"), str):
        query_id = await group.press_data(phone, body["data"], message_id)
    else:
        query_id = await group.press(phone, _text(body), message_id)
    return _ok({"callback_query_id": query_id})


async def chat_messages(request: web.Request) -> web.StreamResponse:
    """GET /__emu/chats/{chat_id}/messages?include_user=1&include_deleted=0."""
    chat_id = _int(request.match_info["chat_id"], "chat_id")
    flags = request.query
    messages = _emu(request).state.chat_messages(
        chat_id,
        include_user=flags.get("include_user", "0") in ("1", "true"),
        include_deleted=flags.get("include_deleted", "1") in ("1", "true"),
    )
    return _ok([m.to_json() for m in messages])


async def list_calls(request: web.Request) -> web.StreamResponse:
    """GET /__emu/calls?method=sendMessage&chat_id=&limit=&brief=1 (newest last)."""
    q = request.query
    calls = _emu(request).calls(q.get("method"))
    chat_id = _opt_int(q.get("chat_id"), "chat_id")
    if chat_id is not None:
        calls = [c for c in calls if c.chat_id == chat_id]
    limit = _opt_int(q.get("limit"), "limit")
    if limit is not None:
        calls = calls[-limit:] if limit > 0 else []
    if q.get("brief", "0") in ("1", "true"):
        return _ok([c.summary() for c in calls])
    return _ok([c.to_json() for c in calls])


async def redeliver(request: web.Request) -> web.StreamResponse:
    """POST /__emu/redeliver {update_id}."""
    body = await _body(request)
    await _emu(request).redeliver(_int(body.get("update_id"), "update_id"))
    return _ok(True)


async def add_fault(request: web.Request) -> web.StreamResponse:
    """POST /__emu/faults {method, status, description?, count?, retry_after?, chat_id?}."""
    body = await _body(request)
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise _BadInput("method is required ('*' matches every method)")
    fault = _emu(request).inject_error(
        method,
        _int(body.get("status"), "status"),
        body.get("description"),
        _int(body.get("count", 1), "count"),
        _opt_int(body.get("retry_after"), "retry_after"),
        _opt_int(body.get("chat_id"), "chat_id"),
    )
    return _ok(
        {
            "method": fault.method,
            "status": fault.status,
            "description": fault.description,
            "remaining": fault.remaining,
        }
    )


async def clear_faults(request: web.Request) -> web.StreamResponse:
    """DELETE /__emu/faults."""
    _emu(request).clear_faults()
    return _ok(True)


async def set_latency(request: web.Request) -> web.StreamResponse:
    """POST /__emu/latency {seconds}."""
    body = await _body(request)
    try:
        seconds = float(body.get("seconds", 0))
    except (TypeError, ValueError):
        raise _BadInput("seconds must be a number") from None
    _emu(request).set_latency(seconds)
    return _ok(True)


async def set_rate_limits(request: web.Request) -> web.StreamResponse:
    """POST /__emu/rate_limits {enabled}."""
    body = await _body(request)
    _emu(request).rate_limits = bool(body.get("enabled"))
    return _ok(True)


async def unanswered(request: web.Request) -> web.StreamResponse:
    """GET /__emu/callbacks/unanswered."""
    return _ok(_emu(request).unanswered_callbacks())


async def commands(request: web.Request) -> web.StreamResponse:
    """GET /__emu/commands?scope_type=default&language_code=&chat_id=&user_id=."""
    q = request.query
    return _ok(
        _emu(request).commands(
            q.get("scope_type", "default"),
            q.get("language_code", ""),
            chat_id=_opt_int(q.get("chat_id"), "chat_id"),
            user_id=_opt_int(q.get("user_id"), "user_id"),
        )
    )


async def file_bytes(request: web.Request) -> web.StreamResponse:
    """GET /__emu/files/{file_id}: raw bytes of any stored file."""
    record = _emu(request).state.files.get(request.match_info["file_id"])
    if record is None:
        raise KeyError("no such file_id")
    name = record.file_name or (
        f"{record.file_unique_id}.jpg" if record.kind == "photo" else record.file_unique_id
    )
    mime = record.mime_type or ("image/jpeg" if record.kind == "photo" else None)
    mime = mime or "application/octet-stream"
    # Only what a browser shows without running anything opens in place; the rest downloads.
    inline = mime in INLINE_TYPES and request.query.get("download", "0") not in ("1", "true")
    return web.Response(
        body=record.data,
        content_type=mime,
        charset="utf-8" if mime == "text/plain" else None,
        headers={
            "Content-Disposition": _disposition("inline" if inline else "attachment", name),
            "X-Content-Type-Options": "nosniff",
        },
    )


def _disposition(kind: str, name: str) -> str:
    """RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name."""
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def events(request: web.Request) -> web.StreamResponse:
    """GET /__emu/events: Server-Sent Events of messages, edits, deletes, answers, updates."""
    state = _emu(request).state
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = state.subscribe()
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if event is None:
                break
            data = json.dumps(event, ensure_ascii=False)
            await response.write(f"event: {event['type']}\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        pass  # the client went away; nothing to clean up beyond unsubscribing
    finally:
        state.unsubscribe(queue)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def add_control_routes(app: web.Application, emu: BotApiEmulator) -> None:
    """Mount ``/__emu/*`` on ``app``."""
    app[EMU_KEY] = emu
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/__emu/info", info),
        ("POST", "/__emu/users", create_user),
        ("POST", "/__emu/users/{user_id}/send", user_send),
        ("POST", "/__emu/users/{user_id}/command", user_command),
        ("POST", "/__emu/users/{user_id}/press", user_press),
        ("POST", "/__emu/users/{user_id}/upload", user_upload),
        ("POST", "/__emu/users/{user_id}/block", user_block),
        ("POST", "/__emu/users/{user_id}/unblock", user_unblock),
        ("GET", "/__emu/users/{user_id}/toasts", user_toasts),
        ("POST", "/__emu/users/{user_id}/language", user_language),
        ("GET", "/__emu/users/{user_id}/commands", user_commands),
        ("POST", "/__emu/groups", create_group),
        ("POST", "/__emu/groups/{chat_id}/upload", group_upload),
        ("GET", "/__emu/groups/{chat_id}/topics", group_topics),
        ("POST", "/__emu/groups/{chat_id}/add_bot", group_add_bot),
        ("POST", "/__emu/groups/{chat_id}/send", group_send),
        ("POST", "/__emu/groups/{chat_id}/press", group_press),
        ("GET", "/__emu/chats/{chat_id}/messages", chat_messages),
        ("GET", "/__emu/calls", list_calls),
        ("POST", "/__emu/redeliver", redeliver),
        ("POST", "/__emu/faults", add_fault),
        ("DELETE", "/__emu/faults", clear_faults),
        ("POST", "/__emu/latency", set_latency),
        ("POST", "/__emu/rate_limits", set_rate_limits),
        ("GET", "/__emu/callbacks/unanswered", unanswered),
        ("GET", "/__emu/commands", commands),
        ("GET", "/__emu/files/{file_id}", file_bytes),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guard(handler))
    app.router.add_get("/__emu/events", events)
