"""Quizzes (#8) on SQLite and PostgreSQL: a campaign to an audience (one invitation each, at
broadcast priority, never twice), attempts drawn, answered and scored with the retry policy
and a certificate on passing, old and forged buttons refused, pass rates by department and
the most-missed questions, reminders only to those who have not passed (never in the quiet
hours, stopping at close), and the next round of a quarterly campaign."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.errors import BadCallbackError, PermissionDeniedError, StaleCardError
from bot.quiet import QuietHours
from bot.quizzes.campaigns import (
    INVITE_KIND,
    REMIND_KIND,
    CampaignError,
    QuizCampaigns,
    add_months,
)
from bot.quizzes.definitions import load_shipped
from bot.quizzes.model import Drawn, Paper
from bot.quizzes.results import QuizResults, gather, to_csv, to_xlsx
from bot.quizzes.taking import (
    CERTIFICATE_KIND,
    OPTION_SPAN,
    RESULT_KIND,
    AlreadyPassedError,
    CooldownError,
    NoAttemptsLeftError,
    QuizClosedError,
    QuizTaking,
)
from bot.runtime import Runtime
from bot.scheduling import DueService
from bot.spreadsheet import read_grid
from bot.surveys.publishing import Audience, parse_audience
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.tables.people import Staff
from storage.tables.quizzes import QuizAttempt, QuizCampaign

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(22, 0), time(8, 0))
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


async def _office(runtime: Runtime, clock: FakeClock) -> dict[str, int]:
    """办公室: 3 (one security officer); 财务处: 2, one not on Telegram."""
    people = [
        ("E1", "办公室", 701, ["staff"]),
        ("E2", "办公室", 702, ["staff"]),
        ("E3", "办公室", 703, ["staff", "security"]),
        ("E4", "财务处", 704, ["staff"]),
        ("E5", "财务处", None, ["staff"]),
    ]
    ids = {}
    async with runtime.detached_uow() as uow:
        depts = {}
        for name in ("办公室", "财务处"):
            depts[name] = await uow.people.add_department(name, now=clock())
        for number, dept, tg, roles in people:
            row = await uow.people.add(
                Staff(
                    employee_no=number,
                    name=f"员工{number}",
                    department_id=depts[dept].id,
                    telegram_id=tg,
                    language="zh_CN",
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            assert row.id is not None
            await uow.people.set_roles(row.id, roles)
            ids[number] = row.id
        await uow.commit()
    return ids


def _campaigns(runtime: Runtime) -> QuizCampaigns:
    return QuizCampaigns(runtime, load_shipped(), default_locale="zh_CN", tz=SHANGHAI, quiet=QUIET)


async def _outbox(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.kind) == kind)
            .order_by(col(OutboxMessage.id))
        )
        return list(rows)


async def _attempt(runtime: Runtime, staff_id: int) -> tuple[QuizAttempt, Paper]:
    """The person's latest attempt and its campaign's paper."""
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(QuizAttempt)
            .where(col(QuizAttempt.staff_id) == staff_id)
            .order_by(col(QuizAttempt.id).desc())
        )
        attempt = rows.first()
        assert attempt is not None
        campaign = await uow.quizzes.get(attempt.campaign_id)
        assert campaign is not None
        return attempt, Paper.from_json(campaign.paper)


async def _take(
    taking: QuizTaking, runtime: Runtime, tg: int, staff_id: int, campaign_id: int, right: int
) -> QuizAttempt:
    """Begin (or resume) and answer every question, the first ``right`` correctly."""
    await taking.begin(tg_id=tg, chat_id=tg, campaign_id=campaign_id)
    attempt, paper = await _attempt(runtime, staff_id)
    drawn = [Drawn.from_json(d) for d in attempt.drawn]
    for position, item in enumerate(drawn):
        question = paper.question(item.key)
        assert question is not None
        shown = item.order.index(question.correct)
        if position >= right:
            shown = (shown + 1) % len(item.order)
        await taking.answer(
            tg_id=tg, chat_id=tg, attempt_id=attempt.id or 0, code=position * OPTION_SPAN + shown
        )
        if position + 1 < len(drawn):
            await taking.next(tg_id=tg, chat_id=tg, attempt_id=attempt.id or 0, position=position)
    finished, _ = await _attempt(runtime, staff_id)
    return finished


async def test_a_campaign_scored_with_retries_a_certificate_and_the_results(
    runtime: Runtime, clock: FakeClock
) -> None:
    clock.now = NOON
    ids = await _office(runtime, clock)
    campaigns = _campaigns(runtime)
    with pytest.raises(CampaignError):
        await campaigns.open(quiz_key="no_such_quiz", audience=Audience(everyone=True))
    opened = await campaigns.open(quiz_key="security_basics", audience=parse_audience("all"))
    assert (opened.invited, opened.messaged, opened.unreachable) == (5, 4, ["员工E5"])
    invites = await _outbox(runtime, INVITE_KIND)
    assert sorted(r.chat_id for r in invites) == [701, 702, 703, 704]
    assert all(
        r.priority == PRIORITY_BROADCAST and r.ref_id == opened.campaign_id for r in invites
    )
    assert len({r.dedupe_key for r in invites}) == 4

    taking = QuizTaking(runtime, tz=SHANGHAI, default_locale="zh_CN")
    cid = opened.campaign_id
    # E1 passes at the first attempt (9 of 10 right: 90% ≥ 80%).
    first = await _take(taking, runtime, 701, ids["E1"], cid, right=9)
    assert (first.correct, first.total, first.score, first.passed) == (9, 10, 90, True)
    assert first.certificate_no == f"AQ2026-{cid:04d}-{first.id:06d}"
    certificate = (await _outbox(runtime, CERTIFICATE_KIND))[-1]
    assert certificate.facts["name"] == "员工E1" and certificate.facts["department"] == "办公室"
    assert certificate.facts["number"] == first.certificate_no
    assert certificate.facts["date"] == "2026-12-01"
    with pytest.raises(AlreadyPassedError):
        await taking.begin(tg_id=701, chat_id=701, campaign_id=cid)

    # E2 fails (7/10 = 70%), must wait 30 minutes, fails twice more, and is out of attempts.
    failed = await _take(taking, runtime, 702, ids["E2"], cid, right=7)
    assert (failed.score, failed.passed, failed.certificate_no) == (70, False, None)
    result = (await _outbox(runtime, RESULT_KIND))[-1]
    assert result.facts["refusal"] == "cooldown" and result.facts["left"] == 2
    with pytest.raises(CooldownError):
        await taking.begin(tg_id=702, chat_id=702, campaign_id=cid)
    clock.advance(timedelta(minutes=31))
    second = await _take(taking, runtime, 702, ids["E2"], cid, right=0)
    assert (second.number, second.score) == (2, 0)
    assert second.seed != failed.seed or second.drawn != failed.drawn  # a new draw
    clock.advance(timedelta(minutes=31))
    third = await _take(taking, runtime, 702, ids["E2"], cid, right=5)
    assert third.number == 3
    clock.advance(timedelta(minutes=31))
    with pytest.raises(NoAttemptsLeftError):
        await taking.begin(tg_id=702, chat_id=702, campaign_id=cid)

    # E4 (财务处) passes with everything right.
    assert (await _take(taking, runtime, 704, ids["E4"], cid, right=10)).score == 100

    results = await gather_results(runtime, cid)
    assert (results.invited, results.participants, results.passed) == (5, 3, 2)
    by_dept = {
        d.department: (d.invited, d.participants, d.passed, d.rate) for d in results.departments
    }
    assert by_dept == {"办公室": (3, 2, 1, 33), "财务处": (2, 1, 1, 50)}
    # Every question E2 missed in all three attempts and nobody else missed is at 100%.
    assert results.missed and results.missed[0].rate >= results.missed[-1].rate
    async with runtime.detached_uow() as uow:
        finished = list(await uow.quizzes.finished(cid))
    counted: dict[str, list[int]] = {}
    for attempt in finished:
        paper = Paper.from_json((await _campaign(runtime, cid)).paper)
        for item, picked in zip(attempt.drawn, attempt.answers, strict=True):
            question = paper.question(item["key"])
            assert question is not None
            counts = counted.setdefault(item["key"], [0, 0])
            counts[0] += 1
            counts[1] += picked != question.correct
    for miss in results.missed:
        assert [miss.asked, miss.missed] == counted[miss.key]
    grid = [cells for _, cells in read_grid(to_xlsx(results.rows), "results.xlsx")]
    assert grid[0][:3] == ["部门", "姓名", "工号"]
    assert ["办公室", "员工E1", "E1", "1", "90", "是", first.certificate_no] in grid
    assert "员工E2" in to_csv(results.rows).decode("utf-8-sig")


async def gather_results(runtime: Runtime, campaign_id: int) -> QuizResults:
    async with runtime.detached_uow() as uow:
        results = await gather(uow, campaign_id)
    assert results is not None
    return results


async def _campaign(runtime: Runtime, campaign_id: int) -> QuizCampaign:
    async with runtime.detached_uow() as uow:
        row = await uow.quizzes.get(campaign_id)
    assert row is not None
    return row


async def test_old_forged_and_foreign_buttons_change_nothing(
    runtime: Runtime, clock: FakeClock
) -> None:
    clock.now = NOON
    ids = await _office(runtime, clock)
    opened = await _campaigns(runtime).open(
        quiz_key="classified_chat", audience=parse_audience("dept:办公室")
    )
    taking = QuizTaking(runtime, tz=SHANGHAI, default_locale="zh_CN")
    await taking.begin(tg_id=701, chat_id=701, campaign_id=opened.campaign_id)
    attempt, _ = await _attempt(runtime, ids["E1"])
    aid = attempt.id or 0
    with pytest.raises(BadCallbackError):  # someone else's attempt
        await taking.answer(tg_id=702, chat_id=702, attempt_id=aid, code=0)
    with pytest.raises(BadCallbackError):  # an option the question does not have
        await taking.answer(tg_id=701, chat_id=701, attempt_id=aid, code=15)
    with pytest.raises(StaleCardError):  # a later question's button
        await taking.answer(tg_id=701, chat_id=701, attempt_id=aid, code=OPTION_SPAN)
    await taking.answer(tg_id=701, chat_id=701, attempt_id=aid, code=0)
    with pytest.raises(StaleCardError):  # a second tap on the same question
        await taking.answer(tg_id=701, chat_id=701, attempt_id=aid, code=1)
    await taking.next(tg_id=701, chat_id=701, attempt_id=aid, position=0)
    with pytest.raises(StaleCardError):  # "next" twice
        await taking.next(tg_id=701, chat_id=701, attempt_id=aid, position=0)
    after, _ = await _attempt(runtime, ids["E1"])
    assert (len(after.answers), after.position, after.version) == (1, 1, attempt.version + 2)
    # Resuming keeps the attempt where it was (no new one drawn).
    await taking.begin(tg_id=701, chat_id=701, campaign_id=opened.campaign_id)
    resumed, _ = await _attempt(runtime, ids["E1"])
    assert (resumed.id, resumed.position, resumed.answers) == (aid, 1, after.answers)
    with pytest.raises(QuizClosedError):  # not invited to a campaign of 财务处 only
        other = await _campaigns(runtime).open(
            quiz_key="classified_chat",
            audience=parse_audience("dept:财务处"),
            closes_at=clock() + timedelta(hours=1),
        )
        clock.advance(timedelta(hours=2))
        await taking.begin(tg_id=704, chat_id=704, campaign_id=other.campaign_id)


async def test_who_may_open_a_campaign_in_chat(runtime: Runtime, clock: FakeClock) -> None:
    clock.now = NOON
    await _office(runtime, clock)
    campaigns = _campaigns(runtime)
    with pytest.raises(PermissionDeniedError):
        await campaigns.open_in_chat(tg_id=701, chat_id=701, args=["security_basics", "all"])
    await campaigns.open_in_chat(tg_id=703, chat_id=703, args=["security_basics", "nobody:x"])
    refused = await _outbox(runtime, "quiz.refused")
    assert refused[-1].facts["problems"] == [["audience:syntax", "nobody:x"]]
    await campaigns.open_in_chat(
        tg_id=703, chat_id=703, args=["security_basics", "dept:财务处", "2026-12-31", "quarter"]
    )
    told = (await _outbox(runtime, "quiz.opened"))[-1]
    assert (told.chat_id, told.facts["invited"], told.facts["every"]) == (703, 2, "quarter")
    card = (await _outbox(runtime, "broadcast.progress"))[-1]  # the invitations going out
    assert (card.chat_id, card.facts["total"], card.facts["queued"]) == (703, 1, 1)
    campaign = await _campaign(runtime, int(told.facts["id"]))
    assert campaign.closes_at == datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 local


async def test_reminders_skip_those_who_passed_and_the_quiet_hours_and_rounds_repeat(
    runtime: Runtime, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    ids = await _office(runtime, clock)
    campaigns = _campaigns(runtime)
    due = DueService(runtime)
    campaigns.register_due(due)
    opened = await campaigns.open(
        quiz_key="classified_chat", audience=parse_audience("all"), every="quarter"
    )
    cid = opened.campaign_id
    assert {r.not_before for r in await _outbox(runtime, INVITE_KIND)} == {None}  # when told
    taking = QuizTaking(runtime, tz=SHANGHAI, default_locale="zh_CN")
    await _take(taking, runtime, 701, ids["E1"], cid, right=5)  # passed
    await _take(taking, runtime, 702, ids["E2"], cid, right=2)  # failed, may retry

    clock.advance(timedelta(days=3))  # the first reminder falls at 22:30: quiet
    await due.tick()
    assert await _outbox(runtime, REMIND_KIND) == []
    clock.now = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # 08:00 the next morning
    await due.tick()
    reminded = await _outbox(runtime, REMIND_KIND)
    assert sorted(r.chat_id for r in reminded) == [702, 703, 704]  # not E1, nor E5 (no Telegram)
    assert all(r.priority == PRIORITY_BROADCAST and r.ref_id == cid for r in reminded)
    for r in reminded:
        assert not QUIET.contains(r.created_at, SHANGHAI)

    clock.now = add_months(datetime(2026, 12, 1, 14, 30, tzinfo=UTC), 3)
    await due.tick()
    async with runtime.detached_uow() as uow:
        rounds = list(await uow.quizzes.all())
    assert [(c.previous_id, c.status) for c in rounds] == [(cid, "open"), (None, "closed")]
    assert rounds[0].every == "quarter"
    invites = [r for r in await _outbox(runtime, INVITE_KIND) if r.ref_id == rounds[0].id]
    assert len(invites) == 4  # E1 too: a new quarter
    morning = datetime(2027, 3, 2, 0, 0, tzinfo=UTC)  # due at 22:30: sent from 08:00
    assert {r.not_before for r in invites} == {morning}
    clock.advance(timedelta(days=400))  # the old round's reminders: closed, none sent
    await due.tick()
    old = [r for r in await _outbox(runtime, REMIND_KIND) if r.ref_id == cid]
    assert len(old) == 3  # the first reminder's three; the later ones met the close


async def test_the_sandbox_demo_opens_every_shipped_quiz_for_everyone(
    runtime: Runtime, clock: FakeClock
) -> None:
    clock.now = NOON
    await _office(runtime, clock)
    opened = await _campaigns(runtime).open_demo()
    assert sorted(o.quiz_key for o in opened) == ["classified_chat", "security_basics"]
    assert all(o.invited == 5 and o.messaged == 4 for o in opened)
    rounds = {c.quiz_key: c for c in [await _campaign(runtime, o.campaign_id) for o in opened]}
    assert rounds["security_basics"].every == "quarter" and rounds["classified_chat"].every is None
    assert rounds["security_basics"].closes_at == NOON + timedelta(days=30)
