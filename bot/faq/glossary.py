"""The trainers' glossary (#6): synonym groups applied to staff questions and to entries.

A glossary file is a CSV or XLSX sheet with one synonym group per row and no header: the
first cell is the canonical term, the others are its variants (Chinese synonyms, English
terms, common misspellings), the same form as the shipped ``knowledge/data/glossary.csv``
(a row whose first cell starts with ``#`` is a comment). A file is the whole trainers'
glossary: importing it replaces every group, after a report of every problem (a row with no
usable term or no canonical term, a term in two groups, an over-long term, a one-character
Chinese term, which would match inside unrelated words). Terms are stored as the trainer
wrote them and compared after ``knowledge``'s normalisation, the way the search engine reads
them. The shipped glossary applies as well; a trainer's group wins a term both define.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import access
from bot.errors import DomainError, ImportFileError
from bot.runtime import Runtime
from bot.spreadsheet import csv_bytes, read_grid, safe_cell, unsafe_cell, xlsx_bytes
from bot.text import N_, clean
from knowledge.normalise import is_cjk, normalise
from storage.uow import UnitOfWork

MAX_BYTES = 2 * 1024 * 1024
MAX_GROUPS = 5000
MAX_TERMS = 50  # in one group
MAX_TERM = 40  # characters in one term
FORMATS = ("xlsx", "csv")
COMMENT = "#"
# The first row of an exported file; a comment, so importing the file skips it. No ASCII
# comma in it: the shipped CSV format skips only lines that start with "#" as written.
HEADER = (
    "# 每行一组同义词：第一格为标准词，其后为同义词、英文说法或常见错写 | "
    "one synonym group per row: the canonical term first, then its variants"
)

ERRORS: dict[str, str] = {
    "no_canonical": N_("Line {line}: the first cell (the canonical term) is empty."),
    "empty_row": N_("Line {line}: the row has no usable term."),
    "duplicate_term": N_(
        "Line {line}: “{value}” is also in the group on line {other}; a term can belong to "
        "one group only."
    ),
    "long_term": N_("Line {line}: the term “{value}” is over 40 characters."),
    "single_character": N_(
        "Line {line}: “{value}” is a single Chinese character, which would match inside "
        "unrelated words; use a longer term."
    ),
    "too_many_terms": N_("Line {line}: more than 50 terms in one group."),
}


@dataclass(frozen=True)
class GlossaryProblem:
    """One thing wrong with one row; ``code`` is a key of ``ERRORS``."""

    line: int
    code: str
    value: str = ""
    other: int = 0

    def message(self, gettext: Any) -> str:
        """The problem in the reader's language."""
        return str(gettext(ERRORS[self.code])).format(
            line=self.line, value=self.value, other=self.other
        )


@dataclass(frozen=True)
class GlossaryPlan:
    """What importing a glossary file would do: its groups, its problems, what changes."""

    groups: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    problems: tuple[GlossaryProblem, ...] = field(default=())
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    same: bool = False  # exactly the stored glossary: applying writes nothing

    @property
    def ok(self) -> bool:
        """Whether it may be applied."""
        return not self.problems


class GlossaryRejectedError(DomainError):
    """The glossary file has problems; ``plan.problems`` names them, nothing was changed."""

    def __init__(self, plan: GlossaryPlan) -> None:
        super().__init__("glossary rejected")
        self.plan = plan


def read_rows(data: bytes, filename: str) -> list[tuple[int, list[str]]]:
    """The file's rows as (line, cleaned cells), comment rows left out."""
    rows = read_grid(data, filename, max_rows=MAX_GROUPS, max_bytes=MAX_BYTES)
    found: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        terms = [clean(unsafe_cell(cell)) for cell in cells]
        first = next((term for term in terms if term), "")
        if first.startswith(COMMENT):
            continue
        while terms and not terms[-1]:
            terms.pop()
        found.append((line, terms))
    return found


def check_rows(
    rows: Sequence[tuple[int, Sequence[str]]],
) -> tuple[tuple[tuple[str, ...], ...], tuple[int, ...], tuple[GlossaryProblem, ...]]:
    """The groups of a file (terms as written, repeats within a row dropped) and its problems."""
    groups: list[tuple[str, ...]] = []
    lines: list[int] = []
    problems: list[GlossaryProblem] = []
    owner: dict[str, int] = {}  # normalised term -> line of the group that has it
    for line, cells in rows:
        if not cells or not cells[0]:
            problems.append(GlossaryProblem(line, "no_canonical"))
            continue
        terms: list[str] = []
        seen: set[str] = set()
        for term in cells:
            norm = normalise(term)
            if not norm or norm in seen:
                continue
            seen.add(norm)
            terms.append(term)
            if len(term) > MAX_TERM:
                problems.append(GlossaryProblem(line, "long_term", term[:20] + "…"))
            elif len(norm) == 1 and is_cjk(norm):
                problems.append(GlossaryProblem(line, "single_character", term))
            if norm in owner:
                problems.append(GlossaryProblem(line, "duplicate_term", term, owner[norm]))
            else:
                owner[norm] = line
        if not terms:
            problems.append(GlossaryProblem(line, "empty_row"))
            continue
        if len(terms) > MAX_TERMS:
            problems.append(GlossaryProblem(line, "too_many_terms"))
        groups.append(tuple(terms))
        lines.append(line)
    problems.sort(key=lambda p: (p.line, list(ERRORS).index(p.code)))
    return tuple(groups), tuple(lines), tuple(problems)


def _shape(group: Sequence[str]) -> tuple[str, ...]:
    return tuple(normalise(term) for term in group)


def compare(
    stored: Sequence[Sequence[str]], incoming: Sequence[Sequence[str]]
) -> tuple[int, int, int, int]:
    """(added, changed, removed, unchanged) groups, matched by their canonical term."""
    before = {_shape(g)[0]: _shape(g) for g in stored if g}
    after = {_shape(g)[0]: _shape(g) for g in incoming if g}
    added = sum(1 for key in after if key not in before)
    removed = sum(1 for key in before if key not in after)
    changed = sum(1 for key, terms in after.items() if key in before and before[key] != terms)
    unchanged = sum(1 for key, terms in after.items() if before.get(key) == terms)
    return added, changed, removed, unchanged


def write_glossary(groups: Sequence[Sequence[str]], fmt: str) -> bytes:
    """The groups as ``xlsx`` or ``csv``, a comment row first; importing it changes nothing."""
    if fmt == "xlsx":
        return xlsx_bytes([HEADER], (list(g) for g in groups), title="Glossary")
    if fmt == "csv":
        return csv_bytes([HEADER], ([safe_cell(t) for t in g] for g in groups))
    raise ValueError(f"unknown format {fmt!r}")


def plan_for(
    rows: Sequence[tuple[int, Sequence[str]]], stored: Sequence[Sequence[str]]
) -> GlossaryPlan:
    """Check a file's rows against the stored glossary."""
    groups, lines, problems = check_rows(rows)
    added, changed, removed, unchanged = compare(stored, groups)
    same = [list(g) for g in groups] == [list(g) for g in stored]
    return GlossaryPlan(groups, lines, problems, added, changed, removed, unchanged, same)


class GlossaryService:
    """Export and import the trainers' glossary (CLI and chat)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def groups(self) -> list[list[str]]:
        """The stored groups, canonical term first."""
        async with self._rt.detached_uow() as uow:
            return await uow.faq.glossary_groups()

    async def export(self, fmt: str) -> bytes:
        """The trainers' glossary as a file."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        return await asyncio.to_thread(write_glossary, await self.groups(), fmt)

    async def plan_import(self, data: bytes, filename: str) -> GlossaryPlan:
        """Read and check a file against what is stored; changes nothing."""
        rows = await asyncio.to_thread(read_rows, data, filename)
        if not rows:
            raise ImportFileError("empty")
        return plan_for(rows, await self.groups())

    async def apply_in(
        self, uow: UnitOfWork, plan: GlossaryPlan, *, filename: str, actor_id: int | None
    ) -> bool:
        """Replace the glossary inside the caller's unit of work; False if nothing changed."""
        if not plan.ok:
            raise GlossaryRejectedError(plan)
        stored = await uow.faq.glossary_groups()
        if [list(g) for g in plan.groups] == stored:
            return False
        now = self._rt.clock()
        await uow.faq.replace_glossary(plan.groups, by=actor_id, now=now)
        added, changed, removed, _ = compare(stored, plan.groups)
        await uow.audit.append(
            actor_id=actor_id,
            action="faq.glossary",
            obj="faq:glossary",
            details={
                "file": filename,
                "groups": len(plan.groups),
                "added": added,
                "changed": changed,
                "removed": removed,
            },
            now=now,
        )
        return True

    async def apply_import(
        self, data: bytes, filename: str, *, tg_id: int | None = None
    ) -> GlossaryPlan:
        """Check again and replace the glossary (``tg_id`` None: the operator, via the CLI)."""
        plan = await self.plan_import(data, filename)
        if not plan.ok:
            raise GlossaryRejectedError(plan)
        async with self._rt.detached_uow() as uow:
            actor_id = None
            if tg_id is not None:
                actor_id = (await access.authorize(uow, tg_id, "faq.manage")).staff_id
            await self.apply_in(uow, plan, filename=filename, actor_id=actor_id)
            await uow.commit()
        return plan
