"""Reading a staff file (CSV or XLSX) into numbered rows of named cells; no checking here.

The file handling (encodings, delimiters, title rows, limits, zip bombs) is
``bot.spreadsheet``'s; this module says which headers name which staff column. Checking the
cells is ``domain.validate_rows``'s job. This is synchronous, CPU-bound work: from the event
loop, call it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import os

from bot.people.domain import COLUMNS, REQUIRED_COLUMNS
from bot.spreadsheet import MAX_BYTES, MAX_ROWS, Rows, TableSpec, read_table

__all__ = [
    "HEADER_ALIASES",
    "MAX_BYTES",
    "MAX_ROWS",
    "STAFF_TABLE",
    "column_for",
    "read_staff_file",
]

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
STAFF_TABLE = TableSpec(columns=COLUMNS, required=REQUIRED_COLUMNS, aliases=HEADER_ALIASES)


def column_for(header: str) -> str | None:
    """Our column name for a header cell, or None for a column we do not read."""
    return STAFF_TABLE.column_for(header)


def read_staff_file(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray, filename: str
) -> Rows:
    """The data rows of a staff file as (line the user sees, {column: cell text})."""
    return read_table(path_or_bytes, filename, STAFF_TABLE)
