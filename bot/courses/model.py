"""Training courses (#8): the pure rules. A course is lessons in order with an optional quiz at
the end; a person's progress is where they are (``position``) and how far they have read
(``read``); the lesson text is Telegram HTML, checked here the way Telegram's HTML parse mode
reads it. No I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from bot.definitions import Text
from bot.errors import DomainError

TEXT_LIMIT = 4096  # Telegram: a message's text, after entity parsing (UTF-16 code units)
CAPTION_LIMIT = 1024  # ... and a media message's caption
HEADER_ROOM = 320  # the card's course and "第2/6课 title" lines, and the quiz note on the last
LESSON_TITLE_MAX = 60
ALLOWED_TAGS = frozenset({"b", "i", "u", "a", "code"})
_URL = re.compile(r"(https?://|tg://)[^\s\"'<>]+")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[^<>]*)?)\s*(/?)>")
_HREF = re.compile(r"""\s+href\s*=\s*(?:"([^"]*)"|'([^']*)')\s*""")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});")


class MediaKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    VIDEO = "video"


@dataclass(frozen=True)
class Media:
    """A lesson's photo, document or video: a Telegram ``file_id``, or a ``path`` relative to
    the definition's file (uploaded once by the sender, then reused by its file_id)."""

    kind: MediaKind
    file_id: str | None = None
    path: str | None = None
    line: int | None = None  # where the definition names it (errors about the file)


@dataclass(frozen=True)
class Lesson:
    title: Text
    body: Text
    media: Media | None = None


@dataclass(frozen=True)
class Course:
    key: str
    version: int
    title: Text
    description: Text | None
    lessons: tuple[Lesson, ...]
    quiz: str | None = None  # a quiz key: the course completes when that quiz is passed


class HtmlError(ValueError):
    """Lesson text Telegram would refuse: ``reason`` in English, for the author."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def check_html(text: str, *, limit: int) -> str:
    """The visible text of Telegram-HTML ``text``: only <b>, <i>, <u>, <code> and
    <a href="http(s)://…">, properly nested and closed, ``<``, ``>`` and ``&`` escaped, at most
    ``limit`` characters once parsed; HtmlError saying what is wrong otherwise."""
    visible: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG.match(text, pos)
            if match is None:
                raise HtmlError(
                    f"“<” at character {pos + 1} does not start a tag; write &lt; for a literal <."
                )
            closing, name, attrs, selfclosing = (
                match[1] == "/",
                match[2].lower(),
                match[3] or "",
                match[4],
            )
            if name not in ALLOWED_TAGS:
                raise HtmlError(
                    f"<{name}> is not allowed; use <b>, <i>, <u>, <code> or <a href=…>."
                )
            if selfclosing:
                raise HtmlError(f"<{name}/> is not allowed; write <{name}>…</{name}>.")
            if closing:
                if attrs.strip():
                    raise HtmlError(f"</{name}> cannot have attributes.")
                if not stack or stack[-1] != name:
                    expected = f"</{stack[-1]}>" if stack else "nothing"
                    raise HtmlError(f"</{name}> closes nothing open here (expected {expected}).")
                stack.pop()
            elif name == "a":
                href = _HREF.fullmatch(attrs)
                url = (href[1] if href[1] is not None else href[2]) if href else None
                if url is None or not _URL.fullmatch(html.unescape(url)):
                    raise HtmlError('<a> needs href="https://…" (and nothing else).')
                if "a" in stack:
                    raise HtmlError("A link cannot contain another link.")
                stack.append(name)
            else:
                if attrs.strip():
                    raise HtmlError(f"<{name}> cannot have attributes.")
                if name == "code" and "code" in stack:
                    raise HtmlError("<code> cannot contain <code>.")
                stack.append(name)
            pos = match.end()
        elif char == "&":
            match = _ENTITY.match(text, pos)
            if match is None:
                raise HtmlError(
                    f"“&” at character {pos + 1} is not an entity; write &amp; for a literal &."
                )
            visible.append(html.unescape(match[0]))
            pos = match.end()
        elif char == ">":
            raise HtmlError(f"“>” at character {pos + 1}: write &gt; for a literal >.")
        else:
            visible.append(char)
            pos += 1
    if stack:
        raise HtmlError(f"<{stack[-1]}> is never closed.")
    plain = "".join(visible)
    if not plain.strip():
        raise HtmlError("The text is empty.")
    if utf16_len(plain) > limit:
        raise HtmlError(f"The text is {utf16_len(plain)} characters long; at most {limit}.")
    return plain


def body_limit(media: Media | None) -> int:
    """How long a lesson's body may be: a message's text, or a caption with media, less
    room for the card's header line."""
    return (CAPTION_LIMIT if media is not None else TEXT_LIMIT) - HEADER_ROOM


# --- a person's progress --------------------------------------------------------------------


class Outcome(StrEnum):
    MOVED = "moved"  # another lesson is shown
    LESSONS_DONE = "lessons_done"  # every lesson read, the quiz still to pass
    COMPLETED = "completed"


class LessonStaleError(DomainError):
    """A button of a lesson card that is not the current one (old, or forged)."""

    def __init__(self, assignment_id: int, lesson: int) -> None:
        super().__init__(assignment_id, lesson)
        self.assignment_id = assignment_id
        self.lesson = lesson


@dataclass(frozen=True)
class Progress:
    """Where a person is in a course: the lesson shown (0-based), how many are read, and
    whether the lessons, the quiz and the course are done."""

    total: int
    position: int = 0
    read: int = 0
    lessons_done: bool = False
    quiz_passed: bool = False
    completed: bool = False
    has_quiz: bool = False


@dataclass(frozen=True)
class Step:
    progress: Progress
    outcome: Outcome


def advance(progress: Progress, *, lesson: int, forward: bool) -> Step:
    """A press of "next" (``forward``) or "previous" on the card of ``lesson``: only the
    lesson the person is at counts (LessonStaleError otherwise, raised by the caller with
    the ids). Next on the last lesson finishes the lessons: the course completes, or, with a
    quiz not yet passed, waits for it."""
    if lesson != progress.position or not 0 <= lesson < progress.total:
        raise ValueError(lesson)
    if not forward:
        if lesson == 0:
            raise ValueError(lesson)
        return Step(_replace(progress, position=lesson - 1), Outcome.MOVED)
    read = max(progress.read, lesson + 1)
    if lesson + 1 < progress.total:
        return Step(_replace(progress, position=lesson + 1, read=read), Outcome.MOVED)
    if progress.completed:  # reviewing a completed course: back to its start
        return Step(_replace(progress, position=0, read=read), Outcome.COMPLETED)
    done = _replace(progress, read=progress.total, lessons_done=True)
    if progress.has_quiz and not progress.quiz_passed:
        return Step(done, Outcome.LESSONS_DONE)
    return Step(_replace(done, completed=True, position=0), Outcome.COMPLETED)


def pass_quiz(progress: Progress) -> Progress:
    """The course's quiz is passed: complete if the lessons are read too."""
    passed = _replace(progress, quiz_passed=True)
    if passed.lessons_done and not passed.completed:
        return _replace(passed, completed=True, position=0)
    return passed


def _replace(progress: Progress, **changes: Any) -> Progress:
    return replace(progress, **changes)


# --- due dates and reminders ----------------------------------------------------------------

REMIND_DAYS_BEFORE = (3, 1, 0)  # reminders: three days and a day before the due date, and on it
REMIND_AT = time(9, 0)  # local time of a reminder (quiet hours still apply when it runs)
DUE_AT = time(23, 59)  # a course due on a day is due at the end of it


def due_moment(day: date, tz: tzinfo) -> datetime:
    """The end of ``day`` in local time, in UTC."""
    return datetime.combine(day, DUE_AT, tzinfo=tz).astimezone(UTC)


def reminder_times(due_at: datetime, tz: tzinfo, *, now: datetime) -> list[tuple[int, datetime]]:
    """(days before, when) for each reminder still ahead of ``now``."""
    day = due_at.astimezone(tz).date()
    times = []
    for days in REMIND_DAYS_BEFORE:
        moment = datetime.combine(day - timedelta(days=days), REMIND_AT, tzinfo=tz)
        if moment.astimezone(UTC) > now:
            times.append((days, moment.astimezone(UTC)))
    return times


def is_overdue(due_at: datetime | None, completed_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and completed_at is None and now > due_at


# --- completion by department ---------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentFacts:
    """One assignment as the trainer's report sees it."""

    department: str
    started: bool
    completed: bool
    due_at: datetime | None


@dataclass(frozen=True)
class Tally:
    department: str
    assigned: int = 0
    started: int = 0
    completed: int = 0
    overdue: int = 0

    @property
    def percent(self) -> int:
        """Completed of assigned, rounded down (100 only when all are)."""
        return self.completed * 100 // self.assigned if self.assigned else 0


@dataclass(frozen=True)
class Report:
    rows: tuple[Tally, ...]
    total: Tally = field(default_factory=lambda: Tally("*"))


def tally(facts: Iterable[AssignmentFacts], *, now: datetime) -> Report:
    """Assigned, started, completed and overdue per department (by name), and in total."""
    counts: dict[str, list[int]] = {}
    for item in facts:
        row = counts.setdefault(item.department, [0, 0, 0, 0])
        row[0] += 1
        row[1] += item.started or item.completed
        row[2] += item.completed
        row[3] += not item.completed and item.due_at is not None and now > item.due_at
    rows = tuple(Tally(name, *values) for name, values in sorted(counts.items()))
    total = Tally("*", *(sum(r[i] for r in counts.values()) for i in range(4)))
    return Report(rows, total)


def lesson_label(position: int, total: int) -> tuple[int, int]:
    """1-based lesson number and the count, for "第2/6课"."""
    return min(position, max(total - 1, 0)) + 1, total
