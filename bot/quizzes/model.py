"""Quizzes (#8): questions, quizzes, drawing, scoring and the retry policy; pure.

A quiz draws ``draw`` questions from the banks of its topics, at random per attempt but
reproducibly: the draw is a function of the attempt's seed, and the attempt stores what was
drawn as well (the question keys and the order their options are shown in). A person passes at
``pass_mark`` percent or more; ``max_attempts`` (None: any number) and ``cooldown`` (between
a failed attempt and the next) limit retries. Once passed, a quiz is not taken again in the
same campaign.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.definitions import Text

# Telegram's limits for a native quiz poll (sendPoll type=quiz), kept at authoring so that a
# bank could always go out as polls, and so that every card stays short on a phone.
QUESTION_MAX = 300
OPTION_MAX = 100
EXPLANATION_MAX = 200
OPTIONS_MIN = 2
OPTIONS_MAX = 10


@dataclass(frozen=True)
class Question:
    """One question of a bank: its options, the one correct option (an index), and why."""

    key: str
    topic: str
    text: Text
    options: tuple[Text, ...]
    correct: int
    explanation: Text

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "topic": self.topic,
            "text": _text_json(self.text),
            "options": [_text_json(o) for o in self.options],
            "correct": self.correct,
            "explanation": _text_json(self.explanation),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Question:
        return cls(
            key=str(data["key"]),
            topic=str(data["topic"]),
            text=_text_of(data["text"]),
            options=tuple(_text_of(o) for o in data["options"]),
            correct=int(data["correct"]),
            explanation=_text_of(data["explanation"]),
        )


@dataclass(frozen=True)
class Bank:
    """The questions of one topic (密码安全, 钓鱼邮件 …)."""

    topic: str
    title: Text
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Quiz:
    """A quiz: which topics it draws from, how many, the pass mark and the retry policy."""

    key: str
    title: Text
    topics: tuple[str, ...]
    draw: int
    pass_mark: int  # percent, 1–100
    max_attempts: int | None = None  # None: as many as wanted until passed
    cooldown: timedelta | None = None  # after a failed attempt
    shuffle_options: bool = True
    description: Text | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": _text_json(self.title),
            "topics": list(self.topics),
            "draw": self.draw,
            "pass_mark": self.pass_mark,
            "max_attempts": self.max_attempts,
            "cooldown_s": int(self.cooldown.total_seconds()) if self.cooldown else None,
            "shuffle_options": self.shuffle_options,
            "description": _text_json(self.description) if self.description else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Quiz:
        cooldown = data.get("cooldown_s")
        return cls(
            key=str(data["key"]),
            title=_text_of(data["title"]),
            topics=tuple(str(t) for t in data["topics"]),
            draw=int(data["draw"]),
            pass_mark=int(data["pass_mark"]),
            max_attempts=None if data.get("max_attempts") is None else int(data["max_attempts"]),
            cooldown=timedelta(seconds=int(cooldown)) if cooldown else None,
            shuffle_options=bool(data.get("shuffle_options", True)),
            description=_text_of(data["description"]) if data.get("description") else None,
        )


@dataclass(frozen=True)
class Paper:
    """What one campaign asks: the quiz and the pool of questions it draws from (a snapshot,
    so that an attempt means the same after a bank is edited)."""

    quiz: Quiz
    pool: tuple[Question, ...]

    def question(self, key: str) -> Question | None:
        return next((q for q in self.pool if q.key == key), None)

    def as_json(self) -> dict[str, Any]:
        return {"quiz": self.quiz.as_json(), "pool": [q.as_json() for q in self.pool]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Paper:
        return cls(
            Quiz.from_json(data["quiz"]), tuple(Question.from_json(q) for q in data["pool"])
        )


@dataclass(frozen=True)
class Drawn:
    """One drawn question: its key, and the order its options are shown in (``order[i]`` is
    the bank's index of the option shown i-th)."""

    key: str
    order: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "order": list(self.order)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Drawn:
        return cls(str(data["key"]), tuple(int(i) for i in data["order"]))


def draw(paper: Paper, seed: int) -> list[Drawn]:
    """The questions of one attempt: ``quiz.draw`` of the pool (all of it if it is smaller),
    spread over the topics as evenly as the pool allows, in a random order, each with its
    options shuffled if the quiz says so. The same seed always draws the same."""
    rng = random.Random(seed)
    quiz = paper.quiz
    by_topic: dict[str, list[Question]] = {t: [] for t in quiz.topics}
    for question in sorted(paper.pool, key=lambda q: q.key):  # the seed alone decides
        by_topic.setdefault(question.topic, []).append(question)
    for questions in by_topic.values():
        rng.shuffle(questions)
    wanted = min(quiz.draw, len(paper.pool))
    picked: list[Question] = []
    while len(picked) < wanted:  # round robin: every topic gets its share
        for topic in list(by_topic):
            if by_topic[topic] and len(picked) < wanted:
                picked.append(by_topic[topic].pop())
    rng.shuffle(picked)
    drawn = []
    for question in picked:
        order = list(range(len(question.options)))
        if quiz.shuffle_options:
            rng.shuffle(order)
        drawn.append(Drawn(question.key, tuple(order)))
    return drawn


def percent(correct: int, total: int) -> int:
    """The score in whole percent, rounded down (79.9% does not pass an 80% mark)."""
    return 0 if total <= 0 else correct * 100 // total


def passed(correct: int, total: int, pass_mark: int) -> bool:
    return total > 0 and correct * 100 >= pass_mark * total


class Refusal(StrEnum):
    """Why a new attempt cannot start."""

    PASSED = "passed"
    NO_ATTEMPTS_LEFT = "no_attempts_left"
    COOLDOWN = "cooldown"


@dataclass(frozen=True)
class Verdict:
    """May a new attempt start: None (yes), else why, and from when (cooldown)."""

    refusal: Refusal | None
    until: datetime | None = None


def may_start(
    quiz: Quiz,
    *,
    finished: int,
    has_passed: bool,
    last_finished_at: datetime | None,
    now: datetime,
) -> Verdict:
    """The retry policy for a new attempt, given the person's finished attempts so far."""
    if has_passed:
        return Verdict(Refusal.PASSED)
    if quiz.max_attempts is not None and finished >= quiz.max_attempts:
        return Verdict(Refusal.NO_ATTEMPTS_LEFT)
    if quiz.cooldown is not None and last_finished_at is not None:
        until = last_finished_at + quiz.cooldown
        if now < until:
            return Verdict(Refusal.COOLDOWN, until)
    return Verdict(None)


def attempts_left(quiz: Quiz, finished: int) -> int | None:
    """How many attempts remain (None: no limit)."""
    return None if quiz.max_attempts is None else max(0, quiz.max_attempts - finished)


@dataclass(frozen=True)
class Miss:
    """How often one question was answered wrongly, over the finished attempts that drew it."""

    key: str
    asked: int
    missed: int

    @property
    def rate(self) -> float:
        return self.missed / self.asked if self.asked else 0.0


def most_missed(
    attempts: Sequence[tuple[Sequence[Drawn], Sequence[int]]],
    paper: Paper,
    *,
    limit: int = 10,
) -> list[Miss]:
    """The questions missed most (by miss rate, then by how many missed), from finished
    attempts given as (drawn, answers: the bank's option index picked per question)."""
    asked: dict[str, int] = {}
    missed: dict[str, int] = {}
    for drawn, answers in attempts:
        for item, picked in zip(drawn, answers, strict=False):
            question = paper.question(item.key)
            if question is None:
                continue
            asked[item.key] = asked.get(item.key, 0) + 1
            if picked != question.correct:
                missed[item.key] = missed.get(item.key, 0) + 1
    misses = [Miss(k, n, missed.get(k, 0)) for k, n in asked.items() if missed.get(k)]
    misses.sort(key=lambda m: (-m.rate, -m.missed, m.key))
    return misses[:limit]


def _text_json(text: Text) -> dict[str, str]:
    return {"zh_CN": text.zh_CN, "en": text.en}


def _text_of(data: Any) -> Text:
    return Text(zh_CN=str(data["zh_CN"]), en=str(data["en"]))
