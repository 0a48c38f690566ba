"""A course that ends with a quiz (#8), wired end to end: publishing the course opens the
quiz for the same people without a message of its own; the last lesson leads to the quiz
with a button; passing it completes the course."""

from __future__ import annotations

import pytest

from bot.courses.definitions import CourseError, shipped_dir
from bot.surveys.publishing import parse_audience
from tests.e2e.conftest import Org, RunningBot
from tests.e2e.test_quizzes import _answer, _next

pytestmark = pytest.mark.asyncio

SHIPPED = shipped_dir() / "digital_office.yaml"


def _with_quiz(key: str) -> str:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "    media: {document: help_contacts.txt}\n", ""
    )
    return text.replace("key: digital_office\n", f"key: digital_office\nquiz: {key}\n", 1)


async def test_the_last_lesson_leads_to_the_quiz_and_passing_it_completes_the_course(
    bot: RunningBot, org: Org
) -> None:
    me = await org.bound_phone("staff")
    async with bot.services.runtime.detached_uow() as uow:
        staff = await uow.people.by_telegram_id(me.id)
    assert staff is not None
    publishing = bot.services.course_publishing
    with pytest.raises(CourseError, match="no_such_quiz"):  # checked, nothing written
        await publishing.publish(
            text=_with_quiz("no_such_quiz"),
            source="course.yaml",
            audience=parse_audience(f"staff:{staff.employee_no}"),
            due_on=publishing.local_today().replace(year=2099),
        )
    async with bot.services.runtime.detached_uow() as uow:
        assert list(await uow.courses.all()) == []
    await publishing.publish(
        text=_with_quiz("classified_chat"),
        source="course.yaml",
        audience=parse_audience(f"staff:{staff.employee_no}"),
        due_on=publishing.local_today().replace(year=2099),
    )
    invitation = await me.wait_message(containing="新培训课程", timeout=15)
    await me.press("▶️ 开始学习", message=invitation)
    card = await me.wait_message(containing="第1/6课", after=invitation, timeout=15)
    for number in range(2, 7):
        await me.press("下一课 ▶️", message=card)
        card = await me.wait_message(containing=f"第{number}/6课", after=card, timeout=15)
    await me.press("✅ 完成课程", message=card)
    due = await me.wait_message(containing="涉密信息不上聊天工具", after=card, timeout=15)
    await bot.settle()
    # The quiz came with the course: no invitation of its own.
    assert not any("保密安全测试：" in m.text for m in me.messages())

    await me.press("📝 参加测验", message=due)
    quiz = await me.wait_message(containing="第1/5题", after=due, timeout=15)
    for position in range(5):
        quiz = await _answer(bot, me, quiz, position, 5, right=True)
        if position < 4:
            quiz = await _next(me, quiz, position, 5)
    await me.wait_message(containing="已通过", after=quiz, timeout=15)
    done = await me.wait_message(containing="课程已完成", after=quiz, timeout=15)
    assert "政务办公系统上线培训" in done.text
    async with bot.services.runtime.detached_uow() as uow:
        (course,) = list(await uow.courses.all())
        assert course.id is not None
        assignment = await uow.courses.assignment_of(course.id, staff.id or 0)
    assert assignment is not None and assignment.completed_at is not None
    assert assignment.quiz_passed_at is not None
