"""Announcements (#8) on SQLite and PostgreSQL: sending (one row per person, nothing for an
unknown department), 已阅 once however it is tapped, delivered and acknowledged per department,
the export, and reminders only to those who have not acknowledged, never in quiet hours, not
after the deadline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.announcements.model import AnnouncementError, NotRecipientError
from bot.announcements.services import (
    MESSAGE_KIND,
    REMIND_KIND,
    AnnouncementService,
    Attachment,
)
from bot.clock import FakeClock
from bot.errors import BadCallbackError, PermissionDeniedError
from bot.messaging.services import DeliveryService
from bot.quiet import QuietHours
from bot.runtime import Runtime
from bot.scheduling import DueService
from bot.surveys.publishing import AudienceError
from storage.tables.announcements import Announcement
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.tables.people import Staff

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(22, 0), time(8, 0))


async def _org(runtime: Runtime, clock: FakeClock, sizes: dict[str, int]) -> dict[str, list[int]]:
    """Departments of this many people each; every third person of 财务处 has no Telegram."""
    people: dict[str, list[int]] = {}
    async with runtime.detached_uow() as uow:
        n = 0
        for name, size in sizes.items():
            dept = await uow.people.add_department(name, now=clock())
            for i in range(size):
                n += 1
                row = await uow.people.add(
                    Staff(
                        employee_no=f"A{n:03d}",
                        name=f"{name}{i}",
                        department_id=dept.id,
                        telegram_id=None if name == "财务处" and i % 3 == 2 else 7000 + n,
                        language="zh_CN",
                        created_at=clock(),
                        updated_at=clock(),
                    )
                )
                assert row.id is not None
                people.setdefault(name, []).append(row.id)
        await uow.commit()
    return people


def _service(runtime: Runtime, **kw: object) -> AnnouncementService:
    return AnnouncementService(runtime, tz=SHANGHAI, quiet=QUIET, **kw)  # type: ignore[arg-type]


async def _rows(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == kind))
        return list(rows)


async def test_sending_writes_one_row_per_person_and_nothing_for_an_unknown_name(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _org(runtime, clock, {"办公室": 4, "财务处": 6, "人事处": 3})
    clock.now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    service = _service(runtime)
    with pytest.raises(AudienceError) as raised:
        await service.announce(title="T", body_html="B", audience="dept:办公室,dept:档案室")
    assert raised.value.problems == [("department", "档案室")]
    with pytest.raises(AnnouncementError):
        await service.announce(title=" ", body_html="B", audience="all")
    async with runtime.detached_uow() as uow:
        count = await uow.session.exec(select(func.count()).select_from(Announcement))
        assert count.one() == 0

    sent = await service.announce(
        title="关于年终考核的通知",
        body_html="请于<b>12月20日</b>前提交述职报告。",
        audience="dept:办公室,dept:财务处",
        ack_required=True,
        ack_by=clock() + timedelta(days=5),
        attachment=Attachment("document", "FILE-ID-1"),
    )
    assert (sent.recipients, sent.messaged) == (10, 8)
    assert sent.unreachable == ["财务处2", "财务处5"]
    rows = await _rows(runtime, MESSAGE_KIND)
    assert sorted(r.staff_id or 0 for r in rows) == sorted(
        [*people["办公室"], *(p for i, p in enumerate(people["财务处"]) if i % 3 != 2)]
    )
    assert all(r.priority == PRIORITY_BROADCAST and r.ref_id == sent.announcement_id for r in rows)
    assert len({r.dedupe_key for r in rows}) == 8
    assert rows[0].facts["attachment"] == {"kind": "document", "file_id": "FILE-ID-1"}
    assert rows[0].facts["body"] == "请于<b>12月20日</b>前提交述职报告。"
    async with runtime.detached_uow() as uow:
        (entry,) = await uow.audit.for_object(f"announcement:{sent.announcement_id}")
        due = await uow.due.pending_count()
    assert entry.action == "announce.send" and entry.details["recipients"] == 10
    assert due == 3  # two daily reminders and one a day before the deadline


async def test_acknowledged_once_and_counted_per_department(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _org(runtime, clock, {"办公室": 3, "财务处": 3, "人事处": 1})
    service = _service(runtime)
    delivery = DeliveryService(runtime)
    service.register_delivery(delivery)
    sent = await service.announce(
        title="通知", body_html="正文", audience="dept:办公室,dept:财务处", ack_required=True
    )
    info = await service.announce(title="知悉", body_html="正文", audience="all")
    # The sender delivers every row (as handlers/sender.py reports it).
    for out in await delivery.claim(limit=100, lease_s=60):
        await delivery.sent(out.id, message_id=100 + out.id, kind=out.kind)
    for out in await delivery.claim(limit=100, lease_s=60):  # each chat's next row
        await delivery.sent(out.id, message_id=100 + out.id, kind=out.kind)

    async with runtime.detached_uow() as uow:
        tg = {s.id: s.telegram_id for s in await uow.people.list_staff()}
    reader = tg[people["办公室"][0]]
    assert reader is not None
    taps = await asyncio.gather(
        *(
            service.acknowledge(tg_id=reader, announcement_id=sent.announcement_id)
            for _ in range(3)
        )
    )
    assert sorted(t.first for t in taps) == [False, False, True]
    assert len({t.at for t in taps}) == 1  # the later taps are told the first one's time
    edits = [r for r in await _rows(runtime, MESSAGE_KIND) if r.ref_id is None]
    assert len(edits) == 1 and edits[0].facts["acked_at"]
    # Not for them, or nothing to acknowledge: refused, nothing written.
    outsider = tg[people["人事处"][0]]
    assert outsider is not None
    with pytest.raises(NotRecipientError):
        await service.acknowledge(tg_id=outsider, announcement_id=sent.announcement_id)
    with pytest.raises(NotRecipientError):
        await service.acknowledge(tg_id=reader, announcement_id=info.announcement_id)
    with pytest.raises(NotRecipientError):
        await service.acknowledge(tg_id=reader, announcement_id=9999)

    status = await service.status(sent.announcement_id)
    assert status is not None
    by_dept = {
        c.department: (c.recipients, c.delivered, c.acknowledged) for c in status.departments
    }
    assert by_dept == {"办公室": (3, 3, 1), "财务处": (3, 2, 0)}  # 财务处2 has no Telegram
    assert (status.total.recipients, status.total.waiting) == (6, 5)
    assert "办公室0（办公室）" not in status.waiting and "财务处2（财务处）" in status.waiting
    data = await service.export_csv(sent.announcement_id, headers=["no", "name", "dept", "d", "a"])
    assert data is not None
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "no,name,dept,d,a" and len(lines) == 7
    acked = [line for line in lines[1:] if line.split(",")[4]]
    assert len(acked) == 1 and acked[0].startswith("A001,办公室0,办公室,")


async def test_reminders_only_to_those_not_acknowledged_and_never_in_quiet_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _org(runtime, clock, {"办公室": 10})
    clock.now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    service = _service(runtime, remind_every=timedelta(days=1))
    due = DueService(runtime)
    service.register_due(due)
    sent = await service.announce(
        title="请阅",
        body_html="正文",
        audience="dept:办公室",
        ack_required=True,
        ack_by=datetime(2026, 12, 5, 15, 59, tzinfo=UTC),  # 12-05 23:59 local
    )
    async with runtime.detached_uow() as uow:
        tg = {s.id: s.telegram_id for s in await uow.people.list_staff()}
    for staff_id in people["办公室"][:4]:
        telegram_id = tg[staff_id]
        assert telegram_id is not None
        await service.acknowledge(tg_id=telegram_id, announcement_id=sent.announcement_id)

    clock.advance(timedelta(days=1))  # 12-02 23:00 local: quiet
    assert await due.tick() == 1
    assert await _rows(runtime, REMIND_KIND) == []
    clock.advance(timedelta(hours=8, minutes=59))  # 07:59: still quiet
    await due.tick()
    assert await _rows(runtime, REMIND_KIND) == []
    clock.advance(timedelta(minutes=1))  # 08:00
    await due.tick()
    first = await _rows(runtime, REMIND_KIND)
    assert {r.staff_id for r in first} == set(people["办公室"][4:])
    assert all(not QUIET.contains(r.created_at, SHANGHAI) for r in first)
    assert all(r.priority == PRIORITY_BROADCAST for r in first)

    # Two more acknowledge; the next reminder goes to the other four only.
    for staff_id in people["办公室"][4:6]:
        telegram_id = tg[staff_id]
        assert telegram_id is not None
        await service.acknowledge(tg_id=telegram_id, announcement_id=sent.announcement_id)
    clock.now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 12-03 23:00: the second, quiet
    await due.tick()
    clock.now = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # 12-04 08:00
    await due.tick()
    second = [r for r in await _rows(runtime, REMIND_KIND) if r.id not in {f.id for f in first}]
    assert {r.staff_id for r in second} == set(people["办公室"][6:])
    async with runtime.detached_uow() as uow:
        recipient = await uow.announcements.recipient(sent.announcement_id, people["办公室"][9])
    assert recipient is not None and recipient.reminders == 2

    # Past the deadline: nothing more, and nothing left waiting.
    clock.now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    await due.tick()
    await due.tick()
    total = len(await _rows(runtime, REMIND_KIND))
    assert total == len(first) + len(second)
    async with runtime.detached_uow() as uow:
        assert await uow.due.pending_count() == 0


async def test_composing_in_chat_sends_once_and_only_the_author_or_an_admin_sees_counts(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _org(runtime, clock, {"办公室": 3, "财务处": 2, "人事处": 2})
    async with runtime.detached_uow() as uow:
        await uow.people.set_roles(people["办公室"][0], ["office", "staff"])
        await uow.people.set_roles(people["人事处"][0], ["admin"])
        await uow.people.set_roles(people["人事处"][1], ["staff"])
        tg = {s.id: s.telegram_id or 0 for s in await uow.people.list_staff()}
        await uow.commit()
    author, admin, plain = (
        tg[people["办公室"][0]],
        tg[people["人事处"][0]],
        tg[people["人事处"][1]],
    )
    service = _service(runtime)
    with pytest.raises(PermissionDeniedError):
        await service.start(tg_id=plain, chat_id=plain)

    await service.start(tg_id=author, chat_id=author)
    assert await service.typed(tg_id=author, chat_id=author, text="年终", html_text="年终")
    assert await service.typed(
        tg_id=author,
        chat_id=author,
        text="请 <准时> 参加",
        html_text="请 &lt;准时&gt; <b>参加</b>",
    )
    assert await service.typed(
        tg_id=author, chat_id=author, text="dept:办公室,dept:财务处", html_text=""
    )
    async with runtime.detached_uow() as uow:
        flow = await uow.flows.get(author, author)
    assert flow is not None and flow.step == "ack" and flow.data["count"] == 5
    with pytest.raises(BadCallbackError):  # an earlier composing's button
        await service.choose_ack(
            tg_id=author, chat_id=author, number=flow.data["n"] + 1, required=True
        )
    await service.choose_ack(tg_id=author, chat_id=author, number=flow.data["n"], required=True)
    assert await service.typed(tg_id=author, chat_id=author, text="2099-12-31", html_text="")
    async with runtime.detached_uow() as uow:
        flow = await uow.flows.get(author, author)
        assert flow is not None and flow.step == "preview"
        draft = await uow.announcements.get(flow.data["id"])
    assert draft is not None and draft.status == "draft" and draft.ack_by is not None
    assert draft.body_html == "请 &lt;准时&gt; <b>参加</b>"
    assert await _rows(runtime, MESSAGE_KIND) == []  # nothing before Send

    with pytest.raises(PermissionDeniedError):  # somebody else's draft
        await service.confirm(tg_id=admin, chat_id=admin, announcement_id=draft.id or 0)
    results = await asyncio.gather(
        service.confirm(tg_id=author, chat_id=author, announcement_id=draft.id or 0),
        service.confirm(tg_id=author, chat_id=author, announcement_id=draft.id or 0),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["AnnouncementGoneError", "Sent"]
    assert len(await _rows(runtime, MESSAGE_KIND)) == 5
    async with runtime.detached_uow() as uow:
        (entry,) = await uow.audit.for_object(f"announcement:{draft.id}")
        assert await uow.flows.get(author, author) is None
    assert entry.actor_id == people["办公室"][0]

    await service.show_status(tg_id=admin, chat_id=admin, announcement_id=draft.id)
    await service.show_status(tg_id=author, chat_id=author, announcement_id=draft.id)
    assert {r.chat_id for r in await _rows(runtime, "announce.status")} == {admin, author}
    with pytest.raises(PermissionDeniedError):
        await service.show_status(tg_id=plain, chat_id=plain, announcement_id=draft.id)

    # At the deadline the author is shown the final counts, once; no reminder goes out then.
    due = DueService(runtime)
    service.register_due(due)
    clock.now = datetime(2100, 1, 1, tzinfo=UTC)
    await due.tick()
    await due.tick()
    final = [r for r in await _rows(runtime, "announce.status") if r.facts.get("deadline_reached")]
    assert [r.chat_id for r in final] == [author]
    assert final[0].facts["total"] == [5, 0, 0]
    assert await _rows(runtime, REMIND_KIND) == []


async def test_reminding_by_hand_at_most_hourly_and_never_in_quiet_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _org(runtime, clock, {"办公室": 4})
    async with runtime.detached_uow() as uow:
        await uow.people.set_roles(people["办公室"][0], ["trainer", "staff"])
        tg = {s.id: s.telegram_id or 0 for s in await uow.people.list_staff()}
        await uow.commit()
    author = tg[people["办公室"][0]]
    clock.now = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
    service = _service(runtime, remind_every=timedelta(days=7))
    due = DueService(runtime)
    service.register_due(due)
    sent = await service.announce(
        title="催阅", body_html="正文", audience="dept:办公室", ack_required=True
    )
    async with runtime.detached_uow() as uow:  # the CLI's announcement, shown as the author's
        row = await uow.announcements.get(sent.announcement_id)
        assert row is not None
        row.created_by = people["办公室"][0]
        uow.session.add(row)
        await uow.commit()
    await service.acknowledge(tg_id=tg[people["办公室"][1]], announcement_id=sent.announcement_id)

    nudged = await service.nudge(tg_id=author, announcement_id=sent.announcement_id)
    assert nudged.waiting == 3 and nudged.at == clock()
    await due.tick()
    first = await _rows(runtime, REMIND_KIND)
    assert {r.staff_id for r in first} == {people["办公室"][i] for i in (0, 2, 3)}
    clock.advance(timedelta(minutes=30))
    again = await service.nudge(tg_id=author, announcement_id=sent.announcement_id)
    assert again.again_at == datetime(2026, 12, 4, 14, 0, tzinfo=UTC) and again.waiting == 0
    clock.advance(timedelta(hours=1))  # 22:30 local: quiet
    late = await service.nudge(tg_id=author, announcement_id=sent.announcement_id)
    assert late.waiting == 3 and late.at == datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # 08:00
    await due.tick()
    assert len(await _rows(runtime, REMIND_KIND)) == 3
    clock.now = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    await due.tick()
    assert len(await _rows(runtime, REMIND_KIND)) == 6
    with pytest.raises(PermissionDeniedError):  # only the author or an administrator
        await service.nudge(tg_id=tg[people["办公室"][2]], announcement_id=sent.announcement_id)
    async with runtime.detached_uow() as uow:
        actions = [
            e.action for e in await uow.audit.for_object(f"announcement:{sent.announcement_id}")
        ]
    assert actions == ["announce.send", "announce.nudge", "announce.nudge"]
