"""Importing a large staff file: parse time and import time, first run and re-run.

python -m bench.staff_import [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from openpyxl import Workbook

from bot.audit import AuditService
from bot.clock import system_clock
from bot.people.domain import COLUMNS
from bot.people.import_service import StaffImportService
from bot.people.importing import read_staff_file
from bot.runtime import Runtime
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database

DEPARTMENTS = ("办公室", "财务科", "信息中心", "政务服务科", "城市建设科", "人事科")


def _write_xlsx(path: Path, rows: int) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(COLUMNS))
    for i in range(rows):
        superior = "" if i < 10 else f"S{i // 10:06d}"
        sheet.append(
            [
                f"S{i:06d}",
                f"员工{i}",
                DEPARTMENTS[i % len(DEPARTMENTS)],
                "staff" if i % 7 else "staff;dept_head",
                superior,
                "",
                "",
            ]
        )
    book.save(path)


async def run(rows: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govbot-import-"))
    path = tmp / "staff.xlsx"
    _write_xlsx(path, rows)
    keys = KeyRing(os.urandom(32))
    install_key_ring(keys)
    db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
    await db.upgrade()
    rt = Runtime(db, keys, system_clock)
    importer = StaffImportService(rt)
    started = time.perf_counter()
    parsed = read_staff_file(path, path.name)
    parse_s = time.perf_counter() - started
    timings = []
    for label in ("first import", "re-import (unchanged)"):
        started = time.perf_counter()
        report = await importer.import_staff(parsed, actor_id=None, partial=False)
        timings.append((label, time.perf_counter() - started, report))
    verified = await AuditService(rt).verify()
    await db.dispose()
    print(f"staff import: {rows} rows, XLSX {path.stat().st_size // 1024} KB, SQLite")
    print(f"  parse XLSX           {parse_s:6.2f} s")
    for label, seconds, report in timings:
        print(
            f"  {label:<21}{seconds:6.2f} s  (created {report.created}, updated "
            f"{report.updated}, unchanged {report.unchanged}, errors {len(report.errors)})"
        )
    print(
        f"  audit chain          {'intact' if verified.ok else 'BROKEN'}, "
        f"{verified.checked} entries"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    asyncio.run(run(parser.parse_args().rows))


if __name__ == "__main__":
    main()
