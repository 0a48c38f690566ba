"""Filling and submitting approval forms through ApprovalService, as the chat handlers do.

Shared by the integration tests that need requests on the books (registers, SLA).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.runtime import Runtime
from bot.services import Services


async def template_id(services: Services, runtime: Runtime, key: str) -> int:
    """The row id of the active template ``key``."""
    async with runtime.detached_uow() as uow:
        active = await services.approvals.catalog.active(uow)
    return next(t.row_id for t in active if t.template.key == key)


async def _draft(runtime: Runtime, tg: int) -> tuple[int, int]:
    async with runtime.detached_uow() as uow:
        flow = await uow.flows.get(tg, tg)
        assert flow is not None
        draft = await uow.approvals.draft(int(flow.data["draft_id"]))
        assert draft is not None and draft.id is not None
        return draft.id, draft.version


async def apply(
    services: Services, runtime: Runtime, tg: int, key: str, answers: Sequence[Any]
) -> str:
    """Fill the form field by field and submit it; the request number.

    An int taps that option (0 skips), a str is typed, a list of names attaches those files
    (an empty list: none) and taps Done.
    """
    ap = services.approvals
    await ap.begin(tg_id=tg, chat_id=tg, template_id=await template_id(services, runtime, key))
    for answer in answers:
        draft_id, _ = await _draft(runtime, tg)
        if isinstance(answer, int):
            await ap.choose(tg_id=tg, chat_id=tg, draft_id=draft_id, option=answer)
        elif isinstance(answer, list):
            for name in answer:
                await ap.attach(
                    tg_id=tg,
                    chat_id=tg,
                    file_id=f"f-{name}",
                    file_unique_id=f"u-{name}",
                    file_name=name,
                    mime="application/pdf",
                    size=1000,
                )
            await ap.files_done(tg_id=tg, chat_id=tg, draft_id=draft_id)
        else:
            assert await ap.answer(tg_id=tg, chat_id=tg, text=answer)
    draft_id, version = await _draft(runtime, tg)
    return await ap.submit(tg_id=tg, chat_id=tg, draft_id=draft_id, version=version)
