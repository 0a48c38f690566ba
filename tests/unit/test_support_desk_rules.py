"""The desk's small rules: what is an internal note, how a topic is named."""

from __future__ import annotations

from bot.support.templates import fill_template
from bot.support.topic import is_note, ticket_topic, topic_name


def test_notes_start_with_a_hash_or_bang_note() -> None:
    for text in ("# 已联系信息中心", "  #备件", "!note 二楼", "!NOTE x", "!Note"):
        assert is_note(text), text
    for text in ("请重启", "C# 程序", "note: 不是备注", "", None, "！note 全角叹号"):
        assert not is_note(text), text


def test_topic_names_fit_telegram() -> None:
    assert topic_name("T2026-000001", "孙浩", "打印机卡纸") == "🟢 T2026-000001 孙浩 · 打印机卡纸"
    assert topic_name("T2026-000001", "孙浩", "卡纸", "claimed").startswith("🟡 T2026")
    assert topic_name("T2026-000001", "孙浩", "卡纸", "resolved").startswith("✅ T2026")
    long = topic_name("T2026-000001", "孙浩", "很" * 300)
    assert len(long) == 128 and long.endswith("…") and long.startswith("🟢 T2026-000001 孙浩")
    assert ticket_topic(12) == "ticket:12"


def test_templates_fill_chinese_and_english_placeholders_only() -> None:
    body = "{姓名}您好，工单{工单号}（{部门}）已处理。Dear {name}, {number}. {其他} {}"
    filled = fill_template(body, name="孙浩", number="T2026-000001", department="城市建设科")
    assert filled == (
        "孙浩您好，工单T2026-000001（城市建设科）已处理。Dear 孙浩, T2026-000001. {其他} {}"
    )
