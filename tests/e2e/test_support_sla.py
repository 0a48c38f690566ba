"""SLA clocks and the on-call chain of the support desk (#7), on phones against the emulator,
with the bot's clock moved forward: a warning at 80 % and a breach at 100 % posted in the
ticket's topic, the on-call agent paged, the next level when nobody acknowledges, the chain
stopped by an acknowledgement; the clocks stopped while the desk waits for the requester."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.calendar.domain import SHANGHAI
from bot.emulator import Phone
from storage.tables.audit import AuditEntry
from storage.tables.runtime import DueItem
from storage.tables.support import SupportTicket
from tests.e2e import test_support_desk
from tests.e2e.conftest import _WallClock, toast
from tests.e2e.test_support_desk import Desk, _open_ticket, _topic

desk = test_support_desk.desk  # the same desk group, agents and requester

pytestmark = pytest.mark.asyncio


def _clock(desk: Desk) -> _WallClock:
    clock = desk.bot.clock
    assert isinstance(clock, _WallClock)
    return clock


async def _tick(desk: Desk, skip: timedelta) -> None:
    """Move the bot's clock on, run what fell due, and wait for what it sent."""
    clock = _clock(desk)
    clock.advance(skip)
    for _ in range(200):
        await desk.bot.settle()
        await desk.bot.services.due.tick()
        # The bot's own periodic tick may hold an item: wait until nothing due is left undone
        # (what ran may have scheduled more, due now), then for what it sent.
        async with desk.bot.services.runtime.detached_uow() as uow:
            left = await uow.session.exec(
                select(func.count())
                .select_from(DueItem)
                .where(col(DueItem.done_at).is_(None), col(DueItem.due_at) <= clock())
            )
            if left.one() == 0:
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("due items were left undone")
    await desk.bot.settle()


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def _roster(desk: Desk, *levels: Phone) -> None:
    """The lead puts one person on call at each level, from an hour ago for a day."""
    now = _clock(desk)()
    start, end = _local(now - timedelta(hours=1)), _local(now + timedelta(days=1))
    names = {desk.first: "杨帆", desk.second: "李娜", desk.lead: "王主任"}
    for level, phone in enumerate(levels, start=1):
        before = desk.lead.last_message()
        await desk.lead.command(f"/oncall add {level} {names[phone]} {start} {end}")
        card = await desk.lead.wait_message(containing="On-call roster", after=before)
        assert "Shift added." in card.text and names[phone] in card.text


async def _ticket(desk: Desk, number: str) -> SupportTicket:
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None
        return ticket


async def _trail(desk: Desk, number: str) -> list[tuple[str, dict[str, object]]]:
    async with desk.bot.services.runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.object) == f"ticket:{number}")
            .order_by(col(AuditEntry.id))
        )
        return [(r.action, dict(r.details or {})) for r in rows.all()]


def _pages(phone: Phone, number: str) -> list[str]:
    return [m.text for m in phone.messages() if "🚨" in m.text and number in m.text]


async def test_a_breach_pages_the_chain_until_somebody_acknowledges(desk: Desk) -> None:
    group, first, second, lead = desk.group, desk.first, desk.second, desk.lead
    await _roster(desk, first, second, lead)
    number = await _open_ticket(desk.user, "U盾插上没有反应，无法登录公文系统")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await desk.bot.settle()
    # Urgent: 15 minutes to a first response (the default targets, bot/support/sla.py).
    pressed = await group.press(first, "紧急", card)
    assert await toast(first, pressed) == f"{number}: priority is now urgent."
    await desk.bot.settle()
    redrawn = next(m for m in group.messages() if m.message_id == card.message_id)
    assert "• 紧急" in redrawn.buttons[2] and "首次响应时限" in redrawn.text
    opened_at = (await _ticket(desk, number)).created_at

    await _tick(desk, timedelta(minutes=11))
    assert not [m for m in group.messages() if "⚠️" in m.text and number in m.text]
    await _tick(desk, timedelta(minutes=1, seconds=30))  # 12.5 min: past 80 % of 15
    warning = next(m for m in group.messages() if "⚠️" in m.text and "首次响应" in m.text)
    assert warning.message_thread_id == thread and "紧急" in warning.text
    assert not _pages(first, number)

    await _tick(desk, timedelta(minutes=3))  # 15.5 min: breached
    breach = next(m for m in group.messages() if "🔴" in m.text and "超时" in m.text)
    assert breach.message_thread_id == thread
    assert len(_pages(first, number)) == 1 and "level 1" in first.messages()[-1].text
    assert not _pages(second, number) and not _pages(lead, number)
    ticket = await _ticket(desk, number)
    assert ticket.breached_at is not None and ticket.breached_at - opened_at >= timedelta(
        minutes=15
    )

    # Nobody acknowledges within 5 minutes: level 2.
    await _tick(desk, timedelta(minutes=4))
    assert not _pages(second, number)
    await _tick(desk, timedelta(minutes=1, seconds=30))
    assert len(_pages(second, number)) == 1 and len(_pages(first, number)) == 1
    page = next(m for m in reversed(second.messages()) if "🚨" in m.text)
    acked = await second.press("✋ Ack", message=page)
    assert await toast(second, acked) == (
        f"Acknowledged: {number} is yours to follow up. Escalation stopped."
    )
    await desk.bot.settle()
    assert [m for m in group.messages() if "李娜 已确认" in m.text]
    again = await first.press(
        "✋ Ack", message=next(m for m in first.messages() if "🚨" in m.text)
    )
    assert await toast(first, again) == f"This page for {number} has already ended."

    # Level 3 is never paged, however long it stays unanswered.
    await _tick(desk, timedelta(minutes=30))
    assert not _pages(lead, number)
    trail = [
        (action, details.get("level"))
        for action, details in await _trail(desk, number)
        if action.startswith(("ticket.sla", "ticket.esc", "ticket.ack"))
    ]
    assert trail == [
        ("ticket.sla_warn", None),
        ("ticket.sla_breach", None),
        ("ticket.escalate", 1),
        ("ticket.escalate", 2),
        ("ticket.ack", 2),
    ]


async def test_claiming_stops_the_chain(desk: Desk) -> None:
    group, first, second = desk.group, desk.first, desk.second
    await _roster(desk, first, second)
    number = await _open_ticket(desk.user, "U盾插上没有反应，无法登录公文系统")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await desk.bot.settle()
    await group.press(first, "紧急", card)
    await desk.bot.settle()
    await _tick(desk, timedelta(minutes=16))
    assert len(_pages(first, number)) == 1
    await group.press(first, "🙋 认领", card)
    await desk.bot.settle()
    await _tick(desk, timedelta(minutes=10))
    assert not _pages(second, number)
    assert ("ticket.escalation_end", {"reason": "claim", "level": 1}) in await _trail(desk, number)


async def test_waiting_for_the_requester_stops_the_clocks(desk: Desk) -> None:
    group, first, user = desk.group, desk.first, desk.user
    number = await _open_ticket(user, "U盾插上没有反应，无法登录公文系统")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await desk.bot.settle()
    await group.press(first, "紧急", card)
    await desk.bot.settle()
    waited = await group.press(first, "⏳ 等待答复", card)
    assert "paused" in await toast(first, waited)
    await desk.bot.settle()
    paused = next(m for m in group.messages() if m.message_id == card.message_id)
    assert "SLA 计时暂停" in paused.text and paused.buttons[1] == ["▶️ 恢复处理"]

    await _tick(desk, timedelta(hours=2))  # far past every urgent target: nothing fires
    assert not [m for m in group.messages() if ("⚠️" in m.text or "🔴" in m.text)]
    assert not _pages(first, number)

    # The requester answers: the clocks run again, two hours later than they would have.
    before = user.last_message()
    await user.command("/support")
    home = await user.wait_message(containing="Your open tickets", after=before)
    await user.press(f"✍️ {number}", message=home)
    await user.wait_message(containing="Write to the desk", after=home)
    await user.send("我换了一个USB口，还是不行")
    await desk.bot.settle()
    ticket = await _ticket(desk, number)
    assert ticket.status == "claimed" and ticket.paused_seconds >= 2 * 3600
    await _tick(desk, timedelta(minutes=10))
    assert not [m for m in group.messages() if "⚠️" in m.text]
    await _tick(desk, timedelta(minutes=3))  # 13 counted minutes: the warning
    assert [m for m in group.messages() if "⚠️" in m.text and "首次响应" in m.text]


async def test_the_roster_is_imported_whole_or_not_at_all(desk: Desk) -> None:
    lead, agent = desk.lead, desk.first
    day = (_clock(desk)() + timedelta(days=1)).astimezone(SHANGHAI).date().isoformat()
    bad = (
        "级别,人员,开始,结束\n"
        f"1,杨帆,{day} 09:00,{day} 21:00\n"
        f"2,不存在的人,{day} 09:00,{day} 21:00\n"
        f"5,李娜,{day} 09:00,{day} 21:00\n"
    )
    before = lead.last_message()
    await lead.upload("值班表.csv", bad.encode(), mime_type="text/csv", caption="/oncall")
    report = await lead.wait_message(containing="On-call roster", after=before)
    assert "Nothing was imported" in report.text
    assert "row 3: Nobody active on the staff list is called" in report.text
    assert "row 4: The level is 1" in report.text
    async with desk.bot.services.runtime.detached_uow() as uow:
        assert not await uow.support.shifts(ending_after=datetime(2000, 1, 1, tzinfo=UTC))

    good = [*bad.splitlines()[:2], f"2,李娜,{day} 20:00,08:00", f"3,王主任,{day} 20:00,08:00"]
    before = lead.last_message()
    await lead.upload(
        "值班表.csv", "\n".join(good).encode(), mime_type="text/csv", caption="/oncall"
    )
    report = await lead.wait_message(containing="On-call roster", after=before)
    assert "Shifts imported: 3." in report.text
    assert "李娜" in report.text and "王主任" in report.text

    # An agent may look at the roster, not change it.
    before = agent.last_message()
    await agent.command("/oncall")
    shown = await agent.wait_message(containing="On-call roster", after=before)
    assert "李娜" in shown.text
    await agent.command("/oncall del 1")
    refused = await agent.wait_message(after=shown)
    assert "On-call roster" not in refused.text
    before = lead.last_message()
    await lead.command("/oncall del 1")
    after = await lead.wait_message(containing="Shift deleted.", after=before)
    assert "#1 " not in after.text
