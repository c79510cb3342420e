"""The one in-invocation retry loop: bounded attempts, full jitter, never sleeping past the caller's deadline.

Each attempt receives a fresh `now`, so a retried request is re-signed with a new timestamp. Clocks, sleep and
randomness are parameters so that tests drive them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from livectl.errors import LivectlError

T = TypeVar("T")

# Codes that say the provider (or its gateway) is unavailable, not that this one request went wrong: an attempt a
# few hundred milliseconds later in the same invocation meets the same outage. The record goes back to the queue
# at once and the redelivery schedule (livectl.control.redelivery) is the backoff: in a long outage every
# in-invocation retry would be one more provider call per command, spent for nothing.
UNAVAILABLE_CODES = frozenset({"ServiceUnavailableTemp", "ServiceUnavailable", "HTTP503"})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base: float = 0.2  # seconds
    cap: float = 5.0  # seconds

    def bound(self, attempt: int) -> float:
        """Upper bound of the full-jitter delay after the `attempt`-th failure (1-based)."""
        return float(min(self.cap, self.base * (2 ** (attempt - 1))))


def utc_now() -> datetime:
    return datetime.now(UTC)


def full_jitter_delay(policy: RetryPolicy, attempt: int, rand: Callable[[], float] = random.random) -> float:
    return rand() * policy.bound(attempt)


def retry_call(
    attempt_fn: Callable[[datetime], T],
    *,
    policy: RetryPolicy,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
    rand: Callable[[], float] = random.random,
    on_retry: Callable[[int, LivectlError, float], None] | None = None,
) -> T:
    """Call `attempt_fn(now)` until it succeeds, raises a non-retryable error or one that says the provider is
    unavailable (`UNAVAILABLE_CODES`), runs out of attempts, or the next wait would cross `deadline` (a
    `monotonic()` value). The last error is raised unchanged.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt_fn(now())
        except LivectlError as exc:
            if not exc.retryable or attempt >= policy.attempts or exc.code in UNAVAILABLE_CODES:
                raise
            delay = full_jitter_delay(policy, attempt, rand)
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            if monotonic() + delay >= deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
