"""The trainers' glossary (#6): a file is checked whole before it replaces anything, the same
file exported and imported changes nothing, what is stored is what knowledge's Glossary reads;
and ``govbot faq glossary export|import`` as an operator uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ImportFileError
from bot.faq.glossary import GlossaryRejectedError, GlossaryService, check_rows, write_glossary
from bot.runtime import Runtime
from knowledge.glossary import Glossary, default_glossary
from tests.integration.test_cli import govbot

GROUPS = [["报销", "报账", "reimbursement"], ["U-Key", "U盾", "usb key"], ["请假", "leave"]]


def test_every_problem_is_named_with_its_line() -> None:
    rows = [
        (2, ["报销", "报账"]),
        (3, ["", "报帐"]),  # no canonical term
        (4, ["——", "  "]),  # nothing usable after normalisation
        (5, ["報賬", "费用报销"]),  # 報賬 is 报账 (Traditional), already on line 2
        (6, ["假", "休假"]),  # a single Chinese character
        (7, ["x" * 41, "长"]),
    ]
    groups, lines, problems = check_rows(rows)
    assert [(p.line, p.code) for p in problems] == [
        (3, "no_canonical"),
        (4, "empty_row"),
        (5, "duplicate_term"),
        (6, "single_character"),
        (7, "long_term"),
        (7, "single_character"),
    ]
    assert problems[2].other == 2
    assert problems[2].message(lambda s: s) == (
        "Line 5: “報賬” is also in the group on line 2; a term can belong to one group only."
    )
    assert lines == (2, 5, 6, 7) and groups[1] == ("報賬", "费用报销")


async def test_import_replaces_the_glossary_and_the_same_file_changes_nothing(
    runtime: Runtime,
) -> None:
    service = GlossaryService(runtime)
    for fmt in ("xlsx", "csv"):
        data = write_glossary(GROUPS, fmt)
        plan = await service.plan_import(data, f"g.{fmt}")
        assert plan.ok, plan.problems
        await service.apply_import(data, f"g.{fmt}")
        assert await service.groups() == GROUPS
        again = await service.plan_import(await service.export(fmt), f"g.{fmt}")
        assert again.same and again.unchanged == 3 and not again.added + again.changed
    async with runtime.detached_uow() as uow:
        actions = [e.action async for e in uow.audit.iterate()]
    assert actions.count("faq.glossary") == 1  # the second file was the same: no change

    # What is stored is what the search engine reads, and it extends the shipped glossary.
    glossary = default_glossary().extended(Glossary.from_rows(await service.groups()))
    assert glossary.canonical("U盾") == "u key" and glossary.canonical("报账") == "报销"

    smaller = write_glossary([["报销", "报账", "报帐"]], "csv")
    plan = await service.plan_import(smaller, "g.csv")
    assert (plan.added, plan.changed, plan.removed, plan.unchanged) == (0, 1, 2, 0)
    await service.apply_import(smaller, "g.csv")
    assert await service.groups() == [["报销", "报账", "报帐"]]


async def test_a_file_with_problems_changes_nothing(runtime: Runtime) -> None:
    service = GlossaryService(runtime)
    await service.apply_import(write_glossary(GROUPS, "csv"), "g.csv")
    bad = write_glossary([["报销", "报账"], ["报账", "报帐"]], "csv")
    with pytest.raises(GlossaryRejectedError) as rejected:
        await service.apply_import(bad, "g.csv")
    assert [p.code for p in rejected.value.plan.problems] == ["duplicate_term"]
    assert await service.groups() == GROUPS
    with pytest.raises(ImportFileError):
        await service.plan_import(b"%PDF-1.4", "g.pdf")
    with pytest.raises(ImportFileError):
        await service.plan_import(write_glossary([], "csv"), "g.csv")  # only the comment row


def test_cli_export_and_import(tmp_path: Path) -> None:
    env = {"GOVBOT_DEFAULT_LOCALE": "en"}
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("报销,报账\n报账,报帐\n,孤儿\n", encoding="utf-8")
    result = govbot(tmp_path, "faq", "glossary", "import", str(bad), **env)
    assert result.returncode == 1, result.stderr
    assert "Line 2: “报账” is also in the group on line 1" in result.stderr
    assert "Line 3: the first cell (the canonical term) is empty." in result.stderr
    assert "2 problems; nothing was changed." in result.stderr

    good = tmp_path / "good.csv"
    good.write_bytes(write_glossary(GROUPS, "csv"))
    dry = govbot(tmp_path, "faq", "glossary", "import", str(good), "--dry-run", **env)
    assert dry.returncode == 0 and "3 synonym groups: 3 new" in dry.stdout
    assert "dry run" in dry.stdout
    done = govbot(tmp_path, "faq", "glossary", "import", str(good), **env)
    assert done.returncode == 0 and "replaced" in done.stdout, done.stderr

    out = tmp_path / "out.xlsx"
    exported = govbot(tmp_path, "faq", "glossary", "export", str(out), **env)
    assert exported.returncode == 0 and out.exists()
    again = govbot(tmp_path, "faq", "glossary", "import", str(out), **env)
    assert again.returncode == 0 and "3 unchanged" in again.stdout
    assert "already matches" in again.stdout
    wrong = govbot(tmp_path, "faq", "glossary", "export", str(tmp_path / "g.pdf"), **env)
    assert wrong.returncode == 2 and ".xlsx or .csv" in wrong.stderr
