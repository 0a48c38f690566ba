"""The support desk (#7) in a forum group, played on phones against the emulator: a topic and a
card per ticket, one owner when two agents claim at once, replies relayed to the requester
(notes not), the requester's messages relayed into the topic exactly once, resolve, and a
deleted topic created again with its card."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.emulator import BotApiEmulator, Group, Phone
from bot.emulator.state import SentMessage
from storage.tables.support import SupportRelay
from tests.e2e.conftest import Org, RunningBot, _WallClock, bot_settings, prepare_database, toast

pytestmark = pytest.mark.asyncio

KB = Path(__file__).resolve().parents[2] / "handlers" / "sandbox" / "faq_kb.yaml"


@dataclass
class Desk:
    bot: RunningBot
    group: Group
    first: Phone  # 杨帆
    second: Phone  # 李娜
    user: Phone  # 孙浩
    lead: Phone  # 王主任, an administrator


@pytest.fixture
async def desk(emulator: BotApiEmulator, tmp_path: Path, db_url: str) -> AsyncIterator[Desk]:
    owner = emulator.user(first_name="王主任")
    group = emulator.group(title="信息中心服务台", members=[owner], forum=True, chat_id=-1009)
    await emulator.add_bot_to_group(group, owner, admin=True)
    settings = bot_settings(emulator, tmp_path / "data", db_url).with_overrides(
        desk_chat_id=group.id,
        due_tick_s=0.2,  # due items (auto-close) run as the clock moves
    )
    await prepare_database(settings)
    bot = RunningBot(settings, emulator, clock=_WallClock())
    await bot.start()
    await bot.services.knowledge.apply_import(KB.read_bytes(), KB.name, tg_id=None, publish=True)
    try:
        org = Org(bot)
        first = await org.phone("support;staff", name="杨帆", language_code="en")
        second = await org.phone("support;staff", name="李娜", language_code="en")
        user = await org.phone(name="孙浩", department="城市建设科", language_code="en")
        lead = await org.phone("admin;staff", name="王主任", language_code="en")
        group.add_member(first)
        group.add_member(second)
        yield Desk(bot, group, first, second, user, lead)
    finally:
        await bot.stop()


def _labels(message: SentMessage) -> list[str]:
    return [b for row in message.buttons for b in row]


async def _open_ticket(phone: Phone, question: str) -> str:
    """The question gets "I don't know"; the requester asks a person; the ticket number."""
    start = phone.last_message()
    await phone.send(question)
    card = await phone.wait_message(where=lambda m: bool(m.buttons), after=start, timeout=60)
    if "👎 Not solved" in _labels(card):
        await phone.press("👎 Not solved", message=card)
        card = await phone.wait_edit(card)
    label = next(b for b in _labels(card) if "ask a person" in b.lower())
    await phone.press(label, message=card)
    opened = await phone.wait_message(containing="is open", after=card)
    assert "next 30 minutes" in opened.text and _labels(opened) == ["⏹ Done"]
    return opened.text.split("Ticket ", 1)[1].split(" ", 1)[0]


async def _topic(group: Group, number: str) -> int:
    """The thread of the ticket's topic (waits for the sender to create it)."""
    for _ in range(200):
        found = [tid for tid, name in group.topics().items() if number in name]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no topic for {number}: {group.topics()}")


async def _relays(bot: RunningBot) -> list[SupportRelay]:
    async with bot.services.runtime.detached_uow() as uow:
        rows = await uow.session.exec(select(SupportRelay).order_by(col(SupportRelay.id)))
        return list(rows.all())


async def test_a_ticket_is_worked_in_its_own_topic(desk: Desk, emulator: BotApiEmulator) -> None:
    group, user, first, second = desk.group, desk.user, desk.first, desk.second
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    assert group.topics()[thread].startswith(f"🟢 {number} 孙浩")
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    assert (
        "孙浩（城市建设科）" in card.text and "负责人：尚无人认领" in card.text
    )  # the desk reads Chinese
    assert "打印机一直卡纸" in card.text  # the question, among the latest messages
    assert card.buttons == [
        ["🙋 认领", "✅ 标记解决"],
        ["⏳ 等待答复"],
        ["紧急", "高", "• 普通", "低"],  # the priority, one tap to change it
        ["↔️ 转类别", "🔀 合并", "👥 指派"],  # transfer, merge, reassign (a picker each)
    ]
    context = await group.wait_message(containing="知识库", after=card)
    assert context.message_thread_id == thread

    # Two agents tap Claim at once: one owner, the other is told who.
    pressed = await asyncio.gather(
        group.press(first, "🙋 认领", card), group.press(second, "🙋 认领", card)
    )
    toasts = sorted([await toast(first, pressed[0]), await toast(second, pressed[1])])
    won = [t for t in toasts if t == f"Ticket {number} is yours."]
    lost = [t for t in toasts if t.endswith(f"has already claimed {number}.")]
    assert len(won) == 1 and len(lost) == 1, toasts
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "claimed"
        assignee = await uow.people.get(ticket.assignee_id or 0)
    assert assignee is not None and assignee.name in ("杨帆", "李娜")
    assert lost[0] == f"{assignee.name} has already claimed {number}."
    claimed = await group.wait_edit(card, where=lambda m: "负责人：尚无人" not in m.text)
    assert f"负责人：{assignee.name}" in claimed.text and claimed.buttons[0] == ["✅ 标记解决"]
    await desk.bot.settle()
    assert group.topics()[thread].startswith(f"🟡 {number}")  # the title shows the state
    agent = first if assignee.name == "杨帆" else second

    # The owner answers in the topic: the requester gets the words from the bot, once.
    before = user.last_message()
    await group.send(agent, "请先关机，取出卡纸后再开机试试。", thread)
    reply = await user.wait_message(containing="请先关机", after=before)
    assert reply.from_bot and "杨帆" not in reply.text and "李娜" not in reply.text
    # An internal note stays in the topic.
    await group.send(agent, "# 已联系信息中心，硬件可能要换", thread)
    await group.send(agent, "!note 备件在二楼", thread)
    await desk.bot.settle()
    assert not [m for m in user.messages() if "已联系" in m.text or "备件" in m.text]

    # The requester writes back (they are still writing to the ticket): it lands in the topic.
    update_id = await user.send("还是不行，屏幕上显示E-05")
    relayed = await group.wait_message(containing="E-05", after=claimed)
    assert relayed.message_thread_id == thread and relayed.from_bot
    await desk.bot.settle()
    await emulator.redeliver(update_id)  # a redelivered update relays nothing twice
    await desk.bot.settle()
    copies = [m for m in group.messages() if "E-05" in m.text and m.message_id != card.message_id]
    assert copies == [relayed]  # (the card quotes the latest messages too)
    assert not [
        m for m in user.messages() if "I don't know" in m.text and m.message_id > reply.message_id
    ]
    relays = await _relays(desk.bot)
    assert [r.direction for r in relays] == ["out", "in"]

    # The requester is done writing: the next question goes to the knowledge base again.
    done = await user.press("⏹ Done")
    assert await toast(user, done) == "Done. Your messages are with the desk."

    # Resolve: the requester is told and may come back; the card shows it, without buttons.
    start = user.last_message()
    resolved_at = await group.press(agent, "✅ 标记解决", claimed)
    assert (
        await toast(agent, resolved_at)
        == f"Ticket {number} is resolved; the requester has been told."
    )
    told = await user.wait_message(containing="has resolved ticket", after=start)
    assert _labels(told) == ["✅ Solved", "✍️ Still a problem"]
    final = await group.wait_edit(claimed, where=lambda m: "✅ 已解决" in m.text)
    assert "✅ 已解决" in final.text and final.buttons == [["📚 转为知识库条目"]]
    await desk.bot.settle()
    assert group.topics()[thread].startswith(f"✅ {number}")
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "resolved"
        assert ticket.first_response_at is not None and ticket.resolved_at is not None
        history = await uow.support.messages(ticket.id or 0)
    authors = [m.author for m in history]
    assert authors.count("note") == 2 and authors.count("agent") == 1
    assert authors.count("user") == 2  # the question, then the reply

    # "Still a problem" within 72 h reopens it.
    await user.press("✍️ Still a problem", message=told)
    await user.wait_message(containing="Write to the desk", after=told)
    await user.send("今天又卡了")
    back = await group.wait_message(containing="今天又卡了", after=final)
    assert back.message_thread_id == thread
    reopened = await group.wait_edit(final, where=lambda m: "处理中" in m.text)
    assert "🙋" in str(reopened.buttons) or "✅ 标记解决" in str(reopened.buttons)


async def test_a_deleted_topic_is_made_again_with_its_card(desk: Desk) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await desk.bot.settle()
    group.delete_topic(thread)
    await user.send("补充一下：是三楼的打印机")
    for _ in range(200):
        again = [tid for tid, name in group.topics().items() if number in name]
        if again:
            break
        await asyncio.sleep(0.05)
    assert again and again[0] != thread
    new_thread = again[0]
    message = await group.wait_message(
        containing="三楼", where=lambda m: m.message_thread_id == new_thread and not m.buttons
    )
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == new_thread and bool(m.buttons)
    )
    # The summary card carries what the lost topic held: the problem as first described.
    # (The new message is in the topic itself; the card has it too only if it was drawn after
    # the message was stored, and an SLA redraw racing the message may draw it before.)
    assert "打印机一直卡纸" in card.text
    assert message.from_bot and message.text == "补充一下：是三楼的打印机"
    # The desk answers in the new topic and the requester gets it.
    before = user.last_message()
    await group.send(desk.first, "好的，马上派人去三楼。", new_thread)
    await user.wait_message(containing="马上派人", after=before)


async def test_a_restart_between_a_message_and_the_reply_loses_and_doubles_nothing(
    desk: Desk,
) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    await user.send("型号是HP M403")
    await desk.bot.restart()
    await group.wait_message(containing="HP M403", where=lambda m: m.message_thread_id == thread)
    before = user.last_message()
    await group.send(desk.second, "收到，这个型号要换搓纸轮。", thread)
    await user.wait_message(containing="搓纸轮", after=before)
    await desk.bot.restart()
    await desk.bot.settle()
    assert len([m for m in user.messages() if "搓纸轮" in m.text]) == 1
    assert len([m for m in group.messages() if m.text == "型号是HP M403"]) == 1  # and the card


async def test_a_requester_who_blocked_the_bot_is_marked_unreachable(desk: Desk) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await desk.bot.settle()
    user.block()  # Telegram tells the bot (my_chat_member): the desk hears of it at once
    blocked = await group.wait_message(containing="屏蔽", after=card)
    assert blocked.message_thread_id == thread and number in blocked.text
    await group.wait_edit(card, where=lambda m: "提问人已屏蔽机器人" in m.text)
    await group.send(desk.first, "请问还需要帮助吗？", thread)
    notice = await group.wait_message(containing="未能送达", after=blocked)
    assert notice.message_thread_id == thread and number in notice.text
    assert not [m for m in user.messages() if "还需要帮助" in m.text]
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.unreachable
    user.unblock()
    back = await group.wait_message(containing="恢复", after=notice)
    assert back.message_thread_id == thread
    await desk.bot.settle()
    latest = next(m for m in group.messages() if m.message_id == card.message_id)
    assert "提问人已屏蔽机器人" not in latest.text
    before = user.last_message()
    await group.send(desk.first, "现在能收到吗？", thread)
    await user.wait_message(containing="现在能收到吗", after=before)


async def test_support_opens_a_ticket_in_a_category_closed_and_rated_once(desk: Desk) -> None:
    group, user, agent, lead = desk.group, desk.user, desk.first, desk.lead
    start = user.last_message()
    await user.command("/support")
    home = await user.wait_message(containing="What is the new problem about?", after=start)
    assert _labels(home) == [
        "Account and login",
        "Documents and approvals",
        "Reimbursement",
        "Devices and network",
        "Something else",
    ]
    await user.press("Devices and network", message=home)
    await user.wait_message(containing="describe the problem", after=home)
    await user.send("投影仪连不上笔记本")
    opened = await user.wait_message(containing="is open", after=home)
    number = opened.text.split("Ticket ", 1)[1].split(" ", 1)[0]
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    assert "类别：设备与网络" in card.text and "投影仪连不上笔记本" in card.text
    await user.upload_photo(b"\xff\xd8 a photo of the cable")  # still writing: into the topic
    photo = await group.wait_message(where=lambda m: m.kind == "photo", after=card)
    assert photo.message_thread_id == thread

    # /support lists the open ticket.
    before = user.last_message()
    await user.command("/support")
    listed = await user.wait_message(containing="Your open tickets", after=before)
    assert number in listed.text and f"✍️ {number}" in _labels(listed)

    await group.press(agent, "✅ 标记解决", card)
    told = await user.wait_message(containing="has resolved ticket", after=listed)
    pressed = await user.press("✅ Solved", message=told)
    assert await toast(user, pressed) == "Closed. Thank you!"
    ask = await user.wait_message(containing="How well did the support desk help", after=told)
    assert _labels(ask) == ["⭐", "⭐⭐", "⭐⭐⭐", "⭐⭐⭐⭐", "⭐⭐⭐⭐⭐"]
    pressed = await user.press("⭐⭐", message=ask)
    assert await toast(user, pressed) == "Thank you for your rating."
    thanked = await user.wait_edit(ask)
    assert "Thank you for rating it ⭐⭐" in thanked.text and not thanked.buttons
    alert = await lead.wait_message(containing=number)
    assert "孙浩" in alert.text and "⭐⭐" in alert.text
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "closed" and ticket.rating == 2
        assert ticket.category == "devices" and ticket.closed_at is not None
    again = await user.press_data(f"sd.rate:{ticket.id}:5", message=ask)
    assert await toast(user, again) == "You have already rated this ticket."
    pressed = await user.press_data(f"sd.close:{ticket.id}:0", message=told)
    assert await toast(user, pressed) == "This ticket is already closed."
    # Somebody else's ticket is refused like a forged button.
    forged = await desk.second.press_data(f"sd.close:{ticket.id}:0")
    assert "not" in (await toast(desk.second, forged)).lower()


async def test_edits_are_mirrored_both_ways(desk: Desk) -> None:
    group, user, agent = desk.group, desk.user, desk.first
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    await user.send("型号是HP M403")
    copy = await group.wait_message(
        containing="HP M403", where=lambda m: m.text == "型号是HP M403"
    )
    await desk.bot.settle()
    mine = next(m for m in user.messages(include_user=True) if m.text == "型号是HP M403")
    await user.edit(mine.message_id, "型号是HP M404")
    note = await group.wait_message(containing="HP M404", after=copy)
    assert note.message_thread_id == thread and note.reply_to_message_id == copy.message_id
    assert "edited" in note.text or "修改" in note.text

    before = user.last_message()
    await group.send(agent, "请重启打印机", thread)
    reply = await user.wait_message(containing="请重启打印机", after=before)
    await desk.bot.settle()
    original = next(
        m for m in group.messages(include_user=True) if not m.from_bot and m.text == "请重启打印机"
    )
    await group.edit(agent, original.message_id, "请重启打印机，并清理搓纸轮")
    mirrored = await user.wait_edit(reply)
    assert mirrored.text == "请重启打印机，并清理搓纸轮"
    assert len([m for m in user.messages() if "请重启打印机" in m.text]) == 1


async def test_canned_replies_kept_by_the_lead_and_sent_from_a_topic(desk: Desk) -> None:
    group, user, agent, lead = desk.group, desk.user, desk.first, desk.lead
    start = lead.last_message()
    await lead.command("/t set reset_pwd {姓名}您好，工单{工单号}：请在OA登录页点“忘记密码”。")
    await lead.wait_message(containing="“reset_pwd” saved", after=start)
    await lead.command("/t set Bad-Key 内容")
    await lead.wait_message(containing="1 to 40 small letters", after=start)
    before = agent.last_message()
    await agent.command("/t set mine 我的模板")  # an agent is not the desk lead
    refused = await agent.wait_message(after=before)
    assert "mine" not in refused.text

    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await group.command(agent, "/t", thread)
    listed = await group.wait_message(containing="reset_pwd", after=card)
    assert listed.message_thread_id == thread
    await group.command(agent, "/t nothing", thread)
    await group.wait_message(containing="“nothing”", after=listed)
    before = user.last_message()
    await group.command(agent, "/t reset_pwd", thread)
    reply = await user.wait_message(containing="忘记密码", after=before)
    assert reply.text == f"孙浩您好，工单{number}：请在OA登录页点“忘记密码”。"
    shown = await group.wait_message(containing="📤", after=listed)
    assert shown.message_thread_id == thread and "忘记密码" in shown.text
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.first_response_at is not None
        assert ticket.assignee_id is not None  # the first to answer owns it
    await lead.command("/t del reset_pwd")
    await lead.wait_message(containing="“reset_pwd” deleted", after=start)


async def test_a_resolved_ticket_nobody_comes_back_to_closes_itself(desk: Desk) -> None:
    group, user, agent = desk.group, desk.user, desk.first
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await user.press("⏹ Done")
    await group.press(agent, "✅ 标记解决", card)
    told = await user.wait_message(containing="has resolved ticket")
    clock = desk.bot.clock
    assert isinstance(clock, _WallClock)
    clock.advance(timedelta(days=2))  # the default is 3 days
    await asyncio.sleep(1.0)
    await desk.bot.settle()
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "resolved"
    clock.advance(timedelta(days=1, hours=1))
    closed = await user.wait_message(containing="nobody came back to it", after=told)
    ask = await user.wait_message(containing="How well did the support desk help", after=told)
    assert len(_labels(ask)) == 5 and closed.message_id < ask.message_id
    await desk.bot.settle()
    assert group.topics()[thread].startswith(f"⚪ {number}")
    final = next(m for m in group.messages() if m.message_id == card.message_id)
    assert "⚪ 已关闭" in final.text and final.buttons == [["📚 转为知识库条目"]]
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "closed" and ticket.closed_at is not None


async def test_a_message_soon_after_resolving_reopens_later_ones_open_a_follow_up(
    desk: Desk,
) -> None:
    group, user, agent = desk.group, desk.user, desk.first
    clock = desk.bot.clock
    assert isinstance(clock, _WallClock)
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    card = await group.wait_message(
        containing=number, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await user.press("⏹ Done")
    await group.press(agent, "✅ 标记解决", card)
    told = await user.wait_message(containing="has resolved ticket")
    await desk.bot.settle()

    clock.advance(timedelta(hours=10))  # within 72 hours: the same ticket comes back
    await user.press("✍️ Still a problem", message=told)
    prompt = await user.wait_message(containing="Write to the desk", after=told)
    await user.send("又卡纸了")
    await group.wait_message(containing="又卡纸了", where=lambda m: m.message_thread_id == thread)
    await desk.bot.settle()
    assert group.topics()[thread].startswith(f"🟡 {number}")
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "claimed" and ticket.resolved_at is None
        assert ticket.paused_seconds >= 10 * 3600  # resolved time does not count against it
    await user.press("⏹ Done", message=prompt)
    refreshed = next(m for m in group.messages() if m.message_id == card.message_id)
    await group.press(agent, "✅ 标记解决", refreshed)
    told_again = await user.wait_message(containing="has resolved ticket", after=prompt)
    await desk.bot.settle()

    clock.advance(timedelta(hours=80))  # long after: a new ticket that follows up on it
    await user.press("✍️ Still a problem", message=told_again)
    await user.wait_message(containing="Write to the desk", after=told_again)
    await user.send("一周后打印机又坏了")
    opened = await user.wait_message(containing="is open", after=told_again)
    assert f"follows up on ticket {number}" in opened.text
    follow_up = opened.text.split("Ticket ", 1)[1].split(" ", 1)[0]
    assert follow_up != number
    new_thread = await _topic(group, follow_up)
    new_card = await group.wait_message(
        containing=follow_up,
        where=lambda m: m.message_thread_id == new_thread and bool(m.buttons),
    )
    assert f"后续工单，原工单 {number}" in new_card.text
    async with desk.bot.services.runtime.detached_uow() as uow:
        old = await uow.support.ticket_by_number(number)
        new = await uow.support.ticket_by_number(follow_up)
        assert old is not None and new is not None and new.related_to == old.id
        assert old.status in ("resolved", "closed")
