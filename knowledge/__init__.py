"""The FAQ engine: entries in, ranked hits with calibrated confidence out.

Stands alone (stdlib, numpy and text libraries only); ``bot/faq`` owns the thresholds and
everything the user sees. Typical use::

    index = Index(UseEmbedder())
    new_vectors = index.build(entries, vectors=stored)  # store new_vectors for the next start
    result = search(index, "OA密码忘了怎么办")         # from a worker thread
    decision = decide(result, Thresholds(lower=0.3, upper=0.6))

The names below are imported on first use, so importing one light module (``knowledge.normalise``
for the editor, say) does not load numpy and the embedding wrapper too.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "Embedder": "knowledge.embed",
    "HashEmbedder": "knowledge.embed",
    "UseEmbedder": "knowledge.embed",
    "text_key": "knowledge.embed",
    "Glossary": "knowledge.glossary",
    "default_glossary": "knowledge.glossary",
    "Entry": "knowledge.index",
    "Index": "knowledge.index",
    "normalise": "knowledge.normalise",
    "DEFAULT_WEIGHTS": "knowledge.search",
    "Band": "knowledge.search",
    "Decision": "knowledge.search",
    "Hit": "knowledge.search",
    "SearchResult": "knowledge.search",
    "Thresholds": "knowledge.search",
    "Weights": "knowledge.search",
    "decide": "knowledge.search",
    "search": "knowledge.search",
}

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


def __getattr__(name: str) -> Any:
    """Import a re-exported name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Function:
    """A re-exported function named like its own module ("search", "normalise").

    Importing ``knowledge.search`` sets the package's ``search`` attribute to the submodule;
    a data descriptor on the package's class outranks that, so ``from knowledge import search``
    still gives the function, as it did when this package imported everything eagerly.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, package: object, owner: type | None = None) -> Any:
        return getattr(import_module(_HOMES[self.name]), self.name)

    def __set__(self, package: object, value: object) -> None:
        """Ignore the import system binding the submodule of the same name."""


class _Package(types.ModuleType):
    search = _Function("search")
    normalise = _Function("normalise")


sys.modules[__name__].__class__ = _Package
