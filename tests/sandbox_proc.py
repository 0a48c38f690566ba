"""Run ``govbot sandbox`` as a real process, as a user would, and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
URL_RE = re.compile(r"(http://127\.0\.0\.1:\d+/)")
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """A system Chromium for Playwright: GOVBOT_CHROMIUM, else the first on PATH."""
    configured = os.environ.get("GOVBOT_CHROMIUM")
    if configured:
        return configured
    for name in CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    return None


class Sandbox:
    """One ``govbot sandbox --no-browser --port 0`` process; ``url`` once it is ready."""

    def __init__(self, data_dir: Path, *, reset: bool = False, locale: str = "zh_CN") -> None:
        args = [sys.executable, "-m", "handlers.cli", "sandbox", "--no-browser", "--port", "0"]
        args += ["--data-dir", str(data_dir)] + (["--reset"] if reset else [])
        env = {**os.environ, "GOVBOT_DEFAULT_LOCALE": locale, "PYTHONUNBUFFERED": "1"}
        env.pop("TELEGRAM_BOT_TOKEN", None)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._url: str | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            match = URL_RE.search(line)
            if match and self._url is None:
                self._url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60.0) -> str:
        """The page's URL, once the sandbox printed it."""
        if not self._ready.wait(timeout) or self._url is None:
            self.stop()
            raise AssertionError("sandbox did not start:\n" + "".join(self.output))
        return self._url

    @property
    def url(self) -> str:
        """The page's root URL."""
        assert self._url is not None
        return self._url

    def get(self, path: str) -> Any:
        """GET a JSON endpoint; its ``result``."""
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as resp:
            return json.loads(resp.read())["result"]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON, as the page does; its ``result``."""
        request = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())["result"]

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Every live message of a chat, the user's included."""
        return self.get(f"__emu/chats/{chat_id}/messages?include_user=1&include_deleted=0")  # type: ignore[no-any-return]

    def wait_for(
        self,
        chat_id: int,
        where: Callable[[dict[str, Any]], bool],
        timeout: float = 30.0,
        what: str = "a matching message",
    ) -> dict[str, Any]:
        """The first message of the chat for which ``where`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages(chat_id):
                if where(message):
                    return message
            time.sleep(0.1)
        texts = [m["text"][:80] for m in self.messages(chat_id)]
        raise AssertionError(f"chat {chat_id}: no {what} in {timeout}s; it has {texts}")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Never leave a sandbox running after a failed test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Ask it to stop as Ctrl-C does; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    "sandbox did not stop on Ctrl-C:\n" + "".join(self.output)
                ) from None
        return self.proc.returncode
