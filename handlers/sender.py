"""Outbox delivery within Telegram's limits: per-chat, per-group and global sliding windows.

PTB's ``AIORateLimiter`` has no per-private-chat limit, its leaky bucket bursts at window edges
and one 429 stops every request (performance.md §2.2), so the sender paces itself:

* a chat gets at most 3 calls in any trailing second, then one per second (GCRA);
* a group additionally at most 19 in any trailing minute (Telegram says 20);
* everything together at most 29 in any trailing 1.03 s (Telegram says ~30 a second), paced
  evenly: 28.2 a second, 10,000 messages in about 355 s; a call counts from its send, or from
  its answer when that came later than the slack (it may have arrived that late), and while
  it is unanswered; one short of 30 is the margin left;
* the broadcast lane may use all of it, paced in small bursts: rows are dispatched in
  priority order, so an interactive reply takes the broadcast's next slot (about 35 ms).

Windows and pacing both matter: a sliding window alone lets a whole window's worth go at
once, and requests sent together arrive bunched up with whatever was delayed before them.

Per-chat order comes from the claim (only a chat's oldest open row is claimable) and from
sending at most one call per chat at a time; different chats go out concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.i18n import Translator, translator
from bot.messaging.outgoing import Outgoing
from bot.messaging.services import (
    PRIORITY_BROADCAST,
    DeliveryService,
    DeliveryUnavailableError,
)
from handlers.render import OFFLOADED, RENDERERS, Rendered

logger = logging.getLogger(__name__)

MonoClock = Callable[[], float]
T = TypeVar("T")

LEASE_S = 60.0  # longer than any send's timeouts plus the longest hold below
HOLD_MAX_S = 2.0  # a row whose bucket frees later than this goes back to the database
MAX_HELD = 64  # claimed rows waiting for their bucket, at most
KICK_RESERVE = 8  # a kick claims at least this many, so a reply never waits for room
MIN_CLAIM_GAP_S = 0.02  # claims after completed sends are coalesced to this rate
CLAIM_LOW_WATER = 32  # a mass send's completion claims only when fewer rows than this are held
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 60.0
DB_BACKOFF_CAP_S = 5.0
STOP_GRACE_S = 10.0
UNANSWERED_MAX_S = 90.0  # longer than any call's timeouts (LEASE_S): it is not coming back
OVERDUE_POLL_S = 0.05
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_ALBUM = 10  # photos in one sendMediaGroup
MAX_CAPTION = 1024


@dataclass(frozen=True)
class Limits:
    """The sending limits; defaults sit just under Telegram's (Bots FAQ, performance.md §2.1)."""

    chat_burst: int = 3  # calls to one chat in any trailing chat_window_s
    chat_window_s: float = 1.0
    chat_interval_s: float = 1.0  # sustained spacing per chat once the burst is used
    group_limit: int = 19  # Telegram: 20 per minute per group
    group_window_s: float = 60.0
    # Telegram: 30 a second overall. Counted in global_window_s + slack_s, so calls that
    # arrive up to slack_s later than sent still never make 31 in any one second there.
    global_limit: int = 30
    global_window_s: float = 1.0
    global_burst: int = 4  # paced evenly too: a full window sent at once arrives bunched up
    # One less than the global budget: a reply always finds a free slot in the window, and
    # overtakes the broadcast in the dispatch for more.
    broadcast_limit: int = 29
    broadcast_window_s: float = 1.0
    broadcast_burst: int = 1  # evenly paced: a reply never waits for a burst to leave the window
    slack_s: float = 0.03  # added to every window: our send time is not Telegram's arrival time


class SlidingWindow:
    """At most ``limit`` events in any trailing ``period_s``, from exact timestamps."""

    __slots__ = ("_events", "limit", "period_s")

    def __init__(self, limit: int, period_s: float) -> None:
        self.limit = limit
        self.period_s = period_s
        self._events: deque[float] = deque()

    def _expire(self, now: float) -> None:
        # ``now - t`` in both places, so "expired" and "no wait left" can never disagree by a
        # rounding error (which would let limit + 1 events into one window)
        while self._events and now - self._events[0] >= self.period_s:
            self._events.popleft()

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds until ``n`` more events fit (0.0: now); more than the limit waits for an
        empty window."""
        self._expire(now)
        n = min(max(n, 1), self.limit)
        if len(self._events) + n <= self.limit:
            return 0.0
        return self.period_s - (now - self._events[-(self.limit - n + 1)])

    def record(self, now: float, n: int = 1) -> None:
        """Count ``n`` events at ``now``."""
        self._expire(now)
        self._events.extend([now] * max(n, 1))

    def last(self) -> float | None:
        """The newest event, if any is still in the window."""
        return self._events[-1] if self._events else None

    def move(self, sent_at: float, now: float) -> None:
        """Move one event counted at ``sent_at`` (any, not only the newest) to ``now``."""
        events = self._events
        for i in range(len(events) - 1, -1, -1):
            if events[i] == sent_at:
                del events[i]
                break
        i = len(events)
        while i and events[i - 1] > now:  # keep them in order (a window holds ≤ 30)
            i -= 1
        events.insert(i, now)

    def settle(self, sent_at: float, now: float) -> None:
        """Move the event counted at ``sent_at`` (the newest) to ``now``, when it was answered."""
        if self._events and self._events[-1] == sent_at:
            self._events[-1] = max(sent_at, now)
        else:  # it already left the window here, but may just have arrived over there
            self._events.append(now)


class Pacer:
    """GCRA: a sustained rate of one per ``interval_s`` with bursts of up to ``burst``.

    ``late_s``: an event that comes up to this late (the event loop woke a little after the
    slot: epoll rounds its timeout up to a millisecond) keeps the schedule, so the next
    event is due one interval after the slot, not after the late event; otherwise every
    late wake-up is lost for good (1 ms of 35 is 3 % of a broadcast's rate). The long-run
    rate stays one per ``interval_s``.
    """

    __slots__ = ("_tat", "burst", "interval_s", "late_s")

    def __init__(self, interval_s: float, burst: int, *, late_s: float = 0.0) -> None:
        self.interval_s = interval_s
        self.burst = burst
        self.late_s = late_s
        self._tat = float("-inf")  # theoretical arrival time of the next event

    def wait(self, now: float) -> float:
        """Seconds until one more event conforms (0.0: now; a rounding error is not a wait)."""
        wait = self._tat - (self.burst - 1) * self.interval_s - now
        return wait if wait > 1e-9 else 0.0

    def record(self, now: float) -> None:
        """Count one event at ``now``."""
        on_schedule = self._tat >= now - self.late_s  # not idle: a little late at most
        self._tat = (self._tat if on_schedule else now) + self.interval_s

    def settle(self, now: float) -> None:
        """The last event really happened as late as ``now``: keep a full interval after it."""
        self._tat = max(self._tat, now + self.interval_s)


class ChatBucket:
    """One chat's limits, plus a pause a 429 for this chat imposed."""

    __slots__ = ("group", "pace", "paused_until", "window")

    def __init__(self, chat_id: int, limits: Limits) -> None:
        self.window = SlidingWindow(limits.chat_burst, limits.chat_window_s + limits.slack_s)
        self.pace = Pacer(limits.chat_interval_s + limits.slack_s, limits.chat_burst)
        self.group = (
            SlidingWindow(limits.group_limit, limits.group_window_s + limits.slack_s)
            if chat_id < 0
            else None
        )
        self.paused_until = float("-inf")

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds until this chat may receive one more call putting ``n`` messages in it."""
        waits = [self.window.wait(now), self.pace.wait(now), self.paused_until - now]
        if self.group is not None:
            waits.append(self.group.wait(now, n))
        return max(*waits, 0.0)

    def record(self, now: float, n: int = 1) -> None:
        """Count one call to this chat (``n`` messages toward a group's limit)."""
        self.window.record(now)
        self.pace.record(now)
        if self.group is not None:
            self.group.record(now, n)

    def settle(self, sent_at: float, now: float) -> None:
        """Count the last call at the time its answer came, not the time it was sent."""
        self.window.settle(sent_at, now)
        self.pace.settle(now)
        if self.group is not None:
            self.group.settle(sent_at, now)

    def is_idle(self, now: float) -> bool:
        """True when forgetting this bucket changes nothing (every window and pause expired)."""
        windows = [self.window] + ([self.group] if self.group is not None else [])
        for window in windows:
            window.wait(now)  # expires old events
            if window.last() is not None:
                return False
        return self.paused_until <= now and self.pace.wait(now) == 0.0


class Limiter:
    """Every bucket a call must pass: its chat (and group), its lane, and the global window."""

    def __init__(self, limits: Limits | None = None, *, clock: MonoClock = time.monotonic) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        lim = self.limits
        self._global = SlidingWindow(lim.global_limit, lim.global_window_s + lim.slack_s)
        self._broadcast = SlidingWindow(lim.broadcast_limit, lim.broadcast_window_s + lim.slack_s)
        interval = (lim.broadcast_window_s + lim.slack_s) / lim.broadcast_limit
        self._broadcast_pace = Pacer(interval, lim.broadcast_burst, late_s=interval / 2)
        self._global_pace = Pacer(
            (lim.global_window_s + lim.slack_s) / lim.global_limit, lim.global_burst
        )
        self._global_paused_until = float("-inf")
        self._chats: dict[int, ChatBucket] = {}
        # Calls counted in the global window and not answered yet, by send time: one may still
        # reach Telegram at any moment, so it counts until answered however long ago it left.
        self._unanswered: dict[float, int] = {}

    def _chat(self, chat_id: int) -> ChatBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = self._chats[chat_id] = ChatBucket(chat_id, self.limits)
        return bucket

    def wait(self, chat_id: int, priority: int, now: float | None = None, n: int = 1) -> float:
        """Seconds until a call to ``chat_id`` in this lane may go (0.0: now); ``n``: how
        many messages it puts in the chat."""
        now = self.clock() if now is None else now
        overdue = self._overdue(now)
        waits = [
            self._global.wait(now, n + overdue)
            if n + overdue <= self._global.limit
            else OVERDUE_POLL_S,  # the window is full of calls still out: wait for answers
            self._global_pace.wait(now),
            self._global_paused_until - now,
        ]
        bucket = self._chats.get(chat_id)
        if bucket is not None:
            waits.append(bucket.wait(now, n))
        if priority >= PRIORITY_BROADCAST:
            waits.append(self._broadcast.wait(now))
            waits.append(self._broadcast_pace.wait(now))
        return max(*waits, 0.0)

    def chat_wait(self, chat_id: int, now: float | None = None) -> float:
        """Seconds until this chat's own bucket (not the shared ones) lets a call through."""
        now = self.clock() if now is None else now
        bucket = self._chats.get(chat_id)
        return 0.0 if bucket is None else bucket.wait(now)

    def record(
        self,
        chat_id: int,
        priority: int,
        now: float | None = None,
        n: int = 1,
        *,
        answered: bool = False,
    ) -> None:
        """Count one call to ``chat_id`` in this lane (``n`` messages); ``settle`` it once
        answered, unless it is counted after its answer (``answered``)."""
        now = self.clock() if now is None else now
        self._global.record(now, n)
        if not answered:
            self._unanswered[now] = self._unanswered.get(now, 0) + 1
        self._global_pace.record(now)
        self._chat(chat_id).record(now, n)
        if priority >= PRIORITY_BROADCAST:
            self._broadcast.record(now)
            self._broadcast_pace.record(now)

    def settle(self, chat_id: int, sent_at: float, now: float | None = None) -> None:
        """A call to this chat, counted at ``sent_at``, was answered at ``now``.

        Telegram counts a call when it arrives, somewhere between the two; counting it at the
        answer keeps the chat's next calls spaced from the arrival however late that was
        (a chat has one call in flight at a time, so it is always that chat's newest event).
        The global window keeps the send time when the answer came promptly: pushing every
        call back would cost a round trip of throughput per window. A call answered late (the
        event loop was busy, the network slow) is moved to its answer, since it may have
        arrived that late; and one not answered yet counts while it is out (``_overdue``). So
        the window holds every call for a full window after it can have arrived, and a call
        held up on its way never lets 31 arrive in one second.
        """
        now = self.clock() if now is None else now
        left = self._unanswered.get(sent_at, 0) - 1
        if left > 0:
            self._unanswered[sent_at] = left
        else:
            self._unanswered.pop(sent_at, None)
        if now - sent_at > self.limits.slack_s:  # it may have arrived after the slack
            self._global.move(sent_at, now)
        bucket = self._chats.get(chat_id)
        if bucket is not None:
            bucket.settle(sent_at, now)

    def _overdue(self, now: float) -> int:
        """Unanswered calls sent longer than a window ago (no longer in the window, but not
        yet known to have arrived); one never answered is forgotten after UNANSWERED_MAX_S."""
        edge = now - self._global.period_s
        overdue = 0
        for sent_at in list(self._unanswered):
            if sent_at < now - UNANSWERED_MAX_S:
                del self._unanswered[sent_at]
            elif sent_at < edge:
                overdue += self._unanswered[sent_at]
        return overdue

    def pause(self, chat_id: int | None, seconds: float, now: float | None = None) -> None:
        """Hold one chat's (or group's) bucket after a 429; ``None``: hold everything."""
        now = self.clock() if now is None else now
        until = now + seconds
        if chat_id is None:
            self._global_paused_until = max(self._global_paused_until, until)
            return
        bucket = self._chat(chat_id)
        bucket.paused_until = max(bucket.paused_until, until)

    def global_pause(self, now: float | None = None) -> float:
        """Seconds left of a global pause (0.0: none)."""
        now = self.clock() if now is None else now
        return max(self._global_paused_until - now, 0.0)

    def paused_chats(self, now: float | None = None) -> set[int]:
        """Chats whose bucket is held by a 429 right now."""
        now = self.clock() if now is None else now
        return {cid for cid, b in self._chats.items() if b.paused_until > now}

    def forget_idle(self, now: float | None = None) -> int:
        """Drop buckets of chats that have been quiet for a whole window; return how many."""
        now = self.clock() if now is None else now
        idle = [cid for cid, bucket in self._chats.items() if bucket.is_idle(now)]
        for cid in idle:
            del self._chats[cid]
        return len(idle)

    def __len__(self) -> int:
        return len(self._chats)


@dataclass(frozen=True)
class Plan:
    """One dispatch step: rows to send now, rows to give back for a while, rows to keep."""

    send: list[Outgoing]
    defer: list[tuple[Outgoing, float]]
    keep: list[Outgoing]
    wake_in: float


def plan(
    held: Sequence[Outgoing], limiter: Limiter, now: float, *, slots: int, horizon_s: float
) -> Plan:
    """Choose what to send now, best lane first, and take those slots in the limiter.

    Rows are considered in (priority, id) order, so an interactive reply takes the first free
    slot; a row whose buckets are full is skipped, not waited for, so one slow chat never holds
    up another. A row that would wait longer than ``HOLD_MAX_S`` (a group's full minute, a 429
    pause) is handed back to the database, where it also holds back its chat's later rows.
    """
    send: list[Outgoing] = []
    defer: list[tuple[Outgoing, float]] = []
    keep: list[Outgoing] = []
    wake_in = horizon_s
    for out in sorted(held, key=lambda o: (o.priority, o.id)):
        if len(send) >= slots:
            keep.append(out)
            continue
        wait = limiter.wait(out.chat_id, out.priority, now, out.weight)
        if wait == 0.0:
            limiter.record(out.chat_id, out.priority, now, out.weight)
            send.append(out)
        elif wait > HOLD_MAX_S:
            defer.append((out, wait))
        else:
            wake_in = min(wake_in, wait)
            keep.append(out)
    return Plan(send, defer, keep, wake_in)


def retry_after_s(exc: RetryAfter) -> float:
    """The pause a 429 asks for, in seconds, whichever type this PTB version gives."""
    value = exc.retry_after  # a timedelta: handlers/__init__.py opts in to PTB_TIMEDELTA
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def backoff_s(attempts: int) -> float:
    """Exponential backoff for a transient failure on the ``attempts``-th try, capped."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempts - 1, 0)))


class OutboxSender:
    """Claims outbox rows, renders them in the recipient's locale and sends them, paced."""

    def __init__(
        self,
        bot: Bot,
        delivery: DeliveryService,
        *,
        clock: MonoClock = time.monotonic,
        concurrency: int = 16,
        poll_interval_s: float = 0.5,
        limits: Limits | None = None,
        translate: Callable[[str], Translator] = translator,
    ) -> None:
        self._bot = bot
        self._delivery = delivery
        self._clock = clock
        self._concurrency = concurrency
        self._poll_interval_s = poll_interval_s
        self._translate = translate
        self.limiter = Limiter(limits, clock=clock)
        self._held: list[Outgoing] = []
        self._active: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._kicked = False
        self._completed = False
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self.recovered: list[int] = []

    # -- public API

    async def start(self) -> None:
        """Requeue what a dead process left inflight, then run the delivery loop."""
        if self._loop_task is not None:
            return
        self._stopping = False
        self.recovered = await self._bookkeep(self._delivery.recover_inflight, retries=10) or []
        self._loop_task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        """Let in-flight sends finish, stop the loop, give held rows back as pending."""
        self._stopping = True
        self._wake.set()
        task, self._loop_task = self._loop_task, None
        if task is not None:
            # The loop stops between steps, never inside a claim's transaction; cancel it only
            # if that takes too long (a hung database).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, STOP_GRACE_S)
        if self._active:
            await asyncio.gather(*self._active.values(), return_exceptions=True)
        held, self._held = self._held, []
        for out in held:
            await self._bookkeep(self._defer_call(out.id, 0.0))

    def kick(self) -> None:
        """Look at the outbox now (a handler just committed a row): replies go out at once."""
        self._kicked = True
        self._wake.set()

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 (the API the tests use)
        """Wait until no row is pending or inflight; False if ``timeout`` passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.kick()
            try:
                if not self._active and not self._held and await self._delivery.open_count() == 0:
                    return True
            except DeliveryUnavailableError:
                pass
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    @property
    def in_flight(self) -> int:
        """Calls to the Bot API running right now."""
        return len(self._active)

    # -- the loop

    async def _run(self) -> None:
        next_claim = 0.0
        last_claim = float("-inf")
        next_gc = self._clock() + 60.0
        db_failures = 0
        while not self._stopping:
            try:
                now = self._clock()
                wanted = (
                    self._kicked
                    or now >= next_claim
                    or (self._completed and now - last_claim >= MIN_CLAIM_GAP_S)
                )
                paused = self.limiter.global_pause(now)
                if wanted and paused > 0.0:  # a global 429: claim nothing until it is over
                    self._kicked = self._completed = False
                    next_claim = now + min(paused, self._poll_interval_s)
                elif wanted:
                    room = MAX_HELD - len(self._held)
                    if self._kicked:
                        room = max(room, KICK_RESERVE)
                    self._kicked = self._completed = False
                    if room > 0:
                        await self._claim(room)
                        last_claim = now
                    next_claim = now + self._poll_interval_s
                db_failures = 0
                wake_in = self._dispatch()
                if now >= next_gc:
                    self.limiter.forget_idle(now)
                    next_gc = now + 60.0
                delay = min(wake_in, next_claim - self._clock())
                if self._completed or self._kicked:
                    delay = min(delay, max(last_claim + MIN_CLAIM_GAP_S - self._clock(), 0.0))
                await self._sleep(delay)
            except asyncio.CancelledError:
                raise
            except DeliveryUnavailableError:
                db_failures += 1
                pause = min(DB_BACKOFF_CAP_S, 0.1 * 2**db_failures)
                logger.warning("outbox: database unavailable, retrying in %.1f s", pause)
                await self._sleep(pause)
            except Exception:
                logger.exception("outbox loop error; continuing")
                await self._sleep(1.0)

    async def _sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):  # not wait_for: 3.11 can swallow a cancel
                await self._wake.wait()
        self._wake.clear()

    async def _claim(self, room: int) -> None:
        claimed = await self._delivery.claim(
            limit=room, lease_s=LEASE_S, exclude_chats=self.limiter.paused_chats()
        )
        # A row whose lease ran out while it waited here can come back: keep one copy.
        known = {o.id for o in self._held} | set(self._active)
        fresh = [o for o in claimed if o.id not in known]
        if fresh:
            self._held.extend(fresh)
            self._held.sort(key=lambda o: (o.priority, o.id))

    def _dispatch(self) -> float:
        """Start every held row its buckets allow now; seconds until one more may be ready."""
        now = self._clock()
        step = plan(
            self._held,
            self.limiter,
            now,
            slots=self._concurrency - len(self._active),
            horizon_s=self._poll_interval_s,
        )
        for out in step.send:
            self._start(out, now)
        for out, after_s in step.defer:
            self._start_bookkeeping(out, after_s)
        self._held = step.keep
        return step.wake_in

    def _start(self, out: Outgoing, sent_at: float) -> None:
        task = asyncio.create_task(self._deliver(out, sent_at), name=f"outbox-{out.id}")
        self._track(out.id, task, mass=out.priority >= PRIORITY_BROADCAST)

    def _start_bookkeeping(self, out: Outgoing, after_s: float) -> None:
        task = asyncio.create_task(
            self._bookkeep_none(self._defer_call(out.id, after_s)), name=f"outbox-defer-{out.id}"
        )
        self._track(out.id, task)

    def _defer_call(self, msg_id: int, after_s: float) -> Callable[[], Awaitable[None]]:
        return partial(self._delivery.defer, msg_id, after_s=after_s)

    async def _bookkeep_none(self, call: Callable[[], Awaitable[None]]) -> None:
        await self._bookkeep(call)

    def _track(self, msg_id: int, task: asyncio.Task[None], *, mass: bool = False) -> None:
        self._active[msg_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._active.pop(msg_id, None)
            # A finished row may free its chat's next one: look soon (a reply in two
            # messages). A mass send's row rarely does (one per person), so while enough
            # are held its completion does not claim: the poll refills them, and the loop
            # and the database are not spent on a claim every 35 ms of a broadcast.
            if not mass or len(self._held) < CLAIM_LOW_WATER:
                self._completed = True
            self._wake.set()

        task.add_done_callback(done)

    # -- one message

    async def _deliver(self, out: Outgoing, sent_at: float) -> None:
        """Render and send one row, then record what happened; never raises."""
        try:
            await self._deliver_unguarded(out, sent_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("outbox %s: unexpected error while delivering", out.id)
            await self._bookkeep(
                lambda: self._delivery.retry(
                    out.id, after_s=backoff_s(out.attempts), error="internal error"
                )
            )

    async def _deliver_unguarded(self, out: Outgoing, sent_at: float) -> None:
        renderer = RENDERERS.get(out.kind)
        if renderer is None:
            logger.error("outbox %s: no renderer for kind %s", out.id, out.kind)
            self.limiter.settle(out.chat_id, sent_at)  # counted, never sent
            await self._bookkeep(lambda: self._delivery.failed(out.id, error="no renderer"))
            return
        tr = self._translate(out.locale)
        if out.kind in OFFLOADED:
            rendered = await asyncio.to_thread(renderer, out, tr)
        else:
            rendered = renderer(out, tr)
        record: Callable[[], Awaitable[object]]
        thread_id = out.thread_id
        mass = out.priority >= PRIORITY_BROADCAST
        try:
            try:
                if mass:
                    # Recorded before the call: a crash from here on leaves the row uncertain,
                    # and a mass send's row is never sent twice (recover_inflight).
                    await self._bookkeep(partial(self._delivery.sending, out.id))
                if out.topic_key is not None and thread_id is None and rendered.method != "edit":
                    thread_id = await self._create_topic(out)  # a rename: under the new name
                message_id = await self._call_or_fallback(out, rendered, thread_id)
            finally:
                self.limiter.settle(out.chat_id, sent_at)
        except RetryAfter as exc:
            pause = retry_after_s(exc)
            logger.warning(
                "outbox %s: 429 for chat %s, pausing that chat %.1f s", out.id, out.chat_id, pause
            )
            self.limiter.pause(out.chat_id, pause)
            record = self._defer_call(out.id, pause)
        except ChatMigrated as exc:
            moved = f"migrated to {exc.new_chat_id}"
            logger.warning("outbox %s: chat %s %s", out.id, out.chat_id, moved)
            record = partial(self._delivery.failed, out.id, error=moved)
        except Forbidden as exc:
            logger.info("outbox %s: chat %s refused us (403)", out.id, out.chat_id)
            reason = exc.message[:200]
            record = partial(self._delivery.blocked, out.chat_id, out.id, reason=reason)
        except BadRequest as exc:  # before NetworkError: BadRequest subclasses it
            record = self._on_bad_request(out, rendered, exc, thread_id)
        except TimedOut as exc:
            # The call may have arrived: a reply is tried again, a mass send's row is not.
            after = backoff_s(out.attempts)
            logger.warning("outbox %s: timed out (mass send: %s)", out.id, mass)
            error = exc.message[:200]
            if mass:
                record = partial(self._delivery.uncertain, out.id, error=error)
            else:
                record = partial(self._delivery.retry, out.id, after_s=after, error=error)
        except TelegramError as exc:  # NetworkError (502...), InvalidToken, Conflict
            after = backoff_s(out.attempts)
            level = logging.WARNING if isinstance(exc, NetworkError) else logging.ERROR
            logger.log(level, "outbox %s: %s, retry in %.1f s", out.id, type(exc).__name__, after)
            error = exc.message[:200]
            record = partial(self._delivery.retry, out.id, after_s=after, error=error)
        else:
            record = partial(self._delivery.sent, out.id, message_id=message_id, kind=out.kind)
        await self._bookkeep(record)

    async def _create_topic(self, out: Outgoing) -> int:
        """Create the row's forum topic and remember its thread (one more call to the group)."""
        assert out.topic_key is not None
        name = (out.topic_name or out.topic_key)[:128]
        topic = await self._bot.create_forum_topic(out.chat_id, name)
        self.limiter.record(out.chat_id, out.priority, answered=True)
        await self._bookkeep(
            partial(self._delivery.topic_created, out.topic_key, thread_id=topic.message_thread_id)
        )
        return topic.message_thread_id

    def _on_bad_request(
        self, out: Outgoing, rendered: Rendered, exc: BadRequest, thread_id: int | None
    ) -> Callable[[], Awaitable[object]]:
        """What a 400 means for the row: done (not modified), its topic gone (create it
        again and retry), or failed for good."""
        text = exc.message.lower()
        if out.topic_key is not None and thread_id is not None and "thread not found" in text:
            logger.warning("outbox %s: topic %s is gone", out.id, out.topic_key)
            return partial(self._delivery.topic_gone, out.id, out.topic_key, thread_id=thread_id)
        if "message is not modified" in text or "topic_not_modified" in text:  # already so
            return partial(
                self._delivery.sent, out.id, message_id=rendered.message_id, kind=out.kind
            )
        if out.card_key is not None and "message to edit not found" in text:
            logger.info("outbox %s: card message is gone, sending it anew", out.id)
            return partial(self._delivery.card_gone, out.id, out.card_key)
        if "message to edit not found" in text or "message to delete not found" in text:
            logger.info("outbox %s: message to %s is gone", out.id, rendered.method)
        else:
            logger.error("outbox %s: 400 for chat %s: %s", out.id, out.chat_id, exc.message)
        return partial(self._delivery.failed, out.id, error=exc.message[:200])

    async def _call_or_fallback(
        self, out: Outgoing, rendered: Rendered, thread_id: int | None
    ) -> int | None:
        """The row's call; if Telegram refuses a copy (not for a lost topic), its fallback: a
        placeholder or a resend by file id, never silence."""
        try:
            return await self._call(out.chat_id, rendered, thread_id)
        except BadRequest as exc:
            if rendered.fallback is None or "thread not found" in exc.message.lower():
                raise
            logger.info(
                "outbox %s: %s refused (%s), sending its fallback",
                out.id,
                rendered.method,
                exc.message,
            )
            sent_at = self.limiter.clock()
            self.limiter.record(out.chat_id, out.priority, sent_at)
            try:
                return await self._call(out.chat_id, rendered.fallback, thread_id)
            finally:
                self.limiter.settle(out.chat_id, sent_at)

    async def _call(self, chat_id: int, rendered: Rendered, thread_id: int | None) -> int | None:
        """The one Bot API call a rendered row stands for; the message id it concerns."""
        if rendered.method == "send":
            preview = _NO_PREVIEW if rendered.disable_preview else None
            sent = await self._bot.send_message(
                chat_id,
                rendered.text,
                parse_mode=ParseMode.HTML,
                reply_markup=rendered.reply_markup,
                link_preview_options=preview,
                message_thread_id=thread_id,
                reply_parameters=(
                    ReplyParameters(rendered.reply_to, allow_sending_without_reply=True)
                    if rendered.reply_to is not None
                    else None
                ),
            )
            return sent.message_id
        if rendered.method == "topic":
            if thread_id is None:
                raise BadRequest("a topic rename without a topic")
            await self._bot.edit_forum_topic(chat_id, thread_id, name=rendered.text[:128])
            return None
        if rendered.method == "copy":
            if rendered.source_chat_id is None or rendered.source_message_id is None:
                raise BadRequest("copy without a source message")
            copied = await self._bot.copy_message(
                chat_id,
                rendered.source_chat_id,
                rendered.source_message_id,
                caption=rendered.text or None,
                parse_mode=ParseMode.HTML if rendered.text else None,
                reply_markup=rendered.reply_markup,
                message_thread_id=thread_id,
            )
            return copied.message_id
        if rendered.method == "copies":
            if rendered.source_chat_id is None or not rendered.source_message_ids:
                raise BadRequest("copies without source messages")
            copies = await self._bot.copy_messages(
                chat_id,
                rendered.source_chat_id,
                sorted(rendered.source_message_ids),
                message_thread_id=thread_id,
            )
            return copies[0].message_id if copies else None
        if rendered.method == "photos":
            return await self._photos(chat_id, rendered, thread_id)
        if rendered.method in ("document", "photo", "video"):
            return await self._send_file(chat_id, rendered, thread_id)
        if rendered.method == "none":
            return None
        if rendered.message_id is None:
            raise BadRequest(f"{rendered.method} without a message id")
        if rendered.method == "caption":
            markup = rendered.reply_markup
            edited = await self._bot.edit_message_caption(
                chat_id=chat_id,
                message_id=rendered.message_id,
                caption=rendered.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
            return edited.message_id if isinstance(edited, Message) else rendered.message_id
        if rendered.method == "edit":
            markup = rendered.reply_markup  # only inline keyboards can be edited in
            edited = await self._bot.edit_message_text(
                rendered.text,
                chat_id=chat_id,
                message_id=rendered.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
                link_preview_options=_NO_PREVIEW if rendered.disable_preview else None,
            )
            return edited.message_id if isinstance(edited, Message) else rendered.message_id
        if rendered.method == "markup":
            markup = rendered.reply_markup
            await self._bot.edit_message_reply_markup(
                chat_id=chat_id,
                message_id=rendered.message_id,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
            return rendered.message_id
        await self._bot.delete_message(chat_id, rendered.message_id)
        return rendered.message_id

    async def _send_file(self, chat_id: int, rendered: Rendered, thread_id: int | None) -> int:
        """A document, photo or video, by file id or uploaded; an upload under a
        ``file_key`` reports the file id Telegram gave it, to be sent by id from then on."""
        file: str | InputFile
        if rendered.file_id is not None:
            file = rendered.file_id
        elif rendered.file_bytes is not None:
            file = InputFile(rendered.file_bytes, filename=rendered.file_name)
        else:
            raise BadRequest(f"{rendered.method} without a file")
        caption = rendered.text or None
        markup = rendered.reply_markup
        sent: Message
        if rendered.method == "photo":
            sent = await self._bot.send_photo(
                chat_id,
                file,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                message_thread_id=thread_id,
            )
        elif rendered.method == "video":
            sent = await self._bot.send_video(
                chat_id,
                file,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                message_thread_id=thread_id,
            )
        else:
            sent = await self._bot.send_document(
                chat_id,
                file,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                message_thread_id=thread_id,
            )
        if rendered.file_key is not None and rendered.file_bytes is not None:
            uploaded = sent.effective_attachment
            if isinstance(uploaded, tuple):  # a photo: its sizes, the largest last
                uploaded = uploaded[-1] if uploaded else None
            file_id = getattr(uploaded, "file_id", None)
            if isinstance(file_id, str):
                key = rendered.file_key
                await self._bookkeep(partial(self._delivery.file_uploaded, key, file_id))
        return sent.message_id

    async def _photos(self, chat_id: int, rendered: Rendered, thread_id: int | None) -> int | None:
        """One photo (``sendPhoto``) or an album of up to ten (``sendMediaGroup``); the first
        message's id. A resent row sends the whole album again: albums cannot be edited."""
        photos = rendered.photos[:MAX_ALBUM]
        if not photos:
            raise BadRequest("photos without a photo")
        if len(photos) == 1:
            image, caption = photos[0]
            sent = await self._bot.send_photo(
                chat_id,
                InputFile(image, filename="chart.png"),
                caption=caption[:MAX_CAPTION] or None,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread_id,
            )
            return sent.message_id
        album = [
            InputMediaPhoto(
                InputFile(image, filename=f"chart-{i}.png", attach=True),
                caption=caption[:MAX_CAPTION] or None,
                parse_mode=ParseMode.HTML,
            )
            for i, (image, caption) in enumerate(photos, start=1)
        ]
        messages = await self._bot.send_media_group(chat_id, album, message_thread_id=thread_id)
        return messages[0].message_id if messages else None

    async def _bookkeep(self, call: Callable[[], Awaitable[T]], *, retries: int = 6) -> T | None:
        """Record an outcome; ride out a short database outage rather than lose it; never raises.

        If the database stays away, the row keeps its lease and is claimed again when the
        lease runs out (for a row that was in fact sent, that is a duplicate message).
        """
        for attempt in range(retries + 1):
            try:
                return await call()
            except DeliveryUnavailableError:
                if attempt == retries:
                    logger.error("outbox: database unavailable, outcome not recorded")
                    return None
                await asyncio.sleep(min(DB_BACKOFF_CAP_S, 0.1 * 2**attempt))
            except Exception:
                logger.exception("outbox: recording an outcome failed")
                return None
        return None
