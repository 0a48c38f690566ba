"""Receiving updates durably (polling or webhook) and dispatching them in per-chat order.

Polling: a batch is stored before the next ``getUpdates`` confirms it by its offset.
Webhook: an update is stored before the HTTP answer, so Telegram redelivers what we lost.
Either way the dispatcher claims stored updates and runs the PTB handlers on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.i18n import negotiate
from bot.inbox import InboxService, RawUpdate
from bot.runtime import handling_update, is_unavailable

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "message_reaction",
]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_ATTEMPTS = 5  # an update that crashed the process this often is set aside


def chat_of(data: dict[str, Any]) -> int | None:
    """The chat an update belongs to, for ordering (None: no chat, e.g. inline queries)."""
    for key in (
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "message_reaction",
    ):
        part = data.get(key)
        if isinstance(part, dict) and isinstance(part.get("chat"), dict):
            return int(part["chat"]["id"])
    query = data.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
        if isinstance(query.get("from"), dict):
            return int(query["from"]["id"])
    return None


def sender_of(data: dict[str, Any]) -> tuple[int | None, str | None]:
    """Who sent an update and the language of their app, as our locale (None if unknown)."""
    for key in ("message", "edited_message", "callback_query", "my_chat_member", "chat_member"):
        part = data.get(key)
        sender = part.get("from") if isinstance(part, dict) else None
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            if sender.get("is_bot"):
                return None, None
            code = sender.get("language_code")
            locale = negotiate(code, "") if isinstance(code, str) else ""
            return int(sender["id"]), locale or None
    return None, None


def raw_update(data: dict[str, Any]) -> RawUpdate:
    """What the inbox stores of one update."""
    sender_id, locale = sender_of(data)
    return RawUpdate(
        int(data["update_id"]),
        chat_of(data),
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        sender_id=sender_id,
        client_locale=locale,
    )


class Dispatcher:
    """Claims stored updates and runs the application's handlers on each, exactly once."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        inbox: InboxService,
        *,
        after_update: Callable[[], None] = lambda: None,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._app = app
        self._inbox = inbox
        self._after = after_update
        self._poll = poll_interval_s
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        # The newest task of each chat: the next update of that chat waits for it, so a
        # chat's updates run in order even though different chats run concurrently.
        self._tails: dict[int | None, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        processor = app.update_processor
        self._capacity = max(8, 2 * processor.max_concurrent_updates)

    def kick(self) -> None:
        """New updates are stored: look now."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="dispatcher")
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="inbox-leases")

    async def _renew_leases(self) -> None:
        """Keep the claims of long-running handlers alive; a dead process's claims lapse."""
        every = max(1.0, self._inbox.lease.total_seconds() / 3)
        while not self._stopping:
            await asyncio.sleep(every)
            try:
                await self._inbox.renew(list(self._in_flight))
            except Exception as exc:
                if not is_unavailable(exc):
                    logger.exception("renewing inbox leases failed")

    async def stop(self, within: float = 10.0) -> None:
        """Stop claiming; let running handlers finish (their updates stay pending otherwise)."""
        self._stopping = True
        self._wake.set()
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=within)
        for task in (self._task, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def idle(self, within: float) -> bool:
        """For tests: wait until nothing is in flight and nothing is pending."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if not self._in_flight and (await self._inbox.stats()).get("pending", 0) == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    async def _loop(self) -> None:
        backoff = self._poll
        while not self._stopping:
            # Cleared before the claim, not after: an update stored while the claim runs
            # sets it again, and the wait below then returns at once instead of missing it
            # for a whole poll interval.
            self._wake.clear()
            try:
                room = self._capacity - len(self._in_flight)
                claimed = await self._inbox.claim(limit=room) if room > 0 else []
                backoff = self._poll
            except Exception as exc:
                if not is_unavailable(exc):
                    logger.exception("claiming updates failed")
                else:
                    logger.warning("database unavailable; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            for raw in claimed:
                if raw.update_id in self._in_flight:
                    continue
                before = self._tails.get(raw.chat_id)
                task = asyncio.create_task(
                    self._process(raw, before), name=f"update-{raw.update_id}"
                )
                self._in_flight[raw.update_id] = task
                self._tails[raw.chat_id] = task
                task.add_done_callback(partial(self._done, raw.update_id, raw.chat_id))
            if len(claimed) == 0 or len(self._in_flight) >= self._capacity:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):  # not wait_for: see 3.11 cancel race
                        await self._wake.wait()

    def _done(self, update_id: int, chat_id: int | None, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(update_id, None)
        if self._tails.get(chat_id) is task:
            del self._tails[chat_id]
        self._wake.set()

    async def _process(self, raw: RawUpdate, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # its outcome is its own business
        try:
            if raw.attempts > MAX_ATTEMPTS:
                logger.error("update %s failed %s times; set aside", raw.update_id, MAX_ATTEMPTS)
                await self._inbox.fail(raw.update_id, "too many attempts")
                return
            update = Update.de_json(json.loads(raw.payload), self._app.bot)
            with handling_update(raw.update_id) as handling:
                await self._app.update_processor.process_update(
                    update, self._app.process_update(update)
                )
            if handling.retry:
                await self._inbox.release(raw.update_id)
            elif not handling.marked_done:  # no handler committed anything: count it once
                await self._inbox.finish(raw.update_id)
        except Exception as exc:
            # The update stays pending under its lease and comes back: nothing is lost.
            if is_unavailable(exc):
                logger.warning("database unavailable after update %s", raw.update_id)
            else:
                logger.exception("dispatching update %s failed", raw.update_id)
        finally:
            self._after()


Store = Callable[[list[RawUpdate]], Awaitable[int]]


class PollingReceiver:
    """Long-polls getUpdates; confirms a batch (next offset) only after storing it."""

    def __init__(
        self,
        bot: Bot,
        inbox: InboxService,
        *,
        on_stored: Callable[[], None],
        poll_timeout: int = 25,
    ) -> None:
        self._bot = bot
        self._inbox = inbox
        self._on_stored = on_stored
        self._timeout = poll_timeout
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        await self._bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.create_task(self._loop(), name="polling")

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The polling task (the runner watches it: a Conflict ends the process)."""
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        offset: int | None = None
        backoff = 1.0
        while not self._stopping:
            try:
                updates = await self._bot.get_updates(
                    offset=offset,
                    timeout=self._timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=self._timeout + 10,
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except (Conflict, InvalidToken) as exc:
                # Another process polls this token, or the token is wrong: stop, loudly.
                logger.error("polling stopped: %s", exc)
                raise
            except (TimedOut, NetworkError) as exc:
                logger.warning("getUpdates failed (%s); retrying in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except Exception:
                logger.exception("getUpdates failed unexpectedly; retrying in %.0fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if not updates:
                continue
            batch = [raw_update(u.to_dict()) for u in updates]
            while not self._stopping:
                try:
                    await self._inbox.store(batch)
                    break
                except Exception as exc:  # not confirmed: Telegram keeps them for us
                    if not is_unavailable(exc):
                        logger.exception("storing updates failed")
                    else:
                        logger.warning("database unavailable; updates kept unconfirmed")
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            offset = max(r.update_id for r in batch) + 1
            self._on_stored()


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


class WebhookServer:
    """aiohttp app: POST updates (secret header checked, stored before 200), GET /healthz."""

    def __init__(
        self,
        inbox: InboxService,
        *,
        secret: str,
        path: str,
        on_stored: Callable[[], None],
        health: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        self._inbox = inbox
        self._secret = secret
        self._path = path
        self._on_stored = on_stored
        self._health = health
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(self._path, self._receive)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        # The bound port (differs from ``port`` when it was 0).
        addresses = self._runner.addresses
        return int(addresses[0][1]) if addresses else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            logger.warning("webhook call with a wrong secret token from %s", request.remote)
            return web.json_response({"ok": False}, status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("not an update")
            raw = raw_update(data)
        except (ValueError, TypeError, KeyError):
            return web.json_response({"ok": False, "error": "bad update"}, status=400)
        try:
            await self._inbox.store([raw])
        except Exception as exc:
            # Not stored: a non-2xx answer makes Telegram deliver it again later.
            if not is_unavailable(exc):
                logger.exception("storing webhook update failed")
            return web.json_response({"ok": False}, status=503)
        self._on_stored()
        return web.json_response({"ok": True})

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            report = await self._health()
        except Exception as exc:
            logger.warning("health check failed: %s", type(exc).__name__)
            return web.json_response({"ok": False}, status=503)
        return web.json_response(report, status=200 if report.get("ok") else 503)
