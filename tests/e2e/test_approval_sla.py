"""SLA reminders and escalation on phones, with the real bot and its due-item tick (#4).

The bot's clock is real time plus what the test skips ahead; the tick runs every 0.2 s here
(``GOVBOT_DUE_TICK_S``), so a deadline passes as soon as the clock is moved past it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.approvals.sla import SLA_KIND
from bot.clock import FakeClock
from bot.emulator import Phone
from storage.tables.approvals import ApprovalTask
from storage.tables.runtime import DueItem
from tests.e2e.conftest import Org, RunningBot
from tests.e2e.test_approvals import approve, fill_reimbursement, submit, task_card

pytestmark = pytest.mark.asyncio

TICK_S = 0.2


async def _fast_ticks(bot: RunningBot) -> None:
    bot.settings = bot.settings.with_overrides(due_tick_s=TICK_S)
    await bot.restart()


async def _open_task(bot: RunningBot, phone: Phone) -> ApprovalTask:
    async with bot.services.runtime.detached_uow() as uow:
        staff = await uow.people.by_telegram_id(phone.id)
        assert staff is not None and staff.id is not None
        (task,) = await uow.approvals.open_tasks_for(staff.id, limit=5)
        return task


async def _next_due(bot: RunningBot, task: ApprovalTask) -> datetime:
    """When the task's next pending SLA item falls due."""
    async with bot.services.runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(DueItem)
            .where(
                col(DueItem.kind) == SLA_KIND,
                col(DueItem.ref_id) == task.id,
                col(DueItem.done_at).is_(None),
            )
            .order_by(col(DueItem.due_at))
        )
        items = list(rows)
    assert items, f"task {task.id} has no reminder pending"
    return items[0].due_at


def _skip_to(bot: RunningBot, moment: datetime) -> None:
    clock = bot.clock
    assert isinstance(clock, FakeClock)
    clock.advance(moment - clock() + timedelta(minutes=1))


async def test_overdue_reminder_then_escalation_and_the_superior_decides(
    bot: RunningBot, org: Org
) -> None:
    await _fast_ticks(bot)
    boss = await org.phone("leader;staff", name="王局长", department="局领导")
    head = await org.phone(
        "dept_head;staff", name="张处长", department="综合处", superior=org.numbers["王局长"]
    )
    clerk = await org.phone(
        "staff", name="李明", department="综合处", superior=org.numbers["张处长"]
    )
    status = await submit(clerk, await fill_reimbursement(clerk, "300"))
    card = await task_card(head)
    task = await _open_task(bot, head)
    assert task.due_at is not None

    # Past the deadline: the head is told it is due (the late "before" reminder is dropped).
    _skip_to(bot, task.due_at)
    due = await head.wait_message(containing="已到办理时限", after=card)
    assert due.buttons == [["打开"]]
    assert not [m for m in head.messages() if "将于" in m.text]

    # One repeat later (escalate_after = 1): 王局长 gets the task, the head is told.
    _skip_to(bot, await _next_due(bot, task))
    boss_card = await task_card(boss)
    assert "李明" in boss_card.text
    notice = await head.wait_message(containing="督办", after=due)
    assert "王局长" in notice.text and "以先办理者为准" in notice.text
    assert card.buttons, "the head can still act"

    # The superior approves first: the head's card says so and loses its buttons.
    decided = await approve(boss, "费用报销")
    assert decided.buttons == []
    edited = await head.wait_edit(card)
    assert edited.buttons == [] and "已由 王局长" in edited.text
    done = await clerk.wait_message(containing="已结束", after=status)
    assert "已通过" in done.text
    await bot.settle()
    assert (await bot.services.audit.verify()).ok


async def test_the_approver_can_still_act_after_escalation_and_reminders_stop(
    bot: RunningBot, org: Org
) -> None:
    await _fast_ticks(bot)
    boss = await org.phone("leader;staff", name="王局长", department="局领导")
    head = await org.phone(
        "dept_head;staff", name="张处长", department="综合处", superior=org.numbers["王局长"]
    )
    clerk = await org.phone(
        "staff", name="李明", department="综合处", superior=org.numbers["张处长"]
    )
    status = await submit(clerk, await fill_reimbursement(clerk, "300"))
    card = await task_card(head)
    task = await _open_task(bot, head)
    assert task.due_at is not None
    _skip_to(bot, task.due_at)
    due = await head.wait_message(containing="已到办理时限", after=card)
    _skip_to(bot, await _next_due(bot, task))
    boss_card = await task_card(boss)
    await head.wait_message(containing="督办", after=due)

    # The head approves on his old card: the superior's card closes, naming him.
    await head.press("✅ 同意", message=card)
    edited = await head.wait_edit(card)
    assert edited.buttons == [] and "您已处理" in edited.text
    closed = await boss.wait_edit(boss_card)
    assert closed.buttons == [] and "已由 张处长" in closed.text
    done = await clerk.wait_message(containing="已结束", after=status)
    assert "已通过" in done.text

    # Days later nobody is reminded of a finished request.
    await bot.settle()
    seen = {p.id: len(p.messages()) for p in (head, boss)}
    clock = bot.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=10))
    await _tick_a_few(bot)
    assert {p.id: len(p.messages()) for p in (head, boss)} == seen


async def _tick_a_few(bot: RunningBot) -> None:
    """Let several due ticks run, then everything they queued go out."""
    await asyncio.sleep(TICK_S * 5)
    await bot.settle()
