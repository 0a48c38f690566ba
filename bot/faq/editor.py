"""The trainers' tools in chat (#6): search, the entry card, create and edit step by step
(words, tags, follow-ups, attached documents), preview, publish, versions and rollback,
archive, spreadsheet import and export, the glossary.

Each public method is one unit of work bound to the update being handled, so its changes, its
audit rows and its replies (outbox rows rendered by ``handlers/render/faq_trainer.py``) commit
together with the update's "handled" mark, once. The step a trainer is at lives in the chat's
flow row; the words being edited live in the entry's draft, written with compare-and-swap on
the entry's revision. Every button carries the revision its card showed, so a card drawn
before someone else's change gets the entry as it is now, never an edit of words the trainer
did not see. Nothing reaches staff before it is published, and every publish is checked whole.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import mimetypes
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process

from bot import access
from bot.access import Actor
from bot.emulator.html import HtmlParseError, parse_html
from bot.errors import ImportFileError, StaleCardError
from bot.faq.answers import answer_facts, queue_attachments
from bot.faq.content import (
    KEY_RE,
    MAX_ATTACHMENT_NAME,
    Attachment,
    EntryContent,
    Problem,
    answer_problem,
    check,
)
from bot.faq.files import KB_TABLE
from bot.faq.glossary import GlossaryPlan, GlossaryService
from bot.faq.library import (
    ARCHIVED,
    DRAFT,
    PUBLISHED,
    ImportPlan,
    KnowledgeLibrary,
    UnknownEntryError,
    current_content,
)
from bot.i18n import N_, negotiate, translator
from bot.runtime import Runtime
from knowledge.glossary import Glossary, default_glossary
from knowledge.normalise import is_cjk, normalise
from knowledge.pinyin import syllables
from storage.tables.faq import FaqEntry, FaqEntryVersion
from storage.tables.messaging import PRIORITY_INTERACTIVE
from storage.tables.runtime import FlowState
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

FLOW_SEARCH = "kb_search"  # step "query": waiting for words; "results": a list is shown
FLOW_NEW = "kb_new"  # steps "question", "phrasings", "answer", "category"
FLOW_EDIT = "kb_edit"  # steps "question", "phrasing", "answer", "category", "tags" (typed or
# tapped), "follow_up" (words to search for, then a tap), "attach" (waiting for documents),
# "remove", "rollback", "archive" (waiting for a tap)
FLOW_IMPORT = "kb_import"  # steps "file" (waiting for a document), "confirm" (report shown)
FLOWS = frozenset({FLOW_SEARCH, FLOW_NEW, FLOW_EDIT, FLOW_IMPORT})
TYPED_STEPS = frozenset(
    {"question", "phrasing", "phrasings", "answer", "category", "tags", "follow_up", "query"}
)
# A prompt from long ago: the next text is not the answer it asked for but a new question.
TEXT_TTL = timedelta(hours=1)

PAGE_SIZE = 8
MAX_RESULTS = 200
MAX_QUERY = 200
MIN_COVERAGE = 0.6  # share of the searched words an entry must contain to be listed
CATEGORY_CHOICES = 8
MAX_REPORTED = 15  # problems listed in a chat report; the rest are counted
MAX_LISTED_KEYS = 10
MAX_UPLOAD_BYTES = KB_TABLE.max_bytes  # what the file reader accepts (10 MB)
CHAT_EXPORT_LIMIT = 5000  # entries in a file sent in chat; `govbot faq export` has them all
EXPORT_FORMATS = ("xlsx", "csv", "yaml")
GLOSSARY_FORMATS = ("xlsx", "csv")
KB_FILE_TYPES = (".xlsx", ".csv", ".yaml", ".yml")
GLOSSARY_FILE_TYPES = (".xlsx", ".csv")
ENTRIES, GLOSSARY = "entries", "glossary"

# Which of content.check's problems belong to the field being typed (the others wait).
FIELD_CODES = {
    "question": frozenset(
        {"empty_question", "long_question", "existing_phrasing", "duplicate_phrasing"}
    ),
    "phrasing": frozenset(
        {"long_question", "too_many_alternatives", "existing_phrasing", "duplicate_phrasing"}
    ),
    "answer": frozenset({"empty_answer", "long_answer", "bad_html"}),
    "category": frozenset({"long_category"}),
    "tags": frozenset({"too_many_tags"}),
}
FOLLOW_UP_CODES = frozenset({"too_many_follow_ups", "self_follow_up", "broken_follow_up"})
ATTACHMENT_CODES = frozenset({"too_many_attachments", "bad_attachment"})
# What a typed list of tags is split at: commas, the enumeration comma, bars, semicolons,
# line breaks (half- and full-width alike).
_TAG_SEPARATORS = re.compile(r"[,，、|｜;；\n]+")
# A document sent without a file name is named in the entry's language (staff read it).
FALLBACK_NAME = N_("Attachment {n}")
_WORD = re.compile(r"[a-z0-9]+(?:\.[a-z0-9]+)*|[^\sa-z0-9]+")
_KEY_PART = re.compile(r"[a-z0-9]+")


class ImportGoneError(StaleCardError):
    """The import this button belongs to is no longer waiting (done, cancelled, replaced)."""


class StaleEntryCardError(StaleCardError):
    """The entry changed between reading and writing it (a race with another trainer)."""


@dataclass(frozen=True)
class PendingImport:
    """The uploaded file a report's button refers to (downloaded again on the tap)."""

    file_id: str
    filename: str
    kind: str  # ENTRIES or GLOSSARY
    version: int


@dataclass(frozen=True)
class Listed:
    """One entry in a list of search results."""

    entry_id: int
    key: str
    question: str
    status: str
    has_draft: bool


# --- pure helpers --------------------------------------------------------------------------
def plain(answer_html: str) -> str:
    """An answer's words without its formatting."""
    try:
        return parse_html(answer_html, strict_ampersand=False).text
    except HtmlParseError:
        return answer_html


def _units(text: str) -> list[str]:
    """What a search is made of: Latin words, and Chinese as overlapping character pairs."""
    units: list[str] = []
    for word in _WORD.findall(text):
        if word[0].isascii() or len(word) == 1:
            units.append(word)
        else:
            units.extend(word[i : i + 2] for i in range(len(word) - 1))
    return units


def _coverage(units: Sequence[str], text: str, latin: Sequence[str]) -> float:
    """Share of the units found in the text (a Latin word also by a near spelling)."""
    if not units:
        return 0.0
    found = 0
    for unit in units:
        if unit in text:
            found += 1
        elif unit.isascii() and len(unit) >= 4 and latin:
            near = process.extractOne(unit, latin, scorer=fuzz.ratio, score_cutoff=80)
            found += near is not None
    return found / len(units)


def rank(
    rows: Sequence[tuple[Listed, EntryContent]], query: str, glossary: Glossary
) -> list[Listed]:
    """Entries matching a trainer's search words, best first: the key, then the question and
    its phrasings, then the answer, category and tags; synonyms of the glossary count."""
    q = normalise(query)
    if not q:
        return []
    forms = [_units(q)]
    rewritten = glossary.apply(q)
    if rewritten != q:
        forms.append(_units(rewritten))
    scored: list[tuple[float, str, Listed]] = []
    for listed, content in rows:
        key = listed.key.lower()
        if q == key:
            scored.append((1000.0, key, listed))
            continue
        if len(q) >= 2 and q in key:
            scored.append((900.0, key, listed))
            continue
        phrasings = " | ".join(normalise(p) for p in content.phrasings())
        rest = normalise(
            " ".join([plain(content.answer), content.category, *content.tags, listed.key])
        )
        everything = phrasings + " | " + rest
        texts = [(phrasings, everything)]
        if rewritten != q:
            texts.append((glossary.apply(phrasings), glossary.apply(everything)))
        latin = [w for w in _KEY_PART.findall(everything) if len(w) >= 3]
        best_phr = best_all = 0.0
        for units in forms:
            for phr_text, all_text in texts:
                best_phr = max(best_phr, _coverage(units, phr_text, latin))
                best_all = max(best_all, _coverage(units, all_text, latin))
        if max(best_phr, best_all) < MIN_COVERAGE:
            continue
        scored.append((500.0 * best_phr + 200.0 * best_all, key, listed))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [listed for _, _, listed in scored[:MAX_RESULTS]]


def make_key(question: str, taken: Iterable[str]) -> str:
    """A readable, unused key for a new entry: the question's first words in pinyin and
    Latin letters ("忘记OA密码" → "wang-ji-oa-mi-ma"), with a counter if that is taken."""
    used = set(taken)
    parts: list[str] = []
    for word in _WORD.findall(normalise(question)):
        if word[0].isascii():
            parts.extend(_KEY_PART.findall(word))
        else:
            chars = [c for c in word if is_cjk(c)]
            parts.extend(s for s in syllables("".join(chars)) if s.isascii() and s.isalpha())
        if len(parts) >= 6:
            break
    base = ""
    for part in parts[:6]:
        if len(base) + len(part) + 1 > 40:
            break
        base = f"{base}-{part}" if base else part
    if not base or not KEY_RE.match(base):
        base = "kb"
    key, n = base, 2
    while key in used:
        key, n = f"{base}-{n}", n + 1
    return key


def split_tags(text: str) -> tuple[str, ...]:
    """Typed tags: split at commas, 、, bars, semicolons or lines; blanks and repeats dropped
    (a repeat in another width or case counts as the same tag)."""
    tags: list[str] = []
    seen: set[str] = set()
    for part in _TAG_SEPARATORS.split(text):
        tag = " ".join(part.split())
        norm = normalise(tag)
        if tag and norm not in seen:
            seen.add(norm)
            tags.append(tag)
    return tuple(tags)


def attachment_name(file_name: str | None, mime: str | None, locale: str, n: int) -> str:
    """What an attached document is called: its file name, else "Attachment N" in the entry's
    language with the extension its type has (staff see the name under the answer)."""
    name = " ".join((file_name or "").split())
    if name:
        return name
    extension = mimetypes.guess_extension(mime or "", strict=False) or ""
    return translator(negotiate(locale)).gettext(FALLBACK_NAME, n=n) + extension


def _problem_facts(problem: Problem) -> dict[str, Any]:
    return {"code": problem.code, "value": problem.value, "entry": problem.entry}


def _card_facts(entry: FaqEntry, content: EntryContent, **extra: Any) -> dict[str, Any]:
    """Facts of an entry card: what the trainer sees and the revision its buttons carry."""
    return {
        "entry_id": entry.id,
        "revision": entry.revision,
        "key": entry.key,
        "status": entry.status,
        "published_version": entry.published_version,
        "has_draft": bool(entry.draft),
        "question": content.question,
        "alternatives": list(content.alternatives),
        "category": content.category,
        "tags": list(content.tags),
        "follow_ups": list(content.follow_ups),
        "attachments": [a.name for a in content.attachments],
        "answer": content.answer,
        "answer_ok": answer_problem(content.answer) is None,
        "note": "",
        **extra,
    }


def _report_facts(kind: str, filename: str, version: int, plan: ImportPlan) -> dict[str, Any]:
    problems = plan.checked.problems
    return {
        "kind": kind,
        "filename": filename,
        "flow_version": version,
        "ok": plan.ok,
        "total": len(plan.checked.entries),
        "new": len(plan.new),
        "changed": len(plan.changed),
        "unchanged": len(plan.unchanged),
        "new_keys": list(plan.new[:MAX_LISTED_KEYS]),
        "changed_keys": list(plan.changed[:MAX_LISTED_KEYS]),
        "problem_count": len(problems),
        "problems": [[p.line, p.code, p.value, p.other, p.entry] for p in problems[:MAX_REPORTED]],
    }


def _glossary_report_facts(filename: str, version: int, plan: GlossaryPlan) -> dict[str, Any]:
    return {
        "kind": GLOSSARY,
        "filename": filename,
        "flow_version": version,
        "ok": plan.ok,
        "same": plan.same,
        "total": len(plan.groups),
        "new": plan.added,
        "changed": plan.changed,
        "removed": plan.removed,
        "unchanged": plan.unchanged,
        "problem_count": len(plan.problems),
        "problems": [[p.line, p.code, p.value, p.other, ""] for p in plan.problems[:MAX_REPORTED]],
    }


class FaqEditorService:
    """What a trainer does with the knowledge base from the chat."""

    def __init__(
        self,
        rt: Runtime,
        library: KnowledgeLibrary,
        default_locale: str,
        *,
        glossary: GlossaryService | None = None,
    ) -> None:
        self._rt = rt
        self._library = library
        self._default_locale = default_locale
        self._glossary = glossary or GlossaryService(rt)

    # --- the home card and lists -----------------------------------------------------------
    async def home(self, *, tg_id: int, chat_id: int) -> None:
        """The trainer's start: counts, and the buttons for everything else."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            rows = await uow.faq.with_published(statuses=(PUBLISHED, DRAFT, ARCHIVED))
            statuses = Counter(entry.status for entry, _ in rows)
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.home",
                {
                    "published": statuses[PUBLISHED],
                    "drafts": statuses[DRAFT],
                    "pending": sum(1 for e, _ in rows if e.draft and e.status != ARCHIVED),
                    "archived": statuses[ARCHIVED],
                    "glossary": len(await uow.faq.glossary_groups()),
                },
            )
            await uow.commit()

    async def start_search(self, *, tg_id: int, chat_id: int) -> None:
        """Ask for the words to search for."""
        await self._start(tg_id, chat_id, FLOW_SEARCH, "query", {}, ask="search")

    async def show_list(self, *, tg_id: int, chat_id: int, mode: str) -> None:
        """Entries with a draft waiting to be published, or the archived ones."""
        if mode not in ("drafts", "archived"):
            raise ValueError(mode)
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.put(
                tg_id,
                chat_id,
                flow=FLOW_SEARCH,
                step="results",
                data={"mode": mode, "query": ""},
                now=self._rt.clock(),
            )
            await self._results(uow, actor, chat_id, flow, page=0)
            await uow.commit()

    async def page(self, *, tg_id: int, chat_id: int, flow_version: int, page: int) -> None:
        """Another page of the list shown (an old list's button is told to search again)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if (
                flow is None
                or flow.flow != FLOW_SEARCH
                or flow.step != "results"
                or flow.version != flow_version
            ):
                await self._notice(uow, actor, chat_id, "stale_list")
            else:
                await self._results(uow, actor, chat_id, flow, page=page)
            await uow.commit()

    async def _results(
        self, uow: UnitOfWork, actor: Actor, chat_id: int, flow: FlowState, *, page: int
    ) -> None:
        mode = str(flow.data.get("mode", "search"))
        query = str(flow.data.get("query", ""))
        found = await self._find(uow, mode, query)
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        shown = found[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        await self._say(
            uow,
            actor,
            chat_id,
            "faq_trainer.results",
            {
                "mode": mode,
                "query": query,
                "total": len(found),
                "page": page,
                "pages": pages,
                "flow_version": flow.version,
                "items": [
                    [item.entry_id, item.key, item.question, item.status, item.has_draft]
                    for item in shown
                ],
            },
        )

    async def _find(self, uow: UnitOfWork, mode: str, query: str) -> list[Listed]:
        statuses = (ARCHIVED,) if mode == "archived" else (PUBLISHED, DRAFT)
        rows: list[tuple[Listed, EntryContent, datetime]] = []
        for entry, published in await uow.faq.with_published(statuses=statuses):
            content = current_content(entry, published)
            if content is None or entry.id is None:
                continue
            listed = Listed(entry.id, entry.key, content.question, entry.status, bool(entry.draft))
            rows.append((listed, content, entry.updated_at))
        if mode == "drafts":
            waiting = [r for r in rows if r[0].has_draft]
            waiting.sort(key=lambda r: r[2], reverse=True)  # the newest drafts first
            return [r[0] for r in waiting[:MAX_RESULTS]]
        if mode == "archived":
            return [r[0] for r in rows[:MAX_RESULTS]]
        glossary = await self._search_glossary(uow)
        pairs = [(listed, content) for listed, content, _ in rows]
        return await asyncio.to_thread(rank, pairs, query, glossary)

    async def _search_glossary(self, uow: UnitOfWork) -> Glossary:
        groups = await uow.faq.glossary_groups()
        if not groups:
            return default_glossary()
        return default_glossary().extended(Glossary.from_rows(groups))

    # --- one entry -------------------------------------------------------------------------
    async def open_entry(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """An entry's card (from a list, a digest or any ``ke.open`` button)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            await self._card(uow, actor, chat_id, entry, content)
            await uow.commit()

    async def preview(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """The answer exactly as staff will see it (the draft if there is one)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            await self._preview(uow, actor, chat_id, entry, content)
            await uow.commit()

    async def publish(self, *, tg_id: int, chat_id: int, entry_id: int, revision: int) -> None:
        """Publish the draft the card showed, as the entry's next version."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, revision):
                await uow.commit()
                return
            if not entry.draft or entry.status == ARCHIVED:
                await self._notice(uow, actor, chat_id, "nothing_to_publish")
                await uow.commit()
                return
            problems = check([content], [1], others=await self._others(uow, entry.key)).problems
            if problems:
                await self._notice(
                    uow,
                    actor,
                    chat_id,
                    "cannot_publish",
                    problems=[_problem_facts(p) for p in problems[:MAX_REPORTED]],
                )
                await uow.commit()
                return
            number = await self._library.publish_in(
                uow, entry.key, actor_id=actor.staff_id, note="chat"
            )
            await self._flows_done(uow, tg_id, chat_id, entry_id)
            await self._card(uow, actor, chat_id, entry, content, note="published", number=number)
            await uow.commit()

    async def keep_draft(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """The trainer leaves a new entry as a draft for now."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, _ = await self._entry(uow, entry_id)
            await self._notice(uow, actor, chat_id, "kept_draft", key=entry.key)
            await uow.commit()

    async def versions(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """The entry's published versions, newest first, each one a rollback button."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, _ = await self._entry(uow, entry_id)
            assert entry.id is not None
            history = list(await uow.faq.versions(entry.id))[::-1][:10]
            names = await uow.people.many(
                v.published_by for v in history if v.published_by is not None
            )
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.versions",
                {
                    "entry_id": entry.id,
                    "key": entry.key,
                    "status": entry.status,
                    "published_version": entry.published_version,
                    "has_draft": bool(entry.draft),
                    "total": await uow.faq.latest_version_number(entry.id),
                    "versions": [
                        [
                            v.version,
                            v.published_at.isoformat(),
                            names[v.published_by].name
                            if v.published_by is not None and v.published_by in names
                            else "",
                            v.note or "",
                            str(v.content.get("question", "")),
                        ]
                        for v in history
                    ],
                },
            )
            await uow.commit()

    async def ask_rollback(self, *, tg_id: int, chat_id: int, entry_id: int, version: int) -> None:
        """Ask before publishing version N's words again (a waiting draft would be replaced)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, _ = await self._entry(uow, entry_id)
            assert entry.id is not None
            old = await uow.faq.version(entry.id, version)
            if old is None:
                raise UnknownEntryError(f"{entry.key} v{version}")
            if version == entry.published_version and not entry.draft:
                await self._notice(uow, actor, chat_id, "same_version", version=version)
                await uow.commit()
                return
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=FLOW_EDIT,
                step="rollback",
                data={"entry_id": entry.id, "revision": entry.revision, "version": version},
                now=self._rt.clock(),
            )
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.confirm",
                {
                    "what": "rollback",
                    "entry_id": entry.id,
                    "key": entry.key,
                    "version": version,
                    "published_version": entry.published_version,
                    "has_draft": bool(entry.draft),
                    "question": str(old.content.get("question", "")),
                },
            )
            await uow.commit()

    async def rollback(self, *, tg_id: int, chat_id: int, entry_id: int, version: int) -> None:
        """Confirmed: version N's words are published again as the newest version."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_EDIT, "rollback", entry_id) or (
                flow is not None and flow.data.get("version") != version
            ):
                await self._notice(uow, actor, chat_id, "stale_step")
                await uow.commit()
                return
            assert flow is not None
            if await self._stale(uow, actor, chat_id, entry, content, int(flow.data["revision"])):
                await uow.flows.clear(tg_id, chat_id)
                await uow.commit()
                return
            number = await self._library.rollback_in(
                uow, entry.key, version, actor_id=actor.staff_id
            )
            await uow.flows.clear(tg_id, chat_id)
            entry, content = await self._entry(uow, entry_id)
            await self._card(
                uow, actor, chat_id, entry, content, note="rolled_back", number=number, old=version
            )
            await uow.commit()

    async def ask_archive(self, *, tg_id: int, chat_id: int, entry_id: int, revision: int) -> None:
        """Ask before archiving: staff stop getting the entry; follow-ups to it must go first."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, revision):
                await uow.commit()
                return
            followers = [
                c.key for c in await self._others(uow, entry.key) if entry.key in c.follow_ups
            ]
            if followers:
                await self._notice(uow, actor, chat_id, "has_followers", keys=followers[:10])
                await uow.commit()
                return
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=FLOW_EDIT,
                step="archive",
                data={"entry_id": entry_id, "revision": entry.revision},
                now=self._rt.clock(),
            )
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.confirm",
                {
                    "what": "archive",
                    "entry_id": entry_id,
                    "key": entry.key,
                    "question": content.question,
                    "published_version": entry.published_version,
                },
            )
            await uow.commit()

    async def archive(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """Confirmed: the entry leaves what staff are answered from and the trainers' search."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_EDIT, "archive", entry_id):
                await self._notice(uow, actor, chat_id, "stale_step")
                await uow.commit()
                return
            assert flow is not None and entry.id is not None
            await uow.flows.clear(tg_id, chat_id)
            if await self._stale(uow, actor, chat_id, entry, content, int(flow.data["revision"])):
                await uow.commit()
                return
            followers = [
                c.key for c in await self._others(uow, entry.key) if entry.key in c.follow_ups
            ]
            if followers:
                await self._notice(uow, actor, chat_id, "has_followers", keys=followers[:10])
                await uow.commit()
                return
            await self._save(uow, actor, entry, content, field="status", status=ARCHIVED)
            await self._card(uow, actor, chat_id, entry, content, note="archived")
            await uow.commit()

    async def restore(self, *, tg_id: int, chat_id: int, entry_id: int, revision: int) -> None:
        """An archived entry comes back (published again if it was), checked like a publish."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, revision):
                await uow.commit()
                return
            if entry.status != ARCHIVED:
                await self._card(uow, actor, chat_id, entry, content)
                await uow.commit()
                return
            problems = check([content], [1], others=await self._others(uow, entry.key)).problems
            if problems:
                await self._notice(
                    uow,
                    actor,
                    chat_id,
                    "cannot_restore",
                    problems=[_problem_facts(p) for p in problems[:MAX_REPORTED]],
                )
                await uow.commit()
                return
            status = PUBLISHED if entry.published_version is not None else DRAFT
            await self._save(uow, actor, entry, content, field="status", status=status)
            await self._card(uow, actor, chat_id, entry, content, note="restored")
            await uow.commit()

    # --- creating and editing step by step -----------------------------------------------------
    async def start_new(self, *, tg_id: int, chat_id: int) -> None:
        """A new entry: first the question."""
        await self._start(
            tg_id, chat_id, FLOW_NEW, "question", {"alternatives": []}, ask="new_question"
        )

    async def start_edit(
        self, *, tg_id: int, chat_id: int, entry_id: int, revision: int, field: str
    ) -> None:
        """Ask for a new question, another phrasing, a new answer or a category."""
        if field not in FIELD_CODES:
            raise ValueError(field)
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, revision):
                await uow.commit()
                return
            data: dict[str, Any] = {"entry_id": entry_id, "revision": entry.revision}
            if field == "category":
                data["categories"] = await self._categories(uow)
            await uow.flows.put(
                tg_id, chat_id, flow=FLOW_EDIT, step=field, data=data, now=self._rt.clock()
            )
            await self._ask(
                uow,
                actor,
                chat_id,
                f"edit_{field}",
                entry_id=entry_id,
                key=entry.key,
                current=_current(content, field),
                categories=data.get("categories", []),
            )
            await uow.commit()

    async def phrasings_done(self, *, tg_id: int, chat_id: int) -> None:
        """No more phrasings for the new entry: on to the answer."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_NEW, "phrasings"):
                await self._notice(uow, actor, chat_id, "stale_step")
            else:
                assert flow is not None
                await self._move(uow, flow, "answer")
                await self._ask(uow, actor, chat_id, "new_answer")
            await uow.commit()

    async def ask_remove(self, *, tg_id: int, chat_id: int, entry_id: int, revision: int) -> None:
        """Which phrasing to remove: one button each."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, revision):
                await uow.commit()
                return
            if not content.alternatives:
                await self._notice(uow, actor, chat_id, "no_phrasings")
                await uow.commit()
                return
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=FLOW_EDIT,
                step="remove",
                data={"entry_id": entry_id, "revision": entry.revision},
                now=self._rt.clock(),
            )
            await self._ask(
                uow,
                actor,
                chat_id,
                "remove_phrasing",
                entry_id=entry_id,
                key=entry.key,
                phrasings=list(content.alternatives),
            )
            await uow.commit()

    async def remove_phrasing(
        self, *, tg_id: int, chat_id: int, entry_id: int, index: int
    ) -> None:
        """Remove the phrasing tapped (1-based, as the list showed it)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_EDIT, "remove", entry_id):
                await self._notice(uow, actor, chat_id, "stale_step")
                await uow.commit()
                return
            assert flow is not None
            await uow.flows.clear(tg_id, chat_id)
            seen = int(flow.data["revision"])
            if not 1 <= index <= len(content.alternatives):
                seen = -1  # a list of phrasings that is not the entry's any more
            if await self._stale(uow, actor, chat_id, entry, content, seen):
                await uow.commit()
                return
            gone = content.alternatives[index - 1]
            kept = content.alternatives[: index - 1] + content.alternatives[index:]
            changed = _replace(content, alternatives=kept)
            await self._save(uow, actor, entry, changed, field="alternatives", removed=gone)
            await self._card(uow, actor, chat_id, entry, changed, note="saved")
            await uow.commit()

    async def choose_category(
        self, *, tg_id: int, chat_id: int, entry_id: int, index: int
    ) -> None:
        """A category button of the category step (0: none)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            new = entry_id == 0 and _flow_is(flow, FLOW_NEW, "category")
            edit = entry_id != 0 and _flow_is(flow, FLOW_EDIT, "category", entry_id)
            choices = [str(c) for c in flow.data.get("categories", [])] if flow else []
            if not (new or edit) or not 0 <= index <= len(choices):
                await self._notice(uow, actor, chat_id, "stale_step")
                await uow.commit()
                return
            assert flow is not None
            category = choices[index - 1] if index else ""
            if new:
                await self._create(uow, actor, flow, chat_id, category)
            else:
                await self._edit_field(uow, actor, flow, chat_id, "category", category)
            await uow.commit()

    async def clear_tags(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """The tags step's "remove all tags" button."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_EDIT, "tags", entry_id):
                await self._notice(uow, actor, chat_id, "stale_step")
            else:
                assert flow is not None
                await self._edit_field(uow, actor, flow, chat_id, "tags", "")
            await uow.commit()

    # --- follow-ups: found by the trainers' search, tapped to add ------------------------------
    async def start_follow_ups(
        self, *, tg_id: int, chat_id: int, entry_id: int, revision: int
    ) -> None:
        """The entry's follow-ups, each with a remove button; typed words search for more."""
        await self._open_list_step(tg_id, chat_id, entry_id, revision, "follow_up")

    async def _open_list_step(
        self, tg_id: int, chat_id: int, entry_id: int, revision: int, step: str
    ) -> None:
        """Open the follow-ups or attachments step of an entry (a stale card: the entry now)."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, revision):
                await uow.commit()
                return
            flow = await uow.flows.put(
                tg_id,
                chat_id,
                flow=FLOW_EDIT,
                step=step,
                data={"entry_id": entry_id, "revision": entry.revision},
                now=self._rt.clock(),
            )
            show = self._follow_up_step if step == "follow_up" else self._attach_step
            await show(uow, actor, chat_id, flow, entry, content)
            await uow.commit()

    async def add_follow_up(
        self, *, tg_id: int, chat_id: int, entry_id: int, follow_up_id: int
    ) -> None:
        """A search result tapped: that entry becomes a follow-up, if the check allows it."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_EDIT, "follow_up", entry_id):
                await self._notice(uow, actor, chat_id, "stale_step")
                await uow.commit()
                return
            assert flow is not None
            entry, content = await self._entry(uow, entry_id)
            if await self._stale(uow, actor, chat_id, entry, content, int(flow.data["revision"])):
                await uow.flows.clear(tg_id, chat_id)
                await uow.commit()
                return
            other = await uow.faq.entry(follow_up_id) if follow_up_id > 0 else None
            if other is None:
                raise UnknownEntryError(str(follow_up_id))
            changed = _replace(content, follow_ups=(*content.follow_ups, other.key))
            problem: dict[str, Any] | None = None
            if other.key in content.follow_ups:
                problem = {"code": "same_follow_up", "value": other.key, "entry": other.key}
            else:
                others = await self._others(uow, entry.key)
                for found in check([changed], [1], others=others).problems:
                    # A follow-up that was broken before is not this tap's fault.
                    if found.code in FOLLOW_UP_CODES and (
                        found.code != "broken_follow_up" or found.value == other.key
                    ):
                        problem = _problem_facts(found)
                        break
            if problem is not None:
                await self._follow_up_step(uow, actor, chat_id, flow, entry, content, problem)
            else:
                await self._save(uow, actor, entry, changed, field="follow_ups", added=other.key)
                moved = await self._move(uow, flow, "follow_up", revision=entry.revision)
                await self._follow_up_step(
                    uow, actor, chat_id, moved, entry, changed, note="added", name=other.key
                )
            await uow.commit()

    async def remove_follow_up(
        self, *, tg_id: int, chat_id: int, flow_version: int, index: int
    ) -> None:
        """A follow-up's remove button (1-based, as the step's card listed them)."""
        await self._remove_listed(tg_id, chat_id, flow_version, index, "follow_up")

    async def _remove_listed(
        self, tg_id: int, chat_id: int, flow_version: int, index: int, step: str
    ) -> None:
        """Remove item ``index`` of the follow-ups or attachments step's list, if that list is
        still the one the card showed (the step's flow version and the entry's revision)."""
        field = "follow_ups" if step == "follow_up" else "attachments"
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if not _flow_is(flow, FLOW_EDIT, step) or (
                flow is not None and flow.version != flow_version
            ):
                await self._notice(uow, actor, chat_id, "stale_step")
                await uow.commit()
                return
            assert flow is not None
            entry, content = await self._entry(uow, int(flow.data.get("entry_id", 0)))
            items: tuple[Any, ...] = getattr(content, field)
            seen = int(flow.data["revision"])
            if not 1 <= index <= len(items):
                seen = -1  # a list that is not the entry's any more
            if await self._stale(uow, actor, chat_id, entry, content, seen):
                await uow.flows.clear(tg_id, chat_id)
                await uow.commit()
                return
            gone = items[index - 1]
            name = gone if isinstance(gone, str) else gone.name
            changed = _replace(content, **{field: items[: index - 1] + items[index:]})
            await self._save(uow, actor, entry, changed, field=field, removed=name)
            moved = await self._move(uow, flow, step, revision=entry.revision)
            show = self._follow_up_step if step == "follow_up" else self._attach_step
            await show(uow, actor, chat_id, moved, entry, changed, note="removed", name=name)
            await uow.commit()

    async def _follow_up_results(
        self, uow: UnitOfWork, actor: Actor, flow: FlowState, chat_id: int, text: str
    ) -> None:
        """Words typed in the follow-ups step: the entries they find, one button each."""
        entry, content = await self._entry(uow, int(flow.data.get("entry_id", 0)))
        if await self._stale(uow, actor, chat_id, entry, content, int(flow.data["revision"])):
            await uow.flows.clear(flow.telegram_id, flow.chat_id)
            return
        query = text[:MAX_QUERY]
        found = [
            item
            for item in await self._find(uow, "search", query)
            if item.key != entry.key and item.key not in content.follow_ups
        ]
        await self._ask(
            uow,
            actor,
            chat_id,
            "follow_up_results",
            entry_id=entry.id,
            key=entry.key,
            query=query,
            total=len(found),
            items=[
                [item.entry_id, item.key, item.question, item.status, item.has_draft]
                for item in found[:PAGE_SIZE]
            ],
        )

    async def _follow_up_step(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        flow: FlowState,
        entry: FaqEntry,
        content: EntryContent,
        problem: dict[str, Any] | None = None,
        *,
        note: str = "",
        name: str = "",
    ) -> None:
        await self._ask(
            uow,
            actor,
            chat_id,
            "follow_ups",
            entry_id=entry.id,
            key=entry.key,
            flow_version=flow.version,
            follow_ups=await self._follow_up_questions(uow, content.follow_ups),
            note=note,
            name=name,
            problem=problem,
        )

    async def _follow_up_questions(self, uow: UnitOfWork, keys: Sequence[str]) -> list[list[str]]:
        """[key, question] of each follow-up (the question "" for a key that leads nowhere)."""
        found: list[list[str]] = []
        for key in keys:
            other = await uow.faq.entry_by_key(key)
            content: EntryContent | None = None
            if other is not None and other.id is not None and other.status != ARCHIVED:
                published = None
                if other.published_version is not None:
                    published = await uow.faq.version(other.id, other.published_version)
                content = current_content(other, published)
            found.append([key, content.question if content is not None else ""])
        return found

    # --- attached documents: sent after the answer by their Telegram file id -------------------
    async def start_attach(
        self, *, tg_id: int, chat_id: int, entry_id: int, revision: int
    ) -> None:
        """The entry's documents, each with a remove button; each document sent is attached."""
        await self._open_list_step(tg_id, chat_id, entry_id, revision, "attach")

    async def remove_attachment(
        self, *, tg_id: int, chat_id: int, flow_version: int, index: int
    ) -> None:
        """An attachment's remove button (1-based, as the step's card listed them)."""
        await self._remove_listed(tg_id, chat_id, flow_version, index, "attach")

    async def _attach(
        self,
        uow: UnitOfWork,
        actor: Actor,
        flow: FlowState,
        chat_id: int,
        *,
        file_name: str | None,
        file_id: str,
        mime: str | None,
    ) -> None:
        """A document sent in the attachments step: added to the draft if the check allows."""
        entry, content = await self._entry(uow, int(flow.data.get("entry_id", 0)))
        if await self._stale(uow, actor, chat_id, entry, content, int(flow.data["revision"])):
            await uow.flows.clear(flow.telegram_id, flow.chat_id)
            return
        name = attachment_name(file_name, mime, content.locale, len(content.attachments) + 1)
        added = Attachment(name, file_id)
        changed = _replace(content, attachments=(*content.attachments, added))
        problem: dict[str, Any] | None = None
        if any(a.name == name for a in content.attachments):
            problem = {"code": "same_attachment", "value": name, "entry": entry.key}
        else:
            others = await self._others(uow, entry.key)
            for found in check([changed], [1], others=others).problems:
                if found.code not in ATTACHMENT_CODES:
                    continue
                if found.code != "bad_attachment":
                    problem = _problem_facts(found)
                elif found.value in (added.cell(), name):  # not one that was bad before
                    code = "long_file_name" if len(name) > MAX_ATTACHMENT_NAME else "bad_file"
                    problem = {"code": code, "value": name, "entry": entry.key}
                else:
                    continue
                break
        if problem is not None:
            await self._attach_step(uow, actor, chat_id, flow, entry, content, problem)
            return
        await self._save(uow, actor, entry, changed, field="attachments", added=name)
        moved = await self._move(uow, flow, "attach", revision=entry.revision)
        await self._attach_step(
            uow, actor, chat_id, moved, entry, changed, note="added", name=name
        )

    def _attaching(self, flow: FlowState | None) -> bool:
        """Whether the attachments step waits for a document (one left open long ago does
        not: the next document is for whatever else takes documents)."""
        return (
            _flow_is(flow, FLOW_EDIT, "attach")
            and flow is not None
            and self._rt.clock() - flow.updated_at <= TEXT_TTL
        )

    async def _attach_step(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        flow: FlowState,
        entry: FaqEntry,
        content: EntryContent,
        problem: dict[str, Any] | None = None,
        *,
        note: str = "",
        name: str = "",
    ) -> None:
        await self._ask(
            uow,
            actor,
            chat_id,
            "attachments",
            entry_id=entry.id,
            key=entry.key,
            flow_version=flow.version,
            attachments=[a.name for a in content.attachments],
            note=note,
            name=name,
            problem=problem,
        )

    async def quit(self, *, tg_id: int, chat_id: int, entry_id: int) -> None:
        """Cancel the trainer's step; from an entry's step, back to its card."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is not None and flow.flow in FLOWS:
                await uow.flows.clear(tg_id, chat_id)
            if entry_id:
                entry, content = await self._entry(uow, entry_id)
                await self._card(uow, actor, chat_id, entry, content)
            else:
                await self._notice(uow, actor, chat_id, "cancelled")
            await uow.commit()

    async def answer(
        self, *, tg_id: int, chat_id: int, text: str, formatted: str | None = None
    ) -> bool:
        """Text typed while a trainer's step waits for it; False if it is not for us.

        ``formatted`` is the same message as Telegram HTML (bold, links the trainer made with
        the app's formatting menu): an answer keeps it; questions and phrasings are plain.
        """
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow not in FLOWS:
                return False
            if self._rt.clock() - flow.updated_at > TEXT_TTL:
                return False
            if flow.flow == FLOW_IMPORT:
                actor = await self._actor(uow, tg_id)
                await self._notice(
                    uow, actor, chat_id, "send_file", kind=str(flow.data.get("kind", ENTRIES))
                )
                await uow.commit()
                return True
            if flow.flow == FLOW_EDIT and flow.step == "attach":
                actor = await self._actor(uow, tg_id)
                entry_id = int(flow.data.get("entry_id", 0))
                await self._notice(uow, actor, chat_id, "send_document", entry_id=entry_id)
                await uow.commit()
                return True
            if flow.step not in TYPED_STEPS:
                return False
            actor = await self._actor(uow, tg_id)
            typed = text.strip()
            if flow.step == "answer" and formatted is not None and formatted.strip():
                typed = formatted.strip()
            elif flow.step == "tags":
                typed = text  # as sent: only the "remove all tags" button means no tags
            if flow.flow == FLOW_SEARCH:
                moved = await self._move(
                    uow, flow, "results", mode="search", query=typed[:MAX_QUERY]
                )
                await self._results(uow, actor, chat_id, moved, page=0)
            elif flow.flow == FLOW_NEW:
                await self._typed_new(uow, actor, flow, chat_id, typed)
            elif flow.step == "follow_up":
                await self._follow_up_results(uow, actor, flow, chat_id, typed)
            else:
                await self._edit_field(uow, actor, flow, chat_id, flow.step, typed)
            await uow.commit()
            return True

    async def _typed_new(
        self, uow: UnitOfWork, actor: Actor, flow: FlowState, chat_id: int, text: str
    ) -> None:
        data = dict(flow.data)
        question = str(data.get("question", ""))
        alternatives = [str(a) for a in data.get("alternatives", [])]
        step = flow.step
        if step == "category":
            await self._create(uow, actor, flow, chat_id, text)
            return
        if step == "question":
            candidate = EntryContent(key="", question=text, answer="-")
            field = "question"
        elif step == "phrasings":
            candidate = EntryContent(
                key="", question=question, answer="-", alternatives=(*alternatives, text)
            )
            field = "phrasing"
        else:
            candidate = EntryContent(
                key="", question=question, answer=text, alternatives=tuple(alternatives)
            )
            field = "answer"
        before = EntryContent(
            key="", question=question, answer="-", alternatives=tuple(alternatives)
        )
        problem = await self._field_problem(uow, candidate, field, text, own=before)
        ask = {"question": "new_question", "phrasings": "new_phrasings", "answer": "new_answer"}
        if problem is not None:
            await self._ask(
                uow, actor, chat_id, ask[step], problem=problem, count=len(alternatives)
            )
            return
        if step == "question":
            await self._move(uow, flow, "phrasings", question=text)
            await self._ask(uow, actor, chat_id, "new_phrasings", count=0)
        elif step == "phrasings":
            alternatives.append(text)
            await self._move(uow, flow, "phrasings", alternatives=alternatives)
            await self._ask(uow, actor, chat_id, "new_phrasings", count=len(alternatives))
        else:
            categories = await self._categories(uow)
            await self._move(uow, flow, "category", answer=text, categories=categories)
            await self._ask(uow, actor, chat_id, "new_category", categories=categories)

    async def _create(
        self, uow: UnitOfWork, actor: Actor, flow: FlowState, chat_id: int, category: str
    ) -> None:
        """The last step of a new entry: the draft is saved, previewed and offered to publish."""
        data = flow.data
        taken = [
            entry.key
            for entry, _ in await uow.faq.with_published(statuses=(PUBLISHED, DRAFT, ARCHIVED))
        ]
        question = str(data.get("question", ""))
        content = EntryContent(
            key=make_key(question, taken),
            question=question,
            answer=str(data.get("answer", "")),
            alternatives=tuple(str(a) for a in data.get("alternatives", [])),
            category=category,
        )
        problems = check([content], [1], others=await self._others(uow, content.key)).problems
        mine = [p for p in problems if p.code in FIELD_CODES["category"]]
        if mine or problems:
            first = (mine or list(problems))[0]
            step = "new_category" if mine else "new_question"
            if not mine:  # someone else took a phrasing meanwhile: start the words again
                await self._move(uow, flow, "question", alternatives=[])
            await self._ask(
                uow,
                actor,
                chat_id,
                step,
                problem=_problem_facts(first),
                categories=[str(c) for c in data.get("categories", [])],
            )
            return
        now = self._rt.clock()
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
        await uow.audit.append(
            actor_id=actor.staff_id,
            action="faq.create",
            obj=f"faq:{content.key}",
            details={"alternatives": len(content.alternatives), "category": content.category},
            now=now,
        )
        await uow.flows.clear(flow.telegram_id, flow.chat_id)
        await self._preview(uow, actor, chat_id, entry, content)
        await self._card(uow, actor, chat_id, entry, content, note="created")

    async def _edit_field(
        self,
        uow: UnitOfWork,
        actor: Actor,
        flow: FlowState,
        chat_id: int,
        field: str,
        text: str,
    ) -> None:
        """A typed (or tapped) new value for one field of an existing entry."""
        entry_id = int(flow.data.get("entry_id", 0))
        entry, content = await self._entry(uow, entry_id)
        if await self._stale(uow, actor, chat_id, entry, content, int(flow.data["revision"])):
            await uow.flows.clear(flow.telegram_id, flow.chat_id)
            return
        if field == "question":
            # One of the phrasings made the question: the old question becomes a phrasing.
            kept = tuple(a for a in content.alternatives if normalise(a) != normalise(text))
            if len(kept) < len(content.alternatives):
                kept = (*kept, content.question)
            changed = _replace(content, question=text, alternatives=kept)
        elif field == "phrasing":
            changed = _replace(content, alternatives=(*content.alternatives, text))
        elif field == "answer":
            changed = _replace(content, answer=text)
        elif field == "tags":
            changed = _replace(content, tags=split_tags(text))
        else:
            changed = _replace(content, category=text)
        problem = await self._field_problem(uow, changed, field, text, own=content)
        if problem is not None:
            await self._ask(
                uow,
                actor,
                chat_id,
                f"edit_{field}",
                problem=problem,
                entry_id=entry_id,
                key=entry.key,
                current=_current(content, field),
                categories=[str(c) for c in flow.data.get("categories", [])],
            )
            return
        await uow.flows.clear(flow.telegram_id, flow.chat_id)
        if changed == content:
            await self._card(uow, actor, chat_id, entry, content)
            return
        details: dict[str, Any] = {"added": text} if field == "phrasing" else {}
        name = "alternatives" if field == "phrasing" else field
        await self._save(uow, actor, entry, changed, field=name, **details)
        await self._card(uow, actor, chat_id, entry, changed, note="saved")

    async def _field_problem(
        self,
        uow: UnitOfWork,
        candidate: EntryContent,
        field: str,
        text: str,
        *,
        own: EntryContent,
    ) -> dict[str, Any] | None:
        """The first problem content.check finds with the field just typed, or None."""
        if field in ("question", "phrasing"):
            norm = normalise(text)
            if not norm:
                return {"code": "no_words", "value": "", "entry": ""}
            if field == "phrasing" and any(normalise(p) == norm for p in own.phrasings()):
                return {"code": "same_entry", "value": text, "entry": own.key}
        if field == "tags" and text and not candidate.tags:
            return {"code": "no_tags", "value": "", "entry": ""}
        others = await self._others(uow, candidate.key or own.key)
        problems = check([candidate], [1], others=others).problems
        for problem in problems:
            if problem.code in FIELD_CODES[field]:
                return _problem_facts(problem)
        return None

    # --- import and export -------------------------------------------------------------------
    async def start_import(self, *, tg_id: int, chat_id: int, kind: str) -> None:
        """Ask for the knowledge-base file (or the glossary file)."""
        if kind not in (ENTRIES, GLOSSARY):
            raise ValueError(kind)
        ask = "glossary_file" if kind == GLOSSARY else "import_file"
        await self._start(tg_id, chat_id, FLOW_IMPORT, "file", {"kind": kind}, ask=ask)

    async def take_file(
        self,
        *,
        tg_id: int,
        chat_id: int,
        file_name: str | None,
        file_id: str,
        size: int | None,
        fetch: Callable[[], Awaitable[bytes]],
        mime: str | None = None,
    ) -> bool:
        """A document sent while a trainer's step waits for one: in an import it is checked
        and reported (nothing changed); in an entry's attachments step it is attached by its
        file id (never downloaded, whatever its size).

        False (and nothing downloaded) if this chat is in neither. ``fetch`` downloads the
        file; it raises ImportFileError("too_large") past the limit.
        """
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if self._attaching(flow):
                assert flow is not None
                actor = await self._actor(uow, tg_id)
                await self._attach(
                    uow, actor, flow, chat_id, file_name=file_name, file_id=file_id, mime=mime
                )
                await uow.commit()
                return True
            if flow is None or flow.flow != FLOW_IMPORT:
                return False
            actor = await self._actor(uow, tg_id)
        file_name = file_name or "file"
        kind = str(flow.data.get("kind", ENTRIES))
        types = GLOSSARY_FILE_TYPES if kind == GLOSSARY else KB_FILE_TYPES
        plan: ImportPlan | GlossaryPlan | None = None
        reason = ""
        try:
            if not file_name.lower().endswith(types):
                raise ImportFileError("unsupported_format")
            if size is not None and size > MAX_UPLOAD_BYTES:
                raise ImportFileError("too_large")
            data = await fetch()
            if len(data) > MAX_UPLOAD_BYTES:
                raise ImportFileError("too_large")
            plan = await self._plan(kind, data, file_name)
        except ImportFileError as exc:
            reason = exc.reason
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            now = self._rt.clock()
            if plan is None:
                await self._say(
                    uow,
                    actor,
                    chat_id,
                    "faq_trainer.file_error",
                    {"reason": reason, "filename": file_name, "kind": kind},
                )
                await uow.commit()
                return True
            applicable = plan.ok and _changes(plan)
            flow = await uow.flows.put(
                tg_id,
                chat_id,
                flow=FLOW_IMPORT,
                step="confirm" if applicable else "file",
                data={"kind": kind, "file_id": file_id, "filename": file_name},
                now=now,
            )
            if isinstance(plan, GlossaryPlan):
                report = _glossary_report_facts(file_name, flow.version, plan)
            else:
                report = _report_facts(kind, file_name, flow.version, plan)
            report["applicable"] = applicable
            if plan.ok and not applicable:
                await uow.flows.clear(tg_id, chat_id)
            await self._say(uow, actor, chat_id, "faq_trainer.import_report", report)
            await uow.commit()
        logger.info("kb %s file checked by staff %s", kind, actor.staff_id)
        return True

    async def take_photo(self, *, tg_id: int, chat_id: int) -> bool:
        """A photo while a trainer's step waits for a document: it cannot be attached or
        imported (Telegram sends a photo again only as a photo), so the trainer is told to
        send it as a file. False if no such step is open."""
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            facts: dict[str, Any]
            if self._attaching(flow):
                assert flow is not None
                code, facts = "send_document", {"entry_id": int(flow.data.get("entry_id", 0))}
            elif flow is not None and flow.flow == FLOW_IMPORT:
                code, facts = "send_file", {"kind": str(flow.data.get("kind", ENTRIES))}
            else:
                return False
            actor = await self._actor(uow, tg_id)
            await self._notice(uow, actor, chat_id, code, **facts)
            await uow.commit()
        return True

    async def pending_import(
        self, *, tg_id: int, chat_id: int, flow_version: int
    ) -> PendingImport:
        """The file a report's button refers to; an old or forged button finds none."""
        async with self._rt.uow() as uow:
            await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
        if (
            flow is None
            or flow.flow != FLOW_IMPORT
            or flow.step != "confirm"
            or flow.version != flow_version
        ):
            raise ImportGoneError(flow_version)
        return PendingImport(
            str(flow.data["file_id"]),
            str(flow.data["filename"]),
            str(flow.data.get("kind", ENTRIES)),
            flow.version,
        )

    async def apply_upload(
        self, *, tg_id: int, chat_id: int, flow_version: int, data: bytes, publish: bool
    ) -> None:
        """The confirmed import: checked again, then applied (published or as drafts)."""
        pending = await self.pending_import(
            tg_id=tg_id, chat_id=chat_id, flow_version=flow_version
        )
        plan: ImportPlan | GlossaryPlan | None = None
        reason = ""
        try:
            plan = await self._plan(pending.kind, data, pending.filename)
        except ImportFileError as exc:
            reason = exc.reason
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW_IMPORT or flow.version != flow_version:
                raise ImportGoneError(flow_version)
            if plan is None:
                await uow.flows.clear(tg_id, chat_id)
                await self._say(
                    uow,
                    actor,
                    chat_id,
                    "faq_trainer.file_error",
                    {"reason": reason, "filename": pending.filename, "kind": pending.kind},
                )
            elif not plan.ok:  # the knowledge base changed since the report
                moved = await self._move(uow, flow, "file")
                if isinstance(plan, GlossaryPlan):
                    report = _glossary_report_facts(pending.filename, moved.version, plan)
                else:
                    report = _report_facts(pending.kind, pending.filename, moved.version, plan)
                report["applicable"] = False
                await self._say(uow, actor, chat_id, "faq_trainer.import_report", report)
            elif isinstance(plan, GlossaryPlan):
                await self._glossary.apply_in(
                    uow, plan, filename=pending.filename, actor_id=actor.staff_id
                )
                await uow.flows.clear(tg_id, chat_id)
                await self._say(
                    uow,
                    actor,
                    chat_id,
                    "faq_trainer.imported",
                    {
                        "kind": GLOSSARY,
                        "filename": pending.filename,
                        "groups": len(plan.groups),
                        "new": plan.added,
                        "changed": plan.changed,
                        "removed": plan.removed,
                    },
                )
            else:
                result = await self._library.apply_plan_in(
                    uow,
                    plan,
                    filename=pending.filename,
                    actor_id=actor.staff_id,
                    publish=publish,
                )
                await uow.flows.clear(tg_id, chat_id)
                await self._say(
                    uow,
                    actor,
                    chat_id,
                    "faq_trainer.imported",
                    {
                        "kind": ENTRIES,
                        "filename": pending.filename,
                        "published": len(result.published),
                        "drafted": len(result.drafted),
                        "new": len(plan.new),
                        "changed": len(plan.changed),
                        "unchanged": len(plan.unchanged),
                    },
                )
            await uow.commit()

    async def cancel_import(self, *, tg_id: int, chat_id: int, flow_version: int) -> None:
        """Forget the uploaded file."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW_IMPORT or flow.version != flow_version:
                await self._notice(uow, actor, chat_id, "stale_step")
            else:
                await uow.flows.clear(tg_id, chat_id)
                await self._notice(uow, actor, chat_id, "import_cancelled")
            await uow.commit()

    async def _plan(self, kind: str, data: bytes, filename: str) -> ImportPlan | GlossaryPlan:
        if kind == GLOSSARY:
            return await self._glossary.plan_import(data, filename)
        plan = await self._library.plan_import(data, filename)
        if not plan.checked.entries:
            raise ImportFileError("empty")
        return plan

    async def export(self, *, tg_id: int, chat_id: int, fmt: str) -> None:
        """The knowledge base as a file in the chat: the words trainers work on (the draft
        where one waits), so that sending the same file back changes nothing."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(fmt)
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            contents = []
            for entry, published in await uow.faq.with_published(statuses=(PUBLISHED, DRAFT)):
                content = current_content(entry, published)
                if content is not None:
                    contents.append(content)
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.export",
                {
                    "format": fmt,
                    "total": len(contents),
                    "entries": [c.to_json() for c in contents[:CHAT_EXPORT_LIMIT]],
                    "at": self._rt.clock().isoformat(),
                },
            )
            await uow.commit()

    # --- the glossary --------------------------------------------------------------------------
    async def glossary_home(self, *, tg_id: int, chat_id: int) -> None:
        """The trainers' glossary: how many groups, the first ones, export and import."""
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            groups = await uow.faq.glossary_groups()
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.glossary",
                {"total": len(groups), "groups": [g[:6] for g in groups[:10]]},
            )
            await uow.commit()

    async def export_glossary(self, *, tg_id: int, chat_id: int, fmt: str) -> None:
        """The trainers' glossary as a file in the chat."""
        if fmt not in GLOSSARY_FORMATS:
            raise ValueError(fmt)
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            groups = await uow.faq.glossary_groups()
            await self._say(
                uow,
                actor,
                chat_id,
                "faq_trainer.glossary_file",
                {"format": fmt, "groups": groups, "at": self._rt.clock().isoformat()},
            )
            await uow.commit()

    # --- helpers -------------------------------------------------------------------------------
    async def _actor(self, uow: UnitOfWork, tg_id: int) -> Actor:
        return await access.authorize(
            uow, tg_id, "faq.manage", default_locale=self._default_locale
        )

    async def _say(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        kind: str,
        facts: dict[str, Any] | None = None,
    ) -> None:
        await uow.outbox.add(
            chat_id=chat_id,
            kind=kind,
            staff_id=actor.staff_id,
            now=self._rt.clock(),
            facts=facts or {},
            priority=PRIORITY_INTERACTIVE,
        )

    async def _notice(
        self, uow: UnitOfWork, actor: Actor, chat_id: int, code: str, **facts: Any
    ) -> None:
        await self._say(uow, actor, chat_id, "faq_trainer.notice", {"code": code, **facts})

    async def _ask(
        self, uow: UnitOfWork, actor: Actor, chat_id: int, step: str, **facts: Any
    ) -> None:
        await self._say(uow, actor, chat_id, "faq_trainer.ask", {"step": step, **facts})

    async def _start(
        self, tg_id: int, chat_id: int, flow: str, step: str, data: dict[str, Any], *, ask: str
    ) -> None:
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            await uow.flows.put(
                tg_id, chat_id, flow=flow, step=step, data=data, now=self._rt.clock()
            )
            await self._ask(uow, actor, chat_id, ask)
            await uow.commit()

    async def _move(self, uow: UnitOfWork, flow: FlowState, step: str, **data: Any) -> FlowState:
        return await uow.flows.put(
            flow.telegram_id,
            flow.chat_id,
            flow=flow.flow,
            step=step,
            data={**flow.data, **data},
            now=self._rt.clock(),
        )

    async def _flows_done(self, uow: UnitOfWork, tg_id: int, chat_id: int, entry_id: int) -> None:
        """An edit step about this entry is moot once it is published."""
        flow = await uow.flows.get(tg_id, chat_id)
        if flow is not None and flow.flow == FLOW_EDIT and flow.data.get("entry_id") == entry_id:
            await uow.flows.clear(tg_id, chat_id)

    async def _entry(self, uow: UnitOfWork, entry_id: int) -> tuple[FaqEntry, EntryContent]:
        entry = await uow.faq.entry(entry_id) if entry_id > 0 else None
        if entry is None or entry.id is None:
            raise UnknownEntryError(str(entry_id))
        published: FaqEntryVersion | None = None
        if entry.published_version is not None:
            published = await uow.faq.version(entry.id, entry.published_version)
        content = current_content(entry, published)
        if content is None:
            raise UnknownEntryError(entry.key)
        return entry, content

    async def _others(self, uow: UnitOfWork, key: str) -> list[EntryContent]:
        """Every other live entry's words (what a check must not collide with)."""
        found: list[EntryContent] = []
        for entry, published in await uow.faq.with_published(statuses=(PUBLISHED, DRAFT)):
            if entry.key == key:
                continue
            content = current_content(entry, published)
            if content is not None:
                found.append(content)
        return found

    async def _categories(self, uow: UnitOfWork) -> list[str]:
        """The categories in use, most used first (offered as buttons)."""
        counts = Counter(c.category for c in await self._others(uow, "") if c.category)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [name for name, _ in ranked[:CATEGORY_CHOICES]]

    async def _stale(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        entry: FaqEntry,
        content: EntryContent,
        seen_revision: int,
    ) -> bool:
        """True (and the entry as it is now, marked so) if the card was drawn before a change."""
        if seen_revision == entry.revision:
            return False
        await self._card(uow, actor, chat_id, entry, content, note="stale")
        return True

    async def _save(
        self,
        uow: UnitOfWork,
        actor: Actor,
        entry: FaqEntry,
        content: EntryContent,
        *,
        field: str,
        status: str | None = None,
        **details: Any,
    ) -> None:
        """Write the entry's draft (or status) with compare-and-swap, audited."""
        assert entry.id is not None
        now = self._rt.clock()
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        else:
            values["draft"] = content.to_json()
            values["locale"] = content.locale
        # The UPDATE also refreshes the loaded row (the session synchronises it).
        if not await uow.faq.save_entry(entry.id, seen_revision=entry.revision, now=now, **values):
            raise StaleEntryCardError(entry.id)
        action = {ARCHIVED: "faq.archive", None: "faq.edit"}.get(status, "faq.restore")
        await uow.audit.append(
            actor_id=actor.staff_id,
            action=action,
            obj=f"faq:{entry.key}",
            details={"field": field, "revision": entry.revision, **details},
            now=now,
        )

    async def _card(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        entry: FaqEntry,
        content: EntryContent,
        *,
        note: str = "",
        **extra: Any,
    ) -> None:
        if note in ("published", "rolled_back", "archived", "restored"):
            content = (await self._entry(uow, int(entry.id or 0)))[1]
        questions = await self._follow_up_questions(uow, content.follow_ups)
        await self._say(
            uow,
            actor,
            chat_id,
            "faq_trainer.card",
            _card_facts(entry, content, note=note, follow_up_questions=questions, **extra),
        )

    async def _preview(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        entry: FaqEntry,
        content: EntryContent,
    ) -> None:
        found = answer_problem(content.answer)
        if found is not None:
            await self._notice(
                uow,
                actor,
                chat_id,
                "cannot_preview",
                problems=[{"code": found[0], "value": found[1], "entry": entry.key}],
            )
            return
        follow_ups: dict[str, tuple[int, str]] = {}
        for key in content.follow_ups:
            other = await uow.faq.entry_by_key(key)
            if (
                other is None
                or other.id is None
                or other.status != PUBLISHED
                or other.published_version is None
            ):
                continue
            version = await uow.faq.version(other.id, other.published_version)
            if version is not None:
                follow_ups[key] = (other.id, str(version.content.get("question", "")))
        assert entry.id is not None
        await self._say(
            uow,
            actor,
            chat_id,
            "faq.answer",
            answer_facts(
                content, entry_id=entry.id, follow_ups=follow_ups, question_id=None, preview=True
            ),
        )
        await queue_attachments(
            uow, content, chat_id=chat_id, staff_id=actor.staff_id, now=self._rt.clock()
        )


def _flow_is(flow: FlowState | None, name: str, step: str, entry_id: int | None = None) -> bool:
    if flow is None or flow.flow != name or flow.step != step:
        return False
    return entry_id is None or flow.data.get("entry_id") == entry_id


def _changes(plan: ImportPlan | GlossaryPlan) -> bool:
    if isinstance(plan, GlossaryPlan):
        return not plan.same
    return bool(plan.new or plan.changed)


def _current(content: EntryContent, field: str) -> str:
    """What the trainer is replacing, shown with the prompt."""
    if field == "question":
        return content.question
    if field == "answer":
        return content.answer
    if field == "category":
        return content.category
    if field == "tags":
        return "｜".join(content.tags)
    return ""


def _replace(content: EntryContent, **changes: Any) -> EntryContent:
    """The same entry with some fields changed (every other one kept, attachments too)."""
    return dataclasses.replace(content, **changes)
