"""Survey results in the chat: who may see them, and the messages that carry them.

A survey's author, and administrators and office staff (policy ``survey.results``), ask with
``/results ID``, the "📊" button under the author's "published" message, or the list that
``/results`` and ``/survey`` show. What they get, each an outbox row in the one transaction:

- ``survey.results``: the summary, responses of invited, each department's rate, per
  question the counts, mean or NPS and the free texts (at most ``TEXTS_SHOWN`` each, each
  cut at ``TEXT_CHARS``; a named survey's with the writer's name); buttons for the files;
- ``survey.charts``: the PNG charts, at most ``ALBUM`` to a row (one album each). The facts
  are the charted questions' figures, not images: the renderer draws them when it sends, in
  a worker thread (the sender renders the kind off the event loop), so nothing big waits
  in the outbox, and once sent the row forgets its facts like every ``survey.`` row;
- ``survey.results_file``: the CSV or XLSX of every response (the first ``FILE_ROW_LIMIT``;
  the CLI writes them all), built when sent, also in a worker thread.

For an anonymous survey every figure is the one ``results.py`` computed: a question or a
department with fewer than five respondents is "<5, hidden", and never charted. A survey
that does not exist and someone else's survey get the same refusal.
"""

from __future__ import annotations

from typing import Any, Literal

from bot import access
from bot.errors import DomainError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.surveys.model import QuestionKind
from bot.surveys.results import Results, charted, gather
from storage.tables.surveys import Survey as SurveyRow
from storage.uow import UnitOfWork

SUMMARY_KIND = "survey.results"
CHARTS_KIND = "survey.charts"
FILE_KIND = "survey.results_file"
LIST_KIND = "survey.results_list"
ALBUM = 10  # photos in one sendMediaGroup
TEXTS_SHOWN = 10  # free texts listed per question in the summary; the files have all
TEXT_CHARS = 200
FILE_ROW_LIMIT = 5000  # responses in a file sent in chat
LISTED = 10  # surveys in the /results list

Format = Literal["csv", "xlsx"]


class ResultsUnavailableError(DomainError):
    """No survey by that id whose results this person may see (missing or not theirs)."""

    def __init__(self, survey_id: int) -> None:
        super().__init__(survey_id)
        self.survey_id = survey_id


def may_see(actor: access.Actor, row: SurveyRow | None) -> bool:
    """Whether this person may see this survey's results."""
    if row is None:
        return False
    return row.created_by == actor.staff_id or access.can(actor, "survey.results")


def _texts(results: Results, table: list[list[str]]) -> dict[str, dict[str, Any]]:
    """Per free-text question the texts shown (a named survey's with the writer's name) and
    how many there are."""
    out: dict[str, dict[str, Any]] = {}
    header = table[0] if table else []
    named = not results.anonymous and header[:2] == ["姓名", "部门"]
    for index, question in enumerate(results.questions):
        if question.kind is not QuestionKind.TEXT or question.hidden:
            continue
        shown: list[list[str]] = []
        if named:
            column = 2 + index
            for row in table[1:]:
                if column < len(row) and row[column]:
                    shown.append([row[0], _cut(row[column])])
        else:
            shown = [["", _cut(t)] for t in question.texts]
        out[question.key] = {"total": len(shown), "shown": shown[:TEXTS_SHOWN]}
    return out


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def summary_facts(survey_id: int, results: Results, table: list[list[str]]) -> dict[str, Any]:
    """The summary row's facts: the figures, the free texts cut down, whether charts follow."""
    data = results.as_json()
    texts = _texts(results, table)
    for question in data["questions"]:
        question["texts"] = []
        question["values"] = []
        if question["key"] in texts:
            question["free"] = texts[question["key"]]
    data["id"] = survey_id
    data["charts"] = sum(1 for q in results.questions if charted(q))
    return data


class SurveyResultsService:
    """Survey results for their author and the office, in the private chat."""

    def __init__(self, rt: Runtime, *, default_locale: str) -> None:
        self._rt = rt
        self._default_locale = default_locale

    async def _visible(self, uow: UnitOfWork, tg_id: int, survey_id: int) -> access.Actor:
        actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
        if not may_see(actor, await uow.surveys.get(survey_id)):
            raise ResultsUnavailableError(survey_id)
        return actor

    async def summary(self, *, tg_id: int, chat_id: int, survey_id: int) -> None:
        """The summary, then the charts (albums of up to ten)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._visible(uow, tg_id, survey_id)
            gathered = await gather(uow, survey_id)
            if gathered is None:  # gone between the two reads
                raise ResultsUnavailableError(survey_id)
            results, table = gathered
            await uow.outbox.add(
                chat_id=chat_id,
                kind=SUMMARY_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=summary_facts(survey_id, results, table),
                priority=PRIORITY_INTERACTIVE,
                ref_id=survey_id,
            )
            drawn = [q.as_json() for q in results.questions if charted(q)]
            parts = [drawn[i : i + ALBUM] for i in range(0, len(drawn), ALBUM)]
            for part, questions in enumerate(parts, start=1):
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=CHARTS_KIND,
                    staff_id=actor.staff_id,
                    now=now,
                    facts={
                        "id": survey_id,
                        "title": results.title,
                        "questions": questions,
                        "part": part,
                        "parts": len(parts),
                        "weight": len(questions),  # an album is that many messages
                    },
                    priority=PRIORITY_INTERACTIVE,
                    ref_id=survey_id,
                )
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="survey.results",
                obj=f"survey:{survey_id}",
                details={"what": "summary"},
                now=now,
            )
            await uow.commit()

    async def export(self, *, tg_id: int, chat_id: int, survey_id: int, fmt: Format) -> None:
        """Every response as a CSV (UTF-8 with a BOM) or XLSX document."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._visible(uow, tg_id, survey_id)
            gathered = await gather(uow, survey_id)
            if gathered is None:
                raise ResultsUnavailableError(survey_id)
            results, table = gathered
            await uow.outbox.add(
                chat_id=chat_id,
                kind=FILE_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "id": survey_id,
                    "title": results.title,
                    "format": fmt,
                    "rows": table[: FILE_ROW_LIMIT + 1],  # the header and the first rows
                    "total": len(table) - 1,
                },
                priority=PRIORITY_INTERACTIVE,
                ref_id=survey_id,
            )
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="survey.results",
                obj=f"survey:{survey_id}",
                details={"what": fmt},
                now=now,
            )
            await uow.commit()

    async def listing(self, *, tg_id: int, chat_id: int) -> None:
        """``/results`` alone: the newest surveys whose results this person may see."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            everyone = access.can(actor, "survey.results")
            rows = await uow.surveys.newest(
                limit=LISTED, author_id=None if everyone else actor.staff_id
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind=LIST_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={"surveys": [listed(r) for r in rows]},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()


def listed(row: SurveyRow) -> dict[str, Any]:
    """A survey as a line of a list with a "📊" button."""
    return {"id": row.id, "title": row.title, "status": row.status, "anonymous": row.anonymous}


async def authored(uow: UnitOfWork, staff_id: int) -> list[dict[str, Any]]:
    """The newest surveys a person published (their results buttons in ``/survey``)."""
    return [listed(r) for r in await uow.surveys.newest(limit=LISTED, author_id=staff_id)]
