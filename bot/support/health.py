"""The desk's health in chat: a daily summary in each desk group, and the outage guard.

The summary (reference item 26) is posted every day at ``GOVBOT_DESK_SUMMARY_AT`` (local time;
the desk is 7×24, so weekends and holidays too) in every desk group, covering the 24 hours
before it. Its figures, each one SQL query away (``storage.repos``):

- new: tickets of that group opened in the window; open: tickets new, claimed or waiting now;
  breached: open tickets that have missed an SLA target;
- median first response: over the first responses given in the window, the wall-clock time
  from opening to the desk's first answer;
- CSAT: of the ratings given in the window, the share of 4 and 5 stars (and the mean);
- FAQ self-service: of the questions staff asked the knowledge base in the window (follow-ups
  left out), the share it settled alone: an answer or a "did you mean" pick, with no 👎 and
  no ticket opened from it;
- the top groups of questions it could not answer that no trainer has dealt with yet, most
  people first (the trainers' digest grouping, nothing stored).

The outage guard (item 27): Telegram keeps a bot's updates for 24 hours only, so an outage
must be noticed within minutes. A heartbeat (a durable due item every ``GOVBOT_HEARTBEAT_S``)
compares what Telegram holds for the bot (getWebhookInfo's pending count, read by the edge)
with what the bot has taken in and handled (the inbox), and when, for ``GOVBOT_OUTAGE_AFTER``
minutes, updates wait at Telegram while none come in ("stalled"), an update taken in is still
not handled ("backlog"), or Telegram's count keeps rising ("behind"), pages the person on call
(the roster's first level with somebody on shift, else support staff, else administrators)
once, and tells the same people when it is over. The heartbeat carries its state from one
item to the next, so a restart neither forgets an outage nor pages for it twice. A process
that is itself stuck runs no heartbeat: that is for the external /healthz monitor.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from statistics import mean, median
from typing import Any

from bot.faq.digest import Group
from bot.messaging.services import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from bot.support.timers import first_on_call
from bot.support.topic import load_agent, tell_staff
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

SUMMARY_KIND = "support.daily"  # the due item and the outbox kind of the summary
HEARTBEAT_KIND = "ops.heartbeat"
OUTAGE_KIND = "ops.outage"  # the page
RECOVERED_KIND = "ops.recovered"
WINDOW = timedelta(days=1)
TOP_GROUPS = 3
SATISFIED = 4  # CSAT counts 4 and 5 stars
QUOTE = 120  # characters of a question shown in the summary

TopUnanswered = Callable[..., Awaitable[list[Group]]]


def day_facts(
    figures: dict[str, Any],
    *,
    faq_served: int,
    faq_asked: int,
    groups: Sequence[Group],
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """The summary's facts from one desk group's figures and the knowledge base's."""
    responses = [float(s) for s in figures["first_responses"]]
    ratings = [int(r) for r in figures["ratings"]]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "new": int(figures["new"]),
        "open": int(figures["open"]),
        "breached": int(figures["breached"]),
        "responded": len(responses),
        "median_first_response_s": median(responses) if responses else None,
        "rated": len(ratings),
        "satisfied": sum(1 for r in ratings if r >= SATISFIED),
        "rating_mean": round(mean(ratings), 2) if ratings else None,
        "faq_asked": faq_asked,
        "faq_served": faq_served,
        "unanswered": [
            {"text": g.representative[:QUOTE], "askers": g.askers, "asked": len(g.members)}
            for g in groups
        ],
    }


class DeskSummaryService:
    """The daily summary in every desk group, and on demand with ``/summary`` there."""

    def __init__(
        self,
        rt: Runtime,
        *,
        top_unanswered: TopUnanswered,
        fallback: int | None,
        tz: tzinfo,
        at: time,
        default_locale: str,
    ) -> None:
        self._rt = rt
        self._top = top_unanswered
        self._fallback = fallback
        self._tz = tz
        self._at = at
        self._default_locale = default_locale

    def register_due(self, due: DueService) -> None:
        due.register(SUMMARY_KIND, self._on_due)

    async def ensure_schedule(self) -> None:
        """Schedule the next summary if none is pending (idempotent; called at start)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            await self._schedule(uow, now)
            await uow.commit()

    def next_run(self, now: datetime) -> datetime:
        """The first ``at`` (local time) strictly after ``now``."""
        local = now.astimezone(self._tz)
        run = datetime.combine(local.date(), self._at, tzinfo=self._tz)
        if run <= local:
            run = datetime.combine(local.date() + timedelta(days=1), self._at, tzinfo=self._tz)
        return run.astimezone(UTC)

    async def _schedule(self, uow: UnitOfWork, now: datetime) -> None:
        due_at = self.next_run(now)
        await uow.due.add(
            kind=SUMMARY_KIND,
            due_at=due_at,
            now=now,
            dedupe_key=f"{SUMMARY_KIND}:{due_at.astimezone(self._tz):%Y%m%d}",
        )

    async def _on_due(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        # Read and group before this unit of work touches the database (SQLite has one
        # connection); then the posts and the next run are written with its completion.
        posts = await self.figures(now)
        await self._schedule(uow, now)
        for chat_id, facts in posts:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=SUMMARY_KIND,
                now=now,
                facts=facts,
                priority=PRIORITY_NOTIFY,
                dedupe_key=f"{SUMMARY_KIND}:{item.id}:{chat_id}",
            )
        logger.info("desk summary posted in %s group(s)", len(posts))

    async def figures(
        self, now: datetime, *, only: int | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """Each desk group (or ``only`` this one) with its summary's facts for the 24 hours
        before ``now``."""
        since = now - WINDOW
        async with self._rt.detached_uow() as uow:
            chats = {d.chat_id for d in await uow.support.desks()}
            if self._fallback is not None:
                chats.add(self._fallback)
            if only is not None:
                chats &= {only}
            if not chats:
                return []
            served, asked = await uow.faq_digest.self_service(since=since, until=now)
            per_chat = {
                chat: await uow.support.day_figures(chat, since=since, until=now)
                for chat in sorted(chats)
            }
        groups = await self._top(since=since, n=TOP_GROUPS)
        return [
            (
                chat,
                day_facts(
                    figures,
                    faq_served=served,
                    faq_asked=asked,
                    groups=groups,
                    since=since,
                    until=now,
                ),
            )
            for chat, figures in per_chat.items()
        ]

    async def post_now(self, *, tg_id: int, chat_id: int, thread_id: int | None) -> bool:
        """``/summary`` in a desk group, by somebody who works the desk: the last 24 hours
        now, in the topic it was asked in. False: this chat is not a desk group."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            await load_agent(uow, tg_id, default_locale=self._default_locale)
        posts = await self.figures(now, only=chat_id)
        if not posts:
            return False
        async with self._rt.uow() as uow:
            topic = await uow.outbox.topic_at(chat_id, thread_id) if thread_id else None
            for chat, facts in posts:
                await uow.outbox.add(
                    chat_id=chat,
                    kind=SUMMARY_KIND,
                    now=now,
                    facts=facts,
                    priority=PRIORITY_INTERACTIVE,
                    topic_key=topic,
                )
            await uow.commit()
        return True


# --- the outage guard ------------------------------------------------------------------------
@dataclass(frozen=True)
class Pulse:
    """What the edge sees of Telegram's side: the updates it holds for the bot (None: it
    could not be asked), and the last delivery error it reports (webhook mode)."""

    telegram_pending: int | None
    telegram_error: str | None = None


Probe = Callable[[], Awaitable[Pulse]]


def diagnose(
    now: datetime,
    *,
    after: timedelta,
    pending: int | None,
    newest: datetime | None,
    oldest_waiting: datetime | None,
    held_since: datetime | None,
    rising_since: datetime | None,
) -> str | None:
    """What is wrong with the update stream, if anything.

    "backlog": an update taken in has not been handled for ``after``; "stalled": Telegram
    has held updates since ``held_since`` (the first heartbeat that saw some) and none has
    come in for ``after`` (one seen once may just be on its way: a quiet night's first message
    is not an outage); "behind": Telegram's count has kept rising for ``after``.
    """
    if oldest_waiting is not None and now - oldest_waiting >= after:
        return "backlog"
    if pending and held_since is not None:
        quiet_since = max(held_since, newest) if newest is not None else held_since
        if now - quiet_since >= after:
            return "stalled"
    if rising_since is not None and now - rising_since >= after:
        return "behind"
    return None


class OutageGuard:
    """Pages the on-call person when updates stop coming in or pile up, once per outage."""

    def __init__(self, rt: Runtime, *, after: timedelta, every: timedelta) -> None:
        self._rt = rt
        self._after = after
        self._every = every
        self._probe: Probe | None = None

    def attach(self, probe: Probe) -> None:
        """The edge's look at Telegram (until attached, heartbeats only keep the chain)."""
        self._probe = probe

    def register_due(self, due: DueService) -> None:
        due.register(HEARTBEAT_KIND, self._on_due)

    def _slot(self, now: datetime) -> datetime:
        """The next heartbeat time on a fixed grid, so that two workers' chains meet."""
        step = self._every.total_seconds()
        return datetime.fromtimestamp(math.floor(now.timestamp() / step + 1) * step, tz=UTC)

    async def ensure_schedule(self) -> None:
        """Start the heartbeat chain unless one is alive (idempotent; called at start)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            if not await uow.due.has_pending(HEARTBEAT_KIND):
                await self._next(uow, now, {})
            await uow.commit()

    async def _next(self, uow: UnitOfWork, now: datetime, state: dict[str, Any]) -> None:
        due_at = self._slot(now)
        await uow.due.add(
            kind=HEARTBEAT_KIND,
            due_at=due_at,
            now=now,
            payload=state,
            dedupe_key=f"{HEARTBEAT_KIND}:{due_at:%Y%m%d%H%M%S}",
        )

    async def _look(self) -> Pulse | None:
        if self._probe is None:
            return None
        try:
            return await self._probe()
        except Exception as exc:  # Telegram unreachable: nobody can be paged through it either
            logger.warning("heartbeat: could not ask Telegram for pending updates: %s", exc)
            return None

    async def _on_due(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        state = dict(item.payload)
        pulse = await self._look()
        async with self._rt.detached_uow() as look:  # before ``uow`` touches the database
            newest, oldest, waiting = await look.inbox.flow()
        pending = pulse.telegram_pending if pulse is not None else None
        last = state.get("pending")
        held_since = _moment(state.get("held_since"))
        rising_since = _moment(state.get("rising_since"))
        if pending is not None:  # unknown: what was seen before stands
            held_since = (held_since or now) if pending > 0 else None
            if isinstance(last, int) and pending > last > 0:
                rising_since = rising_since or _moment(state.get("seen_at")) or now
            else:
                rising_since = None
        reason = diagnose(
            now,
            after=self._after,
            pending=pending,
            newest=newest,
            oldest_waiting=oldest,
            held_since=held_since,
            rising_since=rising_since,
        )
        alert = state.get("alert")
        if reason is not None and not alert:
            alert = await self._page(
                uow,
                now,
                {
                    "reason": reason,
                    "pending": pending,
                    "waiting": waiting,
                    "newest": newest.isoformat() if newest else None,
                    "minutes": round(self._after.total_seconds() / 60, 1),
                    "error": (pulse.telegram_error if pulse else None),
                },
            )
        elif reason is None and alert and pulse is not None:
            await self._recovered(uow, now, alert)
            alert = None
        await self._next(
            uow,
            now,
            {
                "pending": pending if pending is not None else last,
                "seen_at": now.isoformat(),
                "held_since": held_since.isoformat() if held_since else None,
                "rising_since": rising_since.isoformat() if rising_since else None,
                "alert": alert,
            },
        )

    async def _page(self, uow: UnitOfWork, now: datetime, facts: dict[str, Any]) -> dict[str, Any]:
        level, people = await first_on_call(uow, now)
        since = now.isoformat()
        told = await tell_staff(
            uow,
            people,
            OUTAGE_KIND,
            {**facts, "level": level, "since": since},
            ticket_id=None,
            now=now,
            dedupe=f"{OUTAGE_KIND}:{since}",
            priority=PRIORITY_INTERACTIVE,
        )
        to = [p.id for p in told]
        logger.error(
            "outage guard: %s (Telegram holds %s, %s not handled); paged %s",
            facts["reason"],
            facts["pending"],
            facts["waiting"],
            to or "nobody",
        )
        return {"reason": facts["reason"], "since": since, "to": to}

    async def _recovered(self, uow: UnitOfWork, now: datetime, alert: dict[str, Any]) -> None:
        since = _moment(alert.get("since")) or now
        people = await uow.people.many(int(i) for i in alert.get("to") or [])
        await tell_staff(
            uow,
            people.values(),
            RECOVERED_KIND,
            {
                "reason": alert.get("reason"),
                "since": since.isoformat(),
                "lasted_s": (now - since).total_seconds(),
            },
            ticket_id=None,
            now=now,
            dedupe=f"{RECOVERED_KIND}:{since.isoformat()}",
            priority=PRIORITY_INTERACTIVE,
        )
        logger.warning(
            "outage guard: updates flow again (%s since %s)", alert.get("reason"), since
        )


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
