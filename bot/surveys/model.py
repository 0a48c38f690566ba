"""Surveys as values: what a definition declares once it has been validated, and the skip
logic that decides which question comes next; pure.

``bot/surveys/definitions.py`` turns YAML into these. A survey is an ordered list of
questions; a question with ``show_if`` is asked only when the answers before it satisfy its
condition, so the questions a person sees (and the "3/8" they are shown) follow their answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.definitions import Text


class QuestionKind(StrEnum):
    SINGLE = "single"  # one of the choices
    MULTIPLE = "multiple"  # any number of them (within min/max)
    RATING = "rating"  # 1–5 stars
    NPS = "nps"  # 0–10, "how likely are you to recommend"
    TEXT = "text"  # free text
    DATE = "date"
    NUMBER = "number"


CHOICE_KINDS = frozenset({QuestionKind.SINGLE, QuestionKind.MULTIPLE})
SCALE_KINDS = frozenset({QuestionKind.RATING, QuestionKind.NPS, QuestionKind.NUMBER})
SCALES = {QuestionKind.RATING: (1, 5), QuestionKind.NPS: (0, 10)}


class Resubmit(StrEnum):
    """What a second submission by the same person does."""

    REFUSE = "refuse"
    REPLACE = "replace"


# An answer as stored and compared: a choice key, a set of keys, a number, a date, or text.
Answer = str | frozenset[str] | int | Decimal | date


@dataclass(frozen=True)
class Choice:
    key: str
    label: Text


@dataclass(frozen=True)
class ShowIf:
    """Ask the question only when the answer to ``question`` (an earlier one) ...

    ``any_of``: is, or for a multiple choice contains, one of these keys; ``none_of``: does not;
    ``at_least`` / ``at_most``: is a number (rating, NPS, number) within the bound;
    ``answered``: was given (True) or skipped (False). All that are set must hold.
    """

    question: str
    any_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()
    at_least: Decimal | None = None
    at_most: Decimal | None = None
    answered: bool | None = None

    def holds(self, answers: Mapping[str, Answer]) -> bool:
        given = answers.get(self.question)
        if self.answered is not None and (given is not None) != self.answered:
            return False
        keys: frozenset[str] = frozenset()
        if isinstance(given, str):
            keys = frozenset({given})
        elif isinstance(given, frozenset):
            keys = given
        if self.any_of and not keys & self.any_of:
            return False
        if self.none_of and keys & self.none_of:
            return False
        if self.at_least is not None or self.at_most is not None:
            if not isinstance(given, int | Decimal) or isinstance(given, bool):
                return False
            value = Decimal(given)
            if self.at_least is not None and value < self.at_least:
                return False
            if self.at_most is not None and value > self.at_most:
                return False
        return True


@dataclass(frozen=True)
class Question:
    key: str
    kind: QuestionKind
    text: Text
    required: bool = True
    hint: Text | None = None
    choices: tuple[Choice, ...] = ()
    # number: the value's bounds; multiple: how many may be picked; text: its length.
    min: Decimal | None = None
    max: Decimal | None = None
    show_if: tuple[ShowIf, ...] = ()  # all must hold

    def choice(self, key: str) -> Choice | None:
        return next((c for c in self.choices if c.key == key), None)

    def asked(self, answers: Mapping[str, Answer]) -> bool:
        return all(condition.holds(answers) for condition in self.show_if)


@dataclass(frozen=True)
class Survey:
    key: str
    version: int
    title: Text
    welcome: Text
    closing: Text
    questions: tuple[Question, ...]
    anonymous: bool = False
    resubmit: Resubmit = Resubmit.REFUSE
    description: Text | None = None

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)

    @property
    def answered_again(self) -> bool:
        """Whether a person who has submitted may answer again (replacing their response):
        only a named survey that says so; an anonymous one has nothing to replace."""
        return not self.anonymous and self.resubmit is Resubmit.REPLACE

    def _walk(self, answers: Mapping[str, Answer]) -> tuple[list[Question], dict[str, Answer]]:
        """The questions these answers lead through, in order, and the answers on that path.
        Each question is judged by the answers kept before it, so one left answered by an
        earlier route (a changed answer took it off the path) decides nothing."""
        path: list[Question] = []
        kept: dict[str, Answer] = {}
        for question in self.questions:
            if question.asked(kept):
                path.append(question)
                if question.key in answers:
                    kept[question.key] = answers[question.key]
        return path, kept

    def path(self, answers: Mapping[str, Answer]) -> list[Question]:
        """The questions these answers lead through (the "3/8" counts them)."""
        return self._walk(answers)[0]

    def kept(self, answers: Mapping[str, Answer]) -> dict[str, Answer]:
        """The answers that are submitted: those of the questions on the path."""
        return self._walk(answers)[1]

    def next_question(self, answers: Mapping[str, Answer], after: str | None) -> Question | None:
        """The first question on the path after ``after`` (None: the first); None when the
        survey is done."""
        path = self.path(answers)
        if after is None:
            return path[0] if path else None
        order = {q.key: i for i, q in enumerate(self.questions)}
        return next((q for q in path if order[q.key] > order[after]), None)

    def progress(self, answers: Mapping[str, Answer], current: str) -> tuple[int, int]:
        """(position of ``current`` on the path, questions on it), both counted from 1."""
        path = [q.key for q in self.path(answers)]
        if current not in path:
            path.append(current)
        return path.index(current) + 1, len(path)


def nps(scores: Sequence[int]) -> int | None:
    """Net Promoter Score: % promoters (9–10) minus % detractors (0–6), rounded; None if no
    scores."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores))


def encode_answer(question: Question, answer: Answer) -> Any:
    """An answer as JSON: a key, a sorted list of keys, a number or an ISO date as text."""
    if isinstance(answer, frozenset):
        return sorted(answer)
    if isinstance(answer, date):
        return answer.isoformat()
    if question.kind is QuestionKind.NUMBER and isinstance(answer, int | Decimal):
        return str(Decimal(answer))  # exact, whatever its size or decimals
    return answer


def decode_answer(question: Question, value: Any) -> Answer:
    """The answer ``encode_answer`` wrote, typed by its question (ValueError if it is not
    one this question takes)."""
    kind = question.kind
    if kind is QuestionKind.MULTIPLE:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(question.key)
        return frozenset(value)
    if kind in (QuestionKind.RATING, QuestionKind.NPS):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(question.key)
        return value
    if kind is QuestionKind.NUMBER:
        return Decimal(str(value))
    if kind is QuestionKind.DATE:
        return date.fromisoformat(str(value))
    if not isinstance(value, str):
        raise ValueError(question.key)
    return value


def encode_answers(survey: Survey, answers: Mapping[str, Answer]) -> dict[str, Any]:
    """The answers on the path, as JSON (what is stored)."""
    out: dict[str, Any] = {}
    for key, answer in survey.kept(answers).items():
        question = survey.question(key)
        if question is not None:
            out[key] = encode_answer(question, answer)
    return out


def decode_answers(survey: Survey, data: Mapping[str, Any]) -> dict[str, Answer]:
    """Stored answers typed again; those of questions the definition no longer has, or
    that no longer parse, are left out."""
    out: dict[str, Answer] = {}
    for key, value in data.items():
        question = survey.question(key)
        if question is None:
            continue
        try:
            out[key] = decode_answer(question, value)
        except (ValueError, ArithmeticError):
            continue
    return out


def missing(survey: Survey, answers: Mapping[str, Answer]) -> list[Question]:
    """Required questions on the path these answers leave unanswered."""
    kept = survey.kept(answers)
    return [q for q in survey.path(answers) if q.required and q.key not in kept]
