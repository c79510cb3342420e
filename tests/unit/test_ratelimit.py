"""TokenBucket under a fake clock: never more than `rate` grants in any sliding 1-second window, waits never
cross the caller's deadline, and the per-container split keeps the fleet inside the provider's QPS."""

from __future__ import annotations

import bisect
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl.catalogue import ACTIONS
from livectl.errors import Throttled
from livectl.ratelimit import TokenBucket, per_container_rate

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
    """The largest number of grants inside any half-open window [t, t + width)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + width) - i for i, t in enumerate(times)), default=0)


def test_window_counter_itself():
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_any_window([0.0, 1.0, 2.0]) == 1
    assert max_in_any_window([]) == 0


@pytest.mark.parametrize("rate", [1, 2, 2.5, 10, 20, 50])
def test_back_to_back_acquires_never_exceed_rate(rate):
    """Integer rates (every action's QPS): at most `rate` grants in any sliding second. A fractional rate
    r can only be met as ceil(r) grants in some windows (grants at 0, 0.4, 0.8 for 2.5/s)."""
    clock = FakeClock()
    bucket = TokenBucket(rate, monotonic=clock.monotonic, sleep=clock.sleep)
    grants = []
    for _ in range(int(rate * 30)):
        bucket.acquire()
        grants.append(clock.t)
    assert max_in_any_window(grants) <= math.ceil(rate)
    assert max_in_any_window(grants, width=10.0) <= 10 * rate + 1
    # and the bucket is not starving callers either: it runs at the rate
    span = grants[-1] - grants[0]
    assert (len(grants) - 1) / span == pytest.approx(rate, rel=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([1.0, 3.0, 10.0, 20.0, 50.0, 12.5, 0.5]),
    gaps=st.lists(st.one_of(st.just(0.0), st.floats(0.0, 0.2), st.floats(0.5, 5.0)), min_size=1, max_size=300),
)
def test_bursty_callers_never_exceed_rate_in_any_sliding_second(rate, gaps):
    clock = FakeClock()
    bucket = TokenBucket(rate, monotonic=clock.monotonic, sleep=clock.sleep)
    grants = []
    for gap in gaps:
        clock.t += gap  # idle time between callers lets tokens build up (to the burst only)
        bucket.acquire()
        grants.append(clock.t)
    assert max_in_any_window(grants) <= max(1, math.ceil(rate))
    assert max_in_any_window(grants, width=20.0) <= 20 * rate + 1  # burst of one token at most


def test_deadline_is_never_crossed():
    clock = FakeClock()
    bucket = TokenBucket(2.0, monotonic=clock.monotonic, sleep=clock.sleep)
    assert bucket.acquire(deadline=clock.t + 0.1) == 0.0  # the first token is there
    with pytest.raises(Throttled) as err:
        bucket.acquire(deadline=clock.t + 0.4)  # the next one comes in 0.5 s
    assert err.value.code == "LocalRateLimit"
    assert err.value.retryable
    assert clock.slept == 0.0
    waited = bucket.acquire(deadline=clock.t + 0.5)
    assert waited == pytest.approx(0.5)


def test_acquire_returns_the_wait():
    clock = FakeClock()
    bucket = TokenBucket(4.0, monotonic=clock.monotonic, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0.0, 0.25, 0.25])


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(0)


def _fleet(rate: float, containers: int, seconds: float = 20.0) -> list[float]:
    """Every container hammering its own bucket, all starting at the same instant (the worst alignment)."""
    grants = []
    for _ in range(containers):
        clock = FakeClock()
        bucket = TokenBucket(rate, monotonic=clock.monotonic, sleep=clock.sleep)
        while clock.t < 5000.0 + seconds:
            bucket.acquire()
            grants.append(clock.t)
    return grants


@pytest.mark.parametrize("name", sorted(ACTIONS))
@pytest.mark.parametrize("containers", [1, 2, 5, 10])
def test_per_container_rate_keeps_the_fleet_within_qps(name, containers):
    """MaximumConcurrency dividing the QPS: the whole fleet stays within the quota in every sliding second."""
    qps = ACTIONS[name].qps
    rate = per_container_rate(qps, containers)
    assert rate * containers <= qps + 1e-9
    assert max_in_any_window(_fleet(rate, containers)) <= qps


@pytest.mark.parametrize(("qps", "containers"), [(10, 3), (50, 7), (20, 3)])
def test_fractional_split_exceeds_qps_only_by_one_grant_per_container(qps, containers):
    """A split that does not divide the QPS keeps the long-run average, but aligned containers can put up
    to ceil(QPS / containers) each into one second (10 QPS over 3 containers: 12 in the worst second)."""
    rate = per_container_rate(qps, containers)
    grants = _fleet(rate, containers)
    assert max_in_any_window(grants) <= containers * math.ceil(rate) < qps + containers
    assert max_in_any_window(grants, width=20.0) <= 20 * qps + containers
