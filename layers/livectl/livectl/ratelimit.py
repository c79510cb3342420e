"""A per-container token bucket: the provider's QPS split statically across MaximumConcurrency containers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from livectl.errors import Throttled


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored. `acquire` waits for a token, never past `deadline`."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A burst of one token keeps any one-second window at or under the rate.
        self.burst = burst if burst is not None else max(1.0, min(rate, 1.0))
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def acquire(self, deadline: float | None = None) -> float:
        """Take one token; return the seconds waited. Raise Throttled if the wait would cross `deadline`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                # At least 1 µs: a float-rounding deficit (tokens = 0.9999999999991) would otherwise ask for a
                # wait below the clock's resolution, leaving `now` unchanged and the loop spinning forever.
                wait = max((1.0 - self._tokens) / self.rate, 1e-6)
            if deadline is not None and now + wait > deadline:
                raise Throttled("local rate limit: no token before the deadline", code="LocalRateLimit")
            self._sleep(wait)
            waited += wait


def per_container_rate(qps: float, maximum_concurrency: int) -> float:
    """QPS / MaximumConcurrency: with every container at its rate, the fleet stays within the quota."""
    return qps / max(1, maximum_concurrency)
