"""What the field benches run beside livectl, each in a process of its own, as AWS and the providers are.

- `MotoProcess`: the local stack's (`livectl_cli.local.moto_server`: moto_server with moto's hot spots mended) on
  a free port; the stand-in for AWS.
- `TableRouter` (`livectl_cli.local.table_router`, the local stack's too): each DynamoDB request to the moto
  process holding its table.
- `EmulatorProcess`: the provider emulator as `livectl emulator` runs it, driven through its admin API
  (tasks, config with latency and jitter per provider, the call log, reset). In the containers' process its
  HTTP threads would compete with theirs for one GIL: under CPU contention it stamped arrivals late, and the
  10 QPS lanes counted as "throttling caused by livectl" what the harness had bunched.
- `environment`, `quiet`, `max_in_any_second`: the benches' shared plumbing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_PATHS = (ROOT / "layers" / "livectl", ROOT / "cli")
for _path in LOCAL_PATHS:
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from livectl_cli.emulator.process import EmulatorProcess as _EmulatorProcess  # noqa: E402
from livectl_cli.local.env_patch import EnvPatch  # noqa: E402
from livectl_cli.local.moto_server import MotoProcess as _MotoProcess  # noqa: E402
from livectl_cli.local.table_router import TableRouter  # noqa: E402, F401 - the benches' import


def MotoProcess() -> _MotoProcess:  # the benches' name for "a moto server, started and answering"
    return _MotoProcess().wait_up()


class EmulatorProcess(_EmulatorProcess):
    """`livectl emulator` in a process of its own, started and answering (livectl_cli.emulator.process): the same
    operations as `Emulator`'s in-process ones, through the admin API (docs/emulator.md)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.wait_up()


@contextlib.contextmanager
def environment(values: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    """`drop` out of os.environ and `values` in, for the duration (the local stack's `EnvPatch`)."""
    with EnvPatch() as env:
        env.drop(*drop)
        env.set(values)
        yield


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """stdout (EMF) and every logging handler writing to stdout or stderr → /dev/null for the duration."""
    import logging

    loggers = [
        logging.getLogger(),
        *(v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    handlers = [
        h
        for lg in loggers
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.stderr, sys.__stdout__)
    ]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        saved = [(h, h.setStream(sink)) for h in handlers]
        try:
            yield
        finally:
            for h, stream in saved:
                h.setStream(stream)


def max_in_any_second(times: list[float]) -> int:
    """The most calls in any window (t - 1 s, t], the emulator's own rule."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def load_average() -> str:
    """The 1-minute load average, for every figure's margin: benches here share 2 CPUs."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"
