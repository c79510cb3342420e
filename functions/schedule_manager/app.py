"""Schedule manager: create, move, cancel and list one-time auto-stops.

Triggered by the ScheduleRequestQueue (SQS batch, partial failures) or invoked directly (e.g. `{"list": true}`),
in which case the result is returned. The logic lives in `livectl.schedules.service`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from livectl.schedules.service import ScheduleDeps, handle_schedule_request

logger = Logger()
metrics = Metrics()
GUARD_METRICS = {"armed": "GuardArmed", "disarmed": "GuardDisarmed"}
DEPS = ScheduleDeps.from_env(os.environ)


def apply(request: Any, message_id: str | None = None, receive_count: int | None = None) -> dict[str, Any]:
    try:
        result = handle_schedule_request(
            request, DEPS, datetime.now(UTC), message_id=message_id, receive_count=receive_count
        )
    except Exception:
        # Recorded in the ledger by handle_schedule_request; the traceback is for whoever fixes it.
        metrics.add_metric(name="Schedule_error", unit=MetricUnit.Count, value=1)
        logger.exception("schedule request failed; handed back to the queue", extra={"message_id": message_id})
        raise
    metrics.add_metric(name=f"Schedule_{result['status']}", unit=MetricUnit.Count, value=1)
    if result["status"] in GUARD_METRICS:  # the cost guard's own names (docs/operating.md)
        metrics.add_metric(name=GUARD_METRICS[result["status"]], unit=MetricUnit.Count, value=1)
    logger.info("schedule request", extra={k: result.get(k) for k in ("status", "action", "task_id", "schedule", "at")})
    return result


def record_handler(record: SQSRecord) -> dict[str, Any]:
    return apply(record.body, record.message_id, _receive_count(record))


def _receive_count(record: SQSRecord) -> int | None:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError, AttributeError):
        return None


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> Mapping[str, object]:
    if isinstance(event, dict) and "Records" in event:
        # One processor per invocation: a BatchProcessor keeps the batch's records and results on itself, so two
        # invocations sharing one (the local stack runs them in threads) would answer with each other's failures.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return apply(event)
