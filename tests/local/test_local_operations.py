"""`livectl status` and `livectl dlq` against the local stack: the same reads as deployed (SQS, CloudWatch fed by
the stack, the schedule group, the ledger), and a redrive that ends in exactly one provider call per command."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from livectl_cli.local.stack import LocalStack
from livectl_cli.main import main
from tests.local.conftest import cli, wait_for

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def stack_config() -> dict[str, Any]:
    return {"queue_metrics_interval": 0.5}  # `livectl status` reads queue metrics put this often


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(cli(capsys, "status", "--json"))
    return doc


def row(doc: dict[str, Any], action: str) -> dict[str, Any]:
    return next(r for r in doc["actions"] if r["action"] == action)


def successful_calls(stack: LocalStack, action: str, task_id: str, since: int = 0) -> list[dict[str, Any]]:
    return [
        c
        for c in stack.emulator.calls(action, since=since)
        if c.get("task_id") == task_id and c.get("http_status") == 200 and not c.get("error_code")
    ]


def drained(stack: LocalStack, *urls: str) -> bool:
    sqs = boto3.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if any(int(attributes[n]) for n in names):
            return False
    return True


def test_status_shows_applied_commands_lateness_due_stops_and_webhook_counts(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.emulator.add_task("pull_record", "ops-stop", status="生效中")
    cli(capsys, "send", "StopPullRecordTask", "--params", '{"TaskId": "ops-stop"}')
    cli(capsys, "schedule-stop", "StopPullRecordTask", "--params", '{"TaskId": "ops-later"}', "--after", "30m")
    forged = stack.webhook_url
    import urllib.error
    import urllib.request

    request = urllib.request.Request(forged, data=b'{"EventGroupId": 3}', headers={"Sign": "bad"}, method="POST")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)

    def seen() -> dict[str, Any] | None:
        doc = status(capsys)
        stop = row(doc, "StopPullRecordTask")
        ready = stop["counts"]["CommandsApplied"] >= 1 and doc["webhook"]["CallbackRejected"] >= 1
        return doc if ready and stop["worst_lateness_ms"] is not None else None

    doc = wait_for(seen)
    stop = row(doc, "StopPullRecordTask")
    assert stop["queued"] == 0 and stop["dlq"] == 0
    assert 0 <= stop["worst_lateness_ms"] < 60_000
    assert doc["webhook"]["rejected_by_reason"] == {"sdk_app_id": 1.0}  # no SdkAppId header: refused first
    assert any(s["params"] == {"TaskId": "ops-later"} for s in doc["auto_stops_due"])
    screen = cli(capsys, "status")
    assert "StopPullRecordTask" in screen and "auto-stops due in the next hour: 1" in screen
    assert "webhook, last hour: accepted" in screen


def test_dlq_lists_the_ledgers_reason_and_a_redrive_calls_the_provider_once_per_command(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = ["ops-dlq-a", "ops-dlq-b"]
    for task in tasks:
        stack.emulator.add_task("pull_record", task, status="生效中")
    queue, dlq = stack.outputs["StopPullRecordQueueUrl"], stack.outputs["StopPullRecordDLQUrl"]
    stack.emulator.set_faults({"kinds": ["http_500"], "actions": ["StopPullRecordTask"]})
    try:
        for task in tasks:
            cli(capsys, "send", "StopPullRecordTask", "--params", json.dumps({"TaskId": task}))

        def dead() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = json.loads(cli(capsys, "dlq", "StopPullRecordTask", "--json"))
            return listed if len(listed) == len(tasks) else []

        listed = wait_for(dead, timeout=120)
    finally:
        stack.emulator.set_faults([])
    assert sorted(x["task_id"] for x in listed) == tasks
    assert stack.template is not None
    max_receives = int(stack.template.properties("StopPullRecordQueue")["RedrivePolicy"]["maxReceiveCount"])
    for letter in listed:
        assert letter["error_code"] and letter["reason"], letter  # from the ledger's FAILED#<day> items
        assert letter["receive_count"] == max_receives  # the last receive that failed
    screen = cli(capsys, "dlq", "StopPullRecordTask")
    assert "2 dead-lettered StopPullRecordTask commands" in screen

    mark = max((c["seq"] for c in stack.emulator.calls()), default=0)
    said = cli(capsys, "dlq", "StopPullRecordTask", "--redrive")
    assert "one by one" in said and "sent 2 message(s) back" in said
    wait_for(lambda: all(successful_calls(stack, "StopPullRecordTask", t, mark) for t in tasks))
    wait_for(lambda: drained(stack, queue, dlq))
    for task in tasks:
        assert len(successful_calls(stack, "StopPullRecordTask", task, mark)) == 1, task

    # Another copy of a command that already took effect, dead-lettered and redriven: answered from its
    # idempotency record, no second provider call.
    mark = max(c["seq"] for c in stack.emulator.calls())
    body = json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": tasks[0]}})
    boto3.client("sqs").send_message(QueueUrl=dlq, MessageBody=body)
    said = cli(capsys, "dlq", "StopPullRecordTask", "--redrive")
    assert "sent 1 message(s) back" in said
    wait_for(lambda: drained(stack, queue, dlq))
    time.sleep(0.5)  # the poller deletes after the invocation returns: nothing may call later either
    assert stack.emulator.calls("StopPullRecordTask", since=mark) == []


def test_redrive_of_chosen_ids_leaves_the_others(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    dlq = stack.outputs["GetPullRecordDLQUrl"]
    sqs = boto3.client("sqs")
    ids = [
        sqs.send_message(
            QueueUrl=dlq, MessageBody=json.dumps({"action": "GetPullRecordTask", "params": {"TaskID": f"ops-id-{i}"}})
        )["MessageId"]
        for i in range(2)
    ]
    for task in ("ops-id-0", "ops-id-1"):
        stack.emulator.add_task("pull_record", task, status="生效中")
    said = cli(capsys, "dlq", "GetPullRecordTask", "--redrive", "--id", ids[0])
    assert "sent 1 message(s) back" in said and ids[0] in said
    left = json.loads(cli(capsys, "dlq", "GetPullRecordTask", "--json"))
    assert [x["message_id"] for x in left] == [ids[1]]
    assert main(["dlq", "GetPullRecordTask", "--redrive", "--id", "nope"]) == 2
    assert "not in the GetPullRecordTask DLQ: nope" in capsys.readouterr().err
