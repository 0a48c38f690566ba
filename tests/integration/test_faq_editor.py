"""The trainers' tools in chat (#6), service level: each call is one update's unit of work
(a second commit would be refused as a replay), replies are outbox rows, every edit is a
compare-and-swap on the entry's revision and is audited with the trainer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from itertools import count
from typing import Any, TypeVar

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.errors import ImportFileError, PermissionDeniedError
from bot.faq.content import EntryContent
from bot.faq.editor import FaqEditorService, make_key, rank
from bot.faq.files import write_file
from bot.faq.glossary import GlossaryService, write_glossary
from bot.faq.library import KnowledgeLibrary
from bot.runtime import Runtime, handling_update
from knowledge.glossary import default_glossary
from storage.tables.faq import FaqEntry, FaqEntryVersion
from storage.tables.messaging import OutboxMessage
from storage.tables.people import Staff

T = TypeVar("T")
TRAINER, STAFF = 701, 702
LOGIN = EntryContent(
    key="oa-login",
    question="第一次登录OA用什么密码？",
    answer="初始密码见<b>短信</b>。",
    alternatives=("OA初始密码是什么",),
    category="账号",
)
LEAVE = EntryContent(
    key="leave", question="怎么请假？", answer="在OA提交请假申请。", category="人事"
)
REIMBURSE = EntryContent(key="reimburse", question="差旅费怎么报销？", answer="填报销单。")
_updates = count(1000)


@pytest.fixture
async def people(runtime: Runtime, clock: FakeClock) -> dict[int, int]:
    """A trainer and a plain staff member: Telegram id -> staff id."""
    now = clock()
    found = {}
    async with runtime.detached_uow() as uow:
        dept = await uow.people.add_department("培训处", now=now)
        assert dept.id is not None
        for tg, roles in ((TRAINER, ["trainer", "staff"]), (STAFF, ["staff"])):
            staff = await uow.people.add(
                Staff(
                    employee_no=f"E{tg}",
                    name=f"培训员{tg}",
                    department_id=dept.id,
                    telegram_id=tg,
                    language="en",
                    created_at=now,
                    updated_at=now,
                )
            )
            assert staff.id is not None
            await uow.people.set_roles(staff.id, roles)
            found[tg] = staff.id
        await uow.commit()
    return found


@pytest.fixture
def editor(runtime: Runtime) -> FaqEditorService:
    return FaqEditorService(runtime, KnowledgeLibrary(runtime), "en")


async def as_update(runtime: Runtime, call: Callable[[], Awaitable[T]]) -> T:
    """Run a service call as the handler of one stored update: it must commit exactly once."""
    update_id = next(_updates)
    async with runtime.detached_uow() as uow:
        await uow.inbox.store(update_id, chat_id=TRAINER, payload="{}", now=runtime.clock())
        await uow.commit()
    with handling_update(update_id) as handling:
        result = await call()
    assert handling.marked_done, "the update was not marked done"
    return result


async def outbox(runtime: Runtime, after: int = 0) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.id) > after)
            .order_by(col(OutboxMessage.id))
        )
        return list(rows.all())


async def last_id(runtime: Runtime) -> int:
    rows = await outbox(runtime)
    return rows[-1].id or 0 if rows else 0


async def replies(runtime: Runtime, call: Callable[[], Awaitable[Any]]) -> list[OutboxMessage]:
    """What one update wrote to the outbox."""
    before = await last_id(runtime)
    await as_update(runtime, call)
    return await outbox(runtime, before)


async def entry(runtime: Runtime, key: str) -> FaqEntry:
    async with runtime.detached_uow() as uow:
        found = await uow.faq.entry_by_key(key)
    assert found is not None
    return found


async def versions(runtime: Runtime, key: str) -> list[FaqEntryVersion]:
    found = await entry(runtime, key)
    assert found.id is not None
    async with runtime.detached_uow() as uow:
        return list(await uow.faq.versions(found.id))


async def audit(runtime: Runtime) -> list[tuple[str, str, int | None]]:
    async with runtime.detached_uow() as uow:
        return [(e.action, e.object, e.actor_id) async for e in uow.audit.iterate()]


async def seed(runtime: Runtime, *entries: EntryContent) -> None:
    data = write_file(list(entries), "yaml")
    await KnowledgeLibrary(runtime).apply_import(data, "kb.yaml", tg_id=None, publish=True)


def typed(editor: FaqEditorService, text: str) -> Callable[[], Awaitable[bool]]:
    return lambda: editor.answer(tg_id=TRAINER, chat_id=TRAINER, text=text)


async def test_create_an_entry_step_by_step_preview_and_publish(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN)
    [ask] = await replies(runtime, lambda: editor.start_new(tg_id=TRAINER, chat_id=TRAINER))
    assert (ask.kind, ask.facts["step"]) == ("faq_trainer.ask", "new_question")
    [ask] = await replies(runtime, typed(editor, "忘记VPN密码怎么办？"))
    assert ask.facts["step"] == "new_phrasings"
    for n, phrasing in enumerate(["VPN密码忘了", "vpn password forgotten"], start=1):
        [ask] = await replies(runtime, typed(editor, phrasing))
        assert (ask.facts["step"], ask.facts["count"]) == ("new_phrasings", n)
    # A phrasing another entry already has is refused with the check's reason.
    [ask] = await replies(runtime, typed(editor, "ＯＡ初始密码是什么"))
    assert ask.facts["problem"] == {
        "code": "existing_phrasing",
        "value": "ＯＡ初始密码是什么",
        "entry": "oa-login",
    }
    [ask] = await replies(runtime, typed(editor, "vpn PASSWORD forgotten"))
    assert ask.facts["problem"]["code"] == "same_entry"
    [ask] = await replies(runtime, lambda: editor.phrasings_done(tg_id=TRAINER, chat_id=TRAINER))
    assert ask.facts["step"] == "new_answer"
    [ask] = await replies(runtime, typed(editor, "在<b>VPN客户端点“忘记密码”"))
    assert ask.facts["problem"]["code"] == "bad_html"
    [ask] = await replies(runtime, typed(editor, "在<b>VPN客户端</b>点“忘记密码”。"))
    assert ask.facts["step"] == "new_category" and ask.facts["categories"] == ["账号"]
    preview, card = await replies(
        runtime,
        lambda: editor.choose_category(tg_id=TRAINER, chat_id=TRAINER, entry_id=0, index=1),
    )
    assert preview.kind == "faq.answer" and preview.facts["preview"] is True
    assert preview.facts["question_id"] is None
    assert preview.facts["answer"] == "在<b>VPN客户端</b>点“忘记密码”。"
    assert (card.kind, card.facts["note"], card.facts["status"]) == (
        "faq_trainer.card",
        "created",
        "draft",
    )
    key = card.facts["key"]
    assert key == "wang-ji-vpn-mi-ma-zen"
    assert card.facts["alternatives"] == ["VPN密码忘了", "vpn password forgotten"]
    assert card.facts["category"] == "账号"
    assert await versions(runtime, key) == []  # a draft answers nobody yet

    [card] = await replies(
        runtime,
        lambda: editor.publish(
            tg_id=TRAINER,
            chat_id=TRAINER,
            entry_id=card.facts["entry_id"],
            revision=card.facts["revision"],
        ),
    )
    assert (card.facts["note"], card.facts["number"], card.facts["status"]) == (
        "published",
        1,
        "published",
    )
    [v1] = await versions(runtime, key)
    assert v1.published_by == people[TRAINER] and v1.content["category"] == "账号"
    trail = await audit(runtime)
    assert ("faq.create", f"faq:{key}", people[TRAINER]) in trail
    assert ("faq.publish", f"faq:{key}", people[TRAINER]) in trail
    # The flow is over: the next text is a question for the knowledge base, not for us.
    assert not await as_update_or_none(runtime, typed(editor, "还有问题"))


async def as_update_or_none(runtime: Runtime, call: Callable[[], Awaitable[bool]]) -> bool:
    """A call that may decline the update: then it commits nothing (the next handler will)."""
    update_id = next(_updates)
    async with runtime.detached_uow() as uow:
        await uow.inbox.store(update_id, chat_id=TRAINER, payload="{}", now=runtime.clock())
        await uow.commit()
    with handling_update(update_id) as handling:
        taken = await call()
    assert handling.marked_done == taken
    return taken


async def test_edit_with_stale_buttons_then_roll_back(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN, LEAVE)
    login = await entry(runtime, "oa-login")
    assert login.id is not None
    [card] = await replies(
        runtime, lambda: editor.open_entry(tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0)
    )
    seen = card.facts["revision"]
    [ask] = await replies(
        runtime,
        lambda: editor.start_edit(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=seen, field="answer"
        ),
    )
    assert ask.facts["step"] == "edit_answer" and ask.facts["current"] == LOGIN.answer
    [card] = await replies(runtime, typed(editor, "初始密码是工号后六位。"))
    assert card.facts["note"] == "saved" and card.facts["has_draft"]
    assert card.facts["revision"] == seen + 1
    assert card.facts["answer"] == "初始密码是工号后六位。"
    assert ("faq.edit", "faq:oa-login", people[TRAINER]) in await audit(runtime)

    # The first card's buttons are stale now: the entry comes back as it is, nothing changes.
    before = (await entry(runtime, "oa-login")).revision
    for call in (
        lambda: editor.start_edit(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=seen, field="question"
        ),
        lambda: editor.publish(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=seen
        ),
    ):
        [stale] = await replies(runtime, call)
        assert (stale.kind, stale.facts["note"]) == ("faq_trainer.card", "stale")
        assert stale.facts["answer"] == "初始密码是工号后六位。"
    assert (await entry(runtime, "oa-login")).revision == before
    assert len(await versions(runtime, "oa-login")) == 1

    [card] = await replies(
        runtime,
        lambda: editor.publish(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=before
        ),
    )
    assert card.facts["number"] == 2
    [listing] = await replies(
        runtime, lambda: editor.versions(tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0)
    )
    assert [v[0] for v in listing.facts["versions"]] == [2, 1]
    assert listing.facts["versions"][0][2] == f"培训员{TRAINER}"
    [confirm] = await replies(
        runtime,
        lambda: editor.ask_rollback(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, version=1
        ),
    )
    assert (confirm.facts["what"], confirm.facts["version"]) == ("rollback", 1)
    [card] = await replies(
        runtime,
        lambda: editor.rollback(tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, version=1),
    )
    assert (card.facts["note"], card.facts["number"], card.facts["old"]) == ("rolled_back", 3, 1)
    assert card.facts["answer"] == LOGIN.answer
    history = await versions(runtime, "oa-login")
    assert [(v.version, v.note) for v in history] == [
        (1, "import"),
        (2, "chat"),
        (3, "rollback to v1"),
    ]
    assert history[2].content == history[0].content
    # The confirmation was used: tapping it again does nothing.
    [notice] = await replies(
        runtime,
        lambda: editor.rollback(tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, version=1),
    )
    assert notice.facts["code"] == "stale_step"
    assert len(await versions(runtime, "oa-login")) == 3


async def test_phrasings_and_categories_of_an_existing_entry(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN, LEAVE)
    login = await entry(runtime, "oa-login")
    entry_id = login.id or 0
    await replies(
        runtime,
        lambda: editor.start_edit(
            tg_id=TRAINER,
            chat_id=TRAINER,
            entry_id=entry_id,
            revision=login.revision,
            field="phrasing",
        ),
    )
    [ask] = await replies(runtime, typed(editor, "怎么請假"))  # Traditional: leave's question
    assert ask.facts["problem"]["code"] == "existing_phrasing"
    [card] = await replies(runtime, typed(editor, "OA默认密码"))
    assert card.facts["alternatives"] == ["OA初始密码是什么", "OA默认密码"]
    [ask] = await replies(
        runtime,
        lambda: editor.ask_remove(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, revision=card.facts["revision"]
        ),
    )
    assert ask.facts["phrasings"] == ["OA初始密码是什么", "OA默认密码"]
    [card] = await replies(
        runtime,
        lambda: editor.remove_phrasing(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, index=1),
    )
    assert card.facts["alternatives"] == ["OA默认密码"]
    [ask] = await replies(
        runtime,
        lambda: editor.start_edit(
            tg_id=TRAINER,
            chat_id=TRAINER,
            entry_id=entry_id,
            revision=card.facts["revision"],
            field="category",
        ),
    )
    assert ask.facts["categories"] == ["人事", "账号"]
    [ask] = await replies(runtime, typed(editor, "类" * 61))
    assert ask.facts["problem"]["code"] == "long_category"
    [card] = await replies(
        runtime,
        lambda: editor.choose_category(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, index=1),
    )
    assert card.facts["category"] == "人事"
    # A category button of a step that is over is told so.
    [notice] = await replies(
        runtime,
        lambda: editor.choose_category(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, index=1),
    )
    assert notice.facts["code"] == "stale_step"
    # A phrasing made the question: the old question stays, as a phrasing.
    await replies(
        runtime,
        lambda: editor.start_edit(
            tg_id=TRAINER,
            chat_id=TRAINER,
            entry_id=entry_id,
            revision=card.facts["revision"],
            field="question",
        ),
    )
    [card] = await replies(runtime, typed(editor, "OA默认密码"))
    assert card.facts["question"] == "OA默认密码"
    assert card.facts["alternatives"] == [LOGIN.question]
    edits = [a for a in await audit(runtime) if a[0] == "faq.edit"]
    assert len(edits) == 4 and all(a[2] == people[TRAINER] for a in edits)


async def test_only_trainers_may_edit(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN)
    login = await entry(runtime, "oa-login")
    before = await last_id(runtime)
    for call in (
        lambda: editor.home(tg_id=STAFF, chat_id=STAFF),
        lambda: editor.open_entry(tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0),
        lambda: editor.publish(
            tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0, revision=login.revision
        ),
        lambda: editor.rollback(tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0, version=1),
        lambda: editor.export(tg_id=STAFF, chat_id=STAFF, fmt="xlsx"),
    ):
        with pytest.raises(PermissionDeniedError):
            await call()
    assert await last_id(runtime) == before
    assert (await entry(runtime, "oa-login")).revision == login.revision


async def test_search_lists_matches_and_pages(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    extra = [
        EntryContent(key=f"vpn-{i:02d}", question=f"VPN问题{i}号怎么处理", answer="见说明。")
        for i in range(10)
    ]
    await seed(runtime, LOGIN, LEAVE, REIMBURSE, *extra)
    await replies(runtime, lambda: editor.start_search(tg_id=TRAINER, chat_id=TRAINER))
    [results] = await replies(runtime, typed(editor, "vpn 问题"))
    assert (results.facts["total"], results.facts["pages"]) == (10, 2)
    assert len(results.facts["items"]) == 8
    [page2] = await replies(
        runtime,
        lambda: editor.page(
            tg_id=TRAINER, chat_id=TRAINER, flow_version=results.facts["flow_version"], page=1
        ),
    )
    assert len(page2.facts["items"]) == 2
    # After the results, text is a question for the knowledge base again, not a search.
    assert not await as_update_or_none(runtime, typed(editor, "初始密码"))
    await replies(runtime, lambda: editor.start_search(tg_id=TRAINER, chat_id=TRAINER))
    [results] = await replies(runtime, typed(editor, "初始密码"))
    assert [item[1] for item in results.facts["items"]] == ["oa-login"]
    # The old list's page button is out of date now.
    [notice] = await replies(
        runtime,
        lambda: editor.page(
            tg_id=TRAINER, chat_id=TRAINER, flow_version=page2.facts["flow_version"], page=0
        ),
    )
    assert notice.facts["code"] == "stale_list"


def test_rank_uses_keys_phrasings_answers_and_the_glossary() -> None:
    from bot.faq.editor import Listed

    rows = [
        (Listed(i, c.key, c.question, "published", False), c)
        for i, c in enumerate([LOGIN, LEAVE, REIMBURSE], start=1)
    ]
    glossary = default_glossary()

    def keys(query: str) -> list[str]:
        return [listed.key for listed in rank(rows, query, glossary)]

    assert keys("leave") == ["leave"]  # the key, and leave/请假 in the shipped glossary
    assert keys("报账") == ["reimburse"]  # 报账 is 报销
    assert keys("短信") == ["oa-login"]  # in the answer, under its formatting
    assert keys("reimbursment") == ["reimburse"]  # a typo in a Latin word still matches
    assert keys("天气") == []


def test_generated_keys_are_readable_and_unique() -> None:
    assert make_key("忘记OA密码怎么办？", []) == "wang-ji-oa-mi-ma-zen"
    assert make_key("How do I book a room?", ["how-do-i-book-a-room"]) == "how-do-i-book-a-room-2"
    assert make_key("？？", []) == "kb"


async def test_import_in_chat_reports_first_and_applies_on_confirm(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN)

    def fetch(data: bytes) -> Callable[[], Awaitable[bytes]]:
        async def go() -> bytes:
            return data

        return go

    def upload(name: str, data: bytes) -> Callable[[], Awaitable[bool]]:
        return lambda: editor.take_file(
            tg_id=TRAINER,
            chat_id=TRAINER,
            file_name=name,
            file_id=f"file-{name}",
            size=len(data),
            fetch=fetch(data),
        )

    # Not in an import: the document is not ours (and nothing is committed).
    assert not await as_update_or_none(runtime, upload("kb.yaml", b"[]"))
    await replies(
        runtime, lambda: editor.start_import(tg_id=TRAINER, chat_id=TRAINER, kind="entries")
    )
    dup = EntryContent(key="dup", question="第一次登录OA用什么密码?", answer="另一个答案")
    bad = write_file([LEAVE, dup, EntryContent(key="x", question="空", answer="")], "xlsx")
    [report] = await replies(runtime, upload("kb.xlsx", bad))
    assert report.kind == "faq_trainer.import_report"
    assert (report.facts["ok"], report.facts["applicable"]) == (False, False)
    assert [p[1] for p in report.facts["problems"]] == ["existing_phrasing", "empty_answer"]
    assert [p[0] for p in report.facts["problems"]] == [3, 4]
    assert [v.key for v in await KnowledgeLibrary(runtime).entries()] == ["oa-login"]

    [error] = await replies(runtime, upload("kb.pdf", b"%PDF"))
    assert (error.kind, error.facts["reason"]) == ("faq_trainer.file_error", "unsupported_format")
    [error] = await replies(runtime, upload("kb.csv", b"\x00\x01"))
    assert error.facts["reason"].startswith(("unreadable", "missing_columns"))

    async def too_big() -> bytes:
        raise ImportFileError("too_large")

    [error] = await replies(
        runtime,
        lambda: editor.take_file(
            tg_id=TRAINER,
            chat_id=TRAINER,
            file_name="kb.xlsx",
            file_id="big",
            size=None,
            fetch=too_big,
        ),
    )
    assert error.facts["reason"] == "too_large"

    good = write_file([LOGIN, LEAVE], "csv")
    [report] = await replies(runtime, upload("kb.csv", good))
    assert (report.facts["ok"], report.facts["applicable"]) == (True, True)
    assert (report.facts["new"], report.facts["unchanged"]) == (1, 1)
    pending = await editor.pending_import(
        tg_id=TRAINER, chat_id=TRAINER, flow_version=report.facts["flow_version"]
    )
    assert pending.file_id == "file-kb.csv"
    [done] = await replies(
        runtime,
        lambda: editor.apply_upload(
            tg_id=TRAINER,
            chat_id=TRAINER,
            flow_version=report.facts["flow_version"],
            data=good,
            publish=False,
        ),
    )
    assert (done.kind, done.facts["drafted"], done.facts["new"]) == ("faq_trainer.imported", 1, 1)
    leave = await entry(runtime, "leave")
    assert leave.status == "draft" and leave.draft is not None
    assert ("faq.import", "faq", people[TRAINER]) in await audit(runtime)

    # Export in chat, then the same file back: nothing to change, nothing offered.
    [export] = await replies(
        runtime, lambda: editor.export(tg_id=TRAINER, chat_id=TRAINER, fmt="yaml")
    )
    assert export.kind == "faq_trainer.export" and export.facts["total"] == 2
    contents = [EntryContent.from_json(e) for e in export.facts["entries"]]
    await replies(
        runtime, lambda: editor.start_import(tg_id=TRAINER, chat_id=TRAINER, kind="entries")
    )
    [report] = await replies(runtime, upload("kb.yaml", write_file(contents, "yaml")))
    assert (report.facts["ok"], report.facts["applicable"]) == (True, False)
    assert report.facts["unchanged"] == 2


async def test_archive_takes_an_entry_out_and_restore_brings_it_back(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    linked = EntryContent(
        key="oa-reset",
        question="忘记OA密码怎么办？",
        answer="点忘记密码。",
        follow_ups=("oa-login",),
    )
    await seed(runtime, LOGIN, LEAVE, linked)
    login, leave = await entry(runtime, "oa-login"), await entry(runtime, "leave")
    [notice] = await replies(
        runtime,
        lambda: editor.ask_archive(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=login.revision
        ),
    )
    assert (notice.facts["code"], notice.facts["keys"]) == ("has_followers", ["oa-reset"])
    [confirm] = await replies(
        runtime,
        lambda: editor.ask_archive(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=leave.id or 0, revision=leave.revision
        ),
    )
    assert confirm.facts["what"] == "archive"
    [card] = await replies(
        runtime, lambda: editor.archive(tg_id=TRAINER, chat_id=TRAINER, entry_id=leave.id or 0)
    )
    assert (card.facts["note"], card.facts["status"]) == ("archived", "archived")
    library = KnowledgeLibrary(runtime)
    assert "leave" not in [c.key for c, _ in await library.published_content()]
    assert "leave" not in [v.key for v in await library.entries()]
    await replies(runtime, lambda: editor.start_search(tg_id=TRAINER, chat_id=TRAINER))
    [results] = await replies(runtime, typed(editor, "请假"))
    assert results.facts["total"] == 0
    [archived] = await replies(
        runtime, lambda: editor.show_list(tg_id=TRAINER, chat_id=TRAINER, mode="archived")
    )
    assert [item[1] for item in archived.facts["items"]] == ["leave"]
    # Its words are free again: exporting and importing the rest still changes nothing.
    plan = await library.plan_import(await library.export("xlsx"), "kb.xlsx")
    assert plan.ok and not plan.new and not plan.changed

    [card] = await replies(
        runtime,
        lambda: editor.restore(
            tg_id=TRAINER,
            chat_id=TRAINER,
            entry_id=leave.id or 0,
            revision=card.facts["revision"],
        ),
    )
    assert (card.facts["note"], card.facts["status"]) == ("restored", "published")
    assert "leave" in [c.key for c, _ in await library.published_content()]
    actions = [a[0] for a in await audit(runtime)]
    assert "faq.archive" in actions and "faq.restore" in actions


async def test_typed_text_outside_a_step_is_not_ours(
    runtime: Runtime, editor: FaqEditorService, clock: FakeClock, people: dict[int, int]
) -> None:
    assert not await as_update_or_none(runtime, typed(editor, "你好"))
    await replies(runtime, lambda: editor.start_new(tg_id=TRAINER, chat_id=TRAINER))
    clock.advance(timedelta(hours=2))  # a prompt from long ago
    assert not await as_update_or_none(runtime, typed(editor, "你好"))
    await replies(runtime, lambda: editor.start_new(tg_id=TRAINER, chat_id=TRAINER))
    [notice] = await replies(
        runtime, lambda: editor.quit(tg_id=TRAINER, chat_id=TRAINER, entry_id=0)
    )
    assert notice.facts["code"] == "cancelled"
    assert not await as_update_or_none(runtime, typed(editor, "你好"))


async def test_glossary_in_chat(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    data = write_glossary([["报销", "报账", "reimbursement"], ["U-Key", "U盾"]], "xlsx")

    async def fetch() -> bytes:
        return data

    await replies(
        runtime, lambda: editor.start_import(tg_id=TRAINER, chat_id=TRAINER, kind="glossary")
    )
    [report] = await replies(
        runtime,
        lambda: editor.take_file(
            tg_id=TRAINER, chat_id=TRAINER, file_name="g.xlsx", file_id="g", size=10, fetch=fetch
        ),
    )
    assert (report.facts["kind"], report.facts["ok"], report.facts["new"]) == ("glossary", True, 2)
    [done] = await replies(
        runtime,
        lambda: editor.apply_upload(
            tg_id=TRAINER,
            chat_id=TRAINER,
            flow_version=report.facts["flow_version"],
            data=data,
            publish=True,
        ),
    )
    assert (done.kind, done.facts["groups"]) == ("faq_trainer.imported", 2)
    assert await GlossaryService(runtime).groups() == [
        ["报销", "报账", "reimbursement"],
        ["U-Key", "U盾"],
    ]
    [card] = await replies(runtime, lambda: editor.glossary_home(tg_id=TRAINER, chat_id=TRAINER))
    assert card.facts["total"] == 2
    assert ("faq.glossary", "faq:glossary", people[TRAINER]) in await audit(runtime)


async def _step_open(runtime: Runtime) -> int:
    """The flow version of the trainer's open step (what its remove buttons carry)."""
    async with runtime.detached_uow() as uow:
        flow = await uow.flows.get(TRAINER, TRAINER)
    assert flow is not None
    return flow.version


def document(
    editor: FaqEditorService,
    name: str | None,
    file_id: str,
    *,
    size: int | None = 1000,
    mime: str | None = "application/pdf",
) -> Callable[[], Awaitable[bool]]:
    """The trainer sends a document; an attachment is never downloaded."""

    async def fetch() -> bytes:
        raise AssertionError("an attachment is stored by its file id, not downloaded")

    return lambda: editor.take_file(
        tg_id=TRAINER,
        chat_id=TRAINER,
        file_name=name,
        file_id=file_id,
        size=size,
        fetch=fetch,
        mime=mime,
    )


async def test_attach_documents_preview_them_and_remove_one(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, replace(LOGIN, locale="en"), LEAVE)
    login = await entry(runtime, "oa-login")
    entry_id = login.id or 0
    # Outside the step a document is not ours: the staff import gets it.
    assert not await as_update_or_none(runtime, document(editor, "guide.pdf", "BQACguide0001"))
    [ask] = await replies(
        runtime,
        lambda: editor.start_attach(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, revision=login.revision
        ),
    )
    assert (ask.kind, ask.facts["step"], ask.facts["attachments"]) == (
        "faq_trainer.ask",
        "attachments",
        [],
    )
    first_version = ask.facts["flow_version"]
    # Oversized for a download, but Telegram keeps the file: it is attached by its id.
    [ask] = await replies(
        runtime, document(editor, "OA操作手册.pdf", "BQACguide0001", size=80_000_000)
    )
    assert (ask.facts["note"], ask.facts["attachments"]) == ("added", ["OA操作手册.pdf"])
    [ask] = await replies(runtime, document(editor, None, "BQACnameless1"))
    assert ask.facts["attachments"] == ["OA操作手册.pdf", "Attachment 2.pdf"]
    saved = EntryContent.from_json((await entry(runtime, "oa-login")).draft or {})
    assert [(a.name, a.file_id) for a in saved.attachments] == [
        ("OA操作手册.pdf", "BQACguide0001"),
        ("Attachment 2.pdf", "BQACnameless1"),
    ]
    edits = [a for a in await audit(runtime) if a[0] == "faq.edit"]
    assert len(edits) == 2 and all(a[2] == people[TRAINER] for a in edits)
    # The same name twice, a name over 200 characters: refused, nothing saved.
    revision = (await entry(runtime, "oa-login")).revision
    [ask] = await replies(runtime, document(editor, "OA操作手册.pdf", "BQACguide0002"))
    assert ask.facts["problem"]["code"] == "same_attachment"
    [ask] = await replies(runtime, document(editor, "长" * 197 + ".pdf", "BQAClongname1"))
    assert ask.facts["problem"]["code"] == "long_file_name"
    assert (await entry(runtime, "oa-login")).revision == revision
    # Text and photos in this step are asked for again as documents.
    [notice] = await replies(runtime, typed(editor, "怎么上传"))
    assert (notice.facts["code"], notice.facts["entry_id"]) == ("send_document", entry_id)
    [notice] = await replies(runtime, lambda: editor.take_photo(tg_id=TRAINER, chat_id=TRAINER))
    assert notice.facts["code"] == "send_document"

    # The preview is what staff get: the 📎 list, then each document by its file id.
    preview, *files = await replies(
        runtime, lambda: editor.preview(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id)
    )
    assert preview.kind == "faq.answer"
    assert preview.facts["attachments"] == ["OA操作手册.pdf", "Attachment 2.pdf"]
    assert [(f.kind, f.facts["file_id"]) for f in files] == [
        ("faq.attachment", "BQACguide0001"),
        ("faq.attachment", "BQACnameless1"),
    ]

    for n in range(3, 6):
        [ask] = await replies(runtime, document(editor, f"表{n}.xlsx", f"BQACform{n:05d}"))
    assert len(ask.facts["attachments"]) == 5
    [ask] = await replies(runtime, document(editor, "表6.xlsx", "BQACform00006"))  # a sixth
    assert ask.facts["problem"]["code"] == "too_many_attachments"
    saved = EntryContent.from_json((await entry(runtime, "oa-login")).draft or {})
    assert len(saved.attachments) == 5
    # A remove button of an older card of the step is stale: nothing removed.
    [notice] = await replies(
        runtime,
        lambda: editor.remove_attachment(
            tg_id=TRAINER, chat_id=TRAINER, flow_version=first_version, index=1
        ),
    )
    assert notice.facts["code"] == "stale_step"
    version = await _step_open(runtime)
    [ask] = await replies(
        runtime,
        lambda: editor.remove_attachment(
            tg_id=TRAINER, chat_id=TRAINER, flow_version=version, index=2
        ),
    )
    assert (ask.facts["note"], ask.facts["name"]) == ("removed", "Attachment 2.pdf")
    assert ask.facts["attachments"] == ["OA操作手册.pdf", "表3.xlsx", "表4.xlsx", "表5.xlsx"]
    [card] = await replies(
        runtime, lambda: editor.quit(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id)
    )
    assert card.facts["attachments"] == ask.facts["attachments"]
    # The step is over: the next document is the staff import's again.
    assert not await as_update_or_none(runtime, document(editor, "x.pdf", "BQACafterdone"))
    # Editing another field keeps the attachments.
    await replies(
        runtime,
        lambda: editor.start_edit(
            tg_id=TRAINER,
            chat_id=TRAINER,
            entry_id=entry_id,
            revision=card.facts["revision"],
            field="answer",
        ),
    )
    [card] = await replies(runtime, typed(editor, "初始密码见短信。"))
    assert len(card.facts["attachments"]) == 4
    [card] = await replies(
        runtime,
        lambda: editor.publish(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, revision=card.facts["revision"]
        ),
    )
    published = (await versions(runtime, "oa-login"))[-1].content
    assert [a["file_id"] for a in published["attachments"]] == [
        "BQACguide0001",
        "BQACform00003",
        "BQACform00004",
        "BQACform00005",
    ]


async def test_a_document_for_an_entry_changed_meanwhile_is_not_attached(
    runtime: Runtime, editor: FaqEditorService, clock: FakeClock, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN)
    login = await entry(runtime, "oa-login")
    await replies(
        runtime,
        lambda: editor.start_attach(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=login.revision
        ),
    )
    async with runtime.detached_uow() as uow:  # another trainer's edit
        draft = replace(LOGIN, answer="改了。").to_json()
        assert await uow.faq.save_entry(
            login.id or 0, seen_revision=login.revision, now=clock(), draft=draft
        )
        await uow.commit()
    [stale] = await replies(runtime, document(editor, "guide.pdf", "BQACguide0001"))
    assert (stale.kind, stale.facts["note"], stale.facts["attachments"]) == (
        "faq_trainer.card",
        "stale",
        [],
    )
    assert not await as_update_or_none(runtime, document(editor, "guide.pdf", "BQACguide0001"))
    # A step left open long ago takes no documents either: they go where they went before.
    login = await entry(runtime, "oa-login")
    await replies(
        runtime,
        lambda: editor.start_attach(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=login.id or 0, revision=login.revision
        ),
    )
    clock.advance(timedelta(hours=2))
    assert not await as_update_or_none(runtime, document(editor, "guide.pdf", "BQACguide0001"))
    assert not await as_update_or_none(
        runtime, lambda: editor.take_photo(tg_id=TRAINER, chat_id=TRAINER)
    )


async def test_tags_typed_and_checked(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN)
    login = await entry(runtime, "oa-login")
    entry_id = login.id or 0

    def edit_tags(revision: int) -> Callable[[], Awaitable[None]]:
        return lambda: editor.start_edit(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, revision=revision, field="tags"
        )

    [ask] = await replies(runtime, edit_tags(login.revision))
    assert (ask.facts["step"], ask.facts["current"]) == ("edit_tags", "")
    [ask] = await replies(runtime, typed(editor, "，、 ｜"))
    assert ask.facts["problem"]["code"] == "no_tags"
    [ask] = await replies(runtime, typed(editor, ", ".join(f"t{i}" for i in range(21))))
    assert ask.facts["problem"]["code"] == "too_many_tags"
    assert (await entry(runtime, "oa-login")).revision == login.revision
    [card] = await replies(runtime, typed(editor, "密码, 账号、OA｜ｏａ\n新员工;密码"))
    assert (card.facts["note"], card.facts["tags"]) == ("saved", ["密码", "账号", "OA", "新员工"])
    assert ("faq.edit", "faq:oa-login", people[TRAINER]) in await audit(runtime)
    [ask] = await replies(runtime, edit_tags(card.facts["revision"]))
    assert ask.facts["current"] == "密码｜账号｜OA｜新员工"
    [card] = await replies(
        runtime, lambda: editor.clear_tags(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id)
    )
    assert card.facts["tags"] == []
    [notice] = await replies(  # the step is over
        runtime, lambda: editor.clear_tags(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id)
    )
    assert notice.facts["code"] == "stale_step"


async def test_follow_ups_found_by_search_added_checked_and_removed(
    runtime: Runtime, editor: FaqEditorService, clock: FakeClock, people: dict[int, int]
) -> None:
    more = [
        EntryContent(key=f"vpn-{i}", question=f"VPN问题{i}号怎么处理", answer="见说明。")
        for i in range(5)
    ]
    await seed(runtime, LOGIN, LEAVE, REIMBURSE, *more)
    login = await entry(runtime, "oa-login")
    entry_id = login.id or 0
    [ask] = await replies(
        runtime,
        lambda: editor.start_follow_ups(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, revision=login.revision
        ),
    )
    assert (ask.facts["step"], ask.facts["follow_ups"]) == ("follow_ups", [])
    first_version = ask.facts["flow_version"]
    [found] = await replies(runtime, typed(editor, "请假"))
    assert found.facts["step"] == "follow_up_results"
    assert [item[1] for item in found.facts["items"]] == ["leave"]
    leave_id = found.facts["items"][0][0]

    def add(follow_up_id: int) -> Callable[[], Awaitable[None]]:
        return lambda: editor.add_follow_up(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, follow_up_id=follow_up_id
        )

    [ask] = await replies(runtime, add(leave_id))
    assert ask.facts["note"] == "added"
    assert ask.facts["follow_ups"] == [["leave", LEAVE.question]]
    # The entry itself is not offered, nor what it already has.
    [found] = await replies(runtime, typed(editor, "oa-login"))
    assert "oa-login" not in [item[1] for item in found.facts["items"]]
    [found] = await replies(runtime, typed(editor, "请假"))
    assert found.facts["total"] == 0
    for follow_up_id, code in ((leave_id, "same_follow_up"), (entry_id, "self_follow_up")):
        [ask] = await replies(runtime, add(follow_up_id))
        assert ask.facts["problem"]["code"] == code
    [found] = await replies(runtime, typed(editor, "VPN问题"))
    vpn_ids = [item[0] for item in found.facts["items"]]
    assert len(vpn_ids) == 5
    for vpn_id in vpn_ids[:4]:  # an older list's buttons still add what they name
        [ask] = await replies(runtime, add(vpn_id))
    assert len(ask.facts["follow_ups"]) == 5
    [ask] = await replies(runtime, add(vpn_ids[4]))
    assert ask.facts["problem"]["code"] == "too_many_follow_ups"
    saved = EntryContent.from_json((await entry(runtime, "oa-login")).draft or {})
    assert len(saved.follow_ups) == 5
    # A stale remove button changes nothing; the current one removes.
    [notice] = await replies(
        runtime,
        lambda: editor.remove_follow_up(
            tg_id=TRAINER, chat_id=TRAINER, flow_version=first_version, index=1
        ),
    )
    assert notice.facts["code"] == "stale_step"
    version = await _step_open(runtime)
    [ask] = await replies(
        runtime,
        lambda: editor.remove_follow_up(
            tg_id=TRAINER, chat_id=TRAINER, flow_version=version, index=1
        ),
    )
    assert (ask.facts["note"], ask.facts["name"]) == ("removed", "leave")
    assert len(ask.facts["follow_ups"]) == 4
    # An archived entry cannot be a follow-up.
    reimburse = await entry(runtime, "reimburse")
    async with runtime.detached_uow() as uow:
        assert await uow.faq.save_entry(
            reimburse.id or 0, seen_revision=reimburse.revision, now=clock(), status="archived"
        )
        await uow.commit()
    [ask] = await replies(runtime, add(reimburse.id or 0))
    assert (ask.facts["problem"]["code"], ask.facts["problem"]["value"]) == (
        "broken_follow_up",
        "reimburse",
    )
    [card] = await replies(
        runtime, lambda: editor.quit(tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id)
    )
    assert card.facts["follow_ups"] == ["vpn-0", "vpn-1", "vpn-2", "vpn-3"]
    assert card.facts["follow_up_questions"][0] == ["vpn-0", "VPN问题0号怎么处理"]
    [done] = await replies(
        runtime,
        lambda: editor.publish(
            tg_id=TRAINER, chat_id=TRAINER, entry_id=entry_id, revision=card.facts["revision"]
        ),
    )
    assert done.facts["note"] == "published"
    # A tap after the step is over is told so.
    [notice] = await replies(runtime, add(leave_id))
    assert notice.facts["code"] == "stale_step"


async def test_only_trainers_may_edit_tags_follow_ups_and_attachments(
    runtime: Runtime, editor: FaqEditorService, people: dict[int, int]
) -> None:
    await seed(runtime, LOGIN, LEAVE)
    login, leave = await entry(runtime, "oa-login"), await entry(runtime, "leave")
    before = await last_id(runtime)
    for call in (
        lambda: editor.start_attach(
            tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0, revision=login.revision
        ),
        lambda: editor.remove_attachment(tg_id=STAFF, chat_id=STAFF, flow_version=1, index=1),
        lambda: editor.start_follow_ups(
            tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0, revision=login.revision
        ),
        lambda: editor.add_follow_up(
            tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0, follow_up_id=leave.id or 0
        ),
        lambda: editor.remove_follow_up(tg_id=STAFF, chat_id=STAFF, flow_version=1, index=1),
        lambda: editor.start_edit(
            tg_id=STAFF,
            chat_id=STAFF,
            entry_id=login.id or 0,
            revision=login.revision,
            field="tags",
        ),
        lambda: editor.clear_tags(tg_id=STAFF, chat_id=STAFF, entry_id=login.id or 0),
    ):
        with pytest.raises(PermissionDeniedError):
            await call()
    assert await last_id(runtime) == before
    assert (await entry(runtime, "oa-login")).revision == login.revision
