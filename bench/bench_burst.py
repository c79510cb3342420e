"""Burst: auto-stops all due at the same moment, through `livectl local` (BRIEF §5; issue 12).

The local stack as `livectl local` runs it (`LocalStack`: moto in three processes of its own, the real handlers
behind the template's event sources, the scheduler clock), with the provider emulator in a process of its own (`livectl
emulator`, driven through its admin API, `LocalConfig.emulator_url`: in the stack's process its arrival stamps
waited for the stack's GIL), answering after BENCH_BURST_LATENCY ms (default 150, ±20 % jitter). Then:
1. one schedule request per task through the schedule manager function (invoked as Lambda would, directly, from 4
   threads): BENCH_BURST_STOPS StopPullRecordTask auto-stops (default 1,000) and BENCH_BURST_TRTC (default 200)
   for each TRTC action, all `at` the same second T, ten minutes ahead;
2. the stack's scheduler clock is moved to T (its `now` gains the offset; nothing else changes), so every
   schedule is due at once; the clock fires them into the action queues as it does in `livectl local` (together:
   SendMessageBatch by queue, the deletes after completion in the background);
3. per action: time from that action's first fire to its last successful provider stop (the emulator's request
   log), against N / QPS, bar <= 1.15. The clock's firing span (first to last fire) and rate are printed beside
   it: when the span is a large part of N / QPS, the harness's clock, not livectl, set the figure.
CPU per wall second of the stack's process (moto included) and of the emulator's, and the load average, are
printed too: 2 CPUs on this machine.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "layers" / "livectl", ROOT / "cli", ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

STOPS = int(os.environ.get("BENCH_BURST_STOPS", "1000"))
TRTC = int(os.environ.get("BENCH_BURST_TRTC", "200"))
LATENCY = float(os.environ.get("BENCH_BURST_LATENCY", "150"))
# "process": moto in three processes of its own (everything else; DynamoDB through AWS_ENDPOINT_URL_DYNAMODB; the
# idempotency tables), as
# `livectl local` runs it (`LocalConfig.moto_processes`); "thread": one ThreadedMotoServer inside the stack.
MOTO = os.environ.get("BENCH_BURST_MOTO", "process")
BAR = "<= 1.15"
TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}
PLAN: dict[str, tuple[str, int, Any]] = {  # action: (emulator kind, how many, params for a task id)
    "StopPullRecordTask": ("pull_record", STOPS, lambda t: {"TaskId": t}),
    "DeleteCloudRecording": ("cloud_recording", TRTC, lambda t: {**TRTC_PARAMS, "TaskId": t}),
    "StopPublishCdnStream": ("cdn_publish", TRTC, lambda t: {**TRTC_PARAMS, "TaskId": t}),
}


def schedule_all(stack: Any, emulator: Any, due: datetime) -> int:
    """One `at` request per task through the schedule manager; returns how many were scheduled."""
    manager = stack.functions["ScheduleManagerFunction"]
    requests, specs = [], []
    for action, (kind, count, params) in PLAN.items():
        for i in range(count):
            task_id = f"burst-{action}-{i}"
            specs.append({"kind": kind, "task_id": task_id})
            requests.append({"action": action, "params": params(task_id), "at": due.isoformat()})
    emulator.add_tasks(specs)

    def one(request: dict[str, Any]) -> bool:
        result = manager.invoke(request, "bench").result
        return isinstance(result, dict) and result.get("status") == "created"

    # The manager's own EMF metrics and logs go to stdout; the bench's output is the table.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), ThreadPoolExecutor(4) as pool:
        return sum(pool.map(one, requests))


def timed_fires(clock: Any) -> list[tuple[float, str]]:
    """Each delivered fire's wall time and target, from the clock's own log of attempts."""
    return sorted((f["wall"], f["target"]) for f in list(clock.fired) if f["error"] is None)


def wait_for_stops(emulator: Any, timeout: float) -> dict[str, list[float]]:
    """Until every task of the plan is stopped in the emulator (or the time runs out): success times per action."""
    end = time.monotonic() + timeout
    wanted = {a: n for a, (_, n, _) in PLAN.items()}
    while True:
        done: dict[str, list[float]] = {a: [] for a in PLAN}
        for call in emulator.calls():
            if call["action"] in done and call["error_code"] is None:
                done[call["action"]].append(call["time"])
        if all(len(done[a]) >= wanted[a] for a in PLAN) or time.monotonic() > end:
            return done
        time.sleep(0.5)


def run() -> list[dict[str, Any]]:
    from harness import EmulatorProcess

    from livectl_cli.local.stack import LocalConfig, LocalStack

    jitter = LATENCY * 0.2
    emulator = EmulatorProcess(seed=7)
    config = LocalConfig(
        moto_processes=MOTO == "process",
        moto_port=0,
        emulator_port=0,
        webhook_port=0,
        failed_visibility=1,
        emulator_url=emulator.url,
        emulator_latency={"latency_ms": LATENCY, "jitter_ms": jitter},
    )
    try:
        stack = LocalStack(config).start()
    except BaseException:
        emulator.stop()
        raise
    # The burst measures stops: the TRTC tasks it seeds start without the 301 / 401 RUNNING callbacks (and so
    # without cost-guard arming) that would otherwise load the webhook and schedule manager meanwhile; nor do
    # the stops call back.
    emulator.configure(start_callbacks=False, callback_url=None)
    rows: list[dict[str, Any]] = []
    out = sys.stdout
    # The handlers' EMF flushes (every 100 metrics) and logs would bury the figures: stdout to /dev/null, figures
    # printed to the saved stream.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        try:
            rows = _measure(stack, emulator, jitter, out)
        finally:
            stack.stop()
            emulator.stop()
    return rows


def _measure(stack: Any, emulator: Any, jitter: float, out: Any) -> list[dict[str, Any]]:
    from field import cpu_seconds
    from harness import load_average

    from livectl.providers.catalogue import ACTIONS
    from livectl_cli.local.stack import MOTO_PROCESS_ROLES

    rows: list[dict[str, Any]] = []
    assert stack.clock is not None
    due = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    began = time.monotonic()
    scheduled = schedule_all(stack, emulator, due)
    took = time.monotonic() - began
    print(f"    burst: {scheduled} schedules created through the schedule manager in {took:.1f} s", file=out)
    offset = due - datetime.now(UTC)
    pids = {"stack": None, "emulator": emulator.pid}
    for role, process in zip(MOTO_PROCESS_ROLES, stack.moto_processes, strict=False):
        pids[f"moto ({role})"] = process.pid
    cpu0, wall0 = {k: cpu_seconds(p) for k, p in pids.items()}, time.monotonic()
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        from profile_cpu import Profile

        profile = Profile({k: p or os.getpid() for k, p in pids.items()}).start()
    stack.clock.now = lambda: datetime.now(UTC) + offset  # the clock reaches T: everything is due at once
    ideal = max(n / ACTIONS[a].qps for a, (_, n, _) in PLAN.items())
    stops = wait_for_stops(emulator, timeout=120 + 4 * ideal)
    fires = timed_fires(stack.clock)
    wall = time.monotonic() - wall0
    used = {k: (cpu_seconds(p) - cpu0[k]) / wall for k, p in pids.items()}
    if profile is not None:
        for line in profile.report():
            print(f"    {line}", file=out)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    spent = sum(used.values()) * wall
    per_command = spent * 1000 / max(1, len(fires))
    print(
        f"    harness floor: the burst's processes used {spent:.1f} CPU-s ({per_command:.0f} CPU ms per command, moto "
        f"and the emulator included); on {cpus} CPUs that alone takes >= {spent / cpus:.1f} s",
        file=out,
    )
    cpu = used["stack"]
    first_fire, last_fire = (fires[0][0], fires[-1][0]) if fires else (0.0, 0.0)
    print(
        f"    provider {LATENCY:g} ±{jitter:g} ms; the clock fired {len(fires)} in {last_fire - first_fire:.1f} s "
        f"({len(fires) / max(last_fire - first_fire, 1e-9):.0f}/s); CPU-s per s: "
        + ", ".join(f"{k} {v:.2f}" for k, v in used.items())
        + f" (moto {'in three processes of its own' if stack.moto_processes else 'inside the stack'}); "
        f"load average {load_average()}",
        file=out,
    )
    for action, (_, count, _) in PLAN.items():
        qps = ACTIONS[action].qps
        own = [t for t, arn in fires if _queue_of(stack, arn) == action]
        start = own[0] if own else first_fire
        times = sorted(stops[action])
        elapsed = (times[-1] - start) if len(times) >= count else float("inf")
        ideal_s = count / qps
        fired_span = (own[-1] - own[0]) if own else 0.0
        print(
            f"    {action:<22} {len(times)}/{count} stopped; first fire to last stop {elapsed:.1f} s "
            f"vs N/QPS {ideal_s:.1f} s; its schedules fired over {fired_span:.1f} s",
            file=out,
        )
        rows.append(
            {
                "name": f"burst {action} x{count} @{LATENCY:g} ms: first fire to last stop / (N/QPS)",
                "ours": elapsed,
                "theirs": ideal_s,
                "unit": f"s ({len(times)}/{count} stopped; fired over {fired_span:.1f} s; stack {cpu:.2f} CPU-s/s)",
                "ratio": elapsed / ideal_s,
                "bar": BAR,
            }
        )
    return rows


def _queue_of(stack: Any, arn: str) -> str:
    """The action whose queue a schedule targets (by the queue's logical id in the template)."""
    logical = stack.template.arn_to_logical().get(arn, "")
    for action, logical_prefix in (
        ("StopPullRecordTask", "StopPullRecord"),
        ("DeleteCloudRecording", "DeleteCloudRecording"),
        ("StopPublishCdnStream", "StopCdnPublish"),
    ):
        if logical.startswith(logical_prefix):
            return action
    return ""


if __name__ == "__main__":
    for row in run():
        print(row)
