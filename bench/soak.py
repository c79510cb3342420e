"""The soak (issue 13): mixed commands across the six actions through the local stack, every message sent twice,
the emulator failing 30 % of calls with every fault kind, a provider outage (every call 503) in the middle, and
recognisable fake keys that must appear in no log line, ledger item, event or DLQ body.

    .venv/bin/python bench/soak.py [--commands 1000] [--scale 0.05] [--outage 120] [--seed 13]

Fast clock: the functions run with LIVECTL_REDELIVERY_SCALE = `scale`, which shrinks every redelivery delay
(30 s, 170 s) by that factor, and the outage lasts `outage` x `scale` real seconds; a delay or a wait in
"schedule seconds" is the real one divided by `scale`. Provider round trips, timeouts (the `delay` fault: 10.5 s
against the 10 s read timeout) and the rate limits stay real.

Every command has its own task and id, so the emulator's call log tells effective mutations per task (calls that
reached the task's state machine and succeeded, whatever happened to the answer) and calls per command. Each
command's outcome is read from the bus (the stack's events tap): applied (done / already done), rejected, stale,
failed with the provider's reason, or in a DLQ with the ledger's `last_error_code`. Lost = none of those.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.soak_stack import (
    Capture,
    Outcomes,
    admin,
    captured,
    drain_dlqs,
    fake_keys,
    install_keys,
    queues_idle,
    scan_tables,
    send,
)
from livectl_cli.local.stack import LocalConfig, LocalStack

TRTC = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}
# action → (emulator task kind, the task's status when created, params for task id t)
ACTIONS: dict[str, tuple[str, str | None, Any]] = {
    "StopPullRecordTask": ("pull_record", None, lambda t: {"TaskId": t}),
    "GetPullRecordTask": ("pull_record", None, lambda t: {"TaskID": t}),
    "RestartPullToPushTask": ("pull_to_push", "停用", lambda t: {"TaskId": t}),
    "StopPullToPushTask": ("pull_to_push", None, lambda t: {"TaskId": t}),
    "DeleteCloudRecording": ("cloud_recording", None, lambda t: {**TRTC, "TaskId": t}),
    "StopPublishCdnStream": ("cdn_publish", None, lambda t: {**TRTC, "TaskId": t}),
}
MUTATIONS = {a for a in ACTIONS if a != "GetPullRecordTask"}
FAULT_KINDS = ["http_500", "http_502", "http_503", "http_504", "internal_error", "throttle"]
FAULT_KINDS += ["delay", "drop", "truncated", "common_err"]
TIMEOUT_FAULT_MS = 10_500  # just past the client's 10 s read timeout: the call is carried out, the answer is late
APPLIED = {"done", "already_done"}


@dataclass
class SoakConfig:
    commands: int = 1000
    copies: int = 2  # every message delivered this many times
    fault_rate: float = 0.3
    outage_seconds: float = 120.0  # schedule seconds
    scale: float = 0.05
    seed: int = 13
    timeout: float = 1500.0  # real seconds for the whole run


@dataclass
class Planned:
    id: str
    action: str
    task: str
    body: dict[str, Any]
    expect: str  # applied | rejected | stale | failed


@dataclass
class SoakReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # command ids whose outcome is not the planned one
    lost: list[str] = field(default_factory=list)
    dlq: list[dict[str, Any]] = field(default_factory=list)  # {"id", "reason"}
    mutations_per_task: Counter[str] = field(default_factory=Counter)
    not_once: list[str] = field(default_factory=list)  # applied changes not made exactly once, or made when not applied
    calls_per_command: dict[str, int] = field(default_factory=dict)
    provider_calls: int = 0
    outage_calls: int = 0  # provider calls during the outage (all failing)
    outage_commands: int = 0  # commands that failed in the outage
    converge_real: float = 0.0  # recovery → the last command pending at recovery calls again (real s)
    converge_schedule: float = 0.0  # the same in schedule seconds
    fault_kinds: Counter[str] = field(default_factory=Counter)  # injected faults by kind, the outage's included
    applied_log_lines: int = 0  # handler log lines "command applied" captured: the scan read the handlers' logs
    secret_hits: dict[str, int] = field(default_factory=dict)
    scanned: dict[str, int] = field(default_factory=dict)  # what the secrets scan read, by source
    seconds: float = 0.0

    def lines(self, config: SoakConfig) -> list[str]:
        calls = list(self.calls_per_command.values()) or [0]
        worst = max(self.mutations_per_task.values(), default=0)
        return [
            f"soak: {config.commands} commands x {config.copies} copies, {config.fault_rate:.0%} faults "
            f"({len(FAULT_KINDS)} kinds), {config.outage_seconds:.0f} s outage at scale {config.scale} "
            f"({self.seconds:.0f} s real)",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
            f"in a DLQ with a reason: {sum(1 for d in self.dlq if d['reason'])} of {len(self.dlq)}; "
            f"lost: {len(self.lost)}; unexpected outcome: {len(self.unexpected)}",
            f"effective mutations per task: max {worst}; applied changes not made exactly once: {len(self.not_once)}",
            "injected faults: " + ", ".join(f"{k} {v}" for k, v in sorted(self.fault_kinds.items())),
            f"provider calls: {self.provider_calls}; per command mean {self.provider_calls / config.commands:.2f}, "
            f"max {max(calls)}",
            f"outage: {self.outage_calls} calls failed for {self.outage_commands} commands; after it every one "
            f"called again within {self.converge_real:.1f} s real = {self.converge_schedule:.0f} schedule s",
            "secrets scan: "
            + ", ".join(f"{k} {v}" for k, v in self.scanned.items())
            + f"; hits {sum(self.secret_hits.values())}",
        ]


def plan(config: SoakConfig) -> list[Planned]:
    """One task per command. Every 20th command is invalid, every 20th stale, every 20th names an unknown task."""
    names = list(ACTIONS)
    out: list[Planned] = []
    for i in range(config.commands):
        action = names[i % len(names)]
        task = f"soak-{i}"
        body: dict[str, Any] = {"action": action, "params": ACTIONS[action][2](task), "id": f"soak-cmd-{i}"}
        expect = "applied"
        if i % 20 == 7:
            body["params"] = {}
            expect = "rejected"
        elif i % 20 == 13:
            body["not_after"] = "2020-01-01T00:00:00Z"
            expect = "stale"
        elif i % 20 == 17 and action != "RestartPullToPushTask":
            task = f"soak-unknown-{i}"
            body["params"] = ACTIONS[action][2](task)
            expect = "failed"
        out.append(Planned(body["id"], action, task, body, expect))
    return out


def faults(stack: LocalStack, config: SoakConfig, down: bool) -> None:
    if down:
        admin(stack, "POST", "faults", {"kinds": ["http_503"], "rate": 1.0})
        return
    rule = {"kinds": FAULT_KINDS, "rate": config.fault_rate, "delay_ms": TIMEOUT_FAULT_MS}
    admin(stack, "POST", "faults", {"rules": [rule], "seed": config.seed})


def seed_tasks(stack: LocalStack, planned: list[Planned]) -> None:
    specs = []
    for p in planned:
        kind, status, _ = ACTIONS[p.action]
        if p.expect != "failed":
            specs.append({"kind": kind, "task_id": p.task, **({"status": status} if status else {})})
    for start in range(0, len(specs), 200):
        admin(stack, "POST", "tasks", specs[start : start + 200])


def dlq_reasons(dead: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each dead-lettered command with the ledger's last_error_code for its task (the ledger's STATE item)."""
    out = []
    for d in dead:
        body = json.loads(d["body"])
        task = next(iter((body.get("params") or {}).values()), None)
        params = body.get("params") or {}
        task = params.get("TaskId") or params.get("TaskID") or task
        reason = None
        for item in items:
            text = json.dumps(item)
            if f'"{task}"' in text and "last_error_code" in item:
                reason = item["last_error_code"].get("S")
        out.append({"id": body.get("id"), "reason": reason})
    return out


def start(config: SoakConfig, capture: Capture) -> LocalStack:
    os.environ["LIVECTL_REDELIVERY_SCALE"] = str(config.scale)  # read by each function's Settings at import
    stack_config = LocalConfig(
        moto_port=0,
        emulator_port=0,
        webhook_port=0,
        seed=config.seed,
        poll_interval=0.05,
        clock_interval=0.5,
        quiet_handlers=False,  # every handler log line is captured and scanned
        callback_retry_interval=0.2,
        log=lambda line: capture.write(line + "\n"),
    )
    return LocalStack(stack_config).start()


def drive(stack: LocalStack, config: SoakConfig, planned: list[Planned], outcomes: Outcomes) -> tuple[float, float]:
    """Send the first half and let it resolve; start the outage and send the second half into it; end the
    outage; wait until every queue is idle. Returns the outage's (start, end) in the emulator's clock."""
    faults(stack, config, down=False)
    half = len(planned) // 2
    send(stack, [p.body for p in planned[:half]], config.copies)
    deadline = time.monotonic() + config.timeout
    while outcomes.poll() < half and time.monotonic() < deadline:
        time.sleep(0.2)
    outage_start = time.time()
    faults(stack, config, down=True)
    send(stack, [p.body for p in planned[half:]], config.copies)
    time.sleep(max(0.0, outage_start + config.outage_seconds * config.scale - time.time()))
    faults(stack, config, down=False)
    outage_end = time.time()
    quiet_since = time.monotonic()
    seen = outcomes.poll()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now_seen = outcomes.poll()
        if now_seen != seen:
            seen, quiet_since = now_seen, time.monotonic()
        # resolved, or idle for longer than the longest scaled redelivery delay (a DLQ'd command has no event)
        if queues_idle(stack) and (seen >= len(planned) or time.monotonic() - quiet_since > 200 * config.scale + 5):
            break
    outcomes.poll()
    return outage_start, outage_end


def tally(report: SoakReport, planned: list[Planned], outcomes: Outcomes, dead: list[dict[str, Any]]) -> None:
    report.dlq = dead
    in_dlq = {str(d["id"]) for d in dead}
    for p in planned:
        got = outcomes.by_id.get(p.id)
        if got is None:
            if p.id in in_dlq:
                report.outcomes["dlq"] += 1
            else:
                report.lost.append(p.id)
            continue
        kind = "applied" if got in APPLIED else got
        report.outcomes[kind] += 1
        if kind != p.expect:
            report.unexpected.append(f"{p.id} {p.action} expected {p.expect}, got {got}")


def analyse_calls(
    report: SoakReport, planned: list[Planned], calls: list[dict[str, Any]], outage: tuple[float, float]
) -> None:
    """Effective mutations and calls per task; how long after recovery each command failed in the outage called
    again."""
    report.provider_calls = len(calls)
    for c in calls:
        c["task_id"] = task_of(c)
        if c.get("fault"):
            report.fault_kinds[str(c["fault"])] += 1
    per_task: Counter[str] = Counter(str(c["task_id"]) for c in calls)
    report.calls_per_command = {p.id: per_task.get(p.task, 0) for p in planned}
    for c in calls:
        if c["action"] in MUTATIONS and c.get("error_code") is None and c.get("task_id"):
            report.mutations_per_task[str(c["task_id"])] += 1
    start, end = outage
    in_outage = [c for c in calls if start <= c["time"] <= end]
    report.outage_calls = len(in_outage)
    failed_in_outage = {c.get("task_id") for c in in_outage if c.get("error_code")}
    report.outage_commands = len(failed_in_outage - {None})
    waits = []
    for task in failed_in_outage - {None}:
        after = [c["time"] for c in calls if c.get("task_id") == task and c["time"] > end]
        if after:
            waits.append(min(after) - end)
    report.converge_real = max(waits, default=0.0)


def check_once(report: SoakReport, planned: list[Planned], outcomes: Outcomes) -> None:
    """An applied change was made exactly once on the provider; anything else (a query, a rejection, a stale or
    failed command) made none."""
    for p in planned:
        applied = p.action in MUTATIONS and outcomes.by_id.get(p.id) in APPLIED
        if report.mutations_per_task.get(p.task, 0) != (1 if applied else 0):
            report.not_once.append(f"{p.id} {p.action}: {report.mutations_per_task.get(p.task, 0)} mutations")


def task_of(call: dict[str, Any]) -> str | None:
    """The call's task: the emulator logs the parsed one for calls it carried out, the request's params for all."""
    params = call.get("params") if isinstance(call.get("params"), dict) else {}
    found = call.get("task_id") or params.get("TaskId") or params.get("TaskID")
    return str(found) if found else None


def scan_secrets(report: SoakReport, keys: dict[str, Any], sources: dict[str, str]) -> None:
    needles = [keys["volcengine"]["secret_key"], keys["trtc"]["secret_key"], keys["callback"]]
    needles += [keys["volcengine"]["access_key"], keys["trtc"]["access_key"]]
    for name, text in sources.items():
        report.scanned[name] = len(text.splitlines()) if name == "log lines" else len(text)
        for needle in needles:
            if needle in text:
                report.secret_hits[f"{name}: {needle[:12]}…"] = text.count(needle)


def run(config: SoakConfig) -> SoakReport:
    report, capture, keys = SoakReport(), Capture(), fake_keys()
    planned = plan(config)
    began = time.monotonic()
    saved = os.environ.get("LIVECTL_REDELIVERY_SCALE")
    with captured(capture):
        stack = start(config, capture)
        try:
            install_keys(stack, keys)
            seed_tasks(stack, planned)
            outcomes = Outcomes(stack)
            outage = drive(stack, config, planned, outcomes)
            items = scan_tables(stack)
            dead = drain_dlqs(stack)
            tally(report, planned, outcomes, dlq_reasons(dead, items))
            analyse_calls(report, planned, admin(stack, "GET", "calls"), outage)
            check_once(report, planned, outcomes)
        finally:
            stack.stop()
            if saved is None:
                os.environ.pop("LIVECTL_REDELIVERY_SCALE", None)
            else:
                os.environ["LIVECTL_REDELIVERY_SCALE"] = saved
    report.converge_schedule = report.converge_real / config.scale
    sources = {
        "log lines": capture.text(),
        "ledger and table items": json.dumps(items),
        "events": json.dumps(outcomes.events),
        "DLQ bodies": json.dumps(dead),
    }
    scan_secrets(report, keys, sources)
    report.applied_log_lines = sources["log lines"].count("command applied")
    report.seconds = time.monotonic() - began
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--outage", type=float, default=120.0, help="schedule seconds")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    config = SoakConfig(commands=args.commands, scale=args.scale, outage_seconds=args.outage, seed=args.seed)
    report = run(config)
    for line in report.lines(config):
        print(line)
    for line in report.unexpected[:20] + report.not_once[:20] + [f"lost {i}" for i in report.lost[:20]]:
        print("  " + line)
    ok = not report.lost and not report.unexpected and not report.secret_hits and not report.not_once
    ok = ok and max(report.mutations_per_task.values(), default=0) <= 1 and all(d["reason"] for d in report.dlq)
    print("soak passed" if ok else "soak FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
