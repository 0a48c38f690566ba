"""Survey results (#8, reference items 20 and 22) on SQLite and PostgreSQL: NPS equal to the
hand-computed value, per-question counts, breakdowns under 5 hidden for an anonymous survey,
CSV with a BOM and XLSX with the Chinese headers, a named survey's export with names."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.surveys.definitions import load_shipped, shipped_dir
from bot.surveys.model import Answer
from bot.surveys.publishing import SurveyPublishing, parse_audience
from bot.surveys.responses import submit
from bot.surveys.results import MIN_GROUP, gather, to_csv, to_xlsx
from storage.tables.people import Staff

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIPPED = load_shipped()


async def _people(runtime: Runtime, clock: FakeClock) -> list[int]:
    """7 in 办公室, 3 in 财务处."""
    ids = []
    async with runtime.detached_uow() as uow:
        office = await uow.people.add_department("办公室", now=clock())
        finance = await uow.people.add_department("财务处", now=clock())
        for i in range(10):
            row = await uow.people.add(
                Staff(
                    employee_no=f"Q{i}",
                    name=f"员工{i}",
                    department_id=(office if i < 7 else finance).id,
                    telegram_id=7000 + i,
                    language="zh_CN",
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            assert row.id is not None
            ids.append(row.id)
        await uow.commit()
    return ids


async def _publish(runtime: Runtime, key: str) -> int:
    published = await SurveyPublishing(runtime, default_locale="zh_CN").publish(
        text=(shipped_dir() / f"{key}.yaml").read_text(encoding="utf-8"),
        source=f"{key}.yaml",
        audience=parse_audience("all"),
    )
    return published.survey_id


async def _answer(
    runtime: Runtime, clock: FakeClock, survey_id: int, key: str, staff_id: int, answers
) -> None:  # type: ignore[no-untyped-def]
    async with runtime.uow() as uow:
        await submit(uow, survey_id, SHIPPED[key], staff_id, answers, now=clock(), tz=SHANGHAI)
        await uow.commit()


async def test_anonymous_results_with_small_groups_hidden(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _people(runtime, clock)
    survey_id = await _publish(runtime, "pilot_feedback")
    for i, staff_id in enumerate(people):
        answers: dict[str, Answer] = {
            "recommend": i,  # 0..9
            "ease": 1 + i % 5,
            "problems": frozenset({"none"}) if i % 2 else frozenset({"speed", "login"}),
            "usage": ("daily", "weekly", "rarely")[i % 3],
        }
        if i <= 6:
            answers["improve"] = f"建议{i}"
        if i >= 9:
            answers["liked"] = "界面清楚"
        await _answer(runtime, clock, survey_id, "pilot_feedback", staff_id, answers)
    async with runtime.detached_uow() as uow:
        gathered = await gather(uow, survey_id)
    assert gathered is not None
    results, rows = gathered
    assert results.responses == 10 and results.invited == 10 and results.anonymous
    by_key = {q.key: q for q in results.questions}
    # NPS by hand: promoters (9, 10) = {9}: 1; detractors (0-6) = 7 of 10: 10 % − 70 % = −60.
    assert by_key["recommend"].nps == -60
    assert by_key["recommend"].mean == 4.5
    assert dict(by_key["recommend"].counts) == {str(n): (1 if n <= 9 else 0) for n in range(11)}
    assert dict(by_key["problems"].counts)["速度慢"] == 5
    assert dict(by_key["usage"].counts) == {"每天": 4, "每周几次": 3, "很少": 3}
    assert sorted(by_key["improve"].texts) == [f"建议{i}" for i in range(7)]
    # Fewer than five answered: the question shows only that (one person liked it).
    assert by_key["liked"].hidden and by_key["liked"].answered == 1 and not by_key["liked"].texts
    departments = {d.department: d for d in results.departments}
    assert departments["办公室"].finished == 7 and departments["办公室"].invited == 7
    assert departments["财务处"].finished is None and departments["财务处"].invited == 3
    assert MIN_GROUP == 5

    # Exports: a CSV a BOM-expecting reader opens with the Chinese headers, and an XLSX.
    data = to_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][0].startswith("您有多大可能向同事推荐") and "姓名" not in table[0]
    assert len(table) == 11
    assert sorted(r[0] for r in table[1:]) == sorted(str(i) for i in range(10))
    book = load_workbook(io.BytesIO(to_xlsx(rows)))
    sheet = book.active
    assert sheet is not None and sheet.cell(1, 5).value == "使用中遇到过哪些问题？（可多选）"
    assert sheet.max_row == 11


async def test_a_named_survey_exports_who_answered(runtime: Runtime, clock: FakeClock) -> None:
    people = await _people(runtime, clock)
    survey_id = await _publish(runtime, "needs_research")
    base: dict[str, Answer] = {
        "work_area": "documents",
        "tools_now": frozenset({"paper", "email"}),
        "pain_points": frozenset({"slow_approval"}),
        "first_module": "documents",
        "daily_documents": 12,
        "device": "phone",
        "training_need": 2,
    }
    await _answer(runtime, clock, survey_id, "needs_research", people[0], base)
    await _answer(
        runtime, clock, survey_id, "needs_research", people[8], {**base, "device": "both"}
    )
    async with runtime.detached_uow() as uow:
        gathered = await gather(uow, survey_id)
    assert gathered is not None
    results, rows = gathered
    assert not results.anonymous
    assert {d.department: d.finished for d in results.departments} == {"办公室": 1, "财务处": 1}
    assert rows[0][:2] == ["姓名", "部门"]
    named = {r[0]: r for r in rows[1:]}
    assert named["员工0"][1] == "办公室" and named["员工8"][1] == "财务处"
    column = rows[0].index("您目前处理工作主要用哪些方式？（可多选）")
    assert named["员工0"][column] == "纸质文件；电子邮件"
    assert named["员工8"][rows[0].index("您更常在哪种设备上办公？")] == "两者差不多"
