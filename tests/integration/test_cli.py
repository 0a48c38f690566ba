"""`govbot` as an operator uses it: help, check, db upgrade, staff import, invite, audit verify."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def govbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "TELEGRAM_"))}
    environ.update(
        {
            "GOVBOT_DATA_DIR": str(tmp_path / "data"),
            "PYTHONPATH": str(ROOT),
            "GOVBOT_CONFIG": str(tmp_path / "none.toml"),
        },
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    out = govbot(tmp_path, "--help").stdout
    for name in ("run", "check", "db", "staff", "invite", "audit", "demo", "emulator"):
        assert f"  {name} " in out, name


def test_run_without_a_token_is_one_clear_line(tmp_path: Path) -> None:
    result = govbot(tmp_path, "run")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)"
    )


def test_outdated_schema_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    result = govbot(
        tmp_path, "run", TELEGRAM_BOT_TOKEN="1:x", TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot"
    )
    assert result.returncode == 2
    assert "govbot db upgrade" in result.stderr and "Traceback" not in result.stderr
    check = govbot(tmp_path, "check")
    assert check.returncode == 1 and "govbot db upgrade" in check.stdout


def test_import_invite_and_audit_verify(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    good = tmp_path / "staff.csv"
    good.write_text(
        "工号,姓名,部门,角色,上级\nE1,张三,办公室,admin;staff,\nE2,李四,办公室,staff,E1\n",
        encoding="utf-8-sig",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("employee_no,name,department,roles\nE3,王五,办公室,staff\nE4,,办公室,staff\n")
    result = govbot(tmp_path, "staff", "import", str(bad))
    assert result.returncode == 1 and "第 3 行" in result.stderr and "未写入" in result.stdout
    result = govbot(tmp_path, "staff", "import", str(good))
    assert result.returncode == 0 and "新增 2" in result.stdout
    again = govbot(tmp_path, "staff", "import", str(good))
    assert "新增 0，更新 0，未变 2" in again.stdout
    invite = govbot(tmp_path, "invite", "E2", "--json", GOVBOT_BOT_USERNAME="gov_bot")
    issued = json.loads(invite.stdout)
    assert issued["link"] == f"https://t.me/gov_bot?start={issued['code']}"
    assert issued["name"] == "李四"
    assert govbot(tmp_path, "invite", "E9").returncode == 2
    assert govbot(tmp_path, "staff", "disable", "E2").stdout.strip() == "E2: 已停用"
    verified = govbot(tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "完好" in verified.stdout
    with sqlite3.connect(tmp_path / "data" / "govbot.sqlite3") as conn:
        conn.execute("UPDATE audit_entry SET details = '{}' WHERE seq = 2")
    broken = govbot(tmp_path, "audit", "verify")
    assert (
        broken.returncode == 1 and "第 2 条" in broken.stdout and "mac_mismatch" in broken.stdout
    )


@pytest.mark.parametrize("content", [b"\x00\x01garbage", b"PK\x03\x04truncated"])
def test_broken_files_get_a_message_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    path = tmp_path / "staff.xlsx"
    path.write_bytes(content)
    result = govbot(tmp_path, "staff", "import", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
