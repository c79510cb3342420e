"""What one command counts, collected while it runs and added to Powertools' metric set in one step.

Powertools keeps one metric set per process; `add_metric` is a read-modify-write on it, and it flushes at 100
values. Records of a batch may run in threads at once, so each command collects its values here and they reach
the shared set under one lock when the command is done (shared/notes/concurrency.md). Names and units are the
ones docs/operating.md documents; alarms and the dashboard use them (a template test checks that the code
emits each one they name).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from livectl.errors import LivectlError, Throttled

COUNT = "Count"
MILLISECONDS = "Milliseconds"

APPLIED = "CommandsApplied"
ALREADY_DONE = "CommandsAlreadyDone"
FAILED = "CommandsFailed"
REJECTED = "CommandsRejected"
STALE = "CommandsStale"
RETRIED = "CommandsRetried"
ROUND_TRIP = "ProviderRoundTrip"
THROTTLED = "ProviderThrottled"
STOP_LATENESS = "StopLateness"
# A cost guard's auto-stop that stopped its task (GuardArmed / GuardDisarmed come from the schedule manager).
GUARD_FIRED = "GuardFired"

_LOCK = threading.Lock()


@dataclass
class CommandMetrics:
    """The values one command adds: outcome counts, one round trip per provider call, throttling answers,
    and for a stop that took effect, its lateness."""

    values: list[tuple[str, str, float]] = field(default_factory=list)

    def count(self, name: str) -> None:
        self.values.append((name, COUNT, 1.0))

    def observe_call(self, action: str, round_trip_ms: float, error: LivectlError | None) -> None:
        """`operations.perform`'s observer: every HTTP call, successful or not."""
        self.values.append((ROUND_TRIP, MILLISECONDS, max(0.0, round_trip_ms)))
        if isinstance(error, Throttled):
            self.values.append((THROTTLED, COUNT, 1.0))

    def lateness(self, milliseconds: float) -> None:
        self.values.append((STOP_LATENESS, MILLISECONDS, max(0.0, milliseconds)))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.values]

    def add_to(self, metrics: Any) -> None:
        """Add everything to the shared metric set, under the process's lock; then forget it."""
        with _LOCK:
            for name, unit, value in self.values:
                metrics.add_metric(name=name, unit=unit, value=value)
        self.values.clear()
