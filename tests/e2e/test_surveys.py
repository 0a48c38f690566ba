"""Answering a survey in the chat (#8), through the emulator: /survey, the question card with
its progress, skip logic, typed and button answers, a restart in the middle, the submission;
an anonymous survey's card rows keep nothing of the answers once delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.emulator.phones import Phone, SentMessage
from bot.surveys.definitions import shipped_dir
from bot.surveys.publishing import parse_audience
from storage.tables.messaging import OutboxMessage
from tests.e2e.conftest import Org, RunningBot

pytestmark = pytest.mark.asyncio


async def _send_survey(bot: RunningBot, key: str, tg_ids: list[int]) -> int:
    """Published for these people, as `govbot survey publish … --to staff:…` does."""
    text = (shipped_dir() / f"{key}.yaml").read_text(encoding="utf-8")
    async with bot.services.runtime.detached_uow() as uow:
        numbers = [s.employee_no for t in tg_ids if (s := await uow.people.by_telegram_id(t))]
    published = await bot.services.survey_publishing.publish(
        text=text,
        source=f"{key}.yaml",
        audience=parse_audience(",".join(f"staff:{n}" for n in numbers)),
    )
    assert published.messaged == len(tg_ids)
    return published.survey_id


def _labels(message: SentMessage) -> list[str]:
    return [b for row in message.buttons for b in row]


async def _card(phone: Phone, containing: str, after: SentMessage | None = None) -> SentMessage:
    return await phone.wait_message(containing=containing, after=after, timeout=15)


async def test_a_pilot_survey_answered_with_a_restart_in_the_middle(
    bot: RunningBot, org: Org
) -> None:
    me = await org.bound_phone("staff")
    other = await org.bound_phone("staff")
    survey_id = await _send_survey(bot, "pilot_feedback", [me.id])

    invitation = await _card(me, "新问卷：试点使用反馈")
    assert "共7题 · 匿名" in invitation.text and _labels(invitation) == ["▶️ 开始填写"]
    start = me.last_message()
    await me.command("/survey")
    listing = await _card(me, "待您填写的问卷", after=start)
    assert "试点使用反馈 · 匿名" in listing.text
    await me.press("▶️ 开始填写", message=invitation)  # from the invitation itself
    card = await _card(me, "第1/5题", after=listing)
    assert "本问卷为匿名问卷" in card.text  # the welcome
    assert _labels(card) == [str(n) for n in range(11)]  # NPS: two rows, 0–5 and 6–10
    assert [len(r) for r in card.buttons] == [6, 5]

    await me.press("6", message=card)
    card = await me.wait_edit(card, where=lambda m: "第2/6题" in m.text)
    assert "我们最应该改进什么" in card.text and "请直接发送消息作答" in card.text
    await me.send("登录太慢，经常要重新插U-Key")
    card = await _card(me, "第3/6题", after=card)  # below the answer, not above it
    assert _labels(card) == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]
    await me.send("挺好的")  # a rating is a button
    card = await _card(me, "请用问题下方的按钮作答", after=card)
    assert "第3/6题" in card.text

    await bot.restart()  # the process goes away mid-survey

    await me.press("2⭐", message=card)
    card = await me.wait_edit(card, where=lambda m: "第4/6题" in m.text)
    await me.press("⬜ 速度慢", message=card)
    card = await me.wait_edit(card, where=lambda m: "☑️ 速度慢" in " ".join(_labels(m)))
    await me.press("✅ 选好了", message=card)
    card = await me.wait_edit(card, where=lambda m: "第5/6题" in m.text)
    assert "（选答）" in card.text
    await me.press("⏭ 跳过", message=card)
    card = await me.wait_edit(card, where=lambda m: "第6/6题" in m.text)
    await me.press("每周几次", message=card)
    card = await me.wait_edit(card, where=lambda m: "全部6道题已作答" in m.text)
    await me.press("✅ 提交", message=card)
    thanks = await _card(me, "提交成功", after=card)
    assert "匿名保存" in thanks.text
    card = await me.wait_edit(card, where=lambda m: "已提交" in m.text)
    assert card.buttons == []
    await bot.settle()

    async with bot.services.runtime.detached_uow() as uow:
        (response,) = await uow.surveys.responses(survey_id)
        rows = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind).like("survey.%"))
            )
        )
    assert response.answers == {
        "recommend": 6,
        "improve": "登录太慢，经常要重新插U-Key",
        "ease": 2,
        "problems": ["speed"],
        "usage": "weekly",
    }
    # Delivered, every survey message forgot what it showed (the picks, the question).
    assert rows and all(r.status == "sent" and r.facts == {} for r in rows)

    # Answered: it is not offered again; and somebody it was not sent to has none.
    start = me.last_message()
    await me.command("/survey")
    await _card(me, "目前没有需要您填写的问卷", after=start)
    start = other.last_message()
    await other.command("/survey")
    await _card(other, "目前没有需要您填写的问卷", after=start)
    # An old button of the submitted survey changes nothing.
    pressed = await me.press("▶️ 开始填写：试点使用反馈", message=listing)
    assert pressed
    await bot.settle()
    async with bot.services.runtime.detached_uow() as uow:
        assert len(await uow.surveys.responses(survey_id)) == 1


async def test_typed_numbers_and_dates_and_the_menu_item(bot: RunningBot, org: Org) -> None:
    me = await org.bound_phone("staff")
    await _send_survey(bot, "needs_research", [me.id])
    start = me.last_message()
    await me.command("/menu")
    menu = await _card(me, "主菜单", after=start)
    await me.press("📋 问卷与培训", message=menu)
    listing = await _card(me, "待您填写的问卷", after=menu)
    await me.press("▶️ 开始填写：数字化办公需求调研", message=listing)
    card = await _card(me, "第1/8题", after=listing)
    await me.press("办会（会议组织）", message=card)
    card = await me.wait_edit(card, where=lambda m: "第2/8题" in m.text)
    await me.press("⬜ 电子邮件", message=card)
    card = await me.wait_edit(card, where=lambda m: "☑️ 电子邮件" in " ".join(_labels(m)))
    await me.press("✅ 选好了", message=card)
    card = await me.wait_edit(card, where=lambda m: "第3/8题" in m.text)
    for label in ("⬜ 审批流转慢", "⬜ 找文件难", "⬜ 重复填表", "⬜ 用印签章不便"):
        await me.press(label, message=card)
    card = await me.wait_edit(card, where=lambda m: "最多只能选3项" in m.text)
    await me.press("✅ 选好了", message=card)
    card = await me.wait_edit(card, where=lambda m: "第4/8题" in m.text)
    await me.press("报销审批", message=card)
    card = await me.wait_edit(card, where=lambda m: "第5/8题" in m.text)
    await me.send("很多")
    card = await _card(me, "⚠️ 请输入数字", after=card)
    assert "第5/8题" in card.text  # asked again
    await me.send("４０份")
    card = await _card(me, "第6/8题", after=card)
    await me.press("手机", message=card)
    card = await me.wait_edit(card, where=lambda m: "第7/8题" in m.text)
    await me.press("4⭐", message=card)
    card = await me.wait_edit(card, where=lambda m: "第8/10题" in m.text)  # how and when
    await me.press("⬜ 线上视频", message=card)
    card = await me.wait_edit(card, where=lambda m: "☑️ 线上视频" in " ".join(_labels(m)))
    await me.press("✅ 选好了", message=card)
    card = await me.wait_edit(card, where=lambda m: "第9/10题" in m.text)
    await me.send("12月32日")
    card = await _card(me, "⚠️ 日期不存在：12月32日", after=card)
    await me.send("12月20日")
    card = await _card(me, "第10/10题", after=card)
    await me.press("⏭ 跳过", message=card)
    card = await me.wait_edit(card, where=lambda m: "全部10道题已作答" in m.text)
    await me.press("✅ 提交", message=card)
    await _card(me, "感谢您的参与", after=card)
    await bot.settle()
    async with bot.services.runtime.detached_uow() as uow:
        menus = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind) == "menu.main")
            )
        )
    assert menus and all(m.facts for m in menus)  # only survey messages forget theirs
    # Named, and a second submission replaces the first: it is offered again.
    start = me.last_message()
    await me.command("/survey")
    again = await _card(me, "待您填写的问卷", after=start)
    assert "✏️ 重新填写：数字化办公需求调研" in _labels(again)


async def test_a_trainer_publishes_a_survey_file_in_chat(bot: RunningBot, org: Org) -> None:
    trainer = await org.bound_phone("trainer;staff")
    staff = [await org.bound_phone("staff") for _ in range(3)]
    yaml_text = (shipped_dir() / "training_satisfaction.yaml").read_bytes()
    # A mistake in the file: refused with its line, nothing sent.
    start = trainer.last_message()
    broken = yaml_text.replace(b"type: rating", b"type: stars", 1)
    await trainer.upload("train.yaml", broken, caption="/publish all")
    refused = await _card(trainer, "未发布", after=start)
    assert "train.yaml:" in refused.text and "stars" in refused.text
    # An audience naming what does not exist: refused, each named.
    start = trainer.last_message()
    await trainer.upload("train.yaml", yaml_text, caption="/publish dept:档案室,role:x 2026-13-01")
    refused = await _card(trainer, "未发布", after=start)
    assert "“2026-13-01”不是日期" in refused.text
    start = trainer.last_message()
    await trainer.upload("train.yaml", yaml_text, caption="/publish dept:档案室,role:x")
    refused = await _card(trainer, "未发布", after=start)
    assert "没有名为“档案室”的部门" in refused.text and "没有“x”这个角色" in refused.text
    # Plain staff may not publish.
    start = staff[0].last_message()
    await staff[0].upload("train.yaml", yaml_text, caption="/publish all")
    denied = await _card(staff[0], "", after=start)
    assert "未发布" not in denied.text
    # Published for everyone: each gets one invitation, the trainer the count.
    start = trainer.last_message()
    await trainer.upload("train.yaml", yaml_text, caption="/publish all 2099-12-31")
    done = await _card(trainer, "已发布", after=start)
    assert "邀请 4 人，已发送邀请消息 4 人" in done.text
    for phone in staff:
        invitation = await _card(phone, "新问卷：培训满意度调查")
        assert "截止" in invitation.text
    await bot.settle()
    assert all(len([m for m in p.messages() if "新问卷" in m.text]) == 1 for p in staff)
    # The trainer's progress card: drawn at once, redrawn as finished once all are out.
    card = await _card(trainer, "📤")
    assert "共 4 条" in card.text
    if "发送完毕" not in card.text:  # (the bot's own due tick may have redrawn it already)
        bot.clock.advance(timedelta(seconds=20))
        await bot.services.due.tick()
        await bot.settle()
        card = await trainer.wait_edit(card, where=lambda m: "发送完毕" in m.text, timeout=15)
    assert "已送达 4 条，共 4 条" in card.text and "100%" in card.text
