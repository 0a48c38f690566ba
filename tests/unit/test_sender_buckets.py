"""The sender's sliding windows, pacing, pauses and lanes, on a fake monotonic clock."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram.error import RetryAfter

from bot.messaging.outgoing import Outgoing
from handlers.sender import (
    Limiter,
    Limits,
    Pacer,
    SlidingWindow,
    backoff_s,
    plan,
    retry_after_s,
)

INTERACTIVE, NOTIFY, BROADCAST = 0, 5, 9
GROUP = -100_123
LIMITS = Limits()


@dataclass
class FakeClock:
    """A monotonic clock moved by hand."""

    t: float = 1000.0

    def __call__(self) -> float:
        return self.t


def greedy(
    limiter: Limiter,
    chat_ids: list[int],
    *,
    until: float,
    step: float = 0.01,
    priority: int = NOTIFY,
) -> dict[int, list[float]]:
    """Send to each chat whenever the limiter allows, from t=0 to ``until``; send times."""
    sent: dict[int, list[float]] = defaultdict(list)
    t = 0.0
    while t < until:
        for chat_id in chat_ids:
            if limiter.wait(chat_id, priority, t) == 0.0:
                limiter.record(chat_id, priority, t)
                limiter.settle(chat_id, t, t)  # answered at once
                sent[chat_id].append(t)
        t = round(t + step, 6)
    return sent


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open trailing window of this length."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# -- the primitives, table-driven


@pytest.mark.parametrize(
    ("limit", "period", "events", "at", "expected"),
    [
        (3, 1.0, [], 0.0, 0.0),
        (3, 1.0, [0.0, 0.1], 0.2, 0.0),
        (3, 1.0, [0.0, 0.1, 0.2], 0.3, 0.7),
        (3, 1.0, [0.0, 0.1, 0.2], 0.95, 0.05),
        (3, 1.0, [0.0, 0.1, 0.2], 1.0, 0.0),  # 0.0 has left the window at 1.0
        (3, 1.0, [0.0, 0.1, 0.2], 1.2, 0.0),
        (1, 60.0, [5.0], 30.0, 35.0),
    ],
)
def test_sliding_window_wait(
    limit: int, period: float, events: list[float], at: float, expected: float
) -> None:
    window = SlidingWindow(limit, period)
    for t in events:
        window.record(t)
    assert window.wait(at) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("interval", "burst", "events", "at", "expected"),
    [
        (1.0, 3, [], 0.0, 0.0),
        (1.0, 3, [0.0, 0.0], 0.0, 0.0),
        (1.0, 3, [0.0, 0.0, 0.0], 0.0, 1.0),
        (1.0, 3, [0.0, 0.0, 0.0, 1.0], 1.0, 1.0),
        (1.0, 3, [0.0, 0.0, 0.0], 3.0, 0.0),  # idle long enough: a whole burst again
        (1.0, 1, [0.0], 0.5, 0.5),
    ],
)
def test_pacer_wait(
    interval: float, burst: int, events: list[float], at: float, expected: float
) -> None:
    pacer = Pacer(interval, burst)
    for t in events:
        pacer.record(t)
    assert pacer.wait(at) == pytest.approx(expected)


def _paced(pacer: Pacer, late_s: float, n: int) -> list[float]:
    """Send ``n`` events each at the first moment the pacer allows, plus ``late_s``."""
    t, times = 0.0, []
    for _ in range(n):
        t += pacer.wait(t) + late_s
        pacer.record(t)
        times.append(t)
    return times


def test_a_pacer_that_tolerates_lateness_keeps_its_rate_and_never_exceeds_it() -> None:
    interval = 1.03 / 29
    strict = _paced(Pacer(interval, 1), 0.001, 1000)
    tolerant = _paced(Pacer(interval, 1, late_s=interval / 10), 0.001, 1000)
    # Every wake-up a millisecond late: the strict pacer loses it each time, the tolerant
    # one keeps the schedule (the rate is one per interval again).
    assert (strict[-1] - strict[0]) / 999 == pytest.approx(interval + 0.001)
    assert (tolerant[-1] - tolerant[0]) / 999 == pytest.approx(interval, rel=0.01)
    # Never faster than the rate however the events come (on time: exactly one per interval).
    on_time = _paced(Pacer(interval, 1, late_s=interval / 10), 0.0, 1000)
    assert min(b - a for a, b in itertools.pairwise(on_time)) == pytest.approx(interval)
    # An idle pacer gives no credit: the second event after a pause still waits an interval.
    idle = Pacer(interval, 1, late_s=interval / 10)
    idle.record(0.0)
    idle.record(10.0)
    assert idle.wait(10.0) == pytest.approx(interval)


# -- per chat, per group, global


def test_private_chat_bursts_three_then_one_per_second() -> None:
    times = greedy(Limiter(LIMITS), [42], until=10.0)[42]
    assert times[2] < 0.1  # the burst goes out at once
    assert times[3] >= 1.0
    gaps = [b - a for a, b in itertools.pairwise(times[2:])]
    assert all(gap >= 1.0 - 1e-9 for gap in gaps)
    assert max_in_window(times, 1.0 + LIMITS.slack_s) <= 3
    assert 3 + 8 <= len(times) <= 3 + 10  # a sustained second each after the burst


def test_private_chat_burst_comes_back_after_idle() -> None:
    limiter = Limiter(LIMITS)
    for _ in range(3):
        limiter.record(7, NOTIFY, 0.0)
    assert limiter.wait(7, NOTIFY, 0.5) > 0
    assert limiter.wait(7, NOTIFY, 3.2) == 0.0
    for _ in range(3):
        assert limiter.wait(7, NOTIFY, 3.2) == 0.0
        limiter.record(7, NOTIFY, 3.2)


def test_a_chat_is_spaced_from_when_its_calls_were_answered() -> None:
    """Telegram counts a call on arrival: a slow answer must not let the next calls bunch."""
    limiter = Limiter(LIMITS)
    for sent_at in (0.0, 0.01, 0.02):
        limiter.record(3, NOTIFY, sent_at)
        limiter.settle(3, sent_at, now=sent_at + 0.3)  # each answered 0.3 s later
    assert limiter.wait(3, NOTIFY, 1.1) > 0  # 1.03 after sending, but not after arrival
    assert limiter.wait(3, NOTIFY, 1.3 + LIMITS.slack_s + 0.001) == 0.0
    limiter.record(-9, NOTIFY, 0.0)
    limiter.settle(-9, 0.0, now=2.0)  # answered after its window had passed
    assert limiter.chat_wait(-9, 2.5) == 0.0
    assert limiter.forget_idle(2.5) == 1  # chat 3 is quiet; the group remembers its call
    assert len(limiter) == 1


def test_group_gets_19_per_minute() -> None:
    times = greedy(Limiter(LIMITS), [GROUP], until=119.0, step=0.05)[GROUP]
    assert max_in_window(times, 60.0) == 19
    assert max_in_window(times, 60.0 + LIMITS.slack_s - 1e-6) <= 19
    assert max_in_window(times, 1.0) <= 3  # a group is a chat too
    assert len(times) == 2 * 19  # two full minutes' worth, never 20 in one


def test_a_call_copying_several_messages_takes_as_many_group_slots() -> None:
    window = SlidingWindow(19, 60.0)
    for t in range(15):
        window.record(float(t))
    assert window.wait(20.0, 4) == 0.0
    assert window.wait(20.0, 5) == pytest.approx(40.0)  # the first event must leave
    assert window.wait(20.0, 50) == pytest.approx(60.0 - 6.0)  # capped: an empty window
    limiter = Limiter(LIMITS)
    five = Outgoing(id=1, chat_id=GROUP, kind="k", locale="en", facts={"weight": 5})
    one = Outgoing(id=2, chat_id=GROUP, kind="k", locale="en")
    assert five.weight == 5 and one.weight == 1
    assert Outgoing(id=3, chat_id=1, kind="k", locale="en", facts={"weight": "x"}).weight == 1
    sent = 0
    t = 0.0
    while t < 60.0:  # a minute of five-message copies: three of them (15 of 19 slots)
        if plan([five], limiter, t, slots=1, horizon_s=1.0).send:
            sent += 1
        t += 0.5
    assert sent == 3
    assert plan([one], limiter, t - 0.5, slots=1, horizon_s=1.0).send  # 4 slots were left


def test_global_30_per_window_over_many_chats() -> None:
    sent = greedy(Limiter(LIMITS), list(range(1, 301)), until=5.0)
    all_times = [t for times in sent.values() for t in times]
    assert LIMITS.global_limit == 30
    # 30 in any 1.03 s: sent so, they never make 31 in one second at Telegram either.
    assert max_in_window(all_times, 1.0 + LIMITS.slack_s) <= 30
    assert max_in_window(all_times, 1.0) <= 30
    assert len(all_times) >= 30 / (1.0 + LIMITS.slack_s) * 4.5  # the limit is used too


@pytest.mark.parametrize("chat_a", [11, GROUP])
def test_retry_after_on_one_chat_does_not_delay_another(chat_a: int) -> None:
    limiter = Limiter(LIMITS)
    limiter.pause(chat_a, 5.0, now=0.0)
    assert limiter.wait(chat_a, NOTIFY, 0.0) == pytest.approx(5.0)
    assert limiter.wait(12, NOTIFY, 0.0) == 0.0
    assert limiter.wait(-200, NOTIFY, 0.0) == 0.0
    assert limiter.paused_chats(1.0) == {chat_a}
    assert limiter.wait(chat_a, NOTIFY, 5.0) == 0.0
    assert limiter.paused_chats(5.0) == set()


def test_retry_after_without_a_chat_pauses_everything() -> None:
    limiter = Limiter(LIMITS)
    limiter.pause(None, 3.0, now=0.0)
    assert limiter.global_pause(1.0) == pytest.approx(2.0)
    assert limiter.wait(1, INTERACTIVE, 1.0) == pytest.approx(2.0)
    assert limiter.wait(1, INTERACTIVE, 3.0) == 0.0


def test_idle_buckets_are_forgotten() -> None:
    limiter = Limiter(LIMITS)
    limiter.record(1, NOTIFY, 0.0)
    limiter.record(GROUP, NOTIFY, 0.0)
    limiter.pause(2, 10.0, now=0.0)
    assert limiter.forget_idle(5.0) == 1  # chat 1; the group still has its minute
    assert limiter.forget_idle(61.0) == 2
    assert len(limiter) == 0


# -- lanes


def rows(n: int, priority: int, *, first_id: int, first_chat: int) -> list[Outgoing]:
    return [
        Outgoing(id=first_id + i, chat_id=first_chat + i, kind="k", locale="en", priority=priority)
        for i in range(n)
    ]


def test_a_call_answered_late_or_not_yet_keeps_its_place_in_the_global_window() -> None:
    """Telegram counts a call when it arrives, which may be as late as its answer: a late
    answer moves the call there, and a call still out counts however long ago it left."""
    limits = Limits(global_limit=3, global_burst=3)
    window = limits.global_window_s + limits.slack_s
    limiter = Limiter(limits)
    for chat_id in (1, 2, 3):
        limiter.record(chat_id, NOTIFY, 0.0)
    limiter.settle(1, 0.0, 0.01)  # prompt: counted at its send
    limiter.settle(2, 0.0, 0.6)  # late: it may have arrived at 0.6
    # At 1.06 the prompt one has left the window; the late one (0.6) and the one still out
    # have not: one place is left, not three.
    now = window + 0.01
    assert limiter.wait(4, NOTIFY, now) == 0.0
    limiter.record(4, NOTIFY, now)
    limiter.settle(4, now, now)
    assert limiter.wait(5, NOTIFY, now + 0.01) > 0.0
    limiter.settle(3, 0.0, now + 0.02)  # 3 answered, late: it now counts from 1.08
    assert limiter.wait(5, NOTIFY, now + 0.03) > 0.0  # 2 (0.6), 4 (1.06), 3 (1.08)
    assert limiter.wait(5, NOTIFY, 0.6 + window + 0.01) == 0.0  # 2 has left


def test_a_call_never_answered_is_forgotten_in_the_end() -> None:
    limiter = Limiter(Limits(global_limit=1, global_burst=1))
    limiter.record(1, NOTIFY, 0.0)
    assert limiter.wait(2, NOTIFY, 30.0) > 0.0
    assert limiter.wait(2, NOTIFY, 91.0) == 0.0


def test_broadcast_lane_is_capped_and_paced() -> None:
    sent = greedy(Limiter(LIMITS), list(range(1, 301)), until=5.0, priority=BROADCAST)
    all_times = [t for times in sent.values() for t in times]
    assert LIMITS.broadcast_limit == LIMITS.global_limit - 1  # one slot kept for replies
    assert max_in_window(all_times, 1.0 + LIMITS.slack_s) <= LIMITS.broadcast_limit
    assert max_in_window(all_times, 0.2) <= 3 + 6  # even pacing, not one burst per second
    assert len(all_times) >= LIMITS.broadcast_limit * 4


def test_interactive_is_served_first_and_finds_headroom_during_a_broadcast() -> None:
    limiter = Limiter(LIMITS)
    backlog = rows(300, BROADCAST, first_id=1, first_chat=1000)
    # A broadcast has been running for a while and uses its whole budget.
    t = 0.0
    while True:
        backlog_plan = plan(backlog, limiter, t, slots=64, horizon_s=0.5)
        backlog = backlog_plan.keep
        for out in backlog_plan.send:
            limiter.settle(out.chat_id, t, t)
        t = round(t + 0.005, 6)
        if t >= 3.0 and backlog_plan.send:
            break
    assert plan(backlog, limiter, t, slots=64, horizon_s=0.5).send == []  # it just sent
    replies = rows(3, INTERACTIVE, first_id=10_000, first_chat=1)
    notices = rows(2, NOTIFY, first_id=20_000, first_chat=100)
    held = backlog + notices + replies
    order: list[tuple[int, float]] = []
    start = t
    while t < start + 0.5:
        step = plan(held, limiter, t, slots=64, horizon_s=0.5)
        order += [(o.priority, t - start) for o in step.send]
        for out in step.send:
            limiter.settle(out.chat_id, t, t)
        held = step.keep
        t = round(t + 0.005, 6)
    # The slot the broadcast leaves free takes the first reply at once; the other replies,
    # then the notices, take the broadcast's next slots (one every 35.5 ms) before it does.
    assert [p for p, _ in order[:5]] == [INTERACTIVE] * 3 + [NOTIFY] * 2
    slot = (LIMITS.broadcast_window_s + LIMITS.slack_s) / LIMITS.broadcast_limit
    assert order[0][1] == 0.0
    assert all(at <= k * slot + 0.01 for k, (_, at) in enumerate(order[:3]))
    assert all(at < 0.2 for p, at in order if p == NOTIFY)


def test_lanes_are_served_in_priority_order_when_slots_are_short() -> None:
    limiter = Limiter(Limits(global_burst=28, broadcast_burst=24))
    held = (
        rows(5, BROADCAST, first_id=1, first_chat=1000)
        + rows(5, NOTIFY, first_id=100, first_chat=2000)
        + rows(5, INTERACTIVE, first_id=200, first_chat=3000)
    )
    step = plan(held, limiter, 0.0, slots=7, horizon_s=0.5)
    assert [o.priority for o in step.send] == [INTERACTIVE] * 5 + [NOTIFY] * 2
    assert len(step.keep) == 8


def test_plan_skips_a_busy_chat_and_defers_a_long_wait() -> None:
    limiter = Limiter(LIMITS)
    for _ in range(3):
        limiter.record(5, NOTIFY, 0.0)
    limiter.pause(6, 30.0, now=0.0)
    held = [
        Outgoing(id=1, chat_id=5, kind="k", locale="en"),
        Outgoing(id=2, chat_id=6, kind="k", locale="en"),
        Outgoing(id=3, chat_id=7, kind="k", locale="en"),
    ]
    step = plan(held, limiter, 0.1, slots=16, horizon_s=0.5)
    assert [o.id for o in step.send] == [3]
    assert [(o.id, round(after)) for o, after in step.defer] == [(2, 30)]
    assert [o.id for o in step.keep] == [1]
    assert step.wake_in == pytest.approx(0.5)  # min(horizon, chat 5 frees at 1.03)


def test_limiter_uses_its_injected_clock() -> None:
    clock = FakeClock()
    limiter = Limiter(LIMITS, clock=clock)
    for _ in range(3):
        limiter.record(9, NOTIFY)
    assert limiter.wait(9, NOTIFY) > 0
    clock.t += 1.1
    assert limiter.wait(9, NOTIFY) == 0.0


# -- helpers


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (30, 60.0)]
)
def test_backoff_is_exponential_and_capped(attempts: int, expected: float) -> None:
    assert backoff_s(attempts) == expected


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PTB's own, in RetryAfter()
def test_retry_after_seconds_from_either_form() -> None:
    assert retry_after_s(RetryAfter(2)) == 2.0


# -- properties over random schedules

schedules = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.5),  # gap before this attempt
        st.sampled_from([1, 2, 3, 4, GROUP, -7]),  # chat
        st.sampled_from([INTERACTIVE, NOTIFY, BROADCAST]),
    ),
    min_size=1,
    max_size=400,
)


@settings(max_examples=150, deadline=None)
@given(schedules)
def test_never_more_than_the_limits_in_any_window(schedule: list[tuple[float, int, int]]) -> None:
    limits = Limits(global_limit=6, broadcast_limit=4, group_limit=5, group_window_s=5.0)
    limiter = Limiter(limits)
    t = 0.0
    per_chat: dict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    broadcast: list[float] = []
    for gap, chat_id, priority in schedule:
        t += gap
        if limiter.wait(chat_id, priority, t) == 0.0:
            limiter.record(chat_id, priority, t)
            limiter.settle(chat_id, t, t)
            per_chat[chat_id].append(t)
            everything.append(t)
            if priority == BROADCAST:
                broadcast.append(t)
    slack = limits.slack_s
    assert max_in_window(everything, 1.0 + slack) <= limits.global_limit
    assert max_in_window(broadcast, 1.0 + slack) <= limits.broadcast_limit
    for chat_id, times in per_chat.items():
        assert max_in_window(times, 1.0 + slack) <= 3
        # sustained 1/s: in any span of length L, at most 3 + floor(L) sends
        for i in range(len(times)):
            for j in range(i + 3, len(times)):
                assert times[j] - times[i] >= (j - i - 2) * 1.0 - 1e-9
        if chat_id < 0:
            assert max_in_window(times, 5.0 + slack) <= limits.group_limit


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.3), st.integers(1, 60)),
        min_size=1,
        max_size=300,
    ),
    st.integers(min_value=1, max_value=5),
)
def test_a_pause_holds_only_its_chat(schedule: list[tuple[float, int]], paused: int) -> None:
    limiter = Limiter(LIMITS)
    limiter.pause(paused, 10.0, now=0.0)
    t = 0.0
    for gap, chat_id in schedule:
        t += gap
        wait = limiter.wait(chat_id, NOTIFY, t)
        if chat_id == paused and t < 10.0:
            assert wait >= 10.0 - t - 1e-9
        if wait == 0.0:
            limiter.record(chat_id, NOTIFY, t)
    for chat_id in range(61, 70):  # untouched chats are free unless the global window is full
        assert limiter.chat_wait(chat_id, t) == 0.0
