"""When a command that failed for now comes back: the redelivery schedule, a pure function of the receive count.

A record that fails transiently is handed back to SQS with `ChangeMessageVisibility(delay(receive_count))`, so a
long provider outage is ridden out by a few, spaced receives instead of the queue's fixed visibility timeout and
a DLQ after five. The three properties the template's `OutageToleranceMinutes` promises, proved for every allowed
value by tests/unit/test_redelivery.py:

- nothing reaches a DLQ during an outage of up to T: `max_receive_count(T)` receives fit in T with every delay
  at its shortest (jitter down, no processing time), plus the receive after recovery, plus `SPARE_RECEIVES`;
- provider calls per command stay low: `FIRST_RECEIVE_ATTEMPTS` on the first receive (a blip is absorbed there,
  unless the provider says it is unavailable: livectl.providers.retry.UNAVAILABLE_CODES), `LATER_RECEIVE_ATTEMPTS`
  on every later one (the queue's delay is the backoff: no retry at two layers);
- a command converges within `RECOVERY_BOUND` seconds of recovery: no delay exceeds `CAP`, and `CAP` +
  `PROCESSING_ALLOWANCE` (the failing receive's own call, at most one read timeout) ≤ `RECOVERY_BOUND`.

Any schedule that converges within 180 s calls at least once per 180 s of outage, so one hour costs at least
20 calls; with the 10 s processing allowance the floor is one call per 170 s (22 in an hour, the applying one
included). The schedule goes to `CAP` after one short step: every step below it is one more receive in a long
outage, and 30 s is what a blip that outlived the first receive's retries waits. One hour costs
`calls_during_outage(3600)` + 1 (tests/unit/test_redelivery.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable

FIRST_DELAY = 30  # seconds before the second receive: a blip that outlived the first receive's retries
CAP = 170  # seconds, every later delay; CAP + PROCESSING_ALLOWANCE <= RECOVERY_BOUND
# Each delay is drawn from [bound x (1 - JITTER), bound]: copies of one outage spread (by up to 3.4 s at CAP), none
# waits longer. Wider jitter shortens the shortest delay, and the shortest delays set the calls in an outage.
JITTER = 0.02
RECOVERY_BOUND = 180  # seconds from the provider's recovery to every pending command's next call
PROCESSING_ALLOWANCE = 10  # seconds a failing later receive may take (one call, read timeout 10 s)
FIRST_RECEIVE_ATTEMPTS = 3
LATER_RECEIVE_ATTEMPTS = 1
SPARE_RECEIVES = 2  # receives that are not the outage's: an in-progress copy elsewhere, a throttled invocation
MAX_VISIBILITY = 43_200  # SQS's limit on a visibility timeout


def delay_bound(receive_count: int) -> int:
    """The longest delay after the `receive_count`-th receive (1-based) failed."""
    return FIRST_DELAY if receive_count <= 1 else CAP


def shortest_delay(receive_count: int) -> float:
    return delay_bound(receive_count) * (1 - JITTER)


def redelivery_delay(receive_count: int, rand: Callable[[], float] = random.random, scale: float = 1.0) -> int:
    """Seconds the failed record stays invisible (whole seconds, as SQS takes them; at least 1). `scale` shrinks
    the whole schedule for local runs and tests (a fast clock); deployed it is 1."""
    bound = delay_bound(receive_count)
    seconds = bound * (1 - JITTER * rand()) * scale
    return int(min(MAX_VISIBILITY, max(1, round(seconds))))


def attempts_for(receive_count: int | None) -> int:
    """In-invocation attempts for a receive: the first absorbs a blip, later ones leave the waiting to the queue."""
    return FIRST_RECEIVE_ATTEMPTS if (receive_count or 1) <= 1 else LATER_RECEIVE_ATTEMPTS


def receive_times(outage_seconds: float, processing: float = 0.0, longest: bool = False) -> list[float]:
    """When each receive of one command starts, from the outage's start (the first receive at 0), while the
    provider is down: every receive that starts before `outage_seconds`. `longest` takes every delay at its
    bound (the slowest schedule), else at its shortest (the most receives)."""
    times: list[float] = []
    t = 0.0
    n = 1
    while t < outage_seconds:
        times.append(t)
        t += processing + (delay_bound(n) if longest else shortest_delay(n))
        n += 1
    return times


def max_receive_count(outage_tolerance_seconds: float) -> int:
    """The queue's `maxReceiveCount` for an outage of up to `outage_tolerance_seconds`: every receive the outage
    can cause, the receive after recovery, and `SPARE_RECEIVES`."""
    return len(receive_times(outage_tolerance_seconds)) + 1 + SPARE_RECEIVES


def calls_during_outage(outage_seconds: float, said_unavailable: bool = False) -> int:
    """Provider calls one command makes in an outage of `outage_seconds` (at most; the call that succeeds
    after recovery not included). `said_unavailable`: the provider answers that it is unavailable (503), so the
    first receive does not retry either."""
    receives = len(receive_times(outage_seconds))
    first = 1 if said_unavailable else attempts_for(1)
    return first + sum(attempts_for(n) for n in range(2, receives + 1)) if receives else 0


def wait_after_recovery(outage_seconds: float, processing: float = PROCESSING_ALLOWANCE) -> float:
    """Seconds from the provider's recovery to the command's next call, on the slowest schedule (every delay at
    its bound, every failing receive taking `processing`)."""
    times = receive_times(outage_seconds, processing=processing, longest=True)
    last = len(times)
    next_receive = times[-1] + processing + delay_bound(last) if times else 0.0
    return max(0.0, next_receive - outage_seconds)


def redelivery_span(outage_tolerance_seconds: float) -> float:
    """The longest a command can keep coming back: `max_receive_count` receives on the slowest schedule, each
    failing receive allowed the function's whole run. Idempotency records must outlive it."""
    total = 0.0
    for n in range(1, max_receive_count(outage_tolerance_seconds)):
        total += delay_bound(n) + PROCESSING_ALLOWANCE
    return total
