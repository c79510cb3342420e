"""The demo's cost-guard part: a short maximum for the demo app, a recording that nobody stops (its guard stops
it) and the checks that a recording which ends normally leaves no guard behind."""

from __future__ import annotations

from typing import Any

from livectl_cli.local.demo_driver import Check, DemoDriver

BUDGET = "12s"  # the demo's maximum recording/relay duration; the stack's default is 12h
FORGOTTEN = "demo-guard-forgotten"
ENDS_NORMALLY = "demo-cloudrec-vod"  # stopped by a command in step 2
TASKS: list[dict[str, Any]] = [{"kind": "cloud_recording", "task_id": FORGOTTEN, "storage": "vod", "files": 1}]


def set_policy(demo: DemoDriver, sdk_app_id: int) -> None:
    demo.out(f"\n== 0. cost guard: a {BUDGET} maximum for the demo app (TRTC posts 301 / 401 when tasks start)")
    demo.cli("guard", "set", str(sdk_app_id), "--max-recording", BUDGET, "--max-relay", BUDGET)
    demo.cli("guard", "show", str(sdk_app_id))


def settled(demo: DemoDriver) -> bool:
    ended = bool(demo.events_of("Guard Disarmed", ENDS_NORMALLY)) or any(
        e["detail"].get("via") for e in demo.events_of("Task Stopped", ENDS_NORMALLY)
    )
    return bool(demo.events_of("Task Stopped", FORGOTTEN)) and ended


def checks(demo: DemoDriver) -> list[Check]:
    stopped = demo.events_of("Task Stopped", FORGOTTEN)
    calls = [c for c in demo.stack.emulator.calls("DeleteCloudRecording") if c.get("task_id") == FORGOTTEN]
    ended = demo.events_of("Task Stopped", ENDS_NORMALLY)
    ended_calls = [c for c in demo.stack.emulator.calls("DeleteCloudRecording") if c.get("task_id") == ENDS_NORMALLY]
    return [
        Check(
            "cost guard: a recording nobody stopped was stopped by its guard (Guard Armed, Task Stopped via guard)",
            bool(demo.events_of("Guard Armed", FORGOTTEN))
            and demo.emulator_status("cloud_recording", FORGOTTEN) == "Exited"
            and len(calls) == 1
            and any(e["detail"].get("via") == "guard" for e in stopped),
            f"{len(calls)} provider calls",
        ),
        Check(
            "cost guard: a recording that ended normally left no guard (Guard Armed, Guard Disarmed, 1 provider call)",
            bool(demo.events_of("Guard Armed", ENDS_NORMALLY))
            and len(ended_calls) == 1
            # disarmed by its end; on a machine so loaded that the end reached the guard after its time, the guard
            # fired and found the end in the ledger: no provider call either way
            and (
                bool(demo.events_of("Guard Disarmed", ENDS_NORMALLY))
                or all(e["detail"].get("outcome") == "already_done" for e in ended if e["detail"].get("via"))
            ),
            f"{len(ended_calls)} provider calls",
        ),
    ]
