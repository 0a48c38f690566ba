"""Approvals: templates, requests, tasks, drafts, delegations, CCs and 发文字号 counters."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for
from storage.tables.approvals import (
    ApprovalDraft,
    ApprovalInstance,
    ApprovalTask,
    ApprovalTemplateRow,
    CcReceipt,
    Delegation,
    DocNumberCounter,
)


class DocNumberRepo:
    """Gap-free, duplicate-free sequence numbers per (prefix, year)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def allocate(self, prefix: str, year: int, *, now: datetime) -> int:
        """Take the next number in the current transaction (a rollback gives it back).

        The UPDATE locks the counter row (PostgreSQL) or holds the write lock (SQLite) until
        the caller commits or rolls back, so concurrent allocators queue one behind another.
        """
        await self.session.exec(
            insert_for(self.session)(DocNumberCounter)
            .values(prefix=prefix, year=year, last=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["prefix", "year"])
        )
        taken = await self.session.exec(
            update(DocNumberCounter)
            .where(col(DocNumberCounter.prefix) == prefix, col(DocNumberCounter.year) == year)
            .values(last=col(DocNumberCounter.last) + 1, updated_at=now)
            .returning(col(DocNumberCounter.last))
        )
        return int(taken.scalar_one())

    async def current(self, prefix: str, year: int) -> int:
        """The last number taken (0: none yet)."""
        found = await self.session.exec(
            select(col(DocNumberCounter.last)).where(
                col(DocNumberCounter.prefix) == prefix, col(DocNumberCounter.year) == year
            )
        )
        return found.first() or 0


class ApprovalRepo:
    """Templates, requests, task index rows, drafts, delegations and CC receipts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- templates
    async def active_templates(self) -> list[ApprovalTemplateRow]:
        rows = await self.session.exec(
            select(ApprovalTemplateRow)
            .where(col(ApprovalTemplateRow.active).is_(True))
            .order_by(col(ApprovalTemplateRow.key))
        )
        return list(rows)

    async def template(self, template_id: int) -> ApprovalTemplateRow | None:
        return await self.session.get(ApprovalTemplateRow, template_id)

    async def put_template(
        self, key: str, source: str, *, now: datetime, by: int | None
    ) -> tuple[ApprovalTemplateRow, bool]:
        """Make ``source`` the active version of ``key``; (row, changed). Unchanged: no-op."""
        current = (
            await self.session.exec(
                select(ApprovalTemplateRow).where(
                    col(ApprovalTemplateRow.key) == key, col(ApprovalTemplateRow.active).is_(True)
                )
            )
        ).first()
        if current is not None and current.source == source:
            return current, False
        latest = (
            await self.session.exec(
                select(func.max(col(ApprovalTemplateRow.version))).where(
                    col(ApprovalTemplateRow.key) == key
                )
            )
        ).first()
        await self.session.exec(
            update(ApprovalTemplateRow)
            .where(col(ApprovalTemplateRow.key) == key)
            .values(active=False)
        )
        row = ApprovalTemplateRow(
            key=key, version=(latest or 0) + 1, source=source, loaded_at=now, loaded_by=by
        )
        self.session.add(row)
        await self.session.flush()
        return row, True

    async def deactivate_except(self, keys: Collection[str]) -> int:
        """Retire templates a loaded directory no longer has (running requests keep theirs)."""
        result = await self.session.exec(
            update(ApprovalTemplateRow)
            .where(
                col(ApprovalTemplateRow.active).is_(True),
                col(ApprovalTemplateRow.key).not_in(list(keys)),
            )
            .values(active=False)
        )
        return int(result.rowcount)

    # -- requests
    async def add_instance(self, instance: ApprovalInstance) -> ApprovalInstance:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def instance(self, instance_id: int) -> ApprovalInstance | None:
        return await self.session.get(ApprovalInstance, instance_id, populate_existing=True)

    async def by_number(self, number: str) -> ApprovalInstance | None:
        found = await self.session.exec(
            select(ApprovalInstance).where(
                (col(ApprovalInstance.number) == number) | (col(ApprovalInstance.doc_no) == number)
            )
        )
        return found.first()

    async def save_instance(self, instance_id: int, *, seen_version: int, **values: Any) -> bool:
        """Compare-and-swap: write ``values`` only if nobody changed the request since."""
        result = await self.session.exec(
            update(ApprovalInstance)
            .where(
                col(ApprovalInstance.id) == instance_id,
                col(ApprovalInstance.version) == seen_version,
            )
            .values(version=seen_version + 1, **values)
        )
        return int(result.rowcount) == 1

    async def submitted_by(self, staff_id: int, *, limit: int) -> list[ApprovalInstance]:
        rows = await self.session.exec(
            select(ApprovalInstance)
            .where(col(ApprovalInstance.submitter_id) == staff_id)
            .order_by(col(ApprovalInstance.id).desc())
            .limit(limit)
        )
        return list(rows)

    async def register(
        self, kind: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[ApprovalInstance]:
        """The 发文 or 收文 register: every request of that kind, oldest first."""
        query = select(ApprovalInstance).where(col(ApprovalInstance.kind) == kind)
        if since is not None:
            query = query.where(col(ApprovalInstance.created_at) >= since)
        if until is not None:
            query = query.where(col(ApprovalInstance.created_at) < until)
        rows = await self.session.exec(query.order_by(col(ApprovalInstance.id)))
        return list(rows)

    # -- task index rows
    async def add_task(self, task: ApprovalTask) -> ApprovalTask:
        self.session.add(task)
        await self.session.flush()
        return task

    async def task(self, task_id: int) -> ApprovalTask | None:
        return await self.session.get(ApprovalTask, task_id, populate_existing=True)

    async def tasks_of(self, instance_id: int) -> list[ApprovalTask]:
        rows = await self.session.exec(
            select(ApprovalTask)
            .where(col(ApprovalTask.instance_id) == instance_id)
            .order_by(col(ApprovalTask.n))
        )
        return list(rows)

    async def update_task(self, task_id: int, **values: Any) -> None:
        await self.session.exec(
            update(ApprovalTask).where(col(ApprovalTask.id) == task_id).values(**values)
        )

    async def open_tasks_for(self, staff_id: int, *, limit: int) -> list[ApprovalTask]:
        """What waits for this person: most urgent first, then oldest."""
        rows = await self.session.exec(
            select(ApprovalTask)
            .where(col(ApprovalTask.assignee_id) == staff_id, col(ApprovalTask.status) == "open")
            .order_by(col(ApprovalTask.urgency).desc(), col(ApprovalTask.id))
            .limit(limit)
        )
        return list(rows)

    async def count_open_for(self, staff_id: int) -> dict[int, int]:
        """Open tasks of this person per urgency (0 normal, 1 加急, 2 特急)."""
        rows = await self.session.exec(
            select(col(ApprovalTask.urgency), func.count())
            .where(col(ApprovalTask.assignee_id) == staff_id, col(ApprovalTask.status) == "open")
            .group_by(col(ApprovalTask.urgency))
        )
        return {int(u): int(c) for u, c in rows}

    # -- drafts
    async def add_draft(self, draft: ApprovalDraft) -> ApprovalDraft:
        self.session.add(draft)
        await self.session.flush()
        return draft

    async def draft(self, draft_id: int) -> ApprovalDraft | None:
        return await self.session.get(ApprovalDraft, draft_id, populate_existing=True)

    async def save_draft(
        self, draft_id: int, *, seen_version: int, values: dict[str, Any], now: datetime
    ) -> bool:
        result = await self.session.exec(
            update(ApprovalDraft)
            .where(col(ApprovalDraft.id) == draft_id, col(ApprovalDraft.version) == seen_version)
            .values(values=values, updated_at=now, version=seen_version + 1)
        )
        return int(result.rowcount) == 1

    async def delete_draft(self, draft_id: int) -> None:
        await self.session.exec(delete(ApprovalDraft).where(col(ApprovalDraft.id) == draft_id))

    # -- delegations
    async def add_delegation(self, delegation: Delegation) -> Delegation:
        self.session.add(delegation)
        await self.session.flush()
        return delegation

    async def delegations_on(self, day: date) -> list[Delegation]:
        """Delegations in force on ``day`` (a short list: people away today)."""
        rows = await self.session.exec(
            select(Delegation).where(
                col(Delegation.revoked_at).is_(None),
                col(Delegation.starts_on) <= day,
                col(Delegation.ends_on) >= day,
            )
        )
        return list(rows)

    async def delegations_of(self, staff_id: int) -> list[Delegation]:
        rows = await self.session.exec(
            select(Delegation)
            .where(col(Delegation.staff_id) == staff_id, col(Delegation.revoked_at).is_(None))
            .order_by(col(Delegation.starts_on))
        )
        return list(rows)

    async def revoke_delegations(self, staff_id: int, *, now: datetime) -> int:
        result = await self.session.exec(
            update(Delegation)
            .where(col(Delegation.staff_id) == staff_id, col(Delegation.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    # -- CC
    async def add_cc(self, instance_id: int, staff_id: int, *, now: datetime) -> bool:
        """Record a CC recipient; False if they already were one."""
        result = await self.session.exec(
            insert_for(self.session)(CcReceipt)
            .values(instance_id=instance_id, staff_id=staff_id, notified_at=now)
            .on_conflict_do_nothing()
        )
        return int(result.rowcount) == 1

    async def mark_cc_read(self, instance_id: int, staff_id: int, *, now: datetime) -> bool:
        """The CC recipient opened it; False if not a recipient or already read."""
        result = await self.session.exec(
            update(CcReceipt)
            .where(
                col(CcReceipt.instance_id) == instance_id,
                col(CcReceipt.staff_id) == staff_id,
                col(CcReceipt.read_at).is_(None),
            )
            .values(read_at=now)
        )
        return int(result.rowcount) == 1

    async def cc_of(self, instance_id: int) -> list[CcReceipt]:
        rows = await self.session.exec(
            select(CcReceipt).where(col(CcReceipt.instance_id) == instance_id)
        )
        return list(rows)

    # -- registers and 督办 (#4)
    async def in_status(
        self, kinds: Collection[str], statuses: Collection[str]
    ) -> list[ApprovalInstance]:
        """Requests of these kinds in these statuses (the open 发文 and 收文), oldest first."""
        rows = await self.session.exec(
            select(ApprovalInstance)
            .where(
                col(ApprovalInstance.kind).in_(list(kinds)),
                col(ApprovalInstance.status).in_(list(statuses)),
            )
            .order_by(col(ApprovalInstance.id))
        )
        return list(rows)

    async def open_tasks_of(self, instance_ids: Collection[int]) -> list[ApprovalTask]:
        """The open task rows of many requests (their holders and deadlines), by request."""
        ids = sorted(set(instance_ids))
        found: list[ApprovalTask] = []
        for start in range(0, len(ids), 1000):  # well under every driver's bind-parameter limit
            rows = await self.session.exec(
                select(ApprovalTask)
                .where(
                    col(ApprovalTask.instance_id).in_(ids[start : start + 1000]),
                    col(ApprovalTask.status) == "open",
                )
                .order_by(col(ApprovalTask.instance_id), col(ApprovalTask.n))
            )
            found.extend(rows)
        return found
