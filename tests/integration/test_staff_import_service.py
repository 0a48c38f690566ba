"""StaffImportService on a real database: upsert by employee number, all-or-nothing, audit.

Uses the shared ``runtime`` fixture (tests/conftest.py), which runs every test on SQLite and,
where a server can be started, PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.audit import AuditService
from bot.people.import_service import ImportReport, StaffImportService
from bot.people.importing import read_staff_file
from bot.runtime import Runtime
from storage.tables.audit import AuditEntry
from storage.uow import UnitOfWork

HEADER = ["employee_no", "name", "department", "roles", "superior", "telegram_id", "language"]


def _rows(*lines: str, header: list[str] = HEADER) -> list[tuple[int, dict[str, str]]]:
    """Rows as read_staff_file returns them, from comma-separated lines (line 1 is the header)."""
    return [
        (number, dict(zip(header, line.split(","), strict=True)))
        for number, line in enumerate(lines, start=2)
    ]


ORG = _rows(
    "L1,王局长,局领导,leader;admin,,1001,zh",
    "H1,李处长,办公室,dept_head,L1,,",
    "S1,张三,办公室,,H1,1003,en",
    "S2,赵六,财务处,finance,H2,,",  # H2 comes later in the file
    "H2,钱处长,财务处,dept_head,L1,,",
)


@dataclass(frozen=True)
class Person:
    """What the directory holds about one member of staff."""

    id: int
    name: str
    department: str
    roles: frozenset[str]
    superior: str | None
    telegram_id: int | None
    language: str | None
    version: int


async def _directory(runtime: Runtime) -> dict[str, Person]:
    async with runtime.detached_uow() as uow:
        staff = await uow.people.list_staff(active_only=False)
        no_of = {s.id: s.employee_no for s in staff}
        roles = await uow.people.roles_by_staff(s.id for s in staff if s.id is not None)
        departments = {d.id: d.name for d in (await uow.people.departments_by_name()).values()}
        return {
            s.employee_no: Person(
                id=s.id or 0,
                name=s.name,
                department=departments[s.department_id],
                roles=frozenset(roles[s.id or 0]),
                superior=None if s.superior_id is None else no_of[s.superior_id],
                telegram_id=s.telegram_id,
                language=s.language,
                version=s.version,
            )
            for s in staff
        }


async def _audit(runtime: Runtime) -> list[AuditEntry]:
    async with runtime.detached_uow() as uow:
        return [e async for e in uow.audit.iterate()]


async def _import(
    runtime: Runtime, rows: list[tuple[int, dict[str, str]]], *, partial: bool = False
) -> ImportReport:
    return await StaffImportService(runtime).import_staff(rows, actor_id=None, partial=partial)


async def test_first_import_creates_everyone(runtime: Runtime) -> None:
    report = await StaffImportService(runtime).import_staff(ORG, actor_id=7, partial=False)

    assert report == ImportReport(5, 5, 0, 0, (), written=True)
    people = await _directory(runtime)
    assert {no: (p.department, p.superior) for no, p in people.items()} == {
        "L1": ("局领导", None),
        "H1": ("办公室", "L1"),
        "S1": ("办公室", "H1"),
        "S2": ("财务处", "H2"),
        "H2": ("财务处", "L1"),
    }
    assert people["L1"].roles == {"leader", "admin"}
    assert people["S1"].roles == {"staff"}
    assert (people["L1"].telegram_id, people["L1"].language) == (1001, "zh_CN")
    assert (people["S1"].telegram_id, people["S1"].language) == (1003, "en")
    assert (people["H1"].telegram_id, people["H1"].language) == (None, None)
    assert {p.version for p in people.values()} == {1}

    entries = await _audit(runtime)
    assert [e.action for e in entries] == ["staff.created"] * 5 + ["staff.import"]
    assert {e.actor_id for e in entries} == {7}
    assert entries[0].object == f"staff:{people['L1'].id}"
    assert entries[0].details == {"employee_no": "L1", "roles": ["admin", "leader"]}
    assert entries[-1].details == {
        "total": 5, "created": 5, "updated": 0, "unchanged": 0, "errors": 0, "partial": False
    }  # fmt: skip
    assert (await AuditService(runtime).verify()).ok


async def test_reimporting_the_same_file_changes_nothing(runtime: Runtime) -> None:
    await _import(runtime, ORG)
    before = await _directory(runtime)

    report = await _import(runtime, ORG)

    assert report == ImportReport(5, 0, 0, 5, (), written=True)
    assert await _directory(runtime) == before  # same ids, no duplicates, no version bump
    assert [e.action for e in await _audit(runtime)][-1] == "staff.import"
    assert len(await _audit(runtime)) == 5 + 2


async def test_changes_update_in_place_and_role_changes_are_audited(runtime: Runtime) -> None:
    await _import(runtime, ORG)
    before = await _directory(runtime)
    changed = _rows(
        "L1,王局长,局领导,leader,,1001,zh",  # admin dropped
        "H1,李处长,综合处,dept_head,L1,,",  # new department
        "S1,张三,办公室,staff;trainer,H2,1003,en",  # new role, new superior
        "S2,赵六,财务处,finance,H2,,",
        "H2,钱处长,财务处,dept_head,L1,,zh",  # language given now
    )

    report = await StaffImportService(runtime).import_staff(changed, actor_id=3, partial=False)

    assert report == ImportReport(5, 0, 4, 1, (), written=True)
    after = await _directory(runtime)
    assert {no: p.id for no, p in after.items()} == {no: p.id for no, p in before.items()}
    assert after["L1"].roles == {"leader"}
    assert after["H1"].department == "综合处"
    assert (after["S1"].roles, after["S1"].superior) == ({"staff", "trainer"}, "H2")
    assert after["H2"].language == "zh_CN"
    assert {no: p.version for no, p in after.items()} == {
        "L1": 2, "H1": 2, "S1": 2, "S2": 1, "H2": 2
    }  # fmt: skip
    roles_changed = [e for e in await _audit(runtime) if e.action == "staff.roles_changed"]
    assert [(e.object, e.actor_id, e.details) for e in roles_changed] == [
        (f"staff:{after['L1'].id}", 3, {"before": ["admin", "leader"], "after": ["leader"]}),
        (f"staff:{after['S1'].id}", 3, {"before": ["staff"], "after": ["staff", "trainer"]}),
    ]
    assert (await AuditService(runtime).verify()).ok


async def test_an_error_row_means_nothing_is_written(runtime: Runtime) -> None:
    rows = [
        *ORG,
        (7, {"employee_no": "X1", "name": "", "department": "办公室", "roles": "boss"}),
        (9, {"employee_no": "S1", "name": "重复", "department": "办公室"}),  # line 8 blank
    ]

    report = await _import(runtime, rows)

    assert not report.written
    assert (report.total, report.created, report.updated, report.unchanged) == (7, 0, 0, 0)
    assert [(e.line, e.column, e.code) for e in report.errors] == [
        (7, "name", "required"),
        (7, "roles", "unknown_role"),
        (9, "employee_no", "duplicate_employee_no"),
    ]
    assert await _directory(runtime) == {}
    assert await _audit(runtime) == []


async def test_partial_writes_the_valid_rows_and_reports_the_rest(runtime: Runtime) -> None:
    rows = _rows(
        "L1,王局长,局领导,leader,,,",
        "H1,李处长,办公室,dept_head,L1,abc,",  # bad telegram id
        "S1,张三,办公室,,H1,,",  # stranded: its superior is on a line with errors
        "S2,赵六,财务处,,L1,,fr",  # bad language
        "S3,孙七,财务处,,L1,,",
    )

    report = await _import(runtime, rows, partial=True)

    assert report.written
    assert (report.total, report.created, report.updated, report.unchanged) == (5, 2, 0, 0)
    assert [(e.line, e.code) for e in report.errors] == [
        (3, "bad_telegram_id"),
        (4, "superior_has_errors"),
        (5, "bad_language"),
    ]
    assert set(await _directory(runtime)) == {"L1", "S3"}
    assert (await _audit(runtime))[-1].details["partial"] is True
    assert (await _audit(runtime))[-1].details["errors"] == 3


async def test_telegram_ids_are_never_rebound_by_an_import(runtime: Runtime) -> None:
    await _import(runtime, ORG)
    rows = _rows(
        "N1,新人,办公室,,,1001,",  # 1001 is L1's
        "S1,张三,办公室,,H1,2222,en",  # S1 is bound to 1003 already
        "H1,李处长,办公室,dept_head,L1,1002,",  # H1 was unbound: binding is fine
        "L1,王局长,局领导,leader;admin,,,",  # blank: the binding stays
    )

    report = await _import(runtime, rows, partial=True)

    assert [(e.line, e.code, e.value) for e in report.errors] == [
        (2, "telegram_id_taken", "1001"),
        (3, "telegram_id_changes", "2222"),
    ]
    people = await _directory(runtime)
    assert "N1" not in people
    assert (people["L1"].telegram_id, people["S1"].telegram_id) == (1001, 1003)
    assert people["H1"].telegram_id == 1002
    assert (report.updated, report.unchanged) == (1, 1)


async def test_columns_the_file_lacks_are_left_alone(runtime: Runtime) -> None:
    await _import(runtime, ORG)
    roster = _rows(
        "L1,王局长,局领导", "S1,张三,办公室", "N1,新人,财务处",
        header=["employee_no", "name", "department"],
    )  # fmt: skip

    report = await _import(runtime, roster)

    assert (report.created, report.updated, report.unchanged) == (1, 0, 2)
    people = await _directory(runtime)
    assert people["L1"].roles == {"leader", "admin"}  # a roster cannot demote the admins
    assert people["S1"].superior == "H1"
    assert (people["N1"].roles, people["N1"].superior) == ({"staff"}, None)


async def test_a_blank_superior_cell_clears_the_superior(runtime: Runtime) -> None:
    await _import(runtime, ORG)
    report = await _import(runtime, _rows("S1,张三,办公室,,,1003,en"))
    assert report.updated == 1
    assert (await _directory(runtime))["S1"].superior is None


async def test_a_loop_through_the_stored_org_chart_is_refused(runtime: Runtime) -> None:
    await _import(runtime, ORG)  # H1 reports to L1
    report = await _import(runtime, _rows("L1,王局长,局领导,leader;admin,H1,1001,zh"))
    assert [(e.line, e.code) for e in report.errors] == [(2, "superior_cycle")]
    assert (await _directory(runtime))["L1"].superior is None


async def test_progress_is_reported_and_a_large_file_goes_in_one_piece(runtime: Runtime) -> None:
    lines = [f"E{i:04d},员工{i},部门{i % 7},,{'' if i == 0 else f'E{i // 3:04d}'},,"
             for i in range(1200)]  # fmt: skip
    lines.reverse()  # every superior is on a later line
    calls: list[tuple[int, int]] = []

    report = await StaffImportService(runtime).import_staff(
        _rows(*lines), actor_id=None, partial=False, progress=lambda d, t: calls.append((d, t))
    )

    assert (report.created, report.errors) == (1200, ())
    assert calls == [(500, 1200), (1000, 1200), (1200, 1200)]
    people = await _directory(runtime)
    assert len(people) == 1200
    assert people["E0999"].superior == "E0333"
    assert len({p.department for p in people.values()}) == 7
    assert (await AuditService(runtime).verify()).ok


async def test_a_csv_file_end_to_end(runtime: Runtime) -> None:
    text = (
        "工号,姓名,部门,角色,上级工号\r\n"
        "１００１,张三,办公室,admin；staff,\r\n"  # full-width digits and semicolon
        "\r\n"
        "1002,李四,办公室,,1001\r\n"
    )
    rows = read_staff_file(text.encode("gbk"), "名单.csv")

    report = await _import(runtime, rows)

    assert (report.created, report.errors) == (2, ())
    people = await _directory(runtime)
    assert people["1001"].roles == {"admin", "staff"}
    assert people["1002"].superior == "1001"


async def test_on_report_runs_inside_the_import_and_its_failure_undoes_it(
    runtime: Runtime,
) -> None:
    seen: list[ImportReport] = []

    async def record(uow: UnitOfWork, report: ImportReport) -> None:
        seen.append(report)
        assert await uow.people.count() == report.created  # the import is visible here

    report = await StaffImportService(runtime).import_staff(
        ORG, actor_id=None, partial=False, on_report=record
    )
    assert seen == [report]

    async def fail(uow: UnitOfWork, report: ImportReport) -> None:
        raise RuntimeError("the reply could not be queued")

    changed = _rows("N1,新人,办公室,admin,,,")
    with pytest.raises(RuntimeError):
        await StaffImportService(runtime).import_staff(
            changed, actor_id=None, partial=False, on_report=fail
        )
    assert "N1" not in await _directory(runtime)
