"""Inbox claims: a live worker's heartbeat keeps its claim; a dead worker's claim lapses."""

from __future__ import annotations

from datetime import timedelta

from bot.access import load_actor
from bot.clock import FakeClock
from bot.inbox import InboxService, RawUpdate
from bot.runtime import Runtime
from handlers.inbox import raw_update, sender_of
from storage.tables.people import Staff


async def test_renewed_claims_are_kept_and_lapsed_ones_come_back(
    runtime: Runtime, clock: FakeClock
) -> None:
    inbox = InboxService(runtime, lease=timedelta(seconds=30))
    assert await inbox.store([RawUpdate(1, 10, "{}"), RawUpdate(2, 20, "{}")]) == 2
    assert await inbox.store([RawUpdate(1, 10, "{}")]) == 0  # a redelivery
    claimed = await inbox.claim()
    assert [u.update_id for u in claimed] == [1, 2] and claimed[0].attempts == 1
    clock.advance(timedelta(seconds=20))
    await inbox.renew([1])  # update 1 is still being handled here; 2's worker died
    clock.advance(timedelta(seconds=20))
    again = await inbox.claim()
    assert [u.update_id for u in again] == [2] and again[0].attempts == 2
    assert await inbox.finish(2) and not await inbox.finish(2)
    clock.advance(timedelta(seconds=31))
    assert [u.update_id for u in await inbox.claim()] == [1]
    assert (await inbox.stats()) == {"pending": 1, "done": 1}


async def test_the_app_language_is_noted_and_used_until_someone_chooses_one(
    runtime: Runtime, clock: FakeClock
) -> None:
    now = clock()
    async with runtime.detached_uow() as uow:
        dept = await uow.people.add_department("办公室", now=now)
        assert dept.id is not None
        staff = await uow.people.add(
            Staff(
                employee_no="E1",
                name="徐丽",
                department_id=dept.id,
                telegram_id=501,
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()
    assert staff.id is not None
    inbox = InboxService(runtime)

    async def seen() -> tuple[str, dict[int, str]]:
        async with runtime.detached_uow() as uow:
            actor = await load_actor(uow, 501, default_locale="zh_CN")
            return actor.locale, await uow.people.languages_of([staff.id or 0])

    assert await seen() == ("zh_CN", {})  # nothing known: the deployment's default
    await inbox.store([RawUpdate(1, 501, "{}", sender_id=501, client_locale="en")])
    assert await seen() == ("en", {staff.id: "en"})  # the phone's app is in English
    await inbox.store([RawUpdate(1, 501, "{}", sender_id=501, client_locale="zh_CN")])
    assert await seen() == ("en", {staff.id: "en"})  # a redelivery tells nothing new
    await inbox.store([RawUpdate(2, 501, "{}", sender_id=501, client_locale="zh_CN")])
    assert await seen() == ("zh_CN", {staff.id: "zh_CN"})
    async with runtime.detached_uow() as uow:
        row = await uow.people.get(staff.id)
        assert row is not None and row.version == 1  # not an edit of the person's record
        row.language = "en"  # chosen with /language: that wins over the app from now on
        await uow.commit()
    await inbox.store([RawUpdate(3, 501, "{}", sender_id=501, client_locale="zh_CN")])
    assert await seen() == ("en", {staff.id: "en"})


def test_the_sender_and_app_language_of_an_update() -> None:
    msg = {
        "update_id": 1,
        "message": {
            "chat": {"id": 5},
            "from": {"id": 5, "is_bot": False, "language_code": "en-GB"},
        },
    }
    assert sender_of(msg) == (5, "en")
    press = {"update_id": 2, "callback_query": {"from": {"id": 6, "language_code": "zh-hans"}}}
    assert sender_of(press) == (6, "zh_CN")
    assert sender_of({"update_id": 3, "message": {"from": {"id": 7, "language_code": "fr"}}}) == (
        7,
        None,
    )
    assert sender_of({"update_id": 4, "message": {"from": {"id": 8, "is_bot": True}}}) == (
        None,
        None,
    )
    assert raw_update(msg).client_locale == "en"
