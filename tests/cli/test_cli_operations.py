"""`livectl status` / `dlq` / `events` / `task` pieces that need no stack: lateness shown, gauges read at their
newest minute, hostile ledger text escaped on the status screen, a Lambda failure record unwrapped."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livectl_cli.commands.dlq import _interpret
from livectl_cli.commands.events import event_line
from livectl_cli.commands.status import ActionRow, MetricQuery, Status, read_metrics, render
from livectl_cli.commands.task import history_line
from livectl_cli.common import UNPRINTABLE, emit, lateness_text

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(("ms", "text"), [(850, "850ms"), (2400, "2.4s"), (185_000, "3m05s")])
def test_lateness_reads_like_a_duration(ms: float, text: str) -> None:
    assert lateness_text(ms) == text


def test_events_and_task_history_show_how_late_a_stop_was() -> None:
    detail = {"action": "StopPullRecordTask", "task_id": "t1", "outcome": "done", "lateness_ms": 1500}
    assert "late=1.5s" in event_line({"detail-type": "Task Stopped", "time": "2026-11-21T18:00:01Z", "detail": detail})
    item = {"sk": "CMD#2026-11-21T18:00:01+00:00#k", "action": "StopPullRecordTask", "outcome": "done"}
    assert "late=" not in history_line(item)
    line = history_line({**item, "lateness_ms": 1500, "late_from": "scheduled_at"})
    assert "late=1.5s (from scheduled_at)" in line


class FakeCloudWatch:
    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.results = results

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        return {"MetricDataResults": self.results}


def test_sums_fold_the_window_and_a_gauge_keeps_its_newest_minute() -> None:
    t0, t1 = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
    cloudwatch = FakeCloudWatch(
        [
            {"Id": "n", "Values": [3.0, 4.0], "Timestamps": [t1, t0]},
            {"Id": "m", "Values": [3.0, 9.0], "Timestamps": [t1, t0]},
            {"Id": "g", "Values": [3.0, 9.0], "Timestamps": [t1, t0]},  # 9 s two minutes ago, 3 s now
        ]
    )
    queries = [
        MetricQuery("n", "ns", "CommandsApplied", (), "Sum"),
        MetricQuery("m", "ns", "StopLateness", (), "Maximum"),
        MetricQuery("g", "AWS/SQS", "ApproximateAgeOfOldestMessage", (), "Maximum", latest=True),
    ]
    assert read_metrics(cloudwatch, queries, NOW - timedelta(hours=1), NOW) == {"n": 7.0, "m": 9.0, "g": 3.0}


def test_the_status_screen_escapes_what_the_ledger_and_schedules_hold() -> None:
    hostile = "t\x1b[2J\u202e-1"
    status = Status(
        stack="s (local)",
        at=NOW,
        rows=[ActionRow("StopPullRecordTask", 0, 0, 0, None, {"CommandsApplied": 1.0}, 1500.0)],
        other_dlqs={"schedule requests": 0},
        due=[
            {
                "at": (NOW + timedelta(minutes=5)).isoformat(),
                "action": "StopPullRecordTask",
                "params": {"TaskId": hostile},
            }
        ],
        failures=[{"at": NOW.isoformat(), "action": "StopPullRecordTask", "task_id": hostile, "reason": hostile}],
        webhook={"CallbackAccepted": 1.0, "CallbackDuplicate": 0.0, "CallbackRejected": 2.0},
        rejected_by_reason={"bad_sign": 2.0},
    )
    out = io.StringIO()
    emit(*render(status), file=out)
    screen = out.getvalue()
    assert not UNPRINTABLE.search(screen.replace("\n", ""))
    assert "t\\u001b[2J\\u202e-1" in screen
    assert "rejected 2 (bad_sign 2)" in screen and "1.5s" in screen


def test_a_lambda_failure_record_is_shown_with_its_error_and_redriven_as_the_command() -> None:
    command = {"action": "StopPullRecordTask", "params": {"TaskId": "t-direct"}}
    record = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": command,
        "responsePayload": {"errorType": "TransientProviderError", "errorMessage": "provider said 500"},
    }
    letter = _interpret(
        {"MessageId": "m1", "ReceiptHandle": "r", "Body": json.dumps(record), "Attributes": {"SentTimestamp": "0"}}
    )
    assert letter.wrapped and letter.command == command and letter.task_id == "t-direct"
    assert (letter.error_code, letter.reason) == ("TransientProviderError", "provider said 500")
