"""Reliability bars through real moto SQS queues with redrive: the DLQ after maxReceiveCount, the provider's
QPS under MaximumConcurrency containers, 30 % provider faults, and no key material in any log."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import logging
import threading
import time
from collections import Counter
from typing import Any

import pytest

from livectl.control import service as control
from livectl.providers.retry import RetryPolicy
from tests.control.support import DEMO_SECRET, FUNCTIONS, TEST_SECRET, FakeContext, sqs_event

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)
THROTTLE_CODES = {"FlowLimitExceeded", "RequestLimitExceeded"}
TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}


def to_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """What the SQS event source mapping hands Lambda for one received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "ap-southeast-1",
    }


class Poller:
    """A minimal event source mapping: receive up to 10, invoke, delete the successes, make the failures
    visible again at once (standing in for the visibility timeout), until the queue is empty."""

    def __init__(self, stack: Any, queue_url: str, action: str) -> None:
        self.stack = stack
        self.queue_url = queue_url
        self.action = action
        sqs = stack.client("sqs")
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.receives: Counter[str] = Counter()
        self._lock = threading.Lock()

    def send(self, bodies: list[dict[str, Any]]) -> None:
        sqs = self.stack.client("sqs")
        for start in range(0, len(bodies), 10):
            entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies[start : start + 10])]
            sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def _empty(self, sqs: Any) -> bool:
        attrs = sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"

    def work(self, container: control.Container) -> None:
        sqs = self.stack.client("sqs")
        while True:
            got = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
            )
            messages = got.get("Messages", [])
            if not messages:
                if self._empty(sqs):
                    return
                time.sleep(0.05)
                continue
            with self._lock:
                self.receives.update(m["MessageId"] for m in messages)
            event = {"Records": [to_lambda_record(m, self.queue_arn) for m in messages]}
            answer = control.handle_event(event, FakeContext(), self.action, container.settings, container=container)
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            for m in messages:
                if m["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                    )
                else:
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def drain(self, containers: list[control.Container], timeout: float = 240) -> None:
        threads = [threading.Thread(target=self.work, args=(c,), daemon=True) for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=timeout)
            assert not t.is_alive(), "drain did not finish"


def dlq_bodies(stack: Any, dlq_url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            return out
        for m in got["Messages"]:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])


def max_in_any_second(times: list[float]) -> int:
    """The most calls in any window (t - 1 s, t], the emulator's own rule."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


# ---------------------------------------------------------------------------------------------------------


def test_transient_failure_reaches_the_dlq_after_5_receives_with_its_reason(stack, emu):
    emu.add_task("pull_record", "flaky")
    emu.faults({"kinds": ["http_500"], "rate": 1.0, "actions": ["StopPullRecordTask"]})
    queue, dlq = stack.action_queue("StopPullRecordQueue", max_receive_count=5)
    poller = Poller(stack, queue, "StopPullRecordTask")
    poller.send([{"action": "StopPullRecordTask", "params": {"TaskId": "flaky"}, "id": "flaky-1"}])

    poller.drain([control.Container(stack.settings, policy=FAST)])

    assert list(poller.receives.values()) == [5]
    assert dlq_bodies(stack, dlq) == [{"action": "StopPullRecordTask", "params": {"TaskId": "flaky"}, "id": "flaky-1"}]
    calls = emu.calls()
    # 3 attempts on the first receive, 1 on each later one (the queue's redelivery delay is the backoff), never more
    assert len(calls) == FAST.attempts + 4
    assert {c["error_code"] for c in calls} == {"InternalError"}
    state = stack.ledger().get_state("volcengine", "flaky")
    assert state["last_error_code"] == "InternalError"
    assert state["last_error_reason"]
    assert state["receive_count"] == 5
    assert state["last_outcome"] == "retrying"
    assert stack.events() == []  # no outcome yet: the DLQ (and its alarm) owns it now


def test_a_transient_failure_that_clears_is_applied_once(stack, emu):
    emu.add_task("pull_record", "blip")
    emu.faults({"kinds": ["http_502"], "rate": 1.0, "count": 4, "actions": ["StopPullRecordTask"]})
    queue, dlq = stack.action_queue("StopPullRecordQueue")
    poller = Poller(stack, queue, "StopPullRecordTask")
    poller.send([{"action": "StopPullRecordTask", "params": {"TaskId": "blip"}}])
    poller.drain([control.Container(stack.settings, policy=FAST)])
    # 3 failed attempts on the first receive; the second makes 1 attempt (the 4th fault); the third succeeds
    assert list(poller.receives.values()) == [3]
    assert dlq_bodies(stack, dlq) == []
    assert stack.ledger().get_state("volcengine", "blip")["state"] == "stopped"
    assert "last_error_code" not in stack.ledger().get_state("volcengine", "blip")


def drain_trtc(stack: Any, emu: Any, n: int, containers: int, limiter_concurrency: int) -> list[dict[str, Any]]:
    for i in range(n):
        emu.add_task("cloud_recording", f"q-{i}")
    queue, _ = stack.action_queue("DeleteCloudRecordingQueue")
    poller = Poller(stack, queue, "DeleteCloudRecording")
    poller.send([{"action": "DeleteCloudRecording", "params": {**TRTC_PARAMS, "TaskId": f"q-{i}"}} for i in range(n)])
    # window_margin 0.1: the emulator stamps an arrival when its thread, in this same process, next runs; on a
    # loaded CI machine that lags the grant by more than the shipped 20 ms. The split (floor(QPS / C) per
    # container) is what this checks; the margin's worth in the field is the bench's question (BENCHMARKS.md).
    settings = dataclasses.replace(stack.settings, max_concurrency=limiter_concurrency, window_margin=0.1)
    # one Container per simulated Lambda container: each has its own limiter
    poller.drain([control.Container(settings) for _ in range(containers)])
    return emu.calls("DeleteCloudRecording")


def test_200_commands_at_maximum_concurrency_cause_no_throttling(stack, emu):
    calls = drain_trtc(stack, emu, 200, containers=2, limiter_concurrency=2)
    ours = [c for c in calls if c["error_code"] in THROTTLE_CODES and c["fault"] is None]
    peak = max_in_any_second([c["time"] for c in calls])
    print(f"calls={len(calls)} throttled_by_livectl={len(ours)} max_calls_in_any_second={peak}")
    assert ours == []
    assert len(calls) == 200
    assert peak <= 20
    assert all(t["status"] == "Exited" for t in emu.tasks("cloud_recording"))


def test_the_qps_check_can_fail_when_the_split_is_wrong(stack, emu):
    """Control: containers that each believe they are alone (MAX_CONCURRENCY=1) overrun the provider's window
    (GetPullRecordTask: 10/s; three containers at 9.5/s each)."""
    for i in range(60):
        emu.add_task("pull_record", f"g-{i}")
    queue, _ = stack.action_queue("GetPullRecordQueue")
    poller = Poller(stack, queue, "GetPullRecordTask")
    poller.send([{"action": "GetPullRecordTask", "params": {"TaskID": f"g-{i}"}} for i in range(60)])
    alone = dataclasses.replace(stack.settings, max_concurrency=1)
    poller.drain([control.Container(alone, policy=FAST) for _ in range(3)])
    ours = [c for c in emu.calls("GetPullRecordTask") if c["error_code"] in THROTTLE_CODES and c["fault"] is None]
    assert ours, "three containers at 9.5/s each should overrun a 10/s window"


def run_with_faults(stack: Any, emu: Any, n: int, timeout: float = 240) -> tuple[int, int, int]:
    """n stop commands, 30 % of provider calls failing (5xx, throttling, dropped connections)."""
    for i in range(n):
        emu.add_task("pull_record", f"f-{i}")
    emu.faults(
        {
            "rules": [
                {
                    "kinds": ["http_500", "http_502", "http_504", "internal_error", "throttle", "drop", "common_err"],
                    "rate": 0.3,
                    "actions": ["StopPullRecordTask"],
                }
            ],
            "seed": 7,
        }
    )
    queue, dlq = stack.action_queue("StopPullRecordQueue")
    poller = Poller(stack, queue, "StopPullRecordTask")
    poller.send([{"action": "StopPullRecordTask", "params": {"TaskId": f"f-{i}"}} for i in range(n)])
    poller.drain([control.Container(stack.settings, policy=FAST) for _ in range(2)], timeout=timeout)
    in_dlq = {b["params"]["TaskId"] for b in dlq_bodies(stack, dlq)}
    ledger = stack.ledger()
    stopped = {f"f-{i}" for i in range(n) if (ledger.get_state("volcengine", f"f-{i}") or {}).get("state") == "stopped"}
    for task_id in in_dlq:
        assert ledger.get_state("volcengine", task_id)["last_error_reason"]
    assert stopped | in_dlq == {f"f-{i}" for i in range(n)}, "a command was lost"
    assert all(emu.task("pull_record", t)["status"] == "停用" for t in stopped)
    return len(stopped), len(in_dlq), len(emu.calls())


def test_30_percent_faults_200_commands_reach_the_desired_state_or_the_dlq(stack, emu):
    stopped, in_dlq, calls = run_with_faults(stack, emu, 200)
    print(f"stopped={stopped} dlq={in_dlq} provider_calls_per_command={calls / 200:.3f}")
    assert stopped + in_dlq == 200
    assert calls / 200 <= 1.6


@pytest.mark.slow
@pytest.mark.timeout(1500)  # a safety net matching the drain's own: on a loaded 2-CPU machine it ran ~300 s
def test_30_percent_faults_1000_commands(stack, emu):
    stopped, in_dlq, calls = run_with_faults(stack, emu, 1000, timeout=1500)
    print(f"stopped={stopped} dlq={in_dlq} provider_calls_per_command={calls / 1000:.3f}")
    assert stopped + in_dlq == 1000
    assert calls / 1000 <= 1.6


# ---------------------------------------------------------------------------------------------------------


def test_no_key_material_in_any_log(stack, emu, monkeypatch, capsys, caplog):
    """Run every action, a rejection, a permanent and a transient failure, a foreign account; capture every
    log line (Powertools JSON on stdout, Python logging, EMF) and look for the secrets."""
    caplog.set_level(logging.INFO)
    buffer = io.StringIO()
    for name in ("livectl", "aws_lambda_powertools"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                monkeypatch.setattr(handler, "stream", buffer)
    apps = {}
    for action, module in FUNCTIONS.items():
        apps[action] = importlib.import_module(f"functions.{module}.app")
        monkeypatch.setattr(apps[action], "SETTINGS", stack.settings)
    emu.add_task("pull_record", "log-rec")
    emu.add_task("pull_to_push", "log-relay", status="停用")
    emu.add_task("cloud_recording", "log-crec")
    emu.add_task("cdn_publish", "log-cdn")
    context = FakeContext()
    get = {"action": "GetPullRecordTask", "params": {"TaskID": "log-rec"}}
    apps["GetPullRecordTask"].handler(sqs_event(get), context)
    apps["StopPullRecordTask"].handler(
        sqs_event(
            {"action": "StopPullRecordTask", "params": {"TaskId": "log-rec"}},
            {"action": "StopPullRecordTask", "params": {"TaskId": "unknown"}},
            {"action": "StopPullRecordTask", "params": {"TaskId": "log-rec"}, "account": "second"},
            "{broken",
        ),
        context,
    )
    restart = {"action": "RestartPullToPushTask", "params": {"TaskId": "log-relay"}}
    apps["RestartPullToPushTask"].handler(restart, context)
    apps["DeleteCloudRecording"].handler(
        sqs_event({"action": "DeleteCloudRecording", "params": {**TRTC_PARAMS, "TaskId": "log-crec"}}), context
    )
    emu.faults({"kinds": ["http_500"], "rate": 1.0, "actions": ["StopPublishCdnStream"]})
    failed = apps["StopPublishCdnStream"].handler(
        sqs_event({"action": "StopPublishCdnStream", "params": {**TRTC_PARAMS, "TaskId": "log-cdn"}}), context
    )
    assert len(failed["batchItemFailures"]) == 1

    captured = capsys.readouterr()
    text = "\n".join([captured.out, captured.err, caplog.text, buffer.getvalue()])
    assert "command applied" in text and "command rejected" in text and "handed back" in text  # we did log
    assert '"_aws"' in text  # and the metrics went out
    for secret in (DEMO_SECRET, TEST_SECRET):
        assert text.count(secret) == 0
    stored = json.dumps(stack.client("dynamodb").scan(TableName=stack.settings.ledger_table)["Items"])
    published = json.dumps(stack.events())
    for secret in (DEMO_SECRET, TEST_SECRET):
        assert secret not in stored and secret not in published
