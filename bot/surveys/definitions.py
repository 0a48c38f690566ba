"""Survey definitions: YAML parsed and validated into ``model.Survey``; no I/O but reading.

Every error names the file and the line of the offending node (``SurveyError``), so whoever
writes a survey can fix it without reading Python. ``shipped/*.yaml`` are complete examples
(needs research, pilot feedback, training satisfaction, system satisfaction).

The format::

    key: pilot_feedback           # [a-z][a-z0-9_]*
    version: 1                    # integer >= 1
    title: {zh_CN: 试点反馈, en: Pilot feedback}      # every text needs both languages
    description: {zh_CN: ..., en: ...}                 # optional
    welcome: {zh_CN: ..., en: ...}                     # shown before the first question
    closing: {zh_CN: ..., en: ...}                     # shown after the last
    anonymous: true               # default false: answers then carry no person at all
    resubmit: refuse              # refuse (default) | replace: a second submission
    questions:
      - key: score
        type: nps                 # single multiple rating nps text date number
        text: {zh_CN: ..., en: ...}
        hint: {zh_CN: ..., en: ...}          # optional
        required: true            # default true
        choices:                  # single and multiple only: 2–20, each a key and a label
          - {key: fast, label: {zh_CN: 快, en: Fast}}
        min: 1                    # number: the value; multiple: how many are picked;
        max: 3                    #   text: its length (default at most 1000)
        show_if:                  # one condition or a list (all must hold), each on an
          question: score         #   earlier question, with any of:
          at_most: 6              # at_least / at_most (rating, nps, number),
                                  # any_of / none_of: [keys] (single, multiple),
                                  # answered: true / false (any type)
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from yaml.nodes import MappingNode, Node

from bot.definitions import DefinitionError, NodeReader, Text, compose
from bot.surveys.model import (
    CHOICE_KINDS,
    SCALES,
    Choice,
    Question,
    QuestionKind,
    Resubmit,
    ShowIf,
    Survey,
)

MAX_QUESTIONS = 50
MAX_CHOICES = 20  # each one button
CHOICE_LABEL_MAX = 40  # characters: a button a phone shows whole
TITLE_MAX = 80
QUESTION_MAX = 1000  # characters of a question (a message holds 4096)
PAGE_MAX = 2000  # the welcome and closing texts
TEXT_ANSWER_MAX = 1000  # a free-text answer, unless the question says otherwise
TEXT_ANSWER_LIMIT = 3500  # ... and never more

_TOP_KEYS = (
    "key",
    "version",
    "title",
    "description",
    "welcome",
    "closing",
    "anonymous",
    "resubmit",
    "questions",
)
_QUESTION_KEYS = ("key", "type", "text", "hint", "required", "choices", "min", "max", "show_if")
_SHOW_IF_KEYS = ("question", "any_of", "none_of", "at_least", "at_most", "answered")
_BOUNDED = frozenset({QuestionKind.NUMBER, QuestionKind.MULTIPLE, QuestionKind.TEXT})


class SurveyError(DefinitionError):
    """A survey definition that cannot be used: where (file, line) and why."""


class _Reader(NodeReader):
    error = SurveyError

    def long_text(self, node: Node, what: str, limit: int) -> Text:
        text = self.label(node, what)
        for locale, value in (("zh_CN", text.zh_CN), ("en", text.en)):
            if len(value) > limit:
                self.fail(node, f"The {locale} text of {what} is over {limit} characters.")
        return text


def _choices(r: _Reader, node: Node, what: str) -> tuple[Choice, ...]:
    items = r.sequence(node, f"The choices of {what}")
    if not 2 <= len(items) <= MAX_CHOICES:
        r.fail(node, f"{what} needs 2 to {MAX_CHOICES} choices (it has {len(items)}).")
    choices: list[Choice] = []
    seen: set[str] = set()
    for item in items:
        entries = r.mapping(
            item, f"a choice of {what}", allowed=("key", "label"), required=("key", "label")
        )
        key_node = entries["key"][1]
        key = r.key(key_node, "A choice key")
        if key in seen:
            r.fail(key_node, f"Choice “{key}” appears twice in {what}.")
        seen.add(key)
        label = r.long_text(entries["label"][1], f"choice “{key}”", CHOICE_LABEL_MAX)
        choices.append(Choice(key, label))
    return tuple(choices)


def _bound(r: _Reader, node: Node, what: str, kind: QuestionKind) -> Decimal:
    value = r.decimal(node, what)
    if kind is not QuestionKind.NUMBER and (value != value.to_integral_value() or value < 0):
        counted = "characters" if kind is QuestionKind.TEXT else "choices"
        r.fail(node, f"{what} counts {counted}: a whole number >= 0.")
    return value


def _show_if(
    r: _Reader, node: Node, what: str, earlier: dict[str, Question]
) -> tuple[ShowIf, ...]:
    items = r.sequence(node, f"show_if of {what}") if not isinstance(node, MappingNode) else [node]
    conditions: list[ShowIf] = []
    for item in items:
        entries = r.mapping(
            item, f"a show_if of {what}", allowed=_SHOW_IF_KEYS, required=("question",)
        )
        ref_node = entries["question"][1]
        ref = r.text(ref_node, "show_if question")
        target = earlier.get(ref)
        if target is None:
            r.fail(
                ref_node,
                f"show_if of {what} names “{ref}”, which is not an earlier question.",
            )
        if len(entries) == 1:
            r.fail(item, f"show_if of {what} says nothing about “{ref}”'s answer.")
        keys: dict[str, frozenset[str]] = {}
        for name in ("any_of", "none_of"):
            if name not in entries:
                continue
            name_node, value_node = entries[name]
            if target.kind not in CHOICE_KINDS:
                r.fail(
                    name_node, f"{name} applies to a choice question; “{ref}” is {target.kind}."
                )
            picked: set[str] = set()
            for key_node in r.sequence(value_node, f"{name} of {what}"):
                key = r.text(key_node, f"A key in {name}")
                if target.choice(key) is None:
                    r.fail(key_node, f"{name} names “{key}”, which is not a choice of “{ref}”.")
                picked.add(key)
            keys[name] = frozenset(picked)
        bounds: dict[str, Decimal] = {}
        for name in ("at_least", "at_most"):
            if name not in entries:
                continue
            name_node, value_node = entries[name]
            if target.kind not in SCALES and target.kind is not QuestionKind.NUMBER:
                r.fail(
                    name_node,
                    f"{name} applies to a rating, nps or number question; “{ref}” is "
                    f"{target.kind}.",
                )
            bound = r.decimal(value_node, f"{name} of {what}")
            low, high = SCALES.get(target.kind, (None, None))
            if low is not None and high is not None and not low <= bound <= high:
                r.fail(value_node, f"{name} of {what} must lie in {low}–{high} for “{ref}”.")
            bounds[name] = bound
        conditions.append(
            ShowIf(
                question=ref,
                any_of=keys.get("any_of", frozenset()),
                none_of=keys.get("none_of", frozenset()),
                at_least=bounds.get("at_least"),
                at_most=bounds.get("at_most"),
                answered=(
                    r.boolean(entries["answered"][1], "answered")
                    if "answered" in entries
                    else None
                ),
            )
        )
    return tuple(conditions)


def _question(r: _Reader, node: Node, earlier: dict[str, Question]) -> tuple[Question, Node]:
    entries = r.mapping(
        node, "a question", allowed=_QUESTION_KEYS, required=("key", "type", "text")
    )
    key_node = entries["key"][1]
    key = r.key(key_node, "A question key")
    what = f"question “{key}”"
    kind = r.choice(entries["type"][1], "question type", QuestionKind)
    text = r.long_text(entries["text"][1], what, QUESTION_MAX)
    hint = (
        r.long_text(entries["hint"][1], f"the hint of {what}", QUESTION_MAX)
        if "hint" in entries
        else None
    )
    required = r.boolean(entries["required"][1], "required") if "required" in entries else True
    choices: tuple[Choice, ...] = ()
    if kind in CHOICE_KINDS:
        if "choices" not in entries:
            r.fail(node, f"The {kind} {what} needs choices.")
        choices = _choices(r, entries["choices"][1], what)
    elif "choices" in entries:
        r.fail(entries["choices"][0], f"choices do not apply to a {kind} question ({what}).")
    bounds: dict[str, Decimal | None] = {"min": None, "max": None}
    for name in ("min", "max"):
        if name not in entries:
            continue
        name_node, value_node = entries[name]
        if kind not in _BOUNDED:
            r.fail(name_node, f"{name} does not apply to a {kind} question ({what}).")
        bounds[name] = _bound(r, value_node, f"{name} of {what}", kind)
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        r.fail(node, f"min of {what} is greater than its max.")
    if kind is QuestionKind.MULTIPLE:
        for bound, name in ((low, "min"), (high, "max")):
            if bound is not None and not 1 <= bound <= len(choices):
                r.fail(
                    entries[name][1], f"{name} of {what} must lie in 1–{len(choices)} (choices)."
                )
    if kind is QuestionKind.TEXT:
        if high is not None and high > TEXT_ANSWER_LIMIT:
            r.fail(entries["max"][1], f"max of {what} is at most {TEXT_ANSWER_LIMIT} characters.")
        high = high if high is not None else Decimal(TEXT_ANSWER_MAX)
    show_if = _show_if(r, entries["show_if"][1], what, earlier) if "show_if" in entries else ()
    question = Question(
        key=key,
        kind=kind,
        text=text,
        required=required,
        hint=hint,
        choices=choices,
        min=low,
        max=high,
        show_if=show_if,
    )
    return question, key_node


def parse_survey(text: str, *, source: str) -> Survey:
    """The survey a YAML text declares; SurveyError (with the line) if it is not valid."""
    r = _Reader(source)
    root = compose(text, source, SurveyError)
    entries = r.mapping(
        root,
        "the survey",
        allowed=_TOP_KEYS,
        required=("key", "version", "title", "welcome", "closing", "questions"),
    )
    key = r.key(entries["key"][1], "The survey key")
    version = r.integer(entries["version"][1], "version", minimum=1)
    items = r.sequence(entries["questions"][1], "questions")
    if len(items) > MAX_QUESTIONS:
        r.fail(entries["questions"][1], f"A survey has at most {MAX_QUESTIONS} questions.")
    questions: dict[str, Question] = {}
    for item in items:
        question, key_node = _question(r, item, questions)
        if question.key in questions:
            r.fail(key_node, f"Question “{question.key}” appears twice.")
        questions[question.key] = question
    anonymous = (
        r.boolean(entries["anonymous"][1], "anonymous") if "anonymous" in entries else False
    )
    resubmit = Resubmit.REFUSE
    if "resubmit" in entries:
        resubmit = r.choice(entries["resubmit"][1], "resubmit", Resubmit)
        if anonymous and resubmit is Resubmit.REPLACE:
            r.fail(
                entries["resubmit"][1],
                "An anonymous survey cannot replace a submission: nothing links a response to "
                "its author. Use resubmit: refuse.",
            )
    return Survey(
        key=key,
        version=version,
        title=r.long_text(entries["title"][1], "the title", TITLE_MAX),
        description=(
            r.long_text(entries["description"][1], "the description", PAGE_MAX)
            if "description" in entries
            else None
        ),
        welcome=r.long_text(entries["welcome"][1], "the welcome", PAGE_MAX),
        closing=r.long_text(entries["closing"][1], "the closing", PAGE_MAX),
        questions=tuple(questions.values()),
        anonymous=anonymous,
        resubmit=resubmit,
    )


def shipped_dir() -> Path:
    """The survey templates that ship with the bot."""
    return Path(__file__).with_name("shipped")


def load_shipped() -> dict[str, Survey]:
    """Every shipped template by key (they are tested: an error here is a bug)."""
    surveys: dict[str, Survey] = {}
    for file in sorted(shipped_dir().glob("*.yaml")):
        survey = parse_survey(file.read_text(encoding="utf-8"), source=file.name)
        surveys[survey.key] = survey
    return surveys
