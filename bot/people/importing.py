"""Reading a staff file (CSV or XLSX) into numbered rows of named cells; no checking here.

Everything that can go wrong with the file as a whole ends in ImportFileError, whose reason
is one of ``unsupported_format``, ``too_large``, ``unreadable``,
``missing_columns:<columns>`` or ``duplicate_columns:<columns>``. Checking the cells is
``domain.validate_rows``'s job. This is synchronous, CPU-bound work: from the event loop,
call it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bot.errors import ImportFileError
from bot.people.domain import COLUMNS, REQUIRED_COLUMNS, clean

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
# A 10 MB xlsx can inflate to gigabytes of XML (a zip bomb); honest ones stay far below.
MAX_UNZIPPED_BYTES = 300 * 1024 * 1024
# Government spreadsheets often carry a title row or two ("2026年职工花名册") above the header.
HEADER_SEARCH_ROWS = 10
_DELIMITERS = (",", ";", "\t")

Rows = list[tuple[int, dict[str, str]]]

# Header text after clean() and casefold(), with spaces and hyphens as underscores.
HEADER_ALIASES: dict[str, str] = {
    **{column: column for column in COLUMNS},
    "工号": "employee_no",
    "员工编号": "employee_no",
    "职工编号": "employee_no",
    "姓名": "name",
    "部门": "department",
    "角色": "roles",
    "上级": "superior",
    "上级工号": "superior",
    "telegramid": "telegram_id",
    "语言": "language",
}


def column_for(header: str) -> str | None:
    """Our column name for a header cell, or None for a column we do not read."""
    key = "_".join(clean(header).casefold().replace("-", " ").split())
    return HEADER_ALIASES.get(key)


def read_staff_file(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray, filename: str
) -> Rows:
    """The data rows of a staff file as (line the user sees, {column: cell text})."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError("unsupported_format")
    data = _load(path_or_bytes)
    if suffix == ".csv":
        return _rows(_csv_lines(data))
    return _read_xlsx(data)


def _load(path_or_bytes: str | os.PathLike[str] | bytes | bytearray) -> bytes:
    if isinstance(path_or_bytes, bytes | bytearray):  # PTB downloads into a bytearray
        data = bytes(path_or_bytes)
    else:
        try:
            with open(path_or_bytes, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)  # no need to read a huge file to refuse it
        except OSError as exc:
            raise ImportFileError("unreadable") from exc
    if len(data) > MAX_BYTES:
        raise ImportFileError("too_large")
    return data


def _rows(lines: Iterable[tuple[int, Sequence[str]]]) -> Rows:
    """Find the header, then map every non-empty line below it to named cells."""
    numbered = iter(lines)
    columns = _find_header(numbered)
    rows: Rows = []
    for line, cells in numbered:
        if not any(cell.strip() for cell in cells):
            continue  # skipped, but the next line keeps its own number
        if len(rows) == MAX_ROWS:
            raise ImportFileError("too_large")
        rows.append(
            (line, {name: cells[i] if i < len(cells) else "" for i, name in columns.items()})
        )
    return rows


def _find_header(numbered: Iterator[tuple[int, Sequence[str]]]) -> dict[int, str]:
    """Consume lines up to the header and return {cell index: our column}."""
    best: dict[int, str] = {}  # the likeliest header, to name what it lacks
    seen = 0
    for _line, cells in numbered:
        if not any(cell.strip() for cell in cells):
            continue
        columns: dict[int, str] = {}
        duplicates: list[str] = []
        for i, cell in enumerate(cells):
            name = column_for(cell)
            if name is None:
                continue
            if name in columns.values():
                duplicates.append(name)
            else:
                columns[i] = name
        if all(c in columns.values() for c in REQUIRED_COLUMNS):
            if duplicates:  # two "姓名" columns: which one is meant cannot be guessed
                raise ImportFileError("duplicate_columns:" + ",".join(sorted(set(duplicates))))
            return columns
        if len(columns) > len(best):
            best = columns
        seen += 1
        if seen == HEADER_SEARCH_ROWS:
            break
    found = set(best.values())
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    raise ImportFileError("missing_columns:" + ",".join(missing))


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")  # Excel's "Unicode text" export
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Chinese Excel saves "CSV (逗号分隔)" in the ANSI code page, GBK; GB18030 reads it all.
        return data.decode("gb18030")


def _sniff_delimiter(text: str) -> str:
    """The delimiter seen most often in the first lines (csv.Sniffer guesses letters too)."""
    sample = "\n".join(text.splitlines()[:20])
    counts = {d: sample.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties go to the first, ","
    return best if counts[best] else ","


def _csv_lines(data: bytes) -> Iterator[tuple[int, Sequence[str]]]:
    try:
        text = _decode(data)
    except (UnicodeDecodeError, UnicodeError) as exc:
        raise ImportFileError("unreadable") from exc
    first_line_end = text.find("\n")
    first_line = text[: first_line_end if first_line_end >= 0 else len(text)].strip()
    skip = 0
    if first_line.lower().startswith("sep=") and len(first_line) == 5:
        delimiter, skip = first_line[4], 1  # Excel's "sep=;" hint line
    else:
        delimiter = _sniff_delimiter(text)
    return _csv_records(text, delimiter, skip)


def _csv_records(text: str, delimiter: str, skip: int) -> Iterator[tuple[int, Sequence[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for _ in range(skip):
            next(reader, None)
        previous_end = reader.line_num
        for cells in reader:
            # A quoted cell may span lines; the user looks for where the record starts.
            yield previous_end + 1, cells
            previous_end = reader.line_num
    except csv.Error as exc:
        raise ImportFileError("unreadable") from exc


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores every number as a float: 123456789.0
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes) -> Rows:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise ImportFileError("too_large")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise ImportFileError("missing_columns:" + ",".join(REQUIRED_COLUMNS))
            sheet = workbook.worksheets[0]
            # Some writers store a wrong <dimension>, which would cut rows off in read-only mode.
            sheet.reset_dimensions()
            lines = (
                (line, [_cell_text(v) for v in values])
                for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            )
            return _rows(lines)
        finally:
            workbook.close()
    except ImportFileError:
        raise
    except Exception as exc:
        # A damaged workbook surfaces as any of zipfile, XML, KeyError, ValueError, TypeError...
        # from deep inside openpyxl; to the user they all mean the same thing.
        raise ImportFileError("unreadable") from exc
