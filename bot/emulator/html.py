"""Telegram-flavoured HTML parsing: raw ``parse_mode=HTML`` text to plain text plus entities.

Mirrors the behaviour of TDLib's ``parse_html`` (which the Bot API server uses) closely enough
that a bot which passes here passes on Telegram, with one deliberate strictness: a bare ``&``
that does not start a known character reference is rejected (Telegram silently keeps it, but
it almost always means the bot forgot to escape user input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "HtmlParseError",
    "ParsedText",
    "parse_html",
    "trim_entities_text",
    "utf16_len",
]

_TAG_TYPES: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\f\v"


class HtmlParseError(ValueError):
    """Raised for HTML that Telegram would refuse; ``str()`` is Telegram's reason text."""

    def __init__(self, reason: str, byte_offset: int | None) -> None:
        self.reason = reason
        self.byte_offset = byte_offset
        text = reason if byte_offset is None else f"{reason} at byte offset {byte_offset}"
        super().__init__(text)


@dataclass(frozen=True)
class ParsedText:
    """Result of parsing: what the phone displays and the formatting on top of it."""

    text: str
    entities: list[dict[str, Any]]


@dataclass
class _Open:
    tag: str
    byte_offset: int
    utf16_start: int
    attrs: dict[str, str]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for entity offsets and limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _char_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _decode_reference(text: str, i: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``text[i]``; return (character, index after ``;``) or None."""
    end = text.find(";", i + 1, i + 12)
    if end == -1:
        return None
    name = text[i + 1 : end]
    if name in _NAMED_REFS:
        return _NAMED_REFS[name], end + 1
    if len(name) < 2 or name[0] != "#":
        return None
    digits, base = (name[2:], 16) if name[1] in "xX" else (name[1:], 10)
    allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
    if not digits or any(c not in allowed for c in digits):
        return None
    code = int(digits, base)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), end + 1


class _Parser:
    def __init__(self, source: str, strict_ampersand: bool) -> None:
        self.src = source
        self.n = len(source)
        self.strict = strict_ampersand
        self.out: list[str] = []
        self.units = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def byte_offset(self, i: int) -> int:
        return len(self.src[:i].encode("utf-8", "surrogatepass"))

    def fail(self, reason: str, i: int | None) -> HtmlParseError:
        return HtmlParseError(reason, None if i is None else self.byte_offset(i))

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.units += sum(_char_units(c) for c in chunk)

    def run(self) -> ParsedText:
        src, i = self.src, 0
        while i < self.n:
            ch = src[i]
            if ch == "&":
                decoded = _decode_reference(src, i)
                if decoded is not None:
                    self.emit(decoded[0])
                    i = decoded[1]
                    continue
                if self.strict:
                    raise self.fail('Character "&" must be escaped as "&amp;"', i)
                self.emit(ch)
                i += 1
            elif ch == "<":
                i = self.end_tag(i) if i + 1 < self.n and src[i + 1] == "/" else self.start_tag(i)
            else:
                # Copy the run of ordinary characters in one go; it is the common case.
                j = i + 1
                while j < self.n and src[j] not in "&<":
                    j += 1
                self.emit(src[i:j])
                i = j
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"', None
            )
        return ParsedText("".join(self.out), _finish_entities(self.entities))

    def skip_spaces(self, i: int) -> int:
        while i < self.n and self.src[i] in _SPACES:
            i += 1
        return i

    def start_tag(self, begin: int) -> int:
        src = self.src
        i = begin + 1
        while i < self.n and src[i] not in _SPACES and src[i] != ">":
            i += 1
        if i >= self.n:
            raise self.fail("Unclosed start tag", begin)
        tag = src[begin + 1 : i].lower()
        if tag not in _TAG_TYPES:
            raise self.fail(f'Unsupported start tag "{tag}"', begin)
        attrs: dict[str, str] = {}
        while True:
            i = self.skip_spaces(i)
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}"', begin)
            if src[i] == ">":
                break
            name_begin = i
            while i < self.n and src[i] not in _SPACES and src[i] not in "=>":
                i += 1
            name = src[name_begin:i].lower()
            if not name:
                raise self.fail(f'Empty attribute name in the tag "{tag}"', begin)
            i = self.skip_spaces(i)
            if i >= self.n or src[i] != "=":
                # Valueless attributes exist only as <blockquote expandable>.
                if tag == "blockquote" and name == "expandable":
                    attrs[name] = ""
                    continue
                raise self.fail(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}"',
                    begin,
                )
            i = self.skip_spaces(i + 1)
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}"', begin)
            value, i = self.attribute_value(i)
            if i >= self.n:
                raise self.fail("Unclosed start tag", begin)
            attrs[name] = value
        self.open_tag(tag, attrs, begin)
        return i + 1

    def attribute_value(self, i: int) -> tuple[str, int]:
        src = self.src
        if src[i] not in "'\"":
            begin = i
            while i < self.n and (src[i].isalnum() or src[i] in ".-"):
                i += 1
            if i < self.n and src[i] not in _SPACES and src[i] != ">":
                raise self.fail("Unexpected end of name token", begin)
            return src[begin:i].lower(), i
        quote = src[i]
        i += 1
        chars: list[str] = []
        while i < self.n and src[i] != quote:
            if src[i] == "&":
                decoded = _decode_reference(src, i)
                if decoded is not None:
                    chars.append(decoded[0])
                    i = decoded[1]
                    continue
            chars.append(src[i])
            i += 1
        if i < self.n:
            i += 1  # closing quote
        return "".join(chars), i

    def open_tag(self, tag: str, attrs: dict[str, str], begin: int) -> None:
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise self.fail('Tag "span" must have class "tg-spoiler"', begin)
        if tag == "tg-emoji":
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id.isdigit() or int(emoji_id) == 0 or int(emoji_id) >= 2**63:
                raise self.fail(
                    "Custom emoji entity must contain a valid custom emoji identifier", begin
                )
        self.stack.append(_Open(tag, self.byte_offset(begin), self.units, attrs))

    def end_tag(self, begin: int) -> int:
        src = self.src
        if not self.stack:
            raise self.fail("Unexpected end tag", begin)
        i = begin + 2
        name_begin = i
        while i < self.n and src[i] not in _SPACES and src[i] != ">":
            i += 1
        name = src[name_begin:i].lower()
        i = self.skip_spaces(i)
        if i >= self.n or src[i] != ">":
            raise self.fail("Unclosed end tag", begin)
        top = self.stack.pop()
        if name and name != top.tag:
            raise self.fail(
                f'Unmatched end tag, expected "</{top.tag}>", found "</{name}>"', begin
            )
        self.close_entity(top)
        return i + 1

    def close_entity(self, top: _Open) -> None:
        length = self.units - top.utf16_start
        kind = _TAG_TYPES[top.tag]
        entity: dict[str, Any] = {"type": kind, "offset": top.utf16_start, "length": length}
        if kind == "text_link":
            url = top.attrs.get("href", "")
            if url.startswith("tg://user?id=") and url[13:].isdigit():
                entity = {**entity, "type": "text_mention"}
                entity["user"] = {"id": int(url[13:]), "is_bot": False, "first_name": ""}
            elif url:
                entity["url"] = url
            else:
                return  # <a> without href is plain text for Telegram
        elif kind == "code":
            lang = top.attrs.get("class", "")
            if lang.startswith("language-") and len(lang) > 9:
                entity["language"] = lang[9:]
        elif kind == "pre":
            # <pre><code class="language-x">…</code></pre> is one pre entity with a language.
            last = self.entities[-1] if self.entities else None
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == entity["offset"]
                and last["length"] == length
            ):
                self.entities.pop()
                if "language" in last:
                    entity["language"] = last["language"]
        elif kind == "blockquote" and "expandable" in top.attrs:
            entity["type"] = "expandable_blockquote"
        elif kind == "custom_emoji":
            entity["custom_emoji_id"] = top.attrs["emoji-id"]
        if length > 0:
            self.entities.append(entity)


def _finish_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop entities nested in code/pre (Telegram does) and sort like Telegram."""
    blocks = [e for e in entities if e["type"] in ("code", "pre")]
    kept = [
        e
        for e in entities
        if not any(
            b is not e
            and b["offset"] <= e["offset"]
            and e["offset"] + e["length"] <= b["offset"] + b["length"]
            for b in blocks
        )
    ]
    return sorted(kept, key=lambda e: (e["offset"], -e["length"]))


def trim_entities_text(text: str, entities: list[dict[str, Any]]) -> ParsedText:
    """Strip leading/trailing whitespace like Telegram does, clipping entities to match."""
    stripped_left = text.lstrip()
    result = stripped_left.rstrip()
    shift = utf16_len(text) - utf16_len(stripped_left)
    total = utf16_len(result)
    out: list[dict[str, Any]] = []
    for ent in entities:
        start = max(ent["offset"] - shift, 0)
        end = min(ent["offset"] + ent["length"] - shift, total)
        if end > start:
            out.append({**ent, "offset": start, "length": end - start})
    return ParsedText(result, out)


def parse_html(source: str, *, strict_ampersand: bool = True) -> ParsedText:
    """Parse Telegram HTML; raise HtmlParseError with Telegram's wording on invalid input."""
    parsed = _Parser(source, strict_ampersand).run()
    return trim_entities_text(parsed.text, parsed.entities)
