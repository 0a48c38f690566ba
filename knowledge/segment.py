"""Chinese word segmentation (jieba) with the office vocabulary, plus character n-grams.

Words alone miss typos and segmentation slips ("修定痕迹" is not "修订痕迹"), so every text
also yields character bigrams and pinyin bigrams (homophones: 报消 reads like 报销) and Latin
character trigrams (English typos: "aproval"). jieba is a private ``jieba.Tokenizer`` built
once, lazily and quietly, so the global one (and its dictionary) is never touched.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import threading
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from knowledge import pinyin
from knowledge.normalise import is_cjk

_lock = threading.Lock()
_tokenizer: Any = None  # jieba.Tokenizer, built by _jieba()
_added: set[str] = set()

# A run is a maximal stretch of Chinese characters or of Latin letters and digits.
_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]+(?:\.[0-9]+)?")


def _data(name: str) -> str:
    return resources.files("knowledge").joinpath(f"data/{name}").read_text(encoding="utf-8")


def _rows(name: str) -> list[list[str]]:
    lines = [line for line in _data(name).splitlines() if line.strip() and line[0] != "#"]
    return [row for row in csv.reader(io.StringIO("\n".join(lines))) if row]


@cache
def stopwords() -> frozenset[str]:
    """Function words that are no evidence of what a question is about."""
    return frozenset(row[0].strip() for row in _rows("stopwords.csv"))


def dictionary_pieces(word: str) -> tuple[str, ...]:
    """A word jieba's dictionary knows, alone; else its dictionary pieces (no HMM guessing)."""
    tokenizer = _jieba()
    if tokenizer.FREQ.get(word, 0):
        return (word,)
    return tuple(tokenizer.lcut(word, HMM=False))


def _jieba() -> Any:
    """The shared segmenter, built on first use with the shipped user dictionary."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            logger = logging.getLogger("jieba")
            level = logger.level
            logger.setLevel(logging.WARNING)  # jieba logs its dictionary loading to stderr
            try:
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
            finally:
                logger.setLevel(level)
            for row in _rows("userdict.csv"):
                word = row[0].strip().lower()
                freq = int(row[1]) if len(row) > 1 and row[1].strip() else None
                tokenizer.add_word(word, freq)
                _added.add(word)
            _tokenizer = tokenizer
    return _tokenizer


def add_words(words: Iterable[str]) -> None:
    """Keep these (normalised) words whole from now on; words are only ever added."""
    tokenizer = _jieba()
    with _lock:
        for word in words:
            if word not in _added and any(is_cjk(char) for char in word):
                tokenizer.add_word(word)
                _added.add(word)


def runs(text: str) -> list[str]:
    """The Chinese and the Latin/digit runs of a normalised text, in order."""
    return _RUNS.findall(text)


def words(text: str) -> list[str]:
    """jieba words of a normalised text (Latin words and numbers kept whole), no spaces."""
    out: list[str] = []
    for run in runs(text):
        if is_cjk(run[0]):
            out.extend(word for word in _jieba().lcut(run, HMM=True) if word.strip())
        else:
            out.append(run)
    return out


def char_bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a Chinese run (a lone character stands for itself)."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def pinyin_bigrams(run: str) -> list[str]:
    """Overlapping pairs of syllables of a Chinese run, e.g. 报销 → ["bao xiao"]."""
    sounds = pinyin.syllables(run)
    if len(sounds) == 1:
        return sounds
    return [f"{sounds[i]} {sounds[i + 1]}" for i in range(len(sounds) - 1)]


def latin_trigrams(word: str) -> list[str]:
    """Character trigrams of a Latin word padded with "#", for English typos."""
    padded = f"#{word}#"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def background_idf(word: str) -> float:
    """How informative a word is in general Chinese text (jieba's corpus frequencies).

    A question's topical words ("挂失", "续期") are rare in general text, its fillers ("一下",
    "好几") common; this tells them apart without any knowledge-base statistics. A word jieba
    does not know (a typo, an HMM-joined pair) is rated by its rarest character, discounted.
    """
    tokenizer = _jieba()
    freq: int = tokenizer.FREQ.get(word, 0)
    if freq == 0 and all(is_cjk(char) for char in word):
        freq = min(tokenizer.FREQ.get(char, 0) for char in word) // 50
    elif freq == 0:
        freq = _LATIN_DEFAULT_FREQ
    return float(math.log((tokenizer.total + 1) / (freq + 1)))


_LATIN_DEFAULT_FREQ = 200  # an English word is rated like a fairly rare Chinese word
