"""The inbox of updates, due items, and flow drafts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for
from storage.tables.runtime import DueItem, FlowState, InboxUpdate


class InboxRepo:
    """Updates are stored once by update_id; a redelivery is a no-op."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store(
        self, update_id: int, *, chat_id: int | None, payload: str, now: datetime
    ) -> bool:
        """True if this update is new; a concurrent redelivery is a no-op, not an error."""
        result = await self.session.exec(
            insert_for(self.session)(InboxUpdate)
            .values(
                update_id=update_id,
                chat_id=chat_id,
                payload=payload,
                received_at=now,
                status="pending",
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["update_id"])
        )
        return bool(result.rowcount == 1)

    async def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[InboxUpdate]:
        """Pending updates in arrival order, leased to this worker."""
        ready = (
            select(InboxUpdate.update_id)
            .where(
                col(InboxUpdate.status) == "pending",
                or_(col(InboxUpdate.lease_until).is_(None), col(InboxUpdate.lease_until) < now),
            )
            .order_by(col(InboxUpdate.update_id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.exec(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id).in_(ready.scalar_subquery()))
            .values(lease_until=now + lease, attempts=col(InboxUpdate.attempts) + 1)
            .returning(InboxUpdate)
        )
        rows = list(result.scalars())
        rows.sort(key=lambda r: r.update_id)
        return rows

    async def mark_done(self, update_id: int, *, now: datetime) -> bool:
        """Done once: False if it already was (a replay), and the caller must roll back.

        What the update said is dropped with it: replay protection needs only its id, and
        a handled message's words (an anonymous survey's answer, a password typed by
        mistake) must not outlive their handling. A failed update keeps its payload for the
        operator."""
        result = await self.session.exec(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id) == update_id, col(InboxUpdate.status) == "pending")
            .values(status="done", done_at=now, lease_until=None, payload="")
        )
        return result.rowcount == 1

    async def mark_failed(self, update_id: int, *, now: datetime, error: str) -> None:
        await self.session.exec(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id) == update_id, col(InboxUpdate.status) == "pending")
            .values(status="failed", done_at=now, error=error[:300], lease_until=None)
        )

    async def release(self, update_id: int) -> None:
        await self.session.exec(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id) == update_id)
            .values(lease_until=None)
        )

    async def renew(self, update_ids: Sequence[int], *, until: datetime) -> None:
        await self.session.exec(
            update(InboxUpdate)
            .where(
                col(InboxUpdate.update_id).in_(list(update_ids)),
                col(InboxUpdate.status) == "pending",
            )
            .values(lease_until=until)
        )

    async def release_all(self) -> int:
        result = await self.session.exec(
            update(InboxUpdate)
            .where(col(InboxUpdate.status) == "pending", col(InboxUpdate.lease_until).is_not(None))
            .values(lease_until=None)
        )
        return int(result.rowcount)

    async def get(self, update_id: int) -> InboxUpdate | None:
        return await self.session.get(InboxUpdate, update_id)

    async def purge_done(self, *, before: datetime) -> int:
        """Forget handled updates received before a time (retention of personal data)."""
        result = await self.session.exec(
            delete(InboxUpdate).where(
                col(InboxUpdate.status) != "pending", col(InboxUpdate.received_at) < before
            )
        )
        return int(result.rowcount)

    async def status_counts(self) -> dict[str, int]:
        rows = await self.session.exec(
            select(InboxUpdate.status, func.count()).group_by(col(InboxUpdate.status))
        )
        return {status: int(n) for status, n in rows}

    async def flow(self) -> tuple[datetime | None, datetime | None, int]:
        """When the newest update was taken in, when the oldest one not handled yet was, and
        how many are not handled yet (the outage guard's view of the stream)."""
        newest = await self.session.exec(
            select(InboxUpdate.received_at).order_by(col(InboxUpdate.update_id).desc()).limit(1)
        )
        waiting = col(InboxUpdate.status) == "pending"
        oldest = await self.session.exec(
            select(InboxUpdate.received_at)
            .where(waiting)
            .order_by(col(InboxUpdate.update_id))
            .limit(1)
        )
        count = await self.session.exec(
            select(func.count()).select_from(InboxUpdate).where(waiting)
        )
        return newest.first(), oldest.first(), int(count.one())

    async def max_update_id(self) -> int | None:
        rows = await self.session.exec(select(func.max(InboxUpdate.update_id)))
        return rows.one()


class DueRepo:
    """Scheduled work that survives restarts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        kind: str,
        due_at: datetime,
        now: datetime,
        ref_id: int | None = None,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        """Schedule; a second add with the same dedupe key is ignored."""
        stmt = (
            insert_for(self.session)(DueItem)
            .values(
                kind=kind,
                ref_id=ref_id,
                due_at=due_at,
                payload=payload or {},
                dedupe_key=dedupe_key,
                created_at=now,
                attempts=0,
            )
            .on_conflict_do_nothing()
        )
        await self.session.exec(stmt)

    async def claim(self, *, now: datetime, lease: timedelta, limit: int = 100) -> list[DueItem]:
        """Due rows not held by a live lease, earliest first; a dead worker's rows come back."""
        due_ids = (
            select(DueItem.id)
            .where(
                col(DueItem.done_at).is_(None),
                col(DueItem.due_at) <= now,
                or_(col(DueItem.lease_until).is_(None), col(DueItem.lease_until) < now),
            )
            .order_by(col(DueItem.due_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.exec(
            update(DueItem)
            .where(col(DueItem.id).in_(due_ids.scalar_subquery()))
            .values(lease_until=now + lease, attempts=col(DueItem.attempts) + 1)
            .returning(DueItem)
        )
        rows = list(result.scalars())
        rows.sort(key=lambda r: r.due_at)
        return rows

    async def complete(self, item_id: int, *, now: datetime, error: str | None = None) -> bool:
        """Done once: False if another worker already completed it."""
        result = await self.session.exec(
            update(DueItem)
            .where(col(DueItem.id) == item_id, col(DueItem.done_at).is_(None))
            .values(done_at=now, lease_until=None, error=error[:300] if error else None)
        )
        return result.rowcount == 1

    async def cancel(self, *, kind: str, ref_id: int, now: datetime) -> int:
        result = await self.session.exec(
            update(DueItem)
            .where(
                col(DueItem.kind) == kind,
                col(DueItem.ref_id) == ref_id,
                col(DueItem.done_at).is_(None),
            )
            .values(done_at=now, error="cancelled")
        )
        return int(result.rowcount)

    async def pending_count(self) -> int:
        rows = await self.session.exec(
            select(func.count()).select_from(DueItem).where(col(DueItem.done_at).is_(None))
        )
        return int(rows.one())

    async def has_pending(self, kind: str) -> bool:
        """Whether an item of this kind is still to run (a repeating chain is alive)."""
        rows = await self.session.exec(
            select(DueItem.id)
            .where(col(DueItem.kind) == kind, col(DueItem.done_at).is_(None))
            .limit(1)
        )
        return rows.first() is not None


class FlowRepo:
    """One draft row per (user, chat): the step a multi-step flow is at."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, telegram_id: int, chat_id: int) -> FlowState | None:
        rows = await self.session.exec(
            select(FlowState).where(
                col(FlowState.telegram_id) == telegram_id, col(FlowState.chat_id) == chat_id
            )
        )
        return rows.first()

    async def put(
        self,
        telegram_id: int,
        chat_id: int,
        *,
        flow: str,
        step: str,
        data: dict[str, Any],
        now: datetime,
    ) -> FlowState:
        """Start or move a flow (replaces any other flow in this chat)."""
        row = await self.get(telegram_id, chat_id)
        if row is None:
            row = FlowState(
                telegram_id=telegram_id,
                chat_id=chat_id,
                flow=flow,
                step=step,
                data=data,
                updated_at=now,
            )
        else:
            row.flow, row.step, row.data = flow, step, dict(data)
            row.version += 1
            row.updated_at = now
        self.session.add(row)
        await self.session.flush()
        return row

    async def clear_all_for(self, telegram_id: int) -> int:
        """Drop every flow of one user (a disabled account keeps no half-filled forms)."""
        result = await self.session.exec(
            delete(FlowState).where(col(FlowState.telegram_id) == telegram_id)
        )
        return int(result.rowcount)

    async def clear(self, telegram_id: int, chat_id: int) -> bool:
        row = await self.get(telegram_id, chat_id)
        if row is None:
            return False
        await self.session.delete(row)
        return True
