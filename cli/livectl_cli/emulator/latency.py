"""The providers' round trip, modelled per provider: each answer waits `latency_ms ± jitter_ms`.

The wait is drawn uniformly from [latency - jitter, latency + jitter] (clamped at 0) by a seeded RNG, in the
order calls reach the emulator, so a seed and a call sequence always give the same waits. Volcengine and TRTC
are set apart, so a bench or a test can put a slow provider beside a fast one. The wait itself happens in the
HTTP layer's per-connection thread, outside the emulator's lock: concurrent calls wait side by side.

Admin shape (`POST /_emulator/config`, `Emulator(latency=...)`):
  {"latency_ms": 150, "jitter_ms": 30}                      both providers
  {"latency": {"trtc": {"latency_ms": 400, "jitter_ms": 40}}}  one provider (fields left out keep their value)
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livectl.providers.catalogue import TRTC, VOLCENGINE
from livectl_cli.emulator.model import SpecError

PROVIDERS = (VOLCENGINE, TRTC)
FIELDS = ("latency_ms", "jitter_ms")


@dataclass
class RoundTrip:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0

    def bounds(self) -> tuple[float, float]:
        """The least and the most a wait can be, in seconds."""
        return max(0.0, self.latency_ms - self.jitter_ms) / 1000.0, (self.latency_ms + self.jitter_ms) / 1000.0

    def as_dict(self) -> dict[str, float]:
        return {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms}


def _milliseconds(doc: Mapping[str, Any], name: str, where: str) -> float | None:
    if name not in doc:
        return None
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise SpecError(f"{where}{name} must be a non-negative number of milliseconds")
    return float(value)


class LatencyModel:
    """Per-provider round trips and the seeded draw. Not thread-safe by itself: core.py holds its lock."""

    def __init__(self, seed: int, latency_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
        self.providers: dict[str, RoundTrip] = {p: RoundTrip(latency_ms, jitter_ms) for p in PROVIDERS}
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = random.Random(f"livectl-emulator-latency:{seed}")

    def draw(self, provider: str) -> float:
        """Seconds this answer waits. Draws only when there is jitter, so a fixed latency uses no randomness."""
        trip = self.providers[provider]
        low, high = trip.bounds()
        if trip.jitter_ms <= 0:
            return low
        return max(low, min(high, trip.latency_ms / 1000.0 + self.rng.uniform(-1.0, 1.0) * trip.jitter_ms / 1000.0))

    def configure(self, doc: Mapping[str, Any]) -> None:
        """Apply the admin shape above; validate everything before changing anything."""
        changes: list[tuple[str, str, float]] = []
        for name in FIELDS:
            value = _milliseconds(doc, name, "")
            if value is not None:
                changes += [(p, name, value) for p in PROVIDERS]
        per_provider = doc.get("latency")
        if per_provider is not None:
            if not isinstance(per_provider, Mapping) or set(per_provider) - set(PROVIDERS):
                raise SpecError(f"latency must be an object keyed by {' and/or '.join(PROVIDERS)}")
            for provider, fields in per_provider.items():
                if not isinstance(fields, Mapping) or set(fields) - set(FIELDS):
                    raise SpecError(f"latency.{provider} must be an object with {' and/or '.join(FIELDS)}")
                for name in FIELDS:
                    value = _milliseconds(fields, name, f"latency.{provider}.")
                    if value is not None:
                        changes.append((provider, name, value))
        for provider, name, value in changes:
            setattr(self.providers[provider], name, value)

    def describe(self) -> str:
        """One line for a banner: `volcengine 150±30 ms, trtc 400±40 ms`."""
        return ", ".join(f"{p} {t.latency_ms:g}±{t.jitter_ms:g} ms" for p, t in self.providers.items())

    def as_dict(self) -> dict[str, Any]:
        """`latency` per provider, plus `latency_ms` / `jitter_ms` when both providers agree (else null)."""
        out: dict[str, Any] = {"latency": {p: t.as_dict() for p, t in self.providers.items()}}
        for name in FIELDS:
            values = {getattr(t, name) for t in self.providers.values()}
            out[name] = values.pop() if len(values) == 1 else None
        return out


def describe(config: Mapping[str, Any]) -> str:
    """The banner line for an emulator's configuration (`GET /_emulator/config`, `Emulator.configure()`)."""
    model = LatencyModel(0)
    model.configure({"latency": config["latency"]})
    return model.describe()


# ---- command-line flags, shared by `livectl emulator` and `livectl local` ------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("provider round trip (each answer waits LATENCY ± JITTER ms, seeded)")
    group.add_argument("--latency-ms", type=float, default=0.0, help="both providers (default 0)")
    group.add_argument("--jitter-ms", type=float, default=0.0, help="both providers (default 0)")
    for provider in PROVIDERS:
        group.add_argument(f"--{provider}-latency-ms", type=float, help=f"{provider} only (overrides --latency-ms)")
        group.add_argument(f"--{provider}-jitter-ms", type=float, help=f"{provider} only (overrides --jitter-ms)")


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as the admin shape (what `LatencyModel.configure` and `Emulator(latency=...)` accept)."""
    doc: dict[str, Any] = {"latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms}
    per: dict[str, dict[str, float]] = {}
    for provider in PROVIDERS:
        for name in FIELDS:
            value = getattr(args, f"{provider}_{name}", None)
            if value is not None:
                per.setdefault(provider, {})[name] = value
    if per:
        doc["latency"] = per
    return doc
