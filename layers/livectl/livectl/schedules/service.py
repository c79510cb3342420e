"""The schedule manager's service: schedule requests (`livectl.schedules.requests`) and the cost guard's
(`livectl.guard.manager`), from an SQS batch (partial failures) or one direct invocation.

`build_schedule_service(settings, metrics=, logger=)` is the function's whole wiring; the function owns its
Logger and Metrics and passes them in. What each request counts: `Schedule_<status>` (and `GuardArmed` /
`GuardDisarmed`), `Schedule_error` for a request that failed and goes back to the queue, or `Schedule_handed_back`
for a copy handed back while another copy of it publishes (docs/operating.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from livectl import runtime
from livectl.guard.manager import handle_guard_request
from livectl.schedules import requests
from livectl.schedules.requests import ScheduleDeps, ScheduleSettings, split_request

__all__ = [
    "ScheduleDeps",
    "ScheduleService",
    "ScheduleSettings",
    "build_schedule_service",
    "handle_schedule_request",
    "split_request",
]

GUARD_METRICS = {"armed": "GuardArmed", "disarmed": "GuardDisarmed"}


# One request, the cost guard's included: `livectl.schedules.requests.handle_schedule_request` with the guard's
# handler (the guard moves schedules through `requests`, so `requests` cannot import it).
handle_schedule_request = functools.partial(requests.handle_schedule_request, guard=handle_guard_request)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScheduleService:
    """The schedule manager function's service: `handle(event, context)` is the function's whole body."""

    def __init__(self, deps: ScheduleDeps, metrics: Any, logger: Any, now: Callable[[], datetime] = utc_now) -> None:
        self.deps, self.metrics, self.logger, self.now = deps, metrics, logger, now

    def handle(self, event: Any, context: Any) -> Mapping[str, object]:
        if isinstance(event, dict) and "Records" in event:
            from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

            # One processor per invocation: a BatchProcessor keeps the batch's records and results on itself, so
            # two invocations sharing one (the local stack runs them in threads) would answer with each other's
            # failures.
            processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
            return process_partial_response(
                event=event, record_handler=self.record_handler, processor=processor, context=context
            )
        return self.apply(event)

    def record_handler(self, record: Any) -> dict[str, Any]:
        return self.apply(record.body, record.message_id, _receive_count(record))

    def apply(self, request: Any, message_id: str | None = None, receive_count: int | None = None) -> dict[str, Any]:
        try:
            result = handle_schedule_request(
                request, self.deps, self.now(), message_id=message_id, receive_count=receive_count
            )
        except Exception as exc:
            if requests.handed_back(exc):  # a benign race between two copies of one request: no error
                self._count("Schedule_handed_back")
                self.logger.info(
                    "schedule request being published by another copy; handed back", extra={"message_id": message_id}
                )
                raise
            # Recorded in the ledger by handle_schedule_request; the traceback is for whoever fixes it.
            self._count("Schedule_error")
            self.logger.exception("schedule request failed; handed back to the queue", extra={"message_id": message_id})
            raise
        self._count(f"Schedule_{result['status']}")
        if result["status"] in GUARD_METRICS:  # the cost guard's own names (docs/operating.md)
            self._count(GUARD_METRICS[result["status"]])
        shown = {k: result.get(k) for k in ("status", "action", "task_id", "schedule", "at")}
        self.logger.info("schedule request", extra=shown)
        return result

    def _count(self, name: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _receive_count(record: Any) -> int | None:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError, AttributeError):
        return None


def build_schedule_service(settings: ScheduleSettings, *, metrics: Any, logger: Any) -> ScheduleService:
    """The schedule manager's service, built once per process for these settings (`livectl.runtime.service`)."""
    return runtime.service(
        "schedules",
        (settings, metrics, logger),
        lambda: ScheduleService(ScheduleDeps.from_settings(settings), metrics, logger),
    )
