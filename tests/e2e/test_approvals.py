"""Approvals (#4) played on phones against the emulator with the real bot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bot.emulator import Phone
from bot.emulator.state import SentMessage
from tests.e2e.conftest import Org, RunningBot

pytestmark = pytest.mark.asyncio


@dataclass
class FinanceOrg:
    """A submitter in 综合处 with its head, a finance officer and a leader."""

    clerk: Phone
    head: Phone
    finance: Phone
    leader: Phone


async def finance_org(org: Org) -> FinanceOrg:
    head = await org.phone("dept_head;staff", name="张处长", department="综合处")
    clerk = await org.phone(
        "staff", name="李明", department="综合处", superior=org.numbers["张处长"]
    )
    finance = await org.phone("finance;staff", name="钱会计", department="财务处")
    leader = await org.phone("leader;staff", name="王局长", department="局领导")
    return FinanceOrg(clerk, head, finance, leader)


async def fill_reimbursement(phone: Phone, amount: str, purpose: str = "差旅费") -> SentMessage:
    """/apply → 费用报销 → answers → the summary (waits only for messages after /apply)."""
    start = phone.last_message()
    await phone.command("/apply")
    menu = await phone.wait_message(containing="要发起的申请", after=start)
    await phone.press("费用报销", message=menu)
    ask = await phone.wait_message(containing="金额", after=menu)
    await phone.send(amount)
    ask = await phone.wait_message(containing="事由", after=ask)
    await phone.send(purpose)
    ask = await phone.wait_message(containing="明细", after=ask)
    await phone.press("跳过", message=ask)
    ask = await phone.wait_message(containing="发票", after=ask)
    await phone.press("跳过", message=ask)
    return await phone.wait_message(containing="审批流程", after=ask)


async def submit(phone: Phone, summary: SentMessage) -> SentMessage:
    await phone.press("✅ 提交", message=summary)
    return await phone.wait_message(containing="审批中", after=summary)


async def task_card(phone: Phone, after: SentMessage | None = None) -> SentMessage:
    """The phone's open task card (one with buttons) for a reimbursement."""
    return await phone.wait_message(
        containing="费用报销", after=after, where=lambda m: bool(m.buttons)
    )


async def return_to_submitter(phone: Phone, card: SentMessage, reason: str) -> None:
    """↩️ 退回 on a card, to the submitter, with a reason (after an earlier step: pick first)."""
    await phone.press("↩️ 退回", message=card)
    where = await phone.wait_message(containing="退回至", after=card)
    await phone.press("退回申请人", message=where)
    await phone.wait_message(containing="退回理由", after=where)
    await phone.send(reason)


async def approve(phone: Phone, containing: str) -> SentMessage:
    card = await phone.wait_message(containing=containing, where=lambda m: bool(m.buttons))
    await phone.press("✅ 同意", message=card)
    return await phone.wait_edit(card)


@pytest.mark.parametrize(
    ("amount", "route"),
    [
        ("4999.99", ["张处长"]),
        ("5000", ["张处长"]),
        ("5000.01", ["张处长", "钱会计"]),
        ("50000", ["张处长", "钱会计"]),
        ("50000.01", ["张处长", "钱会计", "王局长"]),
    ],
)
async def test_reimbursement_routes_by_amount_thresholds(
    bot: RunningBot, org: Org, amount: str, route: list[str]
) -> None:
    people = await finance_org(org)
    summary = await fill_reimbursement(people.clerk, amount)
    # The preview names exactly the approvers that will be asked, in order.
    for name in ("张处长", "钱会计", "王局长"):
        assert (name in summary.text) == (name in route), (name, summary.text)
    status = await submit(people.clerk, summary)
    phones = {"张处长": people.head, "钱会计": people.finance, "王局长": people.leader}
    for name in route:
        edited = await approve(phones[name], "费用报销")
        assert edited.buttons == [] and "您已处理" in edited.text
    done = await people.clerk.wait_message(containing="已结束")
    assert "已通过" in done.text
    status = await people.clerk.wait_edit(status)
    for name in ("钱会计", "王局长"):
        if name not in route:
            cards = [m for m in phones[name].messages() if "审批依据" in m.text]
            assert not cards, f"{name} was asked but is not on the route"
    await bot.settle()
    final = next(m for m in people.clerk.messages() if m.message_id == status.message_id)
    assert "状态：已通过" in final.text and final.buttons == []
    assert (await bot.services.audit.verify()).ok


async def test_reject_needs_a_reason_and_ends_the_request(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    await people.head.press("❌ 拒绝", message=card)
    await people.head.wait_message(containing="拒绝理由")
    await people.head.send("发票不全")
    edited = await people.head.wait_edit(card)
    assert edited.buttons == []
    done = await people.clerk.wait_message(containing="已结束")
    assert "已拒绝" in done.text
    await bot.settle()
    status = [m for m in people.clerk.messages() if "状态" in m.text][-1]
    assert "发票不全" in status.text


async def test_double_tap_and_stale_card_decide_once(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    data = card.callback_data[0][0]
    assert data is not None
    await asyncio.gather(
        people.head.press_data(data, message=card), people.head.press_data(data, message=card)
    )
    await bot.settle()
    finished = [m for m in people.clerk.messages() if "已结束" in m.text]
    assert len(finished) == 1
    # The old card's button again, after the request finished: no effect, a clear toast.
    await people.head.press_data(data, message=card)
    await bot.settle()
    assert len([m for m in people.clerk.messages() if "已结束" in m.text]) == 1
    toasts = [t.text for t in people.head.toasts()]
    assert "已同意。" in toasts and any("已处理" in (t or "") for t in toasts), toasts


async def test_forged_task_button_is_refused(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    data = card.callback_data[0][0]
    assert data is not None
    # The finance officer replays the head's button data: refused, nothing decided.
    await people.finance.command("/menu")
    menu = await people.finance.wait_message(containing="主菜单")
    await people.finance.press_data(data, message=menu)
    await bot.settle()
    assert any("无权" in (t.text or "") for t in people.finance.toasts())
    assert not [m for m in people.clerk.messages() if "已结束" in m.text]


async def test_todo_lists_what_waits_and_restart_keeps_buttons(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "6000"))
    card = await task_card(people.head)
    await bot.restart()  # everything lives in the database
    await people.head.command("/todo")
    todo = await people.head.wait_message(containing="待您处理")
    assert "1" in todo.text
    await people.head.press("✅ 同意", message=card)
    await people.head.wait_edit(card)
    await task_card(people.finance)


async def test_withdraw_before_any_decision(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    status = await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    await people.clerk.press("撤回", message=status)
    status = await people.clerk.wait_edit(status)
    assert "已撤回" in status.text
    card = await people.head.wait_edit(card)
    assert card.buttons == []


async def test_return_and_resubmit_continues_at_the_returning_node(
    bot: RunningBot, org: Org
) -> None:
    people = await finance_org(org)
    status = await submit(people.clerk, await fill_reimbursement(people.clerk, "6000"))
    await approve(people.head, "费用报销")
    card = await task_card(people.finance)
    await return_to_submitter(people.finance, card, "请补充发票")
    await people.finance.wait_edit(card)
    await bot.settle()
    status = next(m for m in people.clerk.messages() if m.message_id == status.message_id)
    assert "已退回" in status.text and "请补充发票" in status.text
    heads_before = len(people.head.messages())
    await people.clerk.press("从退回节点继续", message=status)
    new_card = await task_card(people.finance, after=card)
    assert new_card.message_id != card.message_id
    await bot.settle()
    assert len(people.head.messages()) == heads_before  # the head is not asked again


async def test_an_english_speaking_approver_gets_english_cards(bot: RunningBot, org: Org) -> None:
    head = await org.phone("dept_head;staff", name="Anna", department="综合处", language_code="en")
    clerk = await org.phone(
        "staff", name="李明", department="综合处", superior=org.numbers["Anna"]
    )
    status = await submit(clerk, await fill_reimbursement(clerk, "300"))
    card = await head.wait_message(
        containing="Expense reimbursement", where=lambda m: bool(m.buttons)
    )
    assert "Submitted by 李明" in card.text and "Why you:" in card.text
    assert card.buttons[0] == ["✅ Approve", "❌ Reject"]
    await head.press("💬 Comment", message=card)
    await head.wait_message(containing="Type your comment")
    await head.send("Looks fine")
    card = await head.wait_edit(card)
    assert "💬 Anna: Looks fine" in card.text and "Amount (CNY): CN¥300.00" in card.text
    await head.press("✅ Approve", message=card)
    edited = await head.wait_edit(card)
    assert "You have handled this." in edited.text and "Status: Approved" in edited.text
    await clerk.wait_message(containing="已结束")
    status = await clerk.wait_edit(status)
    await bot.settle()
    final = next(m for m in clerk.messages() if m.message_id == status.message_id)
    assert "Anna：Looks fine" in final.text  # the submitter reads it in Chinese
