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

import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livectl_cli.local import demo_guard
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


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


class Demo:
    def __init__(self, stack: LocalStack, out: Callable[[str], None], deadline: float = DEADLINE_SECONDS) -> None:
        self.stack = stack
        self.deadline = deadline
        self.out = out
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_events, name="demo-events", daemon=True)
        from livectl import aws

        self.sqs = aws.client("sqs")
        self.dynamodb = aws.client("dynamodb")
        self.scheduler = aws.client("scheduler")

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _read_events(self) -> None:
        assert self.stack.created is not None
        url = self.stack.created.events_tap_url
        while not self._stop.is_set():
            try:
                answer = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            except Exception:
                if self._stop.is_set():
                    return
                time.sleep(0.2)
                continue
            for message in answer.get("Messages", []):
                self.events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not answer.get("Messages"):
                self._stop.wait(0.1)

    def cli(self, *argv: str) -> int:
        """Run one `livectl` command the way an operator would, echoing it and its output."""
        from livectl_cli.main import main

        self.out(f"$ livectl {' '.join(_quote(a) for a in argv)}")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = main(list(argv))
        for line in buffer.getvalue().splitlines():
            self.out(f"  {line}")
        return code

    def events_of(self, detail_type: str, task_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("detail-type") == detail_type and (task_id is None or e["detail"].get("task_id") == task_id)
        ]

    def ledger(self, provider: str, task_id: str) -> list[dict[str, Any]]:
        from livectl_cli.observe_commands import ledger_items

        return ledger_items(self.stack.outputs["LedgerTableName"], provider, task_id)

    def state(self, provider: str, task_id: str) -> dict[str, Any]:
        return next((i for i in self.ledger(provider, task_id) if i.get("sk") == "STATE"), {})

    def emulator_status(self, kind: str, task_id: str) -> str:
        task = self.stack.emulator.task(kind, task_id)
        return str(task["status"]) if task else "?"

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        self.out(f"  (gave up waiting for {what})")
        return False

    # -- scenario ---------------------------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        self._reader.start()
        try:
            self.scenario()
            return self.checks()
        finally:
            self._stop.set()
            self._reader.join(2)

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
        return _table(rows)

    def event_lines(self) -> list[str]:
        from livectl_cli.observe_commands import event_line

        return [event_line(e) for e in sorted(self.events, key=lambda e: str(e.get("time")))]

    def checks(self) -> list[Check]:
        em = self.stack.emulator
        c: list[Check] = []

        def check(name: str, ok: bool, detail: str = "") -> None:
            c.append(Check(name, bool(ok), detail))

        # Job 2: message-triggered control (the sixth action, StopPullToPushTask, runs on schedule below).
        stop_calls = [x for x in em.calls("StopPullRecordTask") if x.get("task_id") == "demo-rec-stop"]
        check(
            "StopPullRecordTask: task stopped at the provider, ledger 'stopped', Task Stopped event",
            self.emulator_status("pull_record", "demo-rec-stop") == "停用"
            and self.state("volcengine", "demo-rec-stop").get("state") == "stopped"
            and bool(self.events_of("Task Stopped", "demo-rec-stop")),
        )
        check(
            "duplicate StopPullRecordTask: exactly 1 provider call, 1 Task Stopped event",
            len(stop_calls) == 1 and len(self.events_of("Task Stopped", "demo-rec-stop")) == 1,
            f"{len(stop_calls)} calls, {len(self.events_of('Task Stopped', 'demo-rec-stop'))} events",
        )
        status_events = self.events_of("Task Status", "demo-rec-query")
        check(
            "GetPullRecordTask: ledger 'running' (生效中), Task Status event",
            self.state("volcengine", "demo-rec-query").get("state") == "running"
            and any(e["detail"].get("status") == "生效中" for e in status_events),
        )
        check(
            "RestartPullToPushTask: relay 生效中 again, ledger 'restarted', Task Restarted event",
            self.emulator_status("pull_to_push", "demo-relay-restart") == "生效中"
            and self.state("volcengine", "demo-relay-restart").get("state") == "restarted"
            and bool(self.events_of("Task Restarted", "demo-relay-restart")),
        )
        check(
            "DeleteCloudRecording: recording Exited, ledger entry, Task Stopped event",
            self.emulator_status("cloud_recording", "demo-cloudrec-vod") == "Exited"
            and bool(self.state("trtc", "demo-cloudrec-vod"))
            and bool(self.events_of("Task Stopped", "demo-cloudrec-vod")),
        )
        check(
            "StopPublishCdnStream: relay IDLE, ledger entry, Task Stopped event",
            self.emulator_status("cdn_publish", "demo-cdn-stop") == "IDLE"
            and bool(self.state("trtc", "demo-cdn-stop"))
            and bool(self.events_of("Task Stopped", "demo-cdn-stop")),
        )
        rejected = self.events_of("Command Rejected")
        check(
            "invalid command: rejected with the field named, Command Rejected event, not dead-lettered",
            any("TaskID" in str(e["detail"].get("reason", "")) + str(e["detail"].get("field", "")) for e in rejected),
            "; ".join(str(e["detail"].get("reason")) for e in rejected) or "no Command Rejected event",
        )
        # Job 1: scheduled auto-stop.
        scheduled = self.events_of("Stop Scheduled", "demo-cloudrec-cos")
        check(
            "schedule then move: 2 Stop Scheduled events, the second a move",
            len(scheduled) == 2 and any(e["detail"].get("moved") for e in scheduled),
            f"{len(scheduled)} events",
        )
        assert self.stack.clock is not None
        from livectl.schedules.scheduler import schedule_name

        cos_stop = schedule_name("DeleteCloudRecording", "default", "demo-cloudrec-cos")
        fired = [f for f in self.stack.clock.fired if f["name"] == cos_stop and f["error"] is None]
        check(
            "the moved schedule fired once (at its new time), was deleted, and the recording stopped",
            len(fired) == 1
            and self.emulator_status("cloud_recording", "demo-cloudrec-cos") == "Exited"
            and bool(self.events_of("Task Stopped", "demo-cloudrec-cos")),
            f"fired {len(fired)}x",
        )
        relay_fired = [f for f in self.stack.clock.fired if "pullpush" in f["name"] and f["error"] is None]
        check(
            "StopPullToPushTask on schedule: fired once, relay 停用, ledger 'stopped', Task Stopped event",
            len(relay_fired) == 1
            and self.emulator_status("pull_to_push", "demo-relay-stop") == "停用"
            and self.state("volcengine", "demo-relay-stop").get("state") == "stopped"
            and bool(self.events_of("Task Stopped", "demo-relay-stop")),
            f"fired {len(relay_fired)}x",
        )
        pending = self.scheduler.list_schedules(GroupName=self.stack.outputs["ScheduleGroupName"]).get("Schedules", [])
        check(
            "cancelled schedule: Stop Cancelled event, never fired, task still 生效中, no schedule left",
            bool(self.events_of("Stop Cancelled", "demo-rec-cancel"))
            and not [f for f in self.stack.clock.fired if "pullrec" in f["name"]]
            and self.emulator_status("pull_record", "demo-rec-cancel") == "生效中"
            and not pending,
            f"{len(pending)} schedules left",
        )
        # Job 3: webhook callbacks.
        deliveries = em.callback_log()
        refused = [d for d in deliveries if not d.get("delivered")]
        check(
            "TRTC callbacks: every delivery answered 200 by the webhook",
            bool(deliveries) and not refused,
            f"{len(deliveries)} deliveries, {len(refused)} refused",
        )
        vod_cbs = [i for i in self.ledger("trtc", "demo-cloudrec-vod") if str(i.get("sk", "")).startswith("CB#")]
        check(
            "recording callbacks: stored in the ledger, Recording Uploaded event",
            bool(vod_cbs) and bool(self.events_of("Recording Uploaded", "demo-cloudrec-vod")),
            f"{len(vod_cbs)} callback items",
        )
        check(
            "relay callbacks: Relay Status Changed event for the stopped CDN relay",
            bool(self.events_of("Relay Status Changed", "demo-cdn-stop")),
        )
        check("forged callback: refused with 401", self.forged_status == 401, f"HTTP {self.forged_status}")
        c.extend(demo_guard.checks(self))
        # Nothing lost.
        assert self.stack.created is not None
        dlq_depths = {}
        for logical, url in self.stack.created.queues.items():
            if logical.endswith("DLQ"):
                attrs = self.sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                dlq_depths[logical] = int(attrs["ApproximateNumberOfMessages"]) + int(
                    attrs["ApproximateNumberOfMessagesNotVisible"]
                )
        full = {k: v for k, v in dlq_depths.items() if v}
        check("every DLQ empty (nothing lost, nothing poisoned)", not full, json.dumps(full) if full else "")
        bad_sigs = [x for x in em.calls() if x.get("signature_valid") is False]
        check("every provider call correctly signed", not bad_sigs, f"{len(bad_sigs)} bad signatures")
        return c


def _quote(arg: str) -> str:
    return f"'{arg}'" if any(ch in arg for ch in ' {}"') else arg


def _without(spec: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in keys}


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(_width(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell) + " " * (w - _width(str(cell))) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in text)


def run(
    verbose: bool = False,
    out: Callable[[str], None] | None = None,
    template: Path | None = None,
    deadline: float = DEADLINE_SECONDS,
) -> int:
    """Start a stack on ephemeral ports, run the scenario, print the report; 0 only if every check passed."""
    say = out or (lambda line: print(line, flush=True))
    started = time.monotonic()
    stack_log: list[str] = []
    config = LocalConfig(
        template=template,
        moto_port=0,
        emulator_port=0,
        webhook_port=0,
        poll_interval=0.1,
        clock_interval=0.25,
        failed_visibility=1,
        callback_retry_interval=0.5,
        queue_metrics_interval=1.0,
        log=say if verbose else stack_log.append,
        parameters={"GuardPolicyMaxAge": "0"},  # the demo changes its app's guard policy and wants it at once
    )
    stack = LocalStack(config)
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
            demo = Demo(stack, say, deadline)
            checks = demo.run()
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
        finally:
            stack.stop()
            if saved_state is None:
                os.environ.pop("LIVECTL_LOCAL_STATE", None)
            else:
                os.environ["LIVECTL_LOCAL_STATE"] = saved_state
    say("\n== checks")
    for item in checks:
        say(f"  {'PASS' if item.ok else 'FAIL'}  {item.name}" + (f"  [{item.detail}]" if item.detail else ""))
    failed = [item for item in checks if not item.ok]
    took = time.monotonic() - started
    if failed:
        say(f"\ndemo FAILED: {len(failed)} of {len(checks)} checks missing ({took:.1f} s)")
        return 1
    say(f"\ndemo passed: {len(checks)} checks in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run())
