"""Spreadsheets in and out: CSV (UTF-8, UTF-16 or GBK; any of , ; tab) and XLSX.

Reading gives numbered rows of named cells: ``TableSpec`` says which header texts name which
column and which columns must be there. Everything that can go wrong with the file as a whole
ends in ImportFileError, whose reason is one of ``unsupported_format``, ``too_large``,
``unreadable``, ``missing_columns:<columns>`` or ``duplicate_columns:<columns>``; checking
the cells is the caller's job. Writing makes what Excel opens well: CSV in UTF-8 with a BOM,
XLSX with a bold frozen header and measured column widths, and no cell that turns into a
formula. This is synchronous, CPU-bound work: from the event loop, use ``asyncio.to_thread``.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from openpyxl import load_workbook

from bot.errors import ImportFileError
from bot.text import clean

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
# A 10 MB xlsx can inflate to gigabytes of XML (a zip bomb); honest ones stay far below.
MAX_UNZIPPED_BYTES = 300 * 1024 * 1024
# Government spreadsheets often carry a title row or two ("2026年职工花名册") above the header.
HEADER_SEARCH_ROWS = 10
_DELIMITERS = (",", ";", "\t")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Rows = list[tuple[int, dict[str, str]]]
T = TypeVar("T")


@dataclass(frozen=True)
class TableSpec:
    """Which header texts name which of our columns, and which columns a file must have.

    ``aliases`` maps a header (after ``clean``, casefold, spaces and hyphens as underscores)
    to our column name; every column name is its own alias.
    """

    columns: tuple[str, ...]
    required: tuple[str, ...]
    aliases: Mapping[str, str]
    max_rows: int = MAX_ROWS
    max_bytes: int = MAX_BYTES

    def column_for(self, header: str) -> str | None:
        """Our column name for a header cell, or None for a column we do not read."""
        key = "_".join(clean(header).casefold().replace("-", " ").split())
        if key in self.columns:
            return key
        return self.aliases.get(key)


def read_table(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray, filename: str, spec: TableSpec
) -> Rows:
    """The data rows of a CSV or XLSX file as (line the user sees, {column: cell text})."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError("unsupported_format")
    data = _load(path_or_bytes, spec.max_bytes)
    if suffix == ".csv":
        return _rows(_csv_lines(data), spec)
    return _read_xlsx(data, spec)


def _load(path_or_bytes: str | os.PathLike[str] | bytes | bytearray, max_bytes: int) -> bytes:
    if isinstance(path_or_bytes, bytes | bytearray):  # PTB downloads into a bytearray
        data = bytes(path_or_bytes)
    else:
        try:
            with open(path_or_bytes, "rb") as fh:
                data = fh.read(max_bytes + 1)  # no need to read a huge file to refuse it
        except OSError as exc:
            raise ImportFileError("unreadable") from exc
    if len(data) > max_bytes:
        raise ImportFileError("too_large")
    return data


def _rows(lines: Iterable[tuple[int, Sequence[str]]], spec: TableSpec) -> Rows:
    """Find the header, then map every non-empty line below it to named cells."""
    numbered = iter(lines)
    columns = _find_header(numbered, spec)
    rows: Rows = []
    for line, cells in numbered:
        if not any(cell.strip() for cell in cells):
            continue  # skipped, but the next line keeps its own number
        if len(rows) == spec.max_rows:
            raise ImportFileError("too_large")
        rows.append(
            (line, {name: cells[i] if i < len(cells) else "" for i, name in columns.items()})
        )
    return rows


def _find_header(numbered: Iterator[tuple[int, Sequence[str]]], spec: TableSpec) -> dict[int, str]:
    """Consume lines up to the header and return {cell index: our column}."""
    best: dict[int, str] = {}  # the likeliest header, to name what it lacks
    seen = 0
    for _line, cells in numbered:
        if not any(cell.strip() for cell in cells):
            continue
        columns: dict[int, str] = {}
        duplicates: list[str] = []
        for i, cell in enumerate(cells):
            name = spec.column_for(cell)
            if name is None:
                continue
            if name in columns.values():
                duplicates.append(name)
            else:
                columns[i] = name
        if all(c in columns.values() for c in spec.required):
            if duplicates:  # two "姓名" columns: which one is meant cannot be guessed
                raise ImportFileError("duplicate_columns:" + ",".join(sorted(set(duplicates))))
            return columns
        if len(columns) > len(best):
            best = columns
        seen += 1
        if seen == HEADER_SEARCH_ROWS:
            break
    found = set(best.values())
    missing = [c for c in spec.required if c not in found]
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


def _read_xlsx(data: bytes, spec: TableSpec) -> Rows:
    return _with_xlsx_lines(data, lambda lines: _rows(lines, spec))


def _with_xlsx_lines(
    data: bytes, consume: Callable[[Iterator[tuple[int, Sequence[str]]]], T]
) -> T:
    """Open a workbook and hand the numbered lines of its first sheet to ``consume``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise ImportFileError("too_large")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                return consume(iter(()))
            sheet = workbook.worksheets[0]
            # Some writers store a wrong <dimension>, which would cut rows off in read-only mode.
            sheet.reset_dimensions()
            lines = (
                (line, [_cell_text(v) for v in values])
                for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            )
            return consume(lines)
        finally:
            workbook.close()
    except ImportFileError:
        raise
    except Exception as exc:
        # A damaged workbook surfaces as any of zipfile, XML, KeyError, ValueError, TypeError...
        # from deep inside openpyxl; to the user they all mean the same thing.
        raise ImportFileError("unreadable") from exc


def read_grid(
    data: bytes | bytearray,
    filename: str,
    *,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
) -> list[tuple[int, list[str]]]:
    """Every non-blank line of a CSV or XLSX file without a header row, as (line, cells):
    for lists such as a glossary, where each row is a group and has no named columns."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError("unsupported_format")
    loaded = _load(data, max_bytes)

    def grid(lines: Iterator[tuple[int, Sequence[str]]]) -> list[tuple[int, list[str]]]:
        found: list[tuple[int, list[str]]] = []
        for line, cells in lines:
            if not any(cell.strip() for cell in cells):
                continue
            if len(found) == max_rows:
                raise ImportFileError("too_large")
            found.append((line, list(cells)))
        return found

    if suffix == ".csv":
        return grid(iter(_csv_lines(loaded)))
    return _with_xlsx_lines(loaded, grid)


# --- writing ---------------------------------------------------------------------------------


def safe_cell(text: str) -> str:
    """Text that a spreadsheet shows as text: a formula-like start gets a leading ``'``."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def unsafe_cell(text: str) -> str:
    """Undo ``safe_cell`` on a cell read back (so an export imports as it was)."""
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """CSV for Excel: UTF-8 with a BOM (so it reads the Chinese right), CRLF line ends.

    Cells are written as given: pass them through ``safe_cell`` where a formula could start.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def display_width(text: str) -> int:
    """Display width: a CJK character takes two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def xlsx_bytes(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, title: str, max_width: int = 60
) -> bytes:
    """An XLSX workbook: a bold, frozen header row, dates as dates, text always as text.

    ``date`` and naive ``datetime`` values become date cells (Excel has no time zones: pass the
    office's wall-clock time); everything else is written as a string cell, even one that starts
    with "=". Written in openpyxl's streaming mode (about three times faster for 5,000 rows), so
    the column widths are measured before the first row goes out.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    widths = [display_width(h) for h in header]
    table: list[list[object]] = []
    for row in rows:
        cells: list[object] = []
        for i, value in enumerate(row):
            if i >= len(widths):
                widths.append(0)
            if isinstance(value, datetime):
                cells.append(value.replace(microsecond=0))
                widths[i] = max(widths[i], 16)
            elif isinstance(value, date):
                cells.append(value)
                widths[i] = max(widths[i], 10)
            else:
                text = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))
                cells.append(text)
                longest = max((display_width(part) for part in text.split("\n")), default=0)
                widths[i] = max(widths[i], longest)
        table.append(cells)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), max_width)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for cells in table:
        out: list[object] = []
        for value in cells:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            else:
                cell.data_type = "s"  # never a formula, whatever the text starts with
            out.append(cell)
        sheet.append(out)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
