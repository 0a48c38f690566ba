"""Survey results: per-question figures, response rates by department, and the exports.

For an anonymous survey every breakdown with fewer than ``MIN_GROUP`` (5) respondents is
hidden: a question answered by fewer people shows only that it was (``hidden``), and so does a
department with fewer than five who finished (reference item 20). A named survey shows all,
its export carrying who answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from statistics import mean
from typing import Any

from bot.spreadsheet import csv_bytes, safe_cell, xlsx_bytes
from bot.surveys.definitions import parse_survey
from bot.surveys.model import (
    CHOICE_KINDS,
    SCALES,
    Answer,
    Question,
    QuestionKind,
    Survey,
    decode_answers,
    nps,
)
from storage.uow import UnitOfWork

MIN_GROUP = 5


@dataclass(frozen=True)
class QuestionResult:
    key: str
    kind: QuestionKind
    text: str  # in Chinese (the office's language of record)
    answered: int
    hidden: bool = False  # fewer than MIN_GROUP answered an anonymous survey's question
    counts: list[tuple[str, int]] = field(default_factory=list)  # choice or score -> count
    mean: float | None = None  # rating, NPS, number
    nps: int | None = None
    texts: list[str] = field(default_factory=list)  # free text, as written
    values: list[float] = field(default_factory=list)  # number: every answer (a histogram)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "text": self.text,
            "answered": self.answered,
            "hidden": self.hidden,
            "counts": [[label, n] for label, n in self.counts],
            "mean": self.mean,
            "nps": self.nps,
            "texts": list(self.texts),
            "values": list(self.values),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuestionResult:
        """What ``as_json`` wrote (an outbox row's facts)."""
        mean_value = data.get("mean")
        nps_value = data.get("nps")
        return cls(
            key=str(data.get("key", "")),
            kind=QuestionKind(str(data.get("kind", "text"))),
            text=str(data.get("text", "")),
            answered=int(data.get("answered", 0)),
            hidden=bool(data.get("hidden", False)),
            counts=[(str(c[0]), int(c[1])) for c in data.get("counts") or []],
            mean=float(mean_value) if mean_value is not None else None,
            nps=int(nps_value) if nps_value is not None else None,
            texts=[str(t) for t in data.get("texts") or []],
            values=[float(v) for v in data.get("values") or []],
        )


@dataclass(frozen=True)
class DepartmentRate:
    department: str
    finished: int | None  # None: hidden (fewer than MIN_GROUP, anonymous survey)
    invited: int


@dataclass(frozen=True)
class Results:
    title: str
    anonymous: bool
    responses: int
    invited: int
    questions: list[QuestionResult]
    departments: list[DepartmentRate]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "anonymous": self.anonymous,
            "responses": self.responses,
            "invited": self.invited,
            "questions": [q.as_json() for q in self.questions],
            "departments": [[d.department, d.finished, d.invited] for d in self.departments],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        """What ``as_json`` wrote (an outbox row's facts)."""
        return cls(
            title=str(data.get("title", "")),
            anonymous=bool(data.get("anonymous", False)),
            responses=int(data.get("responses", 0)),
            invited=int(data.get("invited", 0)),
            questions=[
                QuestionResult.from_json(q)
                for q in data.get("questions") or []
                if isinstance(q, dict)
            ],
            departments=[
                DepartmentRate(str(d[0]), None if d[1] is None else int(d[1]), int(d[2]))
                for d in data.get("departments") or []
                if isinstance(d, list) and len(d) == 3
            ],
        )


def charted(question: QuestionResult) -> bool:
    """Whether a question gets a chart (``charts.py``): choices, ratings, NPS and numbers that
    someone answered; never a hidden one (fewer than five in an anonymous survey)."""
    if question.hidden or question.answered == 0:
        return False
    if question.kind is QuestionKind.NUMBER:
        return bool(question.values)
    return question.kind in (
        QuestionKind.SINGLE,
        QuestionKind.MULTIPLE,
        QuestionKind.RATING,
        QuestionKind.NPS,
    )


def _score(answer: Answer) -> float | None:
    if isinstance(answer, bool) or not isinstance(answer, int | Decimal):
        return None
    return float(answer)


def question_result(
    question: Question, answers: Sequence[Mapping[str, Answer]], *, anonymous: bool
) -> QuestionResult:
    given = [a[question.key] for a in answers if question.key in a]
    text = question.text.zh_CN
    if anonymous and len(given) < MIN_GROUP:
        return QuestionResult(question.key, question.kind, text, len(given), hidden=True)
    kind = question.kind
    if kind in CHOICE_KINDS:
        counts: Counter[str] = Counter()
        for answer in given:
            keys = answer if isinstance(answer, frozenset) else {answer}
            counts.update(str(k) for k in keys)
        return QuestionResult(
            question.key,
            kind,
            text,
            len(given),
            counts=[(c.label.zh_CN, counts.get(c.key, 0)) for c in question.choices],
        )
    if kind in SCALES or kind is QuestionKind.NUMBER:
        scores = [s for s in (_score(a) for a in given) if s is not None]
        counted: list[tuple[str, int]] = []
        if kind in SCALES:
            low, high = SCALES[kind]
            tally = Counter(int(s) for s in scores)
            counted = [(str(n), tally.get(n, 0)) for n in range(low, high + 1)]
        return QuestionResult(
            question.key,
            kind,
            text,
            len(given),
            counts=counted,
            mean=round(mean(scores), 2) if scores else None,
            nps=nps([int(s) for s in scores]) if kind is QuestionKind.NPS else None,
            values=scores if kind is QuestionKind.NUMBER else [],
        )
    if kind is QuestionKind.DATE:
        days = Counter(a.isoformat() for a in given if isinstance(a, date))
        return QuestionResult(question.key, kind, text, len(given), counts=sorted(days.items()))
    return QuestionResult(
        question.key, kind, text, len(given), texts=[str(a) for a in given if isinstance(a, str)]
    )


def results(
    definition: Survey,
    stored: Sequence[Mapping[str, Any]],
    completion: Mapping[str, tuple[int, int]],
) -> Results:
    """The figures from the stored answers and (department name -> finished, invited)."""
    answers = [decode_answers(definition, s) for s in stored]
    anonymous = definition.anonymous
    departments = [
        DepartmentRate(
            name,
            None if anonymous and done < MIN_GROUP else done,
            invited,
        )
        for name, (done, invited) in sorted(completion.items())
    ]
    return Results(
        title=definition.title.zh_CN,
        anonymous=anonymous,
        responses=len(answers),
        invited=sum(invited for _, invited in completion.values()),
        questions=[question_result(q, answers, anonymous=anonymous) for q in definition.questions],
        departments=departments,
    )


def _cell(question: Question, answer: Answer | None) -> str:
    if answer is None:
        return ""
    if isinstance(answer, frozenset):
        labels = [c.label.zh_CN for c in question.choices if c.key in answer]
        return "；".join(labels)
    if question.kind is QuestionKind.SINGLE and isinstance(answer, str):
        choice = question.choice(answer)
        return choice.label.zh_CN if choice is not None else answer
    if isinstance(answer, date):
        return answer.isoformat()
    return str(answer)


def table(
    definition: Survey,
    stored: Sequence[Mapping[str, Any]],
    owners: Sequence[tuple[str, str]] | None = None,
) -> list[list[str]]:
    """One row per response (a header first): the questions in Chinese; for a named survey
    ``owners`` (name, department) lead each row, in the same order as ``stored``."""
    header = [q.text.zh_CN for q in definition.questions]
    rows: list[list[str]] = [(["姓名", "部门"] if owners is not None else []) + header]
    for index, data in enumerate(stored):
        answers = decode_answers(definition, data)
        lead = list(owners[index]) if owners is not None else []
        rows.append(lead + [_cell(q, answers.get(q.key)) for q in definition.questions])
    return rows


def to_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """The table as CSV for Excel (UTF-8 with a BOM; cells safe from formulas)."""
    return csv_bytes(rows[0], [[safe_cell(v) for v in row] for row in rows[1:]])


def to_xlsx(rows: Sequence[Sequence[str]]) -> bytes:
    """The table as an XLSX workbook (every answer a text cell)."""
    return xlsx_bytes(rows[0], rows[1:], title="答卷")


async def gather(uow: UnitOfWork, survey_id: int) -> tuple[Results, list[list[str]]] | None:
    """A survey's results and its export table (None: no such survey)."""
    row = await uow.surveys.get(survey_id)
    if row is None:
        return None
    definition = parse_survey(row.definition, source=f"survey {survey_id}")
    stored = list(await uow.surveys.responses(survey_id))
    names = await uow.people.department_names()
    completion = {
        names.get(dept, "—") if dept is not None else "—": counts
        for dept, counts in (await uow.surveys.completion_by_department(survey_id)).items()
    }
    owners: list[tuple[str, str]] | None = None
    if not definition.anonymous:
        owner_of = await uow.surveys.owners(survey_id)
        people = await uow.people.many(owner_of.values())
        owners = []
        for response in stored:
            person = people.get(owner_of.get(response.id, -1))
            owners.append(
                (
                    person.name if person else "",
                    names.get(person.department_id, "") if person and person.department_id else "",
                )
            )
    answers = [r.answers for r in stored]
    return results(definition, answers, completion), table(definition, answers, owners)
