"""Webhook delivery: POST each update to the bot, in order per chat, parallel across chats."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from .state import EmulatorState, UpdateRecord, WebhookConfig

__all__ = ["WebhookDispatcher"]


class WebhookDispatcher:
    """Delivers pending updates while a webhook is set; retries failures with backoff."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        request_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.state = state
        self.request_timeout_s = request_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.deliveries = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._workers: set[asyncio.Task[None]] = set()

    def refresh(self) -> None:
        """(Re)start or stop delivery after the webhook configuration changed."""
        self._cancel()
        if self.state.webhook is not None and not self.state.closing:
            self._task = asyncio.get_running_loop().create_task(self._run(self.state.webhook))

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for worker in self._workers:
            worker.cancel()
        self._workers.clear()

    async def stop(self) -> None:
        """Stop delivering and close the HTTP client."""
        tasks = [t for t in [self._task, *self._workers] if t is not None]
        self._cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def _run(self, hook: WebhookConfig) -> None:
        busy_lanes: set[str] = set()
        in_flight: set[int] = set()
        slots = asyncio.Semaphore(hook.max_connections)
        while True:
            blocked_lanes = set(busy_lanes)
            for update_id in sorted(self.state.pending) if not self.state.holding else ():
                update = self.state.pending.get(update_id)
                if update is None or update_id in in_flight:
                    continue
                if update.lane in blocked_lanes:
                    continue  # an older update of this chat is still on its way
                blocked_lanes.add(update.lane)
                if not self.state.is_allowed(update.kind):
                    self.state.confirm_one(update_id)
                    continue
                if slots.locked():
                    break
                await slots.acquire()
                busy_lanes.add(update.lane)
                in_flight.add(update_id)
                worker = asyncio.get_running_loop().create_task(self._deliver(hook, update))
                self._workers.add(worker)

                def _done(
                    task: asyncio.Task[None], lane: str = update.lane, uid: int = update_id
                ) -> None:
                    self._workers.discard(task)
                    busy_lanes.discard(lane)
                    in_flight.discard(uid)
                    slots.release()
                    self.state.updates_signal.notify()

                worker.add_done_callback(_done)
            await self.state.updates_signal.wait(1.0)

    async def _deliver(self, hook: WebhookConfig, update: UpdateRecord) -> None:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        delay = self.backoff_initial_s
        while self.state.webhook is hook:
            error: str | None = None
            try:
                async with self._client().post(
                    hook.url, json=update.to_json(), headers=headers
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        update.forced = False
                        self.deliveries += 1
                        self.state.confirm_one(update.update_id)
                        return
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"Connection failed: {exc.__class__.__name__}"
            self.failures += 1
            hook.last_error_date = int(time.time())
            hook.last_error_message = error
            self.state.touch()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)
