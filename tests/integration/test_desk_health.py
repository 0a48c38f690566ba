"""The desk's daily summary and the outage guard (#7, reference items 26 and 27), on SQLite
and PostgreSQL.

The summary's figures for a fixture of 20 tickets (two desk groups) and 100 knowledge-base
questions equal what is computed from the same rows independently here; the guard pages the
person on call once per outage, with a controllable clock, and says when it is over.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.faq.digest import Group
from bot.runtime import Runtime
from bot.scheduling import DueService
from bot.support.health import (
    HEARTBEAT_KIND,
    OUTAGE_KIND,
    RECOVERED_KIND,
    SUMMARY_KIND,
    DeskSummaryService,
    OutageGuard,
    Pulse,
    diagnose,
)
from storage.tables.faq import FaqQuestion
from storage.tables.messaging import OutboxMessage
from storage.tables.people import Staff
from storage.tables.runtime import DueItem, InboxUpdate
from storage.tables.support import SupportDesk, SupportTicket

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESK_A, DESK_B = -100_111, -100_222
AGENT_TG = 901


@dataclass
class Made:
    tickets: list[SupportTicket]
    questions: list[FaqQuestion]


async def _staff(runtime: Runtime, clock: FakeClock, tg: int, roles: Sequence[str]) -> int:
    async with runtime.detached_uow() as uow:
        dept = (await uow.people.departments_by_name()).get("信息中心")
        if dept is None:
            dept = await uow.people.add_department("信息中心", now=clock())
        row = await uow.people.add(
            Staff(
                employee_no=f"E{tg}",
                name=f"员工{tg}",
                department_id=dept.id,
                telegram_id=tg,
                language="zh_CN",
                created_at=clock(),
                updated_at=clock(),
            )
        )
        assert row.id is not None
        await uow.people.set_roles(row.id, list(roles))
        await uow.commit()
        return row.id


async def _fixture(runtime: Runtime, clock: FakeClock) -> Made:
    """20 tickets over two desk groups and 100 questions, spread over two days."""
    rng = random.Random(7)
    requester = await _staff(runtime, clock, 700, ["staff"])
    now = clock()
    tickets: list[SupportTicket] = []
    questions: list[FaqQuestion] = []
    async with runtime.detached_uow() as uow:
        for chat, category in ((DESK_A, "*"), (DESK_B, "network")):
            uow.session.add(SupportDesk(category=category, chat_id=chat, title="", set_at=now))
        for i in range(20):
            created = now - timedelta(minutes=rng.randint(10, 47 * 60))
            status = rng.choice(["new", "claimed", "waiting", "resolved", "closed"])
            answered = (
                created + timedelta(minutes=rng.randint(1, 300))
                if status != "new" or rng.random() < 0.2
                else None
            )
            rated = status in ("resolved", "closed") and rng.random() < 0.8
            ticket = SupportTicket(
                number=f"T2026-{i + 1:06d}",
                requester_id=requester,
                status=status,
                source="menu",
                category="network" if i % 3 == 0 else "other",
                subject=f"问题{i}",
                created_at=created,
                updated_at=created,
                desk_chat_id=DESK_B if i % 3 == 0 else DESK_A,
                first_response_at=min(answered, now) if answered else None,
                rating=rng.randint(1, 5) if rated else None,
                rated_at=now - timedelta(minutes=rng.randint(1, 40 * 60)) if rated else None,
                breached_at=created + timedelta(minutes=30) if rng.random() < 0.3 else None,
            )
            tickets.append(await uow.support.add_ticket(ticket))
        for i in range(100):
            band = rng.choice(["answer", "answer", "answer", "suggest", "unknown", "follow"])
            question = FaqQuestion(
                asked_at=now - timedelta(minutes=rng.randint(1, 40 * 60)),
                asker=f"h{rng.randint(1, 30)}",
                locale="zh_CN",
                text=f"问题{i}",
                band=band,
                entry_key="oa-reset" if band != "unknown" else None,
                score=0.5,
                feedback=rng.choice([None, None, "up", "down"]),
                chosen="oa-reset" if band == "suggest" and rng.random() < 0.5 else None,
                ticket=f"T2026-{i:06d}" if rng.random() < 0.1 else None,
            )
            questions.append(await uow.faq.add_question(question))
        await uow.commit()
    return Made(tickets, questions)


def _expected(made: Made, chat: int, now: datetime) -> dict[str, Any]:
    """The figures, from the fixture's own rows (not through the repositories)."""
    since = now - timedelta(days=1)
    mine = [t for t in made.tickets if t.desk_chat_id == chat]
    responses = [
        (t.first_response_at - t.created_at).total_seconds()
        for t in mine
        if t.first_response_at is not None and since <= t.first_response_at < now
    ]
    ratings = [
        t.rating
        for t in mine
        if t.rating is not None and t.rated_at is not None and since <= t.rated_at < now
    ]
    asked = [q for q in made.questions if since <= q.asked_at < now and q.band != "follow"]
    served = [
        q
        for q in asked
        if (q.band == "answer" or (q.band == "suggest" and q.chosen is not None))
        and q.feedback != "down"
        and q.ticket is None
    ]
    return {
        "new": sum(1 for t in mine if since <= t.created_at < now),
        "open": sum(1 for t in mine if t.status in ("new", "claimed", "waiting")),
        "breached": sum(
            1 for t in mine if t.status in ("new", "claimed", "waiting") and t.breached_at
        ),
        "responded": len(responses),
        "median_first_response_s": statistics.median(responses) if responses else None,
        "rated": len(ratings),
        "satisfied": sum(1 for r in ratings if r >= 4),
        "rating_mean": round(statistics.mean(ratings), 2) if ratings else None,
        "faq_asked": len(asked),
        "faq_served": len(served),
    }


def _summary(runtime: Runtime, top: Any = None, fallback: int | None = None) -> DeskSummaryService:
    async def nothing(**_: Any) -> list[Group]:
        return []

    return DeskSummaryService(
        runtime,
        top_unanswered=top or nothing,
        fallback=fallback,
        tz=SHANGHAI,
        at=time(8, 30),
        default_locale="zh_CN",
    )


async def test_the_summary_figures_equal_the_rows(runtime: Runtime, clock: FakeClock) -> None:
    made = await _fixture(runtime, clock)
    now = clock()
    posts = dict(await _summary(runtime).figures(now))
    assert set(posts) == {DESK_A, DESK_B}
    for chat in (DESK_A, DESK_B):
        facts = posts[chat]
        got = {k: facts[k] for k in _expected(made, chat, now)}
        assert got == _expected(made, chat, now), chat
    # The fixture is not degenerate: every figure has something to count.
    a = posts[DESK_A]
    assert a["new"] and a["open"] and a["responded"] and a["rated"] and a["faq_asked"]
    assert 0 < a["faq_served"] < a["faq_asked"]
    # And one count straight from SQL, to be sure the fixture landed as described.
    async with runtime.detached_uow() as uow:
        open_a = (
            await uow.session.exec(
                text(  # type: ignore[call-overload]
                    "SELECT count(*) FROM support_ticket WHERE desk_chat_id = "
                    f"{DESK_A} AND status IN ('new', 'claimed', 'waiting')"
                )
            )
        ).scalar_one()
    assert open_a == a["open"]


async def test_the_summary_is_posted_daily_in_every_desk_group_with_the_top_questions(
    runtime: Runtime, clock: FakeClock
) -> None:
    await _fixture(runtime, clock)
    asked: list[dict[str, Any]] = []

    async def top(**kwargs: Any) -> list[Group]:
        asked.append(kwargs)
        return [
            Group((1, 2, 3), "VPN连不上怎么办", ("vpn断线",), 3, None, clock()),
            Group((4,), "打印机共享", (), 1, None, clock()),
        ]

    summary = _summary(runtime, top)
    due = DueService(runtime)
    summary.register_due(due)
    clock.now = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    await summary.ensure_schedule()
    await summary.ensure_schedule()  # idempotent
    assert await due.tick() == 0
    clock.advance(timedelta(minutes=31))  # 08:31: today's run is due
    assert await due.tick() == 1
    async with runtime.detached_uow() as uow:
        rows = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind) == SUMMARY_KIND)
            )
        )
        nxt = list(
            await uow.session.exec(
                select(DueItem).where(
                    col(DueItem.kind) == SUMMARY_KIND, col(DueItem.done_at).is_(None)
                )
            )
        )
    assert sorted(r.chat_id for r in rows) == sorted([DESK_A, DESK_B])
    assert rows[0].facts["unanswered"][0] == {"text": "VPN连不上怎么办", "askers": 3, "asked": 3}
    assert asked[0]["since"] == clock() - timedelta(days=1) and asked[0]["n"] == 3
    # Tomorrow, 08:30 local, once.
    assert [n.due_at for n in nxt] == [datetime(2026, 12, 6, 0, 30, tzinfo=UTC)]
    assert await due.tick() == 0


async def test_summary_on_demand_needs_a_desk_worker(runtime: Runtime, clock: FakeClock) -> None:
    from bot.errors import PermissionDeniedError

    await _fixture(runtime, clock)
    await _staff(runtime, clock, AGENT_TG, ["support"])
    summary = _summary(runtime)
    with pytest.raises(PermissionDeniedError):
        await summary.post_now(tg_id=700, chat_id=DESK_A, thread_id=None)  # the requester
    assert not await summary.post_now(tg_id=AGENT_TG, chat_id=-5, thread_id=None)  # not a desk
    assert await summary.post_now(tg_id=AGENT_TG, chat_id=DESK_A, thread_id=None)
    async with runtime.detached_uow() as uow:
        rows = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind) == SUMMARY_KIND)
            )
        )
    assert [r.chat_id for r in rows] == [DESK_A]


# --- the outage guard ------------------------------------------------------------------------
AFTER = timedelta(minutes=5)
T0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pending", "newest", "oldest", "held", "rising", "reason"),
    [
        (0, T0 - timedelta(hours=9), None, None, None, None),  # a quiet night
        (1, T0 - timedelta(hours=9), None, T0, None, None),  # the first message of the day
        (1, T0 - timedelta(hours=9), None, T0 - AFTER, None, "stalled"),  # held 5 minutes
        (4, T0 - timedelta(minutes=1), None, T0 - AFTER, None, None),  # slow, but moving
        (0, T0, T0 - AFTER, None, None, "backlog"),  # taken in, never handled
        (0, T0, T0 - timedelta(minutes=4), None, None, None),
        (30, T0, None, T0 - AFTER, T0 - AFTER, "behind"),  # coming in, but falling behind
        (None, T0 - timedelta(hours=1), None, None, None, None),  # Telegram not asked
    ],
)
def test_diagnose(
    pending: int | None,
    newest: datetime | None,
    oldest: datetime | None,
    held: datetime | None,
    rising: datetime | None,
    reason: str | None,
) -> None:
    assert (
        diagnose(
            T0,
            after=AFTER,
            pending=pending,
            newest=newest,
            oldest_waiting=oldest,
            held_since=held,
            rising_since=rising,
        )
        == reason
    )


class _Telegram:
    def __init__(self) -> None:
        self.pending = 0
        self.down = False

    async def pulse(self) -> Pulse:
        if self.down:
            raise ConnectionError("network unreachable")
        return Pulse(self.pending, None)


async def _pages(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.kind).in_([OUTAGE_KIND, RECOVERED_KIND]))
            .order_by(col(OutboxMessage.id))
        )
        return list(rows)


async def test_the_guard_pages_on_call_once_when_updates_stop_and_says_when_they_flow(
    runtime: Runtime, clock: FakeClock
) -> None:
    agent = await _staff(runtime, clock, AGENT_TG, ["support"])
    await _staff(runtime, clock, 902, ["staff"])
    telegram = _Telegram()
    due = DueService(runtime)
    guard = OutageGuard(runtime, after=AFTER, every=timedelta(minutes=1))
    guard.register_due(due)
    guard.attach(telegram.pulse)
    await guard.ensure_schedule()
    await guard.ensure_schedule()  # one chain, not two

    async def beat(minutes: int = 1) -> None:
        for _ in range(minutes):
            clock.advance(timedelta(minutes=1))
            assert await due.tick() == 1

    async def take_in(update_id: int, *, handled: bool = True) -> None:
        async with runtime.detached_uow() as uow:
            uow.session.add(
                InboxUpdate(
                    update_id=update_id,
                    received_at=clock(),
                    payload="{}",
                    status="done" if handled else "pending",
                )
            )
            await uow.commit()

    await take_in(1)
    await beat(3)
    telegram.pending = 3  # Telegram holds updates; none comes in
    await beat(5)
    assert await _pages(runtime) == []  # 4 minutes since it was first seen
    await beat(1)
    pages = await _pages(runtime)
    assert [(p.kind, p.chat_id, p.staff_id) for p in pages] == [(OUTAGE_KIND, AGENT_TG, agent)]
    assert pages[0].facts["reason"] == "stalled" and pages[0].facts["pending"] == 3
    telegram.down = True  # cannot even ask: no page, no "over"
    await beat(10)
    assert len(await _pages(runtime)) == 1
    telegram.down = False
    await beat(2)
    assert len(await _pages(runtime)) == 1  # still stalled: paged once
    telegram.pending = 0
    await take_in(2)
    await beat(1)
    pages = await _pages(runtime)
    assert [p.kind for p in pages] == [OUTAGE_KIND, RECOVERED_KIND]
    assert pages[1].chat_id == AGENT_TG and pages[1].facts["reason"] == "stalled"
    # A handler that never finishes is an outage of its own.
    await take_in(3, handled=False)
    await beat(5)
    pages = await _pages(runtime)
    assert [p.kind for p in pages] == [OUTAGE_KIND, RECOVERED_KIND, OUTAGE_KIND]
    assert pages[2].facts["reason"] == "backlog" and pages[2].facts["waiting"] == 1
    async with runtime.detached_uow() as uow:
        chains = list(
            await uow.session.exec(
                select(DueItem).where(
                    col(DueItem.kind) == HEARTBEAT_KIND, col(DueItem.done_at).is_(None)
                )
            )
        )
    assert len(chains) == 1


async def test_a_restarted_guard_remembers_the_outage(runtime: Runtime, clock: FakeClock) -> None:
    """The state rides on the heartbeat item: a new process (a new guard over the same
    database) neither pages again for the same outage nor forgets to say it is over."""
    await _staff(runtime, clock, AGENT_TG, ["support"])
    telegram = _Telegram()
    telegram.pending = 2

    def start() -> DueService:
        due = DueService(runtime)
        guard = OutageGuard(runtime, after=AFTER, every=timedelta(minutes=1))
        guard.register_due(due)
        guard.attach(telegram.pulse)
        return due

    due = start()
    await OutageGuard(runtime, after=AFTER, every=timedelta(minutes=1)).ensure_schedule()
    for _ in range(7):
        clock.advance(timedelta(minutes=1))
        await due.tick()
    assert [p.kind for p in await _pages(runtime)] == [OUTAGE_KIND]
    due = start()  # the restart
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        await due.tick()
    assert [p.kind for p in await _pages(runtime)] == [OUTAGE_KIND]
    telegram.pending = 0
    async with runtime.detached_uow() as uow:
        uow.session.add(InboxUpdate(update_id=9, received_at=clock(), payload="{}", status="done"))
        await uow.commit()
    clock.advance(timedelta(minutes=1))
    await due.tick()
    assert [p.kind for p in await _pages(runtime)] == [OUTAGE_KIND, RECOVERED_KIND]


async def test_a_heartbeat_chain_that_gave_up_is_started_again(
    runtime: Runtime, clock: FakeClock
) -> None:
    """The due tick calls ensure_schedule now and then (handlers/app.py): a chain whose item
    failed past its retries (the database down for long) comes back, once."""
    guard = OutageGuard(runtime, after=AFTER, every=timedelta(minutes=1))
    await guard.ensure_schedule()

    async def alive() -> list[DueItem]:
        async with runtime.detached_uow() as uow:
            rows = await uow.session.exec(
                select(DueItem).where(
                    col(DueItem.kind) == HEARTBEAT_KIND, col(DueItem.done_at).is_(None)
                )
            )
            return list(rows)

    (item,) = await alive()
    async with runtime.detached_uow() as uow:
        assert item.id is not None
        await uow.due.complete(item.id, now=clock(), error="gave up")
        await uow.commit()
    assert await alive() == []
    clock.advance(timedelta(minutes=3))
    await guard.ensure_schedule()
    await guard.ensure_schedule()
    (again,) = await alive()
    assert again.due_at > clock()
