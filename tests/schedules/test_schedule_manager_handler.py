"""functions/schedule_manager/app.py with its sample events: SQS batches and direct invocations, against moto."""

from __future__ import annotations

import copy
import importlib.util
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from livectl.schedules.scheduler import schedule_name
from tests.schedules.conftest import sample

pytestmark = pytest.mark.aws

APP = Path(__file__).resolve().parents[2] / "functions" / "schedule_manager" / "app.py"


@dataclass
class LambdaContext:
    function_name: str = "ScheduleManagerFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:ap-southeast-1:123456789012:function:ScheduleManagerFunction"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


@pytest.fixture
def app(moto_stack, monkeypatch):
    for key, value in moto_stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "livectl")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "livectl")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    spec = importlib.util.spec_from_file_location("schedule_manager_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sqs_batch_schedules_and_cancels(app, moto_stack):
    event = sample("schedule_manager.sqs.json")
    answer = app.handler(event, LambdaContext())
    assert answer == {"batchItemFailures": []}
    names = sorted(s["Name"] for s in moto_stack.schedules())
    assert names == sorted(
        [
            schedule_name("StopPullRecordTask", "default", "sample-rec-1"),
            schedule_name("DeleteCloudRecording", "default", "sample-cloudrec-1"),
        ]
    )
    assert sorted(e["detail-type"] for e in moto_stack.events()) == [
        "Stop Cancelled",
        "Stop Scheduled",
        "Stop Scheduled",
    ]


def test_direct_invocations_return_the_result(app, moto_stack):
    created = app.handler(sample("schedule_manager.after.json"), LambdaContext())
    assert created["status"] == "created"
    listed = app.handler(sample("schedule_manager.list.json"), LambdaContext())
    assert [r["name"] for r in listed["schedules"]] == [created["schedule"]]
    # the sample `at` (18:00 +08:00 on 2026-11-21) resolves against the real clock: scheduled or refused as past
    at_result = app.handler(sample("schedule_manager.at.json"), LambdaContext())
    assert at_result["status"] in {"created", "rejected"}
    if at_result["status"] == "rejected":
        assert at_result["field"] == "at"
    cancelled = app.handler(sample("schedule_manager.cancel.json"), LambdaContext())
    assert cancelled["status"] == ("cancelled" if at_result["status"] == "created" else "not_scheduled")


def test_aws_failure_reports_the_failed_records_for_redelivery(app, moto_stack):
    moto_stack.scheduler.delete_schedule_group(Name=moto_stack.env["SCHEDULE_GROUP"])
    event = sample("schedule_manager.sqs.json")
    answer = app.handler(event, LambdaContext())
    # the two schedule requests fail and are reported; cancelling in a missing group finds nothing to cancel
    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(
        r["messageId"] for r in event["Records"] if "cancel" not in json.loads(r["body"])
    )


def test_invalid_record_is_acknowledged_not_retried(app, moto_stack):
    event = sample("schedule_manager.sqs.json")
    event["Records"][0]["body"] = json.dumps({"action": "GetPullRecordTask", "params": {"TaskID": "x"}, "after": "1h"})
    answer = app.handler(event, LambdaContext())
    assert answer == {"batchItemFailures": []}
    assert len(moto_stack.schedules()) == 1
    assert "Command Rejected" in [e["detail-type"] for e in moto_stack.events()]


def test_overlapping_invocations_each_answer_with_exactly_their_own_failures(app, moto_stack, monkeypatch):
    """Issue 10 item 6: the local stack runs invocations in threads. A BatchProcessor shared between two overlapping
    batches crossed their results (`deleted 0, kept 10`, then valid requests applied twice). Each batch here
    holds one crashing record; a barrier inside the record handler makes the two batches overlap for sure."""
    barrier = threading.Barrier(2, timeout=30)
    service = app.service()
    real_apply = service.apply

    def apply(body, message_id=None, receive_count=None):
        task_id = json.loads(body)["params"]["TaskId"]
        if task_id.startswith("wait"):
            barrier.wait()  # both invocations are inside their batch now
        if task_id.startswith("crash"):
            raise RuntimeError(f"a bug meets {task_id}")
        return real_apply(body, message_id, receive_count)

    monkeypatch.setattr(service, "apply", apply)

    def batch(name, size):
        tasks = [f"wait-{name}", f"crash-{name}", *(f"ok-{name}-{i}" for i in range(size - 2))]
        bodies = [json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": t}, "after": "1h"}) for t in tasks]
        return {"Records": [sqs_record(b, f"{name}-{i}") for i, b in enumerate(bodies)]}

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(app.handler, batch("a", 10), LambdaContext(aws_request_id="req-a"))
        second = pool.submit(app.handler, batch("b", 4), LambdaContext(aws_request_id="req-b"))
        answers = first.result(timeout=60), second.result(timeout=60)

    assert answers == (
        {"batchItemFailures": [{"itemIdentifier": "a-1"}]},
        {"batchItemFailures": [{"itemIdentifier": "b-1"}]},
    )
    assert len(moto_stack.schedules()) == (10 - 1) + (4 - 1)  # every valid request of both batches, once


def test_a_copy_that_meets_another_copy_publishing_is_handed_back_with_no_error(
    app, moto_stack, monkeypatch, capsys, caplog
):
    """Two copies of one request race: the ledger hands the second back (`PublishInProgress`) while the first
    publishes. That is not a failure: the record goes back to the queue, counted `Schedule_handed_back`, logged at
    INFO, with no `error` item under REJECTED#<day> (`livectl status` would show it) and no `Schedule_error`."""
    from livectl.errors import AwsServiceError
    from livectl.store.ledger import PUBLISH_IN_PROGRESS

    service = app.service()

    def another_copy_publishing(*args, **kwargs):
        raise AwsServiceError("another copy is publishing", code=PUBLISH_IN_PROGRESS, provider="aws")

    monkeypatch.setattr(service.deps.ledger, "record_and_publish", another_copy_publishing)
    body = json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": "copy-1"}, "after": "1h"})
    answer = app.handler({"Records": [sqs_record(body, "copy-1")]}, LambdaContext())

    assert answer == {"batchItemFailures": [{"itemIdentifier": "copy-1"}]}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = {name for doc in lines if "_aws" in doc for name in doc if name.startswith("Schedule_")}
    # (the Logger's JSON lines go to the stream it was made with; its records are read from caplog)
    assert metrics == {"Schedule_handed_back"}
    [logged] = [r for r in caplog.records if "handed back" in r.getMessage()]
    assert logged.levelname == "INFO" and logged.message_id == "copy-1"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    items = moto_stack.dynamodb.scan(TableName=moto_stack.env["LEDGER_TABLE"])["Items"]
    assert not [item for item in items if item.get("outcome", {}).get("S") == "error"]


def sqs_record(body: str, message_id: str) -> dict:
    record = copy.deepcopy(sample("schedule_manager.sqs.json")["Records"][0])
    record.update(messageId=message_id, body=body)
    return record
