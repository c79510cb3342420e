"""An SQS batch with its records in flight together: Powertools' `AsyncBatchProcessor` keeps the bookkeeping (which
record failed, the partial batch response) in the event loop's one thread, and each record's synchronous work
(idempotency, provider call, ledger, event) runs on the container's worker threads, at most `in_flight` at once.

Why this design (measured, docs/DESIGN.md "Throughput"): the work of a record is blocking I/O in boto3 and
requests, which have no async form, so threads do the waiting either way; AsyncBatchProcessor adds ~0.1 ms per
batch and keeps Powertools' success/failure handlers single-threaded, where a thread pool inside
`BatchProcessor` would call them from the workers.

Per record, in its worker thread:
- a copy of the submitting thread's `contextvars` context, so the Logger's `thread_safe_append_keys` (message id,
  action) belong to that record alone and vanish when it ends (pool threads are reused);
- metrics: each record collects its own (`livectl.control.metrics`) and adds them to the invocation's metric
  set under one lock when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from livectl.control.container import Container
from livectl.control.redelivery import redelivery_delay


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def sent_at(record: Any) -> datetime | None:
    """When the message was sent to its queue (SQS SentTimestamp): a stop's lateness counts from it when the
    command carries no `scheduled_at`."""
    try:
        return datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, UTC)
    except (TypeError, ValueError, AttributeError, OverflowError, OSError):
        return None


def receive_count(record: Any) -> int | None:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError, AttributeError):
        return None


def run_batch(
    event: Mapping[str, Any],
    context: Any,
    box: Container,
    process: Callable[..., dict[str, Any]],
    logger: Any,
) -> dict[str, Any]:
    """Run `process(body, message_id=..., receive_count=..., sent_at=...)` for every record, up to `in_flight` at
    once, and return the partial batch response: exactly the records whose `process` raised."""
    from aws_lambda_powertools.logging.exceptions import OrphanedChildLoggerError
    from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    # raise_on_entire_batch_failure=False: a batch whose records all failed transiently (say, a provider
    # outage) is reported record by record like any partial failure. SQS retries exactly the same records
    # either way, but the invocation does not end in an error, so Lambda's Errors metric and alarm stay
    # reserved for real crashes (bugs, timeouts) and our own `CommandsRetried` metric counts the rest.
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    pool = box.pool

    def one(record: SQSRecord) -> dict[str, Any]:
        with contextlib.suppress(OrphanedChildLoggerError):  # no handler Logger (a bare test): nothing to tag
            logger.thread_safe_append_keys(message_id=record.message_id)
        return process(
            record.body, message_id=record.message_id, receive_count=receive_count(record), sent_at=sent_at(record)
        )

    async def record_handler(record: SQSRecord) -> dict[str, Any]:
        scope = contextvars.copy_context()  # the record's own Logger keys, dropped with it
        return await asyncio.get_running_loop().run_in_executor(pool, scope.run, one, record)

    response = async_process_partial_response(
        event=dict(event), record_handler=record_handler, processor=processor, context=context
    )
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    if failed:
        records = [r for r in event["Records"] if r.get("messageId") in failed]
        delay_redelivery(records, box, logger)
    return dict(response)


def queue_url(sqs: Any, queue_arn: str) -> str:
    """The queue's URL from its ARN (arn:aws:sqs:<region>:<account>:<name>) on the client's endpoint: no call."""
    _, _, _, _, account, name = queue_arn.split(":", 5)
    return f"{sqs.meta.endpoint_url}/{account}/{name}"


def delay_redelivery(records: list[Mapping[str, Any]], box: Container, logger: Any) -> None:
    """Hand each failed record back with the redelivery schedule's delay for its receive count (one
    ChangeMessageVisibilityBatch per queue and 10 records). If that call fails, the record comes back after the
    queue's own visibility timeout instead: later than planned, never lost."""
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        count = receive_count_of(record) or 1
        delay = redelivery_delay(count, box.rand, box.settings.redelivery_scale)
        entry = {"Id": str(len(by_queue.get(record["eventSourceARN"], []))), "ReceiptHandle": record["receiptHandle"]}
        by_queue.setdefault(record["eventSourceARN"], []).append({**entry, "VisibilityTimeout": delay})
    for arn, entries in by_queue.items():
        for start in range(0, len(entries), 10):
            try:
                sqs = box.aws_client("sqs")
                answer = sqs.change_message_visibility_batch(
                    QueueUrl=queue_url(sqs, arn), Entries=entries[start : start + 10]
                )
                refused = [item.get("Code") for item in answer.get("Failed", [])]
            except Exception as exc:  # any failure here only means the queue's own delay applies
                refused = [type(exc).__name__]
            if refused:
                logger.warning(
                    "redelivery delay not set; the queue's visibility timeout applies",
                    extra={"failed": len(refused), "codes": sorted({str(c) for c in refused})},
                )


def receive_count_of(record: Mapping[str, Any]) -> int | None:
    try:
        return int(record["attributes"]["ApproximateReceiveCount"])
    except (KeyError, TypeError, ValueError):
        return None
