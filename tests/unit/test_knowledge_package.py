"""The package's re-exports: every name resolves, lazily, to what it always was."""

from __future__ import annotations

import subprocess
import sys

import knowledge
import knowledge.normalise
import knowledge.search


def test_every_reexported_name_resolves_to_its_modules_object() -> None:
    for name in knowledge.__all__:
        value = getattr(knowledge, name)
        assert value is getattr(sys.modules[value.__module__], name), name


def test_a_function_named_like_its_module_wins_over_the_submodule() -> None:
    from knowledge import normalise, search

    # both submodules are imported above, which binds them on the package first
    assert callable(search) and search.__module__ == "knowledge.search"
    assert callable(normalise) and normalise("ＯＡ") == "oa"


def test_importing_a_light_module_does_not_load_the_engine() -> None:
    code = (
        "import sys, knowledge.normalise\n"
        "heavy = {'numpy', 'bm25s', 'knowledge.search', 'knowledge.embed'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
