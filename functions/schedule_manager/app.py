"""Schedule manager: create, move, cancel and list one-time auto-stops.

Triggered by the ScheduleRequestQueue (SQS batch, partial failures) or invoked directly (e.g. `{"list": true}`),
in which case the result is returned. The logic lives in `livectl.schedule_manager`.
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

from livectl.schedule_manager import ScheduleDeps, handle_schedule_request

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
DEPS = ScheduleDeps.from_env(os.environ)


def apply(request: Any) -> dict[str, Any]:
    result = handle_schedule_request(request, DEPS, datetime.now(UTC))
    metrics.add_metric(name=f"Schedule_{result['status']}", unit=MetricUnit.Count, value=1)
    logger.info("schedule request", extra={k: result.get(k) for k in ("status", "action", "task_id", "schedule", "at")})
    return result


def record_handler(record: SQSRecord) -> dict[str, Any]:
    return apply(record.body)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> Mapping[str, object]:
    if isinstance(event, dict) and "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return apply(event)
