"""The unit of work: one session, every repository, commit or roll back together."""

from __future__ import annotations

import errno
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from asyncpg import exceptions as pg_errors
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from storage.crypto import KeyRing
from storage.db import Database
from storage.repos.announcements import AnnouncementRepo
from storage.repos.approvals import ApprovalRepo, DocNumberRepo
from storage.repos.audit import AuditRepo
from storage.repos.calendar import CalendarRepo
from storage.repos.courses import CourseRepo
from storage.repos.faq import FaqRepo
from storage.repos.faq_digest import FaqDigestRepo
from storage.repos.messaging import OutboxRepo
from storage.repos.people import PeopleRepo
from storage.repos.quizzes import QuizRepo
from storage.repos.runtime import DueRepo, FlowRepo, InboxRepo
from storage.repos.support import SupportRepo
from storage.repos.surveys import SurveyRepo

# Errors that mean "the database is not there right now", as opposed to a bug.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    SAInterfaceError,
    ConnectionError,
    TimeoutError,
    # No connection free in time (SQLite has one): the database is busy, not our code wrong;
    # the update is kept and handled again (a burst of 500 requesters at once did this).
    PoolTimeoutError,
)
# SQLite reports a missing table and a locked or unopenable file alike as OperationalError;
# only these extended codes mean "try again later" (the others are our bugs).
_SQLITE_TRANSIENT = (
    "SQLITE_CANTOPEN",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)


class ReplayedUpdateError(Exception):
    """The update this unit of work belongs to was already handled: nothing is committed."""


class UnitOfWork:
    """``async with uow:`` ... ``await uow.commit()``; leaving without commit rolls back.

    When it belongs to an inbox update, committing also marks that update done in the same
    transaction, so an update's effects and its "handled" mark can never be separated.
    """

    def __init__(
        self,
        db: Database,
        keys: KeyRing,
        *,
        inbox_update_id: int | None = None,
        clock_now: datetime | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._keys = keys
        self.inbox_update_id = inbox_update_id
        self._now = clock_now
        self._on_commit = on_commit

    async def __aenter__(self) -> Self:
        self.session = self._db.sessions()
        self.people = PeopleRepo(self.session)
        self.audit = AuditRepo(self.session, self._keys)
        self.outbox = OutboxRepo(self.session)
        self.inbox = InboxRepo(self.session)
        self.due = DueRepo(self.session)
        self.flows = FlowRepo(self.session)
        self.calendar = CalendarRepo(self.session)
        self.numbers = DocNumberRepo(self.session)
        self.approvals = ApprovalRepo(self.session)
        self.faq = FaqRepo(self.session)
        self.faq_digest = FaqDigestRepo(self.session)
        self.support = SupportRepo(self.session)
        self.surveys = SurveyRepo(self.session)
        self.quizzes = QuizRepo(self.session)
        self.courses = CourseRepo(self.session)
        self.announcements = AnnouncementRepo(self.session)
        self.committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back an uncommitted transaction, and unlike rollback() it leaves the
        # loaded objects readable (detached, not expired) for the caller.
        await self.session.close()

    async def commit(self, *, now: datetime | None = None) -> None:
        """Commit everything; with an inbox update, mark it done in the same transaction."""
        if self.inbox_update_id is not None:
            stamp = now or self._now
            if stamp is None:
                raise ValueError("a unit of work for an update needs the time to mark it done")
            if not await self.inbox.mark_done(self.inbox_update_id, now=stamp):
                await self.session.rollback()
                raise ReplayedUpdateError(self.inbox_update_id)
        await self.session.commit()
        self.committed = True
        if self._on_commit is not None:
            self._on_commit()

    async def rollback(self) -> None:
        """Throw the changes away."""
        await self.session.rollback()


_ASYNCPG_UNAVAILABLE = (
    pg_errors.PostgresConnectionError,
    pg_errors.CannotConnectNowError,
    pg_errors.AdminShutdownError,
    pg_errors.CrashShutdownError,
    pg_errors.ConnectionDoesNotExistError,
    pg_errors.TooManyConnectionsError,
)
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)


def is_unavailable(exc: BaseException) -> bool:
    """True for errors caused by an unreachable database rather than by our code."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        name = getattr(exc.orig, "sqlite_errorname", None)
        if isinstance(name, str):
            return name.startswith(_SQLITE_TRANSIENT)
        return isinstance(exc, OperationalError | SAInterfaceError)
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    # asyncpg's own errors for a server that is going or not yet back carry no errno.
    if isinstance(exc, _ASYNCPG_UNAVAILABLE):
        return True
    return exc.__cause__ is not None and exc.__cause__ is not exc and is_unavailable(exc.__cause__)
