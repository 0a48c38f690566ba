"""An administrator's staff-directory work from the chat: upload a file, import, partial."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot import access
from bot.errors import ImportFileError, PermissionDeniedError
from bot.people.import_service import ImportReport, StaffImportService
from bot.people.importing import read_staff_file
from bot.runtime import Runtime
from storage.tables.messaging import PRIORITY_INTERACTIVE
from storage.tables.runtime import FlowState
from storage.uow import UnitOfWork

IMPORT_FLOW = "staff_import"
MAX_REPORTED_ERRORS = 20  # a chat message has 4096 characters; the rest is counted


@dataclass(frozen=True)
class PendingUpload:
    """A file whose import stopped on errors, waiting for "import the valid rows"."""

    file_id: str
    filename: str
    version: int


class StaffAdminService:
    """Uploads of the staff file by an administrator."""

    def __init__(self, rt: Runtime, importer: StaffImportService, *, default_locale: str) -> None:
        self._rt = rt
        self._importer = importer
        self._default_locale = default_locale

    async def check_may_import(self, tg_id: int) -> None:
        """Refuse before downloading anything if this user may not import staff."""
        async with self._rt.uow() as uow:
            await access.authorize(uow, tg_id, "staff.import", default_locale=self._default_locale)

    async def import_upload(
        self,
        *,
        tg_id: int,
        chat_id: int,
        filename: str,
        data: bytes,
        file_id: str,
        partial: bool,
    ) -> None:
        """Read the file, import it (all or nothing unless partial), report in the chat."""
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "staff.import", default_locale=self._default_locale
            )
        try:
            # Parsing 20,000 rows takes seconds of CPU: not on the event loop.
            rows = await asyncio.to_thread(read_staff_file, data, filename)
        except ImportFileError as exc:
            async with self._rt.uow() as uow:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="staff.import_file_error",
                    staff_id=actor.staff_id,
                    now=self._rt.clock(),
                    facts={"reason": exc.reason, "filename": filename},
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
            return

        async def report_in_chat(uow: UnitOfWork, report: ImportReport) -> None:
            now = self._rt.clock()
            offer_partial = bool(report.errors) and not report.written
            if offer_partial:
                flow = await uow.flows.put(
                    tg_id,
                    chat_id,
                    flow=IMPORT_FLOW,
                    step="confirm_partial",
                    data={"file_id": file_id, "filename": filename},
                    now=now,
                )
                version = flow.version
            else:
                await uow.flows.clear(tg_id, chat_id)
                version = 0
            await uow.outbox.add(
                chat_id=chat_id,
                kind="staff.import_report",
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "filename": filename,
                    "total": report.total,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "written": report.written,
                    "error_count": len(report.errors),
                    "errors": [
                        [e.line, e.column, e.code, e.value]
                        for e in report.errors[:MAX_REPORTED_ERRORS]
                    ],
                    "offer_partial": offer_partial,
                    "flow_version": version,
                },
                priority=PRIORITY_INTERACTIVE,
            )

        await self._importer.import_staff(
            rows, actor_id=actor.staff_id, partial=partial, on_report=report_in_chat
        )

    async def pending_upload(self, *, tg_id: int, chat_id: int, version: int) -> PendingUpload:
        """The upload a "import valid rows" button refers to; an old button finds nothing."""
        async with self._rt.uow() as uow:
            await access.authorize(uow, tg_id, "staff.import", default_locale=self._default_locale)
            flow = await _pending_flow(uow, tg_id, chat_id, version)
        return PendingUpload(str(flow.data["file_id"]), str(flow.data["filename"]), flow.version)

    async def discard_upload(self, *, tg_id: int, chat_id: int, version: int) -> None:
        """Forget the pending upload."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "staff.import", default_locale=self._default_locale
            )
            await _pending_flow(uow, tg_id, chat_id, version)
            await uow.flows.clear(tg_id, chat_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="staff.import_discarded",
                staff_id=actor.staff_id,
                now=now,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()


async def _pending_flow(uow: UnitOfWork, tg_id: int, chat_id: int, version: int) -> FlowState:
    """The import waiting in this chat at this version; an old or forged button gets none."""
    flow = await uow.flows.get(tg_id, chat_id)
    if flow is None or flow.flow != IMPORT_FLOW or flow.version != version:
        raise PermissionDeniedError("staff.import")
    return flow
