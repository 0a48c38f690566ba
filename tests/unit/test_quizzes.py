"""Quiz rules (#8): banks and quizzes read with the line of every mistake, Telegram's
quiz-poll limits kept at authoring, the shipped banks, drawing (reproducible, spread over the
topics, options shuffled), scoring, the retry policy and the most-missed questions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.definitions import Text
from bot.quizzes.campaigns import add_months, audience_of
from bot.quizzes.definitions import QuizError, load_library, load_shipped, parse_bank, parse_quiz
from bot.quizzes.model import (
    Drawn,
    Paper,
    Question,
    Quiz,
    Refusal,
    attempts_left,
    draw,
    may_start,
    most_missed,
    passed,
    percent,
)
from bot.surveys.publishing import parse_audience

BANK = """\
topic: demo
title: {zh_CN: 演示, en: Demo}
questions:
  - key: q_one
    text: {zh_CN: 问题一, en: Question one}
    options:
      - {zh_CN: 甲, en: A}
      - {zh_CN: 乙, en: B}
    correct: 2
    explanation: {zh_CN: 因为乙, en: Because B}
"""


def _bank_with(line: str, value: str) -> str:
    """The demo bank with one line replaced (``line`` is its start, ``value`` the new line)."""
    lines = BANK.splitlines()
    index = next(i for i, text in enumerate(lines) if text.lstrip().startswith(line))
    lines[index] = value
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            _bank_with("text:", "    text: {zh_CN: " + "问" * 301 + ", en: Q}"),
            5,
            "zh_CN text of question “q_one” has 301 characters; Telegram allows at most 300",
        ),
        (
            _bank_with("- {zh_CN: 甲", "      - {zh_CN: 甲, en: " + "a" * 101 + "}"),
            7,
            "en text of option 1 of question “q_one” has 101 characters; Telegram allows at most",
        ),
        (
            _bank_with("explanation:", "    explanation: {zh_CN: " + "释" * 201 + ", en: E}"),
            10,
            "explanation of question “q_one” has 201 characters",
        ),
        (
            _bank_with("- {zh_CN: 乙", ""),
            7,
            "needs 2 to 10 options (it has 1)",
        ),
        (_bank_with("correct:", "    correct: 3"), 9, "correct of question “q_one” is 3"),
        (_bank_with("correct:", "    correct: 0"), 9, "at least 1"),
        (_bank_with("text:", "    text: {zh_CN: 问题一}"), 5, "has no en label"),
        (_bank_with("- {zh_CN: 乙", "      - {zh_CN: 甲, en: A2}"), 8, "repeats an earlier"),
        (BANK.replace("correct: 2", "correct: 2\n    hint: x"), 10, "Unknown key “hint”"),
        (BANK + "  - key: q_one\n", 11, "“text” is missing"),
    ],
)
def test_a_bank_mistake_names_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(QuizError) as raised:
        parse_bank(text, source="demo.yaml")
    assert raised.value.source == "demo.yaml"
    assert raised.value.line == line, str(raised.value)
    assert reason in raised.value.reason


def test_eleven_options_are_refused_and_ten_taken() -> None:
    def bank(n: int) -> str:
        options = "".join(f"      - {{zh_CN: 选项{i}, en: Option {i}}}\n" for i in range(n))
        return BANK.replace("      - {zh_CN: 甲, en: A}\n      - {zh_CN: 乙, en: B}\n", options)

    assert len(parse_bank(bank(10), source="b.yaml").questions[0].options) == 10
    with pytest.raises(QuizError, match="needs 2 to 10 options"):
        parse_bank(bank(11), source="b.yaml")


QUIZ = """\
key: demo_quiz
title: {zh_CN: 演示测试, en: Demo quiz}
topics: [demo]
draw: 1
pass_mark: 80
attempts: 2
cooldown_minutes: 30
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("topics: [demo]", "topics: [demo, nothing]", 3, "no bank with the topic “nothing”"),
        ("draw: 1", "draw: 2", 4, "draw is 2, but the topics hold 1 questions"),
        ("pass_mark: 80", "pass_mark: 120", 5, "at most 100"),
        ("attempts: 2", "attempts: 0", 6, "at least 1"),
        ("cooldown_minutes: 30", "cooldown_minutes: soon", 7, "whole number"),
    ],
)
def test_a_quiz_mistake_names_its_line(old: str, new: str, line: int, reason: str) -> None:
    banks = {"demo": parse_bank(BANK, source="demo.yaml")}
    with pytest.raises(QuizError) as raised:
        parse_quiz(QUIZ.replace(old, new), source="quiz.yaml", banks=banks)
    assert (raised.value.line, reason in raised.value.reason) == (line, True), str(raised.value)


def test_a_quiz_reads_its_policy() -> None:
    banks = {"demo": parse_bank(BANK, source="demo.yaml")}
    quiz = parse_quiz(QUIZ, source="quiz.yaml", banks=banks)
    assert (quiz.draw, quiz.pass_mark, quiz.max_attempts) == (1, 80, 2)
    assert quiz.cooldown == timedelta(minutes=30) and quiz.shuffle_options
    assert Quiz.from_json(quiz.as_json()) == quiz


def test_two_banks_may_not_share_a_question_key(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BANK, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BANK.replace("topic: demo", "topic: other"), "utf-8")
    with pytest.raises(QuizError, match=r"q_one” is also in a\.yaml"):
        load_library(tmp_path.glob("*.yaml"), [])


def test_the_shipped_banks_are_complete_and_fit_quiz_polls() -> None:
    library = load_shipped()
    assert set(library.banks) >= {"password", "phishing", "classified", "ukey", "device"}
    for bank in library.banks.values():
        assert len(bank.questions) >= 6, bank.topic
        for q in bank.questions:
            for text in (q.text, q.explanation, *q.options):
                assert text.zh_CN and text.en
            assert len(q.text.zh_CN) <= 300 and len(q.explanation.en) <= 200
            assert 2 <= len(q.options) <= 10 and 0 <= q.correct < len(q.options)
    security = library.paper("security_basics")
    assert security is not None and security.quiz.draw == 10
    assert {q.topic for q in security.pool} == set(security.quiz.topics)
    assert Paper.from_json(security.as_json()) == security


def _paper(sizes: list[int], n: int, shuffle: bool = True) -> Paper:
    topics = tuple(f"t{i}" for i in range(len(sizes)))
    pool = tuple(
        Question(
            key=f"t{i}_q{j}",
            topic=f"t{i}",
            text=Text("问", "Q"),
            options=tuple(Text(f"选{k}", f"O{k}") for k in range(2 + (i + j) % 9)),
            correct=0,
            explanation=Text("解", "E"),
        )
        for i, size in enumerate(sizes)
        for j in range(size)
    )
    return Paper(Quiz("k", Text("测", "Q"), topics, n, 80, shuffle_options=shuffle), pool)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=5),
    n=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_drawing_is_reproducible_distinct_and_spread(sizes: list[int], n: int, seed: int) -> None:
    paper = _paper(sizes, n)
    drawn = draw(paper, seed)
    assert drawn == draw(paper, seed)  # the seed alone decides
    keys = [d.key for d in drawn]
    assert len(keys) == len(set(keys)) == min(n, sum(sizes))
    for item in drawn:
        question = paper.question(item.key)
        assert question is not None
        assert sorted(item.order) == list(range(len(question.options)))
    # Round robin: a topic has two fewer than another only when it ran out of questions.
    counts = {t: sum(1 for k in keys if k.startswith(t + "_")) for t in paper.quiz.topics}
    size = dict(zip(paper.quiz.topics, sizes, strict=True))
    for a in counts:
        for b in counts:
            assert counts[a] <= counts[b] + 1 or counts[b] == size[b]
    assert Drawn.from_json(drawn[0].as_json()) == drawn[0]


def test_different_seeds_draw_differently_and_no_shuffle_keeps_the_order() -> None:
    paper = _paper([8, 8], 6)
    assert len({tuple(d.key for d in draw(paper, seed)) for seed in range(20)}) > 10
    plain = _paper([8], 4, shuffle=False)
    assert all(d.order == tuple(sorted(d.order)) for d in draw(plain, 7))


@pytest.mark.parametrize(
    ("correct", "total", "mark", "score", "ok"),
    [
        (8, 10, 80, 80, True),
        (7, 10, 80, 70, False),
        (4, 5, 80, 80, True),
        (2, 3, 67, 66, False),  # 66.7% is below 67: never rounded up into a pass
        (5, 5, 100, 100, True),
        (0, 0, 1, 0, False),
    ],
)
def test_scoring(correct: int, total: int, mark: int, score: int, ok: bool) -> None:
    assert percent(correct, total) == score
    assert passed(correct, total, mark) is ok


NOW = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
POLICY = Quiz("k", Text("测", "Q"), ("t",), 5, 80, max_attempts=3, cooldown=timedelta(minutes=30))


@pytest.mark.parametrize(
    ("finished", "has_passed", "last", "refusal", "until"),
    [
        (0, False, None, None, None),
        (1, False, NOW - timedelta(minutes=10), Refusal.COOLDOWN, NOW + timedelta(minutes=20)),
        (1, False, NOW - timedelta(minutes=30), None, None),
        (3, False, NOW - timedelta(days=1), Refusal.NO_ATTEMPTS_LEFT, None),
        (1, True, NOW - timedelta(days=1), Refusal.PASSED, None),
    ],
)
def test_the_retry_policy(
    finished: int,
    has_passed: bool,
    last: datetime | None,
    refusal: Refusal | None,
    until: datetime | None,
) -> None:
    verdict = may_start(
        POLICY, finished=finished, has_passed=has_passed, last_finished_at=last, now=NOW
    )
    assert (verdict.refusal, verdict.until) == (refusal, until)


def test_attempts_left_and_no_limit() -> None:
    assert attempts_left(POLICY, 1) == 2 and attempts_left(POLICY, 5) == 0
    unlimited = Quiz("k", Text("测", "Q"), ("t",), 5, 80)
    assert attempts_left(unlimited, 9) is None
    assert may_start(unlimited, finished=50, has_passed=False, last_finished_at=NOW, now=NOW)


def test_most_missed_by_rate_then_count() -> None:
    paper = _paper([3], 3, shuffle=False)  # t0_q0..2, all correct at 0
    a, b, c = (Drawn(f"t0_q{i}", (0, 1)) for i in range(3))
    attempts = [([a, b, c], [1, 1, 0]), ([a, b], [1, 0]), ([a, c], [0, 0])]
    misses = most_missed(attempts, paper)
    assert [(m.key, m.asked, m.missed) for m in misses] == [("t0_q0", 3, 2), ("t0_q1", 2, 1)]
    assert misses[0].rate == pytest.approx(2 / 3)


def test_periodic_rounds_and_stored_audiences() -> None:
    start = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert add_months(start, 3) == datetime(2027, 2, 28, 2, 0, tzinfo=UTC)
    assert add_months(start, 1) == datetime(2026, 12, 30, 2, 0, tzinfo=UTC)
    for spec in ("all", "dept:办公室,role:security,staff:E1"):
        audience = parse_audience(spec)
        assert audience_of(audience.as_json()) == audience
