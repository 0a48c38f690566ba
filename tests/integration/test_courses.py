"""Training courses (#8) on SQLite and PostgreSQL: publishing to an audience (one assignment
and one invitation each, never twice; who may; nothing written for a bad file), taking a course
lesson by lesson with old and forged buttons refused, completion by department, reminders only
to those not done and never in quiet hours, the quiz hook, and a lesson file uploaded once."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.courses.definitions import CourseError, shipped_dir
from bot.courses.demo import publish_demo_course
from bot.courses.model import LessonStaleError
from bot.courses.publishing import INVITE_KIND, REFUSED_KIND, CoursePublishing
from bot.courses.reminders import REMIND_KIND, CourseReminders
from bot.courses.services import (
    CLOSED_KIND,
    DONE_KIND,
    LESSON_KIND,
    QUIZ_DUE_KIND,
    REPORT_KIND,
    CourseService,
    NotAssignedError,
    gather,
    to_csv,
)
from bot.errors import PermissionDeniedError
from bot.messaging.services import DeliveryService
from bot.quiet import QuietHours
from bot.runtime import Runtime
from bot.scheduling import DueService
from bot.surveys.publishing import Audience, AudienceError, parse_audience
from storage.tables.courses import Course as CourseRow
from storage.tables.courses import CourseAssignment
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.tables.people import Staff
from storage.uow import UnitOfWork

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(22, 0), time(8, 0))
SHIPPED = (shipped_dir() / "digital_office.yaml").read_text(encoding="utf-8")
QUIZ_COURSE = """\
key: with_quiz
title: {zh_CN: 带测验的课程, en: A course with a quiz}
quiz: office_quiz
lessons:
  - title: {zh_CN: 一, en: One}
    body: {zh_CN: 第一课, en: Lesson one}
  - title: {zh_CN: 二, en: Two}
    body: {zh_CN: 第二课, en: Lesson two}
"""
DUE = date(2026, 12, 20)  # the clock starts 2026-12-01 09:00 in Shanghai


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


async def _rows(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        found = await uow.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.kind) == kind)
            .order_by(col(OutboxMessage.id))
        )
        return list(found)


async def _assignment(runtime: Runtime, course_id: int, staff_id: int) -> CourseAssignment:
    async with runtime.detached_uow() as uow:
        found = await uow.courses.assignment_of(course_id, staff_id)
    assert found is not None
    return found


def _publishing(runtime: Runtime) -> CoursePublishing:
    return CoursePublishing(runtime, default_locale="zh_CN", tz=SHANGHAI)


async def test_publish_assigns_and_invites_once_each(runtime: Runtime, clock: FakeClock) -> None:
    ids = await _office(runtime, clock)
    published = await _publishing(runtime).publish(
        text=SHIPPED,
        source="digital_office.yaml",
        audience=parse_audience("dept:办公室,dept:财务处,role:trainer"),
        due_on=DUE,
        base_dir=shipped_dir(),
    )
    assert (published.assigned, published.messaged) == (6, 5)
    assert published.unreachable == ["员工E5"]
    rows = await _rows(runtime, INVITE_KIND)
    assert sorted(r.staff_id for r in rows) == sorted(
        ids[n] for n in ("E1", "E2", "E3", "E4", "E6")
    )
    assert all(r.priority == PRIORITY_BROADCAST and r.ref_id == published.course_id for r in rows)
    assert rows[0].facts["lessons"] == 6
    async with runtime.detached_uow() as uow:
        course = await uow.courses.get(published.course_id)
        media = await uow.courses.media_of(published.course_id, 5)
        for r in rows:  # queued again (a restart): the dedupe keys add nothing
            await uow.outbox.add(
                chat_id=r.chat_id, kind=INVITE_KIND, now=clock(), dedupe_key=r.dedupe_key
            )
        await uow.commit()
    assert len(await _rows(runtime, INVITE_KIND)) == 5
    assert course is not None and course.lessons == 6
    assert course.due_at == datetime(2026, 12, 20, 15, 59, tzinfo=UTC)  # 23:59 local
    assert media is not None and media.kind == "document"
    assert media.data == (shipped_dir() / "help_contacts.txt").read_bytes()
    first = await _assignment(runtime, published.course_id, ids["E1"])
    assert (first.position, first.lessons_read, first.started_at) == (0, 0, None)


async def test_nothing_is_written_for_a_bad_file_audience_or_date(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    await _office(runtime, clock)
    publishing = _publishing(runtime)
    with pytest.raises(AudienceError) as caught:
        await publishing.publish(
            text=SHIPPED,
            source="c.yaml",
            audience=parse_audience("dept:办公室,dept:不存在,role:wizard"),
            due_on=DUE,
            base_dir=shipped_dir(),
        )
    assert caught.value.problems == [("department", "不存在"), ("role", "wizard")]
    with pytest.raises(AudienceError):  # a due date that has come
        await publishing.publish(
            text=SHIPPED,
            source="c.yaml",
            audience=Audience(everyone=True),
            due_on=date(2026, 12, 1),
        )
    with pytest.raises(CourseError) as error:  # in chat a file path cannot be read
        await publishing.publish(
            text=SHIPPED, source="c.yaml", audience=Audience(everyone=True), due_on=DUE
        )
    assert error.value.line == 68 and "file_id" in error.value.reason
    (tmp_path / "c.yaml").write_text(SHIPPED, encoding="utf-8")
    with pytest.raises(CourseError) as error:  # the file is not beside it
        await publishing.publish(
            text=SHIPPED,
            source="c.yaml",
            audience=Audience(everyone=True),
            due_on=DUE,
            base_dir=tmp_path,
        )
    assert error.value.line == 68 and "There is no file" in error.value.reason
    async with runtime.detached_uow() as uow:
        assert list(await uow.courses.all()) == []
        assigned = await uow.session.exec(select(CourseAssignment))
        assert list(assigned) == []
    assert await _rows(runtime, INVITE_KIND) == []


async def test_who_may_publish_in_chat_and_what_a_refusal_says(
    runtime: Runtime, clock: FakeClock
) -> None:
    ids = await _office(runtime, clock)
    publishing = _publishing(runtime)
    data = QUIZ_COURSE.encode()
    with pytest.raises(PermissionDeniedError):  # plain staff
        await publishing.publish_file(
            tg_id=601, chat_id=601, data=data, file_name="q.yaml", args="all 2026-12-20"
        )
    await publishing.publish_file(
        tg_id=606, chat_id=606, data=data, file_name="q.yaml", args="all 12月20日"
    )
    await publishing.publish_file(
        tg_id=606, chat_id=606, data=b"key: [", file_name="q.yaml", args="all 2026-12-20"
    )
    refused = await _rows(runtime, REFUSED_KIND)
    assert refused[0].facts == {"code": "audience", "problems": [["date", "12月20日"]]}
    assert refused[1].facts["code"] == "definition" and "q.yaml:1" in refused[1].facts["where"]
    await publishing.publish_file(
        tg_id=606, chat_id=606, data=data, file_name="q.yaml", args="role:finance 2026-12-20"
    )
    async with runtime.detached_uow() as uow:
        (course,) = await uow.courses.all()
    assert course.created_by == ids["E6"] and course.quiz_key == "office_quiz"
    assert [r.chat_id for r in await _rows(runtime, "course.published")] == [606]


async def _press(
    service: CourseService, tg: int, course_id: int, lesson: int, *, forward: bool = True
) -> None:
    await service.press(tg_id=tg, chat_id=tg, course_id=course_id, lesson=lesson, forward=forward)


async def test_taking_a_course_lesson_by_lesson(runtime: Runtime, clock: FakeClock) -> None:
    ids = await _office(runtime, clock)
    published = await _publishing(runtime).publish(
        text=SHIPPED,
        source="d.yaml",
        audience=parse_audience("dept:办公室,dept:财务处"),
        due_on=DUE,
        base_dir=shipped_dir(),
    )
    cid = published.course_id
    service = CourseService(runtime, default_locale="zh_CN")
    await service.open(tg_id=601, chat_id=601, course_id=cid)
    await _press(service, 601, cid, 0)
    await _press(service, 601, cid, 1)
    with pytest.raises(LessonStaleError):  # lesson 2's old card (the double tap)
        await _press(service, 601, cid, 1)
    with pytest.raises(LessonStaleError):  # a forged lesson index
        await _press(service, 601, cid, 5)
    with pytest.raises(NotAssignedError):  # a course that is not theirs
        await service.open(tg_id=606, chat_id=606, course_id=cid)
    with pytest.raises(NotAssignedError):
        await _press(service, 606, cid, 0)
    a = await _assignment(runtime, cid, ids["E1"])
    assert (a.position, a.lessons_read) == (2, 2) and a.started_at == clock()

    # Resuming shows lesson 3 again, as a new card; the one before loses its buttons.
    await service.open(tg_id=601, chat_id=601, course_id=cid)
    cards = await _rows(runtime, LESSON_KIND)
    assert [r.facts["lesson"] for r in cards] == [0, 1, 2, 2]
    assert len({r.card_key for r in cards}) == 4
    closed = await _rows(runtime, CLOSED_KIND)
    assert [r.card_key for r in closed] == [r.card_key for r in cards[:3]]
    await _press(service, 601, cid, 2, forward=False)  # back to lesson 2: read stays 3
    a = await _assignment(runtime, cid, ids["E1"])
    assert (a.position, a.lessons_read) == (1, 2)
    for lesson in range(1, 6):
        await _press(service, 601, cid, lesson)
    a = await _assignment(runtime, cid, ids["E1"])
    assert a.completed_at == clock() and a.lessons_read == 6
    (done,) = await _rows(runtime, DONE_KIND)
    assert done.chat_id == 601
    last = (await _rows(runtime, LESSON_KIND))[-1]
    assert last.facts["lesson"] == 5 and last.facts["media"]["kind"] == "document"
    assert base64.b64decode(last.facts["media"]["data"]).startswith("政务办公系统".encode())

    # E2 has started only; the trainer sees completion by department.
    await service.open(tg_id=602, chat_id=602, course_id=cid)
    clock.now = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)  # past the due date
    async with runtime.detached_uow() as uow:
        found = await gather(uow, cid, now=clock())
    assert found is not None
    office, finance = found.report.rows
    assert (office.department, office.assigned, office.started, office.completed) == (
        "办公室",
        3,
        2,
        1,
    )
    assert (office.overdue, office.percent) == (2, 33)
    assert (finance.assigned, finance.completed, finance.overdue) == (2, 0, 2)
    csv = to_csv(found).decode("utf-8-sig").splitlines()
    assert csv[1] == "办公室,3,2,1,2,33" and csv[-1] == "*,5,2,1,4,20"
    with pytest.raises(PermissionDeniedError):
        await service.report(tg_id=601, chat_id=601, course_id=cid)
    await service.report(tg_id=606, chat_id=606, course_id=cid)
    (report,) = await _rows(runtime, REPORT_KIND)
    assert report.facts["total"]["completed"] == 1 and report.chat_id == 606


async def test_reminders_only_to_the_unfinished_never_in_quiet_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    ids = await _office(runtime, clock)
    published = await _publishing(runtime).publish(
        text=QUIZ_COURSE.replace("quiz: office_quiz\n", ""),
        source="q.yaml",
        audience=parse_audience("dept:办公室"),
        due_on=DUE,
    )
    cid = published.course_id
    service = CourseService(runtime, default_locale="zh_CN")
    for lesson in (0, 1):
        if lesson == 0:
            await service.open(tg_id=601, chat_id=601, course_id=cid)
        await _press(service, 601, cid, lesson)
    due = DueService(runtime)
    CourseReminders(runtime, tz=SHANGHAI, quiet=QUIET).register_due(due)

    # The bot was down at 09:00 three days before; it runs again at 23:00, in the quiet hours.
    clock.now = datetime(2026, 12, 17, 15, 0, tzinfo=UTC)
    assert await due.tick() == 1
    assert await _rows(runtime, REMIND_KIND) == []
    clock.now = datetime(2026, 12, 17, 23, 59, tzinfo=UTC)  # 07:59: still quiet
    assert await due.tick() == 0
    clock.now = datetime(2026, 12, 18, 0, 0, tzinfo=UTC)  # 08:00
    assert await due.tick() == 1
    sent = await _rows(runtime, REMIND_KIND)
    assert {r.staff_id for r in sent} == {ids["E2"], ids["E3"]}  # E1 is done, E7 left
    assert all(r.priority == PRIORITY_BROADCAST for r in sent)
    assert all(not QUIET.contains(r.created_at, SHANGHAI) for r in sent)
    assert sent[0].facts["days"] == 3

    # E2 finishes; the day before and the day itself remind E3 only, once each.
    await service.open(tg_id=602, chat_id=602, course_id=cid)
    await _press(service, 602, cid, 0)
    await _press(service, 602, cid, 1)
    clock.now = datetime(2026, 12, 19, 1, 0, tzinfo=UTC)
    await due.tick()
    clock.now = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
    await due.tick()
    await due.tick()
    later = (await _rows(runtime, REMIND_KIND))[2:]
    assert [(r.staff_id, r.facts["days"]) for r in later] == [(ids["E3"], 1), (ids["E3"], 0)]
    async with runtime.detached_uow() as uow:
        a3 = await uow.courses.assignment_of(cid, ids["E3"])
    assert a3 is not None and a3.reminders == 3


async def test_a_course_with_a_quiz(runtime: Runtime, clock: FakeClock) -> None:
    ids = await _office(runtime, clock)
    published = await _publishing(runtime).publish(
        text=QUIZ_COURSE, source="q.yaml", audience=parse_audience("dept:办公室"), due_on=DUE
    )
    cid = published.course_id
    service = CourseService(runtime, default_locale="zh_CN")
    await service.open(tg_id=601, chat_id=601, course_id=cid)
    await _press(service, 601, cid, 0)
    await _press(service, 601, cid, 1)  # every lesson read: the quiz is due
    a = await _assignment(runtime, cid, ids["E1"])
    assert a.lessons_done_at == clock() and a.completed_at is None
    (due,) = await _rows(runtime, QUIZ_DUE_KIND)
    assert due.facts["quiz_key"] == "office_quiz"
    assert (await _rows(runtime, LESSON_KIND))[-1].facts["waiting_quiz"] is True
    with pytest.raises(LessonStaleError):  # the quiz completes it, not "finish"
        await _press(service, 601, cid, 1)
    await _press(service, 601, cid, 1, forward=False)  # reading a lesson again meanwhile
    back = (await _rows(runtime, LESSON_KIND))[-1].facts
    assert back["lesson"] == 0 and back["waiting_quiz"] is False
    await _press(service, 601, cid, 0)
    assert (await _rows(runtime, LESSON_KIND))[-1].facts["waiting_quiz"] is True
    assert len(await _rows(runtime, QUIZ_DUE_KIND)) == 1  # told once

    async with runtime.uow() as uow:  # the quiz service's transaction
        assert (
            await service.quiz_passed(uow, staff_id=ids["E1"], quiz_key="other_quiz", now=clock())
            == []
        )
        completed = await service.quiz_passed(
            uow, staff_id=ids["E1"], quiz_key="office_quiz", now=clock()
        )
        await uow.commit()
    assert completed == [cid]
    a = await _assignment(runtime, cid, ids["E1"])
    assert a.completed_at == clock() and a.quiz_passed_at == clock()
    assert [r.chat_id for r in await _rows(runtime, DONE_KIND)] == [601]

    # Passed before the last lesson: recorded, and the course completes when it is read.
    async with runtime.uow() as uow:
        assert (
            await service.quiz_passed(uow, staff_id=ids["E2"], quiz_key="office_quiz", now=clock())
            == []
        )
        await uow.commit()
    await service.open(tg_id=602, chat_id=602, course_id=cid)
    await _press(service, 602, cid, 0)
    await _press(service, 602, cid, 1)
    assert (await _assignment(runtime, cid, ids["E2"])).completed_at == clock()

    # A hook that knows the quiz was passed completes the course at its last lesson.
    async def passed(uow: UnitOfWork, staff_id: int, quiz_key: str) -> bool:
        return staff_id == ids["E3"] and quiz_key == "office_quiz"

    hooked = CourseService(runtime, default_locale="zh_CN", quiz_check=passed)
    await hooked.open(tg_id=603, chat_id=603, course_id=cid)
    await _press(hooked, 603, cid, 0)
    await _press(hooked, 603, cid, 1)
    hooked_row = await _assignment(runtime, cid, ids["E3"])
    assert hooked_row.completed_at == clock() and hooked_row.quiz_passed_at == clock()
    assert len(await _rows(runtime, QUIZ_DUE_KIND)) == 1  # only E1 was told to take it


async def test_a_lesson_file_is_uploaded_once_then_sent_by_id(
    runtime: Runtime, clock: FakeClock
) -> None:
    await _office(runtime, clock)
    publishing = _publishing(runtime)
    published = await publish_demo_course(publishing, tg_id=606)  # by the trainer
    assert published.assigned == 6
    assert [r.chat_id for r in await _rows(runtime, "course.published")] == [606]
    async with runtime.detached_uow() as uow:
        course = await uow.courses.get(published.course_id)
    assert isinstance(course, CourseRow) and course.due_at is not None
    assert course.due_at.astimezone(SHANGHAI).date() == date(2026, 12, 15)  # in 14 days
    service = CourseService(runtime, default_locale="zh_CN")
    delivery = DeliveryService(runtime)
    delivery.register_file_keys("course.media:", service.remember_file)
    cid = published.course_id
    await service.open(tg_id=601, chat_id=601, course_id=cid)
    for lesson in range(5):
        await _press(service, 601, cid, lesson)
    upload = (await _rows(runtime, LESSON_KIND))[-1].facts["media"]
    assert upload["data"] and upload["file_key"].startswith("course.media:")
    await delivery.file_uploaded(upload["file_key"], "BQACAgUAAxkBAAIBZ2V4c2FtcGxl")
    await service.open(tg_id=602, chat_id=602, course_id=cid)
    for lesson in range(5):
        await _press(service, 602, cid, lesson)
    again = (await _rows(runtime, LESSON_KIND))[-1].facts["media"]
    assert again == {"kind": "document", "file_id": "BQACAgUAAxkBAAIBZ2V4c2FtcGxl"}
