"""`livectl demo`: a fresh local stack, a scenario a person can follow, and a check of every outcome.

Scenario (all through the operator CLI where an operator would use it):
 1. seed the emulator with one task of every kind;
 2. send one command per action through its queue (`livectl send`), the stop twice (a duplicate), and an
    invalid command straight onto a queue (a broken producer);
 3. schedule an auto-stop 30 s ahead, move it to 2 s ahead, let it fire; stop a Volcengine relay on schedule;
    schedule another and cancel it;
 4. the emulator posts TRTC callbacks (recording files, relay status) to the webhook; a forged one is refused;
 5. print the tasks with their final state and the outcome events seen on the bus; check each expectation
    against the ledger, the emulator's call and callback logs, the events and the DLQs. Exit 1 if any is missing.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livectl_cli.common import table
from livectl_cli.local import demo_guard
from livectl_cli.local.demo_checks import control_checks, nothing_lost_checks, schedule_checks, webhook_checks
from livectl_cli.local.demo_driver import Check, Cli, DemoDriver
from livectl_cli.local.stack import LocalConfig, LocalStack

SDK_APP_ID = 1400000001
TASKS: list[dict[str, Any]] = [
    {"kind": "pull_record", "task_id": "demo-rec-stop", "status": "生效中"},
    {"kind": "pull_record", "task_id": "demo-rec-query", "status": "生效中"},
    {"kind": "pull_record", "task_id": "demo-rec-cancel", "status": "生效中"},
    {"kind": "pull_to_push", "task_id": "demo-relay-restart", "status": "停用"},
    {"kind": "pull_to_push", "task_id": "demo-relay-stop", "status": "生效中"},
    {"kind": "cloud_recording", "task_id": "demo-cloudrec-vod", "storage": "vod", "files": 2},
    {"kind": "cloud_recording", "task_id": "demo-cloudrec-cos", "storage": "cos", "format": "hls+mp4", "files": 1},
    {"kind": "cdn_publish", "task_id": "demo-cdn-stop"},
    *demo_guard.TASKS,
]
TRTC = {"SdkAppId": SDK_APP_ID, "Region": "ap-guangzhou"}
DEADLINE_SECONDS = 40.0


class Demo(DemoDriver):
    forged_status: int = 0  # the HTTP status the forged callback got (step 4)

    def run(self) -> list[Check]:
        self.start_reading_events()
        try:
            self.scenario()
            return self.checks()
        finally:
            self.stop_reading_events()

    def scenario(self) -> None:
        em = self.stack.emulator
        demo_guard.set_policy(self, SDK_APP_ID)
        self.out("\n== 1. seed the provider emulator with one task of every kind")
        for spec in TASKS:
            em.add_task(spec["kind"], spec["task_id"], **_without(spec, "kind", "task_id"))
            self.out(
                f"  {spec['kind']:<16} {spec['task_id']:<20} {self.emulator_status(spec['kind'], spec['task_id'])}"
            )

        self.out("\n== 2. message-triggered control: one command per action through its queue")
        self.cli("send", "StopPullRecordTask", "--params", '{"TaskId": "demo-rec-stop"}')
        self.cli("send", "StopPullRecordTask", "--params", '{"TaskId": "demo-rec-stop"}')  # the duplicate
        self.cli("send", "GetPullRecordTask", "--params", '{"TaskID": "demo-rec-query"}')
        self.cli("send", "RestartPullToPushTask", "--params", '{"TaskId": "demo-relay-restart"}')
        self.cli("send", "DeleteCloudRecording", "--params", json.dumps({**TRTC, "TaskId": "demo-cloudrec-vod"}))
        self.cli("send", "StopPublishCdnStream", "--params", json.dumps({**TRTC, "TaskId": "demo-cdn-stop"}))
        self.out("  the CLI refuses an invalid command before sending it:")
        self.cli("send", "StopPullRecordTask", "--params", '{"TaskID": "demo-rec-stop"}')
        self.out("  a broken producer puts it on the queue anyway (raw SendMessage):")
        bad = {"action": "StopPullRecordTask", "params": {"TaskID": "demo-rec-stop"}}
        self.sqs.send_message(QueueUrl=self.stack.outputs["StopPullRecordQueueUrl"], MessageBody=json.dumps(bad))
        self.out(f"  sent {json.dumps(bad)}")

        self.out("\n== 3. scheduled auto-stop: schedule 30 s ahead, move to 2 s ahead, let it fire; a relay stopped")
        self.out("   on schedule (StopPullToPushTask); cancel another")
        cos = json.dumps({**TRTC, "TaskId": "demo-cloudrec-cos"})
        self.cli("schedule-stop", "DeleteCloudRecording", "--params", cos, "--after", "30s")
        self.cli("schedule-stop", "DeleteCloudRecording", "--params", cos, "--after", "2s")
        self.cli("schedule-stop", "StopPullToPushTask", "--params", '{"TaskId": "demo-relay-stop"}', "--after", "2s")
        self.cli("schedule-stop", "StopPullRecordTask", "--params", '{"TaskId": "demo-rec-cancel"}', "--after", "3s")
        self.cli("schedules")
        self.cli("cancel-stop", "StopPullRecordTask", "--params", '{"TaskId": "demo-rec-cancel"}')

        self.out("\n== 4. webhook: the emulator posts signed TRTC callbacks; a forged one is refused")
        self.forged_status = self._forged_callback()
        self.out(f"  forged callback (wrong Sign) → HTTP {self.forged_status}")

        self.out("\n== waiting for the outcomes (scheduled stop fires, callbacks arrive)...")
        self.wait_for("every outcome", self._settled, self.deadline)
        time.sleep(1.0)  # let stragglers (duplicates, retries) show up before we judge
        self.cli("task", "demo-cloudrec-vod")

    def _forged_callback(self) -> int:
        import requests

        body = json.dumps(
            {
                "EventGroupId": 3,
                "EventType": 302,
                "CallbackTs": int(time.time() * 1000),
                "EventInfo": {"RoomId": "1", "EventTs": int(time.time()), "TaskId": "demo-forged", "Payload": {}},
            }
        ).encode()
        answer = requests.post(
            self.stack.webhook_url,
            data=body,
            headers={"Content-Type": "application/json", "Sign": "Zm9yZ2VkCg==", "SdkAppId": str(SDK_APP_ID)},
            timeout=5,
        )
        return int(answer.status_code)

    def _settled(self) -> bool:
        return (
            bool(self.events_of("Task Stopped", "demo-cloudrec-cos"))
            and bool(self.events_of("Recording Uploaded", "demo-cloudrec-vod"))
            and bool(self.events_of("Task Stopped", "demo-rec-stop"))
            and bool(self.events_of("Task Restarted", "demo-relay-restart"))
            and bool(self.events_of("Task Stopped", "demo-relay-stop"))
            and bool(self.events_of("Task Status", "demo-rec-query"))
            and bool(self.events_of("Task Stopped", "demo-cdn-stop"))
            and bool(self.events_of("Command Rejected"))
            and demo_guard.settled(self)
            and self.stack.emulator.wait_callbacks(0.01)
        )

    def checks(self) -> list[Check]:
        return [
            *control_checks(self),
            *schedule_checks(self),
            *webhook_checks(self, self.forged_status),
            *demo_guard.checks(self),
            *nothing_lost_checks(self),
        ]

    # -- report -----------------------------------------------------------------------------------------------------
    def task_table(self) -> str:
        rows: list[tuple[str, ...]] = [
            ("TASK", "KIND", "PROVIDER STATUS (emulator)", "LEDGER STATE", "LAST ACTION", "CALLBACKS")
        ]
        for spec in TASKS:
            provider = "volcengine" if spec["kind"] in ("pull_record", "pull_to_push") else "trtc"
            items = self.ledger(provider, spec["task_id"])
            state = next((i for i in items if i.get("sk") == "STATE"), {})
            callbacks = sum(1 for i in items if str(i.get("sk", "")).startswith("CB#"))
            rows.append(
                (
                    spec["task_id"],
                    spec["kind"],
                    self.emulator_status(spec["kind"], spec["task_id"]),
                    str(state.get("state", "-")),
                    str(state.get("last_action", "-")),
                    str(callbacks),
                )
            )
        return "\n".join(table(rows))

    def event_lines(self) -> list[str]:
        from livectl_cli.commands.events import event_line

        return [event_line(e) for e in sorted(self.events, key=lambda e: str(e.get("time")))]


def _without(spec: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in keys}


def _config(template: Path | None, log: Callable[[str], None]) -> LocalConfig:
    return LocalConfig(
        template=template,
        moto_port=0,
        emulator_port=0,
        webhook_port=0,
        poll_interval=0.1,
        clock_interval=0.25,
        failed_visibility=1,
        callback_retry_interval=0.5,
        queue_metrics_interval=1.0,
        log=log,
        parameters={"GuardPolicyMaxAge": "0"},  # the demo changes its app's guard policy and wants it at once
    )


def _report(demo: Demo, stack_log: list[str], verbose: bool, say: Callable[[str], None]) -> None:
    say("\n== tasks")
    say(demo.task_table())
    say(f"\n== outcome events seen on the bus ({len(demo.events)})")
    for line in demo.event_lines():
        say("  " + line)
    if not verbose:
        say(f"\n== the local stack's invocation log ({len(stack_log)} lines, last 12)")
        for line in stack_log[-12:]:
            say("  " + line)
    say("\n== what an operator sees now")
    demo.cli("status")


def _verdict(checks: list[Check], took: float, say: Callable[[str], None]) -> int:
    say("\n== checks")
    for item in checks:
        say(f"  {'PASS' if item.ok else 'FAIL'}  {item.name}" + (f"  [{item.detail}]" if item.detail else ""))
    failed = [item for item in checks if not item.ok]
    if failed:
        say(f"\ndemo FAILED: {len(failed)} of {len(checks)} checks missing ({took:.1f} s)")
        return 1
    say(f"\ndemo passed: {len(checks)} checks in {took:.1f} s")
    return 0


def run(
    cli: Cli,
    verbose: bool = False,
    out: Callable[[str], None] | None = None,
    template: Path | None = None,
    deadline: float = DEADLINE_SECONDS,
) -> int:
    """Start a stack on ephemeral ports, run the scenario through `cli` (the `livectl` entry point), print the
    report; 0 only if every check passed."""
    say = out or (lambda line: print(line, flush=True))
    started = time.monotonic()
    stack_log: list[str] = []
    stack = LocalStack(_config(template, say if verbose else stack_log.append))
    saved_state = os.environ.get("LIVECTL_LOCAL_STATE")
    with tempfile.TemporaryDirectory(prefix="livectl-demo-") as tmp:
        try:
            stack.start()
            state_file = Path(tmp) / "state.json"
            state_file.write_text(json.dumps(stack.state()), encoding="utf-8")
            os.environ["LIVECTL_LOCAL_STATE"] = str(state_file)
            say(
                f"local stack up in {time.monotonic() - started:.1f} s: moto {stack.aws_endpoint}, emulator "
                f"{stack.emulator_url}, webhook {stack.webhook_url}"
            )
            say(f"functions: {', '.join(stack.functions)}")
            if stack.skipped:
                say(f"NOT started (no code): {', '.join(stack.skipped)}")
            demo = Demo(stack, say, cli, deadline)
            checks = demo.run()
            _report(demo, stack_log, verbose, say)
        finally:
            stack.stop()
            if saved_state is None:
                os.environ.pop("LIVECTL_LOCAL_STATE", None)
            else:
                os.environ["LIVECTL_LOCAL_STATE"] = saved_state
    return _verdict(checks, time.monotonic() - started, say)
