"""Publishing a course: a definition, an audience and a due date become a course, one
assignment per person, and one invitation message each, queued at broadcast priority.

The audience is written as for surveys (``all``, or ``dept:…,role:…,staff:…``; read by
``bot.surveys.publishing.parse_audience``/``resolve``). Everything is checked before anything is
written. Lesson files given by path are read from beside the definition (``base_dir``: the CLI)
and kept in ``course_media`` until the sender has uploaded them once; in chat only Telegram
file ids can be used (the definition arrives alone). Invitations carry a dedupe key per person,
so a restart while they go out sends nobody a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from bot import access
from bot.courses import reminders
from bot.courses.definitions import CourseError, media_paths, parse_course
from bot.courses.model import Course, due_moment
from bot.messaging import progress
from bot.messaging.mass import per_person
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.surveys.publishing import Audience, AudienceError, parse_audience, resolve
from storage.tables.courses import Course as CourseRow
from storage.tables.courses import CourseMedia
from storage.tables.people import Staff
from storage.uow import UnitOfWork

INVITE_KIND = "course.invite"
PUBLISHED_KIND = "course.published"  # to the author: done, how many
REFUSED_KIND = "course.refused"  # to the author: what is wrong with the file, audience or date
MEDIA_MAX = 20 * 1024 * 1024  # bytes: what a bot may upload comfortably (Telegram: 50 MB)


def text_facts(text: Any) -> dict[str, str] | None:
    return None if text is None else {"zh_CN": text.zh_CN, "en": text.en}


@dataclass(frozen=True)
class Published:
    course_id: int
    key: str
    assigned: int
    messaged: int  # of them, those with Telegram: an invitation each
    unreachable: list[str] = field(default_factory=list)


def _read_media(course: Course, source: str, base_dir: Path | None) -> dict[int, bytes]:
    """The bytes of every lesson file given by path (CourseError naming the line)."""
    files: dict[int, bytes] = {}
    for index, media in media_paths(course):
        assert media.path is not None
        if base_dir is None:
            raise CourseError(
                source,
                media.line,
                f"“{media.path}” is a file: in chat, give a Telegram file_id, or publish with "
                "govbot course publish.",
            )
        path = base_dir / media.path
        try:
            data = path.read_bytes()
        except OSError:
            raise CourseError(source, media.line, f"There is no file “{media.path}”.") from None
        if not data or len(data) > MEDIA_MAX:
            raise CourseError(
                source, media.line, f"“{media.path}” must be 1 byte to {MEDIA_MAX >> 20} MB."
            )
        files[index] = data
    return files


# Opens the campaign behind a course's quiz in the course's unit of work: (uow, quiz key,
# audience, author's staff id, now) → the campaign id; LookupError for an unknown quiz.
OpenQuiz = Callable[[UnitOfWork, str, Audience, int | None, datetime], Awaitable[int]]


class CoursePublishing:
    """Assigns courses to an audience (``govbot course publish``, or a file in chat)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        default_locale: str,
        tz: tzinfo,
        open_quiz: OpenQuiz | None = None,
    ) -> None:
        self._rt = rt
        self._tz = tz
        self._default_locale = default_locale
        self._open_quiz = open_quiz

    def local_today(self) -> date:
        """Today in the deployment's time zone."""
        return self._rt.clock().astimezone(self._tz).date()

    async def publish(
        self,
        *,
        text: str,
        source: str,
        audience: Audience,
        due_on: date | None,
        base_dir: Path | None = None,
        tg_id: int | None = None,
        reply_to: int | None = None,
    ) -> Published:
        """Assign the course a definition declares, due at the end of ``due_on`` (local);
        CourseError, AudienceError: nothing is written. ``tg_id``: who publishes (None: the
        operator); ``reply_to``: the chat told the outcome, in the same transaction."""
        definition = parse_course(text, source=source)
        now = self._rt.clock()
        due_at = due_moment(due_on, self._tz) if due_on is not None else None
        if due_on is not None and due_on <= now.astimezone(self._tz).date():
            raise AudienceError([("past", due_on.isoformat())])
        files = await asyncio.to_thread(_read_media, definition, source, base_dir)
        async with self._rt.uow() as uow:
            author = None
            if tg_id is not None:
                author = await access.authorize(
                    uow, tg_id, "course.publish", default_locale=self._default_locale
                )
            people = await resolve(uow, audience)
            row = await uow.courses.add(
                CourseRow(
                    key=definition.key,
                    version=definition.version,
                    title=definition.title.zh_CN,
                    definition=text,
                    lessons=len(definition.lessons),
                    quiz_key=definition.quiz,
                    audience=audience.as_json(),
                    due_at=due_at,
                    created_by=author.staff_id if author else None,
                    created_at=now,
                )
            )
            assert row.id is not None
            for index, data in files.items():
                media = definition.lessons[index].media
                assert media is not None and media.path is not None
                await uow.courses.add_media(
                    CourseMedia(
                        course_id=row.id,
                        lesson=index,
                        kind=media.kind.value,
                        file_name=Path(media.path).name[:200],
                        data=data,
                    )
                )
            await uow.courses.assign(
                row.id, [p.id for p in people if p.id], due_at=due_at, now=now
            )
            if definition.quiz is not None and self._open_quiz is not None:
                try:  # the quiz at the end: a campaign for the same people, no messages
                    await self._open_quiz(
                        uow, definition.quiz, audience, author.staff_id if author else None, now
                    )
                except LookupError:
                    raise CourseError(
                        source, None, f"There is no quiz “{definition.quiz}” (govbot quiz list)."
                    ) from None
            messaged = await self._invite(uow, row.id, definition, people, due_at, now)
            if due_at is not None:
                await reminders.schedule(uow, row.id, due_at, self._tz, now=now)
            await uow.audit.append(
                actor_id=author.staff_id if author else None,
                action="course.publish",
                obj=f"course:{row.id}",
                details={
                    "key": definition.key,
                    "version": definition.version,
                    "audience": audience.as_json(),
                    "assigned": len(people),
                    "due_at": due_at.isoformat() if due_at else None,
                },
                now=now,
            )
            published = Published(
                course_id=row.id,
                key=definition.key,
                assigned=len(people),
                messaged=messaged,
                unreachable=[p.name for p in people if p.telegram_id is None],
            )
            if reply_to is not None and author is not None:
                await uow.outbox.add(
                    chat_id=reply_to,
                    kind=PUBLISHED_KIND,
                    staff_id=author.staff_id,
                    now=now,
                    facts={
                        "id": published.course_id,
                        "title": definition.title.zh_CN,
                        "assigned": published.assigned,
                        "messaged": published.messaged,
                        "unreachable": published.unreachable[:20],
                    },
                    priority=PRIORITY_INTERACTIVE,
                )
                if messaged:
                    await progress.track(
                        uow,
                        kinds=(INVITE_KIND,),
                        ref_id=row.id,
                        chat_id=reply_to,
                        staff_id=author.staff_id,
                        title={"zh_CN": definition.title.zh_CN, "en": definition.title.en},
                        now=now,
                    )
            await uow.commit()
        return published

    async def _invite(
        self,
        uow: UnitOfWork,
        course_id: int,
        definition: Course,
        people: list[Staff],
        due_at: datetime | None,
        now: datetime,
    ) -> int:
        facts = {
            "course_id": course_id,
            "title": text_facts(definition.title),
            "description": text_facts(definition.description),
            "lessons": len(definition.lessons),
            "quiz": definition.quiz,
            "due_at": due_at.isoformat() if due_at else None,
        }
        return await uow.outbox.add_many(
            per_person(people, kind=INVITE_KIND, ref_id=course_id, facts=facts), now=now
        )

    async def publish_file(
        self, *, tg_id: int, chat_id: int, data: bytes, file_name: str, args: str
    ) -> None:
        """A YAML file sent in chat captioned ``/course publish AUDIENCE DUE_DATE``:
        published, or told exactly what is wrong (the file's line, each unknown department,
        role or person, a date that is not one or has passed)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:  # may they, before reading anything
            actor = await access.authorize(
                uow, tg_id, "course.publish", default_locale=self._default_locale
            )
        problem: dict[str, Any]
        parts = args.split()
        try:
            text = data.decode("utf-8-sig")
            if len(parts) != 2:
                raise AudienceError([("usage", args.strip())])
            audience = parse_audience(parts[0])
            try:
                due_on = date.fromisoformat(parts[1])
            except ValueError:
                raise AudienceError([("date", parts[1])]) from None
            await self.publish(
                text=text,
                source=file_name,
                audience=audience,
                due_on=due_on,
                tg_id=tg_id,
                reply_to=chat_id,
            )
            return
        except UnicodeDecodeError:
            problem = {"code": "encoding"}
        except CourseError as error:
            problem = {"code": "definition", "where": str(error)}
        except AudienceError as error:
            problem = {"code": "audience", "problems": [list(p) for p in error.problems]}
        async with self._rt.uow() as uow:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=REFUSED_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=problem,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
