"""The pure parts of writing a survey in the chat: bilingual texts, choices, the YAML."""

from __future__ import annotations

import pytest

from bot.surveys.authoring import AuthoringInputError, bilingual, choices_of, to_yaml
from bot.surveys.definitions import CHOICE_LABEL_MAX, MAX_CHOICES, TITLE_MAX, parse_survey
from bot.surveys.model import QuestionKind


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("试点反馈", ["试点反馈", "试点反馈"]),
        ("试点反馈 | Pilot feedback", ["试点反馈", "Pilot feedback"]),
        ("  试点反馈|  ", ["试点反馈", "试点反馈"]),
        ("a | b | c", ["a", "b | c"]),
    ],
)
def test_bilingual(typed: str, expected: list[str]) -> None:
    assert bilingual(typed, limit=TITLE_MAX, what="title") == expected


@pytest.mark.parametrize(
    ("typed", "code"),
    [(" ", "empty"), ("| English only", "empty"), ("长" * (TITLE_MAX + 1), "too_long")],
)
def test_bilingual_refuses(typed: str, code: str) -> None:
    with pytest.raises(AuthoringInputError) as raised:
        bilingual(typed, limit=TITLE_MAX, what="title")
    assert raised.value.code == code


def test_choices() -> None:
    assert choices_of("每天\n 每周 | Weekly \n\n很少") == [
        ["每天", "每天"],
        ["每周", "Weekly"],
        ["很少", "很少"],
    ]
    assert choices_of("是；否") == [["是", "是"], ["否", "否"]]
    for typed, code in [
        ("只有一个", "choices"),
        ("\n".join(str(i) for i in range(MAX_CHOICES + 1)), "choices"),
        ("同\n同", "choice_twice"),
        ("短\n" + "长" * (CHOICE_LABEL_MAX + 1), "too_long"),
    ]:
        with pytest.raises(AuthoringInputError) as raised:
            choices_of(typed)
        assert raised.value.code == code


def test_a_draft_becomes_the_survey_it_describes() -> None:
    draft = {
        "title": ["试用反馈", "Trial feedback"],
        "anonymous": True,
        "questions": [
            {
                "kind": "single",
                "text": ["频率", "How often"],
                "choices": [["每天", "Daily"], ["很少", "Rarely"]],
                "required": True,
            },
            {"kind": "nps", "text": ["推荐度", "Recommend"], "required": False},
            {
                "kind": "date",
                "text": ["开始使用日期: 例如 12月1日", "Since when"],
                "required": True,
            },
        ],
    }
    survey = parse_survey(to_yaml(draft, key="chat_1_202612041200"), source="chat")
    assert survey.key == "chat_1_202612041200" and survey.anonymous
    assert [q.kind for q in survey.questions] == [
        QuestionKind.SINGLE,
        QuestionKind.NPS,
        QuestionKind.DATE,
    ]
    assert [q.required for q in survey.questions] == [True, False, True]
    assert survey.questions[2].text.zh_CN == "开始使用日期: 例如 12月1日"  # YAML-quoted
    assert survey.welcome.zh_CN and survey.closing.en  # the defaults
