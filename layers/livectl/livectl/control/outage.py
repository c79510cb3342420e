"""One container's view of a provider outage: while the provider says it is unavailable, one call finds out.

In an outage every pending command comes back every `redelivery.CAP` seconds, and the records of one batch come
back together. Without this gate each of them calls the provider, which answers 503 to all; with it, once an
action has answered "unavailable" (`providers.retry.UNAVAILABLE_CODES`) `STREAK` times in a row in this
container, one record at a time
calls it (the probe) and the others go straight back to the queue, uncalled, with their usual redelivery delay.
The first answer that is not "unavailable" opens the way for all.

Why the promises of `livectl.control.redelivery` still hold:
- DLQ: a record turned back is handed back with the same delay as one that called, so receive counts grow no
  faster than the schedule `max_receive_count` was proved for.
- Recovery within `RECOVERY_BOUND`: a record is turned back only within `HOLD` seconds of an "unavailable"
  answer, or while a probe is out (which lasts at most one read timeout). An answer given after the provider
  recovered is not "unavailable", so no record is turned back later than `HOLD` (= the processing allowance)
  after recovery, and each comes back within `HOLD + CAP <= RECOVERY_BOUND`.

Pure state, thread-safe; the clock is the container's monotonic clock, passed in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from livectl.control.redelivery import PROCESSING_ALLOWANCE

HOLD = PROCESSING_ALLOWANCE  # seconds after an "unavailable" answer during which no other call is made
# "Unavailable" answers in a row, none answered otherwise between them, before the gate engages: a lone 503 among
# successes is a blip (its record goes back as usual, the others still call); two in a row are an outage.
STREAK = 2


@dataclass
class _State:
    unavailable_at: float | None = None  # when the last answer said "unavailable"; None: the last answer did not
    streak: int = 0  # "unavailable" answers in a row
    probing: bool = False


class OutageGate:
    """Per (action, account): `enter` says whether this record may call; `leave` reports how its call ended."""

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self._states: dict[tuple[str, str], _State] = {}
        self._lock = threading.Lock()

    def enter(self, key: tuple[str, str], now: float) -> bool:
        """True: call (and then `leave`). False: the provider said "unavailable" moments ago or a probe is out."""
        with self._lock:
            state = self._states.setdefault(key, _State())
            if state.unavailable_at is None or state.streak < STREAK:
                return True
            if state.probing or now - state.unavailable_at < self.hold:
                return False
            state.probing = True
            return True

    def leave(self, key: tuple[str, str], now: float, *, unavailable: bool | None) -> None:
        """`unavailable`: True if the provider answered "unavailable", False if it answered otherwise, None if
        the record ended without an answer (no call made, an idempotency replay): the state stays as it was."""
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.probing = False
            if unavailable is True:
                state.unavailable_at = now
                state.streak += 1
            elif unavailable is False:
                state.unavailable_at = None
                state.streak = 0
