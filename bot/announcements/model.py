"""Announcements (#8): the pure rules. What an announcement may hold, when a deadline is, when
to remind, and the counts per department.

Telegram gives a bot no read receipts, so the words are kept honest: *delivered* means
Telegram accepted the message for that person; *acknowledged* (已阅) means they tapped the
button. Nothing here claims anyone has read anything.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.errors import DomainError

MAX_TITLE = 100
MAX_TEXT = 3500  # a message holds 4096 characters: room for the title and the footer
MAX_CAPTION = 800  # a caption holds 1024
REMINDERS = 3  # at most this many, the one before the deadline included


class AnnouncementError(DomainError):
    """Content or settings that cannot be sent: ``code`` one of title_empty, title_long,
    body_empty, body_long, caption_long, deadline_format, deadline_past; ``facts`` for the
    message (the limit, what was typed)."""

    def __init__(self, code: str, **facts: object) -> None:
        super().__init__(code, facts)
        self.code = code
        self.facts = {k: str(v) for k, v in facts.items()}


class NotRecipientError(DomainError):
    """Somebody tapped 已阅 on an announcement that was not sent to them (or does not exist)."""

    def __init__(self, announcement_id: int) -> None:
        super().__init__(announcement_id)
        self.announcement_id = announcement_id


class AnnouncementGoneError(DomainError):
    """The draft was sent or cancelled already (an old preview's button)."""

    def __init__(self, announcement_id: int) -> None:
        super().__init__(announcement_id)
        self.announcement_id = announcement_id


def check_title(title: str) -> str:
    """The title, trimmed; AnnouncementError if empty or longer than MAX_TITLE."""
    text = " ".join(title.split())
    if not text:
        raise AnnouncementError("title_empty")
    if len(text) > MAX_TITLE:
        raise AnnouncementError("title_long", limit=MAX_TITLE, length=len(text))
    return text


def check_body(plain: str, *, attachment: bool) -> None:
    """The body's visible length (its plain text, not the HTML) within what one message, or
    one caption when there is an attachment, can carry. An attachment may come without text."""
    length = len(plain.strip())
    if attachment:
        if length > MAX_CAPTION:
            raise AnnouncementError("caption_long", limit=MAX_CAPTION, length=length)
        return
    if length == 0:
        raise AnnouncementError("body_empty")
    if length > MAX_TEXT:
        raise AnnouncementError("body_long", limit=MAX_TEXT, length=length)


_MONTH_DAY = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]?")
_CLOCK = re.compile(r"(\d{1,2})[:：点](\d{2})?分?")


def parse_deadline(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """A deadline typed as ``2026-12-10``, ``2026-12-10 17:00``, ``12月10日`` or ``12月10日
    17:00`` (full-width digits too), in local time; a date alone means its end (23:59). A
    month and day without a year is the next such day. AnnouncementError if it is not a
    date, or not in the future."""
    value = unicodedata.normalize("NFKC", text).strip()
    local_now = now.astimezone(tz)
    day: date | None = None
    rest = ""
    head, _, tail = value.partition(" ")
    try:
        day = date.fromisoformat(head)
        rest = tail.strip()
    except ValueError:
        match = _MONTH_DAY.match(value)
        if match is not None:
            year = int(match[1]) if match[1] else local_now.year
            try:
                day = date(year, int(match[2]), int(match[3]))
            except ValueError:
                raise AnnouncementError("deadline_format", text=text) from None
            if match[1] is None and day < local_now.date():
                try:
                    day = day.replace(year=year + 1)
                except ValueError:  # 2月29日
                    raise AnnouncementError("deadline_format", text=text) from None
            rest = value[match.end() :].strip()
    if day is None:
        raise AnnouncementError("deadline_format", text=text)
    clock = time(23, 59)
    if rest:
        found = _CLOCK.fullmatch(rest)
        if found is None or int(found[1]) > 23 or int(found[2] or 0) > 59:
            raise AnnouncementError("deadline_format", text=text)
        clock = time(int(found[1]), int(found[2] or 0))
    moment = datetime.combine(day, clock, tzinfo=tz)
    if moment <= now:
        raise AnnouncementError("deadline_past", text=text)
    return moment


def reminder_times(
    sent_at: datetime, deadline: datetime | None, *, every: timedelta
) -> list[datetime]:
    """When to remind those who have not acknowledged: every ``every`` after sending and, with
    a deadline, once a day before it (or halfway, for a deadline less than two days away); at
    most REMINDERS, none at or after the deadline (quiet hours are applied when each runs)."""
    if every <= timedelta(0):
        return []
    last: datetime | None = None
    if deadline is not None:
        last = deadline - timedelta(days=1)
        if last <= sent_at:
            last = sent_at + (deadline - sent_at) / 2
            if deadline - last < timedelta(hours=1):
                last = None
    times: list[datetime] = []
    moment = sent_at + every
    while len(times) < REMINDERS - (1 if last is not None else 0):
        if deadline is not None and moment >= (last or deadline):
            break
        times.append(moment)
        moment += every
    if last is not None:
        times.append(last)
    return times


@dataclass(frozen=True)
class DepartmentCounts:
    """One department's figures for one announcement."""

    department: str
    recipients: int
    delivered: int  # Telegram accepted the message (not: somebody read it)
    acknowledged: int  # tapped 已阅

    @property
    def waiting(self) -> int:
        """Not acknowledged yet."""
        return self.recipients - self.acknowledged


def totals(rows: Iterable[DepartmentCounts]) -> DepartmentCounts:
    """The figures of every department together."""
    items = list(rows)
    return DepartmentCounts(
        department="",
        recipients=sum(r.recipients for r in items),
        delivered=sum(r.delivered for r in items),
        acknowledged=sum(r.acknowledged for r in items),
    )
