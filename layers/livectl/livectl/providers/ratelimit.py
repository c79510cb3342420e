"""A per-container rate limiter: the provider's QPS split statically across MaximumConcurrency containers.

Both providers count calls per account and action in a sliding one-second window. Each container may make
`floor(QPS / MaximumConcurrency)` calls in any window of `1 + margin` seconds, so the whole fleet makes at
most QPS calls in any window that long: the margin absorbs the spread of network latency between our send
and the provider's count. A log of the last grants (rather than a token bucket of burst one) lets a container
that fell behind, after a slow ledger write or a batch boundary, catch up inside the window instead of losing
that time for good; over a long run it uses the whole share, `share / (1 + margin)` calls per second.

The log alone hands a full window's slots out at one instant, and the provider counts ARRIVALS: a burst of ten
calls sent at once reaches it spread by the senders' contention (threads, the loaded CPU), so the last of one
window's burst can land within a second of the first of the next and be throttled. Callers therefore sign and
prepare a request before taking its grant (`operations.perform`), so that only the send follows it. A minimum spacing
between grants of one container (`spacing`; the container sets half the fair interval window / share,
`Settings.rate_pacing`) sends each call alone, so a grant's arrival follows it closely; at half the fair
interval a container that fell behind can still catch up inside the window at twice its pace. Each container
paces only its own grants; the fleet bound is the log's, C x share per window.

Even a prepared request still runs `requests`' and urllib3's Python after its grant, and a container whose other
workers hold the GIL (boto3 calls) can keep it there for tens of ms (`bench/grant_to_wire.py` with 6 CPU ms of
Python per record: p99 68 ms, 1.45 % throttled). So the request's connection reports when it begins to write
(`wire`), and `departed` moves that grant's entry in the log to then: its slot is counted from the departure,
and the call a window later waits as long as this one was late. An entry only ever moves later, so the log still
holds at most `calls` grants in any window: the bound holds, whatever the lateness.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from livectl.errors import Throttled


class WindowLimiter:
    """At most `calls` grants in any sliding window of `window` seconds, and at least `spacing` seconds between
    two grants (0: none). `acquire` waits for a free slot, never past the caller's `deadline`."""

    def __init__(
        self,
        calls: int,
        window: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        spacing: float = 0.0,
    ) -> None:
        if calls < 1 or window <= 0:
            raise ValueError("calls must be at least 1 and window positive")
        if not 0 <= spacing <= window / calls:
            raise ValueError("spacing must lie between 0 and window / calls (more would lower the rate)")
        self.calls = calls
        self.window = window
        self.spacing = spacing
        self._grants: deque[float] = deque(maxlen=calls)  # the last `calls` grant times, oldest first
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._mine = threading.local()  # each thread's last grant, for `departed`

    @property
    def rate(self) -> float:
        """The long-run ceiling, in grants per second."""
        return self.calls / self.window

    def acquire(self, deadline: float | None = None) -> float:
        """Take one slot; return the seconds waited. Raise Throttled if the wait would cross `deadline`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                free_at = self._free_at()
                if now >= free_at:
                    self._grants.append(now)  # maxlen drops the oldest
                    self._mine.grant = now
                    return waited
                # At least 1 µs: float rounding could otherwise ask for a wait below the clock's resolution.
                wait = max(free_at - now, 1e-6)
            if deadline is not None and now + wait > deadline:
                raise Throttled("local rate limit: no slot before the deadline", code="LocalRateLimit")
            self._sleep(wait)
            waited += wait

    def departed(self) -> None:
        """This thread's last grant left for the wire now: count its slot from now. Once per grant; a grant
        that already left the log (a window's worth of grants since) is not put back."""
        grant = getattr(self._mine, "grant", None)
        self._mine.grant = None
        if grant is None:
            return
        with self._lock:
            now = self._monotonic()
            if now <= grant:
                return
            try:
                at = self._grants.index(grant)
            except ValueError:
                return
            self._grants[at] = now
            if at + 1 < len(self._grants) and self._grants[at + 1] < now:  # keep the log in time order
                self._grants = deque(sorted(self._grants), maxlen=self.calls)

    def _free_at(self) -> float:
        """When the next slot frees: the window's oldest grant leaving it, and `spacing` after the last grant.
        Called under the lock."""
        if not self._grants:
            return float("-inf")
        paced = self._grants[-1] + self.spacing
        if len(self._grants) < self.calls:
            return paced
        return max(paced, self._grants[0] + self.window)


def per_container_share(qps: int, maximum_concurrency: int) -> int:
    """Calls per window for one container: floor(QPS / MaximumConcurrency), at least one. With every container
    at its share the fleet stays within the quota; a concurrency that does not divide the QPS wastes the rest."""
    return max(1, qps // max(1, maximum_concurrency))
