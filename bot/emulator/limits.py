"""Sliding-window flood limits modelled on Telegram's documented bot limits."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["RateLimitConfig", "RateLimiter", "SlidingWindow"]

Clock = Callable[[], float]


class SlidingWindow:
    """At most ``limit`` events per trailing ``window_s`` seconds, tracked per key."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[Hashable, deque[float]] = {}

    def _live(self, key: Hashable, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def wait_time(self, key: Hashable, now: float, count: int = 1) -> float:
        """Seconds until ``count`` more events fit (0.0 when they fit now).

        More than ``limit`` at once never fit, so they wait for an empty window instead:
        a 100-message copyMessages is still possible, it just blocks the key afterwards.
        """
        events = self._live(key, now)
        excess = len(events) + count - self.limit
        if excess <= 0 or not events:
            return 0.0
        # The newest of the events that must leave the window for ``count`` slots to free up.
        blocking = events[min(excess, len(events)) - 1]
        return max(blocking + self.window_s - now, 0.0)

    def record(self, key: Hashable, now: float, count: int = 1) -> None:
        """Count ``count`` events for ``key`` at ``now``."""
        self._live(key, now).extend([now] * count)


@dataclass(frozen=True)
class RateLimitConfig:
    """Limits; defaults follow Telegram's FAQ (1 msg/s per chat with a small burst, etc.)."""

    private_limit: int = 3
    private_window_s: float = 1.0
    group_limit: int = 20
    group_window_s: float = 60.0
    global_limit: int = 30
    global_window_s: float = 1.0


class RateLimiter:
    """Checks the per-chat and global windows together so a refused send consumes nothing."""

    def __init__(self, config: RateLimitConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or RateLimitConfig()
        self.clock: Clock = clock or time.monotonic
        self._private = SlidingWindow(self.config.private_limit, self.config.private_window_s)
        self._group = SlidingWindow(self.config.group_limit, self.config.group_window_s)
        self._global = SlidingWindow(self.config.global_limit, self.config.global_window_s)

    def acquire(
        self, chat_id: int, *, is_group: bool, counts_global: bool = True, count: int = 1
    ) -> int | None:
        """Record a send of ``count`` messages and return None, or return retry_after seconds
        (int ≥ 1) until all of them fit; a refused send records nothing."""
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        now = self.clock()
        per_chat = self._group if is_group else self._private
        wait = per_chat.wait_time(chat_id, now, count)
        if counts_global:
            wait = max(wait, self._global.wait_time("*", now, count))
        if wait > 0:
            return max(1, math.ceil(wait))
        per_chat.record(chat_id, now, count)
        if counts_global:
            self._global.record("*", now, count)
        return None
