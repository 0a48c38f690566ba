"""Learning from traffic (#6): what the knowledge base could not answer, grouped for trainers.

Questions that got "I don't know" or a 👎 are grouped by meaning (cosine similarity of their
sentence embeddings); each working day at a set time every trainer gets a digest of the
groups most people asked ("12 people asked ≈ …") with three buttons per group: add the
question as a phrasing of the entry it came closest to, draft a new entry from it, or ignore
it. Nothing changes without a trainer's tap, and a tap is a compare-and-swap on the group:
when two trainers tap at once one wins and the other is told who handled it.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import numpy as np
import numpy.typing as npt

from bot import access
from bot.access import Actor
from bot.calendar.domain import WorkCalendar
from bot.errors import BadCallbackError, DomainError, StaleCardError
from bot.faq.content import MAX_ALTERNATIVES, EntryContent, check
from bot.faq.library import DRAFT, PUBLISHED, KnowledgeLibrary, StaleEntryError, current_content
from bot.people.domain import Role
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from knowledge.embed import embedding_text
from knowledge.normalise import has_cjk, normalise
from storage.tables.faq import FaqEntry, FaqQuestion
from storage.tables.faq_digest import FaqDigestGroup
from storage.tables.messaging import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

# Two questions are "the same question" at cosine ≥ this (multilingual USE v3). Measured on
# the dev set's 161 labelled queries (`python -m bench.faq_digest`; same expected entry =
# same question, each no-answer query a topic of its own), B-cubed precision / recall of the
# groups: 0.50: 0.76 / 0.58; 0.55: 0.86 / 0.54; 0.60: 0.96 / 0.48; 0.65: 0.99 / 0.46 (0.44
# when nothing is grouped). A wrong merge hides a different question inside another group's
# count, a missed one costs only a second line, so this is the lowest threshold with
# precision ≥ 0.95. Its wrong merges are "near miss" questions written to resemble an entry
# and English questions alike only in "How do I … in OA?"; the dev set's paraphrases are
# deliberately far apart (median cosine 0.39), staff repeating a question are much closer.
GROUP_THRESHOLD = 0.6
# The entry a group is offered to as a phrasing: the top-ranked entry of at least half its
# questions, with a mean logged confidence of at least SUGGEST_SCORE. On the dev set, below
# 0.2 the top hit of a query not answered outright was never the right entry (0 of 11); from
# 0.2 up to the answer band it was for 6 of 23: worth a button, and the trainer decides.
SUGGEST_SHARE = 0.5
SUGGEST_SCORE = 0.2
EXAMPLES = 3  # phrasings shown under a group, the representative's not counted
MAX_GROUPS = 8  # groups per digest: a digest is read on a phone, the rest waits for the next
MAX_QUESTIONS = 2000  # newest first: bounds the n² similarity matrix (16 MB at this size)

KIND = "faq.digest"  # the due item that sends it, and the outbox kind of a digest card
EMPTY_KIND = "faq.digest_empty"  # /digest with nothing to review
DRAFTED_KIND = "faq.digest_drafted"  # "a draft was made", with a button to open it
OPEN, ADDED, DRAFTED, IGNORED, REPLACED = "open", "added", "drafted", "ignored", "replaced"
VERBS = {"add": ADDED, "draft": DRAFTED, "ignore": IGNORED}  # button verb -> decision

# Sentence vectors for texts, one L2-normalised float32 row each (the live index's encoder).
Embed = Callable[[Sequence[str]], Awaitable[npt.NDArray[np.float32]]]


@dataclass(frozen=True)
class Asked:
    """One logged question, as the digest sees it (the text already decrypted)."""

    id: int
    text: str
    asker: str  # a keyed hash: only ever compared, to count people
    entry_key: str | None  # the engine's top-ranked entry, shown or not
    score: float  # its confidence
    asked_at: datetime


@dataclass(frozen=True)
class Group:
    """Questions that mean the same, the most central one first."""

    members: tuple[int, ...]  # question ids, the representative's first
    representative: str
    examples: tuple[str, ...]  # other phrasings, most central first, no two alike
    askers: int  # distinct people
    entry_key: str | None  # the entry to offer it to as a phrasing, if the evidence allows
    latest: datetime


def _medoid(sims: npt.NDArray[np.float32]) -> int:
    """The row with the highest total similarity to the others (the most central member)."""
    return int(np.argmax(sims.sum(axis=1)))


def _suggested(members: Sequence[Asked]) -> str | None:
    keys = Counter(m.entry_key for m in members if m.entry_key)
    if not keys:
        return None
    # Most common first; a tie goes to the key whose questions scored higher.
    best = max(
        keys,
        key=lambda k: (keys[k], sum(m.score for m in members if m.entry_key == k)),
    )
    scores = [m.score for m in members if m.entry_key == best]
    if keys[best] / len(members) < SUGGEST_SHARE or sum(scores) / len(scores) < SUGGEST_SCORE:
        return None
    return best


def _group(
    questions: Sequence[Asked], sims: npt.NDArray[np.float32], rows: Sequence[int]
) -> Group:
    local = sims[np.ix_(rows, rows)]
    centre = rows[_medoid(local)]
    rest = sorted((r for r in rows if r != centre), key=lambda r: (-float(sims[centre, r]), r))
    order = [centre, *rest]
    members = [questions[r] for r in order]
    seen = {normalise(members[0].text)}
    examples: list[str] = []
    for member in members[1:]:
        norm = normalise(member.text)
        if norm in seen:
            continue
        seen.add(norm)
        examples.append(member.text)
        if len(examples) == EXAMPLES:
            break
    return Group(
        members=tuple(m.id for m in members),
        representative=members[0].text,
        examples=tuple(examples),
        askers=len({m.asker for m in members}),
        entry_key=_suggested(members),
        latest=max(m.asked_at for m in members),
    )


def group_questions(
    questions: Sequence[Asked],
    vectors: npt.NDArray[np.float32],
    *,
    threshold: float = GROUP_THRESHOLD,
) -> list[Group]:
    """Group questions by meaning; the groups most people asked first.

    ``vectors`` are the questions' L2-normalised embeddings, one row each, in order. Greedy
    community detection: the question with the most ungrouped neighbours (cosine ≥
    ``threshold``) seeds a group of itself and those neighbours, and again until none is left,
    so every member is close to the seed and a chain of small steps cannot join two topics.
    Deterministic: ties go to the earlier question.
    """
    n = len(questions)
    if vectors.shape[0] != n:
        raise ValueError("one vector per question")
    if n == 0:
        return []
    sims: npt.NDArray[np.float32] = np.asarray(vectors @ vectors.T, dtype=np.float32)
    close = sims >= np.float32(threshold)
    np.fill_diagonal(close, True)  # a zero vector (empty text) is still its own group
    free = np.ones(n, dtype=bool)
    counts = close.sum(axis=1).astype(np.int64)
    groups: list[Group] = []
    while free.any():
        seed = int(np.argmax(np.where(free, counts, -1)))
        rows = np.flatnonzero(close[seed] & free)
        free[rows] = False
        counts -= close[:, rows].sum(axis=1)
        groups.append(_group(questions, sims, [int(r) for r in rows]))
    groups.sort(key=lambda g: (-g.askers, -len(g.members), -g.latest.timestamp(), g.members[0]))
    return groups


def next_run(calendar: WorkCalendar, now: datetime, *, at: time, tz: tzinfo) -> datetime:
    """The first working day's ``at`` (local time) strictly after ``now``."""
    day = now.astimezone(tz).date()
    while True:
        moment = datetime.combine(day, at, tzinfo=tz)
        if calendar.is_workday(day) and moment > now:
            return moment
        day = calendar.next_workday(day)


# --- errors the handlers turn into messages ---------------------------------------------------
class GroupGoneError(DomainError):
    """No such digest group (forged button data, or a database restored from before it)."""

    def __init__(self, group_id: int) -> None:
        super().__init__(group_id)
        self.group_id = group_id


class DigestHandledError(StaleCardError):
    """The group was decided, or replaced by a newer digest, after the card was drawn."""

    def __init__(self, group_id: int, status: str, by: str | None, at: datetime | None) -> None:
        super().__init__(group_id)
        self.status = status
        self.by = by  # None: nobody else (a second tap of one's own, or a newer digest)
        self.at = at


class NoSuggestionError(DomainError):
    """ "Add" on a group whose suggested entry is not published (any more)."""

    def __init__(self, group_id: int) -> None:
        super().__init__(group_id)
        self.group_id = group_id


class PhrasingRejectedError(DomainError):
    """The phrasing would break the content rules; ``code`` is a key of content.ERRORS."""

    def __init__(self, group_id: int, code: str, entry: str) -> None:
        super().__init__(group_id, code, entry)
        self.group_id = group_id
        self.code = code
        self.entry = entry  # for existing_phrasing: the entry it already leads to


# --- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decided:
    """What a trainer's tap did (for the toast; the digest card is edited through the outbox)."""

    group_id: int
    status: str
    version: int
    entry_key: str | None = None  # added to, or drafted as
    entry_id: int | None = None
    published_version: int | None = None  # added: the new version (None: already a phrasing)


@dataclass(frozen=True)
class _Prepared:
    questions: tuple[Asked, ...]
    vectors: npt.NDArray[np.float32]


def _asked(row: FaqQuestion) -> Asked:
    return Asked(
        id=row.id or 0,
        text=row.text,
        asker=row.asker,
        # A 👎 says the entry it was answered with is not what the asker meant: it must not
        # be the one the group is offered to.
        entry_key=None if row.feedback == "down" else row.entry_key,
        score=row.score,
        asked_at=row.asked_at,
    )


def _card_key(digest: str, staff_id: int) -> str:
    return f"{KIND}:{digest}:{staff_id}"


def _has_phrasing(content: EntryContent, text: str) -> bool:
    return normalise(text) in {normalise(p) for p in content.phrasings()}


def _with_phrasing(content: EntryContent, text: str) -> EntryContent:
    if _has_phrasing(content, text):
        return content
    return replace(content, alternatives=(*content.alternatives, text))


class DigestService:
    """Groups what the knowledge base could not answer and lets trainers act on each group."""

    def __init__(
        self,
        rt: Runtime,
        library: KnowledgeLibrary,
        embed: Embed,
        *,
        default_locale: str,
        calendar: Callable[[], Awaitable[WorkCalendar]],
        tz: tzinfo,
        at: time,
        days: int,
        threshold: float = GROUP_THRESHOLD,
        max_groups: int = MAX_GROUPS,
    ) -> None:
        self._rt = rt
        self._library = library
        self._embed = embed
        self._default_locale = default_locale
        self._calendar = calendar
        self._tz = tz
        self._at = at
        self._days = days
        self._threshold = threshold
        self._max_groups = max_groups

    # -- the schedule ---------------------------------------------------------------------
    def register_due(self, due: DueService) -> None:
        """Send the digest from the due-item tick."""
        due.register(KIND, self._on_due)

    async def ensure_schedule(self) -> None:
        """Schedule the next digest if none is pending (idempotent; called at start)."""
        calendar = await self._calendar()
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            await self._schedule(uow, calendar, now)
            await uow.commit()

    async def _schedule(self, uow: UnitOfWork, calendar: WorkCalendar, now: datetime) -> None:
        due_at = next_run(calendar, now, at=self._at, tz=self._tz)
        await uow.due.add(
            kind=KIND,
            due_at=due_at,
            now=now,
            dedupe_key=f"{KIND}:{due_at.astimezone(self._tz):%Y%m%d}",
        )

    async def _on_due(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        """Every trainer gets the digest, if there is something new in it; then the next one
        is scheduled. A run that is late onto a holiday (the bot was down) sends nothing."""
        # Before this unit of work touches the database: the calendar and the questions are
        # read, and the questions embedded, without holding its connection (SQLite has one).
        calendar = await self._calendar()
        workday = calendar.is_workday(now.astimezone(self._tz).date())
        prepared = await self._prepare(now) if workday else None
        await self._schedule(uow, calendar, now)
        if prepared is None:
            return
        trainers = await uow.people.staff_with_role(Role.TRAINER)
        recipients = [
            (s.id, s.telegram_id) for s in trainers if s.id is not None and s.telegram_id
        ]
        if recipients:
            await self._send_new(uow, prepared, recipients, now, priority=PRIORITY_NOTIFY)

    # -- /digest --------------------------------------------------------------------------
    async def show(self, *, tg_id: int, chat_id: int) -> None:
        """A trainer asks for the digest now: a new one if anything came in since the open
        one, else the open one again (as a new message), else "nothing to review"."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:  # refuse before embedding anything
            await access.authorize(uow, tg_id, "faq.manage", default_locale=self._default_locale)
        prepared = await self._prepare(now)
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "faq.manage", default_locale=self._default_locale
            )
            digest = None
            if prepared is not None:
                digest = await self._send_new(
                    uow, prepared, [(actor.staff_id, chat_id)], now, priority=PRIORITY_INTERACTIVE
                )
            if digest is None:
                await self._show_open(uow, actor, chat_id, now)
            await uow.commit()

    async def _show_open(self, uow: UnitOfWork, actor: Actor, chat_id: int, now: datetime) -> None:
        groups = await uow.faq_digest.open_groups()
        if not groups:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=EMPTY_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={"days": self._days},
                priority=PRIORITY_INTERACTIVE,
            )
            return
        digest = groups[-1].digest
        key = _card_key(digest, actor.staff_id)
        await uow.outbox.forget_card(key)  # sent below the command, not edited far above it
        await uow.outbox.add(
            chat_id=chat_id,
            kind=KIND,
            staff_id=actor.staff_id,
            now=now,
            facts=await self._card_facts(uow, digest),
            priority=PRIORITY_INTERACTIVE,
            card_key=key,
        )

    async def top_unanswered(self, *, since: datetime, n: int) -> list[Group]:
        """The ``n`` groups of questions since ``since`` that the knowledge base could not
        answer and no trainer has dealt with, most people first; a look, nothing stored (the
        desk's daily summary). No transaction is open while embedding."""
        async with self._rt.detached_uow() as uow:
            rows = await uow.faq_digest.unanswered(since=since, limit=MAX_QUESTIONS)
        questions = tuple(_asked(row) for row in rows if row.id is not None)
        if not questions or n <= 0:
            return []
        vectors = await self._embed([embedding_text(q.text) for q in questions])
        groups = group_questions(
            questions, np.asarray(vectors, dtype=np.float32), threshold=self._threshold
        )
        return groups[:n]

    # -- building a digest ----------------------------------------------------------------
    async def _prepare(self, now: datetime) -> _Prepared | None:
        """The questions to group and their vectors; None when every one of them is in an
        open group already (nothing new to say). No transaction is open while embedding."""
        async with self._rt.detached_uow() as uow:
            rows = await uow.faq_digest.unanswered(
                since=now - timedelta(days=self._days), limit=MAX_QUESTIONS
            )
            shown = {m for group in await uow.faq_digest.open_groups() for m in group.members}
        questions = tuple(_asked(row) for row in rows if row.id is not None)
        if all(q.id in shown for q in questions):
            return None
        vectors = await self._embed([embedding_text(q.text) for q in questions])
        return _Prepared(questions, np.asarray(vectors, dtype=np.float32))

    def _groups(self, prepared: _Prepared, waiting: set[int]) -> list[Group]:
        keep = [i for i, q in enumerate(prepared.questions) if q.id in waiting]
        questions = [prepared.questions[i] for i in keep]
        vectors = prepared.vectors[keep]
        return group_questions(questions, vectors, threshold=self._threshold)[: self._max_groups]

    async def _send_new(
        self,
        uow: UnitOfWork,
        prepared: _Prepared,
        recipients: Sequence[tuple[int, int]],
        now: datetime,
        *,
        priority: int,
    ) -> str | None:
        """Replace the open groups with a new digest and send its card; its key, or None if
        nothing is left to group (trainers decided on everything meanwhile)."""
        ids = [q.id for q in prepared.questions]
        groups = self._groups(prepared, await uow.faq_digest.untriaged_among(ids))
        if not groups:
            return None
        replaced: set[str] = set()
        raced = False
        for old in await uow.faq_digest.open_groups():
            if old.id is None:
                continue
            done = await uow.faq_digest.settle(
                old.id, seen_version=old.version, status=REPLACED, decided_at=now
            )
            if done is None:
                raced = True
            else:
                replaced.add(old.digest)
        if raced:  # a trainer decided on a group meanwhile: its questions are not waiting now
            groups = self._groups(prepared, await uow.faq_digest.untriaged_among(ids))
        for digest in sorted(replaced):
            await self._refresh_cards(uow, digest, now, actor=None)
        if not groups:
            return None
        digest = f"{now:%Y%m%d%H%M}-{secrets.token_hex(4)}"
        for group in groups:
            await uow.faq_digest.add(
                FaqDigestGroup(
                    digest=digest,
                    created_at=now,
                    representative=group.representative,
                    examples=list(group.examples),
                    members=list(group.members),
                    askers=group.askers,
                    entry_key=group.entry_key,
                )
            )
        facts = await self._card_facts(uow, digest)
        for staff_id, chat_id in recipients:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=KIND,
                staff_id=staff_id,
                now=now,
                facts=facts,
                priority=priority,
                card_key=_card_key(digest, staff_id),
            )
        logger.info(
            "faq digest %s: %s groups of %s questions, to %s trainers",
            digest,
            len(groups),
            sum(len(g.members) for g in groups),
            len(recipients),
        )
        return digest

    async def _entry_question(self, uow: UnitOfWork, key: str) -> str | None:
        """The published question of an entry (None if it is not published)."""
        entry = await uow.faq.entry_by_key(key)
        if (
            entry is None
            or entry.id is None
            or entry.status != PUBLISHED
            or entry.published_version is None
        ):
            return None
        version = await uow.faq.version(entry.id, entry.published_version)
        return EntryContent.from_json(version.content).question if version else None

    async def _card_facts(self, uow: UnitOfWork, digest: str) -> dict[str, Any]:
        """What a digest card shows: each group with its state, read now."""
        groups = await uow.faq_digest.of_digest(digest)
        people = await uow.people.many({g.decided_by for g in groups if g.decided_by})
        questions = {
            key: await self._entry_question(uow, key)
            for key in sorted({g.entry_key for g in groups if g.entry_key})
        }
        shown = []
        for group in groups:
            decider = people.get(group.decided_by) if group.decided_by else None
            shown.append(
                {
                    "id": group.id,
                    "version": group.version,
                    "status": group.status,
                    "askers": group.askers,
                    "asked": len(group.members),
                    "text": group.representative,
                    "examples": list(group.examples),
                    "entry_key": group.entry_key,
                    "entry_question": questions.get(group.entry_key or ""),
                    "by": decider.name if decider else None,
                    "at": group.decided_at.isoformat() if group.decided_at else None,
                }
            )
        return {"digest": digest, "days": self._days, "groups": shown}

    async def _refresh_cards(
        self, uow: UnitOfWork, digest: str, now: datetime, *, actor: Actor | None
    ) -> None:
        """Edit every trainer's card of a digest in place to show its groups as they are."""
        holders: set[int] = {actor.staff_id} if actor is not None else set()
        for role in (Role.TRAINER, Role.ADMIN):  # an admin may have asked with /digest
            holders.update(s.id for s in await uow.people.staff_with_role(role) if s.id)
        keys = {_card_key(digest, staff_id): staff_id for staff_id in holders}
        cards = await uow.outbox.card_messages(keys)
        if not cards:
            return
        facts = await self._card_facts(uow, digest)
        for key, (chat_id, _) in sorted(cards.items()):
            staff_id = keys[key]
            mine = actor is not None and staff_id == actor.staff_id
            await uow.outbox.add(
                chat_id=chat_id,
                kind=KIND,
                staff_id=staff_id,
                now=now,
                facts=facts,
                priority=PRIORITY_INTERACTIVE if mine else PRIORITY_NOTIFY,
                card_key=key,
            )

    # -- a trainer's decision ---------------------------------------------------------------
    async def decide(
        self, *, tg_id: int, chat_id: int, group_id: int, version: int, verb: str
    ) -> Decided:
        """Add as a phrasing, draft an entry, or ignore: one tap, one compare-and-swap.

        The group is claimed first (on PostgreSQL a second trainer's tap waits here, then
        finds it decided and is told by whom); the questions are marked, the decision
        audited, and every trainer's card of that digest edited, in the same transaction.
        """
        status = VERBS.get(verb)
        if status is None:
            raise BadCallbackError()
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "faq.manage", default_locale=self._default_locale
            )
            group = await uow.faq_digest.get(group_id)
            if group is None or group.id is None:
                raise GroupGoneError(group_id)
            settled = await uow.faq_digest.settle(
                group.id,
                seen_version=version,
                status=status,
                decided_by=actor.staff_id,
                decided_at=now,
            )
            if settled is None:
                raise await self._handled(uow, group_id, actor)
            key: str | None = None
            entry_id: int | None = None
            number: int | None = None
            if status == ADDED:
                key, entry_id, number = await self._add(uow, group, actor)
            elif status == DRAFTED:
                key, entry_id = await self._draft(uow, group, now)
            if entry_id is not None:
                await uow.faq_digest.set_entry(group.id, entry_id)
            await uow.faq_digest.triage(group.members, status)
            await uow.audit.append(
                actor_id=actor.staff_id,
                action=f"faq.digest.{verb}",
                obj=f"faq-digest:{group.id}",
                details={
                    "entry": key,
                    "version": number,
                    "questions": len(group.members),
                    "askers": group.askers,
                },
                now=now,
            )
            if status == DRAFTED and entry_id is not None:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=DRAFTED_KIND,
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"entry_id": entry_id, "key": key, "question": group.representative},
                    priority=PRIORITY_INTERACTIVE,
                )
            await self._refresh_cards(uow, group.digest, now, actor=actor)
            await uow.commit()
        logger.info("faq digest group %s %s by staff %s", group_id, status, actor.staff_id)
        return Decided(group_id, status, settled, key, entry_id, number)

    async def _handled(self, uow: UnitOfWork, group_id: int, actor: Actor) -> DigestHandledError:
        current = await uow.faq_digest.get(group_id)
        if current is None:
            return DigestHandledError(group_id, REPLACED, None, None)
        by = None
        if current.decided_by is not None and current.decided_by != actor.staff_id:
            other = await uow.people.get(current.decided_by)
            by = other.name if other is not None else None
        return DigestHandledError(group_id, current.status, by, current.decided_at)

    async def _add(
        self, uow: UnitOfWork, group: FaqDigestGroup, actor: Actor
    ) -> tuple[str, int, int | None]:
        """The representative becomes a phrasing of the suggested entry, published at once.

        It goes into the published words; a draft someone is still writing stays a draft
        (with the phrasing added to it too), so this tap never publishes unfinished work.
        Refused if the phrasing already leads to another entry or breaks a content rule.
        """
        key = group.entry_key
        if key is None or group.id is None:
            raise NoSuggestionError(group.id or 0)
        entry = await uow.faq.entry_by_key(key)
        published = (
            await uow.faq.version(entry.id, entry.published_version)
            if entry is not None
            and entry.id is not None
            and entry.status == PUBLISHED
            and entry.published_version is not None
            else None
        )
        if entry is None or entry.id is None or published is None:
            raise NoSuggestionError(group.id)
        phrase = group.representative.strip()
        live = EntryContent.from_json(published.content)
        if _has_phrasing(live, phrase):
            return key, entry.id, None
        updated = _with_phrasing(live, phrase)
        others = [
            content
            for other, version in await uow.faq.with_published(statuses=(PUBLISHED, DRAFT))
            if other.key != key and (content := current_content(other, version)) is not None
        ]
        checked = check([updated], others=others)
        if not checked.ok:
            problem = checked.problems[0]
            raise PhrasingRejectedError(group.id, problem.code, problem.entry)
        pending = EntryContent.from_json(entry.draft) if entry.draft else None
        if not await uow.faq.save_entry(
            entry.id, seen_revision=entry.revision, now=self._rt.clock(), draft=updated.to_json()
        ):
            raise StaleEntryError(key)
        # The session still holds the row as read: keep it in step with what was written
        # (publish_in reads it back), as the library does.
        entry.revision += 1
        entry.draft = updated.to_json()
        number = await self._library.publish_in(
            uow, key, actor_id=actor.staff_id, note=f"digest group {group.id}"
        )
        entry.revision += 1
        entry.draft = None
        if pending is not None:
            kept = _with_phrasing(pending, phrase)
            if not await uow.faq.save_entry(
                entry.id, seen_revision=entry.revision, now=self._rt.clock(), draft=kept.to_json()
            ):
                raise StaleEntryError(key)
            entry.revision += 1
            entry.draft = kept.to_json()
        return key, entry.id, number

    async def _draft(
        self, uow: UnitOfWork, group: FaqDigestGroup, now: datetime
    ) -> tuple[str, int]:
        """A new draft entry: the representative as its question, the examples as its other
        phrasings, the answer left for the trainer to write in the editor."""
        key = f"digest-{group.id}"
        if await uow.faq.entry_by_key(key) is not None:  # someone chose that key by hand
            key = f"{key}-{secrets.token_hex(3)}"
        question = group.representative.strip()
        seen = {normalise(question)}
        alternatives: list[str] = []
        for example in group.examples:
            if normalise(example) not in seen and len(alternatives) < MAX_ALTERNATIVES:
                seen.add(normalise(example))
                alternatives.append(example.strip())
        content = EntryContent(
            key=key,
            question=question,
            answer="",
            alternatives=tuple(alternatives),
            locale="zh" if has_cjk(question) else "en",
        )
        entry = await uow.faq.add_entry(
            FaqEntry(
                key=key,
                locale=content.locale,
                status=DRAFT,
                draft=content.to_json(),
                created_at=now,
                updated_at=now,
            )
        )
        assert entry.id is not None  # flushed
        return key, entry.id
