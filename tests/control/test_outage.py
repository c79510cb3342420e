"""A provider outage longer than the old 15-minute limit, through moto SQS (real redrive at the template's
maxReceiveCount) and the emulator (every call answered 503 until recovery), on a fast clock: the test reads the
delay each failed record is handed back with (ChangeMessageVisibilityBatch, as the handler sends it), advances
its clock by that delay, and makes the message visible at once. Nothing reaches the DLQ, every command is applied
once, the calls stay within the schedule's budget and the first call after recovery comes within 180 s."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from livectl.control import redelivery
from livectl.control import service as control
from livectl.providers.retry import RetryPolicy
from tests.control.support import FakeContext
from tests.control.test_reliability import dlq_bodies, to_lambda_record

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)


class DelayRecorder:
    """The container's SQS client, seen through: records each delay asked for, then lets the test's clock
    stand in for it (the message is made visible at once; the clock jumps by the delay)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.meta = sqs.meta
        self.delays: list[int] = []

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.delays.extend(e["VisibilityTimeout"] for e in Entries)
        return self.sqs.change_message_visibility_batch(
            QueueUrl=QueueUrl, Entries=[{**e, "VisibilityTimeout": 0} for e in Entries]
        )


@pytest.mark.parametrize("outage_minutes", [20, 60])
def test_an_outage_longer_than_15_minutes_dead_letters_nothing_and_converges_within_3_minutes(
    outage_minutes, stack, emu
):
    outage = outage_minutes * 60
    tasks = [f"long-{i}" for i in range(3)]
    for task in tasks:
        emu.add_task("pull_record", task)
    queue, dlq = stack.action_queue("StopPullRecordQueue", max_receive_count=redelivery.max_receive_count(3600))
    sqs = stack.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for task in tasks:
        body = {"action": "StopPullRecordTask", "params": {"TaskId": task}, "id": f"cmd-{task}"}
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    clock, receives, first_call_after_recovery = 0.0, 0, None
    # The container's monotonic clock follows the test's (jumping by each delay) and real time (for pacing).
    box = control.Container(
        stack.settings, policy=FAST, rand=lambda: 1.0, monotonic=lambda: clock + time.monotonic()
    )  # rand 1.0: the shortest delays, so the most receives
    recorder = DelayRecorder(box.aws_client("sqs"))
    box._aws["sqs"] = recorder

    while True:
        down = clock < outage
        emu.faults({"kinds": ["http_503"], "rate": 1.0 if down else 0.0, "actions": ["StopPullRecordTask"]})
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        receives += 1
        if not down and first_call_after_recovery is None:
            first_call_after_recovery = clock - outage
        event = {"Records": [to_lambda_record(m, arn) for m in got]}
        answer = control.handle_event(event, FakeContext(), "StopPullRecordTask", stack.settings, container=box)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in got:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        if failed:
            clock += max(recorder.delays[-len(failed) :])

    calls = emu.calls("StopPullRecordTask")
    per_command = {t: sum(1 for c in calls if c["params"].get("TaskId") == t) for t in tasks}
    print(
        f"outage={outage_minutes} min receives={receives} calls per command={per_command} "
        f"(mean {sum(per_command.values()) / len(tasks):.1f}) "
        f"first call after recovery={first_call_after_recovery:.0f} s"
    )
    assert dlq_bodies(stack, dlq) == []
    assert first_call_after_recovery is not None and first_call_after_recovery <= redelivery.RECOVERY_BOUND
    assert all(t["status"] == "停用" for t in emu.tasks("pull_record"))
    for task in tasks:
        assert stack.ledger().get_state("volcengine", task)["state"] == "stopped"
        assert per_command[task] <= redelivery.calls_during_outage(outage, said_unavailable=True) + 1
        assert sum(1 for c in calls if c["params"].get("TaskId") == task and c["error_code"] is None) == 1
    # The outage gate: after the first receive, the batch's records take turns probing, so the three commands
    # together cost about what one would alone (one call per receive, plus the first receive's one each).
    assert sum(per_command.values()) <= redelivery.calls_during_outage(outage, said_unavailable=True) + 2 * len(tasks)
