"""Staff file rules (bot/people/domain.py) and reading CSV/XLSX files (bot/people/importing.py)."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from bot import spreadsheet
from bot.errors import ImportFileError
from bot.people import importing
from bot.people.domain import (
    ALL_ROLES,
    COLUMNS,
    ERROR_MESSAGES,
    Role,
    RowError,
    StaffRow,
    validate_rows,
)
from bot.people.importing import read_staff_file

# --- domain --------------------------------------------------------------------------------


def _row(**cells: str) -> dict[str, str]:
    base = {"employee_no": "E1", "name": "张三", "department": "办公室"}
    return {**base, **cells}


def _check(*rows: Mapping[str, str], **known: object) -> tuple[list[StaffRow], list[RowError]]:
    return validate_rows([(i + 2, r) for i, r in enumerate(rows)], **known)  # type: ignore[arg-type]


def _codes(errors: list[RowError]) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.code) for e in errors]


def test_roles_are_the_eight_of_the_issue_plus_the_principal_leader_and_security() -> None:
    # principal (主要负责人) came with #4: a 上行文 is signed by the principal leader;
    # security (保密员) with #8's quizzes: it opens them and reads the named scores.
    assert {
        "staff", "dept_head", "finance", "leader", "principal", "office", "trainer", "support",
        "security", "admin",
    } == ALL_ROLES == set(Role)  # fmt: skip


def test_every_error_code_has_a_message_with_known_placeholders() -> None:
    codes = {
        "required", "too_long", "bad_employee_no", "unknown_role", "bad_telegram_id",
        "bad_language", "duplicate_employee_no", "duplicate_telegram_id", "unknown_superior",
        "superior_has_errors", "self_superior", "superior_cycle", "telegram_id_taken",
        "telegram_id_changes",
    }  # fmt: skip
    assert set(ERROR_MESSAGES) == codes
    for message in ERROR_MESSAGES.values():
        assert set(re.findall(r"\{(\w*)\}", message)) <= {"line", "column", "value"}
        assert "{line}" in message
        message.format(line=3, column="name", value="x")  # renders without KeyError


# (cells, what the one valid row becomes: field -> value)
NORMALISED = [
    ({}, {"roles": frozenset({"staff"}), "superior": None, "telegram_id": None}),
    ({"employee_no": "  Ｅ１２３ "}, {"employee_no": "E123"}),
    ({"employee_no": "E\u200b1"}, {"employee_no": "E1"}),
    ({"name": " 张\u3000 三\n"}, {"name": "张 三"}),
    ({"department": "财务处  "}, {"department": "财务处"}),
    ({"roles": "Admin; FINANCE"}, {"roles": frozenset({"admin", "finance"})}),
    ({"roles": "admin；finance，leader、office"},
     {"roles": frozenset({"admin", "finance", "leader", "office"})}),
    ({"roles": "admin,,;"}, {"roles": frozenset({"admin"})}),
    ({"roles": " ; "}, {"roles": frozenset({"staff"})}),
    ({"telegram_id": "１２３４５６７８９"}, {"telegram_id": 123456789}),
    ({"telegram_id": " 42 "}, {"telegram_id": 42}),
    ({"telegram_id": str(2**53)}, {"telegram_id": 2**53}),
    ({"language": "zh"}, {"language": "zh_CN"}),
    ({"language": "zh-CN"}, {"language": "zh_CN"}),
    ({"language": "ZH_cn"}, {"language": "zh_CN"}),
    ({"language": "中文"}, {"language": "zh_CN"}),
    ({"language": "English"}, {"language": "en"}),
    ({"language": "en"}, {"language": "en"}),
    ({"language": ""}, {"language": None}),
    ({"superior": " "}, {"superior": None}),
]  # fmt: skip


@pytest.mark.parametrize(("cells", "expected"), NORMALISED)
def test_valid_cells_are_normalised(cells: dict[str, str], expected: dict[str, object]) -> None:
    rows, errors = _check(_row(**cells), known_employee_nos={"B0"})
    assert errors == []
    assert [(name, getattr(rows[0], name)) for name in expected] == list(expected.items())


# (cells, the errors of that one line as (column, code, value))
REJECTED = [
    ({"employee_no": ""}, [("employee_no", "required", "")]),
    ({"name": " \t"}, [("name", "required", "")]),
    ({"department": ""}, [("department", "required", "")]),
    ({"employee_no": "", "name": "", "department": ""},
     [("employee_no", "required", ""), ("name", "required", ""),
      ("department", "required", "")]),
    ({"employee_no": "E" * 41}, [("employee_no", "too_long", "E" * 41)]),
    ({"name": "名" * 101}, [("name", "too_long", "名" * 59 + "…")]),
    ({"department": "部" * 101}, [("department", "too_long", "部" * 59 + "…")]),
    ({"employee_no": "E 1"}, [("employee_no", "bad_employee_no", "E 1")]),
    ({"roles": "staff;boss;cto"},
     [("roles", "unknown_role", "boss"), ("roles", "unknown_role", "cto")]),
    ({"telegram_id": "0"}, [("telegram_id", "bad_telegram_id", "0")]),
    ({"telegram_id": "-5"}, [("telegram_id", "bad_telegram_id", "-5")]),
    ({"telegram_id": "1.5"}, [("telegram_id", "bad_telegram_id", "1.5")]),
    ({"telegram_id": "1.23457E+11"}, [("telegram_id", "bad_telegram_id", "1.23457E+11")]),
    ({"telegram_id": "abc"}, [("telegram_id", "bad_telegram_id", "abc")]),
    ({"telegram_id": "٣"}, [("telegram_id", "bad_telegram_id", "٣")]),
    ({"telegram_id": str(2**53 + 1)}, [("telegram_id", "bad_telegram_id", str(2**53 + 1))]),
    ({"telegram_id": "9" * 5000}, [("telegram_id", "bad_telegram_id", "9" * 59 + "…")]),
    ({"language": "fr"}, [("language", "bad_language", "fr")]),
    ({"superior": "E1"}, [("superior", "self_superior", "E1")]),
    ({"superior": "NOBODY"}, [("superior", "unknown_superior", "NOBODY")]),
    ({"name": "", "language": "fr", "telegram_id": "x"},
     [("name", "required", ""), ("telegram_id", "bad_telegram_id", "x"),
      ("language", "bad_language", "fr")]),
]  # fmt: skip


@pytest.mark.parametrize(("cells", "expected"), REJECTED)
def test_invalid_cells_are_errors_on_their_line(
    cells: dict[str, str], expected: list[tuple[str, str, str]]
) -> None:
    rows, errors = _check(_row(**cells))
    assert rows == []
    assert [(e.line, e.column, e.code, e.value) for e in errors] == [
        (2, *error) for error in expected
    ]


def test_duplicates_are_errors_on_the_later_line_only() -> None:
    rows, errors = _check(
        _row(employee_no="E1", telegram_id="7"),
        _row(employee_no="E2", telegram_id="8"),
        _row(employee_no="Ｅ１", telegram_id="9"),
        _row(employee_no="E3", telegram_id="７"),
    )
    assert [r.employee_no for r in rows] == ["E1", "E2"]
    assert [(e.line, e.code, e.value) for e in errors] == [
        (4, "duplicate_employee_no", "E1"),
        (5, "duplicate_telegram_id", "7"),
    ]


def test_superior_may_be_later_in_the_file_or_in_the_directory() -> None:
    rows, errors = _check(
        _row(employee_no="A", superior="B"),
        _row(employee_no="B", superior="BOSS"),
        known_employee_nos={"BOSS"},
    )
    assert errors == []
    assert [(r.employee_no, r.superior) for r in rows] == [("A", "B"), ("B", "BOSS")]


def test_superior_on_a_line_with_errors_strands_its_subordinates() -> None:
    rows, errors = _check(
        _row(employee_no="A", language="klingon"),
        _row(employee_no="B", superior="A"),
        _row(employee_no="C", superior="B"),
        _row(employee_no="D"),
    )
    assert [r.employee_no for r in rows] == ["D"]
    assert _codes(errors) == [
        (2, "language", "bad_language"),
        (3, "superior", "superior_has_errors"),
        (4, "superior", "superior_has_errors"),
    ]


def test_superior_on_an_erroneous_line_is_fine_if_already_in_the_directory() -> None:
    rows, errors = _check(
        _row(employee_no="A", language="klingon"),
        _row(employee_no="B", superior="A"),
        known_employee_nos={"A"},
    )
    assert [r.employee_no for r in rows] == ["B"]
    assert _codes(errors) == [(2, "language", "bad_language")]


def test_a_loop_of_superiors_in_the_file_fails_every_line_on_it() -> None:
    rows, errors = _check(
        _row(employee_no="A", superior="B"),
        _row(employee_no="B", superior="C"),
        _row(employee_no="C", superior="A"),
        _row(employee_no="D", superior="A"),  # hangs off the loop: stranded, not on it
        _row(employee_no="E", superior="F"),
        _row(employee_no="F"),
    )
    assert [r.employee_no for r in rows] == ["E", "F"]
    assert [(e.line, e.code, e.value) for e in errors] == [
        (2, "superior_cycle", "B"),
        (3, "superior_cycle", "C"),
        (4, "superior_cycle", "A"),
        (5, "superior_has_errors", "A"),
    ]


def test_a_loop_closed_by_the_stored_org_chart_is_an_error() -> None:
    # Stored: B reports to A. The file makes A report to B.
    rows, errors = _check(
        _row(employee_no="A", superior="B"),
        known_superiors={"B": "A"},
    )
    assert rows == []
    assert _codes(errors) == [(2, "superior", "superior_cycle")]
    # ...unless the same file also moves B elsewhere.
    rows, errors = _check(
        _row(employee_no="A", superior="B"),
        _row(employee_no="B", superior="C"),
        _row(employee_no="C"),
        known_superiors={"B": "A"},
    )
    assert errors == []


def test_a_stored_superior_reappears_when_its_row_is_left_out() -> None:
    # B's line fails, so B keeps reporting to A; A's line would close the loop.
    rows, errors = _check(
        _row(employee_no="A", superior="B"),
        _row(employee_no="B", superior="C", language="??"),
        known_superiors={"B": "A"},
    )
    assert rows == []
    assert _codes(errors) == [(2, "superior", "superior_cycle"), (3, "language", "bad_language")]


def test_telegram_ids_bound_in_the_directory() -> None:
    known = {"known_telegram_ids": {100: "E1", 200: "E9"}}
    rows, errors = _check(
        _row(employee_no="E1", telegram_id="100"),  # already theirs: fine
        _row(employee_no="E2", telegram_id="200"),  # someone else's
        _row(employee_no="E9", telegram_id="300"),  # E9 is bound to 200 already
        _row(employee_no="E3", telegram_id=""),
        **known,
    )
    assert [r.employee_no for r in rows] == ["E1", "E3"]
    assert [(e.line, e.code, e.value) for e in errors] == [
        (3, "telegram_id_taken", "200"),
        (4, "telegram_id_changes", "300"),
    ]


def test_errors_come_sorted_by_line_then_column_order() -> None:
    _, errors = _check(
        _row(employee_no="X", language="?", name=""),
        _row(employee_no="", roles="boss"),
    )
    assert _codes(errors) == [
        (2, "name", "required"),
        (2, "language", "bad_language"),
        (3, "employee_no", "required"),
        (3, "roles", "unknown_role"),
    ]


# --- reading files ---------------------------------------------------------------------------

HEADER = "employee_no,name,department,roles,superior,telegram_id,language"


def test_csv_utf8_rows_are_numbered_as_the_user_sees_them() -> None:
    text = f"{HEADER}\nE1,张三,办公室,admin,,123,zh\n\n,,,,,,\nE2,李四,财务处,,E1,,\n"
    rows = read_staff_file(text.encode(), "staff.csv")
    assert rows == [
        (2, {"employee_no": "E1", "name": "张三", "department": "办公室", "roles": "admin",
             "superior": "", "telegram_id": "123", "language": "zh"}),
        (5, {"employee_no": "E2", "name": "李四", "department": "财务处", "roles": "",
             "superior": "E1", "telegram_id": "", "language": ""}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
        lambda t: t.encode("utf-8"),
        lambda t: t.encode("gbk"),
        lambda t: t.encode("gb18030"),
        lambda t: t.encode("utf-16"),
    ],
    ids=["utf8-bom", "utf8", "gbk", "gb18030", "utf16"],
)
def test_csv_encodings_chinese_excel_produces(encode: object) -> None:
    text = "工号,姓名,部门,角色,上级工号\r\nE1,张三,财务处,finance,\r\nE2,王五,财务处,,E1\r\n"
    rows = read_staff_file(encode(text), "名单.CSV")  # type: ignore[operator]
    assert [(line, r["name"], r["department"], r["superior"]) for line, r in rows] == [
        (2, "张三", "财务处", ""),
        (3, "王五", "财务处", "E1"),
    ]
    assert set(rows[0][1]) == {"employee_no", "name", "department", "roles", "superior"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiter_is_sniffed(delimiter: str) -> None:
    text = delimiter.join(["employee_no", "name", "department"]) + "\n"
    text += delimiter.join(["E1", '"Smith, John"', "Office"]) + "\n"
    rows = read_staff_file(text.encode(), "s.csv")
    assert rows == [(2, {"employee_no": "E1", "name": "Smith, John", "department": "Office"})]


def test_csv_excel_sep_hint_and_multiline_cells() -> None:
    text = 'sep=;\nemployee_no;name;department\nE1;"two\nlines";D\nE2;x;D\n'
    rows = read_staff_file(text.encode(), "s.csv")
    assert [(line, r["employee_no"]) for line, r in rows] == [(3, "E1"), (5, "E2")]


@pytest.mark.parametrize(
    "header",
    [
        "Employee_No , NAME,  Department ,Telegram ID,Language",
        "工号,姓名,部门,telegram_id,语言",
        "employee no,name,department,TelegramID,language",
        "\ufeffemployee_no,name,department,telegram-id,language",
    ],
)
def test_header_names_are_matched_loosely(header: str) -> None:
    rows = read_staff_file(f"{header}\nE1,N,D,5,en\n".encode(), "s.csv")
    assert rows[0][1] == {
        "employee_no": "E1", "name": "N", "department": "D", "telegram_id": "5", "language": "en"
    }  # fmt: skip


def test_missing_columns_are_named_from_the_likeliest_header() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_staff_file("花名册\n工号,姓名,备注\nE1,张三,x\n".encode(), "s.csv")
    assert caught.value.reason == "missing_columns:department"


def test_a_bytearray_download_is_accepted() -> None:
    data = bytearray(b"employee_no,name,department\nE1,N,D\n")
    assert read_staff_file(data, "s.csv") == [
        (2, {"employee_no": "E1", "name": "N", "department": "D"})
    ]


def test_title_rows_above_the_header_are_skipped() -> None:
    text = "2026年职工花名册,,\n,,\n工号,姓名,部门,备注\nE1,张三,办公室,随便\n"
    assert read_staff_file(text.encode(), "s.csv") == [
        (4, {"employee_no": "E1", "name": "张三", "department": "办公室"})
    ]


def test_short_rows_are_padded_and_unknown_columns_ignored() -> None:
    rows = read_staff_file(b"employee_no,name,department,notes,roles\nE1,N\n", "s.csv")
    assert rows == [(2, {"employee_no": "E1", "name": "N", "department": "", "roles": ""})]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"employee_no,name\nE1,N\n", "missing_columns:department"),
        (b"roles,superior\nadmin,\n", "missing_columns:employee_no,name,department"),
        (b"", "missing_columns:employee_no,name,department"),
        (b"employee_no,name,department,\xe5\xa7\x93\xe5\x90\x8d\n", "duplicate_columns:name"),
    ],
)
def test_file_level_problems(data: bytes, reason: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(data, "s.csv")
    assert caught.value.reason == reason


@pytest.mark.parametrize("filename", ["s.xls", "s.txt", "staff", "s.csv.exe"])
def test_other_formats_are_refused(filename: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(b"employee_no,name,department\n", filename)
    assert caught.value.reason == "unsupported_format"


def test_limits() -> None:
    big = b"employee_no,name,department\n" + b"x" * importing.MAX_BYTES
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(big, "s.csv")
    assert caught.value.reason == "too_large"
    rows = "".join(f"E{i},N,D\n" for i in range(importing.MAX_ROWS))
    assert len(read_staff_file(f"employee_no,name,department\n{rows}".encode(), "s.csv")) == (
        importing.MAX_ROWS
    )
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(f"employee_no,name,department\n{rows}E,N,D\n".encode(), "s.csv")
    assert caught.value.reason == "too_large"


def test_reads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes(b"employee_no,name,department\nE1,N,D\n")
    assert read_staff_file(path, "staff.csv") == [
        (2, {"employee_no": "E1", "name": "N", "department": "D"})
    ]
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(tmp_path / "missing.csv", "missing.csv")
    assert caught.value.reason == "unreadable"


def _xlsx(
    rows: list[list[object]], *, first_sheet: str = "名单", extra_sheet: bool = True
) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = first_sheet
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    if extra_sheet:
        wb.create_sheet("其他").append(["employee_no", "name", "department"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_xlsx_first_sheet_numbers_and_blank_rows() -> None:
    data = _xlsx(
        [
            ["工号", "姓名", "部门", "Telegram ID", "角色"],
            [1001, "张三", "办公室", 123456789.0, "admin;staff"],
            [None, None, None, None, None],
            [None, None, None, None, None],
            ["E2", "李四", "财务处", 987654321, None],
            [1003.5, "王五", True, None, None],
        ]
    )
    rows = read_staff_file(data, "staff.xlsx")
    assert rows == [
        (2, {"employee_no": "1001", "name": "张三", "department": "办公室",
             "telegram_id": "123456789", "roles": "admin;staff"}),
        (5, {"employee_no": "E2", "name": "李四", "department": "财务处",
             "telegram_id": "987654321", "roles": ""}),
        (6, {"employee_no": "1003.5", "name": "王五", "department": "TRUE",
             "telegram_id": "", "roles": ""}),
    ]  # fmt: skip


def test_xlsx_missing_columns() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(_xlsx([["工号", "姓名"], ["E1", "N"]]), "s.xlsx")
    assert caught.value.reason == "missing_columns:department"


def test_xlsx_read_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "s.xlsx"
    path.write_bytes(_xlsx([["employee_no", "name", "department"], ["E1", "N", "D"]]))
    assert read_staff_file(str(path), "s.XLSX") == [
        (2, {"employee_no": "E1", "name": "N", "department": "D"})
    ]


GOOD_XLSX = _xlsx([["employee_no", "name", "department"], ["E1", "N", "D"]])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a zip at all",
        GOOD_XLSX[: len(GOOD_XLSX) // 2],
        GOOD_XLSX[:-30],
        b"PK\x03\x04" + b"\x00" * 100,
    ],
    ids=["empty", "text", "half", "no-central-directory", "zip-header-only"],
)
def test_damaged_xlsx_is_unreadable(data: bytes) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(data, "s.xlsx")
    assert caught.value.reason == "unreadable"


def test_a_zip_that_is_not_a_workbook_is_unreadable() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(buffer.getvalue(), "s.xlsx")
    assert caught.value.reason == "unreadable"


def test_a_zip_bomb_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheet, "MAX_UNZIPPED_BYTES", 1000)
    with pytest.raises(ImportFileError) as caught:
        read_staff_file(GOOD_XLSX, "s.xlsx")
    assert caught.value.reason == "too_large"


def _read_or_refuse(data: bytes, filename: str) -> None:
    try:
        rows = read_staff_file(data, filename)
    except ImportFileError:
        return
    for line, cells in rows:
        assert line >= 2
        assert all(isinstance(v, str) for v in cells.values())


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_fuzz_arbitrary_bytes(data: bytes, suffix: str) -> None:
    _read_or_refuse(data, "f" + suffix)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from('ab,;\t"\n\r 工号姓名部门\x00'), max_size=300))
def test_fuzz_csv_like_text(text: str) -> None:
    _read_or_refuse(("工号,姓名,部门\n" + text).encode("utf-8"), "f.csv")
    _read_or_refuse(("工号,姓名,部门\n" + text).encode("gb18030"), "f.csv")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    position=st.integers(min_value=0, max_value=len(GOOD_XLSX) - 1),
    byte=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0, max_value=len(GOOD_XLSX)),
)
def test_fuzz_damaged_workbook(position: int, byte: int, cut: int) -> None:
    mutated = bytearray(GOOD_XLSX)
    mutated[position] = byte
    _read_or_refuse(bytes(mutated), "f.xlsx")
    _read_or_refuse(GOOD_XLSX[:cut], "f.xlsx")


@settings(max_examples=200, deadline=None)
@given(
    cells=st.dictionaries(
        st.sampled_from([*COLUMNS, "other"]),
        st.text(max_size=50),
    )
)
def test_fuzz_validate_never_raises_and_accounts_for_every_line(cells: dict[str, str]) -> None:
    raw = [(2, cells), (3, dict(cells)), (4, {**cells, "employee_no": "X"})]
    rows, errors = validate_rows(raw)
    failed = {e.line for e in errors}
    assert {r.line for r in rows}.isdisjoint(failed)
    assert {r.line for r in rows} | failed == {2, 3, 4}
    assert all(e.code in ERROR_MESSAGES for e in errors)
