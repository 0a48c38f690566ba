"""The approval templates in force: loaded from YAML into the database, parsed once per version.

A request records the template row it was submitted with, so loading a new version never
changes a running request's form or route.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.approvals.model import Template
from bot.approvals.templates import load_dir, parse_template, shipped_dir
from bot.runtime import Runtime
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedTemplate:
    """One active template and the row id requests refer to."""

    row_id: int
    version: int
    template: Template


@dataclass(frozen=True)
class LoadReport:
    """What ``govbot templates load`` changed."""

    loaded: tuple[str, ...]  # keys with a new version
    unchanged: tuple[str, ...]
    retired: int


class TemplateCatalog:
    """Parsed templates by row id (a row's source never changes, so the cache never lies)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._parsed: dict[int, Template] = {}

    def _parse(self, row_id: int, key: str, source: str) -> Template:
        parsed = self._parsed.get(row_id)
        if parsed is None:
            parsed = parse_template(source, source=f"{key} (db row {row_id})")
            self._parsed[row_id] = parsed
        return parsed

    async def active(self, uow: UnitOfWork) -> list[LoadedTemplate]:
        """Every active template, by key."""
        rows = await uow.approvals.active_templates()
        return [
            LoadedTemplate(r.id, r.version, self._parse(r.id, r.key, r.source))
            for r in rows
            if r.id is not None
        ]

    async def get(self, uow: UnitOfWork, row_id: int) -> LoadedTemplate | None:
        """A template version by row id (active or not: running requests keep theirs)."""
        row = await uow.approvals.template(row_id)
        if row is None or row.id is None:
            return None
        return LoadedTemplate(row.id, row.version, self._parse(row.id, row.key, row.source))

    async def load(self, directory: Path, *, actor_id: int | None = None) -> LoadReport:
        """Validate every file first (TemplateError: nothing changes), then activate them."""
        templates, sources = await asyncio.to_thread(_read, directory)
        now = self._rt.clock()
        loaded: list[str] = []
        unchanged: list[str] = []
        async with self._rt.detached_uow() as uow:
            for key in sorted(templates):
                row, changed = await uow.approvals.put_template(
                    key, sources[key], now=now, by=actor_id
                )
                (loaded if changed else unchanged).append(key)
                if changed:
                    await uow.audit.append(
                        actor_id=actor_id,
                        action="template.loaded",
                        obj=f"template:{row.id}",
                        details={"key": key, "version": row.version},
                        now=now,
                    )
            retired = await uow.approvals.deactivate_except(list(templates))
            await uow.commit()
        logger.info("templates: %s loaded, %s unchanged", len(loaded), len(unchanged))
        return LoadReport(tuple(loaded), tuple(unchanged), retired)

    async def ensure_shipped(self) -> LoadReport | None:
        """On a fresh database, activate the shipped templates (None if some are active)."""
        async with self._rt.detached_uow() as uow:
            if await uow.approvals.active_templates():
                return None
        return await self.load(shipped_dir())


def _read(directory: Path) -> tuple[dict[str, Template], dict[str, str]]:
    """Every template of a directory and its source text; TemplateError before anything."""
    templates = load_dir(directory)
    sources: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix in (".yaml", ".yml"):
            text = path.read_text(encoding="utf-8")
            sources[parse_template(text, source=str(path)).key] = text
    return templates, sources
