"""Anonymity that holds in the database (#8, reference item 20), on SQLite and PostgreSQL.

After 10 people answer an anonymous survey, nothing in the answers table can be joined to a
person (the schema test), its dates are days, no other table holds a response's id, and a
second submission is refused. A named survey, for contrast, keeps its owners and may replace.
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.surveys.definitions import load_shipped
from bot.surveys.model import Answer, Survey
from bot.surveys.responses import (
    AlreadySubmittedError,
    IncompleteError,
    NotInvitedError,
    SurveyClosedError,
    submit,
)
from storage.tables.people import Staff
from storage.tables.surveys import Survey as SurveyRow
from storage.tables.surveys import SurveyDraft, SurveyInvitation, SurveyResponseOwner

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIPPED = load_shipped()
PILOT = SHIPPED["pilot_feedback"]  # anonymous, refuses a second submission
NEEDS = SHIPPED["needs_research"]  # named, a second submission replaces the first


async def _people(runtime: Runtime, clock: FakeClock, n: int) -> list[int]:
    ids = []
    async with runtime.detached_uow() as uow:
        dept = await uow.people.add_department("试点处", now=clock())
        for i in range(n):
            row = await uow.people.add(
                Staff(
                    employee_no=f"S{i:03d}",
                    name=f"试点{i}",
                    department_id=dept.id,
                    telegram_id=5000 + i,
                    language="zh_CN",
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            assert row.id is not None
            ids.append(row.id)
        await uow.commit()
    return ids


async def _open(runtime: Runtime, clock: FakeClock, survey: Survey, people: list[int]) -> int:
    async with runtime.detached_uow() as uow:
        row = await uow.surveys.add(
            SurveyRow(
                key=survey.key,
                version=survey.version,
                title=survey.title.zh_CN,
                definition="(the YAML)",
                anonymous=survey.anonymous,
                status="open",
                audience={"staff": people},
                created_at=clock(),
            )
        )
        assert row.id is not None
        await uow.surveys.invite(row.id, people, now=clock())
        await uow.commit()
        return row.id


def _pilot_answers(i: int) -> dict[str, Answer]:
    score = i  # 0..9: detractors, passives and promoters
    answers: dict[str, Answer] = {
        "recommend": score,
        "ease": 1 + i % 5,
        "problems": frozenset({"none"}) if i % 2 else frozenset({"speed", "login"}),
        "usage": "daily",
    }
    if score <= 6:
        answers["improve"] = f"第{i}条建议"
    return answers


async def _submit(
    runtime: Runtime,
    clock: FakeClock,
    survey_id: int,
    survey: Survey,
    staff_id: int,
    answers: dict[str, Answer],
) -> str:
    async with runtime.detached_uow() as uow:
        await uow.surveys.save_draft(
            survey_id, staff_id, answers={"partial": True}, current="usage", now=clock()
        )
        response = await submit(
            uow, survey_id, survey, staff_id, answers, now=clock(), tz=SHANGHAI
        )
        await uow.commit()
        return response


def _schema(conn: Connection) -> dict[str, object]:
    insp = inspect(conn)
    return {
        "columns": {
            c["name"]: str(c["type"]).upper() for c in insp.get_columns("survey_response")
        },
        "foreign": [
            (fk["constrained_columns"], fk["referred_table"])
            for fk in insp.get_foreign_keys("survey_response")
        ],
        "pk": insp.get_pk_constraint("survey_response")["constrained_columns"],
    }


async def test_ten_anonymous_answers_cannot_be_linked_to_anyone(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _people(runtime, clock, 11)
    survey_id = await _open(runtime, clock, PILOT, people[:10])
    responses = []
    for i, staff_id in enumerate(people[:10]):
        clock.advance(timedelta(minutes=7))
        responses.append(
            await _submit(runtime, clock, survey_id, PILOT, staff_id, _pilot_answers(i))
        )

    async with runtime.db.engine.connect() as conn:
        schema = await conn.run_sync(_schema)
        # The answers table: the survey, the day, the answers; a random key; nothing else.
        assert set(schema["columns"]) == {"id", "survey_id", "submitted_on", "answers"}  # type: ignore[arg-type]
        assert schema["columns"]["submitted_on"] == "DATE"  # type: ignore[index]
        assert schema["foreign"] == [(["survey_id"], "survey")]
        assert schema["pk"] == ["id"]
        if conn.dialect.name == "sqlite":
            ddl = (
                await conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'survey_response'")
                )
            ).scalar_one()
            assert "WITHOUT ROWID" in ddl.upper()  # no hidden insertion order either
        else:
            # PostgreSQL writes a new row version for each row written: the last response was
            # written with four others, in random order, by the one transaction that wrote it.
            writer = (
                await conn.execute(
                    text(f"SELECT xmin::text FROM survey_response WHERE id = '{responses[-1]}'")
                )
            ).scalar_one()
            alike = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM survey_response "
                        f"WHERE xmin::text = '{writer}' AND survey_id = {survey_id}"
                    )
                )
            ).scalar_one()
            assert alike == 5
        # Who finished is a yes or no: no time, not even the day a response carries.
        invitation_columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("survey_invitation")}
        )
        assert invitation_columns == {
            "survey_id",
            "staff_id",
            "invited_at",
            "completed",
            "reminders",
            "reminded_at",
        }
        days = (await conn.execute(text("SELECT submitted_on FROM survey_response"))).scalars()
        stored_days = {str(d) for d in days}
        assert stored_days == {clock().astimezone(SHANGHAI).date().isoformat()}  # days only
        # No other table holds a response's id (where a join could start).
        for table in inspect_tables(await conn.run_sync(lambda c: inspect(c).get_table_names())):
            if table == "survey_response":
                continue
            dump = " ".join(
                str(row) for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            )
            assert not any(r in dump for r in responses), table
    assert all(re.fullmatch(r"[0-9a-f]{32}", r) for r in responses)
    assert len(set(responses)) == 10
    async with runtime.detached_uow() as uow:
        owners = list(await uow.session.exec(select(SurveyResponseOwner)))
        drafts = list(await uow.session.exec(select(SurveyDraft)))
        invitations = list(
            await uow.session.exec(
                select(SurveyInvitation).where(col(SurveyInvitation.survey_id) == survey_id)
            )
        )
        stored = await uow.surveys.responses(survey_id)
    assert owners == [] and drafts == []
    assert all(i.completed for i in invitations)
    # What was stored is what was answered, off-path answers left out.
    scores = sorted(r.answers["recommend"] for r in stored)
    assert scores == list(range(10))
    assert sum(1 for r in stored if "improve" in r.answers) == 7
    # A second submission by the same person is refused, and changes nothing.
    with pytest.raises(AlreadySubmittedError):
        await _submit(runtime, clock, survey_id, PILOT, people[0], _pilot_answers(9))
    async with runtime.detached_uow() as uow:
        assert len(await uow.surveys.responses(survey_id)) == 10
        assert await uow.surveys.draft(survey_id, people[0]) is None  # rolled back with it
    # Somebody not invited, an incomplete path, a closed survey: refused.
    with pytest.raises(NotInvitedError):
        await _submit(runtime, clock, survey_id, PILOT, people[10], _pilot_answers(1))
    async with runtime.detached_uow() as uow:
        await uow.surveys.invite(survey_id, [people[10]], now=clock())
        await uow.commit()
    incomplete = _pilot_answers(2)
    del incomplete["improve"]  # an NPS of 2 asks what to improve, and it is required
    with pytest.raises(IncompleteError) as gap:
        await _submit(runtime, clock, survey_id, PILOT, people[10], incomplete)
    assert gap.value.question == "improve"
    async with runtime.detached_uow() as uow:
        row = await uow.surveys.get(survey_id)
        assert row is not None
        row.closes_at = clock()
        uow.session.add(row)
        await uow.commit()
    with pytest.raises(SurveyClosedError):
        await _submit(runtime, clock, survey_id, PILOT, people[10], _pilot_answers(2))


def inspect_tables(names: list[str]) -> list[str]:
    return sorted(n for n in names if n != "alembic_version")


async def test_a_named_survey_keeps_its_owners_and_replaces(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _people(runtime, clock, 3)
    survey_id = await _open(runtime, clock, NEEDS, people)
    answers: dict[str, Answer] = {
        "work_area": "documents",
        "tools_now": frozenset({"paper", "email"}),
        "pain_points": frozenset({"slow_approval"}),
        "first_module": "documents",
        "daily_documents": 40,
        "device": "phone",
        "training_need": 2,  # training_format and training_date are not asked
        "training_format": frozenset({"video"}),  # left over from an earlier route
    }
    first = await _submit(runtime, clock, survey_id, NEEDS, people[0], answers)
    clock.advance(timedelta(days=1))
    second = await _submit(
        runtime, clock, survey_id, NEEDS, people[0], {**answers, "device": "computer"}
    )
    assert first == second
    async with runtime.detached_uow() as uow:
        (stored,) = await uow.surveys.responses(survey_id)
        owners = list(await uow.session.exec(select(SurveyResponseOwner)))
    assert stored.answers["device"] == "computer" and "training_format" not in stored.answers
    assert stored.answers["daily_documents"] == "40"
    assert [(o.staff_id, o.response_id) for o in owners] == [(people[0], first)]
    assert owners[0].submitted_at == clock()  # the replacement's moment
