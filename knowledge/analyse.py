"""The one analysis chain every query and entry text goes through before lexical matching.

normalise → glossary (canonical terms) → jieba words, character bigrams, pinyin bigrams and Latin
trigrams. Each token carries a family prefix ("w:", "c:", "p:", "t:") so one BM25 vocabulary
holds them all and a word can never collide with a bigram that is spelled the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from knowledge import segment
from knowledge.glossary import Glossary
from knowledge.normalise import is_cjk, normalise

WORD, BIGRAM, PINYIN, TRIGRAM = "w:", "c:", "p:", "t:"


@dataclass(frozen=True)
class Analysis:
    """A text as the matcher sees it."""

    normalised: str  # normalise(text)
    canonical: str  # with glossary terms rewritten to their canonical forms
    words: tuple[str, ...]  # content words (stop words dropped), canonical spelling
    tokens: tuple[str, ...]  # prefixed lexical tokens, with repeats (term frequency)


def _stem(word: str) -> str:
    """English plural → singular, the one inflection that changes matching the most."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class Analyser:
    """Turns texts into :class:`Analysis` values with one glossary; results are cached."""

    def __init__(self, glossary: Glossary) -> None:
        self.glossary = glossary
        segment.add_words(glossary.terms())
        self._stop = segment.stopwords()
        # queries and their words repeat; entry texts are analysed once, uncached
        self.analyse = lru_cache(maxsize=8192)(self._analyse)
        self.units = lru_cache(maxsize=8192)(self._units)

    def analyse_once(self, text: str) -> Analysis:
        """Analyse without caching (an entry's texts at build time would flood the cache)."""
        return self._analyse(text)

    def _units(self, word: str) -> tuple[str, ...]:
        """The salient parts of a content word, for judging what an entry lacks.

        A Chinese word jieba's dictionary does not know was joined by its HMM, often from a
        content word and a function word ("导吗", "我用", "上能"): it stands for its dictionary
        pieces, stop words dropped. Numbers are no salient content.
        """
        if word.isdigit():
            return ()
        if len(word) < 2 or not all(is_cjk(char) for char in word):
            return (word,)
        pieces = segment.dictionary_pieces(word)
        if pieces == (word,):
            return pieces
        return tuple(part for part in pieces if part not in self._stop)

    def _analyse(self, text: str) -> Analysis:
        normalised = normalise(text)
        canonical = self.glossary.apply(normalised)
        content: list[str] = []
        grams: list[str] = []
        for run in segment.runs(canonical):
            if is_cjk(run[0]):
                # n-grams come from stretches of content words, so "怎么" adds no evidence
                chain: list[str] = []
                for word in [*segment.words(run), ""]:
                    if word and word not in self._stop:
                        content.append(word)
                        chain.append(word)
                    elif chain:
                        joined = "".join(chain)
                        grams.extend(BIGRAM + gram for gram in segment.char_bigrams(joined))
                        grams.extend(PINYIN + gram for gram in segment.pinyin_bigrams(joined))
                        chain = []
            elif run.isdigit() or run not in self._stop:
                word = _stem(run) if run.isalpha() else run
                content.append(word)
                if run.isalpha() and len(run) >= 4:
                    grams.extend(TRIGRAM + gram for gram in segment.latin_trigrams(word))
        tokens = tuple(WORD + word for word in content) + tuple(grams)
        return Analysis(normalised, canonical, tuple(content), tokens)
