"""The desk's health through the emulator (#7, reference items 26 and 27): /summary in the
desk group, and the outage guard paging the on-call agent when Telegram stops handing out
updates for five minutes of the bot's clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.emulator import BotApiEmulator
from tests.e2e.conftest import _WallClock, toast
from tests.e2e.test_support_desk import Desk, _open_ticket, _topic, desk

pytestmark = pytest.mark.asyncio
__all__ = ["desk"]


async def test_summary_in_the_desk_group_counts_the_day(desk: Desk) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, number)
    await group.send(desk.first, "请把打印机型号发给我。", thread)
    await user.wait_message(containing="型号")
    await desk.bot.settle()
    await group.command(desk.first, "/summary")
    summary = await group.wait_message(containing="服务台过去24小时", timeout=15)
    assert "新工单：1 · 当前未结：1 · 未结且已超SLA：0" in summary.text
    assert "共1张工单已响应" in summary.text
    # The question the knowledge base could not answer, and it was not self-served.
    assert "知识库自助解决率：0%（0/1）" in summary.text
    assert "打印机一直卡纸" in summary.text and "（1人）" in summary.text
    # Any agent may ask, in any topic of the desk group.
    await group.command(desk.second, "/summary")
    again = await group.wait_message(containing="服务台过去24小时", after=summary)
    assert "新工单：1" in again.text


async def test_updates_held_at_telegram_page_the_on_call_agent(
    desk: Desk, emulator: BotApiEmulator
) -> None:
    bot, user = desk.bot, desk.user
    assert isinstance(bot.clock, _WallClock)
    await bot.settle()

    async def beat(minutes: float) -> None:
        bot.clock.advance(timedelta(minutes=minutes))
        await bot.services.due.tick()
        assert bot.runner is not None and bot.runner.sender is not None
        bot.runner.sender.kick()

    emulator.hold_updates()
    start = user.last_message()
    await user.command("/help")  # waits at Telegram
    await beat(1.1)  # the heartbeat sees it held
    await beat(3)
    assert all("not getting its messages" not in m.text for m in desk.first.messages())
    await beat(2.1)  # five minutes on the bot's clock since it was first seen
    page = await desk.first.wait_message(containing="not getting its messages", timeout=15)
    assert "Telegram is holding 1 update(s)" in page.text
    # No roster: level 1 is every support agent.
    await desk.second.wait_message(containing="not getting its messages", timeout=5)
    emulator.hold_updates(False)
    await user.wait_message(containing="/", after=start, timeout=15)  # /help is answered
    await bot.settle()
    await beat(1.1)
    over = await desk.first.wait_message(containing="get through to the bot again", after=page)
    assert "lasted" in over.text
    await beat(1.1)
    await bot.settle()
    pages = [m for m in desk.first.messages() if "not getting its messages" in m.text]
    assert len(pages) == 1  # once per outage


async def test_the_desk_menu_item_shows_an_agent_their_tickets_and_the_queue(
    desk: Desk,
) -> None:
    group, user, first = desk.group, desk.user, desk.first
    mine = await _open_ticket(user, "打印机一直卡纸，换了纸也不行")
    thread = await _topic(group, mine)
    card = await group.wait_message(
        containing=mine, where=lambda m: m.message_thread_id == thread and bool(m.buttons)
    )
    await group.press(first, "🙋 认领", card)
    await group.wait_edit(card, where=lambda m: "负责人：杨帆" in m.text)
    done = await user.press("⏹ Done")  # the next message is a new problem
    assert await toast(user, done) == "Done. Your messages are with the desk."
    await _open_ticket(user, "VPN一直连不上，提示证书过期")  # nobody claims this one
    await desk.bot.settle()
    start = first.last_message()
    await first.command("/menu")
    menu = await first.wait_message(containing="Main menu", after=start)
    await first.press("🎧 Support desk", message=menu)
    home = await first.wait_message(containing="Your open tickets", after=menu)
    assert mine in home.text and "打印机一直卡纸" in home.text
    assert "Waiting to be claimed: 1 · open past an SLA target: 0" in home.text
    assert "On call now: 杨帆、李娜" in home.text  # no roster: every support agent
    assert f"Desk groups: {group.id}" in home.text  # set by GOVBOT_DESK_CHAT_ID: no title
    # Staff who do not work the desk have no such item.
    start = user.last_message()
    await user.command("/menu")
    menu = await user.wait_message(containing="Main menu", after=start)
    assert all("Support desk" not in b for row in menu.buttons for b in row)
