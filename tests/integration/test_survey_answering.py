"""Answering a survey one question at a time (#8, reference item 19), on SQLite and
PostgreSQL: saved after every answer, resumed by a new process where it stopped, skip logic,
typed answers read like the approval forms read them, and the submission."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.approvals.forms import FieldInputError
from bot.clock import FakeClock
from bot.errors import StaleCardError
from bot.runtime import Runtime
from bot.surveys.answering import AlreadyDoneError, SurveyAnswering
from bot.surveys.definitions import shipped_dir
from bot.surveys.responses import NotInvitedError
from storage.tables.people import Staff
from storage.tables.surveys import Survey as SurveyRow

SHANGHAI = ZoneInfo("Asia/Shanghai")


class _Process:
    """One bot process's SurveyAnswering, each call in its own committed unit of work (as
    each update is), nothing committed when it raises."""

    def __init__(self, runtime: Runtime, clock: FakeClock) -> None:
        self._runtime, self._clock = runtime, clock
        self._answering = SurveyAnswering(tz=SHANGHAI)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._answering, name)

        async def call(**kwargs: Any) -> Any:
            async with self._runtime.uow() as uow:
                result = await method(uow, now=self._clock(), **kwargs)
                await uow.commit()
                return result

        return call


async def _person(runtime: Runtime, clock: FakeClock, tg: int) -> int:
    async with runtime.detached_uow() as uow:
        dept = (await uow.people.departments_by_name()).get("办公室")
        if dept is None:
            dept = await uow.people.add_department("办公室", now=clock())
        row = await uow.people.add(
            Staff(
                employee_no=f"E{tg}",
                name=f"员工{tg}",
                department_id=dept.id,
                telegram_id=tg,
                language="zh_CN",
                created_at=clock(),
                updated_at=clock(),
            )
        )
        await uow.commit()
        assert row.id is not None
        return row.id


async def _open(runtime: Runtime, clock: FakeClock, key: str, people: list[int]) -> int:
    text = (shipped_dir() / f"{key}.yaml").read_text(encoding="utf-8")
    async with runtime.detached_uow() as uow:
        row = await uow.surveys.add(
            SurveyRow(
                key=key,
                title=key,
                definition=text,
                anonymous=key != "needs_research",
                status="open",
                audience={"staff": people},
                created_at=clock(),
            )
        )
        assert row.id is not None
        await uow.surveys.invite(row.id, people, now=clock())
        await uow.commit()
        return row.id


async def test_three_answers_then_a_restart_resumes_at_the_fourth(
    runtime: Runtime, clock: FakeClock
) -> None:
    me = await _person(runtime, clock, 301)
    survey_id = await _open(runtime, clock, "needs_research", [me])
    bot = _Process(runtime, clock)
    step = await bot.begin(staff_id=me, survey_id=survey_id)
    assert step.fresh and step.welcome is not None and "5分钟" in step.welcome.zh_CN
    assert step.question is not None and step.question.key == "work_area"
    assert (step.position, step.total) == (1, 8)  # training questions not asked yet
    step = await bot.answer(
        staff_id=me, survey_id=survey_id, question="work_area", choice="meetings"
    )
    assert step.question is not None and step.question.key == "tools_now"
    for choice in ("paper", "email", "paper", "legacy_oa"):  # paper picked, then unpicked
        step = await bot.toggle(
            staff_id=me, survey_id=survey_id, question="tools_now", choice=choice
        )
    assert step.picked == frozenset({"email", "legacy_oa"})
    step = await bot.done_picking(staff_id=me, survey_id=survey_id, question="tools_now")
    for choice in ("slow_approval", "seals", "mobile"):
        await bot.toggle(staff_id=me, survey_id=survey_id, question="pain_points", choice=choice)
    with pytest.raises(FieldInputError) as too_many:
        await bot.toggle(
            staff_id=me, survey_id=survey_id, question="pain_points", choice="find_files"
        )
    assert too_many.value.code == "too_many_choices"
    step = await bot.done_picking(staff_id=me, survey_id=survey_id, question="pain_points")
    assert step.question is not None and step.question.key == "first_module"

    restarted = _Process(runtime, clock)  # a new process: nothing in memory
    step = await restarted.begin(staff_id=me, survey_id=survey_id)
    assert not step.fresh and step.question is not None and step.question.key == "first_module"
    assert (step.position, step.total) == (4, 8)
    with pytest.raises(StaleCardError):  # a button of an earlier question
        await restarted.answer(
            staff_id=me, survey_id=survey_id, question="work_area", choice="documents"
        )
    step = await restarted.answer(
        staff_id=me, survey_id=survey_id, question="first_module", choice="expenses"
    )
    with pytest.raises(FieldInputError) as not_number:
        await restarted.answer(
            staff_id=me, survey_id=survey_id, question="daily_documents", text="很多"
        )
    assert not_number.value.code == "not_a_number"
    with pytest.raises(FieldInputError) as too_big:
        await restarted.answer(
            staff_id=me, survey_id=survey_id, question="daily_documents", text="20000"
        )
    assert too_big.value.code == "above_max"
    step = await restarted.answer(
        staff_id=me, survey_id=survey_id, question="daily_documents", text="４０份"
    )
    step = await restarted.answer(
        staff_id=me, survey_id=survey_id, question="device", choice="phone"
    )
    with pytest.raises(FieldInputError):
        await restarted.answer(staff_id=me, survey_id=survey_id, question="training_need", score=6)
    step = await restarted.answer(
        staff_id=me, survey_id=survey_id, question="training_need", text="４"
    )
    assert step.question is not None and step.question.key == "training_format"
    assert step.total == 10  # a need of 4 asks how and when
    with pytest.raises(FieldInputError):  # required: nothing picked
        await restarted.done_picking(staff_id=me, survey_id=survey_id, question="training_format")
    await restarted.toggle(
        staff_id=me, survey_id=survey_id, question="training_format", choice="video"
    )
    await restarted.done_picking(staff_id=me, survey_id=survey_id, question="training_format")
    with pytest.raises(StaleCardError):  # not done yet
        await restarted.submit(staff_id=me, survey_id=survey_id)
    step = await restarted.answer(
        staff_id=me, survey_id=survey_id, question="training_date", text="12月20日"
    )
    step = await restarted.skip(staff_id=me, survey_id=survey_id, question="comments")
    assert step.question is None and step.position == step.total == 10
    submitted = await restarted.submit(staff_id=me, survey_id=survey_id)
    assert "感谢" in submitted.closing.zh_CN
    async with runtime.detached_uow() as uow:
        (response,) = await uow.surveys.responses(survey_id)
        assert await uow.surveys.draft(survey_id, me) is None
    assert response.answers == {
        "work_area": "meetings",
        "tools_now": ["email", "legacy_oa"],
        "pain_points": ["mobile", "seals", "slow_approval"],
        "first_module": "expenses",
        "daily_documents": "40",
        "device": "phone",
        "training_need": 4,
        "training_format": ["video"],
        "training_date": date(2026, 12, 20).isoformat(),
    }
    # A named survey that replaces: the person may answer again, from the start.
    clock.advance(timedelta(days=1))
    again = await restarted.begin(staff_id=me, survey_id=survey_id)
    assert again.fresh and again.question is not None and again.question.key == "work_area"


async def test_an_nps_of_six_asks_what_to_improve_and_a_second_go_is_refused(
    runtime: Runtime, clock: FakeClock
) -> None:
    me, other = await _person(runtime, clock, 401), await _person(runtime, clock, 402)
    survey_id = await _open(runtime, clock, "pilot_feedback", [me])
    bot = _Process(runtime, clock)
    with pytest.raises(NotInvitedError):
        await bot.begin(staff_id=other, survey_id=survey_id)
    await bot.begin(staff_id=me, survey_id=survey_id)
    step = await bot.answer(staff_id=me, survey_id=survey_id, question="recommend", score=6)
    assert step.question is not None and step.question.key == "improve"
    with pytest.raises(FieldInputError) as required:
        await bot.skip(staff_id=me, survey_id=survey_id, question="improve")
    assert required.value.code == "required"
    await bot.answer(staff_id=me, survey_id=survey_id, question="improve", text="登录太慢")
    await bot.answer(staff_id=me, survey_id=survey_id, question="ease", score=2)
    await bot.toggle(staff_id=me, survey_id=survey_id, question="problems", choice="login")
    await bot.done_picking(staff_id=me, survey_id=survey_id, question="problems")
    await bot.answer(staff_id=me, survey_id=survey_id, question="problem_detail", text="U-Key")
    await bot.answer(staff_id=me, survey_id=survey_id, question="usage", choice="weekly")
    await bot.submit(staff_id=me, survey_id=survey_id)
    with pytest.raises(AlreadyDoneError):
        await bot.begin(staff_id=me, survey_id=survey_id)
    async with runtime.detached_uow() as uow:
        (response,) = await uow.surveys.responses(survey_id)
    assert response.answers["recommend"] == 6 and response.answers["improve"] == "登录太慢"
