"""The local stack's handling of what handlers write: EMF documents kept out of stdout, failure reasons of
batch records collected per thread, and `.livectl-local.json` kept out of git."""

from __future__ import annotations

import io
import subprocess
import threading
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from livectl.errors import TransientProviderError
from livectl_cli.local.handler_output import MetricDocumentFilter, failure_reasons, summary
from livectl_cli.targets import STATE_FILE

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_metric_documents_are_dropped_and_everything_else_passes() -> None:
    sink = io.StringIO()
    out = MetricDocumentFilter(sink)  # type: ignore[arg-type]
    print('{"_aws": {"CloudWatchMetrics": []}, "Count": [1.0]}', file=out)
    print("12:00:00.000 StopPullRecordFunction ← sqs ...: ok", file=out)
    print('{"level": "ERROR", "message": "callback not recorded"}', file=out)
    out.write('{"_aws": {}}\n')
    print("last", file=out)
    assert sink.getvalue() == (
        "12:00:00.000 StopPullRecordFunction ← sqs ...: ok\n"
        '{"level": "ERROR", "message": "callback not recorded"}\n'
        "last\n"
    )


def sqs_batch(*bodies: str) -> dict[str, object]:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": "h", "body": b, "attributes": {}, "eventSource": "aws:sqs"}
            for i, b in enumerate(bodies)
        ]
    }


def record_handler(record: object) -> None:
    body = getattr(record, "body", "")
    if body == "throttled":
        raise TransientProviderError("slow down", code="Throttling")
    if body == "bug":
        raise KeyError("x")


def test_failure_reasons_are_the_codes_of_this_threads_failed_records() -> None:
    reasons = failure_reasons()
    other: list[str] = []

    def elsewhere() -> None:  # another invocation on another thread, at the same time
        with reasons.collect() as mine:
            process_partial_response(
                event=sqs_batch("bug"),
                record_handler=record_handler,
                processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
            )
        other.extend(mine)

    with reasons.collect() as collected:
        thread = threading.Thread(target=elsewhere)
        thread.start()
        process_partial_response(
            event=sqs_batch("ok", "throttled", "bug", "throttled"),
            record_handler=record_handler,
            processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        )
        thread.join()
    assert sorted(collected) == ["KeyError", "Throttling", "Throttling"]
    assert other == ["KeyError"]
    assert summary(collected) == "Throttling ×2, KeyError"


def test_the_local_state_file_is_ignored_by_git() -> None:
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", STATE_FILE], cwd=ROOT, check=False, capture_output=True
    )
    assert checked.returncode == 0, f"{STATE_FILE} is not in .gitignore"
