"""Staff groups (#8: "targeting … a pilot group") on SQLite and PostgreSQL: a group is set
from an audience, named in another as group:NAME, replaced whole, leavers drop out, an
unknown group is named in the refusal, removal; and a survey published to a group invites
exactly its people."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.surveys.groups import GroupNameError, StaffGroups
from bot.surveys.publishing import (
    INVITE_KIND,
    Audience,
    AudienceError,
    SurveyPublishing,
    audience_from_json,
    parse_audience,
    resolve,
)
from storage.tables.messaging import OutboxMessage
from tests.integration.test_survey_publishing import PILOT, _office

pytestmark = pytest.mark.asyncio


async def _numbers(runtime: Runtime, spec: str) -> list[str]:
    async with runtime.detached_uow() as uow:
        return [p.employee_no for p in await resolve(uow, parse_audience(spec))]


async def test_a_group_is_set_named_replaced_and_removed(
    runtime: Runtime, clock: FakeClock
) -> None:
    ids = await _office(runtime, clock)
    groups = StaffGroups(runtime)
    # The pilot users: two of 办公室 and the finance officer (E7 has left: not resolvable).
    row = await groups.set("试点组", "staff:E1,staff:E3,role:finance")
    assert (row.name, row.members) == ("试点组", 3)
    assert parse_audience("group:试点组, dept:培训处") == Audience(
        False, ("培训处",), (), (), ("试点组",)
    )
    assert await _numbers(runtime, "group:试点组") == ["E1", "E3", "E4"]
    assert await _numbers(runtime, "group:试点组,dept:培训处") == ["E1", "E3", "E4", "E6"]
    # A group made of another group, and the stored form reads back.
    await groups.set("扩大试点", "group:试点组,staff:E2")
    assert await _numbers(runtime, "group:扩大试点") == ["E1", "E2", "E3", "E4"]
    stored = parse_audience("group:试点组,role:trainer").as_json()
    assert audience_from_json(stored) == parse_audience("group:试点组,role:trainer")
    # Set again: replaced, not added to.
    assert (await groups.set("试点组", "staff:E2")).members == 1
    assert await _numbers(runtime, "group:试点组") == ["E2"]
    # Someone who leaves drops out of the groups they were in.
    async with runtime.detached_uow() as uow:
        assert await uow.people.disable(ids["E2"], now=clock())
        await uow.commit()
    assert await _numbers(runtime, "group:扩大试点") == ["E1", "E3", "E4"]
    with pytest.raises(AudienceError) as nobody:
        await _numbers(runtime, "group:试点组")
    assert nobody.value.problems == [("empty", "")]
    # An unknown group is named, with everything else that is wrong.
    with pytest.raises(AudienceError) as unknown:
        await _numbers(runtime, "group:没有这组,dept:无此处")
    assert sorted(unknown.value.problems) == [("department", "无此处"), ("group", "没有这组")]
    with pytest.raises(AudienceError):
        await groups.set("新组", "group:没有这组")  # nothing written
    assert [(g.name, g.members) for g in await groups.list()] == [("扩大试点", 4), ("试点组", 1)]
    for bad in ("", "a b", "x,y", "dept:z", "名" * 61):
        with pytest.raises(GroupNameError):
            await groups.set(bad, "staff:E1")
    assert await groups.remove("试点组")
    assert not await groups.remove("试点组")
    assert [g.name for g in await groups.list()] == ["扩大试点"]
    async with runtime.detached_uow() as uow:
        actions = [e.action async for e in uow.audit.iterate()]
    assert actions.count("group.set") == 3 and actions.count("group.remove") == 1


async def test_a_survey_to_a_group_invites_exactly_its_people(
    runtime: Runtime, clock: FakeClock
) -> None:
    await _office(runtime, clock)
    await StaffGroups(runtime).set("试点组", "staff:E1,staff:E4,staff:E5")
    publishing = SurveyPublishing(runtime, default_locale="zh_CN")
    published = await publishing.publish(
        text=PILOT, source="pilot.yaml", audience=parse_audience("group:试点组")
    )
    # E5 has no Telegram: invited (reminders, the /survey list) but not messaged.
    assert (published.invited, published.messaged) == (3, 2)
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage.chat_id).where(col(OutboxMessage.kind) == INVITE_KIND)
        )
        assert sorted(rows) == [601, 604]
