"""WindowLimiter under a fake clock: never more than `calls` grants in any sliding window of `window` seconds,
a container that fell behind catches up inside the window, waits never cross the caller's deadline, and the
per-container split keeps the fleet inside the provider's QPS."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl.errors import Throttled
from livectl.providers.catalogue import ACTIONS
from livectl.providers.ratelimit import WindowLimiter, per_container_share

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.t = 5000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.t += seconds
        self.slept += seconds


def max_in_any_window(times: list[float], width: float = 1.0) -> int:
    """The largest number of grants inside any closed window [t, t + width]."""
    times = sorted(times)
    return max((bisect.bisect_right(times, t + width) - i for i, t in enumerate(times)), default=0)


def limiter(calls: int, window: float, clock: FakeClock, spacing: float = 0.0) -> WindowLimiter:
    return WindowLimiter(calls, window, monotonic=clock.monotonic, sleep=clock.sleep, spacing=spacing)


def test_window_counter_itself():
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 4
    assert max_in_any_window([0.0, 1.01, 2.02]) == 1
    assert max_in_any_window([]) == 0


@pytest.mark.parametrize("calls", [1, 2, 5, 10, 25, 50])
def test_back_to_back_acquires_never_exceed_calls_per_window(calls):
    clock = FakeClock()
    lim = limiter(calls, 1.02, clock)
    grants = []
    for _ in range(calls * 30):
        lim.acquire()
        grants.append(clock.t)
    assert max_in_any_window(grants, 1.0) <= calls  # the provider's window, even a closed one
    # and the limiter is not starving callers either: `calls` per 1.02 s over the run
    assert len(grants) / (grants[-1] - grants[0] + 1.02) == pytest.approx(calls / 1.02, rel=1e-3)


@settings(max_examples=200, deadline=None)
@given(
    calls=st.sampled_from([1, 3, 5, 10, 25]),
    gaps=st.lists(st.one_of(st.just(0.0), st.floats(0.0, 0.2), st.floats(0.5, 5.0)), min_size=1, max_size=300),
)
def test_bursty_callers_never_exceed_calls_in_any_sliding_second(calls, gaps):
    clock = FakeClock()
    lim = limiter(calls, 1.02, clock)
    grants = []
    for gap in gaps:
        clock.t += gap  # a slow command between calls
        lim.acquire()
        grants.append(clock.t)
    assert max_in_any_window(grants, 1.0) <= calls


def test_a_caller_that_fell_behind_catches_up_inside_the_window():
    """5 per second for a caller busy 0.1 s per call and 0.45 s on every fifth (a slow write, a batch boundary):
    0.85 s of work per 5 calls, so the limiter alone sets the pace. The slow call's lost time is made up inside
    the window; a token bucket of burst one (4.75/s) loses it for good and runs this caller at 3.9/s."""
    clock = FakeClock()
    lim = limiter(5, 1.0, clock)
    grants = []
    for i in range(100):
        lim.acquire()
        grants.append(clock.t)
        clock.t += 0.45 if i % 5 == 4 else 0.1
    assert max_in_any_window(grants, 0.999) <= 5
    assert (len(grants) - 1) / (grants[-1] - grants[0]) >= 0.98 * 5


def test_deadline_is_never_crossed():
    clock = FakeClock()
    lim = limiter(1, 0.5, clock)
    assert lim.acquire(deadline=clock.t + 0.1) == 0.0  # the first slot is free
    with pytest.raises(Throttled) as err:
        lim.acquire(deadline=clock.t + 0.4)  # the next one frees in 0.5 s
    assert err.value.code == "LocalRateLimit"
    assert err.value.retryable
    assert clock.slept == 0.0
    assert lim.acquire(deadline=clock.t + 0.5) == pytest.approx(0.5)


def test_acquire_returns_the_wait():
    clock = FakeClock()
    lim = limiter(2, 1.0, clock)
    assert [lim.acquire() for _ in range(5)] == pytest.approx([0.0, 0.0, 1.0, 0.0, 1.0])


def test_arguments_are_checked():
    with pytest.raises(ValueError):
        WindowLimiter(0)
    with pytest.raises(ValueError):
        WindowLimiter(1, 0.0)
    with pytest.raises(ValueError):
        WindowLimiter(5, 1.0, spacing=0.21)  # more than window / calls: below the share
    with pytest.raises(ValueError):
        WindowLimiter(5, 1.0, spacing=-0.1)


@settings(max_examples=200, deadline=None)
@given(
    calls=st.sampled_from([1, 3, 5, 10, 25]),
    pacing=st.sampled_from([0.25, 0.5, 1.0]),
    gaps=st.lists(st.one_of(st.just(0.0), st.floats(0.0, 0.2), st.floats(0.5, 5.0)), min_size=1, max_size=300),
)
def test_paced_grants_are_spaced_and_still_within_the_window(calls, pacing, gaps):
    """Issue 12: the provider counts arrivals, so a window's grants handed out at one instant reach it spread
    by the senders' contention, some into the next window. Paced, no two grants are closer than `spacing`,
    however bursty the callers (a gap of 0 is a batch's records asking at once), and the window bound holds."""
    clock = FakeClock()
    spacing = pacing * 1.02 / calls
    lim = limiter(calls, 1.02, clock, spacing)
    grants = []
    for gap in gaps:
        clock.t += gap
        lim.acquire()
        grants.append(clock.t)
    assert all(b - a >= spacing - 1e-9 for a, b in itertools.pairwise(grants))
    assert max_in_any_window(grants, 1.0) <= calls


def test_a_burst_is_paced_not_handed_out_at_once():
    """Ten records of one batch asking together: unpaced, five leave at the same instant; paced at half the fair
    interval, one every 0.1 s, and the window's share is still used up within the window."""
    clock = FakeClock()
    assert [limiter(5, 1.0, clock).acquire() for _ in range(5)] == [0.0] * 5
    clock = FakeClock()
    lim = limiter(5, 1.0, clock, spacing=0.1)
    assert [lim.acquire() for _ in range(10)] == pytest.approx([0.0, 0.1, 0.1, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1])


def test_a_paced_caller_that_fell_behind_still_catches_up():
    """The catch-up case above, paced at half the fair interval: the lost time is still made up in the window."""
    clock = FakeClock()
    lim = limiter(5, 1.0, clock, spacing=0.1)
    grants = []
    for i in range(100):
        lim.acquire()
        grants.append(clock.t)
        clock.t += 0.45 if i % 5 == 4 else 0.1
    assert max_in_any_window(grants, 0.999) <= 5
    assert (len(grants) - 1) / (grants[-1] - grants[0]) >= 0.98 * 5


def _fleet(calls: int, containers: int, window: float, seconds: float = 20.0, pacing: float = 0.0) -> list[float]:
    """Every container hammering its own limiter, all starting at the same instant (the worst alignment)."""
    grants = []
    for _ in range(containers):
        clock = FakeClock()
        lim = limiter(calls, window, clock, pacing * window / calls)
        while clock.t < 5000.0 + seconds:
            lim.acquire()
            grants.append(clock.t)
    return grants


@pytest.mark.parametrize("pacing", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("name", sorted(ACTIONS))
@pytest.mark.parametrize("containers", [1, 2, 3, 5, 7, 10])
def test_per_container_share_keeps_the_fleet_within_qps(name, containers, pacing):
    """Any MaximumConcurrency, each container pacing on its own or not: the whole fleet stays within the quota in
    every sliding second, and when the concurrency divides the QPS it uses at least 95 % of it over the run."""
    qps = ACTIONS[name].qps
    share = per_container_share(qps, containers)
    grants = _fleet(share, containers, 1.02, pacing=pacing)
    assert max_in_any_window(grants, 1.0) <= qps
    if qps % containers == 0:
        assert len(grants) / 20.0 >= 0.95 * qps


def test_a_late_departure_counts_its_slot_from_the_departure():
    clock = FakeClock()
    lim = limiter(2, 1.0, clock)
    start = clock.t
    lim.acquire()
    clock.t += 0.05
    lim.departed()  # the request began to write 50 ms after its grant
    clock.t += 0.05
    lim.acquire()
    lim.acquire()  # the first slot frees 1 s after the departure, not after the grant
    assert clock.t == pytest.approx(start + 1.05)


def test_departed_is_once_per_grant_never_earlier_and_only_for_this_threads_grant():
    import threading

    clock = FakeClock()
    lim = limiter(2, 1.0, clock)
    start = clock.t
    lim.departed()  # no grant yet: nothing to move
    lim.acquire()  # this thread's grant at start
    clock.t += 0.02
    other = threading.Thread(target=lim.acquire)  # another worker's grant at start + 0.02
    other.start()
    other.join()
    clock.t += 0.03
    lim.departed()  # this thread's grant (start) left at start + 0.05: the log is now start + 0.02, start + 0.05
    clock.t += 0.5
    lim.departed()  # once per grant: this does not move it again
    lim.acquire()  # the oldest slot is the other worker's: free at start + 1.02
    assert clock.t == pytest.approx(start + 1.02)


@settings(max_examples=200, deadline=None)
@given(
    calls=st.sampled_from([1, 3, 5, 25]),
    steps=st.lists(st.tuples(st.floats(0.0, 0.3), st.floats(0.0, 0.2)), min_size=1, max_size=200),
)
def test_departures_not_only_grants_stay_within_calls_per_window(calls, steps):
    """The provider counts arrivals: however late each request leaves after its grant, no second holds more than
    `calls` departures (without `departed`, a late first call and an on-time call a window later make calls + 1)."""
    clock = FakeClock()
    lim = limiter(calls, 1.02, clock, spacing=0.51 / calls)
    departures = []
    for gap, late in steps:
        clock.t += gap
        lim.acquire()
        clock.t += late
        lim.departed()
        departures.append(clock.t)
    assert max_in_any_window(departures, 1.0) <= calls


def test_without_departed_a_late_call_and_an_on_time_call_a_window_later_make_one_too_many():
    clock = FakeClock()
    lim = limiter(1, 1.02, clock)
    lim.acquire()
    clock.t += 0.05  # left late, and nobody told the limiter
    first_departure = clock.t
    lim.acquire()  # granted 1.02 s after the first grant, on time
    assert clock.t - first_departure < 1.0  # two departures inside one second: the provider answers "throttled"
