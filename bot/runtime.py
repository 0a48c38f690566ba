"""What every service shares: the database, keys, clock, and the update being handled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bot.clock import Clock
from storage.crypto import KeyRing
from storage.db import Database
from storage.uow import ReplayedUpdateError, UnitOfWork, is_unavailable


@dataclass
class UpdateHandling:
    """The inbox update whose handlers run in this task, and what became of it."""

    update_id: int
    marked_done: bool = False  # a unit of work committed its effects and the done mark
    retry: bool = False  # the database went away: hand the update back, try again later


# Units of work opened while this is set mark that update done in the same transaction as
# their effects (None outside a handler).
current_update: ContextVar[UpdateHandling | None] = ContextVar("current_update", default=None)


@contextmanager
def handling_update(update_id: int) -> Iterator[UpdateHandling]:
    """Run a block as the handler of one inbox update."""
    handling = UpdateHandling(update_id)
    token = current_update.set(handling)
    try:
        yield handling
    finally:
        current_update.reset(token)


@dataclass(frozen=True)
class Runtime:
    """Opens units of work bound to the current update, with an injected clock."""

    db: Database
    keys: KeyRing
    clock: Clock

    def uow(self) -> UnitOfWork:
        """A new unit of work (use with ``async with``), bound to the update being handled."""
        handling = current_update.get()
        if handling is None:
            return UnitOfWork(self.db, self.keys, clock_now=self.clock())

        def committed() -> None:
            handling.marked_done = True

        return UnitOfWork(
            self.db,
            self.keys,
            inbox_update_id=handling.update_id,
            clock_now=self.clock(),
            on_commit=committed,
        )

    def detached_uow(self) -> UnitOfWork:
        """A unit of work that never marks an update done (background work, the sender)."""
        return UnitOfWork(self.db, self.keys, clock_now=self.clock())


# Re-exported so the Telegram edge can classify errors without importing storage.
__all__ = [
    "ReplayedUpdateError",
    "Runtime",
    "UpdateHandling",
    "current_update",
    "handling_update",
    "is_unavailable",
]
