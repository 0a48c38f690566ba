"""The knowledge base as a file trainers edit: XLSX, CSV or YAML, in and out (#6).

Columns: id, locale, category, question, alternatives, answer, tags, follow_ups, attachments
(the header may also be in Chinese: 编号, 语言, 分类, 问题, 相似问法, 答案, 标签, 后续问题,
附件). A list cell holds one item per line or items separated by ``｜``; an attachment is
written ``file name <Telegram file id>`` (trainers attach files in chat; a file id is valid
only for the bot that received the file). The YAML form is the evaluation set's: a list of
mappings with the same keys (``id`` for the key). Exporting and importing the same file
changes nothing. Synchronous, CPU-bound: call from the event loop with ``asyncio.to_thread``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ImportFileError
from bot.faq.content import Attachment, EntryContent
from bot.spreadsheet import TableSpec, csv_bytes, read_table, safe_cell, unsafe_cell, xlsx_bytes
from bot.text import clean

COLUMNS = (
    "id",
    "locale",
    "category",
    "question",
    "alternatives",
    "answer",
    "tags",
    "follow_ups",
    "attachments",
)
LIST_COLUMNS = ("alternatives", "tags", "follow_ups", "attachments")
KB_TABLE = TableSpec(
    columns=COLUMNS,
    required=("question", "answer"),
    aliases={
        "编号": "id",
        "key": "id",
        "语言": "locale",
        "language": "locale",
        "分类": "category",
        "类别": "category",
        "问题": "question",
        "标准问题": "question",
        "相似问法": "alternatives",
        "其他问法": "alternatives",
        "alternative_questions": "alternatives",
        "答案": "answer",
        "标签": "tags",
        "后续问题": "follow_ups",
        "关联问题": "follow_ups",
        "follow-ups": "follow_ups",
        "followups": "follow_ups",
        "附件": "attachments",
        "files": "attachments",
    },
    max_rows=100_000,
)
_LIST_SPLIT = re.compile(r"\s*(?:\n|｜)\s*")
SEPARATOR = "｜"


def _items(cell: str) -> tuple[str, ...]:
    return tuple(part for part in (p.strip() for p in _LIST_SPLIT.split(cell)) if part)


def _key_for(line: int, given: str) -> str:
    """The entry's id, or a stable one made from the line for a new row left blank."""
    return clean(given).lower() if given.strip() else f"faq-{line:05d}"


def _locale(given: str) -> str:
    """zh for every way of writing Chinese (zh, zh_CN, zh-Hans, 中文), en for English; anything
    else is kept so that the check names it."""
    code = clean(given).lower().replace("_", "-")
    if not code or code.startswith("zh") or code in ("中文", "简体中文"):
        return "zh"
    if code.startswith("en") or code in ("english", "英文"):
        return "en"
    return code


def _from_cells(line: int, cells: dict[str, str]) -> EntryContent:
    def text(column: str) -> str:
        return unsafe_cell(cells.get(column, "")).strip()

    return EntryContent(
        key=_key_for(line, text("id")),
        locale=_locale(text("locale")),
        category=text("category"),
        question=text("question"),
        alternatives=_items(text("alternatives")),
        answer=text("answer"),
        tags=_items(text("tags")),
        follow_ups=tuple(f.lower() for f in _items(text("follow_ups"))),
        attachments=tuple(Attachment.parse(a) for a in _items(text("attachments"))),
    )


def read_file(data: bytes, filename: str) -> tuple[list[EntryContent], list[int]]:
    """Entries and the line each starts on; ImportFileError if the file itself is unusable."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(data)
    rows = read_table(data, filename, KB_TABLE)
    return [_from_cells(line, cells) for line, cells in rows], [line for line, _ in rows]


def _scalar(value: Any) -> str:
    return "" if value is None else str(value)


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return _items(str(value))


def _read_yaml(data: bytes) -> tuple[list[EntryContent], list[int]]:
    if len(data) > KB_TABLE.max_bytes:
        raise ImportFileError("too_large")
    try:
        text = data.decode("utf-8-sig")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ImportFileError("unreadable") from exc
    if values is None:
        return [], []
    if not isinstance(values, list) or not isinstance(root, yaml.SequenceNode):
        raise ImportFileError("unreadable")
    entries: list[EntryContent] = []
    lines: list[int] = []
    for node, item in zip(root.value, values, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise ImportFileError("unreadable")
        entries.append(
            EntryContent(
                key=_key_for(line, _scalar(item.get("id") or item.get("key"))),
                locale=_locale(_scalar(item.get("locale"))),
                category=_scalar(item.get("category")).strip(),
                question=_scalar(item.get("question")).strip(),
                alternatives=_list(item.get("alternatives")),
                answer=_scalar(item.get("answer")).strip(),
                tags=_list(item.get("tags")),
                follow_ups=tuple(f.lower() for f in _list(item.get("follow_ups"))),
                attachments=_attachments(item.get("attachments")),
            )
        )
        lines.append(line)
    return entries, lines


def _attachments(value: Any) -> tuple[Attachment, ...]:
    """YAML attachments: ``name <file id>`` strings or {name, file_id} mappings."""
    if not isinstance(value, list | tuple):
        return tuple(Attachment.parse(a) for a in _list(value))
    found = []
    for item in value:
        if isinstance(item, dict):
            found.append(Attachment(_scalar(item.get("name")), _scalar(item.get("file_id"))))
        else:
            found.append(Attachment.parse(_scalar(item)))
    return tuple(found)


def _cells(entry: EntryContent) -> list[str]:
    return [
        entry.key,
        entry.locale,
        entry.category,
        entry.question,
        "\n".join(entry.alternatives),
        entry.answer,
        SEPARATOR.join(entry.tags),
        SEPARATOR.join(entry.follow_ups),
        "\n".join(a.cell() for a in entry.attachments),
    ]


def write_file(entries: Sequence[EntryContent], fmt: str, *, title: str = "FAQ") -> bytes:
    """The entries as ``xlsx``, ``csv`` or ``yaml``, in the order given."""
    if fmt == "xlsx":
        return xlsx_bytes(list(COLUMNS), (_cells(e) for e in entries), title=title)
    if fmt == "csv":
        return csv_bytes(list(COLUMNS), ([safe_cell(c) for c in _cells(e)] for e in entries))
    if fmt == "yaml":
        items = []
        for e in entries:
            item: dict[str, Any] = {"id": e.key, "locale": e.locale}
            if e.category:
                item["category"] = e.category
            item["question"] = e.question
            item["alternatives"] = list(e.alternatives)
            item["answer"] = e.answer
            item["tags"] = list(e.tags)
            if e.follow_ups:
                item["follow_ups"] = list(e.follow_ups)
            if e.attachments:
                item["attachments"] = [a.cell() for a in e.attachments]
            items.append(item)
        dumped = yaml.safe_dump(items, allow_unicode=True, sort_keys=False, width=1000)
        return dumped.encode("utf-8")
    raise ValueError(f"unknown format {fmt!r}")
