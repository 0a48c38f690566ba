"""Approvals (#4): 发文, transfer, add-signer, delegation, CC, comments, edits and revoke."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.approvals.numbering_service import OFFICE_TZ
from bot.emulator import Phone
from bot.emulator.state import SentMessage
from tests.e2e.conftest import Org, RunningBot
from tests.e2e.test_approvals import (
    approve,
    fill_reimbursement,
    finance_org,
    return_to_submitter,
    submit,
    task_card,
)

pytestmark = pytest.mark.asyncio

PDF = b"%PDF-1.4\n% a draft\n"


async def open_card(
    phone: Phone, containing: str, after: SentMessage | None = None
) -> SentMessage:
    return await phone.wait_message(
        containing=containing, after=after, where=lambda m: bool(m.buttons)
    )


async def fill_outgoing(
    phone: Phone,
    *,
    kind: str = "通知",
    co_departments: str | None = None,
    classification: str = "非密",
) -> SentMessage | None:
    """/apply → 发文 → answers; the summary (None when the form stopped at 密级)."""
    start = phone.last_message()
    await phone.command("/apply")
    menu = await phone.wait_message(containing="要发起的申请", after=start)
    await phone.press("发文审批", message=menu)
    ask = await phone.wait_message(containing="密级", after=menu)
    await phone.press(classification, message=ask)
    if classification in ("秘密", "机密", "绝密"):
        return None
    ask = await phone.wait_message(containing="文种", after=ask)
    await phone.press(kind, message=ask)
    ask = await phone.wait_message(containing="标题", after=ask)
    await phone.send("关于做好2027年元旦春节期间值班工作的通知")
    ask = await phone.wait_message(containing="主送", after=ask)
    await phone.send("各区人民政府，市政府各部门")
    ask = await phone.wait_message(containing="抄送", after=ask)
    await phone.press("跳过", message=ask)
    ask = await phone.wait_message(containing="紧急程度", after=ask)
    await phone.press("加急", message=ask)
    ask = await phone.wait_message(containing="会签部门", after=ask)
    if co_departments is None:
        await phone.press("跳过", message=ask)
    else:
        await phone.send(co_departments)
    ask = await phone.wait_message(containing="文稿", after=ask)
    await phone.upload("值班通知.pdf", PDF, mime_type="application/pdf")
    ask = await phone.wait_message(containing="已收到 1 个", after=ask)
    await phone.press("完成", message=ask)
    ask = await phone.wait_message(containing="拟稿说明", after=ask)
    await phone.press("跳过", message=ask)
    return await phone.wait_message(containing="审批流程", after=ask)


async def doc_org(org: Org) -> dict[str, Phone]:
    return {
        "drafter": await org.phone("staff", name="刘拟稿", department="综合处"),
        "clerk": await org.phone("office;staff", name="陈文书", department="办公室"),
        "finance_head": await org.phone("dept_head;staff", name="钱处长", department="财务处"),
        "hr_head": await org.phone("dept_head;staff", name="孙处长", department="人事处"),
        "leader": await org.phone("leader;staff", name="周副市长", department="市政府"),
        "principal": await org.phone("leader;principal;staff", name="吴市长", department="市政府"),
    }


async def test_outgoing_document_countersign_rejected_by_one_department(
    bot: RunningBot, org: Org
) -> None:
    p = await doc_org(org)
    summary = await fill_outgoing(p["drafter"], co_departments="财务处、人事处")
    assert summary is not None and "钱处长" in summary.text and "孙处长" in summary.text
    await submit(p["drafter"], summary)
    await approve(p["clerk"], "发文审批")  # 核稿
    finance = await open_card(p["finance_head"], "发文审批")
    hr = await open_card(p["hr_head"], "发文审批")
    assert "会签" in finance.text
    await p["finance_head"].press("✅ 同意", message=finance)
    await p["finance_head"].wait_edit(finance)
    await p["hr_head"].press("❌ 拒绝", message=hr)
    await p["hr_head"].wait_message(containing="拒绝理由")
    await p["hr_head"].send("涉及编制事项，需先报编办")
    await p["hr_head"].wait_edit(hr)
    done = await p["drafter"].wait_message(containing="已结束")
    assert "已拒绝" in done.text
    await bot.settle()
    # Nobody signs a document a co-issuing department refused (会签: all must agree).
    assert not [m for m in p["leader"].messages() if "审批依据" in m.text]


async def test_outgoing_document_signed_numbered_and_filed(bot: RunningBot, org: Org) -> None:
    p = await doc_org(org)
    summary = await fill_outgoing(p["drafter"])
    assert summary is not None
    status = await submit(p["drafter"], summary)
    assert "加急" in status.text
    await approve(p["clerk"], "发文审批")  # 核稿; no co-departments: 会签 passes by itself
    card = await open_card(p["leader"], "发文审批")
    await p["leader"].press("✍️ 签发", message=card)
    await p["leader"].wait_message(containing="签发意见")
    await p["leader"].send("同意印发")
    confirm = await p["leader"].wait_message(containing="确认签发")
    assert "同意印发" in confirm.text and "周副市长" in confirm.text
    await p["leader"].press("✍️ 确认签发", message=confirm)
    await p["leader"].wait_edit(card)
    confirm = await p["leader"].wait_edit(confirm)
    assert confirm.buttons == [] and "已签发" in confirm.text
    number_card = await p["clerk"].wait_message(
        where=lambda m: any("🔢 编号" in b for row in m.buttons for b in row)
    )
    await p["clerk"].press("🔢 编号", message=number_card)
    year = bot.clock().astimezone(OFFICE_TZ).year
    expected = f"市府办发〔{year}〕1号"
    await bot.settle()
    assert any(expected in (t.text or "") for t in p["clerk"].toasts())
    archive = await p["clerk"].wait_message(
        where=lambda m: any("🗄 归档" in b for row in m.buttons for b in row)
    )
    await p["clerk"].press("🗄 归档", message=archive)
    done = await p["drafter"].wait_message(containing="已结束")
    assert "已通过" in done.text
    await bot.settle()
    final = next(m for m in p["drafter"].messages() if m.message_id == status.message_id)
    assert expected in final.text and "同意印发" in final.text
    async with bot.services.runtime.detached_uow() as uow:
        rows = await uow.session.exec(text("SELECT doc_no FROM approval_instance"))  # type: ignore[call-overload]
        assert [r[0] for r in rows] == [expected]
        actions = [e.action async for e in uow.audit.iterate()]
    assert "approval.sign" in actions
    assert (await bot.services.audit.verify()).ok


async def test_upward_document_reaches_only_the_principal(bot: RunningBot, org: Org) -> None:
    p = await doc_org(org)
    summary = await fill_outgoing(p["drafter"], kind="请示")
    assert summary is not None
    # The route preview names only the principal leader for 签发 of a 上行文 (条例 第二十二条).
    assert "吴市长" in summary.text and "周副市长" not in summary.text
    await submit(p["drafter"], summary)
    await approve(p["clerk"], "发文审批")
    await open_card(p["principal"], "发文审批")
    await bot.settle()
    assert not [m for m in p["leader"].messages() if "审批依据" in m.text]


async def test_classified_document_is_refused_and_nothing_kept(bot: RunningBot, org: Org) -> None:
    p = await doc_org(org)
    assert await fill_outgoing(p["drafter"], classification="机密") is None
    refusal = await p["drafter"].wait_message(containing="不得通过本对话办理")
    assert refusal.buttons == []
    async with bot.services.runtime.detached_uow() as uow:
        drafts = (await uow.session.exec(text("SELECT count(*) FROM approval_draft"))).one()  # type: ignore[call-overload]
        requests = (await uow.session.exec(text("SELECT count(*) FROM approval_instance"))).one()  # type: ignore[call-overload]
    assert drafts[0] == 0 and requests[0] == 0


async def test_transfer_hands_the_task_over_and_the_record_shows_both(
    bot: RunningBot, org: Org
) -> None:
    people = await finance_org(org)
    deputy = await org.phone("dept_head;staff", name="赵副处长", department="综合处")
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    # Both heads of 综合处 got the 或签 card; the head transfers his to finance instead.
    card = await task_card(people.head)
    await people.head.press("🔀 转交", message=card)
    await people.head.wait_message(containing="转交对象")
    await people.head.send("钱会计")
    edited = await people.head.wait_edit(card)
    assert edited.buttons == []
    new = await task_card(people.finance)
    assert "费用报销" in new.text
    await people.finance.press("✅ 同意", message=new)
    await people.clerk.wait_message(containing="已结束")
    await bot.settle()
    deputy_cards = [m for m in deputy.messages() if "审批依据" in m.text]
    assert deputy_cards and deputy_cards[-1].buttons == []  # 或签: closed by the decision
    async with bot.services.runtime.detached_uow() as uow:
        entries = [e async for e in uow.audit.iterate() if e.action == "approval.transfer"]
    assert len(entries) == 1 and entries[0].details["to"]


async def test_add_signer_before_me_then_it_comes_back(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    await people.head.press("➕ 加签", message=card)
    where = await people.head.wait_message(containing="在您之前审批")
    await people.head.press("在我之前", message=where)
    await people.head.wait_message(containing="在您之前审批 BX")
    await people.head.send(org.numbers["钱会计"])
    suspended = await people.head.wait_edit(card)
    assert suspended.buttons == [] and "回到您这里" in suspended.text
    await approve(people.finance, "费用报销")
    back = await people.head.wait_edit(suspended)
    assert back.buttons  # the task came back to the head
    await people.head.press("✅ 同意", message=back)
    done = await people.clerk.wait_message(containing="已结束")
    assert "已通过" in done.text


async def test_delegation_sends_the_task_to_the_delegate_on_behalf(
    bot: RunningBot, org: Org
) -> None:
    people = await finance_org(org)
    deputy = await org.phone("leader;staff", name="郑副局长", department="局领导")
    today = bot.clock().astimezone(OFFICE_TZ).date()
    await people.leader.command(
        f"/delegate {org.numbers['郑副局长']} {today} {today + timedelta(days=3)}"
    )
    await people.leader.wait_message(containing="代您审批")
    await deputy.wait_message(containing="委托您")
    await submit(people.clerk, await fill_reimbursement(people.clerk, "60000"))
    await approve(people.head, "费用报销")
    await approve(people.finance, "费用报销")
    card = await task_card(deputy)
    assert "您正在代 王局长 审批" in card.text
    await people.leader.wait_message(containing="代理人 郑副局长")
    await deputy.press("✅ 同意", message=card)
    await people.clerk.wait_message(containing="已结束")
    await bot.settle()
    status = [m for m in people.clerk.messages() if "状态" in m.text][-1]
    assert "郑副局长（代 王局长）" in status.text
    async with bot.services.runtime.detached_uow() as uow:
        entry = [e async for e in uow.audit.iterate() if e.action == "approval.approve"][-1]
    assert entry.on_behalf_of_id is not None and entry.actor_id != entry.on_behalf_of_id


async def test_delegation_never_grants_rights_the_delegate_lacks(
    bot: RunningBot, org: Org
) -> None:
    people = await finance_org(org)
    clerk2 = await org.phone("staff", name="冯科员", department="财务处")
    today = bot.clock().astimezone(OFFICE_TZ).date()
    await people.finance.command(f"/delegate {org.numbers['冯科员']} {today} {today}")
    await people.finance.wait_message(containing="代您审批")
    await submit(people.clerk, await fill_reimbursement(people.clerk, "6000"))
    await approve(people.head, "费用报销")
    # The finance review needs a finance officer: the task stays with the officer.
    await task_card(people.finance)
    await bot.settle()
    assert not [m for m in clerk2.messages() if "审批依据" in m.text]


async def test_cc_at_finish_and_read_receipt(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    await approve(people.head, "费用报销")
    cc = await people.finance.wait_message(containing="抄送知会")
    assert "已通过" in cc.text
    await people.finance.press("👁 查看", message=cc)
    read = await people.finance.wait_edit(cc)
    assert "已读" in read.text and read.buttons == []
    async with bot.services.runtime.detached_uow() as uow:
        rows = (await uow.session.exec(text("SELECT read_at FROM approval_cc"))).all()  # type: ignore[call-overload]
    assert len(rows) == 1 and rows[0][0] is not None


async def test_reply_to_a_card_is_a_comment_on_the_timeline(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    status = await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    # The card's message id is recorded with the sender's "sent" mark, milliseconds after
    # the phone shows it; a person cannot reply sooner, this test could.
    await bot.settle()
    await people.clerk.send("请尽快审批，谢谢", reply_to=status.message_id)
    await people.clerk.wait_message(containing="评论已添加")
    card = await people.head.wait_edit(card)
    assert "李明：请尽快审批，谢谢" in card.text and card.buttons


async def test_edit_after_return_replans_and_tells_earlier_approvers(
    bot: RunningBot, org: Org
) -> None:
    people = await finance_org(org)
    status = await submit(people.clerk, await fill_reimbursement(people.clerk, "6000"))
    await approve(people.head, "费用报销")
    card = await task_card(people.finance)
    await return_to_submitter(people.finance, card, "超标准，请核减")
    await people.finance.wait_edit(card)
    await bot.settle()
    status = next(m for m in people.clerk.messages() if m.message_id == status.message_id)
    await people.clerk.press("✏️ 修改后重新提交", message=status)
    summary = await people.clerk.wait_message(containing="请核对", after=status)
    await people.clerk.press("✏️ 修改", message=summary)
    pick = await people.clerk.wait_message(containing="要修改哪一项", after=summary)
    await people.clerk.press("报销金额（元）", message=pick)
    await people.clerk.wait_message(containing="报销金额", after=pick)
    await people.clerk.send("3000")
    summary = await people.clerk.wait_message(containing="请核对", after=pick)
    assert "钱会计" not in summary.text  # ≤ 5000: the route no longer includes finance
    await people.clerk.press("从退回节点继续", message=summary)
    done = await people.clerk.wait_message(containing="已结束", after=summary)
    assert "已通过" in done.text
    notice = await people.head.wait_message(containing="已修改并重新提交")
    assert "报销金额" in notice.text


async def test_leave_revoked_after_approval_tells_the_approver(bot: RunningBot, org: Org) -> None:
    boss = await org.phone("dept_head;staff", name="张处长", department="综合处")
    clerk = await org.phone(
        "staff", name="李明", department="综合处", superior=org.numbers["张处长"]
    )
    await clerk.command("/apply")
    menu = await clerk.wait_message(containing="要发起的申请")
    await clerk.press("请假", message=menu)
    ask = await clerk.wait_message(containing="请假类别", after=menu)
    await clerk.press("年休假", message=ask)
    ask = await clerk.wait_message(containing="起止日期", after=ask)
    await clerk.send("2026-12-21 至 2026-12-22")
    ask = await clerk.wait_message(containing="天数", after=ask)
    await clerk.send("2")
    ask = await clerk.wait_message(containing="事由", after=ask)
    await clerk.send("探亲")
    summary = await clerk.wait_message(containing="审批流程", after=ask)
    status = await submit(clerk, summary)
    card = await open_card(boss, "请假")
    await boss.press("✅ 同意", message=card)
    status = await clerk.wait_edit(status)
    await bot.settle()
    status = next(m for m in clerk.messages() if m.message_id == status.message_id)
    assert "已通过" in status.text
    await clerk.press("撤销", message=status)
    status = await clerk.wait_edit(status)
    assert "通过后撤销" in status.text
    await boss.wait_message(containing="已撤销审批通过的申请")


async def register_incoming(clerk: Phone, *, urgency: str, department: str) -> SentMessage:
    """The office registers a 收文; the status card."""
    start = clerk.last_message()
    await clerk.command("/apply")
    menu = await clerk.wait_message(containing="要发起的申请", after=start)
    await clerk.press("收文办理", message=menu)
    ask = await clerk.wait_message(containing="密级", after=menu)
    await clerk.press("非密", message=ask)
    for label, answer in (
        ("来文单位", "省人民政府办公厅"),
        ("来文字号", "省政办发〔2026〕88号"),
        ("标题", "关于做好冬季安全生产工作的紧急通知"),
        ("收文日期", "2026-12-01"),
    ):
        ask = await clerk.wait_message(containing=label, after=ask)
        await clerk.send(answer)
    ask = await clerk.wait_message(containing="紧急程度", after=ask)
    await clerk.press(urgency, message=ask)
    ask = await clerk.wait_message(containing="来文", after=ask)
    await clerk.upload("来文.pdf", PDF, mime_type="application/pdf")
    ask = await clerk.wait_message(containing="已收到 1 个", after=ask)
    await clerk.press("完成", message=ask)
    ask = await clerk.wait_message(containing="承办部门", after=ask)
    await clerk.send(department)
    ask = await clerk.wait_message(containing="办理时限", after=ask)
    await clerk.press("跳过", message=ask)
    ask = await clerk.wait_message(containing="催办人", after=ask)
    await clerk.press("跳过", message=ask)
    summary = await clerk.wait_message(containing="审批流程", after=ask)
    return await submit(clerk, summary)


async def test_most_urgent_incoming_needs_deadline_and_owner_at_instructions(
    bot: RunningBot, org: Org
) -> None:
    registrar = await org.phone("office;staff", name="陈文书", department="办公室")
    director = await org.phone("office;staff", name="林主任", department="办公室")
    leader = await org.phone("leader;staff", name="周副市长", department="市政府")
    head = await org.phone("dept_head;staff", name="钱处长", department="财务处")
    status = await register_incoming(registrar, urgency="特急", department="财务处")
    assert "特急" in status.text
    await approve(director, "收文办理")  # 拟办
    card = await open_card(leader, "收文办理")
    await leader.press("✅ 同意", message=card)
    await leader.wait_message(containing="请填写：办理时限")
    await leader.send("2026-12-05")
    await leader.wait_message(containing="请填写：催办人")
    await leader.send("E9999")  # nobody: asked again
    await leader.wait_message(containing="没有该工号")
    await leader.send(org.numbers["林主任"])
    await leader.wait_edit(card)
    handle = await open_card(head, "收文办理")
    assert "办理时限" in handle.text or "2026" in handle.text
    await head.press("✅ 办结", message=handle)
    await head.wait_edit(handle)
    close = await registrar.wait_message(
        where=lambda m: any("✅ 办结" in b for row in m.buttons for b in row)
    )
    await registrar.press("✅ 办结", message=close)
    archive = await registrar.wait_message(
        where=lambda m: any("🗄 归档" in b for row in m.buttons for b in row)
    )
    await registrar.press("🗄 归档", message=archive)
    await registrar.wait_message(containing="已结束")
    async with bot.services.runtime.detached_uow() as uow:
        entries = [e async for e in uow.audit.iterate() if e.action == "approval.approve"]
    assert any(e.details.get("inputs") == ["deadline", "supervisor"] for e in entries)


async def test_todo_lists_most_urgent_first(bot: RunningBot, org: Org) -> None:
    registrar = await org.phone("office;staff", name="陈文书", department="办公室")
    director = await org.phone("office;staff", name="林主任", department="办公室")
    await org.phone("dept_head;staff", name="钱处长", department="财务处")
    await register_incoming(registrar, urgency="普通", department="财务处")
    await register_incoming(registrar, urgency="特急", department="财务处")
    await register_incoming(registrar, urgency="加急", department="财务处")
    await bot.settle()
    await director.command("/todo")
    todo = await director.wait_message(containing="待您处理")
    assert "3" in todo.text and "特急 1" in todo.text and "加急 1" in todo.text
    labels = [row[0] for row in todo.buttons]
    assert labels[0].startswith("【特急】") and labels[1].startswith("【加急】"), labels


async def test_any_one_race_two_approvers_one_decision(bot: RunningBot, org: Org) -> None:
    """Two approvers of a 或签 node press at the same moment: one decision, one notice."""
    people = await finance_org(org)
    deputy = await org.phone("dept_head;staff", name="赵副处长", department="综合处")
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    head_card, deputy_card = await task_card(people.head), await task_card(deputy)
    head_data, deputy_data = head_card.callback_data[0][0], deputy_card.callback_data[0][0]
    assert head_data and deputy_data
    await asyncio.gather(
        people.head.press_data(head_data, message=head_card),
        deputy.press_data(deputy_data, message=deputy_card),
    )
    await bot.settle()
    assert len([m for m in people.clerk.messages() if "已结束" in m.text]) == 1
    answers = [t.text or "" for t in people.head.toasts() + deputy.toasts()]
    assert answers.count("已同意。") == 1, answers
    assert any(a.startswith("已由") for a in answers), answers  # the other is told who
    for phone, card in ((people.head, head_card), (deputy, deputy_card)):
        final = next(m for m in phone.messages() if m.message_id == card.message_id)
        assert final.buttons == []
    async with bot.services.runtime.detached_uow() as uow:
        approvals = [e async for e in uow.audit.iterate() if e.action == "approval.approve"]
    assert len(approvals) == 1


async def test_urge_is_rate_limited(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    status = await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    await task_card(people.head)
    await people.clerk.press("🔔 催办", message=status)
    await people.head.wait_message(containing="催办申请")
    await people.clerk.press("🔔 催办", message=status)
    await bot.settle()
    assert len([m for m in people.head.messages() if "催办申请" in m.text]) == 1
    assert any("刚刚催办过" in (t.text or "") for t in people.clerk.toasts())


async def test_return_to_an_earlier_step_reruns_it(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "6000"))
    first = await approve(people.head, "费用报销")
    card = await task_card(people.finance)
    await people.finance.press("↩️ 退回", message=card)
    where = await people.finance.wait_message(containing="退回至")
    await people.finance.press("退回至：部门负责人审批", message=where)
    await people.finance.wait_message(containing="退回该环节的理由")
    await people.finance.send("请部门负责人再核实事由")
    await people.finance.wait_edit(card)
    again = await task_card(people.head, after=first)
    assert "请部门负责人再核实事由" in again.text or again.buttons
    await people.head.press("✅ 同意", message=again)
    await task_card(people.finance, after=card)  # and on to finance again


async def test_add_signer_alongside_joins_the_step(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    await people.head.press("➕ 加签", message=card)
    where = await people.head.wait_message(containing="与您同时审批")
    await people.head.press("与我同时", message=where)
    await people.head.wait_message(containing="与您同时审批 BX")
    await people.head.send("王局长")
    joined = await task_card(people.leader)
    assert "部门负责人审批" in joined.text
    # The step is 或签 (any one): the head's own approval settles it for both.
    await people.head.press("✅ 同意", message=card)
    done = await people.clerk.wait_message(containing="已结束")
    assert "已通过" in done.text


async def test_substantive_edit_after_sign_off_goes_back_to_the_signer(
    bot: RunningBot, org: Org
) -> None:
    p = await doc_org(org)
    summary = await fill_outgoing(p["drafter"])
    assert summary is not None
    status = await submit(p["drafter"], summary)
    await approve(p["clerk"], "发文审批")
    card = await open_card(p["leader"], "发文审批")
    await p["leader"].press("✍️ 签发", message=card)
    await p["leader"].wait_message(containing="签发意见")
    await p["leader"].send("同意印发")
    confirm = await p["leader"].wait_message(containing="确认签发")
    await p["leader"].press("✍️ 确认签发", message=confirm)
    # 编号 finds a problem and returns it to the drafter before any number is taken.
    number_card = await p["clerk"].wait_message(
        where=lambda m: any("🔢 编号" in b for row in m.buttons for b in row)
    )
    await return_to_submitter(p["clerk"], number_card, "标题需调整")
    await bot.settle()
    status = next(m for m in p["drafter"].messages() if m.message_id == status.message_id)
    await p["drafter"].press("✏️ 修改后重新提交", message=status)
    summary = await p["drafter"].wait_message(containing="请核对", after=status)
    await p["drafter"].press("✏️ 修改", message=summary)
    pick = await p["drafter"].wait_message(containing="要修改哪一项", after=summary)
    await p["drafter"].press("标题", message=pick)
    await p["drafter"].wait_message(containing="标题", after=pick)
    await p["drafter"].send("关于做好2027年元旦春节期间值守工作的通知")
    summary = await p["drafter"].wait_message(containing="请核对", after=pick)
    await p["drafter"].press("从退回节点继续", message=summary)
    # The title changed after 签发: only the original signer is asked to sign again.
    await p["leader"].wait_message(containing="原签发失效")
    again = await open_card(p["leader"], "发文审批", after=confirm)
    assert "原签批人复审" in again.text
    await bot.settle()
    assert not [m for m in p["principal"].messages() if "审批依据" in m.text and m.buttons]
    async with bot.services.runtime.detached_uow() as uow:
        taken = await uow.numbers.current("市府办发", bot.clock().astimezone(OFFICE_TZ).year)
    assert taken == 0  # returned before 编号: no number consumed


async def test_a_draft_survives_a_restart(bot: RunningBot, org: Org) -> None:
    people = await finance_org(org)
    clerk = people.clerk
    start = clerk.last_message()
    await clerk.command("/apply")
    menu = await clerk.wait_message(containing="要发起的申请", after=start)
    await clerk.press("费用报销", message=menu)
    ask = await clerk.wait_message(containing="报销金额", after=menu)
    await clerk.send("1200")
    ask = await clerk.wait_message(containing="报销事由", after=ask)
    await bot.restart()
    await clerk.send("会议费")
    ask = await clerk.wait_message(containing="费用明细", after=ask)
    await clerk.press("跳过", message=ask)
    ask = await clerk.wait_message(containing="发票", after=ask)
    await clerk.press("跳过", message=ask)
    summary = await clerk.wait_message(containing="请核对", after=ask)
    assert "¥1,200.00" in summary.text and "会议费" in summary.text


async def test_reuploaded_attachment_is_version_two_and_version_one_stays(
    bot: RunningBot, org: Org
) -> None:
    people = await finance_org(org)
    clerk = people.clerk
    start = clerk.last_message()
    await clerk.command("/apply")
    menu = await clerk.wait_message(containing="要发起的申请", after=start)
    await clerk.press("费用报销", message=menu)
    ask = await clerk.wait_message(containing="报销金额", after=menu)
    await clerk.send("6000")
    ask = await clerk.wait_message(containing="报销事由", after=ask)
    await clerk.send("差旅费")
    ask = await clerk.wait_message(containing="费用明细", after=ask)
    await clerk.press("跳过", message=ask)
    ask = await clerk.wait_message(containing="发票", after=ask)
    await clerk.upload("发票.pdf", PDF, mime_type="application/pdf")
    ask = await clerk.wait_message(containing="已收到 1 个", after=ask)
    await clerk.press("完成", message=ask)
    status = await submit(clerk, await clerk.wait_message(containing="审批流程", after=ask))
    await approve(people.head, "费用报销")
    card = await task_card(people.finance)
    await return_to_submitter(people.finance, card, "发票不清晰，请重新上传")
    await bot.settle()
    status = next(m for m in clerk.messages() if m.message_id == status.message_id)
    await clerk.press("✏️ 修改后重新提交", message=status)
    summary = await clerk.wait_message(containing="请核对", after=status)
    await clerk.press("✏️ 修改", message=summary)
    pick = await clerk.wait_message(containing="要修改哪一项", after=summary)
    await clerk.press("发票及附件", message=pick)
    ask = await clerk.wait_message(containing="已收到 1 个", after=pick)
    await clerk.upload("发票-清晰.pdf", PDF + b"v2", mime_type="application/pdf")
    ask = await clerk.wait_message(containing="已收到 2 个", after=ask)
    await clerk.press("完成", message=ask)
    summary = await clerk.wait_message(containing="请核对", after=ask)
    assert "发票.pdf" in summary.text and "发票-清晰.pdf (v2)" in summary.text
    await clerk.press("从退回节点继续", message=summary)
    again = await task_card(people.finance, after=card)
    await people.finance.press("📎 附件（2）", message=again)
    await people.finance.wait_message(containing="第 2 版")
    files = [m for m in people.finance.messages() if m.document is not None]
    assert sorted(m.text.rsplit("（", 1)[-1] for m in files) == ["第 1 版）", "第 2 版）"]
