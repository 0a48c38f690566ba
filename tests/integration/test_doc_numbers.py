"""发文字号 allocation: per prefix and year, from 1, no gaps, no duplicates, even racing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bot.approvals.numbering_service import DocNumberService
from bot.runtime import Runtime
from storage.db import Database

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


async def _warm_pool(db: Database, n: int) -> None:
    """Open n pooled connections first, so racing tasks start together, not a connect apart."""

    async def hold() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(hold() for _ in range(n if db.dialect == "postgresql" else 1)))


async def _assign(
    runtime: Runtime, prefix: str, now: datetime = NOW, *, commit: bool = True
) -> str:
    service = DocNumberService(runtime)
    async with runtime.detached_uow() as uow:
        number = await service.assign(uow, prefix=prefix, now=now)
        if commit:
            await uow.commit()
    return number


async def _allocate(runtime: Runtime, *, commit: bool) -> int:
    async with runtime.detached_uow() as uow:
        n = await uow.numbers.allocate("市政办", 2026, now=NOW)
        if commit:
            await uow.commit()
    return n


async def test_numbers_count_from_one_per_prefix_and_year(runtime: Runtime) -> None:
    assert [await _assign(runtime, "市政办") for _ in range(3)] == [
        "市政办〔2026〕1号",
        "市政办〔2026〕2号",
        "市政办〔2026〕3号",
    ]
    assert await _assign(runtime, "市政函") == "市政函〔2026〕1号"  # another prefix: its own count
    assert await _assign(runtime, "市政办") == "市政办〔2026〕4号"
    # 2026-12-31 16:00 UTC is already 2027 in Shanghai: a new year starts at 1.
    new_year = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert await _assign(runtime, "市政办", new_year) == "市政办〔2027〕1号"
    assert await _assign(runtime, "市政办", datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == (
        "市政办〔2026〕5号"
    )
    service = DocNumberService(runtime)
    assert await service.peek("市政办", 2026) == 5
    assert await service.peek("市政办", 2027) == 1
    assert await service.peek("市政函", 2026) == 1
    assert await service.peek("未用过", 2026) == 0


async def test_a_rolled_back_unit_of_work_consumes_no_number(runtime: Runtime) -> None:
    assert await _assign(runtime, "市政办") == "市政办〔2026〕1号"
    # The request is returned before the write commits: the number goes back.
    assert await _assign(runtime, "市政办", commit=False) == "市政办〔2026〕2号"
    assert await DocNumberService(runtime).peek("市政办", 2026) == 1
    assert await _assign(runtime, "市政办") == "市政办〔2026〕2号"
    # Even the very first allocation (which inserts the counter row) rolls back cleanly.
    assert await _assign(runtime, "新代字", commit=False) == "新代字〔2026〕1号"
    assert await _assign(runtime, "新代字") == "新代字〔2026〕1号"


async def test_a_bad_prefix_takes_no_number(runtime: Runtime) -> None:
    service = DocNumberService(runtime)
    async with runtime.detached_uow() as uow:
        with pytest.raises(ValueError):
            await service.assign(uow, prefix="市〔政", now=NOW)
    assert await service.peek("市〔政", 2026) == 0


async def test_200_concurrent_allocations_give_exactly_1_to_200(
    db: Database, runtime: Runtime
) -> None:
    await _warm_pool(db, 20)
    started = time.perf_counter()
    taken = await asyncio.gather(*(_allocate(runtime, commit=True) for _ in range(200)))
    elapsed = time.perf_counter() - started
    print(f"\n200 concurrent allocations on {db.dialect}: {elapsed:.3f}s")
    assert sorted(taken) == list(range(1, 201))  # no gap, no duplicate
    assert await DocNumberService(runtime).peek("市政办", 2026) == 200


async def test_rolled_back_allocations_among_concurrent_ones_leave_no_gap(
    db: Database, runtime: Runtime
) -> None:
    await _warm_pool(db, 20)
    commits = [i % 5 != 4 for i in range(50)]  # every 5th task rolls back
    taken = await asyncio.gather(*(_allocate(runtime, commit=c) for c in commits))
    committed = [n for n, c in zip(taken, commits, strict=True) if c]
    assert sorted(committed) == list(range(1, 41))
    assert await DocNumberService(runtime).peek("市政办", 2026) == 40


async def test_1000_concurrent_submissions_get_unique_consecutive_request_numbers(
    runtime: Runtime, db: Database
) -> None:
    """Reference §4 item 14: request numbers are per template and day, consecutive, unique."""
    from bot.approvals.numbering_service import assign_request_number

    await _warm_pool(db, 20)

    async def submit() -> str:
        async with runtime.detached_uow() as uow:
            number = await assign_request_number(uow, "QJ", NOW)
            await uow.commit()
        return number

    numbers = await asyncio.gather(*(submit() for _ in range(1000)))
    assert sorted(numbers) == [f"QJ-20260601-{n:04d}" for n in range(1, 1001)]
    # The next day starts again at 1.
    async with runtime.detached_uow() as uow:
        tomorrow = await assign_request_number(uow, "QJ", NOW.replace(day=2))
    assert tomorrow == "QJ-20260602-0001"
