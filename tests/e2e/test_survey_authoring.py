"""Writing a survey in the chat (/newsurvey, #8) through the emulator: every step, typing
mistakes answered with the reason, the YAML download, an audience checked as it is typed,
publishing to staff who then get the invitation and its questions; plain staff refused,
stale buttons refused, and a restart in the middle of writing loses nothing."""

from __future__ import annotations

import pytest

from bot.emulator.phones import Phone, SentMessage
from bot.surveys.definitions import parse_survey
from bot.surveys.model import QuestionKind
from tests.e2e.conftest import Org, RunningBot, toast

pytestmark = pytest.mark.asyncio


async def _step(phone: Phone, containing: str, after: SentMessage | None) -> SentMessage:
    """The authoring card once it asks ``containing`` (a new card, or the card edited)."""
    return await phone.wait_message(
        where=lambda m: "新建问卷" in m.text and containing in m.text, after=after, timeout=15
    )


async def test_a_trainer_writes_and_publishes_a_survey_in_the_chat(
    bot: RunningBot, org: Org
) -> None:
    trainer = await org.bound_phone("trainer;staff")
    staff = [await org.bound_phone("staff") for _ in range(2)]

    # Plain staff may not write one.
    before = staff[0].last_message()
    await staff[0].command("/newsurvey")
    denied = await staff[0].wait_message(after=before, timeout=15)
    assert "新建问卷" not in denied.text

    start = trainer.last_message()
    await trainer.command("/newsurvey")
    card = await _step(trainer, "请发送问卷标题", start)
    await trainer.send("   ")  # empty: asked again, with the reason
    card = await _step(trainer, "内容为空", card)
    await trainer.send("办公系统试用反馈 | Office system trial")
    card = await _step(trainer, "匿名还是实名", card)
    assert "办公系统试用反馈" in card.text
    stale_anonymous = card  # a typed answer below moves the card down: this one stays behind
    await trainer.send("匿名")  # typed where a button is wanted
    card = await _step(trainer, "请使用本步骤的按钮", card)
    await trainer.press("🕶 匿名", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "欢迎语" in m.text, timeout=15)
    await trainer.press("跳过", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 1 题" in m.text, timeout=15)

    # A single-choice question: the text, then the choices (a duplicate refused first).
    await trainer.press("单选题", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 1 题的题目" in m.text, timeout=15)
    await trainer.send("您多久使用一次新系统？")
    card = await _step(trainer, "每行一个", card)
    await trainer.send("每天\n每天")
    card = await _step(trainer, "有两个选项相同", card)
    await trainer.send("每天 | Daily\n每周几次 | Weekly\n很少 | Rarely")
    card = await _step(trainer, "是否必答", card)
    await trainer.press("必答", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 2 题" in m.text, timeout=15)
    assert "1. 您多久使用一次新系统？" in card.text and "3 个选项" in card.text

    # A rating, optional; then a text question dropped half way.
    await trainer.press("评分 1–5", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 2 题的题目" in m.text, timeout=15)
    await trainer.send("总体满意度 | Overall satisfaction")
    card = await _step(trainer, "是否必答", card)
    await trainer.press("选答", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 3 题" in m.text, timeout=15)
    await trainer.press("文字题", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 3 题的题目" in m.text, timeout=15)

    # The bot restarts while the trainer is writing: the draft is where it was.
    await bot.restart()
    await trainer.press("◀️ 放弃本题", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "第 3 题：" in m.text, timeout=15)
    assert "2. 总体满意度" in card.text and "3." not in card.text

    # A button of an older step is refused; nothing changes.
    pressed = await trainer.press("🕶 匿名", message=stale_anonymous)
    assert "按钮" in await toast(trainer, pressed)
    await bot.settle()
    assert trainer.messages()[-1].versions[-1] == card.text  # the draft is unchanged

    # The YAML so far, as a file: the same survey the parser reads.
    before = trainer.last_message()
    await trainer.press("📄 导出 YAML", message=card)
    file = await trainer.wait_message(where=lambda m: m.document is not None, after=before)
    assert file.document is not None
    survey = parse_survey(file.document.read().decode("utf-8"), source="survey.yaml")
    assert survey.anonymous and survey.title.en == "Office system trial"
    assert [q.kind for q in survey.questions] == [QuestionKind.SINGLE, QuestionKind.RATING]
    assert [c.label.en for c in survey.questions[0].choices] == ["Daily", "Weekly", "Rarely"]
    assert survey.questions[0].required and not survey.questions[1].required

    await trainer.press("✅ 题目已添加完毕", message=card)
    card = await trainer.wait_edit(card, where=lambda m: "结束语" in m.text, timeout=15)
    await trainer.send("谢谢您的反馈！")
    card = await _step(trainer, "发给谁", card)
    await trainer.send("dept:不存在的处,role:nobody")
    card = await _step(trainer, "没有名为“不存在的处”的部门", card)
    assert "没有“nobody”这个角色" in card.text
    await trainer.send("all")
    card = await _step(trainer, "截止日期", card)
    await trainer.send("2020-01-01")
    card = await _step(trainer, "已经过去了", card)
    await trainer.press("不设截止日期，直接发布", message=card)
    await trainer.wait_edit(card, where=lambda m: "已发布" in m.text, timeout=15)
    await trainer.wait_message(containing="邀请 3 人", timeout=15)

    # Staff get the invitation and the questions as written.
    for phone in staff:
        invitation = await phone.wait_message(containing="新问卷：办公系统试用反馈", timeout=15)
        assert "匿名" in invitation.text
    invitation = await staff[0].wait_message(containing="新问卷：办公系统试用反馈")
    await staff[0].press("▶️ 开始填写", message=invitation)
    question = await staff[0].wait_message(containing="您多久使用一次新系统？", after=invitation)
    assert ["每天"] in question.buttons and ["很少"] in question.buttons
