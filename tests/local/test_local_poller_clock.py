"""Lambda's delete/keep rules for SQS batches, the SQS event shape, and the scheduler clock's time rules."""

from __future__ import annotations

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
