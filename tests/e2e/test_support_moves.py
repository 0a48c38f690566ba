"""Desk groups and moving tickets (#7), played on phones against the emulator: the bot added
to a forum group by an administrator makes it the desk, ``/desk`` routes categories to a
second group, transfer moves a topic between groups, merge joins two tickets of one
requester, a supervisor reassigns, and the bot leaving a group moves its open tickets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.emulator import BotApiEmulator, Group, Phone
from bot.emulator.state import SentMessage
from tests.e2e.conftest import Org, RunningBot, _WallClock, bot_settings, prepare_database, toast

pytestmark = pytest.mark.asyncio


@dataclass
class Desks:
    bot: RunningBot
    main: Group  # 信息中心服务台: the default desk
    devices: Group  # 设备保障群: devices tickets, once /desk routes them
    agent: Phone  # 杨帆
    other: Phone  # 李娜
    lead: Phone  # 王主任, an administrator (the desk's supervisor)
    user: Phone  # 孙浩
    emulator: BotApiEmulator
    trainer: Phone  # 周婷, who reviews drafts of the knowledge base


@pytest.fixture
async def desks(emulator: BotApiEmulator, tmp_path: Path, db_url: str) -> AsyncIterator[Desks]:
    settings = bot_settings(emulator, tmp_path / "data", db_url)  # no GOVBOT_DESK_CHAT_ID
    await prepare_database(settings)
    bot = RunningBot(settings, emulator, clock=_WallClock())
    await bot.start()
    try:
        org = Org(bot)
        agent = await org.phone("support;staff", name="杨帆", language_code="en")
        other = await org.phone("support;staff", name="李娜", language_code="en")
        lead = await org.phone("admin;staff", name="王主任", language_code="en")
        user = await org.phone(name="孙浩", department="城市建设科", language_code="en")
        trainer = await org.phone("trainer;staff", name="周婷", language_code="en")
        main = emulator.group(title="信息中心服务台", members=[lead, agent, other], forum=True)
        devices = emulator.group(title="设备保障群", members=[lead, agent], forum=True)
        yield Desks(bot, main, devices, agent, other, lead, user, emulator, trainer)
    finally:
        await bot.stop()


async def _open(user: Phone, category: str, text: str) -> str:
    """/support → a category → the first message: the ticket's number."""
    start = user.last_message()
    await user.command("/support")
    home = await user.wait_message(containing="What is the new problem about?", after=start)
    await user.press(category, message=home)
    await user.wait_message(containing="describe the problem", after=home)
    await user.send(text)
    opened = await user.wait_message(containing="is open", after=home)
    return opened.text.split("Ticket ", 1)[1].split(" ", 1)[0]


async def _card(group: Group, number: str, after: int = 0) -> SentMessage:
    """The ticket's card in its topic of this group."""
    for _ in range(200):
        threads = [tid for tid, name in group.topics().items() if number in name]
        if threads:
            thread = threads[-1]
            return await group.wait_message(
                containing=number,
                after=after,
                where=lambda m, thread=thread: (
                    m.message_thread_id == thread and "🙋" in str(m.buttons)
                ),
                timeout=10,
            )
        await asyncio.sleep(0.05)
    raise AssertionError(f"no topic for {number} in {group.chat_id}: {group.topics()}")


async def _make_default_desk(d: Desks) -> None:
    await d.emulator.add_bot_to_group(d.main, d.lead, admin=True)
    made = await d.main.wait_message(containing="本群现为服务台")
    assert "其他所有类别：本群" in made.text


async def test_the_bot_added_by_an_administrator_makes_the_desk_and_desk_routes_categories(
    desks: Desks,
) -> None:
    d = desks
    # Added by somebody who may not set desks: it says so and takes no tickets.
    stranger = d.emulator.user(first_name="路人")
    elsewhere = d.emulator.group(title="闲聊群", members=[stranger], forum=True)
    await d.emulator.add_bot_to_group(elsewhere, stranger, admin=True)
    await elsewhere.wait_message(containing="只有政务办公助手的管理员")
    # A group without topics cannot be a desk.
    plain = d.emulator.group(title="普通群", members=[d.lead], supergroup=True)
    await d.emulator.add_bot_to_group(plain, d.lead, admin=True)
    await plain.wait_message(containing="开启了“话题”")

    await _make_default_desk(d)
    # A second forum group is not a desk until /desk says what it takes.
    await d.emulator.add_bot_to_group(d.devices, d.lead, admin=True)
    hint = await d.devices.wait_message(containing="/desk default")
    assert "devices" in hint.text
    await d.devices.command(d.agent, "/desk devices")  # an agent is not the desk lead
    await d.bot.settle()
    async with d.bot.services.runtime.detached_uow() as uow:
        assert [desk.category for desk in await uow.support.desks()] == ["*"]
    await d.devices.command(d.lead, "/desk devices")
    routed = await d.devices.wait_message(containing="设备与网络")
    assert (
        "设备与网络（devices）：本群" in routed.text or "设备与网络 (devices)：本群" in routed.text
    )
    assert "信息中心服务台" in routed.text  # every other category stays there

    printer = await _open(d.user, "Devices and network", "打印机卡纸了")
    login = await _open(d.user, "Account and login", "OA 登录提示密码过期")
    await _card(d.devices, printer)
    await _card(d.main, login)
    assert not [n for n in d.main.topics().values() if printer in n]

    # The bot removed from the devices group: its open ticket moves to the default desk,
    # its topic made again there with its card.
    await d.emulator.remove_bot_from_group(d.devices, d.lead)
    moved = await _card(d.main, printer)
    assert "打印机卡纸了" in moved.text
    async with d.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(printer)
        assert ticket is not None and ticket.desk_chat_id == d.main.chat_id
        assert [desk.category for desk in await uow.support.desks()] == ["*"]
    # An agent's reply in the new topic reaches the requester.
    start = d.user.last_message()
    await d.main.send(d.agent, "请打开前盖取出卡住的纸。", moved.message_thread_id)
    reply = await d.user.wait_message(containing="取出卡住的纸", after=start)
    assert reply.text == "请打开前盖取出卡住的纸。"


async def test_transfer_moves_the_topic_to_the_category_desk(desks: Desks) -> None:
    d = desks
    await _make_default_desk(d)
    await d.emulator.add_bot_to_group(d.devices, d.lead, admin=True)
    await d.devices.command(d.lead, "/desk devices")
    await d.devices.wait_message(containing="设备与网络")
    number = await _open(d.user, "Something else", "会议室的投影仪不亮")
    card = await _card(d.main, number)
    thread = card.message_thread_id

    pressed = await d.main.press(d.agent, "↔️ 转类别", card)
    assert await toast(d.agent, pressed) == f"{number}: choose below the card."
    picker = await d.main.wait_message(
        containing="转到哪个类别", where=lambda m: m.message_thread_id == thread
    )
    assert "• 其他问题" in str(picker.buttons) and "✖️ 取消" in str(picker.buttons)
    pressed = await d.main.press(d.agent, "设备与网络", picker)
    assert (
        await toast(d.agent, pressed)
        == f"{number} moved to Devices and network and its desk group."
    )
    closed = await d.main.wait_edit(picker)
    assert "已转到另一个服务台群" in closed.text and not closed.buttons
    farewell = await d.main.wait_message(
        containing="今后在那里处理", where=lambda m: m.message_thread_id == thread
    )
    assert number in farewell.text
    there = await _card(d.devices, number)
    assert "类别：设备与网络" in there.text and "会议室的投影仪不亮" in there.text

    # What the requester writes now lands in the new topic; the old topic relays nothing.
    await d.user.send("是三楼东边那间")
    copy = await d.devices.wait_message(
        containing="三楼东边", where=lambda m: m.message_thread_id == there.message_thread_id
    )
    assert copy.message_thread_id == there.message_thread_id
    start = d.user.last_message()
    await d.main.send(d.agent, "旧话题里的话", thread)
    await d.devices.send(d.agent, "马上派人过去。", there.message_thread_id)
    reply = await d.user.wait_message(containing="马上派人", after=start)
    assert not [m for m in d.user.messages() if "旧话题里的话" in m.text]
    assert reply.text == "马上派人过去。"
    # The same category again is no change.
    again = await d.devices.press(d.agent, "↔️ 转类别", there)
    await toast(d.agent, again)
    picker = await d.devices.wait_message(
        containing="转到哪个类别", where=lambda m: m.message_thread_id == there.message_thread_id
    )
    same = await d.devices.press(d.agent, "• 设备与网络", picker)
    assert await toast(d.agent, same) == f"{number}: that is already so."


async def test_merge_joins_two_tickets_of_one_requester(desks: Desks) -> None:
    d = desks
    await _make_default_desk(d)
    first = await _open(d.user, "Account and login", "U-Key 插上没反应")
    second = await _open(d.user, "Account and login", "还是登录不了，U-Key 灯不亮")
    first_card = await _card(d.main, first)
    second_card = await _card(d.main, second)

    pressed = await d.main.press(d.agent, "🔀 合并", second_card)
    await toast(d.agent, pressed)
    picker = await d.main.wait_message(
        containing="合并到提问人的哪张未结工单",
        where=lambda m: m.message_thread_id == second_card.message_thread_id,
    )
    choice = next(b for row in picker.buttons for b in row if b.startswith(first))
    start = d.user.last_message()
    pressed = await d.main.press(d.agent, choice, picker)
    assert await toast(d.agent, pressed) == f"{second} was merged into {first}."
    told = await d.user.wait_message(containing="merged them", after=start)
    assert second in told.text and first in told.text
    await d.main.wait_message(
        containing=f"已合并到 {first}",
        where=lambda m: m.message_thread_id == second_card.message_thread_id,
    )
    note = await d.main.wait_message(
        containing=f"{second} 已合并到本工单",
        where=lambda m: m.message_thread_id == first_card.message_thread_id,
    )
    assert "灯不亮" in note.text
    async with d.bot.services.runtime.detached_uow() as uow:
        merged = await uow.support.ticket_by_number(second)
        kept = await uow.support.ticket_by_number(first)
        assert merged is not None and kept is not None
        assert merged.status == "closed" and merged.merged_into == kept.id
        history = [m.body for m in await uow.support.messages(kept.id or 0)]
        assert f"[{second}] 还是登录不了，U-Key 灯不亮" in history
        assert await uow.support.running_escalation(merged.id or 0) is None

    # What the requester writes next goes to the ticket that was kept.
    await d.user.send("换了个 USB 口也不行")
    copy = await d.main.wait_message(containing="USB 口")
    assert copy.message_thread_id == first_card.message_thread_id

    # /merge with another requester's ticket is refused in the topic.
    other = await _open(d.other, "Account and login", "我的也登录不了")
    await _card(d.main, other)
    await d.main.command(d.agent, f"/merge {other}", first_card.message_thread_id)
    refused = await d.main.wait_message(
        containing="只能合并同一提问人的工单",
        where=lambda m: m.message_thread_id == first_card.message_thread_id,
    )
    assert other in refused.text
    await d.main.command(d.agent, "/merge T2099-999999", first_card.message_thread_id)
    await d.main.wait_message(
        containing="没有可合并的未结工单 T2099-999999",
        where=lambda m: m.message_thread_id == first_card.message_thread_id,
    )


async def test_a_supervisor_reassigns_and_an_agent_hands_over_only_their_own(
    desks: Desks,
) -> None:
    d = desks
    await _make_default_desk(d)
    number = await _open(d.user, "Documents and approvals", "公文卡在签发环节")
    card = await _card(d.main, number)
    await d.main.press(d.agent, "🙋 认领", card)
    card = await d.main.wait_edit(card, where=lambda m: "负责人：杨帆" in m.text)

    # Another agent cannot take it away; the supervisor can give it to anyone on the desk.
    refused = await d.main.press(d.other, "👥 指派", card)
    assert "only a supervisor" in await toast(d.other, refused)
    pressed = await d.main.press(d.lead, "👥 指派", card)
    await toast(d.lead, pressed)
    picker = await d.main.wait_message(
        containing="指派给谁", where=lambda m: m.message_thread_id == card.message_thread_id
    )
    labels = [b for row in picker.buttons for b in row]
    assert "李娜" in labels and "杨帆" not in labels  # the owner is not offered
    start = d.other.last_message()
    pressed = await d.main.press(d.lead, "李娜", picker)
    assert await toast(d.lead, pressed) == f"{number} now belongs to 李娜."
    dm = await d.other.wait_message(containing="gave you ticket", after=start)
    assert "王主任" in dm.text and "公文卡在签发环节" in dm.text
    await d.main.wait_edit(card, where=lambda m: "负责人：李娜" in m.text)
    # Now 李娜 owns it, she may hand it over; 杨帆 no longer may.
    refused = await d.main.press(d.agent, "👥 指派", card)
    assert "only a supervisor" in await toast(d.agent, refused)
    forged = await d.main.press_data(d.lead, f"sd.asg:{0}:{1}")
    assert "not" in (await toast(d.lead, forged)).lower()


async def test_a_resolved_ticket_turns_into_a_draft_entry_for_the_trainers(desks: Desks) -> None:
    d = desks
    trainer = d.trainer
    await _make_default_desk(d)
    number = await _open(d.user, "Documents and approvals", "公文怎么加签？")
    card = await _card(d.main, number)
    start = d.user.last_message()
    await d.main.send(
        d.agent, "在待办卡片上点「加签」，选择加签人和前后顺序即可。", card.message_thread_id
    )
    await d.user.wait_message(containing="加签人", after=start)
    await d.main.send(d.agent, "# 内部备注：不进知识库", card.message_thread_id)
    early = await d.main.press_data(d.agent, f"sd.faq:{0}:0")
    assert "not" in (await toast(d.agent, early)).lower()  # a forged ticket id
    await d.main.press(d.agent, "✅ 标记解决", card)
    resolved = await d.main.wait_edit(card, where=lambda m: "📚 转为知识库条目" in str(m.buttons))
    pressed = await d.main.press(d.agent, "📚 转为知识库条目", resolved)
    key = f"ticket-{number.lower()}"
    assert await toast(d.agent, pressed) == (
        f"{number} is now draft entry {key}; the trainers will review it."
    )
    told = await trainer.wait_message(containing=key)
    assert "杨帆" in told.text and "公文怎么加签" in told.text
    async with d.bot.services.runtime.detached_uow() as uow:
        entry = await uow.faq.entry_by_key(key)
        assert entry is not None and entry.status == "draft"
        assert "加签人和前后顺序" in str(entry.draft) and "内部备注" not in str(entry.draft)
    await trainer.press("✏️ Open the draft", message=told)
    opened = await trainer.wait_message(containing="加签人和前后顺序", after=told)
    assert "公文怎么加签" in opened.text
    again = await d.main.press(d.agent, "📚 转为知识库条目", resolved)
    assert await toast(d.agent, again) == f"{number} has already been turned into entry {key}."
