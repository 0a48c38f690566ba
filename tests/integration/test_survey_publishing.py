"""Publishing a survey (#8) on SQLite and PostgreSQL: the audience written as people say it,
resolved to active staff, all checked before anything is written; one invitation each, at
broadcast priority, never twice; who may publish; the survey's window."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select

from bot.clock import FakeClock
from bot.errors import PermissionDeniedError
from bot.runtime import Runtime
from bot.surveys.answering import SurveyAnswering
from bot.surveys.definitions import SurveyError, shipped_dir
from bot.surveys.publishing import (
    INVITE_KIND,
    Audience,
    AudienceError,
    SurveyPublishing,
    parse_audience,
)
from bot.surveys.responses import SurveyClosedError
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.tables.people import Staff
from storage.tables.surveys import Survey as SurveyRow

PILOT = (shipped_dir() / "pilot_feedback.yaml").read_text(encoding="utf-8")


async def _office(runtime: Runtime, clock: FakeClock) -> dict[str, int]:
    """办公室: 3 people; 财务处: 2, one not on Telegram; a trainer in 培训处; one who left."""
    people = [
        ("E1", "办公室", 601, ["staff"], True),
        ("E2", "办公室", 602, ["staff"], True),
        ("E3", "办公室", 603, ["staff", "dept_head"], True),
        ("E4", "财务处", 604, ["staff", "finance"], True),
        ("E5", "财务处", None, ["staff"], True),
        ("E6", "培训处", 606, ["staff", "trainer"], True),
        ("E7", "办公室", 607, ["staff"], False),
    ]
    ids = {}
    async with runtime.detached_uow() as uow:
        depts = {}
        for name in ("办公室", "财务处", "培训处"):
            depts[name] = await uow.people.add_department(name, now=clock())
        for number, dept, tg, roles, active in people:
            row = await uow.people.add(
                Staff(
                    employee_no=number,
                    name=f"员工{number}",
                    department_id=depts[dept].id,
                    telegram_id=tg,
                    language="zh_CN",
                    active=active,
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            assert row.id is not None
            await uow.people.set_roles(row.id, roles)
            ids[number] = row.id
        await uow.commit()
    return ids


def test_audiences_as_people_write_them() -> None:
    assert parse_audience("all") == Audience(everyone=True)
    assert parse_audience("全体") == Audience(everyone=True)
    assert parse_audience("dept:办公室，role:trainer, staff:E5,dept:办公室") == Audience(
        False, ("办公室",), ("trainer",), ("E5",)
    )
    with pytest.raises(AudienceError) as bad:
        parse_audience("办公室, team:x, role:")
    assert bad.value.problems == [("syntax", "办公室"), ("syntax", "team:x"), ("syntax", "role:")]
    with pytest.raises(AudienceError) as empty:
        parse_audience(" , ")
    assert empty.value.problems[0][0] == "empty"


async def _counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.detached_uow() as uow:
        surveys = (await uow.session.exec(select(func.count()).select_from(SurveyRow))).one()
        invites = (
            await uow.session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.kind) == INVITE_KIND)
            )
        ).one()
    return int(surveys), int(invites)


async def test_publish_invites_the_audience_once_each(runtime: Runtime, clock: FakeClock) -> None:
    ids = await _office(runtime, clock)
    publishing = SurveyPublishing(runtime, default_locale="zh_CN")
    published = await publishing.publish(
        text=PILOT,
        source="pilot.yaml",
        audience=parse_audience("dept:办公室,dept:财务处,role:trainer,staff:E3"),
        closes_at=clock() + timedelta(days=7),
    )
    # 办公室's three active (E7 left), 财务处's two (E5 not on Telegram), the trainer.
    assert published.invited == 6 and published.messaged == 5
    assert published.unreachable == ["员工E5"]
    async with runtime.detached_uow() as uow:
        rows = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind) == INVITE_KIND)
            )
        )
        invitations = await uow.surveys.completion_by_department(published.survey_id)
        row = await uow.surveys.get(published.survey_id)
    assert sorted(r.staff_id for r in rows) == sorted(
        ids[n] for n in ("E1", "E2", "E3", "E4", "E6")
    )
    assert all(r.priority == PRIORITY_BROADCAST for r in rows)  # behind interactive replies
    assert rows[0].facts["questions"] == 7 and rows[0].facts["anonymous"] is True
    assert sum(total for _, total in invitations.values()) == 6
    assert row is not None and row.anonymous and row.status == "open"
    # The invitation rows carry a key per person: queued again, nothing is added.
    async with runtime.detached_uow() as uow:
        for r in rows:
            await uow.outbox.add(
                chat_id=r.chat_id,
                kind=INVITE_KIND,
                now=clock(),
                facts={},
                dedupe_key=r.dedupe_key,
            )
        await uow.commit()
    assert await _counts(runtime) == (1, 5)


async def test_nothing_is_written_for_a_bad_audience_or_definition(
    runtime: Runtime, clock: FakeClock
) -> None:
    await _office(runtime, clock)
    publishing = SurveyPublishing(runtime, default_locale="zh_CN")
    with pytest.raises(AudienceError) as bad:
        await publishing.publish(
            text=PILOT,
            source="pilot.yaml",
            audience=parse_audience("dept:档案室,role:wizard,staff:E9,staff:E7,dept:办公室"),
        )
    assert bad.value.problems == [
        ("department", "档案室"),
        ("role", "wizard"),
        ("staff", "E9"),
        ("staff", "E7"),  # no longer active
    ]
    with pytest.raises(SurveyError):
        await publishing.publish(
            text=PILOT.replace("type: nps", "type: slider"),
            source="pilot.yaml",
            audience=Audience(everyone=True),
        )
    with pytest.raises(AudienceError) as window:
        await publishing.publish(
            text=PILOT,
            source="pilot.yaml",
            audience=Audience(everyone=True),
            opens_at=clock() + timedelta(days=2),
            closes_at=clock() + timedelta(days=1),
        )
    assert window.value.problems[0][0] == "window"
    assert await _counts(runtime) == (0, 0)


async def test_who_may_publish_and_a_survey_that_opens_later(
    runtime: Runtime, clock: FakeClock
) -> None:
    ids = await _office(runtime, clock)
    publishing = SurveyPublishing(runtime, default_locale="zh_CN")
    with pytest.raises(PermissionDeniedError):
        await publishing.publish(
            text=PILOT, source="p.yaml", audience=Audience(everyone=True), tg_id=601
        )
    opens = clock() + timedelta(hours=2)
    published = await publishing.publish(
        text=PILOT, source="p.yaml", audience=Audience(everyone=True), tg_id=606, opens_at=opens
    )
    assert published.invited == 6
    async with runtime.detached_uow() as uow:
        rows = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind) == INVITE_KIND)
            )
        )
        survey = await uow.surveys.get(published.survey_id)
    assert all(r.not_before == opens for r in rows)  # invitations wait for the opening
    assert survey is not None and survey.created_by == ids["E6"]
    answering = SurveyAnswering(tz=ZoneInfo("Asia/Shanghai"))
    async with runtime.uow() as uow:
        with pytest.raises(SurveyClosedError):  # not open yet
            await answering.begin(
                uow, staff_id=ids["E1"], survey_id=published.survey_id, now=clock()
            )
    clock.advance(timedelta(hours=2))
    async with runtime.uow() as uow:
        step = await answering.begin(
            uow, staff_id=ids["E1"], survey_id=published.survey_id, now=clock()
        )
        assert step.question is not None and step.question.key == "recommend"
