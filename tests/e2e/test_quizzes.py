"""Security quizzes (#8) through the emulator: an invitation, one living card per attempt
(a question at a time, the letters as buttons, right or wrong with the explanation, "下一题"),
a restart in the middle, the score and a certificate; a failed attempt, then a retry that
passes; old and forged buttons refused; results for the security officer in chat."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.emulator.phones import Phone, SentMessage
from bot.quizzes.model import Drawn, Paper
from bot.surveys.publishing import parse_audience
from handlers.render.quizzes import LETTERS
from storage.tables.quizzes import QuizAttempt
from tests.e2e.conftest import Org, RunningBot, toast

pytestmark = pytest.mark.asyncio


async def _open(bot: RunningBot, key: str, phones: list[Phone]) -> int:
    async with bot.services.runtime.detached_uow() as uow:
        numbers = [s.employee_no for p in phones if (s := await uow.people.by_telegram_id(p.id))]
    opened = await bot.services.quiz_campaigns.open(
        quiz_key=key, audience=parse_audience(",".join(f"staff:{n}" for n in numbers))
    )
    assert opened.messaged == len(phones)
    return opened.campaign_id


async def _attempt(bot: RunningBot, phone: Phone) -> tuple[QuizAttempt, Paper]:
    async with bot.services.runtime.detached_uow() as uow:
        staff = await uow.people.by_telegram_id(phone.id)
        assert staff is not None
        rows = await uow.session.exec(
            select(QuizAttempt)
            .where(col(QuizAttempt.staff_id) == staff.id)
            .order_by(col(QuizAttempt.id).desc())
        )
        attempt = rows.first()
        assert attempt is not None
        campaign = await uow.quizzes.get(attempt.campaign_id)
        assert campaign is not None
        return attempt, Paper.from_json(campaign.paper)


async def _letter(bot: RunningBot, phone: Phone, position: int, *, right: bool) -> str:
    """The button to press at ``position``: the right option, or a wrong one."""
    attempt, paper = await _attempt(bot, phone)
    item = Drawn.from_json(attempt.drawn[position])
    question = paper.question(item.key)
    assert question is not None
    shown = item.order.index(question.correct)
    return LETTERS[shown if right else (shown + 1) % len(item.order)]


async def _answer(
    bot: RunningBot, phone: Phone, card: SentMessage, position: int, total: int, *, right: bool
) -> SentMessage:
    """Answer the question on the card and check what it then shows."""
    assert f"第{position + 1}/{total}题" in card.text
    letter = await _letter(bot, phone, position, right=right)
    await phone.press(letter, message=card)
    card = await phone.wait_edit(card, where=lambda m: "💡 解析" in m.text)
    if right:
        assert "✅ 回答正确" in card.text
    else:
        assert "❌ 回答错误，正确答案是" in card.text
    return card


async def _next(phone: Phone, card: SentMessage, position: int, total: int) -> SentMessage:
    await phone.press("下一题 ▶️", message=card)
    return await phone.wait_edit(card, where=lambda m: f"第{position + 2}/{total}题" in m.text)


async def test_a_quiz_passed_with_a_restart_in_the_middle_and_a_certificate(
    bot: RunningBot, org: Org
) -> None:
    me = await org.bound_phone("staff")
    other = await org.bound_phone("staff")
    await _open(bot, "security_basics", [me])

    invitation = await me.wait_message(containing="保密安全测试：保密安全知识测试", timeout=15)
    assert "共10题" in invitation.text and "80分合格" in invitation.text
    assert "实名" in invitation.text
    await me.press("▶️ 开始答题", message=invitation)
    card = await me.wait_message(containing="第1/10题", after=invitation, timeout=15)
    assert [b for row in card.buttons for b in row][:2] == ["A", "B"]
    assert "A．" in card.text and "B．" in card.text  # the options in full, in the text

    for position in range(4):
        card = await _answer(bot, me, card, position, 10, right=True)
        card = await _next(me, card, position, 10)

    attempt, _ = await _attempt(bot, me)
    # An old button (question 1 again) and someone else's press change nothing.
    pressed = await me.press_data(f"qz.ans:{attempt.id}:1", message=card)
    assert await toast(me, pressed) == "此卡片已过时，请重新打开。"
    await other.command("/quiz")
    nothing = await other.wait_message(containing="暂无待完成的测试", timeout=15)
    pressed = await other.press_data(f"qz.ans:{attempt.id}:{4 * 16}", message=nothing)
    assert await toast(other, pressed) == "该按钮无效，请使用 /menu。"
    pressed = await me.press_data(f"qz.ans:{attempt.id}:{4 * 16 + 12}", message=card)
    assert await toast(me, pressed) == "该按钮无效，请使用 /menu。"  # no option M

    await bot.restart()  # the process goes away mid-quiz: the answers are in the database

    start = me.last_message()
    await me.command("/quiz")
    listing = await me.wait_message(containing="您的测试", after=start, timeout=15)
    await me.press("▶️ 继续答题：保密安全知识测试", message=listing)
    card = await me.wait_message(containing="第5/10题", after=listing, timeout=15)
    for position in range(4, 10):
        card = await _answer(bot, me, card, position, 10, right=position != 9)
        if position < 9:
            card = await _next(me, card, position, 10)
    assert "答题结束：答对 9/10 题，得分 90" in card.text and not card.buttons

    result = await me.wait_message(containing="已通过", after=card, timeout=15)
    assert "90分（答对9/10题），80分合格" in result.text
    certificate = await me.wait_message(containing="测试合格证明", after=card, timeout=15)
    finished, _ = await _attempt(bot, me)
    assert finished.certificate_no and f"编号：{finished.certificate_no}" in certificate.text
    assert "科室：办公室" in certificate.text and "成绩：90分" in certificate.text
    assert "测试：保密安全知识测试" in certificate.text and "姓名：员工1" in certificate.text
    assert bot.emulator.unanswered_callbacks() == []


async def test_a_failed_attempt_then_a_retry_that_passes(bot: RunningBot, org: Org) -> None:
    me = await org.bound_phone("staff")
    await _open(bot, "classified_chat", [me])
    invitation = await me.wait_message(containing="涉密信息不上聊天工具", timeout=15)
    await me.press("▶️ 开始答题", message=invitation)
    card = await me.wait_message(containing="第1/5题", after=invitation, timeout=15)
    for position in range(5):
        card = await _answer(bot, me, card, position, 5, right=position != 2)
        if position < 4:
            card = await _next(me, card, position, 5)
    result = await me.wait_message(containing="本次未通过", after=card, timeout=15)
    assert "80分（答对4/5题），100分合格" in result.text
    assert not [m for m in me.messages() if "测试合格证明" in m.text]
    first, _ = await _attempt(bot, me)

    await me.press("🔄 重新作答", message=result)
    card = await me.wait_message(containing="第1/5题", after=result, timeout=15)
    second, _ = await _attempt(bot, me)
    assert (second.number, second.id != first.id) == (2, True)
    for position in range(5):
        card = await _answer(bot, me, card, position, 5, right=True)
        if position < 4:
            card = await _next(me, card, position, 5)
    await me.wait_message(containing="已通过", after=card, timeout=15)
    await me.wait_message(containing="测试合格证明", after=card, timeout=15)
    start = me.last_message()
    await me.press("🔄 重新作答", message=result)  # the old retry button: passed already
    await bot.settle()
    assert any("您已通过该测试" in (t.text or "") for t in me.toasts())
    assert me.last_message() == start


async def test_the_security_officer_opens_a_campaign_and_reads_the_results(
    bot: RunningBot, org: Org
) -> None:
    officer = await org.bound_phone("staff,security")
    staff = await org.bound_phone("staff")
    start = staff.last_message()
    await staff.command("/quiz campaign classified_chat all")
    refused = await staff.wait_message(containing="您无权进行此操作", after=start, timeout=15)
    await bot.settle()
    assert staff.last_message() == refused  # plain staff may not: nothing else sent

    await officer.command("/quiz campaign classified_chat all 2099-12-31")
    opened = await officer.wait_message(containing="已发布", timeout=15)
    assert "应测 2 人" in opened.text
    progress = await officer.wait_message(containing="📤", timeout=15)  # the invitations' card
    assert "共 2 条" in progress.text
    invitation = await staff.wait_message(containing="涉密信息不上聊天工具", timeout=15)
    await staff.press("▶️ 开始答题", message=invitation)
    card = await staff.wait_message(containing="第1/5题", after=invitation, timeout=15)
    for position in range(5):
        card = await _answer(bot, staff, card, position, 5, right=position != 0)
        if position < 4:
            card = await _next(staff, card, position, 5)
    await staff.wait_message(containing="本次未通过", after=card, timeout=15)

    attempt, _ = await _attempt(bot, staff)
    before = officer.last_message()
    await officer.command(f"/quiz results {attempt.campaign_id}")
    report = await officer.wait_message(containing="合格 0 人，参测 1 人，应测 2 人", after=before)
    assert "办公室: 0/1/2, 0%" in report.text
    assert "错误率100%（1/1）" in report.text
    await staff.command(f"/quiz results {attempt.campaign_id}")
    await bot.settle()
    assert not [m for m in staff.messages() if "错误率" in m.text]
