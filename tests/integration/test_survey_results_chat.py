"""Survey results asked for in chat (#8), on SQLite and PostgreSQL: who may see them (the
author, the office and administrators; a missing survey refused like someone else's), and
the outbox rows they get: the summary's figures with small groups hidden, the free texts cut
down, the charts in albums of at most ten, the files with every response."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.surveys import reporting
from bot.surveys.definitions import parse_survey
from bot.surveys.publishing import SurveyPublishing, parse_audience
from bot.surveys.responses import submit
from storage.tables.messaging import OutboxMessage
from storage.tables.people import Staff

AUTHOR, OFFICE, ADMIN, PLAIN = 9001, 9002, 9003, 9004


def _definition(questions: int, anonymous: bool) -> str:
    lines = [
        "key: many",
        "version: 1",
        "title: {zh_CN: 多题问卷, en: Many}",
        "welcome: {zh_CN: 开始, en: Start}",
        "closing: {zh_CN: 结束, en: End}",
        f"anonymous: {'true' if anonymous else 'false'}",
        "questions:",
        "  - {key: note, type: text, text: {zh_CN: 意见, en: Note}}",
    ]
    for i in range(questions):
        lines.append(f"  - {{key: q{i}, type: rating, text: {{zh_CN: 第{i}题, en: Q{i}}}}}")
    return "\n".join(lines) + "\n"


async def _people(runtime: Runtime, clock: FakeClock) -> dict[int, int]:
    """tg id -> staff id: the author (trainer), office, admin, plain staff, and 6 more."""
    ids: dict[int, int] = {}
    roles = {AUTHOR: "trainer", OFFICE: "office", ADMIN: "admin", PLAIN: "staff"}
    async with runtime.detached_uow() as uow:
        office = await uow.people.add_department("办公室", now=clock())
        for n, tg in enumerate([AUTHOR, OFFICE, ADMIN, PLAIN, *range(9100, 9106)]):
            row = await uow.people.add(
                Staff(
                    employee_no=f"R{n}",
                    name=f"同事{n}",
                    department_id=office.id,
                    telegram_id=tg,
                    language="zh_CN",
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            assert row.id is not None
            await uow.people.set_roles(row.id, [roles.get(tg, "staff")])
            ids[tg] = row.id
        await uow.commit()
    return ids


async def _rows(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        found = await uow.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.kind) == kind)
            .order_by(col(OutboxMessage.id))
        )
        return list(found)


async def _survey(
    runtime: Runtime, clock: FakeClock, ids: dict[int, int], *, questions: int, anonymous: bool
) -> int:
    text = _definition(questions, anonymous)
    published = await SurveyPublishing(runtime, default_locale="zh_CN").publish(
        text=text, source="many.yaml", audience=parse_audience("all"), tg_id=AUTHOR
    )
    definition = parse_survey(text, source="many.yaml")
    answered = [ids[tg] for tg in range(9100, 9106)]
    if anonymous:
        answered = answered[:4]  # fewer than five: every figure hidden
    for n, staff_id in enumerate(answered):
        answers: dict[str, Any] = {f"q{i}": 1 + (n + i) % 5 for i in range(questions)}
        answers["note"] = "很长的意见" * 100 if n == 0 else f"意见{n}"
        async with runtime.uow() as uow:
            await submit(
                uow, published.survey_id, definition, staff_id, answers, now=clock(), tz=UTC
            )
            await uow.commit()
    return published.survey_id


async def test_who_may_see_results(runtime: Runtime, clock: FakeClock) -> None:
    ids = await _people(runtime, clock)
    survey_id = await _survey(runtime, clock, ids, questions=2, anonymous=False)
    service = reporting.SurveyResultsService(runtime, default_locale="zh_CN")
    for tg in (AUTHOR, OFFICE, ADMIN):
        await service.summary(tg_id=tg, chat_id=tg, survey_id=survey_id)
    assert [r.chat_id for r in await _rows(runtime, reporting.SUMMARY_KIND)] == [
        AUTHOR,
        OFFICE,
        ADMIN,
    ]
    refusals = []
    for asked in (survey_id, survey_id + 100):
        for call in (
            service.summary(tg_id=PLAIN, chat_id=PLAIN, survey_id=asked),
            service.export(tg_id=PLAIN, chat_id=PLAIN, survey_id=asked, fmt="csv"),
        ):
            with pytest.raises(reporting.ResultsUnavailableError) as caught:
                await call
            refusals.append(type(caught.value))
    assert len(set(refusals)) == 1
    with pytest.raises(reporting.ResultsUnavailableError):
        await service.summary(tg_id=AUTHOR, chat_id=AUTHOR, survey_id=survey_id + 100)
    assert [r.chat_id for r in await _rows(runtime, reporting.SUMMARY_KIND)] == [
        AUTHOR,
        OFFICE,
        ADMIN,
    ]
    # /results: the author lists their own; plain staff none; the office every survey.
    for tg in (AUTHOR, PLAIN, OFFICE):
        await service.listing(tg_id=tg, chat_id=tg)
    listed = {r.chat_id: r.facts["surveys"] for r in await _rows(runtime, reporting.LIST_KIND)}
    assert [s["id"] for s in listed[AUTHOR]] == [survey_id]
    assert listed[PLAIN] == []
    assert [s["id"] for s in listed[OFFICE]] == [survey_id]


async def test_summary_charts_and_files_of_a_named_survey(
    runtime: Runtime, clock: FakeClock
) -> None:
    ids = await _people(runtime, clock)
    survey_id = await _survey(runtime, clock, ids, questions=23, anonymous=False)
    service = reporting.SurveyResultsService(runtime, default_locale="zh_CN")
    await service.summary(tg_id=AUTHOR, chat_id=AUTHOR, survey_id=survey_id)
    (summary,) = await _rows(runtime, reporting.SUMMARY_KIND)
    facts = summary.facts
    assert facts["responses"] == 6 and facts["invited"] == 10 and facts["charts"] == 23
    note = facts["questions"][0]
    assert note["free"]["total"] == 6
    shown = dict(note["free"]["shown"])  # writer -> text (responses come in no set order)
    assert shown["同事5"] == "意见1"
    assert len(shown["同事4"]) == reporting.TEXT_CHARS and shown["同事4"].endswith("…")
    # 23 charts: albums of 10, 10 and 3, each saying how many messages it is.
    albums = await _rows(runtime, reporting.CHARTS_KIND)
    assert [len(a.facts["questions"]) for a in albums] == [10, 10, 3]
    assert [a.facts["weight"] for a in albums] == [10, 10, 3]
    assert [a.facts["part"] for a in albums] == [1, 2, 3]
    await service.export(tg_id=AUTHOR, chat_id=AUTHOR, survey_id=survey_id, fmt="xlsx")
    (file_row,) = await _rows(runtime, reporting.FILE_KIND)
    assert file_row.facts["format"] == "xlsx" and file_row.facts["total"] == 6
    assert file_row.facts["rows"][0][:3] == ["姓名", "部门", "意见"]


async def test_an_anonymous_survey_under_five_shows_and_charts_nothing(
    runtime: Runtime, clock: FakeClock
) -> None:
    ids = await _people(runtime, clock)
    survey_id = await _survey(runtime, clock, ids, questions=3, anonymous=True)
    service = reporting.SurveyResultsService(runtime, default_locale="zh_CN")
    await service.summary(tg_id=AUTHOR, chat_id=AUTHOR, survey_id=survey_id)
    (summary,) = await _rows(runtime, reporting.SUMMARY_KIND)
    facts = summary.facts
    assert all(q["hidden"] for q in facts["questions"])
    assert all("free" not in q and not q["counts"] for q in facts["questions"])
    assert facts["departments"] == [["办公室", None, 10]]
    assert facts["charts"] == 0
    assert await _rows(runtime, reporting.CHARTS_KIND) == []
