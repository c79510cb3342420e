"""Lambda's delete/keep rules for SQS batches, the SQS event shape, and the scheduler clock's time rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from livectl_cli.local.clock import due_time, render_input
from livectl_cli.local.poller import records_to_delete, sqs_event

pytestmark = pytest.mark.unit

IDS = ["m1", "m2", "m3"]


def test_function_error_keeps_the_whole_batch() -> None:
    assert records_to_delete(IDS, False, None, True) == set()
    assert records_to_delete(IDS, False, None, False) == set()


def test_without_report_batch_item_failures_the_return_value_is_ignored() -> None:
    answer = {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert records_to_delete(IDS, True, answer, False) == set(IDS)


def test_partial_failures_keep_exactly_the_reported_records() -> None:
    answer = {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}
    assert records_to_delete(IDS, True, answer, True) == {"m2"}


@pytest.mark.parametrize("answer", [None, {}, {"batchItemFailures": []}, "ok"])
def test_no_reported_failures_deletes_everything(answer: object) -> None:
    assert records_to_delete(IDS, True, answer, True) == set(IDS)


@pytest.mark.parametrize(
    "failures",
    [[{"itemIdentifier": "unknown"}], [{"itemIdentifier": ""}], [{}], "m1"],
)
def test_a_malformed_failure_report_fails_the_whole_batch(failures: object) -> None:
    assert records_to_delete(IDS, True, {"batchItemFailures": failures}, True) == set()


def test_sqs_event_has_the_lambda_record_shape() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "3"},
        "MessageAttributes": {"a": {"StringValue": "v", "DataType": "String"}},
    }
    (record,) = sqs_event([message], "arn:aws:sqs:r:1:q", "r")["Records"]
    assert record["messageId"] == "m1" and record["receiptHandle"] == "rh" and record["body"] == "{}"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == "arn:aws:sqs:r:1:q"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["messageAttributes"]["a"]["stringValue"] == "v"


def test_due_time_reads_at_expressions_in_their_zone() -> None:
    assert due_time("at(2026-11-21T18:00:00)", "UTC") == datetime(2026, 11, 21, 18, tzinfo=UTC)
    assert due_time("at(2026-11-21T18:00:00)", "Asia/Shanghai") == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert due_time("rate(5 minutes)", None) is None
    assert due_time("cron(0 12 * * ? *)", "UTC") is None


def test_render_input_fills_scheduler_context_attributes() -> None:
    text = (
        '{"id": "<aws.scheduler.execution-id>", "t": "<aws.scheduler.scheduled-time>", '
        '"n": <aws.scheduler.attempt-number>}'
    )
    out = render_input(text, "arn:s", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "e-1")
    assert out == '{"id": "e-1", "t": "2026-01-02T03:04:05Z", "n": 1}'


# ---- the clock against moto: reads each schedule once per modification, fires each due schedule once ---------------
@pytest.fixture
def scheduler_and_queue(monkeypatch):
    import boto3
    from moto import mock_aws

    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        region = "ap-southeast-1"
        scheduler = boto3.client("scheduler", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        url = sqs.create_queue(QueueName="target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        scheduler.create_schedule_group(Name="g")
        gets: list[str] = []
        scheduler.meta.events.register(
            "before-parameter-build.scheduler.GetSchedule", lambda params, **_: gets.append(params["Name"])
        )
        yield scheduler, sqs, url, arn, gets


def _schedule(scheduler, arn: str, name: str, at: str) -> None:
    scheduler.create_schedule(
        Name=name,
        GroupName="g",
        ScheduleExpression=f"at({at})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": f'{{"n": "{name}"}}'},
        ActionAfterCompletion="DELETE",
    )


def test_clock_reads_a_future_schedule_once_not_on_every_tick(scheduler_and_queue) -> None:
    from livectl_cli.local.clock import SchedulerClock

    scheduler, sqs, url, arn, gets = scheduler_and_queue
    for i in range(5):
        _schedule(scheduler, arn, f"s{i}", "2030-01-01T00:00:00")
    clock = SchedulerClock(
        scheduler, sqs, ["g"], queue_url_for_arn=lambda a: url, now=lambda: datetime(2029, 1, 1, tzinfo=UTC)
    )
    assert clock.tick() == 0 and clock.tick() == 0 and clock.tick() == 0
    assert sorted(gets) == [f"s{i}" for i in range(5)]  # five reads in all, not five per tick
    scheduler.update_schedule(
        Name="s0",
        GroupName="g",
        ScheduleExpression="at(2029-01-01T00:00:00)",  # moved to now: read again, then due
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": '{"n": "s0"}'},
        ActionAfterCompletion="DELETE",
    )
    assert clock.tick() == 1
    assert gets.count("s0") == 2


def test_clock_fires_every_due_schedule_exactly_once_in_parallel(scheduler_and_queue) -> None:
    from livectl_cli.local.clock import SchedulerClock

    scheduler, sqs, url, arn, _ = scheduler_and_queue
    names = [f"due-{i}" for i in range(30)]
    for name in names:
        _schedule(scheduler, arn, name, "2029-01-01T00:00:00")
    clock = SchedulerClock(
        scheduler, sqs, ["g"], queue_url_for_arn=lambda a: url, now=lambda: datetime(2029, 1, 1, tzinfo=UTC), workers=8
    )
    assert clock.tick() == 30 and clock.tick() == 0
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    assert sorted(bodies) == sorted(f'{{"n": "{n}"}}' for n in names)
    clock.settle()  # ActionAfterCompletion DELETE runs in the background, off the firing path
    assert scheduler.list_schedules(GroupName="g")["Schedules"] == []


def _drain(sqs, url: str) -> list[dict]:
    messages: list[dict] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
    ).get("Messages", []):
        messages += batch
    return messages


def _counting(client, operation: str) -> list[int]:
    """Entries per call of `operation` (1 for a call without entries), noted before each call is sent."""
    calls: list[int] = []
    client.meta.events.register(
        f"before-parameter-build.{client.meta.service_model.endpoint_prefix}.{operation}",
        lambda params, **_: calls.append(len(params.get("Entries", [None]))),
    )
    return calls


@pytest.mark.parametrize("n", [1, 10, 47])
def test_a_burst_of_due_schedules_fires_each_exactly_once_in_batches(scheduler_and_queue, n: int) -> None:
    """Issue 12's burst: N schedules due at the same second reach two queues once each, in SendMessageBatch calls
    of at most 10 (not one SendMessage per schedule), each with its own execution id; later ticks fire nothing."""
    from livectl_cli.local.clock import SchedulerClock

    scheduler, sqs, url, arn, _ = scheduler_and_queue
    other_url = sqs.create_queue(QueueName="other")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(n):
        scheduler.create_schedule(
            Name=f"b{i}",
            GroupName="g",
            ScheduleExpression="at(2029-01-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": (arn, other_arn)[i % 2],
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "Input": f'{{"n": {i}, "id": "<aws.scheduler.execution-id>"}}',
            },
            ActionAfterCompletion="DELETE",
        )
    singles, batches = _counting(sqs, "SendMessage"), _counting(sqs, "SendMessageBatch")
    urls = {arn: url, other_arn: other_url}
    clock = SchedulerClock(
        scheduler, sqs, ["g"], queue_url_for_arn=urls.get, now=lambda: datetime(2029, 1, 1, tzinfo=UTC)
    )
    assert clock.tick() == n
    clock.settle()
    assert clock.tick() == 0 and clock.tick() == 0
    docs = [json.loads(m["Body"]) for u in urls.values() for m in _drain(sqs, u)]
    assert sorted(d["n"] for d in docs) == list(range(n))  # all N, none twice
    assert len({d["id"] for d in docs}) == n
    assert singles == [] and sum(batches) == n and max(batches) <= 10
    assert len(batches) == sum(-(-len(range(q, n, 2)) // 10) for q in (0, 1))  # full batches per queue
    assert scheduler.list_schedules(GroupName="g")["Schedules"] == []
    assert [f["error"] for f in clock.fired] == [None] * n


def _failing_schedule(scheduler, dlq_arn: str, retries: int) -> None:
    scheduler.create_schedule(
        Name="bad",
        GroupName="g",
        ScheduleExpression="at(2029-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:sqs:ap-southeast-1:123456789012:nowhere",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Input": '{"attempt": <aws.scheduler.attempt-number>}',
            "DeadLetterConfig": {"Arn": dlq_arn},
            "RetryPolicy": {"MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": 3600},
        },
        ActionAfterCompletion="DELETE",
    )


@pytest.mark.parametrize("retries", [0, 2])
def test_an_undeliverable_schedule_is_retried_per_its_policy_then_dead_lettered_once(
    scheduler_and_queue, retries: int
) -> None:
    """Attempts 1..retries+1 on successive ticks (after the backoff), the attempt number in Input; then one DLQ
    message with Scheduler's attributes, the schedule deleted and never fired again."""
    from datetime import timedelta

    from livectl_cli.local.clock import SchedulerClock

    scheduler, sqs, dlq_url, dlq_arn, _ = scheduler_and_queue
    _failing_schedule(scheduler, dlq_arn, retries)
    now = [datetime(2029, 1, 1, tzinfo=UTC)]
    clock = SchedulerClock(scheduler, sqs, ["g"], queue_url_for_arn={dlq_arn: dlq_url}.get, now=lambda: now[0])
    for attempt in range(1, retries + 2):
        assert clock.tick() == 1, attempt
        if attempt <= retries:
            assert clock.tick() == 0  # backing off
            assert _drain(sqs, dlq_url) == []
            now[0] += timedelta(seconds=2**attempt)
    clock.settle()
    assert clock.tick() == 0
    (message,) = _drain(sqs, dlq_url)
    assert json.loads(message["Body"]) == {"attempt": retries + 1}
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "DeliveryFailed" and "no local queue" in attributes["ERROR_MESSAGE"]
    assert attributes["TARGET_ARN"].endswith(":nowhere") and attributes["SCHEDULE_ARN"].endswith("/bad")
    assert [f["attempt"] for f in clock.fired] == list(range(1, retries + 2))
    assert scheduler.list_schedules(GroupName="g")["Schedules"] == []


class _FailingEntries:
    """The real SQS client, except that SendMessageBatch reports the entries named in `fail` as failed (what SQS
    answers for an entry it refuses while accepting the others)."""

    def __init__(self, sqs, fail: set[str]) -> None:
        self.sqs, self.fail = sqs, fail

    def __getattr__(self, name: str):
        return getattr(self.sqs, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        kept = [e for e in Entries if e["Id"] not in self.fail]
        answer = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {"Successful": []}
        failed = [{"Id": i, "SenderFault": True, "Code": "InvalidMessageContents", "Message": "no"} for i in self.fail]
        return {**answer, "Failed": failed}


def test_only_the_refused_entries_of_a_batch_are_retried(scheduler_and_queue) -> None:
    from livectl_cli.local.clock import SchedulerClock

    scheduler, sqs, url, arn, _ = scheduler_and_queue
    for i in range(5):
        _schedule(scheduler, arn, f"p{i}", "2029-01-01T00:00:00")
    clock = SchedulerClock(
        scheduler,
        _FailingEntries(sqs, {"1", "3"}),
        ["g"],
        queue_url_for_arn=lambda a: url,
        now=lambda: datetime(2029, 1, 1, tzinfo=UTC),
    )
    assert clock.tick() == 5
    failed = sorted(f["name"] for f in clock.fired if f["error"])
    assert len(failed) == 2 and all("InvalidMessageContents" in f["error"] for f in clock.fired if f["error"])
    assert len(_drain(sqs, url)) == 3
    clock.settle()
    left = sorted(s["Name"] for s in scheduler.list_schedules(GroupName="g")["Schedules"])
    assert left == failed  # delivered ones deleted; refused ones kept for their next attempt


def test_a_lambda_target_is_invoked_once_and_an_unparsable_input_is_dead_lettered(scheduler_and_queue) -> None:
    """The Lambda branch: a JSON Input reaches the local handler as its event, once; an Input that is not JSON
    cannot be an event: it is dead-lettered (policy spent) instead of failing every tick."""
    import threading
    from types import SimpleNamespace

    from livectl_cli.local.clock import SchedulerClock

    scheduler, sqs, dlq_url, dlq_arn, _ = scheduler_and_queue
    function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:f"
    events: list[object] = []
    invoked = threading.Event()
    function = SimpleNamespace(
        spec=SimpleNamespace(logical_id="F"), invoke=lambda event, source: (events.append(event), invoked.set())
    )
    for name, text in (("good", '{"n": "<aws.scheduler.attempt-number>"}'), ("bad", "not json")):
        scheduler.create_schedule(
            Name=name,
            GroupName="g",
            ScheduleExpression="at(2029-01-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": function_arn,
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "Input": text,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 0},
            },
            ActionAfterCompletion="DELETE",
        )
    clock = SchedulerClock(
        scheduler,
        sqs,
        ["g"],
        queue_url_for_arn={dlq_arn: dlq_url}.get,
        functions_by_arn={function_arn: function},  # type: ignore[dict-item]
        now=lambda: datetime(2029, 1, 1, tzinfo=UTC),
    )
    assert clock.tick() == 2
    assert invoked.wait(10) and events == [{"n": "1"}]
    clock.settle()
    assert clock.tick() == 0
    (message,) = _drain(sqs, dlq_url)
    assert message["Body"] == "not json" and "not JSON" in message["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"]
