"""Knowledge-base entries as trainers write them, checked before anything changes (#6).

``EntryContent`` is one entry; ``check`` validates a whole set the way an import must (every
problem with its line, nothing half-applied): duplicate keys, duplicate phrasings across
entries (after normalisation: full-width, Traditional, case), empty questions and answers,
answers Telegram would refuse (bad HTML, over 4096 characters), follow-ups that point nowhere.
Pure: no I/O; the spreadsheet and YAML readers are in ``bot.faq.files``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.html import HtmlParseError, parse_html
from bot.text import N_
from knowledge.normalise import normalise

MAX_ANSWER = 4096  # Telegram's limit for a message's text, counted after the HTML is parsed
MAX_QUESTION = 300
MAX_ALTERNATIVES = 30
MAX_CATEGORY = 60
MAX_TAGS = 20
MAX_FOLLOW_UPS = 5  # buttons under an answer; more is a menu, not a follow-up
MAX_ATTACHMENTS = 5  # documents sent after the answer (a guide, a form to fill in)
MAX_ATTACHMENT_NAME = 200
# A Telegram file id: what the bot sends the document again by (its own bot's ids only).
FILE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,255}$")
_ATTACHMENT_CELL = re.compile(r"^(.*?)\s*<([^<>]*)>$")
LOCALES = ("zh", "en")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

ERRORS: dict[str, str] = {
    "bad_key": N_(
        "Line {line}: id “{value}” is not usable (lower-case letters, digits, . _ -; at most 64)."
    ),
    "duplicate_key": N_("Line {line}: id “{value}” is also used on line {other}."),
    "bad_locale": N_("Line {line}: language “{value}” is not supported (use zh or en)."),
    "empty_question": N_("Line {line}: the question is empty."),
    "long_question": N_("Line {line}: a question or phrasing is over 300 characters."),
    "too_many_alternatives": N_("Line {line}: more than 30 alternative phrasings."),
    "duplicate_phrasing": N_(
        "Line {line}: the phrasing “{value}” is also on line {other} (entry {entry}); "
        "a question can lead to one entry only."
    ),
    "existing_phrasing": N_(
        "Line {line}: the phrasing “{value}” already leads to entry {entry}, which this file "
        "does not change."
    ),
    "empty_answer": N_("Line {line}: the answer is empty."),
    "long_answer": N_(
        "Line {line}: the answer has {value} characters; Telegram allows 4096 in a message."
    ),
    "bad_html": N_("Line {line}: Telegram would refuse the answer's formatting: {value}"),
    "long_category": N_("Line {line}: the category is over 60 characters."),
    "too_many_tags": N_("Line {line}: more than 20 tags."),
    "too_many_follow_ups": N_("Line {line}: more than 5 follow-up entries."),
    "broken_follow_up": N_(
        "Line {line}: follow-up “{value}” is not an entry of this knowledge base."
    ),
    "self_follow_up": N_("Line {line}: an entry cannot be its own follow-up."),
    "bad_attachment": N_(
        "Line {line}: attachment “{value}” is not written as “file name <Telegram file id>”."
    ),
    "too_many_attachments": N_("Line {line}: more than 5 attachments."),
}


@dataclass(frozen=True)
class Attachment:
    """A document sent after the answer, by the Telegram file id a trainer uploaded it as."""

    name: str
    file_id: str

    def cell(self) -> str:
        """How a spreadsheet cell (or a YAML string) writes it: ``name <file id>``."""
        return f"{self.name} <{self.file_id}>"

    @classmethod
    def parse(cls, text: str) -> Attachment:
        """Read ``name <file id>``; anything else keeps its words so that the check names it."""
        found = _ATTACHMENT_CELL.match(text.strip())
        if found is None:
            return cls(text.strip(), "")
        return cls(found[1].strip(), found[2].strip())

    @property
    def ok(self) -> bool:
        """Whether it can be sent."""
        return (
            bool(self.name)
            and len(self.name) <= MAX_ATTACHMENT_NAME
            and bool(FILE_ID_RE.match(self.file_id))
        )


@dataclass(frozen=True)
class EntryContent:
    """What a trainer edits: the words of one entry (not its status or history)."""

    key: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    locale: str = "zh"
    category: str = ""
    tags: tuple[str, ...] = ()
    follow_ups: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def phrasings(self) -> tuple[str, ...]:
        """The question and its alternatives."""
        return (self.question, *self.alternatives)

    def to_json(self) -> dict[str, Any]:
        """The stored form (a version's content, a draft)."""
        return {
            "key": self.key,
            "locale": self.locale,
            "question": self.question,
            "alternatives": list(self.alternatives),
            "answer": self.answer,
            "category": self.category,
            "tags": list(self.tags),
            "follow_ups": list(self.follow_ups),
            "attachments": [{"name": a.name, "file_id": a.file_id} for a in self.attachments],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EntryContent:
        """Back from the stored form."""
        return cls(
            key=str(data["key"]),
            locale=str(data.get("locale") or "zh"),
            question=str(data.get("question") or ""),
            alternatives=tuple(str(a) for a in data.get("alternatives") or ()),
            answer=str(data.get("answer") or ""),
            category=str(data.get("category") or ""),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            follow_ups=tuple(str(f) for f in data.get("follow_ups") or ()),
            attachments=tuple(
                Attachment(str(a.get("name") or ""), str(a.get("file_id") or ""))
                for a in data.get("attachments") or ()
                if isinstance(a, Mapping)
            ),
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row; ``code`` is a key of ``ERRORS``."""

    line: int
    code: str
    value: str = ""
    other: int = 0
    entry: str = ""

    def message(self, gettext: Any) -> str:
        """The problem in the reader's language."""
        return str(gettext(ERRORS[self.code])).format(
            line=self.line, value=self.value, other=self.other, entry=self.entry
        )


@dataclass(frozen=True)
class Checked:
    """A checked set: the entries and every problem found (nothing applies unless empty)."""

    entries: tuple[EntryContent, ...]
    lines: tuple[int, ...]
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the set may be applied."""
        return not self.problems


def answer_problem(answer: str) -> tuple[str, str] | None:
    """(code, value) when Telegram would refuse this answer, else None."""
    if not answer.strip():
        return "empty_answer", ""
    try:
        parsed = parse_html(answer)
    except HtmlParseError as exc:
        return "bad_html", str(exc)
    length = len(parsed.text)
    if length > MAX_ANSWER:
        return "long_answer", str(length)
    if not parsed.text.strip():
        return "empty_answer", ""
    return None


def _row_problems(entry: EntryContent, line: int) -> list[Problem]:
    problems: list[Problem] = []
    if not KEY_RE.match(entry.key):
        problems.append(Problem(line, "bad_key", entry.key))
    if entry.locale not in LOCALES:
        problems.append(Problem(line, "bad_locale", entry.locale))
    if not entry.question.strip():
        problems.append(Problem(line, "empty_question"))
    if any(len(p) > MAX_QUESTION for p in entry.phrasings()):
        problems.append(Problem(line, "long_question"))
    if len(entry.alternatives) > MAX_ALTERNATIVES:
        problems.append(Problem(line, "too_many_alternatives"))
    found = answer_problem(entry.answer)
    if found is not None:
        problems.append(Problem(line, found[0], found[1]))
    if len(entry.category) > MAX_CATEGORY:
        problems.append(Problem(line, "long_category"))
    if len(entry.tags) > MAX_TAGS:
        problems.append(Problem(line, "too_many_tags"))
    if len(entry.follow_ups) > MAX_FOLLOW_UPS:
        problems.append(Problem(line, "too_many_follow_ups"))
    if entry.key in entry.follow_ups:
        problems.append(Problem(line, "self_follow_up"))
    if len(entry.attachments) > MAX_ATTACHMENTS:
        problems.append(Problem(line, "too_many_attachments"))
    problems.extend(
        Problem(line, "bad_attachment", a.cell() if a.file_id else a.name)
        for a in entry.attachments
        if not a.ok
    )
    return problems


def check(
    entries: Sequence[EntryContent],
    lines: Sequence[int] | None = None,
    *,
    others: Iterable[EntryContent] = (),
) -> Checked:
    """Check a set of entries as one import; ``others`` are the stored entries the set does
    not change, which stay: follow-ups may point at them, and their phrasings are taken."""
    numbers = tuple(lines) if lines is not None else tuple(range(1, len(entries) + 1))
    problems: list[Problem] = []
    keys: dict[str, int] = {}
    phrasings: dict[str, tuple[int, str]] = {}
    staying = list(others)
    taken = {normalise(p): other.key for other in staying for p in other.phrasings()}
    for entry, line in zip(entries, numbers, strict=True):
        problems.extend(_row_problems(entry, line))
        if entry.key in keys:
            problems.append(Problem(line, "duplicate_key", entry.key, keys[entry.key]))
        else:
            keys[entry.key] = line
        for phrasing in entry.phrasings():
            norm = normalise(phrasing)
            if not norm:
                continue
            if norm in taken and taken[norm] != entry.key:
                problems.append(Problem(line, "existing_phrasing", phrasing, entry=taken[norm]))
                continue
            seen = phrasings.get(norm)
            if seen is not None and seen[1] != entry.key:
                problems.append(
                    Problem(line, "duplicate_phrasing", phrasing, seen[0], entry=seen[1])
                )
            elif seen is None:
                phrasings[norm] = (line, entry.key)
    known = set(keys) | {other.key for other in staying}
    for entry, line in zip(entries, numbers, strict=True):
        for follow in entry.follow_ups:
            if follow not in known:
                problems.append(Problem(line, "broken_follow_up", follow))
    problems.sort(key=lambda p: (p.line, list(ERRORS).index(p.code)))
    return Checked(tuple(entries), numbers, tuple(problems))
