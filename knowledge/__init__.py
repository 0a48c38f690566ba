"""The FAQ engine: entries in, ranked hits with calibrated confidence out.

Stands alone (stdlib, numpy and text libraries only); ``bot/faq`` owns the thresholds and
everything the user sees. Typical use::

    index = Index(UseEmbedder())
    new_vectors = index.build(entries, vectors=stored)  # store new_vectors for the next start
    result = search(index, "OA密码忘了怎么办")         # from a worker thread
    decision = decide(result, Thresholds(lower=0.3, upper=0.6))
"""

from knowledge.embed import Embedder, HashEmbedder, UseEmbedder, text_key
from knowledge.glossary import Glossary, default_glossary
from knowledge.index import Entry, Index
from knowledge.normalise import normalise
from knowledge.search import (
    DEFAULT_WEIGHTS,
    Band,
    Decision,
    Hit,
    SearchResult,
    Thresholds,
    Weights,
    decide,
    search,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "Band",
    "Decision",
    "Embedder",
    "Entry",
    "Glossary",
    "HashEmbedder",
    "Hit",
    "Index",
    "SearchResult",
    "Thresholds",
    "UseEmbedder",
    "Weights",
    "decide",
    "default_glossary",
    "normalise",
    "search",
    "text_key",
]
