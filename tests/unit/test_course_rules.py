"""Courses (#8): definitions with every mistake on its line, lesson text checked the way
Telegram's HTML parse mode reads it, progress through the lessons, the quiz, reminders and
completion by department."""

from __future__ import annotations

import html
import textwrap
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.courses.definitions import CourseError, parse_course, shipped_dir
from bot.courses.model import (
    CAPTION_LIMIT,
    HEADER_ROOM,
    TEXT_LIMIT,
    AssignmentFacts,
    Course,
    HtmlError,
    MediaKind,
    Outcome,
    Progress,
    advance,
    check_html,
    due_moment,
    is_overdue,
    pass_quiz,
    reminder_times,
    tally,
    utf16_len,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEAD = """\
key: t
title: {zh_CN: 测试课程, en: Test course}
lessons:
"""


def _course(lessons: str, head: str = HEAD) -> Course:
    return parse_course(head + textwrap.indent(lessons, "  "), source="t.yaml")


def _error(lessons: str, head: str = HEAD) -> CourseError:
    with pytest.raises(CourseError) as caught:
        _course(lessons, head)
    return caught.value


LESSON = """\
- title: {zh_CN: 第一课, en: One}
  body: {zh_CN: 内容, en: Text}
"""


def test_the_shipped_course() -> None:
    path = shipped_dir() / "digital_office.yaml"
    course = parse_course(path.read_text(encoding="utf-8"), source=path.name)
    assert course.key == "digital_office" and course.quiz is None
    assert course.title.zh_CN.startswith("政务办公系统上线培训")
    assert 5 <= len(course.lessons) <= 6
    media = course.lessons[-1].media
    assert media is not None and media.kind is MediaKind.DOCUMENT and media.path
    assert (shipped_dir() / media.path).is_file()  # the help sheet it uploads


def test_a_lesson_with_a_file_id_or_a_file_and_a_quiz() -> None:
    course = parse_course(
        HEAD.replace("lessons:", "quiz: office_quiz\nlessons:")
        + textwrap.indent(
            LESSON + "  media: {photo: AgACAgUAAxkBAAIBZ2V4c2FtcGxlZmlsZWlk}\n"
            "- title: {zh_CN: 二, en: Two}\n  body: {zh_CN: 二, en: Two}\n"
            "  media: {video: clips/login.mp4}\n",
            "  ",
        ),
        source="t.yaml",
    )
    assert course.quiz == "office_quiz"
    one, two = course.lessons
    assert one.media is not None and two.media is not None
    assert one.media.file_id is not None
    assert one.media.kind is MediaKind.PHOTO and one.media.file_id.startswith("AgAC")
    assert two.media.kind is MediaKind.VIDEO and two.media.path == "clips/login.mp4"
    assert two.media.line == 10


@pytest.mark.parametrize(
    ("lessons", "line", "words"),
    [
        ("[]", 4, "must not be empty"),
        ("- title: {zh_CN: 一, en: One}\n", 4, "“body” is missing"),
        (LESSON + "- title: {zh_CN: 二}\n  body: {zh_CN: 二, en: Two}\n", 6, "no en label"),
        (LESSON + "  media: {photo: a.png, video: b.mp4}\n", 6, "must name one file"),
        (LESSON + "  media: {audio: a.mp3}\n", 6, "Unknown key “audio”"),
        (LESSON + "  media: {photo: ../secret.png}\n", 6, "next to the course file"),
        (LESSON + "  colour: red\n", 6, "Unknown key “colour”"),
        (
            "- title: {zh_CN: 一, en: One}\n  body: {zh_CN: <b>粗体, en: x}\n",
            5,
            "<b> is never closed",
        ),
        (
            "- title: {zh_CN: 一, en: One}\n  body:\n    zh_CN: 好\n    en: <script>x</script>\n",
            7,
            "<script> is not allowed",
        ),
    ],
)
def test_mistakes_are_reported_on_their_line(lessons: str, line: int, words: str) -> None:
    error = _error(lessons)
    assert error.line == line, str(error)
    assert words in error.reason


def test_a_bad_head_and_too_long_a_caption() -> None:
    assert _error(LESSON, HEAD.replace("key: t", "key: T")).line == 1
    assert "quiz key" in _error(LESSON, HEAD.replace("lessons:", "quiz: 7\nlessons:")).reason
    text = "字" * (CAPTION_LIMIT - HEADER_ROOM + 1)
    lesson = f"- title: {{zh_CN: 一, en: One}}\n  body: {{zh_CN: {text}, en: x}}\n"
    assert _course(lesson)  # as a message it fits
    error = _error(lesson + "  media: {document: a.pdf}\n")
    assert error.line == 5 and "at most 704" in error.reason


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("<b>粗</b><i>斜</i><u>下</u><code>x=1</code>", "粗斜下x=1"),
        ('<a href="https://oa.gov.cn/help?a=1&amp;b=2">帮助</a>', "帮助"),
        ("a &lt; b &amp;&amp; c &gt; d &#39;", "a < b && c > d '"),
        ("<b>外<i>内</i></b>", "外内"),
        ("<B>大写</B>", "大写"),
    ],
)
def test_html_telegram_accepts(text: str, visible: str) -> None:
    assert check_html(text, limit=TEXT_LIMIT) == visible


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a < b", "does not start a tag"),
        ("R&D", "not an entity"),
        ("x > y", "&gt;"),
        ("<b>a<i>b</b></i>", "closes nothing open"),
        ("<b>a", "never closed"),
        ("</b>", "closes nothing"),
        ("<p>段落</p>", "<p> is not allowed"),
        ("<br/>", "not allowed"),
        ('<a href="javascript:alert(1)">x</a>', "href"),
        ("<a>x</a>", "href"),
        ('<a href="https://a.cn" title="t">x</a>', "href"),
        ('<b class="x">x</b>', "cannot have attributes"),
        ('<a href="https://a.cn"><a href="https://b.cn">x</a></a>', "another link"),
        ("<b> </b>", "empty"),
    ],
)
def test_html_telegram_refuses(text: str, words: str) -> None:
    with pytest.raises(HtmlError) as caught:
        check_html(text, limit=TEXT_LIMIT)
    assert words in caught.value.reason


def test_length_is_counted_as_telegram_counts_it() -> None:
    assert utf16_len("😀") == 2 and utf16_len("字") == 1
    assert check_html("<b>" + "a" * 10 + "</b>", limit=10)  # tags are not counted
    assert check_html("&amp;" * 10, limit=10)  # an entity is one character
    with pytest.raises(HtmlError):
        check_html("😀" * 6, limit=10)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200))
def test_escaped_text_is_always_accepted_and_reads_back(text: str) -> None:
    if not text.strip():
        return
    assert check_html(html.escape(text, quote=False), limit=TEXT_LIMIT) == text


def _p(**kw: object) -> Progress:
    return Progress(total=3, **kw)  # type: ignore[arg-type]


def test_progress_through_a_course_without_a_quiz() -> None:
    step = advance(_p(), lesson=0, forward=True)
    assert step.outcome is Outcome.MOVED and (step.progress.position, step.progress.read) == (1, 1)
    back = advance(step.progress, lesson=1, forward=False)
    assert (back.progress.position, back.progress.read) == (0, 1)  # read stays read
    step = advance(advance(back.progress, lesson=0, forward=True).progress, lesson=1, forward=True)
    assert (step.progress.position, step.progress.read) == (2, 2)
    done = advance(step.progress, lesson=2, forward=True)
    assert done.outcome is Outcome.COMPLETED
    assert done.progress.completed and done.progress.read == 3 and done.progress.position == 0


@pytest.mark.parametrize(
    ("progress", "lesson", "forward"),
    [
        (_p(position=1, read=1), 0, True),  # an old card
        (_p(position=1, read=1), 2, True),  # a card from the future (forged)
        (_p(), 0, False),  # nothing before the first lesson
        (_p(position=2, read=2), 3, True),  # beyond the last
    ],
)
def test_only_the_current_lesson_moves(progress: Progress, lesson: int, forward: bool) -> None:
    with pytest.raises(ValueError):
        advance(progress, lesson=lesson, forward=forward)


def test_a_course_with_a_quiz_completes_with_both() -> None:
    last = _p(position=2, read=2, has_quiz=True)
    step = advance(last, lesson=2, forward=True)
    assert step.outcome is Outcome.LESSONS_DONE
    assert step.progress.lessons_done and not step.progress.completed
    assert pass_quiz(step.progress).completed
    early = pass_quiz(_p(has_quiz=True))  # passed before reading: waits for the lessons
    assert early.quiz_passed and not early.completed
    end = advance(_p(position=2, read=2, has_quiz=True, quiz_passed=True), lesson=2, forward=True)
    assert end.outcome is Outcome.COMPLETED


def test_reminders_and_due_dates() -> None:
    due = due_moment(date(2026, 12, 20), SHANGHAI)
    assert due == datetime(2026, 12, 20, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    times = reminder_times(due, SHANGHAI, now=now)
    assert [d for d, _ in times] == [3, 1, 0]
    assert times[0][1] == datetime(2026, 12, 17, 1, 0, tzinfo=UTC)  # 09:00 local
    assert [d for d, _ in reminder_times(due, SHANGHAI, now=times[1][1])] == [0]
    assert is_overdue(due, None, due + timedelta(seconds=1))
    assert not is_overdue(due, due, due + timedelta(days=1))
    assert not is_overdue(None, None, now)


def test_completion_by_department() -> None:
    now = datetime(2026, 12, 21, tzinfo=UTC)
    past, future = now - timedelta(days=1), now + timedelta(days=1)
    facts = [
        AssignmentFacts("办公室", started=True, completed=True, due_at=past),
        AssignmentFacts("办公室", started=True, completed=False, due_at=past),
        AssignmentFacts("办公室", started=False, completed=False, due_at=future),
        AssignmentFacts("财务处", started=False, completed=False, due_at=past),
    ]
    report = tally(facts, now=now)
    office, finance = report.rows
    assert (office.assigned, office.started, office.completed, office.overdue) == (3, 2, 1, 1)
    assert office.percent == 33 and finance.percent == 0 and finance.overdue == 1
    assert (report.total.assigned, report.total.completed, report.total.overdue) == (4, 1, 2)
