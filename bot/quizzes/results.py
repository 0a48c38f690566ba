"""Quiz results for the security officer: per department how many were invited, took part
and passed (and the pass rate), the questions missed most (with their miss rate), and an
export with one row per person invited (bot/spreadsheet.py). A security test is named:
results show people, unlike an anonymous survey's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot import access
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.quizzes.model import Drawn, Paper, most_missed
from bot.runtime import Runtime
from bot.spreadsheet import csv_bytes, safe_cell, xlsx_bytes
from storage.uow import UnitOfWork

RESULTS_KIND = "quiz.results"
HEADER = ("部门", "姓名", "工号", "作答次数", "最高分", "是否通过", "证书编号")


@dataclass(frozen=True)
class DepartmentRate:
    department: str
    invited: int
    participants: int  # finished at least one attempt
    passed: int

    @property
    def rate(self) -> int:
        """Passed of invited, whole percent."""
        return self.passed * 100 // self.invited if self.invited else 0


@dataclass(frozen=True)
class Missed:
    key: str
    text: str  # in Chinese
    asked: int
    missed: int
    rate: int  # percent


@dataclass(frozen=True)
class QuizResults:
    campaign_id: int
    title: str
    invited: int
    participants: int
    passed: int
    departments: list[DepartmentRate]
    missed: list[Missed]
    rows: list[list[str]]  # the export, header first

    def as_facts(self) -> dict[str, Any]:
        return {
            "id": self.campaign_id,
            "title": self.title,
            "invited": self.invited,
            "participants": self.participants,
            "passed": self.passed,
            "departments": [
                [d.department, d.invited, d.participants, d.passed, d.rate]
                for d in self.departments[:30]
            ],
            "missed": [[m.text, m.missed, m.asked, m.rate] for m in self.missed],
        }


async def gather(uow: UnitOfWork, campaign_id: int) -> QuizResults | None:
    """A campaign's results (None: no such campaign)."""
    campaign = await uow.quizzes.get(campaign_id)
    if campaign is None:
        return None
    paper = Paper.from_json(campaign.paper)
    names = await uow.people.department_names()
    finished = list(await uow.quizzes.finished(campaign_id))
    by_person: dict[int, list[Any]] = {}
    for attempt in finished:
        by_person.setdefault(attempt.staff_id, []).append(attempt)
    departments: dict[str, list[int]] = {}
    rows: list[list[str]] = [list(HEADER)]
    invited = list(await uow.quizzes.invited(campaign_id))
    for person, invitation in invited:
        department = names.get(person.department_id, "—") if person.department_id else "—"
        counts = departments.setdefault(department, [0, 0, 0])
        counts[0] += 1
        tried = by_person.get(person.id or 0, [])
        if tried:
            counts[1] += 1
        if invitation.passed:
            counts[2] += 1
        certificate = next((a.certificate_no for a in tried if a.certificate_no), "")
        best = max((a.score or 0 for a in tried), default=None)
        rows.append(
            [
                department,
                person.name,
                person.employee_no,
                str(len(tried)),
                "" if best is None else str(best),
                "是" if invitation.passed else "否",
                certificate or "",
            ]
        )
    misses = most_missed(
        [([Drawn.from_json(d) for d in a.drawn], [int(x) for x in a.answers]) for a in finished],
        paper,
    )
    missed = []
    for miss in misses:
        question = paper.question(miss.key)
        missed.append(
            Missed(
                miss.key,
                question.text.zh_CN if question else miss.key,
                miss.asked,
                miss.missed,
                miss.missed * 100 // miss.asked,
            )
        )
    rates = sorted(
        (DepartmentRate(name, *counts) for name, counts in departments.items()),
        key=lambda d: (d.rate, d.department),
    )
    return QuizResults(
        campaign_id=campaign_id,
        title=campaign.title,
        invited=len(invited),
        participants=sum(d.participants for d in rates),
        passed=sum(d.passed for d in rates),
        departments=rates,
        missed=missed,
        rows=rows,
    )


def to_csv(rows: list[list[str]]) -> bytes:
    """The export as CSV for Excel (UTF-8 with a BOM; cells safe from formulas)."""
    return csv_bytes(rows[0], [[safe_cell(v) for v in row] for row in rows[1:]])


def to_xlsx(rows: list[list[str]]) -> bytes:
    return xlsx_bytes(rows[0], rows[1:], title="测试成绩")


class QuizResultsService:
    """``/quiz results ID`` in chat, for the security officer, leaders and administrators."""

    def __init__(self, rt: Runtime, *, default_locale: str) -> None:
        self._rt = rt
        self._default_locale = default_locale

    async def show(self, *, tg_id: int, chat_id: int, campaign_id: int) -> None:
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "quiz.results", default_locale=self._default_locale
            )
            results = await gather(uow, campaign_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=RESULTS_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=results.as_facts() if results else {"missing": campaign_id},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
