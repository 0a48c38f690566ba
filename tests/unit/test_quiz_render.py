"""The quiz card and messages as a phone shows them (#8), in both languages: the options in
the text and letters on the buttons (data the codec reads back), right/wrong with the
explanation, the score, the certificate; bank text escaped for HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.i18n import translator
from bot.messaging.outgoing import Outgoing
from bot.quizzes.campaigns import REFUSED_KIND
from bot.quizzes.taking import CARD_KIND, CERTIFICATE_KIND, OPTION_SPAN, RESULT_KIND
from handlers.callbacks import decode
from handlers.render import RENDERERS
from handlers.render import quizzes as _quiz_renderers  # noqa: F401  (registers them)


def _text(zh: str, en: str) -> dict[str, str]:
    return {"zh_CN": zh, "en": en}


CARD: dict[str, Any] = {
    "attempt_id": 42,
    "campaign_id": 3,
    "title": _text("保密安全知识测试", "Security awareness check"),
    "position": 2,
    "total": 10,
    "text": _text("能否用<微信>传涉密文件？", "May <WeChat> carry classified files?"),
    "options": [_text("可以", "Yes"), _text("严禁", "Never"), _text("加密后可以", "If zipped")],
    "answered": None,
    "finished": None,
}


def _render(kind: str, facts: dict[str, Any], locale: str, card: int | None = None) -> Any:
    out = Outgoing(id=1, chat_id=1, kind=kind, locale=locale, facts=facts, card_message_id=card)
    return RENDERERS[kind](out, translator(locale))


@pytest.mark.parametrize(("locale", "place"), [("zh_CN", "第3/10题"), ("en", "3/10")])
def test_a_question_shows_its_options_and_letter_buttons(locale: str, place: str) -> None:
    rendered = _render(CARD_KIND, CARD, locale)
    assert rendered.method == "send" and place in rendered.text
    assert "&lt;" in rendered.text and "<微信>" not in rendered.text  # escaped
    assert ("A．可以" if locale == "zh_CN" else "A．Yes") in rendered.text
    buttons = rendered.reply_markup.inline_keyboard
    assert [[b.text for b in row] for row in buttons] == [["A", "B", "C"]]
    presses = [decode(b.callback_data) for b in buttons[0]]
    assert [(p.action, p.obj_id, p.version) for p in presses] == [
        ("qz.ans", 42, 2 * OPTION_SPAN + i) for i in range(3)
    ]


def test_an_answered_question_marks_right_and_wrong_and_explains() -> None:
    facts = dict(CARD)
    facts["answered"] = {
        "picked": 0,
        "correct": 1,
        "right": False,
        "explanation": _text("聊天工具不受单位控制。", "Chat servers are outside our control."),
    }
    zh = _render(CARD_KIND, facts, "zh_CN", card=7)
    assert zh.method == "edit" and zh.message_id == 7
    assert "A．可以 ❌" in zh.text and "B．严禁 ✅" in zh.text
    assert "回答错误，正确答案是 B" in zh.text and "💡 解析：聊天工具不受单位控制。" in zh.text
    (button,) = zh.reply_markup.inline_keyboard[0]
    assert button.text == "下一题 ▶️" and decode(button.callback_data).action == "qz.next"
    facts["finished"] = {"correct": 9, "total": 10, "score": 90, "passed": True}
    en = _render(CARD_KIND, facts, "en", card=7)
    assert "9 of 10 right, 90%" in en.text and en.reply_markup is None


def test_results_certificates_and_refusals_in_both_languages() -> None:
    result = {
        "campaign_id": 3,
        "title": _text("测试", "Check"),
        "correct": 7,
        "total": 10,
        "score": 70,
        "pass_mark": 80,
        "passed": False,
        "left": 2,
        "refusal": None,
        "until": None,
    }
    failed = _render(RESULT_KIND, result, "zh_CN")
    assert "本次未通过" in failed.text and "还可作答2次" in failed.text
    assert decode(failed.reply_markup.inline_keyboard[0][0].callback_data).action == "qz.go"
    waiting = _render(
        RESULT_KIND,
        {
            **result,
            "refusal": "cooldown",
            "until": datetime(2026, 12, 4, 5, tzinfo=UTC).isoformat(),
        },
        "en",
    )
    assert "try again from" in waiting.text and waiting.reply_markup is None
    certificate = _render(
        CERTIFICATE_KIND,
        {
            "number": "AQ2026-0003-000042",
            "name": "张<伟>",
            "department": "办公室",
            "title": _text("保密安全知识测试", "Security awareness check"),
            "score": 90,
            "date": "2026-12-04",
        },
        "zh_CN",
    )
    assert "编号：AQ2026-0003-000042" in certificate.text and "张&lt;伟&gt;" in certificate.text
    assert "2026年12月4日" in certificate.text and "成绩：90分" in certificate.text
    refused = _render(
        REFUSED_KIND,
        {"problems": [["quiz", "nope"], ["audience:department", "档案室"]], "quizzes": ["a"]},
        "en",
    )
    assert "There is no quiz “nope”." in refused.text
    assert "There is no department called “档案室”." in refused.text
