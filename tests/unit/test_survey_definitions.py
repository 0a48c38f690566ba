"""Survey definitions (#8): the shipped templates, skip logic, progress, NPS, and every kind of
mistake in a YAML definition reported with its line."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.surveys.definitions import SurveyError, load_shipped, parse_survey
from bot.surveys.model import Answer, QuestionKind, Resubmit, Survey, nps

HEAD = """\
key: t
version: 1
title: {zh_CN: 测试, en: Test}
welcome: {zh_CN: 开始, en: Start}
closing: {zh_CN: 结束, en: End}
"""


def _survey(questions: str, head: str = HEAD) -> Survey:
    return parse_survey(head + "questions:\n" + textwrap.indent(questions, "  "), source="t.yaml")


def _error(questions: str, head: str = HEAD) -> SurveyError:
    with pytest.raises(SurveyError) as caught:
        _survey(questions, head)
    return caught.value


def test_the_shipped_templates() -> None:
    shipped = load_shipped()
    assert set(shipped) == {
        "needs_research",
        "pilot_feedback",
        "training_satisfaction",
        "system_nps",
    }
    kinds = {q.kind for s in shipped.values() for q in s.questions}
    assert kinds == set(QuestionKind)  # between them, every type of question
    assert shipped["pilot_feedback"].anonymous and not shipped["needs_research"].anonymous
    assert shipped["needs_research"].resubmit is Resubmit.REPLACE
    for survey in shipped.values():
        for question in survey.questions:
            assert question.text.zh_CN and question.text.en


def test_an_nps_of_six_asks_what_to_improve() -> None:
    """Reference item 19: an NPS of 6 skips to "what should we improve?"; 9 asks what they
    like; 7 goes straight on."""
    survey = load_shipped()["pilot_feedback"]
    first = survey.next_question({}, None)
    assert first is not None and first.key == "recommend"
    step = survey.next_question({"recommend": 6}, "recommend")
    assert step is not None and step.key == "improve"
    step = survey.next_question({"recommend": 9}, "recommend")
    assert step is not None and step.key == "liked"
    step = survey.next_question({"recommend": 7}, "recommend")
    assert step is not None and step.key == "ease"
    assert [q.key for q in survey.path({"recommend": 7})] == [
        "recommend",
        "ease",
        "problems",
        "problem_detail",  # until "problems" is answered "none"
        "usage",
    ]


def test_progress_and_a_changed_answer_drop_what_it_no_longer_asks() -> None:
    survey = load_shipped()["pilot_feedback"]
    answers: dict[str, Answer] = {
        "recommend": 4,
        "improve": "太慢",
        "ease": 3,
        "problems": frozenset({"speed"}),
    }
    assert survey.progress(answers, "improve") == (2, 6)  # problem_detail is on the path
    assert survey.progress(answers, "usage") == (6, 6)
    answers["recommend"] = 10  # changed its mind: "improve" is off the path now
    assert "improve" not in survey.kept(answers)
    assert survey.kept(answers)["ease"] == 3
    answers["problems"] = frozenset({"none"})
    assert [q.key for q in survey.path(answers)][-2:] == ["problems", "usage"]


def test_nps_is_promoters_minus_detractors() -> None:
    # 4 promoters (9, 10, 9, 10), 3 passives (7, 8, 8), 3 detractors (0, 5, 6): 40 % − 30 %.
    assert nps([9, 10, 9, 10, 7, 8, 8, 0, 5, 6]) == 10
    assert nps([0, 1, 2]) == -100
    assert nps([]) is None


def test_a_definition_with_every_type() -> None:
    survey = _survey(
        """\
- key: pick
  type: single
  text: {zh_CN: 选一个, en: Pick one}
  choices:
    - {key: a, label: {zh_CN: 甲, en: A}}
    - {key: b, label: {zh_CN: 乙, en: B}}
- key: many
  type: multiple
  text: {zh_CN: 选几个, en: Pick some}
  choices:
    - {key: x, label: {zh_CN: 一, en: X}}
    - {key: y, label: {zh_CN: 二, en: Y}}
    - {key: z, label: {zh_CN: 三, en: Z}}
  min: 1
  max: 2
  show_if: [{question: pick, any_of: [a]}]
- key: stars
  type: rating
  text: {zh_CN: 打分, en: Rate}
- key: n
  type: number
  text: {zh_CN: 数量, en: How many}
  min: -5
  max: 2.5
  required: false
- key: when
  type: date
  text: {zh_CN: 日期, en: When}
  show_if: {question: n, answered: true}
- key: words
  type: text
  text: {zh_CN: 说说, en: Say}
  max: 200
"""
    )
    many = survey.question("many")
    assert many is not None and (many.min, many.max) == (Decimal(1), Decimal(2))
    n = survey.question("n")
    assert n is not None and n.min == Decimal(-5) and not n.required
    words = survey.question("words")
    assert words is not None and words.max == Decimal(200)
    assert [q.key for q in survey.path({"pick": "b"})] == ["pick", "stars", "n", "words"]
    assert [q.key for q in survey.path({"pick": "a", "n": 3})] == [
        "pick",
        "many",
        "stars",
        "n",
        "when",
        "words",
    ]


CHOICES = """\
  choices:
    - {key: a, label: {zh_CN: 甲, en: A}}
    - {key: b, label: {zh_CN: 乙, en: B}}
"""


@pytest.mark.parametrize(
    ("questions", "line", "words"),
    [
        ("- key: q\n  type: slider\n  text: {zh_CN: 问, en: Q}\n", 8, "Unknown question type"),
        ("- key: q\n  type: single\n  text: {zh_CN: 问, en: Q}\n", 7, "needs choices"),
        ("- key: q\n  type: text\n  text: {zh_CN: 问}\n", 9, "no en label"),
        (
            "- key: q\n  type: rating\n  text: {zh_CN: 问, en: Q}\n" + CHOICES,
            10,
            "choices do not apply",
        ),
        ("- key: q\n  type: rating\n  text: {zh_CN: 问, en: Q}\n  max: 3\n", 10, "max does not"),
        (
            "- key: q\n  type: multiple\n  text: {zh_CN: 问, en: Q}\n" + CHOICES + "  max: 3\n",
            13,
            "must lie in 1–2",
        ),
        ("- key: q\n  type: text\n  text: {zh_CN: 问, en: Q}\n  max: 5000\n", 10, "at most 3500"),
        ("- key: q\n  type: text\n  text: {zh_CN: 问, en: Q}\n  min: 1.5\n", 10, "whole number"),
        (
            "- key: q\n  type: text\n  text: {zh_CN: 问, en: Q}\n  min: 9\n  max: 3\n",
            7,
            "greater than its max",
        ),
        (
            "- key: q\n  type: single\n  text: {zh_CN: 问, en: Q}\n"
            "  choices:\n    - {key: a, label: {zh_CN: 甲, en: A}}\n",
            11,
            "2 to 20 choices",
        ),
        (
            "- key: q\n  type: single\n  text: {zh_CN: 问, en: Q}\n  choices:\n"
            "    - {key: a, label: {zh_CN: 甲, en: A}}\n"
            "    - {key: a, label: {zh_CN: 乙, en: B}}\n",
            12,
            "appears twice",
        ),
        (
            "- key: q\n  type: single\n  text: {zh_CN: 问, en: Q}\n  choices:\n"
            "    - {key: a, label: {zh_CN: 甲, en: A}}\n"
            "    - {key: b, label: {zh_CN: " + "长" * 41 + ", en: B}}\n",
            12,
            "over 40 characters",
        ),
        (
            "- key: q\n  type: text\n  text: {zh_CN: 问, en: Q}\n"
            "  show_if: {question: later, answered: true}\n"
            "- key: later\n  type: text\n  text: {zh_CN: 后, en: Later}\n",
            10,
            "not an earlier question",
        ),
        (
            "- key: a\n  type: text\n  text: {zh_CN: 问, en: Q}\n"
            "- key: b\n  type: text\n  text: {zh_CN: 问, en: Q}\n"
            "  show_if: {question: a, any_of: [x]}\n",
            13,
            "applies to a choice question",
        ),
        (
            "- key: a\n  type: nps\n  text: {zh_CN: 问, en: Q}\n"
            "- key: b\n  type: text\n  text: {zh_CN: 问, en: Q}\n"
            "  show_if: {question: a, at_most: 11}\n",
            13,
            "must lie in 0–10",
        ),
        (
            "- key: a\n  type: single\n  text: {zh_CN: 问, en: Q}\n" + CHOICES + "- key: b\n"
            "  type: text\n  text: {zh_CN: 问, en: Q}\n  show_if: {question: a, none_of: [c]}\n",
            16,
            "not a choice of “a”",
        ),
        (
            "- key: a\n  type: rating\n  text: {zh_CN: 问, en: Q}\n"
            "- key: b\n  type: text\n  text: {zh_CN: 问, en: Q}\n  show_if: {question: a}\n",
            13,
            "says nothing",
        ),
        (
            "- key: a\n  type: rating\n  text: {zh_CN: 问, en: Q}\n"
            "- key: a\n  type: rating\n  text: {zh_CN: 问, en: Q}\n",
            10,
            "appears twice",
        ),
        ("- key: A\n  type: rating\n  text: {zh_CN: 问, en: Q}\n", 7, "lowercase"),
        ("- key: a\n  type: rating\n  text: {zh_CN: 问, en: Q\n", 10, "not valid YAML"),
    ],
)
def test_mistakes_are_reported_with_their_line(questions: str, line: int, words: str) -> None:
    error = _error(questions)
    assert error.line == line, str(error)
    assert words in error.reason, str(error)
    assert str(error).startswith(f"t.yaml:{line}: ")


def test_top_level_mistakes() -> None:
    q = "- key: a\n  type: rating\n  text: {zh_CN: 问, en: Q}\n"
    assert "“closing” is missing" in _error(q, HEAD.replace("closing:", "# closing:")).reason
    assert "resubmit" in _error(q, HEAD + "resubmit: sometimes\n").reason
    assert "anonymous must be true or false" in _error(q, HEAD + "anonymous: maybe\n").reason
    replace = _error(q, HEAD + "anonymous: true\nresubmit: replace\n")
    assert replace.line == 7 and "cannot replace" in replace.reason
    many = "".join(
        f"- key: q{i}\n  type: rating\n  text: {{zh_CN: 问, en: Q}}\n" for i in range(51)
    )
    assert "at most 50 questions" in _error(many).reason


SHIPPED = load_shipped()


def _answers_for(survey: Survey) -> st.SearchStrategy[dict[str, Answer]]:
    """Any answers at all to a survey's questions, on the path or not."""
    per_question: dict[str, st.SearchStrategy[Answer]] = {}
    for q in survey.questions:
        if q.kind is QuestionKind.SINGLE:
            per_question[q.key] = st.sampled_from([c.key for c in q.choices])
        elif q.kind is QuestionKind.MULTIPLE:
            per_question[q.key] = st.frozensets(
                st.sampled_from([c.key for c in q.choices]), min_size=1
            )
        elif q.kind is QuestionKind.RATING:
            per_question[q.key] = st.integers(1, 5)
        elif q.kind is QuestionKind.NPS:
            per_question[q.key] = st.integers(0, 10)
        else:
            per_question[q.key] = st.just("文字")
    return st.fixed_dictionaries({}, optional=per_question)


@given(
    st.sampled_from(sorted(SHIPPED)).flatmap(
        lambda k: st.tuples(st.just(k), _answers_for(SHIPPED[k]))
    )
)
def test_walking_next_question_follows_the_path(case: tuple[str, dict[str, Answer]]) -> None:
    """Asking question after question with next_question visits exactly the path, and every
    question on it is asked by the answers kept before it."""
    key, answers = case
    survey = SHIPPED[key]
    walked, current = [], survey.next_question(answers, None)
    while current is not None:
        walked.append(current.key)
        current = survey.next_question(answers, current.key)
    path = survey.path(answers)
    assert walked == [q.key for q in path]
    kept = survey.kept(answers)
    assert set(kept) <= {q.key for q in path}
    for question in path:
        position, total = survey.progress(answers, question.key)
        assert 1 <= position <= total == len(path)


def test_answers_round_trip_through_json_and_required_gaps_are_named() -> None:
    import json
    from datetime import date

    from bot.surveys.model import decode_answers, encode_answers, missing

    survey = SHIPPED["needs_research"]
    answers: dict[str, Answer] = {
        "work_area": "meetings",
        "tools_now": frozenset({"email", "paper"}),
        "pain_points": frozenset({"seals"}),
        "first_module": "leave",
        "daily_documents": Decimal("12.5"),
        "device": "both",
        "training_need": 4,
        "training_format": frozenset({"manual"}),
        "training_date": date(2026, 12, 20),
    }
    stored = json.loads(json.dumps(encode_answers(survey, answers)))
    assert stored["tools_now"] == ["email", "paper"] and stored["daily_documents"] == "12.5"
    assert decode_answers(survey, stored) == answers
    assert decode_answers(survey, {**stored, "gone": 1, "training_need": "x"}) == {
        k: v for k, v in answers.items() if k != "training_need"
    }
    assert missing(survey, answers) == []
    del answers["training_format"]
    assert [q.key for q in missing(survey, answers)] == ["training_format"]
    answers["training_need"] = 1  # training is then not asked about at all
    assert missing(survey, answers) == []
