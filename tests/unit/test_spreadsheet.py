"""bot/spreadsheet: what it writes reads back as it was, and nothing becomes a formula."""

from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import load_workbook

from bot.spreadsheet import TableSpec, csv_bytes, read_table, safe_cell, unsafe_cell, xlsx_bytes

SPEC = TableSpec(columns=("id", "answer"), required=("id",), aliases={"编号": "id"})
TRICKY = ["=1+1", "+86 138", "-负数开头", "@mention", "多行\n第二行", "中文，全角", ""]


def test_xlsx_text_is_always_text_and_reads_back_unchanged() -> None:
    data = xlsx_bytes(["编号", "answer"], [[str(i), t] for i, t in enumerate(TRICKY)], title="T")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert all(
        cell.data_type == "s"
        for row in sheet.iter_rows(min_row=2)
        for cell in row[1:2]
        if cell.value is not None
    )
    rows = read_table(data, "kb.xlsx", SPEC)
    assert [cells["answer"] for _, cells in rows] == TRICKY
    assert [line for line, _ in rows] == list(range(2, 2 + len(TRICKY)))


def test_csv_has_a_bom_and_safe_cells_undo_on_reading() -> None:
    data = csv_bytes(["id", "answer"], [[str(i), safe_cell(t)] for i, t in enumerate(TRICKY)])
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = read_table(data, "kb.csv", SPEC)
    assert [unsafe_cell(cells["answer"]) for _, cells in rows] == TRICKY
    assert unsafe_cell("'just a quote") == "'just a quote"  # only a guard it added comes off


def test_dates_stay_dates() -> None:
    wall_clock = datetime(2026, 12, 2, 9)  # noqa: DTZ001 - Excel has no time zones
    data = xlsx_bytes(["id", "when"], [["1", date(2026, 12, 2)], ["2", wall_clock]], title="日期")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["B2"].is_date and sheet["B3"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet.title == "日期"
