"""Taking a course in the chat (/course, the 🎓 menu item, the lesson card's buttons), the
quiz hook, and the trainer's completion report; one transaction per update.

Each lesson is a message of its own (a lesson may be a photo, a document or a video with the
text as its caption, and Telegram cannot turn a text message into a media message by an edit):
moving on sends the next lesson below and takes the buttons off the previous one, so only the
current card can be pressed. A card's buttons carry the course and the lesson's index; a press
on any lesson but the one the person is at (an old card, a forged button) is refused with
``LessonStaleError``, on a course not assigned to them with ``NotAssignedError``. Progress is a
compare-and-swap on the assignment's version, so a double tap moves it once.

The quiz (#8, built elsewhere): a course that names ``quiz: KEY`` completes when its lessons
are read **and** the quiz is passed. At the end of the last lesson the ``quiz_check`` hook
(``course_quiz_passed(uow, staff_id, quiz_key)``, default: not passed) is asked; if not passed,
the person is sent ``course.quiz_due`` (take quiz KEY with /quiz) and the course waits until
the quiz service calls :meth:`CourseService.quiz_passed` in its own unit of work.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import access
from bot.courses.definitions import parse_course
from bot.courses.model import (
    AssignmentFacts,
    Course,
    LessonStaleError,
    Outcome,
    Progress,
    Report,
    advance,
    is_overdue,
    pass_quiz,
    tally,
)
from bot.courses.publishing import text_facts
from bot.errors import DomainError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.spreadsheet import csv_bytes, safe_cell
from storage.tables.courses import Course as CourseRow
from storage.tables.courses import CourseAssignment
from storage.uow import UnitOfWork

LESSON_KIND = "course.lesson"
CLOSED_KIND = "course.closed"  # the previous lesson's buttons taken off
LIST_KIND = "course.list"
DONE_KIND = "course.done"
QUIZ_DUE_KIND = "course.quiz_due"
REPORT_KIND = "course.report"
MEDIA_KEY = "course.media:"  # the sender tells us a lesson file's Telegram id under this key

# Has this person passed this quiz? (the caller's unit of work). Wired to the quiz service.
QuizCheck = Callable[[UnitOfWork, int, str], Awaitable[bool]]


async def course_quiz_passed(uow: UnitOfWork, staff_id: int, quiz_key: str) -> bool:
    """The default hook: no quiz is known to be passed until the quiz service says so
    through :meth:`CourseService.quiz_passed`."""
    return False


class NotAssignedError(DomainError):
    """A course that is not assigned to this person (or does not exist)."""

    def __init__(self, course_id: int) -> None:
        super().__init__(course_id)
        self.course_id = course_id


class CourseNotFoundError(DomainError):
    """No such course (or not one this person may see the report of)."""

    def __init__(self, course_id: int) -> None:
        super().__init__(course_id)
        self.course_id = course_id


def card_key(course_id: int, staff_id: int, shown: int) -> str:
    """One key per lesson card shown (``shown``: the assignment's version when it was)."""
    return f"course:{course_id}:{staff_id}:{shown}"


def progress_of(row: CourseAssignment, total: int, has_quiz: bool) -> Progress:
    return Progress(
        total=total,
        position=min(row.position, total - 1),
        read=min(row.lessons_read, total),
        lessons_done=row.lessons_done_at is not None,
        quiz_passed=row.quiz_passed_at is not None,
        completed=row.completed_at is not None,
        has_quiz=has_quiz,
    )


@dataclass(frozen=True)
class CourseReport:
    course_id: int
    title: str
    due_at: datetime | None
    report: Report


async def gather(uow: UnitOfWork, course_id: int, *, now: datetime) -> CourseReport | None:
    """Completion by department of one course (None: no such course)."""
    course = await uow.courses.get(course_id)
    if course is None or course.id is None:
        return None
    rows = await uow.courses.report_rows(course.id)
    facts = [
        AssignmentFacts(
            department=department or "—",
            started=a.started_at is not None,
            completed=a.completed_at is not None,
            due_at=a.due_at,
        )
        for a, _, department in rows
    ]
    return CourseReport(course.id, course.title, course.due_at, tally(facts, now=now))


def report_facts(found: CourseReport) -> dict[str, Any]:
    def row(t: Any) -> dict[str, Any]:
        return {
            "department": t.department,
            "assigned": t.assigned,
            "started": t.started,
            "completed": t.completed,
            "overdue": t.overdue,
            "percent": t.percent,
        }

    return {
        "id": found.course_id,
        "title": found.title,
        "due_at": found.due_at.isoformat() if found.due_at else None,
        "rows": [row(t) for t in found.report.rows],
        "total": row(found.report.total),
    }


class CourseService:
    """What staff do with their courses in their private chat."""

    def __init__(
        self,
        rt: Runtime,
        *,
        default_locale: str,
        quiz_check: QuizCheck = course_quiz_passed,
    ) -> None:
        self._rt = rt
        self._default_locale = default_locale
        self._quiz_check = quiz_check

    async def _actor(self, uow: UnitOfWork, tg_id: int) -> access.Actor:
        return await access.authorize(
            uow, tg_id, "menu.courses", default_locale=self._default_locale
        )

    async def _load(
        self, uow: UnitOfWork, course_id: int, staff_id: int
    ) -> tuple[CourseRow, Course, CourseAssignment]:
        row = await uow.courses.get(course_id)
        assignment = await uow.courses.assignment_of(course_id, staff_id) if row else None
        if row is None or row.id is None or assignment is None or assignment.id is None:
            raise NotAssignedError(course_id)
        return row, parse_course(row.definition, source=f"course {row.id}"), assignment

    async def list_mine(self, *, tg_id: int, chat_id: int) -> None:
        """This person's courses: read/total, due date, overdue, done."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            courses = []
            for row, a in await uow.courses.assigned_to(actor.staff_id):
                definition = parse_course(row.definition, source=f"course {row.id}")
                courses.append(
                    {
                        "id": row.id,
                        "title": text_facts(definition.title),
                        "read": min(a.lessons_read, row.lessons),
                        "total": row.lessons,
                        "due_at": a.due_at.isoformat() if a.due_at else None,
                        "overdue": is_overdue(a.due_at, a.completed_at, now),
                        "completed": a.completed_at is not None,
                        "quiz_due": a.lessons_done_at is not None and a.completed_at is None,
                        "quiz": definition.quiz,
                        "begun": a.started_at is not None,
                    }
                )
            await uow.outbox.add(
                chat_id=chat_id,
                kind=LIST_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={"courses": courses},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def open(self, *, tg_id: int, chat_id: int, course_id: int) -> None:
        """Start or resume: the lesson where the person stopped, as a new card below."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            row, definition, a = await self._load(uow, course_id, actor.staff_id)
            progress = progress_of(a, len(definition.lessons), definition.quiz is not None)
            await self._move(uow, actor, chat_id, row, definition, a, progress, now)
            await uow.commit()

    async def press(
        self, *, tg_id: int, chat_id: int, course_id: int, lesson: int, forward: bool
    ) -> None:
        """ "Next" (``forward``) or "previous" on the card of ``lesson`` (0-based)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            row, definition, a = await self._load(uow, course_id, actor.staff_id)
            assert a.id is not None
            progress = progress_of(a, len(definition.lessons), definition.quiz is not None)
            waiting = progress.lessons_done and not progress.completed
            if forward and waiting and lesson == progress.total - 1:
                raise LessonStaleError(a.id, lesson)  # the quiz completes it, not a button
            try:
                step = advance(progress, lesson=lesson, forward=forward)
            except ValueError:
                raise LessonStaleError(a.id, lesson) from None
            outcome = step.outcome
            moved = step.progress
            if (
                outcome is Outcome.LESSONS_DONE
                and definition.quiz is not None
                and await self._quiz_check(uow, actor.staff_id, definition.quiz)
            ):
                moved = pass_quiz(moved)
                outcome = Outcome.COMPLETED
            await self._move(uow, actor, chat_id, row, definition, a, moved, now, outcome=outcome)
            if outcome is Outcome.LESSONS_DONE:
                # The campaign behind the course's quiz (opened with the course), to start it
                # from here: the newest open one this person is invited to.
                campaign = next(
                    (
                        c
                        for c, _ in reversed(await uow.quizzes.open_for(actor.staff_id, now=now))
                        if c.quiz_key == definition.quiz
                    ),
                    None,
                )
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=QUIZ_DUE_KIND,
                    staff_id=actor.staff_id,
                    now=now,
                    facts={
                        "quiz_key": definition.quiz,
                        "title": text_facts(definition.title),
                        "campaign_id": campaign.id if campaign is not None else None,
                        "quiz_title": campaign.title if campaign is not None else None,
                    },
                    priority=PRIORITY_INTERACTIVE,
                )
            elif outcome is Outcome.COMPLETED and not progress.completed:
                await self._congratulate(uow, actor.staff_id, chat_id, definition, now)
            await uow.commit()

    async def _move(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        row: CourseRow,
        definition: Course,
        a: CourseAssignment,
        moved: Progress,
        now: datetime,
        *,
        outcome: Outcome = Outcome.MOVED,
    ) -> None:
        """Record ``moved`` (compare-and-swap) and show its lesson as a new card, the
        previous card's buttons taken off; a finished course shows no card."""
        assert a.id is not None and row.id is not None
        # Read before the update: an ORM UPDATE refreshes ``a`` in the session.
        shown, completed_before = a.version, a.completed_at is not None
        version = await uow.courses.step(
            a.id,
            seen_version=a.version,
            position=moved.position,
            lessons_read=moved.read,
            started_at=a.started_at or now,
            lessons_done_at=a.lessons_done_at or (now if moved.lessons_done else None),
            completed_at=a.completed_at or (now if moved.completed else None),
            quiz_passed_at=a.quiz_passed_at or (now if moved.quiz_passed else None),
        )
        if version is None:  # a second tap, already handled
            raise LessonStaleError(a.id, moved.position)
        if shown > 0:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=CLOSED_KIND,
                staff_id=actor.staff_id,
                now=now,
                priority=PRIORITY_INTERACTIVE,
                card_key=card_key(row.id, actor.staff_id, shown),
            )
        if outcome is Outcome.COMPLETED and not completed_before:
            return  # the congratulations follow instead of a card
        await uow.outbox.add(
            chat_id=chat_id,
            kind=LESSON_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts=await self._lesson_facts(uow, row.id, definition, moved),
            priority=PRIORITY_INTERACTIVE,
            card_key=card_key(row.id, actor.staff_id, version),
        )

    async def _lesson_facts(
        self, uow: UnitOfWork, course_id: int, definition: Course, progress: Progress
    ) -> dict[str, Any]:
        index = progress.position
        lesson = definition.lessons[index]
        media: dict[str, Any] | None = None
        if lesson.media is not None and lesson.media.file_id is not None:
            media = {"kind": lesson.media.kind.value, "file_id": lesson.media.file_id}
        elif lesson.media is not None:
            stored = await uow.courses.media_of(course_id, index)
            if stored is not None and stored.file_id:
                media = {"kind": stored.kind, "file_id": stored.file_id}
            elif stored is not None and stored.data:
                media = {
                    "kind": stored.kind,
                    "file_key": f"{MEDIA_KEY}{stored.id}",
                    "file_name": stored.file_name,
                    "data": base64.b64encode(stored.data).decode("ascii"),
                }
        return {
            "course_id": course_id,
            "course": text_facts(definition.title),
            "lesson": index,
            "total": progress.total,
            "title": text_facts(lesson.title),
            "body": text_facts(lesson.body),
            "media": media,
            "waiting_quiz": progress.lessons_done
            and not progress.completed
            and index == progress.total - 1,
            "quiz": definition.quiz,
            "review": progress.completed,
        }

    async def _congratulate(
        self, uow: UnitOfWork, staff_id: int, chat_id: int, definition: Course, now: datetime
    ) -> None:
        await uow.outbox.add(
            chat_id=chat_id,
            kind=DONE_KIND,
            staff_id=staff_id,
            now=now,
            facts={"title": text_facts(definition.title), "lessons": len(definition.lessons)},
            priority=PRIORITY_INTERACTIVE,
        )

    async def quiz_passed(
        self, uow: UnitOfWork, *, staff_id: int, quiz_key: str, now: datetime
    ) -> list[int]:
        """The quiz service's call, in its unit of work: this person passed ``quiz_key``.
        Every course of theirs that names it records the pass and, with its lessons read,
        completes (the person is told). The ids of the courses completed now."""
        completed = []
        for a in await uow.courses.with_quiz(staff_id, quiz_key):
            if a.id is None or a.completed_at is not None:
                continue
            row = await uow.courses.get(a.course_id)
            if row is None:
                continue
            passed = pass_quiz(progress_of(a, row.lessons, True))
            await uow.courses.pass_quiz(
                a.id,
                now=now,
                completed_at=now if passed.completed else None,
                position=passed.position,
            )
            if passed.completed:
                completed.append(a.course_id)
                person = await uow.people.get(staff_id)
                if person is not None and person.telegram_id is not None:
                    definition = parse_course(row.definition, source=f"course {row.id}")
                    await self._congratulate(uow, staff_id, person.telegram_id, definition, now)
        return completed

    async def report(self, *, tg_id: int, chat_id: int, course_id: int) -> None:
        """``/course progress ID``: completion by department, for the course's author and
        for administrators, office staff and trainers."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            row = await uow.courses.get(course_id)
            allowed = access.can(actor, "course.publish") or (
                row is not None and row.created_by == actor.staff_id
            )
            if not allowed:
                access.require_action(actor, "course.publish")  # PermissionDeniedError
            found = await gather(uow, course_id, now=now)
            if found is None:
                raise CourseNotFoundError(course_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=REPORT_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=report_facts(found),
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def remember_file(self, uow: UnitOfWork, key: str, file_id: str) -> None:
        """The sender uploaded a lesson file: send it by Telegram's id from now on."""
        if not key.startswith(MEDIA_KEY):
            raise ValueError(key)
        await uow.courses.remember_file_id(int(key[len(MEDIA_KEY) :]), file_id)


CSV_HEADER = (
    "科室 Department",
    "应学 Assigned",
    "已开始 Started",
    "已完成 Completed",
    "逾期 Overdue",
    "完成率 %",
)


def to_csv(found: CourseReport) -> bytes:
    """Completion by department as CSV (UTF-8 with a BOM, formula-safe cells), total last."""
    rows = [
        (
            safe_cell(t.department),
            str(t.assigned),
            str(t.started),
            str(t.completed),
            str(t.overdue),
            str(t.percent),
        )
        for t in (*found.report.rows, found.report.total)
    ]
    return csv_bytes(CSV_HEADER, rows)
