"""Queries over training courses: assignments and their progress, media file ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_many_ignoring
from storage.tables.courses import Course, CourseAssignment, CourseMedia
from storage.tables.people import Department, Staff


class CourseRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- courses -------------------------------------------------------------------------------
    async def add(self, course: Course) -> Course:
        self.session.add(course)
        await self.session.flush()
        return course

    async def get(self, course_id: int) -> Course | None:
        return await self.session.get(Course, course_id)

    async def all(self) -> Sequence[Course]:
        """Every course, newest first."""
        rows = await self.session.exec(select(Course).order_by(col(Course.id).desc()))
        return rows.all()

    # --- assignments ---------------------------------------------------------------------------
    async def assign(
        self, course_id: int, staff_ids: Iterable[int], *, due_at: datetime | None, now: datetime
    ) -> int:
        """Assign the course to these people (those assigned already stay as they are)."""
        ids = sorted(set(staff_ids))
        if not ids:
            return 0
        return await insert_many_ignoring(
            self.session,
            CourseAssignment,
            [
                {
                    "course_id": course_id,
                    "staff_id": i,
                    "assigned_at": now,
                    "due_at": due_at,
                    "position": 0,
                    "lessons_read": 0,
                    "version": 0,
                    "reminders": 0,
                }
                for i in ids
            ],
        )

    async def assignment(self, assignment_id: int) -> CourseAssignment | None:
        return await self.session.get(CourseAssignment, assignment_id)

    async def assignment_of(self, course_id: int, staff_id: int) -> CourseAssignment | None:
        rows = await self.session.exec(
            select(CourseAssignment).where(
                col(CourseAssignment.course_id) == course_id,
                col(CourseAssignment.staff_id) == staff_id,
            )
        )
        return rows.first()

    async def assigned_to(self, staff_id: int) -> list[tuple[Course, CourseAssignment]]:
        """This person's courses with their assignment, oldest first."""
        rows = await self.session.exec(
            select(Course, CourseAssignment)
            .join(CourseAssignment, col(CourseAssignment.course_id) == col(Course.id))
            .where(col(CourseAssignment.staff_id) == staff_id)
            .order_by(col(Course.id))
        )
        return list(rows.all())

    async def step(
        self,
        assignment_id: int,
        *,
        seen_version: int,
        position: int,
        lessons_read: int,
        started_at: datetime | None,
        lessons_done_at: datetime | None,
        completed_at: datetime | None,
        quiz_passed_at: datetime | None = None,
    ) -> int | None:
        """Move a person's progress if nobody moved it since ``seen_version`` (a second tap
        matches no row: None, nothing written); the new version."""
        result = await self.session.exec(
            update(CourseAssignment)
            .where(
                col(CourseAssignment.id) == assignment_id,
                col(CourseAssignment.version) == seen_version,
            )
            .values(
                position=position,
                lessons_read=lessons_read,
                started_at=started_at,
                lessons_done_at=lessons_done_at,
                completed_at=completed_at,
                quiz_passed_at=quiz_passed_at,
                version=seen_version + 1,
            )
        )
        return seen_version + 1 if result.rowcount == 1 else None

    async def with_quiz(self, staff_id: int, quiz_key: str) -> Sequence[CourseAssignment]:
        """This person's assignments of courses that the quiz ``quiz_key`` completes."""
        rows = await self.session.exec(
            select(CourseAssignment)
            .join(Course, col(Course.id) == col(CourseAssignment.course_id))
            .where(col(CourseAssignment.staff_id) == staff_id, col(Course.quiz_key) == quiz_key)
        )
        return rows.all()

    async def pass_quiz(
        self, assignment_id: int, *, now: datetime, completed_at: datetime | None, position: int
    ) -> None:
        await self.session.exec(
            update(CourseAssignment)
            .where(col(CourseAssignment.id) == assignment_id)
            .values(
                quiz_passed_at=now,
                completed_at=completed_at,
                position=position,
                version=col(CourseAssignment.version) + 1,
            )
        )

    async def not_completed(self, course_id: int) -> Sequence[Staff]:
        """Active staff assigned the course who have not completed it."""
        rows = await self.session.exec(
            select(Staff)
            .join(CourseAssignment, col(CourseAssignment.staff_id) == col(Staff.id))
            .where(
                col(CourseAssignment.course_id) == course_id,
                col(CourseAssignment.completed_at).is_(None),
                col(Staff.active).is_(True),
            )
            .order_by(col(Staff.id))
        )
        return rows.all()

    async def note_reminded(self, course_id: int, staff_ids: Sequence[int]) -> None:
        if not staff_ids:
            return
        await self.session.exec(
            update(CourseAssignment)
            .where(
                col(CourseAssignment.course_id) == course_id,
                col(CourseAssignment.staff_id).in_(list(staff_ids)),
            )
            .values(reminders=col(CourseAssignment.reminders) + 1)
        )

    async def report_rows(
        self, course_id: int
    ) -> list[tuple[CourseAssignment, Staff, str | None]]:
        """Every assignment of the course with its person and their department's name."""
        rows = await self.session.exec(
            select(CourseAssignment, Staff, Department.name)
            .join(Staff, col(Staff.id) == col(CourseAssignment.staff_id))
            .join(Department, col(Department.id) == col(Staff.department_id), isouter=True)
            .where(col(CourseAssignment.course_id) == course_id)
            .order_by(col(Staff.id))
        )
        return [(a, s, d) for a, s, d in rows.all()]

    # --- media ---------------------------------------------------------------------------------
    async def add_media(self, media: CourseMedia) -> CourseMedia:
        self.session.add(media)
        await self.session.flush()
        return media

    async def media_of(self, course_id: int, lesson: int) -> CourseMedia | None:
        rows = await self.session.exec(
            select(CourseMedia).where(
                col(CourseMedia.course_id) == course_id, col(CourseMedia.lesson) == lesson
            )
        )
        return rows.first()

    async def remember_file_id(self, media_id: int, file_id: str) -> None:
        """Telegram has the file now: send it again by id (the bytes stay, for another bot)."""
        await self.session.exec(
            update(CourseMedia).where(col(CourseMedia.id) == media_id).values(file_id=file_id)
        )
