"""The knowledge base kept by trainers (#6): an import is checked whole and applies nothing
when a row is wrong, export then import changes nothing, publish makes versions and a
rollback brings old words back, every change audited with who made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.errors import PermissionDeniedError
from bot.faq.content import EntryContent
from bot.faq.files import read_file, write_file
from bot.faq.library import ImportRejectedError, KnowledgeLibrary
from bot.runtime import Runtime
from storage.tables.people import Staff

DEV_KB = Path(__file__).resolve().parents[3] / "shared" / "eval" / "faq" / "dev_kb.yaml"
LOGIN = EntryContent(
    key="oa-login", question="第一次登录OA用什么密码？", answer="初始密码见短信。"
)
RESET = EntryContent(
    key="oa-reset",
    question="忘记OA密码怎么办？",
    answer="点“忘记密码”。",
    follow_ups=("oa-login",),
)


def _yaml(*entries: EntryContent) -> bytes:
    return write_file(list(entries), "yaml")


async def test_import_publish_export_round_trip_and_rollback(
    runtime: Runtime, clock: FakeClock
) -> None:
    library = KnowledgeLibrary(runtime)
    plan = await library.plan_import(_yaml(LOGIN, RESET), "kb.yaml")
    assert plan.ok and plan.new == ("oa-login", "oa-reset") and not plan.changed
    result = await library.apply_import(_yaml(LOGIN, RESET), "kb.yaml", tg_id=None, publish=True)
    assert result.published == ("oa-login", "oa-reset")
    assert [(c.key, v) for c, v in await library.published_content()] == [
        ("oa-login", 1),
        ("oa-reset", 1),
    ]

    for fmt in ("xlsx", "csv", "yaml"):
        exported = await library.export(fmt)
        again = await library.plan_import(exported, f"kb.{fmt}")
        assert again.ok and again.unchanged == ("oa-login", "oa-reset"), fmt
        assert not again.new and not again.changed
        done = await library.apply_import(exported, f"kb.{fmt}", tg_id=None, publish=True)
        assert done.published == ()  # nothing changed, so no new version either

    better = EntryContent(key="oa-login", question=LOGIN.question, answer="初始密码见人事短信。")
    await library.apply_import(_yaml(better, RESET), "kb.yaml", tg_id=None, publish=True)
    assert dict((c.key, c.answer) for c, _ in await library.published_content())["oa-login"] == (
        "初始密码见人事短信。"
    )
    assert await library.rollback("oa-login", 1, tg_id=None) == 3
    words = {c.key: (c.answer, v) for c, v in await library.published_content()}
    assert words["oa-login"] == (LOGIN.answer, 3)  # v1's words, as the newest version
    history = await library.versions("oa-login")
    assert [(v["version"], v["note"]) for v in history] == [
        (1, "import"),
        (2, "import"),
        (3, "rollback to v1"),
    ]
    async with runtime.detached_uow() as uow:
        actions = [e.action async for e in uow.audit.iterate()]
    # 2 first, none for the three unchanged re-imports, 1 for the better answer, 1 rollback
    assert actions.count("faq.publish") == 4 and actions.count("faq.import") == 5


async def test_an_import_with_errors_writes_nothing(runtime: Runtime) -> None:
    library = KnowledgeLibrary(runtime)
    await library.apply_import(_yaml(LOGIN), "kb.yaml", tg_id=None, publish=True)
    dup = EntryContent(key="dup", question="第一次登录OA用什么密码?", answer="另一个答案")
    empty = EntryContent(key="empty", question="空答案", answer="")
    data = _yaml(LOGIN, dup, empty)
    plan = await library.plan_import(data, "kb.yaml")
    assert [(p.line, p.code, p.other) for p in plan.checked.problems] == [
        (plan.checked.lines[1], "duplicate_phrasing", plan.checked.lines[0]),
        (plan.checked.lines[2], "empty_answer", 0),
    ]
    with pytest.raises(ImportRejectedError):
        await library.apply_import(data, "kb.yaml", tg_id=None, publish=True)
    assert [c.key for c, _ in await library.published_content()] == ["oa-login"]
    assert [v.key for v in await library.entries()] == ["oa-login"]


async def test_only_trainers_and_admins_keep_the_knowledge_base(
    runtime: Runtime, clock: FakeClock
) -> None:
    now = clock()
    async with runtime.detached_uow() as uow:
        dept = await uow.people.add_department("信息中心", now=now)
        assert dept.id is not None
        people = {}
        for no, tg, roles in (("T1", 701, ["trainer", "staff"]), ("S1", 702, ["staff"])):
            staff = await uow.people.add(
                Staff(
                    employee_no=no,
                    name=no,
                    department_id=dept.id,
                    telegram_id=tg,
                    created_at=now,
                    updated_at=now,
                )
            )
            assert staff.id is not None
            await uow.people.set_roles(staff.id, roles)
            people[no] = staff.id
        await uow.commit()
    library = KnowledgeLibrary(runtime)
    with pytest.raises(PermissionDeniedError):
        await library.apply_import(_yaml(LOGIN), "kb.yaml", tg_id=702, publish=True)
    await library.apply_import(_yaml(LOGIN), "kb.yaml", tg_id=701, publish=False)
    assert [(v.key, v.status, v.has_draft) for v in await library.entries()] == [
        ("oa-login", "draft", True)
    ]
    assert await library.published_content() == []  # a draft answers nobody
    assert await library.publish("oa-login", tg_id=701) == 1
    async with runtime.detached_uow() as uow:
        publish = [e async for e in uow.audit.iterate() if e.action == "faq.publish"]
    assert publish[-1].actor_id == people["T1"]


async def test_the_dev_knowledge_base_imports_whole(runtime: Runtime) -> None:
    if not DEV_KB.exists():
        pytest.skip(f"no {DEV_KB}")
    library = KnowledgeLibrary(runtime)
    result = await library.apply_import(
        DEV_KB.read_bytes(), "dev_kb.yaml", tg_id=None, publish=True
    )
    entries, _ = read_file(DEV_KB.read_bytes(), "dev_kb.yaml")
    assert len(result.published) == len(entries)
    assert [c for c, _ in await library.published_content()] == sorted(
        entries, key=lambda e: e.key
    )
