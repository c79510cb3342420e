"""SQS event sources, the way Lambda's event source mapping runs them.

One poller per SQS event source: up to `MaximumConcurrency` concurrent batches, each of at most `BatchSize`
records gathered within `MaximumBatchingWindowInSeconds`. Each of the `MaximumConcurrency` workers is one
simulated Lambda container with state of its own (`livectl.control.container.ContainerSlot`: rate limiter, HTTP session,
boto3 clients, idempotency units), as a deployed fleet has: concurrent batches never share a container, so the
local stack's rate is the fleet's, not 1/C of it. The handler gets a real SQS event; afterwards the
succeeded records are deleted. Failed records stay in flight until the queue's visibility timeout expires
(optionally shortened by `failed_visibility`, for demos and tests), and moto's RedrivePolicy moves a message
to the DLQ on the receive after `maxReceiveCount`.

Each batch's first receive long-polls, as Lambda's pollers do (for 20 s; here `long_poll`, 1 s, so that a stop
waits at most that long): an idle event source costs each worker one receive a second, not five, and a message
sent meanwhile is received at once. Idle, the local stack's 14 workers had cost 0.17 CPU-s per s in its own
process and 0.19 in moto's, beside every drain and burst.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from livectl.control.container import ContainerSlot, use_slot
from livectl_cli.local.functions import Invocation, LocalFunction, SqsSource
from livectl_cli.local.handler_output import summary

DEFAULT_CONCURRENCY = 2  # when the source sets no ScalingConfig.MaximumConcurrency


def records_to_delete(
    message_ids: Sequence[str], invocation_ok: bool, result: Any, report_batch_item_failures: bool
) -> set[str]:
    """Which messages Lambda deletes after an invocation.

    - the function raised → none (the whole batch is retried);
    - `ReportBatchItemFailures` absent → all (the return value is ignored);
    - otherwise all but the `batchItemFailures[].itemIdentifier`s; a malformed response (missing/empty or
      unknown identifier) fails the whole batch, as Lambda does.
    """
    ids = set(message_ids)
    if not invocation_ok:
        return set()
    if not report_batch_item_failures:
        return ids
    if not isinstance(result, Mapping):
        return ids
    failures = result.get("batchItemFailures")
    if not failures:
        return ids
    if not isinstance(failures, list):
        return set()
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not identifier or identifier not in ids:
            return set()
        failed.add(str(identifier))
    return ids - failed


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from received SQS messages."""
    records = []
    for m in messages:
        attributes = dict(m.get("Attributes") or {})
        attributes.setdefault("ApproximateReceiveCount", "1")
        attributes.setdefault("SentTimestamp", str(int(time.time() * 1000)))
        attributes.setdefault("SenderId", "123456789012")
        attributes.setdefault("ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000)))
        message_attributes = {}
        for name, value in (m.get("MessageAttributes") or {}).items():
            message_attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType", "String"),
            }
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


class SqsPoller:
    """Runs one SQS event source of one function on `concurrency` worker threads."""

    def __init__(
        self,
        function: LocalFunction,
        source: SqsSource,
        queue_url: str,
        sqs: Any,
        *,
        region: str,
        poll_interval: float = 0.2,
        long_poll: int = 1,
        failed_visibility: int | None = None,
        log: Callable[[str], None] | None = None,
        queue_label: str = "",
    ) -> None:
        self.function = function
        self.source = source
        self.queue_url = queue_url
        self.sqs = sqs
        self.region = region
        self.poll_interval = poll_interval
        self.long_poll = long_poll
        self.failed_visibility = failed_visibility
        self.log = log or (lambda line: None)
        self.queue_label = queue_label or queue_url.rsplit("/", 1)[-1]
        self.concurrency = source.maximum_concurrency or DEFAULT_CONCURRENCY
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.invocations = 0
        self.slots: list[ContainerSlot] = []  # one simulated container per worker

    def start(self) -> None:
        if not self.source.enabled:
            return
        for i in range(self.concurrency):
            slot = ContainerSlot()
            self.slots.append(slot)
            t = threading.Thread(
                target=self._run,
                args=(slot,),
                name=f"poller-{self.function.spec.logical_id}-{self.source.name}-{i}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        for slot in self.slots:
            if slot.container is not None:
                slot.container.close()
        self.slots.clear()

    def _receive(self, limit: int, wait: int = 0) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, limit)),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def _gather(self) -> list[dict[str, Any]]:
        batch = self._receive(self.source.batch_size, self.long_poll)
        if not batch or len(batch) >= self.source.batch_size or self.source.batching_window <= 0:
            return batch
        window_end = time.monotonic() + self.source.batching_window
        while len(batch) < self.source.batch_size and not self._stop.is_set():
            remaining = window_end - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(self.source.batch_size - len(batch))
            if more:
                batch.extend(more)
            else:
                self._stop.wait(min(self.poll_interval, remaining))
        return batch

    def _run(self, slot: ContainerSlot) -> None:
        with use_slot(slot):  # every batch this worker runs, in its own simulated container
            self._poll()

    def _poll(self) -> None:
        # With a backlog (a full batch), the next batch is received while the function runs and the finished
        # batch's records are deleted after it, as Lambda's pollers do: in AWS the next invocation starts tens of
        # ms after the last; here eight receives and eight deletes (~0.2 s under load) would otherwise idle the
        # container between batches. A batch that is not full (no backlog) keeps the plain order, so a lone
        # command is not held behind a running batch.
        helper = ThreadPoolExecutor(1, thread_name_prefix=f"{threading.current_thread().name}-ahead")
        ahead: Future[list[dict[str, Any]]] | None = None
        try:
            while not self._stop.is_set():
                try:
                    batch = ahead.result() if ahead is not None else self._gather()
                except Exception as exc:  # moto gone during shutdown, or a transient local error
                    if self._stop.is_set():
                        return
                    self.log(f"poller {self.queue_label}: receive failed: {type(exc).__name__}")
                    self._stop.wait(1.0)
                    continue
                finally:
                    ahead = None
                if not batch:  # the long poll waited already
                    continue
                if len(batch) >= self.source.batch_size:
                    ahead = helper.submit(self._gather)
                self.process(batch, background=helper if ahead is not None else None)
        finally:
            if ahead is not None:
                self._release(ahead)
            helper.shutdown(wait=True)

    def _release(self, ahead: Future[list[dict[str, Any]]]) -> None:
        """A batch received ahead but never invoked (the poller stopped): visible again at once, best effort."""
        try:
            batch = ahead.result(timeout=10)
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(batch)
            ]
            for start in range(0, len(entries), 10):
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
        except Exception:  # noqa: S110 - stopping: moto may be gone, and the queue's visibility timeout still applies
            pass

    def process(self, batch: list[dict[str, Any]], background: ThreadPoolExecutor | None = None) -> Invocation:
        """Invoke the function with `batch` and delete / keep records the way Lambda does (the deletes and
        visibility changes on `background` when given)."""
        event = sqs_event(batch, self.source.queue_arn, self.region)
        invocation = self.function.invoke(event, f"sqs:{self.queue_label}")
        self.invocations += 1
        ids = [m["MessageId"] for m in batch]
        delete = records_to_delete(ids, invocation.ok, invocation.result, self.source.report_batch_item_failures)
        kept = [mid for mid in ids if mid not in delete]
        if background is None:
            self._settle(batch, delete, kept)
        else:
            background.submit(self._settle_or_log, batch, delete, kept)
        receives = max(int((m.get("Attributes") or {}).get("ApproximateReceiveCount", "1")) for m in batch)
        status = "ok" if invocation.ok else f"ERROR {type(invocation.error).__name__}: {invocation.error}"
        why = f" ({summary(invocation.reasons)})" if kept and invocation.ok and invocation.reasons else ""
        self.log(
            f"{self.function.spec.logical_id:<27} ← sqs {self.queue_label:<26} {len(batch)} msg"
            f"{'' if len(batch) == 1 else 's'} (receive #{receives}): {status}; deleted {len(delete)}, "
            f"kept {len(kept)}{why} [{invocation.seconds * 1000:.0f} ms]"
        )
        return invocation

    def _settle_or_log(self, batch: list[dict[str, Any]], delete: set[str], kept: list[str]) -> None:
        try:
            self._settle(batch, delete, kept)
        except Exception as exc:  # the records stay in flight until their visibility timeout, then come back
            self.log(f"poller {self.queue_label}: delete after the invocation failed: {type(exc).__name__}")

    def _settle(self, batch: list[dict[str, Any]], delete: set[str], kept: list[str]) -> None:
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in batch}
        if delete:
            entries = [{"Id": str(i), "ReceiptHandle": handles[mid]} for i, mid in enumerate(sorted(delete))]
            for start in range(0, len(entries), 10):
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
        if kept and self.failed_visibility is not None:
            entries = [
                {"Id": str(i), "ReceiptHandle": handles[mid], "VisibilityTimeout": self.failed_visibility}
                for i, mid in enumerate(kept)
            ]
            for start in range(0, len(entries), 10):
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
