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

    def wait_time(self, key: Hashable, now: float) -> float:
        """Seconds until one more event fits (0.0 when it fits now)."""
        events = self._live(key, now)
        if len(events) < self.limit:
            return 0.0
        # The event that must leave the window for a slot to free up.
        blocking = events[len(events) - self.limit]
        return max(blocking + self.window_s - now, 0.0)

    def record(self, key: Hashable, now: float) -> None:
        """Count one event for ``key`` at ``now``."""
        self._live(key, now).append(now)


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

    def acquire(self, chat_id: int, *, is_group: bool, counts_global: bool = True) -> int | None:
        """Record a send and return None, or return retry_after seconds (int ≥ 1) if limited."""
        now = self.clock()
        per_chat = self._group if is_group else self._private
        wait = per_chat.wait_time(chat_id, now)
        if counts_global:
            wait = max(wait, self._global.wait_time("*", now))
        if wait > 0:
            return max(1, math.ceil(wait))
        per_chat.record(chat_id, now)
        if counts_global:
            self._global.record("*", now)
        return None
