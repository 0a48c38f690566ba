"""Grouping what the knowledge base could not answer (#6): pure, on hand-made vectors and the
test embedder; and when the digest is due on the working-day calendar."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.calendar.domain import CalendarDay, WorkCalendar
from bot.faq.digest import GROUP_THRESHOLD, Asked, group_questions, next_run
from knowledge import HashEmbedder

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _asked(
    i: int,
    text: str = "",
    *,
    asker: str | None = None,
    key: str | None = None,
    score: float = 0.0,
    minutes: int = 0,
) -> Asked:
    return Asked(i, text or f"q{i}", asker or f"p{i}", key, score, T0 + timedelta(minutes=minutes))


def _at(*degrees: float) -> np.ndarray:
    """Unit vectors in a plane at these angles: cosine between two is cos(difference)."""
    rows = [[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees]
    return np.asarray(rows, dtype=np.float32)


def test_nothing_to_group() -> None:
    assert group_questions([], np.zeros((0, 8), dtype=np.float32)) == []


def test_one_vector_per_question() -> None:
    with pytest.raises(ValueError):
        group_questions([_asked(1)], _at(0, 10))


def test_close_questions_group_and_people_are_counted_once() -> None:
    questions = [
        _asked(1, "a", asker="x"),
        _asked(2, "b", asker="x"),  # the same person again
        _asked(3, "c", asker="y"),
        _asked(4, "far", asker="z"),
    ]
    groups = group_questions(questions, _at(0, 5, 10, 90), threshold=0.9)
    assert [sorted(g.members) for g in groups] == [[1, 2, 3], [4]]
    assert [g.askers for g in groups] == [2, 1]


def test_the_threshold_is_inclusive_and_below_it_nothing_joins() -> None:
    at_limit = math.degrees(math.acos(0.8)) - 0.01
    just_under = math.degrees(math.acos(0.8)) + 0.5
    assert len(group_questions([_asked(1), _asked(2)], _at(0, at_limit), threshold=0.8)) == 1
    assert len(group_questions([_asked(1), _asked(2)], _at(0, just_under), threshold=0.8)) == 2


def test_a_chain_of_small_steps_does_not_join_two_topics() -> None:
    # 0°–40°–80°–120°: each close to the next (cos 40° ≈ 0.77), the ends far apart.
    groups = group_questions([_asked(i) for i in range(1, 5)], _at(0, 40, 80, 120), threshold=0.75)
    assert sorted(sorted(g.members) for g in groups) == [[1, 2, 3], [4]]


def test_most_people_first_then_most_questions_then_most_recent() -> None:
    questions = [
        _asked(1, asker="a", minutes=1),  # topic A: 1 person, asked twice
        _asked(2, asker="a", minutes=2),
        _asked(3, asker="b", minutes=3),  # topic B: 2 people
        _asked(4, asker="c", minutes=4),
        _asked(5, asker="d", minutes=9),  # topic C: 1 person, once, but most recently
    ]
    vectors = _at(0, 1, 90, 91, 180)
    groups = group_questions(questions, vectors, threshold=0.9)
    assert [sorted(g.members) for g in groups] == [[3, 4], [1, 2], [5]]
    assert groups[1].latest == T0 + timedelta(minutes=2)


def test_the_most_central_question_represents_the_group_and_examples_differ() -> None:
    questions = [
        _asked(1, "OA 密码忘了怎么办"),
        _asked(2, "OA密码忘了怎么办"),
        _asked(3, "ＯＡ密碼忘了怎麼辦"),  # full-width, Traditional: the same once normalised
        _asked(4, "忘记OA密码"),
        _asked(5, "OA密码找回"),
        _asked(6, "OA密码重置"),
    ]
    vectors = _at(8, 10, 10.5, 12, 6, 14)  # 10° is the middle
    (group,) = group_questions(questions, vectors, threshold=0.9)
    assert group.representative == "OA密码忘了怎么办"
    assert group.members[0] == 2
    # Closest first, each reading once, the representative's spelling not repeated; three.
    assert group.examples == ("OA 密码忘了怎么办", "忘记OA密码", "OA密码找回")


@pytest.mark.parametrize(
    ("keys", "scores", "expected"),
    [
        (["oa", "oa", None], [0.3, 0.3, 0.0], "oa"),  # two of three, confident enough
        (["oa", None, None], [0.9, 0.0, 0.0], None),  # one of three: not the group's entry
        (["oa", "oa", "vpn"], [0.1, 0.15, 0.9], None),  # most common, but a guess (< 0.2)
        (["oa", "vpn"], [0.25, 0.5], "vpn"),  # a tie goes to the better scored
        ([None, None], [0.0, 0.0], None),
    ],
)
def test_the_suggested_entry(
    keys: list[str | None], scores: list[float], expected: str | None
) -> None:
    questions = [
        _asked(i, key=k, score=s) for i, (k, s) in enumerate(zip(keys, scores, strict=True))
    ]
    (group,) = group_questions(questions, _at(*[0.5 * i for i in range(len(keys))]))
    assert group.entry_key == expected


def test_same_input_same_groups() -> None:
    questions = [_asked(i) for i in range(30)]
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    first = group_questions(questions, vectors, threshold=0.3)
    assert first == group_questions(questions, vectors, threshold=0.3)
    assert sorted(m for g in first for m in g.members) == list(range(30))  # each once


def test_an_empty_text_is_a_group_of_its_own() -> None:
    embedder = HashEmbedder()
    texts = ["", "", "OA密码忘了怎么办"]
    groups = group_questions([_asked(i, t) for i, t in enumerate(texts)], embedder.encode(texts))
    assert len(groups) == 3


def test_near_duplicates_group_with_the_test_embedder_and_topics_stay_apart() -> None:
    texts = [
        "OA密码忘了怎么办",
        "OA密码忘了怎么办？",
        "oa密码忘了怎么办啊",
        "食堂几点开饭",
        "食堂几点开饭？",
        "U-Key插上没反应",
    ]
    embedder = HashEmbedder()
    questions = [_asked(i, t) for i, t in enumerate(texts)]
    groups = group_questions(questions, embedder.encode(texts), threshold=GROUP_THRESHOLD)
    assert [sorted(g.members) for g in groups] == [[0, 1, 2], [3, 4], [5]]


# --- when the digest goes out -----------------------------------------------------------------
CAL = WorkCalendar(
    [
        CalendarDay(date(2026, 12, 7), False, "一个假日"),  # a Monday off
        CalendarDay(date(2026, 12, 12), True, "调休"),  # a Saturday worked
    ],
    {2026},
)
FIVE_PM = time(17, 0)


def _local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (_local(1, 9), _local(1, 17)),  # Tuesday morning: today at five
        (_local(1, 17), _local(2, 17)),  # at five sharp: that one is running, so tomorrow
        (_local(4, 18), _local(8, 17)),  # Friday evening: past the weekend and the Monday off
        (_local(11, 20), _local(12, 17)),  # the Saturday worked counts
        (_local(5, 10), _local(8, 17)),  # a Sunday
    ],
)
def test_next_run_is_the_next_working_day_at_the_hour(now: datetime, expected: datetime) -> None:
    got = next_run(CAL, now.astimezone(UTC), at=FIVE_PM, tz=SHANGHAI)
    assert got == expected and got.tzinfo is not None
