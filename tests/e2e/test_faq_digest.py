"""The trainers' digest (#6) on phones: questions the knowledge base could not answer come in,
the working day's digest falls due on the bot's clock, the trainer adds one group as a phrasing
(published at once) and ignores another; a forged or foreign press changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.emulator import BotApiEmulator
from bot.faq.content import EntryContent
from bot.faq.digest import KIND
from bot.faq.files import write_file
from storage.tables.faq import FaqQuestion
from storage.tables.runtime import DueItem
from tests.e2e.conftest import Org, RunningBot, _WallClock, bot_settings, prepare_database, toast

pytestmark = pytest.mark.asyncio

RESET = EntryContent(
    key="oa-reset",
    question="忘记OA密码怎么办？",
    answer="在登录页点“忘记密码”，用手机号收验证码重设。",
)
VPN = EntryContent(key="vpn-apply", question="怎么申请VPN？", answer="在OA提交“VPN开通申请”。")


@pytest.fixture
async def digest_bot(
    emulator: BotApiEmulator, tmp_path: Path, db_url: str
) -> AsyncIterator[RunningBot]:
    """The bot with a small knowledge base, due items ticking every 0.2 s, and the test
    sentence encoder (the digest embeds with whatever the bot's live index uses)."""
    settings = bot_settings(emulator, tmp_path / "data", db_url).with_overrides(
        due_tick_s=0.2, faq_embedder="hash"
    )
    await prepare_database(settings)
    running = RunningBot(settings, emulator, clock=_WallClock())
    await running.start()
    await running.services.knowledge.apply_import(
        write_file([RESET, VPN], "yaml"), "kb.yaml", tg_id=None, publish=True
    )
    try:
        yield running
    finally:
        await running.stop()


async def _log(bot: RunningBot, text: str, *, asker: str) -> None:
    """A question the bot could not answer, logged as the answering service logs it (with
    the entry the engine ranked first), without depending on how the engine scores it."""
    async with bot.services.runtime.detached_uow() as uow:
        await uow.faq.add_question(
            FaqQuestion(
                asked_at=bot.clock(),
                asker=asker,
                locale="zh_CN",
                text=text,
                band="unknown",
                entry_key="oa-reset",
                score=0.3,
            )
        )
        await uow.commit()


async def _fire_digest(bot: RunningBot) -> None:
    """Move the bot's clock past the pending digest: the next tick sends it."""
    async with bot.services.runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(DueItem).where(col(DueItem.kind) == KIND, col(DueItem.done_at).is_(None))
        )
        (item,) = list(rows)
    clock = bot.clock
    assert isinstance(clock, FakeClock)
    clock.advance(item.due_at - clock() + timedelta(minutes=1))


async def test_the_digest_on_a_schedule_add_ignore_and_forged_presses(
    digest_bot: RunningBot, emulator: BotApiEmulator
) -> None:
    bot = digest_bot
    org = Org(bot)
    trainer = await org.phone("trainer;staff", language_code="en", name="王培训")
    clerk = await org.phone("staff", language_code="en", name="张科员")
    # Real traffic: the clerk asks something the knowledge base has nothing on.
    before = clerk.last_message()
    await clerk.command("/ask 食堂几点开饭")
    await clerk.wait_message(after=before, timeout=30)
    for asker in ("a", "b", "c"):
        await _log(bot, "OA密码忘了怎么办", asker=asker)

    await _fire_digest(bot)
    card = await trainer.wait_message(containing="could not answer", timeout=10)
    assert "3 people asked ≈ «OA密码忘了怎么办»" in card.text
    assert "1 person asked ≈ «食堂几点开饭»" in card.text
    labels = [b for row in card.buttons for b in row]
    assert labels[0] == "1. ➕ Add as phrasing of «忘记OA密码怎么办？»"
    assert {"1. 📝 Draft a new entry", "1. 🙈 Ignore", "2. 🙈 Ignore"} <= set(labels)
    assert not [m for m in clerk.messages() if "could not answer" in m.text]

    # The clerk replays the trainer's button data: refused, nothing changes.
    forged = card.callback_data[0][0]
    assert forged is not None and forged.startswith("kd.add:")
    refused = await clerk.press_data(forged, message=clerk.last_message())
    assert "not allowed" in await toast(clerk, refused)
    # The trainer's own forged data: a group that does not exist, and garbage.
    gone = await trainer.press_data("kd.add:99999:1", message=card)
    assert "does not exist" in await toast(trainer, gone)
    bad = await trainer.press_data("kd.add:x:1", message=card)
    assert "not valid" in await toast(trainer, bad)
    assert [c for c, _ in await bot.services.knowledge.published_content()] == [RESET, VPN]

    added = await trainer.press(labels[0], message=card)
    assert "published as version 2" in await toast(trainer, added)
    edited = await trainer.wait_edit(card)
    assert "✅ Added as a phrasing of «忘记OA密码怎么办？» by 王培训." in edited.text
    assert not any(b.startswith("1.") for row in edited.buttons for b in row)
    published = {c.key: (c, v) for c, v in await bot.services.knowledge.published_content()}
    content, version = published["oa-reset"]
    assert version == 2 and content.alternatives == ("OA密码忘了怎么办",)

    ignored = await trainer.press("2. 🙈 Ignore", message=edited)
    assert await toast(trainer, ignored) == "Ignored."
    final = await trainer.wait_edit(edited)
    assert "🙈 Ignored by 王培训." in final.text and final.buttons == []
    # The old card's button again: told it was already handled.
    again = await trainer.press_data(forged, message=final)
    assert "already handled" in await toast(trainer, again)

    await bot.settle()
    async with bot.services.runtime.detached_uow() as uow:
        triage = {q.text: q.triage for q in await uow.session.exec(select(FaqQuestion))}
    assert triage == {"OA密码忘了怎么办": "added", "食堂几点开饭": "ignored"}
    assert emulator.unanswered_callbacks() == []
    assert (await bot.services.audit.verify()).ok
