"""The trainers' digest (#6) on SQLite and PostgreSQL: which questions it takes, people
counted once, the schedule, and what each button does (and refuses), one compare-and-swap
per tap, audited with the trainer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pytest
from sqlmodel import col, select

from bot.calendar.domain import WorkCalendar
from bot.clock import FakeClock
from bot.errors import PermissionDeniedError
from bot.faq.content import EntryContent
from bot.faq.digest import (
    ADDED,
    DRAFTED,
    DRAFTED_KIND,
    EMPTY_KIND,
    IGNORED,
    KIND,
    REPLACED,
    DigestHandledError,
    DigestService,
    GroupGoneError,
    NoSuggestionError,
    PhrasingRejectedError,
)
from bot.faq.files import write_file
from bot.faq.library import KnowledgeLibrary
from bot.messaging.services import DeliveryService
from bot.runtime import Runtime
from bot.scheduling import DueService
from knowledge import HashEmbedder
from storage.tables.faq import FaqEntry, FaqQuestion
from storage.tables.faq_digest import FaqDigestGroup
from storage.tables.messaging import OutboxMessage
from storage.tables.people import Staff
from storage.tables.runtime import DueItem

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIVE_PM = time(17, 0)
RESET = EntryContent(
    key="oa-reset",
    question="忘记OA密码怎么办？",
    answer="在登录页点“忘记密码”，用手机号收验证码重设。",
    alternatives=("OA密码找回",),
)
VPN = EntryContent(key="vpn-apply", question="怎么申请VPN？", answer="在OA提交“VPN开通申请”。")
T1, T2, CLERK = 801, 802, 803  # Telegram ids: two trainers and a member of staff
_EMBEDDER = HashEmbedder()


async def _embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    return _EMBEDDER.encode(texts)


async def _weekdays() -> WorkCalendar:
    return WorkCalendar([], set())


@dataclass
class Office:
    runtime: Runtime
    clock: FakeClock
    library: KnowledgeLibrary
    digest: DigestService
    staff: dict[int, int]  # Telegram id -> staff id

    async def ask(
        self,
        text: str,
        *,
        asker: str,
        band: str = "unknown",
        key: str | None = "oa-reset",
        score: float = 0.3,
        feedback: str | None = None,
        chosen: str | None = None,
        ago: timedelta = timedelta(hours=1),
        triage: str = "new",
    ) -> int:
        """Log a question the way the answering service does."""
        async with self.runtime.detached_uow() as uow:
            row = await uow.faq.add_question(
                FaqQuestion(
                    asked_at=self.clock() - ago,
                    asker=asker,
                    locale="zh_CN",
                    text=text,
                    band=band,
                    entry_key=key,
                    score=score,
                    feedback=feedback,
                    chosen=chosen,
                    triage=triage,
                )
            )
            await uow.commit()
        assert row.id is not None
        return row.id

    async def cards(self, tg_id: int) -> list[OutboxMessage]:
        """Digest cards queued for one trainer, oldest first."""
        async with self.runtime.detached_uow() as uow:
            rows = await uow.session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.chat_id) == tg_id, col(OutboxMessage.kind) == KIND)
                .order_by(col(OutboxMessage.id))
            )
            return list(rows)

    async def last_card(self, tg_id: int) -> dict[str, Any]:
        cards = await self.cards(tg_id)
        assert cards, f"no digest for {tg_id}"
        return cards[-1].facts

    async def deliver(self) -> None:
        """What the sender does: every queued message reaches its phone (cards get an id)."""
        delivery = DeliveryService(self.runtime)
        while rows := await delivery.claim(limit=100, lease_s=30):
            for out in rows:
                await delivery.sent(out.id, message_id=10_000 + out.id)

    async def questions(self) -> dict[str, str]:
        async with self.runtime.detached_uow() as uow:
            rows = await uow.session.exec(select(FaqQuestion))
            return {q.text: q.triage for q in rows}

    async def group(self, group_id: int) -> FaqDigestGroup:
        async with self.runtime.detached_uow() as uow:
            found = await uow.faq_digest.get(group_id)
        assert found is not None
        return found

    async def actions(self) -> list[tuple[str, int | None, str]]:
        async with self.runtime.detached_uow() as uow:
            return [(e.action, e.actor_id, e.object) async for e in uow.audit.iterate()]


@pytest.fixture
async def office(runtime: Runtime, clock: FakeClock) -> Office:
    now = clock()
    staff: dict[int, int] = {}
    async with runtime.detached_uow() as uow:
        dept = await uow.people.add_department("信息中心", now=now)
        assert dept.id is not None
        for tg, name, roles in (
            (T1, "王培训", ["trainer", "staff"]),
            (T2, "李培训", ["trainer", "staff"]),
            (CLERK, "张科员", ["staff"]),
        ):
            row = await uow.people.add(
                Staff(
                    employee_no=f"E{tg}",
                    name=name,
                    department_id=dept.id,
                    telegram_id=tg,
                    language="en",
                    created_at=now,
                    updated_at=now,
                )
            )
            assert row.id is not None
            await uow.people.set_roles(row.id, roles)
            staff[tg] = row.id
        await uow.commit()
    library = KnowledgeLibrary(runtime)
    await library.apply_import(
        write_file([RESET, VPN], "yaml"), "kb.yaml", tg_id=None, publish=True
    )
    digest = DigestService(
        runtime,
        library,
        _embed,
        default_locale="zh_CN",
        calendar=_weekdays,
        tz=SHANGHAI,
        at=FIVE_PM,
        days=14,
    )
    return Office(runtime, clock, library, digest, staff)


async def _digest_now(office: Office, tg_id: int = T1) -> dict[str, Any]:
    await office.digest.show(tg_id=tg_id, chat_id=tg_id)
    return await office.last_card(tg_id)


def _texts(facts: dict[str, Any]) -> list[str]:
    return [g["text"] for g in facts["groups"]]


async def test_the_digest_takes_what_could_not_be_answered(office: Office) -> None:
    ask = office.ask
    await ask("食堂几点开饭", asker="a")  # I don't know
    await ask("OA怎么改绑手机号", asker="b", band="answer", score=0.8, feedback="down")  # 👎
    await ask("会议室怎么预定", asker="c", band="suggest", score=0.4)  # took no suggestion
    await ask("公文字体用几号", asker="d", band="suggest", chosen="oa-reset")  # took one
    await ask("请假怎么走流程", asker="e", band="answer", score=0.9, feedback="up")
    await ask("报销发票要原件吗", asker="f", band="answer", score=0.9)  # no feedback
    await ask("忘记OA密码怎么办？", asker="g", band="follow", feedback="down")  # a follow-up
    await ask("停车位怎么申请", asker="h", triage="ignored")  # a trainer dealt with it
    await ask("年假还剩几天", asker="i", ago=timedelta(days=15))  # older than the window
    facts = await _digest_now(office)
    assert sorted(_texts(facts)) == sorted(["食堂几点开饭", "OA怎么改绑手机号", "会议室怎么预定"])
    by_text = {g["text"]: g for g in facts["groups"]}
    # The 👎'd answer's entry is the one the asker rejected: it is not offered again.
    assert by_text["OA怎么改绑手机号"]["entry_question"] is None
    assert by_text["食堂几点开饭"]["entry_question"] == RESET.question
    assert facts["days"] == 14


async def test_people_are_counted_once_and_the_most_asked_comes_first(office: Office) -> None:
    await office.ask("食堂几点开饭", asker="a", key=None)
    for asker in ("b", "c", "c", "d"):  # three people, one of them twice
        await office.ask("OA密码忘了怎么办", asker=asker)
    await office.ask("oa密码忘了怎么办啊", asker="e")
    facts = await _digest_now(office)
    first, second = facts["groups"]
    assert (first["askers"], first["asked"]) == (4, 5)
    assert first["text"] == "OA密码忘了怎么办" and first["examples"] == ["oa密码忘了怎么办啊"]
    assert first["entry_question"] == RESET.question  # most of it scored as oa-reset
    assert (second["askers"], second["text"], second["entry_question"]) == (
        1,
        "食堂几点开饭",
        None,
    )


async def test_each_working_day_at_five_every_trainer_gets_it_if_there_is_news(
    office: Office, runtime: Runtime, clock: FakeClock
) -> None:
    due = DueService(runtime)
    office.digest.register_due(due)
    await office.digest.ensure_schedule()
    await office.digest.ensure_schedule()  # idempotent
    async with runtime.detached_uow() as uow:
        items = list(await uow.session.exec(select(DueItem).where(col(DueItem.kind) == KIND)))
    # 2026-12-01 01:00 UTC is Tuesday 09:00 in Shanghai: today at five.
    assert [i.due_at.astimezone(SHANGHAI).isoformat() for i in items] == [
        "2026-12-01T17:00:00+08:00"
    ]
    await office.ask("OA密码忘了怎么办", asker="a")
    clock.advance(timedelta(hours=8, minutes=1))
    assert await due.tick() == 1
    assert [len(await office.cards(t)) for t in (T1, T2, CLERK)] == [1, 1, 0]
    assert _texts(await office.last_card(T2)) == ["OA密码忘了怎么办"]
    # Nothing new by the next day: no digest, but the one after is still scheduled.
    clock.advance(timedelta(days=1))
    assert await due.tick() == 1
    assert [len(await office.cards(t)) for t in (T1, T2)] == [1, 1]
    async with runtime.detached_uow() as uow:
        pending = list(
            await uow.session.exec(
                select(DueItem).where(col(DueItem.kind) == KIND, col(DueItem.done_at).is_(None))
            )
        )
    assert [i.due_at.astimezone(SHANGHAI).isoformat() for i in pending] == [
        "2026-12-03T17:00:00+08:00"
    ]


async def test_add_publishes_the_phrasing_and_edits_every_card(office: Office) -> None:
    for asker in ("a", "b"):
        await office.ask("OA密码忘了怎么办", asker=asker)
    await office.digest.show(tg_id=T1, chat_id=T1)
    await office.digest.show(tg_id=T2, chat_id=T2)  # T2 asks too: the same digest again
    await office.deliver()
    (group,) = (await office.last_card(T1))["groups"]
    decided = await office.digest.decide(
        tg_id=T1, chat_id=T1, group_id=group["id"], version=group["version"], verb="add"
    )
    assert (decided.status, decided.entry_key, decided.published_version) == (
        ADDED,
        "oa-reset",
        2,
    )
    published = {c.key: (c, v) for c, v in await office.library.published_content()}
    content, version = published["oa-reset"]
    assert version == 2 and content.alternatives == ("OA密码找回", "OA密码忘了怎么办")
    assert content.answer == RESET.answer
    assert (await office.group(group["id"])).status == ADDED
    assert set((await office.questions()).values()) == {"added"}
    # Both trainers' cards now say who added it, with no buttons left for it.
    for tg in (T1, T2):
        (shown,) = (await office.last_card(tg))["groups"]
        assert (shown["status"], shown["by"]) == (ADDED, "王培训")
    actions = await office.actions()
    assert ("faq.digest.add", office.staff[T1], f"faq-digest:{group['id']}") in actions
    assert ("faq.publish", office.staff[T1], "faq:oa-reset") in actions


async def test_add_leaves_a_draft_being_written_unpublished(office: Office) -> None:
    wip = EntryContent(
        key="oa-reset", question=RESET.question, answer="（正在改写）", alternatives=()
    )
    await office.library.apply_import(
        write_file([wip, VPN], "yaml"), "kb.yaml", tg_id=None, publish=False
    )
    await office.ask("OA密码忘了怎么办", asker="a")
    (group,) = (await _digest_now(office))["groups"]
    await office.digest.decide(
        tg_id=T2, chat_id=T2, group_id=group["id"], version=group["version"], verb="add"
    )
    published = {c.key: c for c, _ in await office.library.published_content()}
    assert published["oa-reset"].answer == RESET.answer  # not the half-written one
    assert "OA密码忘了怎么办" in published["oa-reset"].alternatives
    (view,) = [v for v in await office.library.entries() if v.key == "oa-reset"]
    assert view.has_draft and view.content.answer == "（正在改写）"
    assert view.content.alternatives == ("OA密码忘了怎么办",)


async def test_add_is_refused_when_the_phrasing_leads_to_another_entry(office: Office) -> None:
    await office.ask("怎么申请VPN", asker="a")  # the other entry's question, no "？"
    (group,) = (await _digest_now(office))["groups"]
    assert group["entry_question"] == RESET.question
    with pytest.raises(PhrasingRejectedError) as refused:
        await office.digest.decide(
            tg_id=T1, chat_id=T1, group_id=group["id"], version=group["version"], verb="add"
        )
    assert (refused.value.code, refused.value.entry) == ("existing_phrasing", "vpn-apply")
    # Nothing changed: the group is still open at the same version, no new version.
    still = await office.group(group["id"])
    assert (still.status, still.version) == ("open", group["version"])
    assert dict((c.key, v) for c, v in await office.library.published_content()) == {
        "oa-reset": 1,
        "vpn-apply": 1,
    }
    assert set((await office.questions()).values()) == {"new"}


async def test_add_needs_a_published_suggestion(office: Office) -> None:
    await office.ask("食堂几点开饭", asker="a", key=None)
    (group,) = (await _digest_now(office))["groups"]
    with pytest.raises(NoSuggestionError):
        await office.digest.decide(
            tg_id=T1, chat_id=T1, group_id=group["id"], version=group["version"], verb="add"
        )


async def test_draft_makes_an_entry_for_the_editor(office: Office) -> None:
    await office.ask("食堂几点开饭", asker="a", key=None)
    await office.ask("食堂几点开饭？", asker="b", key=None)
    await office.ask("食堂几点开饭啊", asker="c", key=None)
    (group,) = (await _digest_now(office))["groups"]
    decided = await office.digest.decide(
        tg_id=T1, chat_id=T1, group_id=group["id"], version=group["version"], verb="draft"
    )
    assert decided.status == DRAFTED and decided.entry_key == f"digest-{group['id']}"
    async with office.runtime.detached_uow() as uow:
        entry = await uow.faq.entry_by_key(decided.entry_key)
        replies = list(
            await uow.session.exec(
                select(OutboxMessage).where(col(OutboxMessage.kind) == DRAFTED_KIND)
            )
        )
    assert entry is not None and entry.status == "draft" and entry.id == decided.entry_id
    draft = EntryContent.from_json(entry.draft or {})
    assert draft.question == group["text"] and draft.answer == ""
    assert set(draft.alternatives) == set(group["examples"]) and len(draft.alternatives) == 1
    assert [(r.chat_id, r.facts["entry_id"]) for r in replies] == [(T1, decided.entry_id)]
    assert set((await office.questions()).values()) == {"drafted"}
    assert (await office.group(group["id"])).entry_id == decided.entry_id
    assert ("faq.digest.draft", office.staff[T1], f"faq-digest:{group['id']}") in (
        await office.actions()
    )


async def test_ignore_marks_it_and_it_does_not_come_back(office: Office) -> None:
    await office.ask("食堂几点开饭", asker="a", key=None)
    (group,) = (await _digest_now(office))["groups"]
    decided = await office.digest.decide(
        tg_id=T1, chat_id=T1, group_id=group["id"], version=group["version"], verb="ignore"
    )
    assert decided.status == IGNORED
    assert await office.questions() == {"食堂几点开饭": "ignored"}
    await office.digest.show(tg_id=T1, chat_id=T1)
    async with office.runtime.detached_uow() as uow:
        kinds = [
            m.kind
            for m in await uow.session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.chat_id) == T1)
                .order_by(col(OutboxMessage.id))
            )
        ]
    assert kinds[-1] == EMPTY_KIND


async def test_two_trainers_at_once_one_wins_and_the_other_is_told_who(office: Office) -> None:
    await office.ask("OA密码忘了怎么办", asker="a")
    (group,) = (await _digest_now(office))["groups"]

    async def tap(tg_id: int, verb: str) -> object:
        try:
            return await office.digest.decide(
                tg_id=tg_id,
                chat_id=tg_id,
                group_id=group["id"],
                version=group["version"],
                verb=verb,
            )
        except DigestHandledError as exc:
            return exc

    results = await asyncio.gather(tap(T1, "add"), tap(T2, "ignore"))
    lost = [r for r in results if isinstance(r, DigestHandledError)]
    assert len(lost) == 1
    winner = await office.group(group["id"])
    assert lost[0].status == winner.status and lost[0].by in ("王培训", "李培训")
    assert lost[0].at == winner.decided_at
    decisions = [a for a in await office.actions() if a[0].startswith("faq.digest.")]
    assert len(decisions) == 1
    # The winner tapping again on the old card: told it was already handled, not by whom.
    winner_tg = T1 if winner.decided_by == office.staff[T1] else T2
    with pytest.raises(DigestHandledError) as again:
        await office.digest.decide(
            tg_id=winner_tg,
            chat_id=winner_tg,
            group_id=group["id"],
            version=group["version"],
            verb="ignore",
        )
    assert again.value.by is None


async def test_who_may_press_and_what_does_not_exist(office: Office) -> None:
    await office.ask("OA密码忘了怎么办", asker="a")
    (group,) = (await _digest_now(office))["groups"]
    with pytest.raises(PermissionDeniedError):
        await office.digest.show(tg_id=CLERK, chat_id=CLERK)
    with pytest.raises(PermissionDeniedError):
        await office.digest.decide(
            tg_id=CLERK, chat_id=CLERK, group_id=group["id"], version=1, verb="ignore"
        )
    with pytest.raises(GroupGoneError):
        await office.digest.decide(tg_id=T1, chat_id=T1, group_id=99_999, version=1, verb="add")
    assert (await office.group(group["id"])).status == "open"


async def test_a_newer_digest_replaces_the_open_groups_and_old_cards_say_so(
    office: Office,
) -> None:
    await office.ask("OA密码忘了怎么办", asker="a")
    first = await _digest_now(office)
    await office.deliver()
    await office.ask("OA密码忘了怎么办", asker="b")
    await office.ask("食堂几点开饭", asker="c", key=None)
    second = await _digest_now(office)
    assert second["digest"] != first["digest"]
    assert sorted(_texts(second)) == ["OA密码忘了怎么办", "食堂几点开饭"]
    assert second["groups"][0]["askers"] == 2
    # The first card was edited to say it was replaced, before the new one was sent.
    cards = await office.cards(T1)
    assert [c.facts["digest"] for c in cards] == [first["digest"]] * 2 + [second["digest"]]
    assert [g["status"] for g in cards[1].facts["groups"]] == [REPLACED]
    old = first["groups"][0]
    with pytest.raises(DigestHandledError) as stale:
        await office.digest.decide(
            tg_id=T1, chat_id=T1, group_id=old["id"], version=old["version"], verb="add"
        )
    assert stale.value.status == REPLACED
    # Nothing new since: /digest shows the open digest again, as a new message.
    await office.deliver()
    again = await _digest_now(office)
    assert again["digest"] == second["digest"]
    async with office.runtime.detached_uow() as uow:
        live = await uow.outbox.card_messages([f"{KIND}:{second['digest']}:{office.staff[T1]}"])
    assert live == {}  # forgotten: the sender sends it anew below the command


async def test_entries_untouched_by_grouping(office: Office) -> None:
    """Showing a digest changes nothing in the knowledge base or the question log."""
    await office.ask("OA密码忘了怎么办", asker="a")
    await _digest_now(office)
    async with office.runtime.detached_uow() as uow:
        entries = list(await uow.session.exec(select(FaqEntry)))
    assert sorted((e.key, e.revision, e.published_version) for e in entries) == [
        ("oa-reset", 2, 1),
        ("vpn-apply", 2, 1),
    ]
    assert await office.questions() == {"OA密码忘了怎么办": "new"}
