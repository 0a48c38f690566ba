"""The index staff are answered from follows the database (#6): a publish anywhere reaches the
next search, only new or changed texts are embedded (vectors are stored), a restart loads the
saved index and applies what changed meanwhile, and a trainer's glossary change takes effect."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.faq.content import EntryContent
from bot.faq.files import write_file
from bot.faq.library import KnowledgeLibrary
from bot.faq.live import INDEX_FILE, EmbedderError, LiveIndex, shared_embedder
from bot.runtime import Runtime
from knowledge import HashEmbedder, Index
from knowledge.embed import Vectors
from storage.tables.faq import FaqGlossaryTerm

pytestmark = pytest.mark.asyncio

RESET = EntryContent(
    key="oa-reset",
    question="忘记OA密码怎么办？",
    answer="在登录页点<b>忘记密码</b>，用工号和手机验证码重设。",
    alternatives=("OA密码想不起来了",),
)
UKEY = EntryContent(
    key="ukey-locked", question="U盾被锁了怎么办？", answer="带身份证到信息中心解锁。"
)
CANTEEN = EntryContent(key="canteen", question="食堂几点开饭？", answer="午餐11:30开始。")


class CountingEmbedder(HashEmbedder):
    """Counts the texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return super().encode(texts)


async def _publish(library: KnowledgeLibrary, *entries: EntryContent) -> None:
    await library.apply_import(
        write_file(list(entries), "yaml"), "kb.yaml", tg_id=None, publish=True
    )


async def test_publish_reaches_the_next_search_and_embeds_only_changes(runtime: Runtime) -> None:
    library = KnowledgeLibrary(runtime)
    await _publish(library, RESET, UKEY)
    embedder = CountingEmbedder()
    live = LiveIndex(runtime, embedder)
    try:
        await live.refresh()
        assert len(embedder.texts) == 5  # 3 phrasings + 2 question-with-answer texts
        assert len(live) == 2 and live.entry_id("oa-reset") is not None
        result = await live.search("忘记OA密码怎么办")
        assert result.top is not None and result.top.entry_id == "oa-reset"
        # Nothing changed: only the question itself is embedded.
        first = len(embedder.texts)
        await live.search("U盾被锁")
        assert embedder.texts[first:] == ["U盾被锁"]
        first = len(embedder.texts)

        # One entry changes, one is added: only their texts are embedded.
        changed = EntryContent(
            key="ukey-locked",
            question=UKEY.question,
            answer=UKEY.answer,
            alternatives=("数字证书锁定了",),
        )
        await _publish(library, changed, CANTEEN)
        result = await live.search("数字证书锁定了")
        assert result.top is not None and result.top.entry_id == "ukey-locked"
        added = embedder.texts[first:]
        assert "数字证书锁定了" in added and "忘记OA密码怎么办？" not in added
        assert (await live.search("食堂几点开饭")).top.entry_id == "canteen"  # type: ignore[union-attr]
    finally:
        live.close()

    # Another process starts: every vector is in the database, nothing is embedded again.
    other_embedder = CountingEmbedder()
    other = LiveIndex(runtime, other_embedder)
    try:
        result = await other.search("忘记OA密码怎么办")
        assert result.top is not None and result.top.entry_id == "oa-reset"
        assert other_embedder.texts == ["忘记OA密码怎么办"]
    finally:
        other.close()


async def test_restart_loads_the_saved_index_then_catches_up(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = KnowledgeLibrary(runtime)
    await _publish(library, RESET, UKEY)
    live = LiveIndex(runtime, CountingEmbedder(), cache_dir=tmp_path)
    await live.refresh()
    live.close()
    assert (tmp_path / INDEX_FILE).is_file()

    await _publish(library, CANTEEN)  # published while the bot was down

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the saved index should have been loaded, not rebuilt")

    monkeypatch.setattr(Index, "build", no_build)
    again = LiveIndex(runtime, CountingEmbedder(), cache_dir=tmp_path)
    try:
        assert (await again.search("食堂几点开饭")).top.entry_id == "canteen"  # type: ignore[union-attr]
        assert (await again.search("忘记OA密码")).top.entry_id == "oa-reset"  # type: ignore[union-attr]
        assert len(again) == 3
    finally:
        again.close()


async def test_a_damaged_saved_index_is_rebuilt(runtime: Runtime, tmp_path: Path) -> None:
    library = KnowledgeLibrary(runtime)
    await _publish(library, RESET)
    (tmp_path / INDEX_FILE).write_bytes(b"not an index")
    (tmp_path / "faq-index.json").write_text("{}")
    live = LiveIndex(runtime, CountingEmbedder(), cache_dir=tmp_path)
    try:
        assert (await live.search("忘记OA密码")).top.entry_id == "oa-reset"  # type: ignore[union-attr]
    finally:
        live.close()


async def test_trainers_glossary_applies_to_the_next_search(runtime: Runtime) -> None:
    library = KnowledgeLibrary(runtime)
    await _publish(library, CANTEEN)
    live = LiveIndex(runtime, CountingEmbedder())
    try:
        before = await live.search("饭堂")
        assert before.top is None or before.top.confidence < 0.5
        async with runtime.detached_uow() as uow:
            uow.session.add(FaqGlossaryTerm(terms=["食堂", "饭堂"], updated_at=runtime.clock()))
            await uow.commit()
        after = await live.search("饭堂几点开饭")
        assert after.top is not None and after.top.entry_id == "canteen"
        assert after.top.confidence > (before.top.confidence if before.top else 0.0)
    finally:
        live.close()


async def test_empty_knowledge_base_answers_nothing(runtime: Runtime) -> None:
    live = LiveIndex(runtime, CountingEmbedder())
    try:
        result = await live.search("忘记OA密码")
        assert result.hits == ()
        assert (await live.embed([])).shape == (0, 256)
    finally:
        live.close()


async def test_a_deployment_plugs_in_its_own_embedder() -> None:
    embedder = shared_embedder("knowledge.embed:HashEmbedder")
    assert embedder.name == HashEmbedder().name and embedder.dim == 256
    assert shared_embedder("knowledge.embed:HashEmbedder") is embedder  # loaded once
    for bad in (
        "no.such.module:Thing",
        "knowledge.embed:NoSuchClass",
        "knowledge.glossary:Glossary",
    ):
        with pytest.raises(EmbedderError):
            shared_embedder(bad)
