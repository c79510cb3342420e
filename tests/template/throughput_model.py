"""A model of one action's fleet in steady state, built on the shipped limiter (issue 12).

One container runs its SQS batches one after another: a batch of B records, at most K (MAX_IN_FLIGHT) in flight,
each taking a grant from the container's own `WindowLimiter` (share = floor(QPS / C) per 1 + margin seconds,
grants `rate_pacing` x window / share apart, exactly as `Container.limiter` builds it) on a virtual clock. Each
record makes its idempotency claim before its grant (`AWS_BEFORE`), then the provider's round trip L and its
other AWS calls (`AWS_AFTER`); the batch ends with its slowest record and the next one starts `NEXT_BATCH` later
(the event source mapping deletes, polls and invokes again). The AWS figures are generous for one region.

Not a measurement (that is `make bench`): the arithmetic the template's defaults are chosen by, with the real
limiter in it, so a pacing or margin change in the layer moves the model too.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from livectl.control.container import DEFAULT_RATE_PACING, DEFAULT_WINDOW_MARGIN
from livectl.providers.ratelimit import WindowLimiter, per_container_share

AWS_BEFORE = 0.02  # the idempotency PutItem (INPROGRESS), before the limiter
AWS_AFTER = 4 * 0.02  # the idempotency update, the ledger transaction, PutEvents, the published mark
NEXT_BATCH = 0.1  # from a batch's end to the next invocation's start
WINDOW = 1.0 + DEFAULT_WINDOW_MARGIN


@dataclass(frozen=True)
class Lane:
    """One action function as the template configures it, at one parameter value."""

    qps: int
    containers: int  # ScalingConfig.MaximumConcurrency = MAX_CONCURRENCY
    batch: int  # BatchSize
    in_flight: int  # MAX_IN_FLIGHT

    @property
    def share(self) -> int:
        return per_container_share(self.qps, self.containers)


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def container_grants(lane: Lane, latency: float, batches: int = 30) -> tuple[list[float], float]:
    """One container's grant times over `batches` batches, and when the last batch ended (seconds)."""
    clock = VirtualClock()
    limiter = WindowLimiter(
        lane.share,
        WINDOW,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        spacing=DEFAULT_RATE_PACING * WINDOW / lane.share,
    )
    grants: list[float] = []
    start = 0.0
    end = 0.0
    for _ in range(batches):
        workers = [start] * min(lane.in_flight, lane.batch)  # when each worker is next free
        end = start
        for _record in range(lane.batch):
            free = heapq.heappop(workers)
            clock.now = max(clock.now, free + AWS_BEFORE)  # records ask in order; the clock never goes back
            limiter.acquire()
            grants.append(clock.now)
            done = clock.now + latency + AWS_AFTER
            heapq.heappush(workers, done)
            end = max(end, done)
        start = end + NEXT_BATCH
    return grants, end


def fleet_ratio(lane: Lane, latency: float) -> float:
    """The fleet's steady rate as a fraction of the QPS (every container alike)."""
    grants, end = container_grants(lane, latency)
    return lane.containers * len(grants) / (end + NEXT_BATCH) / lane.qps


def fleet_peak(lane: Lane, latency: float, window: float = 1.0) -> int:
    """The most grants of the whole fleet in any `window` seconds, its containers started at every offset the
    worst case allows (all at once: their windows line up)."""
    grants, _ = container_grants(lane, latency, batches=10)
    return lane.containers * max_in_window(grants, window)


def max_in_window(times: list[float], window: float) -> int:
    """The most of sorted `times` in any half-open span (t - window, t]."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def billed_ms_per_command(lane: Lane, latency: float) -> float:
    """With a backlog each container is busy all the time: it bills C seconds per second for the fleet's rate."""
    return lane.containers * 1000 / (fleet_ratio(lane, latency) * lane.qps)
