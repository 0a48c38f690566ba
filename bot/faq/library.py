"""Keeping the knowledge base: import with a report first, export, publish, roll back (#6).

Every entry has a stable key (the spreadsheet's id). A trainer's edit or an import writes the
entry's draft; publishing makes the draft a new numbered version that staff are answered
from; rolling back publishes an earlier version's words again as the newest version, so the
history only grows. Every change is audited with who made it. An import is checked as a whole
and applies nothing unless every row passes; the same file imported twice changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import access
from bot.errors import DomainError
from bot.faq.content import Checked, EntryContent, check
from bot.faq.files import read_file, write_file
from bot.runtime import Runtime
from storage.tables.faq import FaqEntry, FaqEntryVersion
from storage.uow import UnitOfWork

PUBLISHED = "published"
DRAFT = "draft"
ARCHIVED = "archived"


class UnknownEntryError(DomainError):
    """No entry with this key (or no such version of it)."""


class StaleEntryError(DomainError):
    """Someone else changed the entry since it was read."""


class ImportRejectedError(DomainError):
    """The file has problems; ``checked.problems`` names them and nothing was changed."""

    def __init__(self, checked: Checked) -> None:
        super().__init__("import rejected")
        self.checked = checked


@dataclass(frozen=True)
class ImportPlan:
    """What an import would do: the check, and which keys are new, changed or the same."""

    checked: Checked
    new: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether it may be applied."""
        return self.checked.ok


@dataclass(frozen=True)
class ImportResult:
    """What an applied import did."""

    plan: ImportPlan
    published: tuple[str, ...]  # keys that got a new published version
    drafted: tuple[str, ...]  # keys whose draft was written (publish=False)


@dataclass(frozen=True)
class EntryView:
    """An entry as a trainer sees it: its key, status, published version and words."""

    key: str
    status: str
    published_version: int | None
    content: EntryContent
    has_draft: bool


def current_content(entry: FaqEntry, published: FaqEntryVersion | None) -> EntryContent | None:
    """The words a trainer works on: the draft if there is one, else the published version."""
    if entry.draft:
        return EntryContent.from_json(entry.draft)
    if published is not None:
        return EntryContent.from_json(published.content)
    return None


class KnowledgeLibrary:
    """The trainers' side of the knowledge base."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def _actor_id(self, uow: UnitOfWork, tg_id: int | None) -> int | None:
        """The trainer's staff id (None for the server's operator, via the CLI)."""
        if tg_id is None:
            return None
        actor = await access.authorize(uow, tg_id, "faq.manage")
        return actor.staff_id

    async def _existing(self, uow: UnitOfWork) -> dict[str, EntryContent]:
        found: dict[str, EntryContent] = {}
        for entry, published in await uow.faq.with_published(statuses=(PUBLISHED, DRAFT)):
            content = current_content(entry, published)
            if content is not None:
                found[entry.key] = content
        return found

    async def plan_import(self, data: bytes, filename: str) -> ImportPlan:
        """Read and check a file against what is stored; changes nothing."""
        entries, lines = await asyncio.to_thread(read_file, data, filename)
        async with self._rt.detached_uow() as uow:
            existing = await self._existing(uow)
        incoming = {e.key for e in entries}
        staying = [content for key, content in existing.items() if key not in incoming]
        checked = await asyncio.to_thread(check, entries, lines, others=staying)
        new, changed, same = [], [], []
        for entry in entries:
            before = existing.get(entry.key)
            if before is None:
                new.append(entry.key)
            elif before == entry:
                same.append(entry.key)
            else:
                changed.append(entry.key)
        return ImportPlan(checked, tuple(new), tuple(changed), tuple(same))

    async def apply_import(
        self, data: bytes, filename: str, *, tg_id: int | None, publish: bool
    ) -> ImportResult:
        """Check again and apply: new and changed entries are published (or drafted)."""
        plan = await self.plan_import(data, filename)
        if not plan.ok:
            raise ImportRejectedError(plan.checked)
        async with self._rt.detached_uow() as uow:
            actor_id = await self._actor_id(uow, tg_id)
            result = await self.apply_plan_in(
                uow, plan, filename=filename, actor_id=actor_id, publish=publish
            )
            await uow.commit()
        return result

    async def apply_plan_in(
        self,
        uow: UnitOfWork,
        plan: ImportPlan,
        *,
        filename: str,
        actor_id: int | None,
        publish: bool,
    ) -> ImportResult:
        """Apply a checked plan inside the caller's unit of work (the caller commits)."""
        if not plan.ok:
            raise ImportRejectedError(plan.checked)
        touched = {*plan.new, *plan.changed}
        published: list[str] = []
        drafted: list[str] = []
        now = self._rt.clock()
        for content in plan.checked.entries:
            if content.key not in touched:
                continue
            entry = await uow.faq.entry_by_key(content.key)
            if entry is None:
                entry = await uow.faq.add_entry(
                    FaqEntry(
                        key=content.key,
                        locale=content.locale,
                        status=DRAFT,
                        draft=content.to_json(),
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                assert entry.id is not None
                # An archived entry brought back by a file is a draft again, not hidden.
                status = DRAFT if entry.status == ARCHIVED else entry.status
                ok = await uow.faq.save_entry(
                    entry.id,
                    seen_revision=entry.revision,
                    now=now,
                    draft=content.to_json(),
                    locale=content.locale,
                    status=status,
                )
                if not ok:
                    raise StaleEntryError(content.key)
                # The UPDATE also refreshed the loaded row (the session synchronises it), so
                # publish_in compares against the new revision.
            if publish:
                await self.publish_in(uow, content.key, actor_id=actor_id, note="import")
                published.append(content.key)
            else:
                drafted.append(content.key)
        await uow.audit.append(
            actor_id=actor_id,
            action="faq.import",
            obj="faq",
            details={
                "file": filename,
                "new": list(plan.new),
                "changed": list(plan.changed),
                "unchanged": len(plan.unchanged),
                "published": publish,
            },
            now=now,
        )
        return ImportResult(plan, tuple(published), tuple(drafted))

    async def publish_in(
        self, uow: UnitOfWork, key: str, *, actor_id: int | None, note: str | None = None
    ) -> int:
        """Publish the entry's draft inside the caller's unit of work (the caller commits)."""
        entry = await uow.faq.entry_by_key(key)
        if entry is None or entry.id is None or not entry.draft:
            raise UnknownEntryError(key)
        now = self._rt.clock()
        number = await uow.faq.latest_version_number(entry.id) + 1
        await uow.faq.add_version(
            FaqEntryVersion(
                entry_id=entry.id,
                version=number,
                content=dict(entry.draft),
                published_at=now,
                published_by=actor_id,
                note=note,
            )
        )
        if not await uow.faq.save_entry(
            entry.id,
            seen_revision=entry.revision,
            now=now,
            draft=None,
            status=PUBLISHED,
            published_version=number,
        ):
            raise StaleEntryError(key)
        await uow.audit.append(
            actor_id=actor_id,
            action="faq.publish",
            obj=f"faq:{key}",
            details={"version": number, "note": note},
            now=now,
        )
        return number

    async def publish(self, key: str, *, tg_id: int | None) -> int:
        """Publish an entry's draft as its next version; the version number."""
        async with self._rt.detached_uow() as uow:
            actor_id = await self._actor_id(uow, tg_id)
            number = await self.publish_in(uow, key, actor_id=actor_id)
            await uow.commit()
        return number

    async def rollback(self, key: str, version: int, *, tg_id: int | None) -> int:
        """Publish version ``version``'s words again, as the newest version."""
        async with self._rt.detached_uow() as uow:
            actor_id = await self._actor_id(uow, tg_id)
            number = await self.rollback_in(uow, key, version, actor_id=actor_id)
            await uow.commit()
        return number

    async def rollback_in(
        self, uow: UnitOfWork, key: str, version: int, *, actor_id: int | None
    ) -> int:
        """Roll back inside the caller's unit of work (the caller commits); the new number."""
        entry = await uow.faq.entry_by_key(key)
        old = (
            await uow.faq.version(entry.id, version)
            if entry is not None and entry.id is not None
            else None
        )
        if entry is None or entry.id is None or old is None:
            raise UnknownEntryError(f"{key} v{version}")
        now = self._rt.clock()
        if not await uow.faq.save_entry(
            entry.id, seen_revision=entry.revision, now=now, draft=dict(old.content)
        ):
            raise StaleEntryError(key)
        return await self.publish_in(uow, key, actor_id=actor_id, note=f"rollback to v{version}")

    async def entries(self, *, include_drafts: bool = True) -> list[EntryView]:
        """Every entry that is not archived, in key order."""
        views: list[EntryView] = []
        async with self._rt.detached_uow() as uow:
            statuses = (PUBLISHED, DRAFT) if include_drafts else (PUBLISHED,)
            for entry, published in await uow.faq.with_published(statuses=statuses):
                content = current_content(entry, published)
                if content is None:
                    continue
                views.append(
                    EntryView(
                        entry.key,
                        entry.status,
                        entry.published_version,
                        content,
                        bool(entry.draft),
                    )
                )
        return views

    async def published_content(self) -> list[tuple[EntryContent, int]]:
        """What staff are answered from: each published entry's words and version."""
        async with self._rt.detached_uow() as uow:
            rows = await uow.faq.published()
        return [(EntryContent.from_json(v.content), v.version) for _, v in rows]

    async def export(self, fmt: str, *, drafts: bool = False) -> bytes:
        """The knowledge base as a file (published words, or the drafts where there are)."""
        if drafts:
            contents: Sequence[EntryContent] = [v.content for v in await self.entries()]
        else:
            contents = [c for c, _ in await self.published_content()]
        return await asyncio.to_thread(write_file, list(contents), fmt)

    async def versions(self, key: str) -> list[dict[str, Any]]:
        """An entry's published versions: number, when, by whom, note."""
        async with self._rt.detached_uow() as uow:
            entry = await uow.faq.entry_by_key(key)
            if entry is None or entry.id is None:
                raise UnknownEntryError(key)
            return [
                {
                    "version": v.version,
                    "published_at": v.published_at,
                    "published_by": v.published_by,
                    "note": v.note,
                    "question": v.content.get("question", ""),
                }
                for v in await uow.faq.versions(entry.id)
            ]
