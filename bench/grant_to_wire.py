"""Time from the limiter's grant to the first byte on the wire, and the emulator's throttling answers (issue 12).

    N=1500 CPU_MS=0 .venv/bin/python bench/grant_to_wire.py

Two simulated containers of StopPullRecordTask (QPS 50, C=2: `WindowLimiter(25, 1.02)` paced 20 ms apart, 25
workers and a pooled session each, as the template's defaults give) call a `livectl emulator` process at 0 ms,
the emulator enforcing the QPS. Each record may also burn CPU_MS of pure Python before and after its call (the
GIL-holding work of a real container's boto3 calls). The grant is stamped when `WindowLimiter.acquire` returns,
the wire when `http.client` first sends on that thread. Prints the commands per second, the emulator-enforced
throttling answers and the grant-to-wire percentiles: a measurement for an A/B (run it on both versions), not a
test. Other processes on the machine move every figure: print the load beside them, as it does.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import EmulatorProcess

from livectl.errors import Throttled, classify
from livectl.providers.catalogue import ACTIONS
from livectl.providers.clients import ProviderClient, pooled_session
from livectl.providers.operations import perform
from livectl.providers.ratelimit import WindowLimiter
from livectl.providers.retry import RetryPolicy
from livectl.providers.signing import Credentials

N = int(os.environ.get("N", "1500"))
CPU_MS = float(os.environ.get("CPU_MS", "0"))
STOP = ACTIONS["StopPullRecordTask"]
CREDS = Credentials("AKLTDEMO", "demo-secret")
SHARE, WINDOW, WORKERS = 25, 1.02, 25

_grant = threading.local()
gaps: list[float] = []
_acquire = WindowLimiter.acquire
_send = http.client.HTTPConnection.send


def stamped_acquire(self: WindowLimiter, deadline: float | None = None) -> float:
    waited = _acquire(self, deadline)
    _grant.at = time.perf_counter()
    return waited


def stamped_send(self: http.client.HTTPConnection, data: Any) -> None:
    granted = getattr(_grant, "at", None)
    if granted is not None:
        gaps.append(time.perf_counter() - granted)
        _grant.at = None
    _send(self, data)


def burn() -> None:
    end = time.thread_time() + CPU_MS / 1000
    while time.thread_time() < end:
        pass


def main() -> None:
    WindowLimiter.acquire = stamped_acquire  # type: ignore[method-assign]
    http.client.HTTPConnection.send = stamped_send  # type: ignore[method-assign]
    emulator = EmulatorProcess()
    try:
        ids = [f"g2w-{i}" for i in range(N)]
        emulator.add_tasks([{"kind": "pull_record", "task_id": t} for t in ids])
        containers = [
            (
                WindowLimiter(SHARE, WINDOW, spacing=0.5 * WINDOW / SHARE),
                ProviderClient({"volcengine": emulator.url}, session=pooled_session(WORKERS)),
                ThreadPoolExecutor(WORKERS),
            )
            for _ in range(2)
        ]

        def one(i: int) -> None:
            limiter, client, _ = containers[i % 2]
            burn()
            perform(
                STOP,
                {"TaskId": ids[i]},
                CREDS,
                client,
                deadline=time.monotonic() + 60,
                policy=RetryPolicy(attempts=5),
                limiter=limiter,
            )
            burn()

        start = time.monotonic()
        for future in [containers[i % 2][2].submit(one, i) for i in range(N)]:
            future.result()
        elapsed = time.monotonic() - start
        calls = emulator.calls(STOP.name)
    finally:
        emulator.stop()
    throttled = [
        c
        for c in calls
        if c["fault"] is None
        and c["error_code"]
        and issubclass(classify(STOP.provider, c["error_code"], c["http_status"]), Throttled)
    ]
    gaps.sort()

    def ms(q: float) -> float:
        return 1000 * gaps[min(len(gaps) - 1, int(q * len(gaps)))]

    print(
        f"{N} commands in {elapsed:.1f} s = {N / elapsed:.1f}/s; provider calls {len(calls)}, throttled "
        f"{len(throttled)} ({100 * len(throttled) / max(1, len(calls)):.2f} %); CPU_MS {CPU_MS:g}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"grant-to-wire ms: p50 {ms(0.5):.2f}, p90 {ms(0.9):.2f}, p99 {ms(0.99):.2f}, max {1000 * gaps[-1]:.1f}; "
        f"over the 20 ms margin: {sum(g > 0.02 for g in gaps)}/{len(gaps)}"
    )


if __name__ == "__main__":
    main()
