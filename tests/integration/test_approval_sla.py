"""SLA reminders and escalation through ApprovalService and the due-item tick (#4, §4 item 10).

Requests are filled, submitted and decided through the real service by Telegram id (staff
imported with their ids); time moves on a FakeClock and ``DueService.tick()`` runs what fell
due, so the outbox shows exactly what the bot would send. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.approvals.services import AlreadyHandledError
from bot.approvals.sla import SLA_KIND
from bot.clock import FakeClock
from bot.config import Settings
from bot.errors import StaleCardError
from bot.runtime import Runtime
from bot.services import Services, build_services
from storage.tables.approvals import ApprovalTask
from storage.tables.messaging import OutboxMessage
from storage.tables.runtime import DueItem
from tests.integration import approval_driver

SH = ZoneInfo("Asia/Shanghai")
HEADER = ["employee_no", "name", "department", "roles", "superior", "telegram_id", "language"]
ORG = [
    "L1,王局长,局领导,leader,,3001,",
    "H1,张处长,综合处,dept_head,L1,3002,",
    "S1,李明,综合处,staff,H1,3003,",
    "F1,钱会计,财务处,finance,,3004,",
    "H2,孙处长,法规处,dept_head,,3005,",  # nobody above
    "S2,周敏,法规处,staff,H2,3006,",
    "A1,管理员,信息中心,admin,,3007,",
    "A2,备份管理员,信息中心,admin,,3008,en",
]
TG = {line.split(",")[1]: int(line.split(",")[5]) for line in ORG}
# Tuesday 2026-12-01 09:00 in Shanghai: a plain working week (2026 is loaded).
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

# A small template whose urgency field sets the SLA (ordinary 16 h, 加急 8 h, 特急 4 h).
URGENT_TEMPLATE = """
key: urgent_memo
version: 1
name: {zh_CN: 紧急事项, en: Urgent matter}
kind: request
prefix: JJ
urgency_field: urgency
fields:
  - key: urgency
    type: choice
    label: {zh_CN: 紧急程度, en: Urgency}
    options:
      - {key: normal, label: {zh_CN: 普通, en: Normal}}
      - {key: urgent, label: {zh_CN: 加急, en: Urgent}}
      - {key: most_urgent, label: {zh_CN: 特急, en: Most urgent}}
  - key: subject
    type: text
    label: {zh_CN: 事由, en: Subject}
route:
  - key: head
    name: {zh_CN: 部门负责人审批, en: Department head approval}
    approvers:
      - dept_head: true
    sla: {hours: 16, urgent_hours: 8, most_urgent_hours: 4, escalate_after: ESCALATE}
"""


def sh(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


class Office:
    """The organisation above, played through ApprovalService, with the due-item tick."""

    def __init__(self, runtime: Runtime, clock: FakeClock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.services: Services = build_services(Settings(), runtime)
        self.ids: dict[str, int] = {}

    async def setup(self, templates: Path | None = None) -> None:
        rows = [
            (n, dict(zip(HEADER, line.split(","), strict=True)))
            for n, line in enumerate(ORG, start=2)
        ]
        report = await self.services.staff_import.import_staff(rows, actor_id=None, partial=False)
        assert report.written, report.errors
        await self.services.calendar.calendar()  # seeded from the package, as the bot does
        if templates is None:
            await self.services.approvals.catalog.ensure_shipped()
        else:
            await self.services.approvals.catalog.load(templates)
        async with self.runtime.detached_uow() as uow:
            for name, tg in TG.items():
                staff = await uow.people.by_telegram_id(tg)
                assert staff is not None and staff.id is not None
                self.ids[name] = staff.id

    async def apply(self, who: str, key: str, answers: list[Any]) -> str:
        """Fill and submit the form (see tests/integration/approval_driver.py)."""
        return await approval_driver.apply(self.services, self.runtime, TG[who], key, answers)

    async def reimbursement(self, who: str = "李明", amount: str = "300") -> str:
        return await self.apply(who, "reimbursement", [amount, "差旅费", 0, []])

    async def tasks(self, number: str) -> list[ApprovalTask]:
        async with self.runtime.detached_uow() as uow:
            instance = await uow.approvals.by_number(number)
            assert instance is not None and instance.id is not None
            return await uow.approvals.tasks_of(instance.id)

    async def task_of(self, who: str, number: str) -> ApprovalTask:
        (task,) = [t for t in await self.tasks(number) if t.assignee_id == self.ids[who]]
        return task

    async def status(self, number: str) -> str:
        async with self.runtime.detached_uow() as uow:
            instance = await uow.approvals.by_number(number)
            assert instance is not None
            return instance.status

    async def approve(self, who: str, task: ApprovalTask) -> None:
        assert task.id is not None
        await self.services.approvals.press(
            tg_id=TG[who], chat_id=TG[who], action="ok", task_id=task.id, version=task.version
        )

    async def at(self, moment: datetime) -> int:
        """Move the clock to ``moment`` and run what fell due; how many items ran."""
        assert moment >= self.clock.now, "time only moves on"
        self.clock.now = moment
        return await self.services.due.tick()

    async def outbox(self, kind: str, who: str | None = None) -> list[OutboxMessage]:
        async with self.runtime.detached_uow() as uow:
            query = select(OutboxMessage).where(col(OutboxMessage.kind) == kind)
            if who is not None:
                query = query.where(col(OutboxMessage.chat_id) == TG[who])
            rows = await uow.session.exec(query.order_by(col(OutboxMessage.id)))
            return list(rows)

    async def reminders(self, who: str) -> list[tuple[str, str]]:
        """(stage, number) of each reminder queued for ``who``."""
        return [
            (str(m.facts["stage"]), str(m.facts["number"]))
            for m in await self.outbox("ap.reminder", who)
        ]

    async def due_items(self, task_id: int | None = None) -> list[DueItem]:
        async with self.runtime.detached_uow() as uow:
            query = select(DueItem).where(col(DueItem.kind) == SLA_KIND)
            if task_id is not None:
                query = query.where(col(DueItem.ref_id) == task_id)
            rows = await uow.session.exec(query.order_by(col(DueItem.due_at), col(DueItem.id)))
            return list(rows)


@pytest.fixture
async def office(runtime: Runtime, clock: FakeClock) -> Office:
    clock.now = START
    org = Office(runtime, clock)
    await org.setup()
    return org


async def test_a_submitted_request_schedules_its_reminders(office: Office) -> None:
    number = await office.reimbursement()
    (task,) = await office.tasks(number)
    assert task.assignee_id == office.ids["张处长"] and task.status == "open"
    # 16 working hours from Tuesday 09:00: Wednesday 17:00; the reminder two hours before.
    assert task.due_at == sh(2, 17)
    items = await office.due_items(task.id)
    assert [(i.payload["stage"], i.due_at) for i in items] == [
        ("before", sh(2, 15)),
        ("at", sh(2, 17)),
    ]
    assert all(i.done_at is None for i in items)
    assert await office.outbox("ap.calendar_missing") == []  # 2026 is loaded


async def test_reminders_before_at_and_after_the_deadline(office: Office) -> None:
    """Nobody above 孙处长: the ladder is reminders only, every four working hours."""
    number = await office.reimbursement("周敏")
    assert await office.at(sh(2, 14, 59)) == 0
    assert await office.reminders("孙处长") == []
    assert await office.at(sh(2, 15)) == 1
    assert await office.reminders("孙处长") == [("before", number)]
    assert await office.at(sh(2, 17)) == 1
    assert await office.reminders("孙处长") == [("before", number), ("at", number)]
    # Every four working hours after: Thursday 13:00 and 17:00, Friday 13:00 and 17:00 ...
    assert await office.at(sh(3, 12, 59)) == 0
    for moment in (sh(3, 13), sh(3, 17), sh(4, 13), sh(4, 17)):
        assert await office.at(moment) == 1
    stages = [s for s, _ in await office.reminders("孙处长")]
    assert stages == ["before", "at", "after", "after", "after", "after"]
    (reminder, *_) = await office.outbox("ap.reminder", "孙处长")
    assert reminder.facts["deadline"] == sh(2, 17).isoformat()
    assert reminder.staff_id == office.ids["孙处长"]
    # No escalation without a superior, and no crash: the task simply stays with 孙处长.
    assert await office.outbox("ap.escalated") == []
    (task,) = await office.tasks(number)
    assert task.status == "open"
    # The next one waits for Monday 13:00 (Friday 17:00 + 4 h, over the weekend).
    pending = [i for i in await office.due_items(task.id) if i.done_at is None]
    assert [i.due_at for i in pending] == [sh(7, 13)]


async def test_a_decided_task_is_not_reminded(office: Office) -> None:
    number = await office.reimbursement()
    await office.at(sh(2, 15))  # the first reminder goes out
    assert await office.reminders("张处长") == [("before", number)]
    office.clock.now = sh(2, 16)
    await office.approve("张处长", await office.task_of("张处长", number))
    assert await office.status(number) == "approved"
    assert await office.at(sh(2, 17)) == 1  # the item at the deadline runs, and is moot
    await office.at(sh(10, 17))
    assert await office.reminders("张处长") == [("before", number)]
    assert await office.outbox("ap.escalated") == []
    assert all(i.done_at is not None for i in await office.due_items())


async def test_a_request_withdrawn_before_the_deadline_is_not_reminded(office: Office) -> None:
    number = await office.reimbursement()
    async with office.runtime.detached_uow() as uow:
        instance = await uow.approvals.by_number(number)
        assert instance is not None and instance.id is not None
    await office.services.approvals.withdraw(
        tg_id=TG["李明"], instance_id=instance.id, version=instance.version
    )
    assert await office.status(number) == "withdrawn"
    await office.at(sh(9, 17))
    assert await office.reminders("张处长") == []


async def _escalated(office: Office) -> tuple[str, ApprovalTask, ApprovalTask]:
    """A request overdue long enough that 王局长 (张处长's superior) holds it too."""
    number = await office.reimbursement()
    await office.at(sh(2, 17))  # the before and the at reminder, in one late tick
    assert await office.reminders("张处长") == [("at", number)]
    assert await office.at(sh(3, 12, 59)) == 0
    assert await office.outbox("ap.escalated") == []
    assert await office.at(sh(3, 13)) == 1  # escalate_after = 1: the next one escalates
    head = await office.task_of("张处长", number)
    boss = await office.task_of("王局长", number)
    return number, head, boss


async def test_after_the_reminders_the_superior_gets_the_task_too(office: Office) -> None:
    number, head, boss = await _escalated(office)
    assert head.status == "open" and boss.status == "open"  # both may act
    assert boss.instance_id == head.instance_id and boss.node_key == head.node_key
    (notice,) = await office.outbox("ap.escalated")
    assert notice.chat_id == TG["张处长"]
    assert notice.facts == {"number": number, "to": "王局长"}
    cards = await office.outbox("ap.task", "王局长")
    assert cards and cards[-1].card_key == f"task:{boss.id}"
    assert cards[-1].facts["task"]["status"] == "open"
    # The escalation replaced the reminder: 张处长 is not reminded again, now or later.
    await office.at(sh(4, 13))
    assert await office.reminders("张处长") == [("at", number)]
    # 王局长's own task runs on its own SLA (from Thursday 13:00: Monday 13:00).
    assert boss.due_at == sh(7, 13)
    async with office.runtime.detached_uow() as uow:
        entries = await uow.audit.for_object(f"approval:{head.instance_id}")
    (audit,) = [e for e in entries if e.action == "approval.escalate"]
    assert audit.details["from"] == office.ids["张处长"]
    assert audit.details["to"] == office.ids["王局长"]


@pytest.mark.parametrize("first", ["王局长", "张处长"])
async def test_whoever_acts_first_wins(office: Office, first: str) -> None:
    number, head, boss = await _escalated(office)
    tasks = {"张处长": head, "王局长": boss}
    second = "张处长" if first == "王局长" else "王局长"
    office.clock.advance(timedelta(minutes=10))
    await office.approve(first, tasks[first])
    assert await office.status(number) == "approved"
    won = await office.task_of(first, number)
    lost = await office.task_of(second, number)
    assert won.status == "done" and lost.status not in ("open", "done")
    # The other card loses its buttons and names who handled it.
    card = (await office.outbox("ap.task", second))[-1]
    assert card.card_key == f"task:{lost.id}"
    assert card.facts["task"]["status"] == lost.status
    assert card.facts["task"]["slot"] == "approved" and card.facts["task"]["by"] == first
    # The loser's stale button decides nothing and says who did.
    with pytest.raises(AlreadyHandledError) as caught:
        await office.approve(second, tasks[second])
    assert caught.value.by == first
    assert await office.status(number) == "approved"
    # Nothing reminds anybody about a finished request.
    before = len(await office.outbox("ap.reminder"))
    await office.at(sh(14, 17))
    assert len(await office.outbox("ap.reminder")) == before


def _templates(tmp_path: Path, escalate_after: int = 1) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "urgent_memo.yaml").write_text(
        URGENT_TEMPLATE.replace("ESCALATE", str(escalate_after)), encoding="utf-8"
    )
    return folder


@pytest.mark.parametrize(
    ("option", "urgency", "due"),
    [
        (1, 0, sh(2, 17)),  # 普通: 16 working hours
        (2, 1, sh(1, 17)),  # 加急: 8
        (3, 2, sh(1, 13)),  # 特急: 4
    ],
)
async def test_urgency_shortens_the_deadline(
    runtime: Runtime, clock: FakeClock, tmp_path: Path, option: int, urgency: int, due: datetime
) -> None:
    clock.now = START
    office = Office(runtime, clock)
    await office.setup(_templates(tmp_path))
    number = await office.apply("李明", "urgent_memo", [option, "防汛物资调拨"])
    (task,) = await office.tasks(number)
    assert task.urgency == urgency and task.due_at == due
    await office.at(due)
    (reminder, *_) = [m for m in await office.outbox("ap.reminder") if m.facts["stage"] == "at"]
    assert reminder.facts["urgency"] == urgency and reminder.chat_id == TG["张处长"]


@pytest.mark.parametrize("escalate_after", [0, 2])
async def test_escalate_after_counts_the_reminders_from_the_deadline_on(
    runtime: Runtime, clock: FakeClock, tmp_path: Path, escalate_after: int
) -> None:
    clock.now = START
    office = Office(runtime, clock)
    await office.setup(_templates(tmp_path, escalate_after))
    number = await office.apply("李明", "urgent_memo", [3, "防汛物资调拨"])  # 特急: due 13:00
    # The reminder at the deadline, then every 4 working hours: 13:00, 17:00, next day 13:00.
    for moment in (sh(1, 11), sh(1, 13), sh(1, 17), sh(2, 13)):
        await office.at(moment)
    stages = [s for s, _ in await office.reminders("张处长")]
    escalations = await office.outbox("ap.escalated")
    if escalate_after == 0:
        assert stages == ["before"]  # escalated at the deadline itself
    else:
        assert stages == ["before", "at", "after"]
    assert len(escalations) == 1
    boss = await office.task_of("王局长", number)
    assert boss.status == "open"


async def test_a_deadline_in_an_unloaded_year_tells_each_admin_once(office: Office) -> None:
    """The package's tables end with 2026: a deadline in 2027 counts weekdays only."""
    office.clock.now = sh(31, 10)  # Thursday 2026-12-31 10:00
    first = await office.reimbursement()
    (task,) = await office.tasks(first)
    assert task.due_at == sh(4, 10, month=1, year=2027)  # Friday 2027-01-01 counted as worked
    told = await office.outbox("ap.calendar_missing")
    assert sorted((m.chat_id, m.facts["year"]) for m in told) == [
        (TG["管理员"], 2027),
        (TG["备份管理员"], 2027),
    ]
    # A second request into the same year, and its reminders: nobody is told twice.
    office.clock.now = sh(31, 11)
    await office.reimbursement(amount="120")
    await office.at(sh(5, 17, month=1, year=2027))
    assert len(await office.outbox("ap.calendar_missing")) == 2
    # A request wholly inside 2026 tells nobody anything new.
    assert {m.facts["year"] for m in await office.outbox("ap.calendar_missing")} == {2027}


async def test_a_stale_press_after_escalation_is_refused_not_crashing(office: Office) -> None:
    """The card the head saw before the escalation still works (the task version is his)."""
    number, head, _ = await _escalated(office)
    office.clock.advance(timedelta(minutes=1))
    await office.approve("张处长", head)  # the head acts after escalation: allowed
    assert await office.status(number) == "approved"
    with pytest.raises(StaleCardError):
        await office.approve("张处长", head)


async def test_a_task_waiting_for_added_signers_keeps_its_reminders(office: Office) -> None:
    """前加签: the head's task is suspended, then comes back open; its SLA is not lost."""
    number = await office.reimbursement()
    head = await office.task_of("张处长", number)
    assert head.id is not None
    office.clock.now = sh(1, 10)
    ap = office.services.approvals
    tg = TG["张处长"]
    await ap.press(tg_id=tg, chat_id=tg, action="addb", task_id=head.id, version=head.version)
    assert await ap.answer(tg_id=tg, chat_id=tg, text="钱会计")
    assert (await office.task_of("张处长", number)).status == "suspended"
    added = await office.task_of("钱会计", number)
    assert added.status == "open" and added.due_at == sh(3, 10)  # its own SLA
    await office.at(sh(2, 17))  # the head's deadline passes while he waits
    assert await office.reminders("张处长") == []
    assert await office.reminders("钱会计") == [("before", number)]
    office.clock.now = sh(3, 9)
    await office.approve("钱会计", added)
    assert (await office.task_of("张处长", number)).status == "open"
    # The held reminders come round again: the late "before" is dropped, "at" reminds.
    await office.at(sh(3, 11))
    assert await office.reminders("张处长") == []
    await office.at(sh(3, 13))
    assert await office.reminders("张处长") == [("at", number)]
    assert await office.reminders("钱会计") == [("before", number)]  # hers are moot now
