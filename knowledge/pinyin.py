"""Toneless pinyin per Chinese character, for matching homophone typos (报消 for 报销).

Most Chinese typos come from a pinyin input method picking the wrong character with the same
sound, so two texts that read alike should share tokens even when their characters differ. The
table is one reading per character (the commonest), shipped as ``data/pinyin.csv`` and generated
from pypinyin (MIT; data from pinyin-data) by ``python -m knowledge.pinyin --rebuild``, so the
engine needs neither pypinyin's 60 MB phrase dictionary at run time nor its start-up cost.
"""

from __future__ import annotations

import argparse
from functools import cache
from importlib import resources

_FIRST, _LAST = 0x4E00, 0x9FFF  # CJK Unified Ideographs; input is simplified before this runs

# Initials and finals that speakers of southern Mandarin (and their input methods) confuse; the
# usual "fuzzy pinyin" setting of Chinese IMEs. Merging them only widens homophone matching.
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FUZZY_FINALS = (("ing", "in"), ("eng", "en"))


def _fuzz(syllable: str) -> str:
    for long, short in _FUZZY_INITIALS:
        if syllable.startswith(long):
            syllable = short + syllable[len(long) :]
            break
    for long, short in _FUZZY_FINALS:
        if syllable.endswith(long):
            syllable = syllable[: -len(long)] + short
            break
    return syllable


@cache
def table() -> dict[str, str]:
    """Character → fuzzy toneless syllable, loaded once from the shipped data file."""
    text = resources.files("knowledge").joinpath("data/pinyin.csv").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            char, syllable = line.split(",")
            out[char] = _fuzz(syllable)
    return out


def syllables(run: str) -> list[str]:
    """Syllables of a run of Chinese characters (a character without a reading keeps itself)."""
    readings = table()
    return [readings.get(char, char) for char in run]


def _rebuild(path: str) -> None:
    """Regenerate the shipped table from pypinyin (a development-time tool only)."""
    from pypinyin import Style, pinyin  # only here: not a run-time dependency

    lines = ["# char,toneless pinyin (commonest reading); generated from pypinyin"]
    for code in range(_FIRST, _LAST + 1):
        char = chr(code)
        reading = pinyin(char, style=Style.NORMAL, heteronym=False, errors="ignore")
        if reading and reading[0] and reading[0][0].isascii() and reading[0][0].isalpha():
            lines.append(f"{char},{reading[0][0]}")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", metavar="PATH", default="knowledge/data/pinyin.csv")
    _rebuild(parser.parse_args().rebuild)
