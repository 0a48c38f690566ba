"""Course definitions: YAML parsed and validated into ``model.Course``; no I/O but reading.

Every error names the file and the line of the offending node (``CourseError``), through the
same YAML reader as surveys and approval templates (``bot/definitions.py``).
``shipped/digital_office.yaml`` is a complete example.

The format::

    key: digital_office            # [a-z][a-z0-9_]*
    version: 1                     # integer >= 1
    title: {zh_CN: 政务办公系统上线培训, en: ...}      # every text needs both languages
    description: {zh_CN: ..., en: ...}               # optional
    quiz: digital_office_quiz      # optional: the quiz that completes the course
    lessons:                       # 1–30, in order
      - title: {zh_CN: 登录, en: Logging in}         # at most 60 characters
        body:                      # Telegram HTML: <b> <i> <u> <code> <a href="https://…">;
          zh_CN: |                 #   at most 3776 characters (704 with media)
            ...
          en: |
            ...
        media: {photo: login.png}  # optional: photo, document or video; a Telegram file_id,
                                   #   or a file next to the YAML (govbot course publish only)
"""

from __future__ import annotations

import re
from pathlib import Path

from yaml.nodes import MappingNode, Node

from bot.courses.model import (
    LESSON_TITLE_MAX,
    Course,
    HtmlError,
    Lesson,
    Media,
    MediaKind,
    body_limit,
    check_html,
)
from bot.definitions import DefinitionError, NodeReader, Text, compose, node_line

MAX_LESSONS = 30
TITLE_MAX = 80
DESCRIPTION_MAX = 1000
FILE_ID = re.compile(r"[A-Za-z0-9_-]{20,200}")  # Telegram's file ids: no dots, no slashes


class CourseError(DefinitionError):
    """A course definition that cannot be used (file, line, reason)."""


class _Reader(NodeReader):
    error = CourseError


def _short(reader: _Reader, node: Node, label: Text, what: str, limit: int) -> Text:
    for value in (label.zh_CN, label.en):
        if len(value) > limit:
            reader.fail(node, f"{what} is {len(value)} characters long; at most {limit}.")
    return label


def _media(reader: _Reader, node: Node, what: str) -> Media:
    entries = reader.mapping(node, what, allowed=[k.value for k in MediaKind])
    if len(entries) != 1:
        reader.fail(node, f"{what} must name one file: photo, document or video.")
    ((kind, (_, value_node)),) = entries.items()
    value = reader.text(value_node, f"The {kind} of {what}").strip()
    line = node_line(value_node)
    if FILE_ID.fullmatch(value):
        return Media(MediaKind(kind), file_id=value, line=line)
    if Path(value).is_absolute() or ".." in Path(value).parts:
        reader.fail(value_node, f"The {kind} “{value}” must be a path next to the course file.")
    return Media(MediaKind(kind), path=value, line=line)


def _body(reader: _Reader, node: Node, media: Media | None, what: str) -> Text:
    if not isinstance(node, MappingNode):
        reader.fail(node, f"{what} must be {{zh_CN: ..., en: ...}}.")
    entries = reader.mapping(node, what, allowed=("zh_CN", "en"), required=("zh_CN", "en"))
    texts: dict[str, str] = {}
    for locale in ("zh_CN", "en"):
        value_node = entries[locale][1]
        value = reader.text(value_node, f"The {locale} text of {what}").strip()
        try:
            check_html(value, limit=body_limit(media))
        except HtmlError as problem:
            reader.fail(value_node, f"The {locale} text of {what}: {problem.reason}")
        texts[locale] = value
    return Text(zh_CN=texts["zh_CN"], en=texts["en"])


def _lesson(reader: _Reader, node: Node, number: int) -> Lesson:
    what = f"lesson {number}"
    entries = reader.mapping(
        node, what, allowed=("title", "body", "media"), required=("title", "body")
    )
    title_node = entries["title"][1]
    title = _short(
        reader,
        title_node,
        reader.label(title_node, what),
        f"The title of {what}",
        LESSON_TITLE_MAX,
    )
    media = (
        _media(reader, entries["media"][1], f"the media of {what}") if "media" in entries else None
    )
    body = _body(reader, entries["body"][1], media, f"the body of {what}")
    return Lesson(title=title, body=body, media=media)


def parse_course(text: str, *, source: str) -> Course:
    """The course a YAML text declares; CourseError (with the line) if it cannot be used."""
    reader = _Reader(source)
    root = compose(text, source, CourseError)
    entries = reader.mapping(
        root,
        "the course",
        allowed=("key", "version", "title", "description", "quiz", "lessons"),
        required=("key", "title", "lessons"),
    )
    key = reader.key(entries["key"][1], "The course key")
    version = (
        reader.integer(entries["version"][1], "The version", minimum=1)
        if "version" in entries
        else 1
    )
    title_node = entries["title"][1]
    title = _short(
        reader, title_node, reader.label(title_node, "the course"), "The title", TITLE_MAX
    )
    description = None
    if "description" in entries:
        node = entries["description"][1]
        description = _short(
            reader, node, reader.label(node, "the description"), "The description", DESCRIPTION_MAX
        )
    quiz = reader.key(entries["quiz"][1], "The quiz key") if "quiz" in entries else None
    lesson_nodes = reader.sequence(entries["lessons"][1], "The lessons")
    if len(lesson_nodes) > MAX_LESSONS:
        reader.fail(entries["lessons"][1], f"A course has at most {MAX_LESSONS} lessons.")
    lessons = tuple(_lesson(reader, n, i) for i, n in enumerate(lesson_nodes, start=1))
    return Course(key, version, title, description, lessons, quiz)


def shipped_dir() -> Path:
    """The courses that ship with the bot."""
    return Path(__file__).with_name("shipped")


def media_paths(course: Course) -> list[tuple[int, Media]]:
    """(lesson index, media) of every lesson whose media is a file to upload."""
    return [
        (i, lesson.media)
        for i, lesson in enumerate(course.lessons)
        if lesson.media is not None and lesson.media.path is not None
    ]
