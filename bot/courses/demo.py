"""Demo data for the sandbox (#8): the shipped course assigned to everyone, due in 14 days."""

from __future__ import annotations

from datetime import timedelta

from bot.courses.definitions import shipped_dir
from bot.courses.publishing import CoursePublishing, Published
from bot.surveys.publishing import Audience

SHIPPED = "digital_office.yaml"


async def publish_demo_course(
    publishing: CoursePublishing, *, days: int = 14, tg_id: int | None = None
) -> Published:
    """Assign 政务办公系统上线培训 to all active staff, due ``days`` days from today (local,
    the publishing service's clock), its help sheet uploaded from ``shipped/``. With
    ``tg_id`` (a trainer's, e.g. the sandbox's 周婷 20009) it is published by them: they are
    told in their chat and get the broadcast progress card."""
    path = shipped_dir() / SHIPPED
    return await publishing.publish(
        text=path.read_text(encoding="utf-8"),
        source=SHIPPED,
        audience=Audience(everyone=True),
        due_on=publishing.local_today() + timedelta(days=days),
        base_dir=shipped_dir(),
        tg_id=tg_id,
        reply_to=tg_id,
    )
