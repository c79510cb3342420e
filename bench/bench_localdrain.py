"""`livectl local` drain: what a new user sees when the emulator answers after 150 ms (issue 12, "Done when").

The local stack as `livectl local` starts it (`LocalStack`: moto in three processes of its own, the emulator in one of
its own (`livectl emulator`, read and set through its admin API), the real handlers behind the template's event
sources with one simulated container per `MaximumConcurrency` worker), its state file written as `livectl local`
writes it, the emulator at BENCH_LOCALDRAIN_LATENCY ms (default 150) ±20 %. Then, one
action at a time: N tasks in the emulator (BENCH_LOCALDRAIN_SECONDS x QPS, default 20 s worth: 1,000
StopPullRecordTask, 400 DeleteCloudRecording, 400 StopPublishCdnStream), their commands in a JSONL file, and
`livectl send --file` in a process of its own, as a user types it. Figures per action:
- drain rate = successful provider stops / (last - first), against the QPS (bar >= 0.95; StopPullRecordTask
  >= 0.9 or the process's ceiling, below);
- throttling answers / provider calls, and the peak calls in any 1 s (the emulator's rule);
- the ceiling the stack's process sets: it holds the pollers, the clock and the handlers under one GIL, so it
  cannot use much more than 1 CPU-s per s; its CPU per command gives the rate it could reach at 1 CPU-s per s
  (`ceiling`). Beside it, each process of the harness (moto's three, the emulator's): a lane whose process ran near
  1 CPU-s per s was capped by the harness, not livectl (moto's DynamoDB costs about 6 CPU ms a call); and the
  harness ceiling, the machine's CPUs / all processes' CPU per command: the most this machine carries at that cost.
BENCH_LOCALDRAIN_MOTO=thread / BENCH_LOCALDRAIN_EMULATOR=thread put moto / the emulator back in the stack's process
(`livectl local --moto-in-process` / `--emulator-in-process`); in there the emulator's arrival stamps waited for
the stack's GIL, and its rate check answered "throttled" to bursts livectl had not sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "layers" / "livectl", ROOT / "cli", ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from harness import LOCAL_PATHS, load_average, max_in_any_second  # noqa: E402

LATENCY = float(os.environ.get("BENCH_LOCALDRAIN_LATENCY", "150"))
SECONDS = float(os.environ.get("BENCH_LOCALDRAIN_SECONDS", "20"))
FIXED_N = int(os.environ["BENCH_LOCALDRAIN_COMMANDS"]) if os.environ.get("BENCH_LOCALDRAIN_COMMANDS") else None
TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}
PLAN: dict[str, tuple[str, Any, str]] = {  # action: (emulator kind, params for a task id, bar on rate / QPS)
    "DeleteCloudRecording": ("cloud_recording", lambda t: {**TRTC_PARAMS, "TaskId": t}, ">= 0.95"),
    "StopPublishCdnStream": ("cdn_publish", lambda t: {**TRTC_PARAMS, "TaskId": t}, ">= 0.95"),
    "StopPullRecordTask": ("pull_record", lambda t: {"TaskId": t}, ">= 0.9"),
}


def send_file(state_file: Path, commands: Path) -> float:
    """`livectl send --file`, in its own process; returns its wall seconds."""
    env = dict(os.environ, LIVECTL_LOCAL_STATE=str(state_file))
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in LOCAL_PATHS), env.get("PYTHONPATH", "")])
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "livectl_cli.main", "send", "--file", str(commands)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.monotonic() - began


def successes(stack: Any, action: str) -> tuple[list[float], int, int]:
    """Arrival times of the action's calls that succeeded, and its calls and throttling answers so far."""
    from livectl.errors import Throttled, classify
    from livectl.providers.catalogue import ACTIONS

    provider = ACTIONS[action].provider
    calls = stack.emulator.calls(action)
    ok = [c["time"] for c in calls if c["error_code"] is None]
    throttled = sum(
        1
        for c in calls
        if c["fault"] is None
        and c["error_code"]
        and issubclass(classify(provider, c["error_code"], c["http_status"]), Throttled)
    )
    return sorted(ok), len(calls), throttled


def drain(stack: Any, state_file: Path, workdir: Path, action: str, out: Any) -> list[dict[str, Any]]:
    from field import cpu_seconds

    from livectl.providers.catalogue import ACTIONS
    from livectl_cli.local.stack import MOTO_PROCESS_ROLES

    kind, params, bar = PLAN[action]
    qps = ACTIONS[action].qps
    n = FIXED_N or max(10, round(SECONDS * qps))
    task_ids = [f"local-{action}-{i}" for i in range(n)]
    stack.emulator.add_tasks([{"kind": kind, "task_id": task_id} for task_id in task_ids])
    commands = workdir / f"{action}.jsonl"
    commands.write_text("".join(json.dumps({"action": action, "params": params(t)}) + "\n" for t in task_ids))
    others = {f"moto {role}": m.pid for role, m in zip(MOTO_PROCESS_ROLES, stack.moto_processes, strict=False)}
    if stack.config.emulator_process:
        others["emulator"] = stack.emulator.pid
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    others0 = {name: cpu_seconds(pid) for name, pid in others.items()}
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        from profile_cpu import Profile

        profile = Profile({"stack": os.getpid(), **others}).start()
    sent_in = send_file(state_file, commands)
    deadline = time.monotonic() + 120 + 4 * n / qps
    while True:
        ok, calls, throttled = successes(stack, action)
        if len(ok) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    wall = time.monotonic() - wall0
    cpu = (cpu_seconds() - cpu0) / wall
    beside = {name: (cpu_seconds(pid) - others0[name]) / wall for name, pid in others.items()}
    if profile is not None:
        for line in profile.report():
            print(f"{'':>8}{line}", file=out, flush=True)
    harness = "".join(f", {name} {value:.2f}" for name, value in beside.items())
    span = ok[-1] - ok[0] if len(ok) > 1 else float("inf")
    rate = (len(ok) - 1) / span if len(ok) >= n else 0.0  # an unfinished drain fails the bar
    cpu_ms = cpu * wall * 1000 / max(1, len(ok))
    ceiling = 1000 / cpu_ms if cpu_ms else 0.0
    # The machine's ceiling: all processes' CPU per command (stack, moto, emulator) on this machine's CPUs.
    all_ms = (cpu + sum(beside.values())) * wall * 1000 / max(1, len(ok))
    machine = (os.cpu_count() or 1) * 1000 / all_ms if all_ms else 0.0
    load = load_average()
    print(
        f"    {action:<22} QPS {qps}: {len(ok)}/{n} stopped, first to last {span:.1f} s = {rate:.2f}/s; "
        f"provider calls {calls}, throttled {throttled}, peak {max_in_any_second(ok) if ok else 0}/s; "
        f"`livectl send --file` took {sent_in:.1f} s; CPU-s per s: the stack's process {cpu:.2f} = {cpu_ms:.1f} "
        f"CPU ms/command (ceiling at 1 CPU-s per s {ceiling:.0f}/s){harness}; load average {load}\n"
        f"{'':>8}harness ceiling: {all_ms:.0f} CPU ms per command in all processes (the stack, moto, emulator) -> "
        f"at most {machine:.1f}/s on {os.cpu_count()} CPUs ({machine / qps:.2f} of QPS)",
        file=out,
        flush=True,
    )
    name = f"livectl local {action} x{n} @{LATENCY:g} ms"
    return [
        {
            "name": f"{name}: rate / QPS",
            "ours": rate,
            "theirs": float(qps),
            "unit": f"cmd/s (stack {cpu:.2f} CPU-s/s, ceiling {ceiling:.0f}/s{harness}, harness ceiling "
            f"{machine / qps:.2f} of QPS, load {load})",
            "ratio": rate / qps,
            "bar": bar,
        },
        {
            "metric": f"{name}: throttling answers / provider calls",
            "value": throttled / max(1, calls),
            "unit": f"{throttled}/{calls}",
            "bar": "< 0.01",
        },
    ]


def run() -> list[dict[str, Any]]:
    from livectl_cli.local.stack import LocalConfig, LocalStack

    config = LocalConfig(
        moto_port=0,
        moto_processes=os.environ.get("BENCH_LOCALDRAIN_MOTO", "process") == "process",  # as `livectl local`
        emulator_process=os.environ.get("BENCH_LOCALDRAIN_EMULATOR", "process") == "process",  # likewise
        emulator_port=0,
        webhook_port=0,
        failed_visibility=1,
        emulator_latency={"latency_ms": LATENCY, "jitter_ms": LATENCY * 0.2},
    )
    out = sys.stdout
    print(f"    localdrain: the emulator at {LATENCY:g} ±{LATENCY * 0.2:g} ms; load average {load_average()}")
    rows: list[dict[str, Any]] = []
    # The handlers' logs and EMF would bury the figures: stdout to /dev/null, figures to the saved stream.
    with (
        tempfile.TemporaryDirectory() as tmp,
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
    ):
        stack = LocalStack(config).start()
        try:
            # Stops only: no TRTC start callbacks (and no cost-guard arming) loading the webhook meanwhile.
            stack.emulator.configure(start_callbacks=False, callback_url=None)
            state_file = Path(tmp) / "livectl-local.json"
            state_file.write_text(json.dumps(stack.state()), encoding="utf-8")  # as `livectl local` writes it
            for action in PLAN:
                rows += drain(stack, state_file, Path(tmp), action, out)
        finally:
            stack.stop()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
