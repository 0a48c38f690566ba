"""Quiz definitions: question banks and quizzes in YAML, validated with the file and line of
every mistake (``QuizError``, through bot/definitions.py); no I/O but reading.

Every text is bilingual (zh_CN first, en). Telegram's quiz-poll limits are kept at authoring
(a question at most 300 characters, an option at most 100, an explanation at most 200, 2–10
options, one correct option), so that any bank could go out as native quiz polls.

A bank (``shipped/banks/*.yaml``)::

    topic: password               # [a-z][a-z0-9_]*, unique over all banks
    title: {zh_CN: 密码安全, en: Password hygiene}
    questions:
      - key: pw_length            # unique over all banks
        text: {zh_CN: ..., en: ...}
        options:                  # 2–10
          - {zh_CN: ..., en: ...}
        correct: 2                # the number of the correct option, from 1
        explanation: {zh_CN: ..., en: ...}

A quiz (``shipped/quizzes/*.yaml``)::

    key: security_basics
    title: {zh_CN: 保密安全知识测试, en: Security awareness check}
    description: {zh_CN: ..., en: ...}          # optional
    topics: [password, phishing]                 # banks it draws from
    draw: 10                      # questions per attempt (drawn at random per attempt)
    pass_mark: 80                 # percent
    attempts: 3                   # optional: at most this many attempts (default: no limit)
    cooldown_minutes: 30          # optional: wait after a failed attempt
    shuffle_options: true         # default true
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from yaml.nodes import Node

from bot.definitions import DefinitionError, NodeReader, Text, compose
from bot.quizzes.model import (
    EXPLANATION_MAX,
    OPTION_MAX,
    OPTIONS_MAX,
    OPTIONS_MIN,
    QUESTION_MAX,
    Bank,
    Paper,
    Question,
    Quiz,
)

TITLE_MAX = 80
DESCRIPTION_MAX = 1000
MAX_DRAW = 50
_BANK_KEYS = ("topic", "title", "questions")
_QUESTION_KEYS = ("key", "text", "options", "correct", "explanation")
_QUIZ_KEYS = (
    "key",
    "title",
    "description",
    "topics",
    "draw",
    "pass_mark",
    "attempts",
    "cooldown_minutes",
    "shuffle_options",
)


class QuizError(DefinitionError):
    """A bank or quiz that cannot be used: where (file, line) and why."""


class _Reader(NodeReader):
    error = QuizError

    def bounded(self, node: Node, what: str, limit: int) -> Text:
        text = self.label(node, what)
        for locale, value in (("zh_CN", text.zh_CN), ("en", text.en)):
            if len(value) > limit:
                self.fail(
                    node,
                    f"The {locale} text of {what} has {len(value)} characters; Telegram allows "
                    f"at most {limit}.",
                )
        return text


def _question(r: _Reader, node: Node, topic: str) -> tuple[Question, Node]:
    entries = r.mapping(node, "a question", allowed=_QUESTION_KEYS, required=_QUESTION_KEYS)
    key_node = entries["key"][1]
    key = r.key(key_node, "A question key")
    what = f"question “{key}”"
    text = r.bounded(entries["text"][1], what, QUESTION_MAX)
    options_node = entries["options"][1]
    items = r.sequence(options_node, f"The options of {what}")
    if not OPTIONS_MIN <= len(items) <= OPTIONS_MAX:
        r.fail(
            options_node,
            f"{what} needs {OPTIONS_MIN} to {OPTIONS_MAX} options (it has {len(items)}).",
        )
    options = tuple(
        r.bounded(item, f"option {n} of {what}", OPTION_MAX) for n, item in enumerate(items, 1)
    )
    for n, option in enumerate(options, 1):
        if option.zh_CN in [o.zh_CN for o in options[: n - 1]]:
            r.fail(items[n - 1], f"Option {n} of {what} repeats an earlier option.")
    correct_node = entries["correct"][1]
    correct = r.integer(correct_node, f"correct of {what}", minimum=1)
    if correct > len(options):
        r.fail(correct_node, f"correct of {what} is {correct}, but it has {len(options)} options.")
    explanation = r.bounded(
        entries["explanation"][1], f"the explanation of {what}", EXPLANATION_MAX
    )
    return Question(key, topic, text, options, correct - 1, explanation), key_node


def parse_bank(text: str, *, source: str) -> Bank:
    """The bank a YAML text declares; QuizError (with the line) if it is not valid."""
    r = _Reader(source)
    root = compose(text, source, QuizError)
    entries = r.mapping(root, "the bank", allowed=_BANK_KEYS, required=_BANK_KEYS)
    topic = r.key(entries["topic"][1], "The topic")
    title = r.bounded(entries["title"][1], "the title", TITLE_MAX)
    questions: dict[str, Question] = {}
    for item in r.sequence(entries["questions"][1], "questions"):
        question, key_node = _question(r, item, topic)
        if question.key in questions:
            r.fail(key_node, f"Question “{question.key}” appears twice.")
        questions[question.key] = question
    return Bank(topic, title, tuple(questions.values()))


def parse_quiz(text: str, *, source: str, banks: Mapping[str, Bank]) -> Quiz:
    """The quiz a YAML text declares, checked against the banks it draws from."""
    r = _Reader(source)
    root = compose(text, source, QuizError)
    entries = r.mapping(
        root,
        "the quiz",
        allowed=_QUIZ_KEYS,
        required=("key", "title", "topics", "draw", "pass_mark"),
    )
    key = r.key(entries["key"][1], "The quiz key")
    topics: list[str] = []
    for node in r.sequence(entries["topics"][1], "topics"):
        topic = r.text(node, "A topic")
        if topic not in banks:
            known = ", ".join(sorted(banks)) or "none"
            r.fail(node, f"There is no bank with the topic “{topic}” (banks: {known}).")
        if topic in topics:
            r.fail(node, f"The topic “{topic}” appears twice.")
        topics.append(topic)
    draw_node = entries["draw"][1]
    draw = r.integer(draw_node, "draw", minimum=1)
    pool = sum(len(banks[t].questions) for t in topics)
    if draw > min(pool, MAX_DRAW):
        r.fail(
            draw_node,
            f"draw is {draw}, but the topics hold {pool} questions"
            + (f" (and a quiz draws at most {MAX_DRAW})." if pool > MAX_DRAW else "."),
        )
    mark_node = entries["pass_mark"][1]
    pass_mark = r.integer(mark_node, "pass_mark", minimum=1)
    if pass_mark > 100:
        r.fail(mark_node, "pass_mark is a percentage: at most 100.")
    attempts = (
        r.integer(entries["attempts"][1], "attempts", minimum=1) if "attempts" in entries else None
    )
    cooldown = (
        timedelta(minutes=r.integer(entries["cooldown_minutes"][1], "cooldown_minutes", minimum=1))
        if "cooldown_minutes" in entries
        else None
    )
    return Quiz(
        key=key,
        title=r.bounded(entries["title"][1], "the title", TITLE_MAX),
        topics=tuple(topics),
        draw=draw,
        pass_mark=pass_mark,
        max_attempts=attempts,
        cooldown=cooldown,
        shuffle_options=(
            r.boolean(entries["shuffle_options"][1], "shuffle_options")
            if "shuffle_options" in entries
            else True
        ),
        description=(
            r.bounded(entries["description"][1], "the description", DESCRIPTION_MAX)
            if "description" in entries
            else None
        ),
    )


@dataclass(frozen=True)
class Library:
    """Banks by topic and quizzes by key, every key checked unique across files."""

    banks: dict[str, Bank]
    quizzes: dict[str, Quiz]

    def paper(self, key: str) -> Paper | None:
        """What a campaign of this quiz asks (None: no such quiz)."""
        quiz = self.quizzes.get(key)
        if quiz is None:
            return None
        pool = tuple(q for t in quiz.topics for q in self.banks[t].questions)
        return Paper(quiz, pool)


def load_library(bank_files: Iterable[Path], quiz_files: Iterable[Path]) -> Library:
    """Parse banks, then quizzes; QuizError for the first mistake (a topic or question key
    used by two banks, a quiz key used twice, included)."""
    banks: dict[str, Bank] = {}
    seen: dict[str, str] = {}
    for file in sorted(bank_files):
        text = file.read_text(encoding="utf-8")
        bank = parse_bank(text, source=file.name)
        if bank.topic in banks:
            raise QuizError(file.name, None, f"The topic “{bank.topic}” has two banks.")
        for question in bank.questions:
            if question.key in seen:
                raise QuizError(
                    file.name,
                    None,
                    f"Question “{question.key}” is also in {seen[question.key]}.",
                )
            seen[question.key] = file.name
        banks[bank.topic] = bank
    quizzes: dict[str, Quiz] = {}
    for file in sorted(quiz_files):
        quiz = parse_quiz(file.read_text(encoding="utf-8"), source=file.name, banks=banks)
        if quiz.key in quizzes:
            raise QuizError(file.name, None, f"The quiz key “{quiz.key}” is used twice.")
        quizzes[quiz.key] = quiz
    return Library(banks, quizzes)


def shipped_dir() -> Path:
    """The banks and quizzes that ship with the bot."""
    return Path(__file__).with_name("shipped")


def load_shipped() -> Library:
    """The shipped banks and quizzes (tested: an error here is a bug)."""
    root = shipped_dir()
    return load_library((root / "banks").glob("*.yaml"), (root / "quizzes").glob("*.yaml"))
