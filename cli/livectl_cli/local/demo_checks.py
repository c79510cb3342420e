"""The demo's expectations, one function per job, each read back from the ledger, the emulator's call and callback
logs, the events seen on the bus and the DLQs (the cost guard's are in demo_guard.py)."""

from __future__ import annotations

import json

from livectl_cli.local.demo_driver import Check, DemoDriver


def control_checks(demo: DemoDriver) -> list[Check]:
    """Job 2: message-triggered control (the sixth action, StopPullToPushTask, runs on schedule)."""
    stop_calls = [x for x in demo.stack.emulator.calls("StopPullRecordTask") if x.get("task_id") == "demo-rec-stop"]
    status_events = demo.events_of("Task Status", "demo-rec-query")
    rejected = demo.events_of("Command Rejected")
    return [
        Check(
            "StopPullRecordTask: task stopped at the provider, ledger 'stopped', Task Stopped event",
            demo.emulator_status("pull_record", "demo-rec-stop") == "停用"
            and demo.state("volcengine", "demo-rec-stop").get("state") == "stopped"
            and bool(demo.events_of("Task Stopped", "demo-rec-stop")),
        ),
        Check(
            "duplicate StopPullRecordTask: exactly 1 provider call, 1 Task Stopped event",
            len(stop_calls) == 1 and len(demo.events_of("Task Stopped", "demo-rec-stop")) == 1,
            f"{len(stop_calls)} calls, {len(demo.events_of('Task Stopped', 'demo-rec-stop'))} events",
        ),
        Check(
            "GetPullRecordTask: ledger 'running' (生效中), Task Status event",
            demo.state("volcengine", "demo-rec-query").get("state") == "running"
            and any(e["detail"].get("status") == "生效中" for e in status_events),
        ),
        Check(
            "RestartPullToPushTask: relay 生效中 again, ledger 'restarted', Task Restarted event",
            demo.emulator_status("pull_to_push", "demo-relay-restart") == "生效中"
            and demo.state("volcengine", "demo-relay-restart").get("state") == "restarted"
            and bool(demo.events_of("Task Restarted", "demo-relay-restart")),
        ),
        Check(
            "DeleteCloudRecording: recording Exited, ledger entry, Task Stopped event",
            demo.emulator_status("cloud_recording", "demo-cloudrec-vod") == "Exited"
            and bool(demo.state("trtc", "demo-cloudrec-vod"))
            and bool(demo.events_of("Task Stopped", "demo-cloudrec-vod")),
        ),
        Check(
            "StopPublishCdnStream: relay IDLE, ledger entry, Task Stopped event",
            demo.emulator_status("cdn_publish", "demo-cdn-stop") == "IDLE"
            and bool(demo.state("trtc", "demo-cdn-stop"))
            and bool(demo.events_of("Task Stopped", "demo-cdn-stop")),
        ),
        Check(
            "invalid command: rejected with the field named, Command Rejected event, not dead-lettered",
            any("TaskID" in str(e["detail"].get("reason", "")) + str(e["detail"].get("field", "")) for e in rejected),
            "; ".join(str(e["detail"].get("reason")) for e in rejected) or "no Command Rejected event",
        ),
    ]


def schedule_checks(demo: DemoDriver) -> list[Check]:
    """Job 1: scheduled auto-stop (schedule, move, fire; a relay on schedule; a cancel)."""
    from livectl.schedules.scheduler import schedule_name

    assert demo.stack.clock is not None
    fired_log = demo.stack.clock.fired
    scheduled = demo.events_of("Stop Scheduled", "demo-cloudrec-cos")
    cos_stop = schedule_name("DeleteCloudRecording", "default", "demo-cloudrec-cos")
    fired = [f for f in fired_log if f["name"] == cos_stop and f["error"] is None]
    relay_fired = [f for f in fired_log if "pullpush" in f["name"] and f["error"] is None]
    pending = demo.scheduler.list_schedules(GroupName=demo.stack.outputs["ScheduleGroupName"]).get("Schedules", [])
    return [
        Check(
            "schedule then move: 2 Stop Scheduled events, the second a move",
            len(scheduled) == 2 and any(e["detail"].get("moved") for e in scheduled),
            f"{len(scheduled)} events",
        ),
        Check(
            "the moved schedule fired once (at its new time), was deleted, and the recording stopped",
            len(fired) == 1
            and demo.emulator_status("cloud_recording", "demo-cloudrec-cos") == "Exited"
            and bool(demo.events_of("Task Stopped", "demo-cloudrec-cos")),
            f"fired {len(fired)}x",
        ),
        Check(
            "StopPullToPushTask on schedule: fired once, relay 停用, ledger 'stopped', Task Stopped event",
            len(relay_fired) == 1
            and demo.emulator_status("pull_to_push", "demo-relay-stop") == "停用"
            and demo.state("volcengine", "demo-relay-stop").get("state") == "stopped"
            and bool(demo.events_of("Task Stopped", "demo-relay-stop")),
            f"fired {len(relay_fired)}x",
        ),
        Check(
            "cancelled schedule: Stop Cancelled event, never fired, task still 生效中, no schedule left",
            bool(demo.events_of("Stop Cancelled", "demo-rec-cancel"))
            and not [f for f in fired_log if "pullrec" in f["name"]]
            and demo.emulator_status("pull_record", "demo-rec-cancel") == "生效中"
            and not pending,
            f"{len(pending)} schedules left",
        ),
    ]


def webhook_checks(demo: DemoDriver, forged_status: int) -> list[Check]:
    """Job 3: TRTC callbacks through the webhook, and a forged one refused."""
    deliveries = demo.stack.emulator.callback_log()
    refused = [d for d in deliveries if not d.get("delivered")]
    vod_cbs = [i for i in demo.ledger("trtc", "demo-cloudrec-vod") if str(i.get("sk", "")).startswith("CB#")]
    return [
        Check(
            "TRTC callbacks: every delivery answered 200 by the webhook",
            bool(deliveries) and not refused,
            f"{len(deliveries)} deliveries, {len(refused)} refused",
        ),
        Check(
            "recording callbacks: stored in the ledger, Recording Uploaded event",
            bool(vod_cbs) and bool(demo.events_of("Recording Uploaded", "demo-cloudrec-vod")),
            f"{len(vod_cbs)} callback items",
        ),
        Check(
            "relay callbacks: Relay Status Changed event for the stopped CDN relay",
            bool(demo.events_of("Relay Status Changed", "demo-cdn-stop")),
        ),
        Check("forged callback: refused with 401", forged_status == 401, f"HTTP {forged_status}"),
    ]


def nothing_lost_checks(demo: DemoDriver) -> list[Check]:
    """Every DLQ empty and every provider call correctly signed."""
    assert demo.stack.created is not None
    depths = {}
    for logical, url in demo.stack.created.queues.items():
        if logical.endswith("DLQ"):
            attrs = demo.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[logical] = int(attrs["ApproximateNumberOfMessages"]) + int(
                attrs["ApproximateNumberOfMessagesNotVisible"]
            )
    full = {k: v for k, v in depths.items() if v}
    bad_sigs = [x for x in demo.stack.emulator.calls() if x.get("signature_valid") is False]
    return [
        Check("every DLQ empty (nothing lost, nothing poisoned)", not full, json.dumps(full) if full else ""),
        Check("every provider call correctly signed", not bad_sigs, f"{len(bad_sigs)} bad signatures"),
    ]
