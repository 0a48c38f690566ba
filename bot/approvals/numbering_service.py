"""Assigning 发文字号 after 签发, inside the caller's unit of work."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.approvals.numbering import format_doc_number
from bot.runtime import Runtime
from storage.uow import UnitOfWork

OFFICE_TZ = ZoneInfo("Asia/Shanghai")


async def assign_request_number(uow: UnitOfWork, prefix: str, now: datetime) -> str:
    """``BX-20261201-0007``: per template prefix and office-local day, gap-free like 发文字号.

    Taken in the caller's transaction, so a submission that rolls back gives its number back.
    """
    local = now.astimezone(OFFICE_TZ)
    day = local.strftime("%Y%m%d")
    n = await uow.numbers.allocate(f"req:{prefix}:{day}", local.year, now=now)
    return f"{prefix}-{day}-{n:04d}"


class DocNumberService:
    """Numbers are per 机关代字 and office-local year; the caller's commit makes one final."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def assign(self, uow: UnitOfWork, *, prefix: str, now: datetime) -> str:
        """Take the next number for ``prefix`` in ``now``'s year (Asia/Shanghai) in ``uow``.

        The caller commits; if its unit of work rolls back the number is not consumed.
        """
        year = now.astimezone(OFFICE_TZ).year
        format_doc_number(prefix, year, 1)  # a bad prefix fails before any number is taken
        n = await uow.numbers.allocate(prefix, year, now=now)
        return format_doc_number(prefix, year, n)

    async def peek(self, prefix: str, year: int) -> int:
        """The last number taken for ``prefix`` in ``year`` (0: none yet)."""
        async with self._runtime.detached_uow() as uow:
            return await uow.numbers.current(prefix, year)
