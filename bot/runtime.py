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

# The inbox update whose handler is running in this task (None outside a handler). Units of
# work opened while it is set mark that update done in the same transaction as their effects.
current_update_id: ContextVar[int | None] = ContextVar("current_update_id", default=None)


@contextmanager
def handling_update(update_id: int) -> Iterator[None]:
    """Run a block as the handler of one inbox update."""
    token = current_update_id.set(update_id)
    try:
        yield
    finally:
        current_update_id.reset(token)


@dataclass(frozen=True)
class Runtime:
    """Opens units of work bound to the current update, with an injected clock."""

    db: Database
    keys: KeyRing
    clock: Clock

    def uow(self) -> UnitOfWork:
        """A new unit of work (use with ``async with``)."""
        return UnitOfWork(
            self.db, self.keys, inbox_update_id=current_update_id.get(), clock_now=self.clock()
        )

    def detached_uow(self) -> UnitOfWork:
        """A unit of work that never marks an update done (background work, the sender)."""
        return UnitOfWork(self.db, self.keys, clock_now=self.clock())


# Re-exported so the Telegram edge can classify errors without importing storage.
__all__ = [
    "ReplayedUpdateError",
    "Runtime",
    "current_update_id",
    "handling_update",
    "is_unavailable",
]
