"""A throwaway PostgreSQL cluster for the test session, and fresh databases inside it."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

URL_ENV = "GOVBOT_TEST_PG_URL"
NO_BINARIES = "no PostgreSQL server binaries (initdb) found; install postgresql-15"
_SERVER_USER = "postgres"
# Durability is pointless for a cluster that lives for one test run, and fsync dominates start-up.
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresUnavailableError(Exception):
    """No server can be started here; the message is the reason tests are skipped."""


@dataclass(frozen=True)
class PgServer:
    """A reachable server: its admin URL (any database we may CREATE DATABASE from)."""

    admin_url: URL

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of one database on this server."""
        return self.admin_url.set(
            drivername="postgresql+asyncpg", database=database
        ).render_as_string(hide_password=False)

    def _dsn(self) -> str:
        return self.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def create_database(self) -> str:
        """Create an empty database with a random name and return its name."""
        name = f"t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(self._dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        """Drop a database even if a leaked connection still uses it."""
        conn = await asyncpg.connect(self._dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def find_bindir() -> Path | None:
    """The directory holding initdb/pg_ctl, newest major version first."""
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates = sorted(versioned, key=lambda p: _major(Path(p).parent.name), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for cand in candidates:
        bindir = Path(cand)
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _fast_tmp() -> str | None:
    # A cluster on tmpfs starts in half the time and creates a database in ~15 ms instead of
    # ~300 ms; Docker's default 64 MB /dev/shm is too small, so then use the normal temp dir.
    shm = "/dev/shm"
    try:
        if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= 1 << 30:
            return shm
    except OSError:
        pass
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """initdb + pg_ctl in a temp dir; as root the binaries run as the postgres user."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="govbot-pg-", dir=_fast_tmp()))
        self.data = self.root / "data"
        self.port = 0
        self._as_root = os.geteuid() == 0
        if self._as_root:
            # pg_ctl and initdb refuse to run as root.
            try:
                user = pwd.getpwnam(_SERVER_USER)
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise PostgresUnavailableError(
                    f"running as root and there is no {_SERVER_USER!r} user to run PostgreSQL"
                ) from None
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._as_root:
            cmd = ["runuser", "-u", _SERVER_USER, "--", *cmd]
        # cwd: the postgres user may not be allowed into the directory pytest was started from.
        return subprocess.run(cmd, capture_output=True, text=True, cwd=self.root, timeout=60)

    def start(self) -> PgServer:
        """initdb and start; raise PostgresUnavailableError with the server's words if it fails."""
        common = ["-D", str(self.data), "-U", _SERVER_USER, "--auth=trust", "-E", "UTF8", "-N"]
        done = self._run("initdb", *common, "--locale=C.UTF-8")
        if done.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            done = self._run("initdb", *common, "--locale=C")
        if done.returncode != 0:
            raise PostgresUnavailableError(f"initdb failed: {done.stderr.strip()[-500:]}")
        for _ in range(3):  # the free port can be taken between probing and binding
            self.port = _free_port()
            opts = f"-h 127.0.0.1 -p {self.port} -k {self.root} {_FAST}"
            log = str(self.root / "log")
            done = self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", log, "-w", "start")
            if done.returncode == 0:
                return PgServer(
                    make_url(f"postgresql://{_SERVER_USER}@127.0.0.1:{self.port}/postgres")
                )
        log_text = (self.root / "log").read_text(errors="replace")[-500:]
        raise PostgresUnavailableError(f"pg_ctl start failed: {done.stderr.strip()} {log_text}")

    def pause(self) -> None:
        """Stop the server but keep its data: the database is "briefly down"."""
        done = self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if done.returncode != 0:
            raise PostgresUnavailableError(f"pg_ctl stop failed: {done.stderr.strip()}")

    def resume(self) -> None:
        """Start it again on the same port."""
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.root} {_FAST}"
        done = self._run(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start"
        )
        if done.returncode != 0:
            raise PostgresUnavailableError(f"pg_ctl start failed: {done.stderr.strip()}")

    def stop(self) -> None:
        """Stop at once (nothing in it is worth a clean shutdown) and remove the directory."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def server_from_env() -> PgServer | None:
    """The server named by GOVBOT_TEST_PG_URL, if set."""
    raw = os.environ.get(URL_ENV)
    return PgServer(make_url(raw)) if raw else None
