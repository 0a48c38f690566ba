"""The 发文/收文 registers, 督办 and the exports, on requests made through ApprovalService.

Every request here is filled in, submitted and decided through the real service by Telegram id
(staff imported with their ids), so the registers read exactly what the bot stores. Runs on
SQLite and PostgreSQL (the ``runtime`` fixture).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.approvals.numbering_service import OFFICE_TZ
from bot.approvals.registers import (
    COLUMNS,
    RegisterRow,
    RegisterService,
    RequestNotFoundError,
    headers,
    rows_from_facts,
    safe_cell,
    to_csv,
    to_xlsx,
)
from bot.audit import AuditService
from bot.clock import FakeClock
from bot.config import Settings
from bot.errors import PermissionDeniedError
from bot.i18n import translator
from bot.messaging.outgoing import Outgoing
from bot.runtime import Runtime
from bot.services import Services, build_services
from handlers.render.approvals_office import overdue_list, register_file
from storage.tables.approvals import Delegation
from storage.tables.messaging import OutboxMessage
from tests.integration import approval_driver

HEADER = ["employee_no", "name", "department", "roles", "superior", "telegram_id", "language"]
ORG = [
    "L1,王局长,局领导,leader;principal,,2001,",
    "L2,陈副局长,局领导,leader,,2002,",
    "O1,钱主任,办公室,office,,2003,",
    "O2,吴秘书,办公室,office,,2004,",
    "H1,赵处长,财务处,dept_head,L1,2005,",
    "H2,孙处长,法规处,dept_head,L1,2006,",
    "S1,李明,综合处,staff,,2007,",
    "A1,管理员,信息中心,admin,,2008,en",
]
TG = {line.split(",")[1]: int(line.split(",")[5]) for line in ORG}
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
HOUR = timedelta(hours=1)
FAR = datetime(2027, 6, 1, tzinfo=UTC)


class Office:
    """The organisation above, with helpers that play its members through ApprovalService."""

    def __init__(self, runtime: Runtime, clock: FakeClock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.services: Services = build_services(Settings(), runtime)
        self.registers = RegisterService(runtime, self.services.approvals.catalog)

    async def setup(self) -> None:
        rows = [
            (n, dict(zip(HEADER, line.split(","), strict=True)))
            for n, line in enumerate(ORG, start=2)
        ]
        report = await self.services.staff_import.import_staff(rows, actor_id=None, partial=False)
        assert report.written, report.errors
        await self.services.approvals.catalog.ensure_shipped()

    async def apply(self, who: str, key: str, answers: list[Any]) -> str:
        """Fill and submit the form (see tests/integration/approval_driver.py)."""
        return await approval_driver.apply(self.services, self.runtime, TG[who], key, answers)

    async def open_task(self, who: str, number: str | None = None) -> tuple[int, int]:
        """The oldest open task of ``who`` (on request ``number``, if given)."""
        async with self.runtime.detached_uow() as uow:
            staff = await uow.people.by_telegram_id(TG[who])
            assert staff is not None and staff.id is not None
            tasks = await uow.approvals.open_tasks_for(staff.id, limit=50)
            if number is not None:
                instance = await uow.approvals.by_number(number)
                assert instance is not None
                tasks = [t for t in tasks if t.instance_id == instance.id]
            assert tasks, f"{who} holds no task"
            assert tasks[0].id is not None
            return tasks[0].id, tasks[0].version

    async def approve(
        self, who: str, number: str | None = None, *, advance: timedelta = HOUR
    ) -> None:
        self.clock.advance(advance)
        task_id, version = await self.open_task(who, number)
        await self.services.approvals.press(
            tg_id=TG[who], chat_id=TG[who], action="ok", task_id=task_id, version=version
        )

    async def sign(
        self, who: str, opinion: str, number: str | None = None, *, advance: timedelta = HOUR
    ) -> None:
        """签发: the button, the opinion typed, then the confirmation."""
        self.clock.advance(advance)
        tg = TG[who]
        ap = self.services.approvals
        task_id, version = await self.open_task(who, number)
        await ap.press(tg_id=tg, chat_id=tg, action="ok", task_id=task_id, version=version)
        assert await ap.answer(tg_id=tg, chat_id=tg, text=opinion)
        await ap.confirm_sign(tg_id=tg, chat_id=tg, task_id=task_id, version=version)

    async def set_doc_no(self, number: str, doc_no: str) -> None:
        async with self.runtime.detached_uow() as uow:
            instance = await uow.approvals.by_number(number)
            assert instance is not None and instance.id is not None
            assert await uow.approvals.save_instance(
                instance.id, seen_version=instance.version, doc_no=doc_no
            )
            await uow.commit()

    async def set_due(self, number: str, due: datetime) -> None:
        """Give the open tasks of a request this deadline (the SLA scheduler's job)."""
        async with self.runtime.detached_uow() as uow:
            instance = await uow.approvals.by_number(number)
            assert instance is not None and instance.id is not None
            for task in await uow.approvals.open_tasks_of([instance.id]):
                assert task.id is not None
                await uow.approvals.update_task(task.id, due_at=due)
            await uow.commit()

    async def outbox(self, kind: str) -> list[OutboxMessage]:
        from sqlmodel import col, select

        async with self.runtime.detached_uow() as uow:
            rows = await uow.session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.kind) == kind)
                .order_by(col(OutboxMessage.id))
            )
            return list(rows)


# classification 非密(1), doc_kind 通知(8), title, 主送, 抄送, urgency 加急(2), 会签, 文稿, 说明
def outgoing(title: str, *, cc: str = "市财政局", co: str = "财务处") -> list[Any]:
    return [1, 8, title, "各区人民政府", cc, 2, co, ["draft.pdf"], "跳过"]


# classification 内部(2), 来文单位, 来文字号, 标题, 收文日期, 加急(2), 来文, 承办部门, 办理时限,
# 催办人 (加急, not 特急: 特急 must not leave 批办 without a deadline and a 催办人)
def incoming(
    title: str, *, deadline: str = "跳过", handler: str = "财务处", supervisor: str = "跳过"
) -> list[Any]:
    source = ["省人民政府办公厅", "省政办发〔2026〕12号"]
    return [2, *source, title, "2026-11-28", 2, ["in.pdf"], handler, deadline, supervisor]


def _outgoing(row: OutboxMessage) -> Outgoing:
    """An outbox row as the sender hands it to a renderer."""
    assert row.id is not None
    return Outgoing(
        id=row.id, chat_id=row.chat_id, kind=row.kind, locale="zh_CN", facts=dict(row.facts)
    )


@pytest.fixture
async def office(runtime: Runtime, clock: FakeClock) -> Office:
    clock.now = START
    org = Office(runtime, clock)
    await org.setup()
    return org


async def test_outgoing_register_columns_order_and_the_signature(office: Office) -> None:
    first = await office.apply("李明", "outgoing", outgoing("关于做好冬季安全生产工作的通知"))
    office.clock.advance(timedelta(minutes=5))
    second = await office.apply(
        "李明", "outgoing", outgoing("关于召开年度工作会议的通知", cc="跳过")
    )
    await office.approve("钱主任")  # 核稿 of the first (the office's 或签)
    await office.approve("赵处长")  # 会签 by 财务处
    await office.sign("王局长", "同意印发")  # 签发, 2026-12-01 12:05 Shanghai
    signed_at = office.clock.now
    await office.set_doc_no(first, "市府办发〔2026〕7号")

    rows = await office.registers.rows("outgoing")
    assert [r.number for r in rows] == [first, second]  # oldest first
    row = rows[0]
    assert row.doc_no == "市府办发〔2026〕7号"
    assert row.doc_kind == "通知" and row.urgency == "加急" and row.classification == "非密"
    assert row.title == "关于做好冬季安全生产工作的通知"
    assert (row.main_recipients, row.cc_recipients) == ("各区人民政府", "市财政局")
    assert (row.drafter, row.drafting_department) == ("李明", "综合处")
    assert row.co_departments == "财务处"
    # 签发人 and 成文日期 come from the 签发 decision, not from the clock of the export.
    assert row.signer == "王局长"
    assert row.signed_at == signed_at
    assert row.written_on == date(2026, 12, 1)
    assert rows[1].signer == "" and rows[1].signed_at is None and rows[1].written_on is None
    assert rows[1].cc_recipients == "" and rows[1].status == "running"
    assert rows[1].current_step == "核稿" and rows[1].holder == "钱主任、吴秘书"
    assert rows[1].status_label == "审批中"
    if row.status == "approved":  # 编号 and 归档 passed (de-duplicated office approvals)
        assert row.archived_on == date(2026, 12, 1)
    else:
        assert row.archived_on is None

    en = await office.registers.rows("outgoing", locale="en")
    assert en[0].doc_kind == "Notice" and en[0].urgency == "Urgent"
    assert en[1].current_step == "Review" and en[1].status_label == "In progress"

    # The CSV has exactly the register's columns, in order, in the reader's language.
    table = list(csv.reader(io.StringIO(to_csv(rows, "zh_CN").decode("utf-8-sig"))))
    assert table[0] == [
        "申请编号",
        "发文字号",
        "文种",
        "标题",
        "主送机关",
        "抄送机关",
        "紧急程度",
        "密级",
        "拟稿人",
        "拟稿部门",
        "拟稿日期",
        "会签部门",
        "签发人",
        "签发时间",
        "成文日期",
        "状态",
        "当前环节",
        "归档日期",
    ]
    assert table[1][:4] == [first, "市府办发〔2026〕7号", "通知", "关于做好冬季安全生产工作的通知"]
    assert table[1][12:15] == ["王局长", "2026-12-01 12:05", "2026-12-01"]
    assert table[1][10] == "2026-12-01 09:00"
    assert len(table) == 3


async def test_a_delegated_sign_off_names_both_people(office: Office) -> None:
    async with office.runtime.detached_uow() as uow:
        boss = await uow.people.by_telegram_id(TG["王局长"])
        deputy = await uow.people.by_telegram_id(TG["陈副局长"])
        assert boss is not None and boss.id is not None and deputy is not None and deputy.id
        await uow.approvals.add_delegation(
            Delegation(
                staff_id=boss.id,
                delegate_id=deputy.id,
                starts_on=date(2026, 11, 30),
                ends_on=date(2026, 12, 7),
                created_at=START,
            )
        )
        await uow.commit()
    number = await office.apply("李明", "outgoing", outgoing("关于调整办公时间的通知", co="跳过"))
    await office.approve("钱主任")
    async with office.runtime.detached_uow() as uow:
        instance = await uow.approvals.by_number(number)
        assert instance is not None
        delegated = [t for t in await uow.approvals.tasks_of(instance.id or 0) if t.on_behalf_of]
    assert delegated, "the boss's 签发 task should have gone to the deputy"
    office.clock.advance(HOUR)
    tg = TG["陈副局长"]
    ap = office.services.approvals
    task = delegated[0]
    assert task.id is not None
    await ap.press(tg_id=tg, chat_id=tg, action="ok", task_id=task.id, version=task.version)
    assert await ap.answer(tg_id=tg, chat_id=tg, text="同意")
    await ap.confirm_sign(tg_id=tg, chat_id=tg, task_id=task.id, version=task.version)
    (row,) = await office.registers.rows("outgoing")
    assert row.signer == "陈副局长（代 王局长）"
    assert row.signed_at == office.clock.now
    (en,) = await office.registers.rows("outgoing", locale="en")
    assert en.signer == "陈副局长 (for 王局长)"
    record = await office.registers.record(number)
    signed = next(a for a in record.audit if a.action == "approval.sign")
    assert (signed.actor, signed.on_behalf_of) == ("陈副局长", "王局长")


async def test_incoming_register_columns(office: Office) -> None:
    number = await office.apply(
        "钱主任",
        "incoming",
        incoming("关于开展财政资金专项检查的通知", deadline="2026-12-10", supervisor="O2"),
    )
    await office.approve("吴秘书")  # 拟办
    await office.approve("王局长")  # 批办
    await office.approve("赵处长")  # 承办
    handled = office.clock.now.astimezone(OFFICE_TZ).date()
    rows = await office.registers.rows("incoming")
    assert len(rows) == 1
    row = rows[0]
    assert row.number == number
    assert (row.source_org, row.source_doc_no) == ("省人民政府办公厅", "省政办发〔2026〕12号")
    assert row.received_on == date(2026, 11, 28) and row.deadline == date(2026, 12, 10)
    assert (row.urgency, row.classification) == ("加急", "内部")
    assert row.supervisor == "吴秘书"  # the 催办人's name, not the employee number typed
    assert row.handling_department == "财务处"
    # 承办 is done but 办结 is not (unless the office's approval was de-duplicated).
    if row.current_step == "办结":
        assert row.finished_on is None and "吴秘书" in row.holder
        await office.approve("吴秘书")  # 办结
        handled = office.clock.now.astimezone(OFFICE_TZ).date()
        (row,) = await office.registers.rows("incoming")
    assert row.finished_on == handled
    table = list(csv.reader(io.StringIO(to_csv(rows, "zh_CN").decode("utf-8-sig"))))
    assert table[0] == [
        "收文编号",
        "来文单位",
        "来文字号",
        "标题",
        "收文日期",
        "紧急程度",
        "密级",
        "承办部门",
        "办理时限",
        "催办人",
        "当前环节",
        "持有人",
        "状态",
        "办结日期",
    ]
    assert table[1][4] == "2026-11-28" and table[1][8] == "2026-12-10"


async def test_year_filter_follows_the_office_calendar(office: Office) -> None:
    await office.apply("李明", "outgoing", outgoing("二〇二六年的最后一份通知"))
    office.clock.now = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 2027-01-01 00:30 Shanghai
    late = await office.apply("李明", "outgoing", outgoing("二〇二七年的第一份通知"))
    assert len(await office.registers.rows("outgoing", year=2026)) == 1
    assert [r.number for r in await office.registers.rows("outgoing", year=2027)] == [late]
    assert await office.registers.rows("outgoing", year=2025) == []
    assert await office.registers.rows("incoming") == []
    with pytest.raises(ValueError):
        await office.registers.rows("request")


async def test_exports_escape_formulas_and_keep_chinese(office: Office) -> None:
    await office.apply(
        "李明", "outgoing", outgoing('=HYPERLINK("http://x","点我")', cc="@SUM(A1:A9)")
    )
    await office.apply("李明", "outgoing", outgoing("+1+1", cc="-2"))
    rows = await office.registers.rows("outgoing")
    data = to_csv(rows, "zh_CN")
    assert data.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    titles = [line[3] for line in table[1:]]
    assert titles == ['\'=HYPERLINK("http://x","点我")', "'+1+1"]
    assert [line[5] for line in table[1:]] == ["'@SUM(A1:A9)", "'-2"]
    assert b"\r\n" in data

    book = load_workbook(io.BytesIO(to_xlsx(rows, "zh_CN")))
    sheet = book.active
    assert sheet is not None and sheet.title == "发文登记簿"
    values = [[c.value for c in line] for line in sheet.iter_rows()]
    assert values[0] == headers("outgoing", "zh_CN")
    assert values[1][3] == '\'=HYPERLINK("http://x","点我")'
    assert values[2][5] == "'-2"
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            assert cell.data_type != "f", cell.coordinate  # no formula anywhere
    assert sheet.freeze_panes == "A2"
    assert sheet["D1"].font.bold
    assert 10 <= (sheet.column_dimensions["D"].width or 0) <= 62
    # A real date-time cell, in Shanghai wall-clock time (Excel has no time zones).
    assert values[1][10] == datetime(2026, 12, 1, 9, 0, tzinfo=UTC).replace(tzinfo=None)

    english = load_workbook(io.BytesIO(to_xlsx(rows, "en"))).active
    assert english is not None and english.title == "Outgoing register"
    assert [c.value for c in english[1]][:4] == [
        "Request number",
        "Document number",
        "Kind of document",
        "Title",
    ]
    assert safe_cell("正常标题") == "正常标题" and safe_cell("\t=1") == "'\t=1"


async def test_empty_registers_export_with_headers_only() -> None:
    data = to_csv([], "en", kind="incoming")
    assert data.decode("utf-8-sig").splitlines() == [",".join(headers("incoming", "en"))]
    sheet = load_workbook(io.BytesIO(to_xlsx([], "zh_CN", kind="incoming"))).active
    assert sheet is not None and sheet.max_row == 1
    assert len(COLUMNS["incoming"]) == sheet.max_column
    with pytest.raises(ValueError):
        to_csv([], "zh_CN")


async def test_overdue_grouped_by_the_holding_department(office: Office) -> None:
    late_in = await office.apply(
        "钱主任", "incoming", incoming("逾期的来文", deadline="2026-12-03")
    )
    await office.approve("吴秘书", late_in)
    await office.approve("王局长", late_in)  # now 承办 at 财务处 (赵处长)
    on_time = await office.apply(
        "钱主任", "incoming", incoming("未到期的来文", deadline="2026-12-20")
    )
    legal = await office.apply("钱主任", "incoming", incoming("法规处的来文", handler="法规处"))
    await office.approve("吴秘书", legal)
    await office.approve("陈副局长", legal)  # 批办 (或签 of the leaders): now at 法规处 (孙处长)
    out_late = await office.apply("李明", "outgoing", outgoing("核稿逾期的发文"))
    # Deadlines set by hand (not by the SLA scheduler), so each case is exactly one rule.
    await office.set_due(late_in, FAR)
    await office.set_due(on_time, datetime(2026, 12, 30, 1, 0, tzinfo=UTC))
    await office.set_due(legal, datetime(2026, 12, 5, 1, 0, tzinfo=UTC))
    await office.set_due(out_late, datetime(2026, 12, 2, 1, 0, tzinfo=UTC))

    # 12-03 is the last day of the 办理时限: not yet overdue on that day (23:00 in Shanghai).
    early = await office.registers.overdue(now=datetime(2026, 12, 3, 15, 0, tzinfo=UTC))
    assert {k: [r.number for r in v] for k, v in early.items()} == {"办公室": [out_late]}
    later = await office.registers.overdue(now=datetime(2026, 12, 6, 2, 0, tzinfo=UTC))
    assert {k: [r.number for r in v] for k, v in later.items()} == {
        "办公室": [out_late],
        "法规处": [legal],
        "财务处": [late_in],
    }
    assert list(later) == sorted(later)
    assert later["财务处"][0].holder == "赵处长"
    assert later["法规处"][0].holder == "孙处长"
    assert later["法规处"][0].due_at == datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    assert later["办公室"][0].holder == "钱主任、吴秘书"
    assert await office.registers.overdue(now=START) == {}

    office.clock.now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # in chat: the service's clock
    await office.registers.send_overdue(tg_id=TG["钱主任"], chat_id=TG["钱主任"])
    (listed,) = await office.outbox("ap.overdue_list")
    assert listed.facts["total"] == 1
    assert listed.facts["groups"][0]["department"] == "办公室"
    text = overdue_list(_outgoing(listed), translator("zh_CN")).text
    assert text.startswith("<b>逾期事项：1 件</b>\n\n<b>办公室</b>（1）\n• ")
    assert f"{out_late} 核稿逾期的发文 · 核稿 · 钱主任、吴秘书 · 期限 " in text


async def test_register_in_chat_is_for_the_office_and_one_outbox_row(office: Office) -> None:
    number = await office.apply("李明", "outgoing", outgoing("在聊天中导出的发文"))
    with pytest.raises(PermissionDeniedError):
        await office.registers.send_register(tg_id=TG["李明"], chat_id=TG["李明"], kind="outgoing")
    with pytest.raises(PermissionDeniedError):
        await office.registers.send_overdue(tg_id=TG["赵处长"], chat_id=TG["赵处长"])
    assert await office.outbox("ap.register_file") == []

    await office.registers.send_register(
        tg_id=TG["钱主任"], chat_id=TG["钱主任"], kind="outgoing", fmt="csv"
    )
    (sent,) = await office.outbox("ap.register_file")
    assert sent.chat_id == TG["钱主任"]
    assert sent.facts["format"] == "csv" and sent.facts["year"] == 2026
    rows = rows_from_facts(sent.facts)
    assert [r.number for r in rows] == [number]
    # The facts carry the register's columns (and the row's identity), nothing more.
    direct = await office.registers.rows("outgoing", year=2026)
    for name, _ in COLUMNS["outgoing"]:
        assert getattr(rows[0], name) == getattr(direct[0], name), name
    assert "source_org" not in sent.facts["fields"] and "due_at" not in sent.facts["fields"]
    assert isinstance(rows[0], RegisterRow) and rows[0].registered_at == START

    # The sender renders it in the reader's language: one document, named for the register.
    rendered = register_file(_outgoing(sent), translator("zh_CN"))
    assert rendered.method == "document" and rendered.file_name == "发文登记簿-2026.csv"
    assert rendered.file_bytes is not None and rendered.file_bytes.startswith(b"\xef\xbb\xbf")
    assert "发文登记簿 2026：共 1 条。" in rendered.text
    await office.registers.send_register(
        tg_id=TG["管理员"], chat_id=TG["管理员"], kind="outgoing", year=2026
    )
    xlsx = register_file(
        _outgoing((await office.outbox("ap.register_file"))[-1]), translator("en")
    )
    assert xlsx.file_name == "Outgoing register-2026.xlsx" and xlsx.file_bytes is not None
    sheet = load_workbook(io.BytesIO(xlsx.file_bytes)).active
    assert (
        sheet is not None
        and sheet["A2"].value == number
        and sheet["A1"].value == ("Request number")
    )

    await office.registers.send_register(tg_id=TG["管理员"], chat_id=TG["管理员"], kind=None)
    assert len(await office.outbox("ap.register_usage")) == 1
    await office.registers.send_overdue(tg_id=TG["管理员"], chat_id=TG["管理员"])
    (listed,) = await office.outbox("ap.overdue_list")
    assert listed.facts["total"] == 0 and listed.facts["groups"] == []
    assert overdue_list(_outgoing(listed), translator("zh_CN")).text == "没有逾期事项。"

    trail = await AuditService(office.runtime).trail("register:outgoing")
    assert [(e.action, e.details["format"], e.details["rows"]) for e in trail] == [
        ("approval.register_export", "csv", 1),
        ("approval.register_export", "xlsx", 1),
    ]


async def test_a_register_in_chat_is_capped_and_says_so(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.approvals.registers as registers

    monkeypatch.setattr(registers, "CHAT_ROW_LIMIT", 2)
    numbers = [await office.apply("李明", "outgoing", outgoing(f"第{i}份通知")) for i in range(3)]
    await office.registers.send_register(tg_id=TG["钱主任"], chat_id=TG["钱主任"], kind="outgoing")
    (sent,) = await office.outbox("ap.register_file")
    assert sent.facts["total"] == 3
    assert [r.number for r in rows_from_facts(sent.facts)] == numbers[1:]  # the newest two
    caption = register_file(_outgoing(sent), translator("zh_CN")).text
    assert "共 3 条" in caption and "本文件只含最近的 2 条" in caption


async def test_record_has_every_step_with_actor_time_comment_and_hash(office: Office) -> None:
    number = await office.apply("李明", "outgoing", outgoing("用于导出记录的发文"))
    await office.approve("吴秘书")
    await office.approve("赵处长")
    await office.sign("王局长", "同意，请办公室编号")
    record = await office.registers.record(number)
    assert record.number == number and record.submitter == "李明"
    assert record.template_key == "outgoing" and record.department == "综合处"
    moves = [(t.actor, t.move, t.step, t.comment) for t in record.timeline]
    assert moves[:3] == [
        ("吴秘书", "approve", "核稿", None),
        ("赵处长", "approve", "会签", None),
        ("王局长", "approve", "签发", "同意，请办公室编号"),
    ]
    assert all(t.at for t in record.timeline)
    actions = [a.action for a in record.audit]
    assert actions[:4] == [
        "approval.submitted",
        "approval.approve",
        "approval.approve",
        "approval.sign",
    ]
    assert {a.content_hash for a in record.audit} == {record.content_hash}
    assert record.audit[3].actor == "王局长"
    sign = next(s for s in record.steps if s.key == "sign")
    assert sign.people[0].comment == "同意，请办公室编号" and sign.people[0].at
    as_json = record.to_json()
    assert as_json["audit"][0]["content_hash"] == record.content_hash
    assert ("标题", "用于导出记录的发文") in record.fields
    with pytest.raises(RequestNotFoundError):
        await office.registers.record("FW-19990101-0001")


async def test_templates_lists_the_active_ones(office: Office) -> None:
    infos = {t.key: t for t in await office.registers.templates()}
    assert set(infos) >= {"outgoing", "incoming", "leave"}
    assert infos["outgoing"].route == ("review", "countersign", "sign", "number", "archive")
    assert infos["incoming"].name == "收文办理" and infos["incoming"].kind == "incoming"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["out"], ("outgoing", "xlsx", None)),
        (["in", "csv"], ("incoming", "csv", None)),
        (["收文", "2025", "XLSX"], ("incoming", "xlsx", 2025)),
        ([], (None, "xlsx", None)),
        (["out", "pdf"], (None, "xlsx", None)),
        (["out", "２０２６"], (None, "xlsx", None)),  # full-width digits are not a year
    ],
)
def test_register_arguments(args: list[str], expected: tuple[Any, ...]) -> None:
    from handlers.approvals_office import parse_register_args

    assert parse_register_args(args) == expected


def test_a_long_overdue_list_fits_one_message() -> None:
    item = {
        "number": "SW-20261201-0001",
        "title": "很长的标题" * 8,
        "step": "承办",
        "holder": "张三",
    }
    facts = {
        "total": 200,
        "groups": [
            {"department": f"第{g}处", "count": 50, "items": [dict(item, due="2026-12-01")] * 50}
            for g in range(4)
        ],
    }
    row = OutboxMessage(id=1, chat_id=1, kind="ap.overdue_list", facts=facts, created_at=START)
    text = overdue_list(_outgoing(row), translator("zh_CN")).text
    assert len(text) <= 4096
    shown = text.count("• ")
    assert 0 < shown < 200 and f"另有 {200 - shown} 件" in text
