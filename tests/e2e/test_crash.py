"""A SIGKILL with updates in flight loses nothing and handles nothing twice (#3).

The bot runs as a real `govbot run` subprocess; phones keep sending while it is killed;
after a restart every update has been handled exactly once.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.emulator import BotApiEmulator
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from tests.e2e.conftest import Org, RunningBot, toast

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

PHONES = 20
MESSAGES_EACH = 4


async def _wait_for(predicate, within: float) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_kill_with_updates_in_flight_handles_each_exactly_once(
    bot: RunningBot, org: Org, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    phones = [await org.bound_phone("staff") for _ in range(PHONES)]
    await bot.stop()  # from here on the bot is a subprocess we can kill
    # On PostgreSQL the restarted bot cannot tell a dead worker's claims from a live one's:
    # they come back when their lease lapses (SQLite, one process, frees them at start).
    bot.settings = bot.settings.with_overrides(inbox_lease_s=3.0)
    emulator.set_latency(0.02)  # every API call takes a little time, like the real one
    proc = await bot.spawn()
    sent: list[int] = []

    async def chatter(phone) -> None:  # type: ignore[no-untyped-def]
        for _ in range(MESSAGES_EACH):
            sent.append(await phone.command("/help"))
            await asyncio.sleep(0.03)

    talking = asyncio.gather(*(chatter(p) for p in phones))
    # Kill while some replies are out and others are not even received yet.
    await _wait_for(lambda: sum(len(p.messages()) for p in phones) >= PHONES, 20)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    await talking
    replies_at_kill = sum(len(p.messages()) for p in phones)
    assert replies_at_kill < PHONES * MESSAGES_EACH, "the kill came too late to test anything"

    proc = await bot.spawn()
    expected = PHONES * MESSAGES_EACH
    assert await _wait_for(lambda: all(len(p.messages()) >= MESSAGES_EACH for p in phones), 60)
    await asyncio.sleep(1.0)  # anything sent twice would arrive by now
    proc.send_signal(signal.SIGTERM)
    await proc.wait()

    install_key_ring(KeyRing(bytes.fromhex((bot.settings.data_dir / "secret.key").read_text())))
    db = Database(bot.settings.effective_database_url)
    try:
        async with db.engine.connect() as conn:
            statuses = dict(
                (
                    await conn.execute(
                        text("SELECT status, count(*) FROM inbox_update GROUP BY status")
                    )
                ).all()
            )
            help_rows = (
                await conn.execute(
                    text("SELECT chat_id, attempts FROM outbox_message WHERE kind = 'menu.help'")
                )
            ).all()
    finally:
        await db.dispose()
    # Every update was stored and handled once: one reply row per update, no more.
    assert statuses.get("pending", 0) == 0 and statuses.get("failed", 0) == 0
    assert len(help_rows) == expected == len(set(sent))
    # Delivery: each phone got its replies. A reply can arrive twice only if its send was
    # cut off by the kill after Telegram took it (attempts > 1): Telegram has no idempotency
    # key, so that one window is at-least-once, and it is bounded by what was in flight.
    uncertain = {}
    for chat_id, attempts in help_rows:
        if attempts > 1:
            uncertain[chat_id] = uncertain.get(chat_id, 0) + 1
    for p in phones:
        extra = len(p.messages()) - MESSAGES_EACH
        assert 0 <= extra <= uncertain.get(p.id, 0), (p.id, extra, uncertain)


async def test_a_card_sent_twice_by_a_crash_is_decided_on_the_copy_pressed(
    bot: RunningBot, org: Org
) -> None:
    """A kill after Telegram took a card but before the bot recorded it sends the card again
    (Telegram has no idempotency key). The approver sees two; the one pressed shows the
    outcome, and the other one says it is handled instead of deciding twice."""
    from tests.e2e.test_approvals import fill_reimbursement, finance_org, submit, task_card

    people = await finance_org(org)
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    first = await task_card(people.head)
    await bot.settle()
    # What a kill leaves behind once the restart has recovered it: the card's row queued
    # again, no message recorded for the card (the sender then sends it anew).
    async with bot.services.runtime.detached_uow() as uow:
        await uow.session.exec(  # type: ignore[call-overload]
            text(
                "UPDATE outbox_message SET status = 'pending', sent_message_id = NULL "
                "WHERE card_key LIKE 'task:%'"
            )
        )
        await uow.session.exec(text("DELETE FROM live_card WHERE card_key LIKE 'task:%'"))  # type: ignore[call-overload]
        await uow.commit()
    second = await task_card(people.head, after=first)
    assert second.message_id != first.message_id
    await people.head.press("✅ 同意", message=first)
    edited = await people.head.wait_edit(first, timeout=15)
    assert edited.buttons == [] and "已通过" in edited.text
    done = await people.clerk.wait_message(containing="已结束", timeout=15)
    assert "已通过" in done.text
    query_id = await people.head.press("✅ 同意", message=second)
    assert "已处理" in await toast(people.head, query_id)
    await bot.settle()
    assert len([m for m in people.clerk.messages() if "已结束" in m.text]) == 1


async def test_kill_between_submit_and_approve_keeps_the_task_and_its_buttons(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    """Reference §4 item 1(c): SIGKILL after submit; after a restart /todo lists the same
    task and the button on the card sent before the kill still decides it, once."""
    from tests.e2e.test_approvals import fill_reimbursement, finance_org, submit, task_card

    people = await finance_org(org)
    await bot.stop()
    bot.settings = bot.settings.with_overrides(inbox_lease_s=3.0)
    proc = await bot.spawn()
    await submit(people.clerk, await fill_reimbursement(people.clerk, "300"))
    card = await task_card(people.head)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    proc = await bot.spawn()
    await people.head.command("/todo")
    todo = await people.head.wait_message(containing="待您处理", timeout=30)
    assert "BX-" in " ".join(b for row in todo.buttons for b in row)
    await people.head.press("✅ 同意", message=card)
    edited = await people.head.wait_edit(card, timeout=15)
    assert edited.buttons == []
    done = await people.clerk.wait_message(containing="已结束", timeout=15)
    assert "已通过" in done.text
    await asyncio.sleep(1.0)  # a decision sent twice would show by now
    assert len([m for m in people.clerk.messages() if "已结束" in m.text]) == 1
    proc.send_signal(signal.SIGTERM)
    # SIGTERM is how a service manager stops the bot: a clean exit, no traceback.
    assert await proc.wait() == 0
    log = (bot.settings.data_dir / "govbot-run.log").read_text()
    assert "Traceback" not in log
    # The service process froze its warmed-up heap (no full collection walks it again).
    assert "start-up heap frozen" in log
