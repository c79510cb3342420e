"""CloudWatch for the local stack: what Lambda's log agent and SQS do in AWS, done against moto.

- `EmfTap`: Powertools prints each EMF document (`{"_aws": ...}`) to stdout, and in Lambda CloudWatch turns
  those lines into metrics. Here the documents are diverted before they reach stdout (Powertools' metric
  modules print through a `print` we place in their namespace) and handed to sinks: `CloudWatchForwarder`
  puts them to moto's CloudWatch, so `livectl status` reads the same metrics locally as deployed, and tests
  collect what the code emits. Other prints pass through unchanged.
- `QueueMetricsPublisher`: the AWS/SQS metrics SQS publishes every minute (depth, in flight, age of the oldest
  message), computed from moto's in-process queues every few seconds.
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

EMF_PRINTING_MODULES = (
    "aws_lambda_powertools.metrics.base",  # single_metric
    "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",  # Metrics flush and its 100-value flush
)
EMF_PREFIX = '{"_aws"'
Sink = Callable[[dict[str, Any]], None]


class EmfTap:
    """Divert EMF documents printed by Powertools to sinks. Process-wide: install once, add and remove sinks."""

    def __init__(self) -> None:
        self._sinks: list[tuple[Sink, bool]] = []
        self._lock = threading.Lock()
        self._installed = False

    def add(self, sink: Sink, *, also_print: bool = False) -> Callable[[], None]:
        """Hand every EMF document to `sink` (and still print it if `also_print`). Returns the remover."""
        entry = (sink, also_print)
        with self._lock:
            self._sinks.append(entry)
            self._install()

        def remove() -> None:
            with self._lock:
                if entry in self._sinks:
                    self._sinks.remove(entry)
                if not self._sinks:
                    self._uninstall()

        return remove

    def _install(self) -> None:
        if self._installed:
            return
        import importlib

        for name in EMF_PRINTING_MODULES:
            setattr(importlib.import_module(name), "print", self._print)  # noqa: B010 - shadows the builtin there
        self._installed = True

    def _uninstall(self) -> None:
        import sys

        for name in EMF_PRINTING_MODULES:
            module = sys.modules.get(name)
            if module is not None and getattr(module, "print", None) == self._print:
                delattr(module, "print")  # the builtin again
        self._installed = False

    def _print(self, *args: Any, **kwargs: Any) -> None:
        text = args[0] if len(args) == 1 and isinstance(args[0], str) else None
        if text is None or not text.startswith(EMF_PREFIX):
            builtins.print(*args, **kwargs)
            return
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        with self._lock:
            sinks = list(self._sinks)
        echo = not sinks or any(also for _, also in sinks)
        for sink, _ in sinks:
            if isinstance(doc, dict):
                sink(doc)
        if echo:
            builtins.print(*args, **kwargs)


TAP = EmfTap()


def metric_data(doc: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """An EMF document as PutMetricData arguments: [(namespace, MetricData)], one datum per metric and
    dimension set, every value of the document kept (so percentiles come out of CloudWatch as in AWS)."""
    meta = doc.get("_aws") or {}
    stamp = datetime.fromtimestamp(float(meta.get("Timestamp") or time.time() * 1000) / 1000, UTC)
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for directive in meta.get("CloudWatchMetrics") or []:
        data: list[dict[str, Any]] = []
        for dimension_set in directive.get("Dimensions") or [[]]:
            dimensions = [{"Name": d, "Value": str(doc[d])} for d in dimension_set if d in doc]
            for metric in directive.get("Metrics") or []:
                raw = doc.get(metric.get("Name"))
                values = raw if isinstance(raw, list) else [raw]
                datum: dict[str, Any] = {
                    "MetricName": metric["Name"],
                    "Dimensions": dimensions,
                    "Values": [float(v) for v in values if isinstance(v, int | float)],
                    "Timestamp": stamp,
                }
                if metric.get("Unit"):
                    datum["Unit"] = metric["Unit"]
                if datum["Values"]:
                    data.append(datum)
        if data:
            out.append((str(directive.get("Namespace")), data))
    return out


class CloudWatchForwarder:
    """A sink that puts each EMF document's metrics to CloudWatch (moto's, in the local stack)."""

    def __init__(self, cloudwatch: Any, log: Callable[[str], None] | None = None) -> None:
        self.cloudwatch = cloudwatch
        self.log = log or (lambda line: None)

    def __call__(self, doc: dict[str, Any]) -> None:
        for namespace, data in metric_data(doc):
            for start in range(0, len(data), 20):
                try:
                    self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 20])
                except Exception as exc:  # moto gone during shutdown: metrics are best effort, as in Lambda
                    self.log(f"metrics: PutMetricData failed: {type(exc).__name__}")


def oldest_message_age(queue_url: str, now_ms: int, account: str = "123456789012") -> float | None:
    """Seconds since the oldest message still in the queue was sent, read from moto's in-process backend
    (SQS offers it only as the CloudWatch metric ApproximateAgeOfOldestMessage)."""
    from moto.sqs.models import sqs_backends

    name = queue_url.rsplit("/", 1)[-1]
    for backend in sqs_backends[account].values():
        queue = backend.queues.get(name)
        if queue is not None:
            sent = (getattr(m, "sent_timestamp", None) for m in list(queue._messages))
            stamps = [int(s) for s in sent if s is not None]
            return max(0.0, (now_ms - min(stamps)) / 1000) if stamps else None
    return None


class QueueMetricsPublisher:
    """Every `interval` seconds, the AWS/SQS metrics of each queue, as SQS publishes them in AWS."""

    def __init__(
        self,
        sqs: Any,
        cloudwatch: Any,
        queues: Mapping[str, str],
        *,
        interval: float = 5.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.sqs, self.cloudwatch, self.queues = sqs, cloudwatch, dict(queues)
        self.interval = interval
        self.log = log or (lambda line: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-sqs-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.publish_once()
            self._stop.wait(self.interval)

    def publish_once(self) -> None:
        now = datetime.now(UTC)
        for url in self.queues.values():
            try:
                self.cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=list(self._queue_data(url, now)))
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.log(f"metrics: SQS metrics of {url.rsplit('/', 1)[-1]} failed: {type(exc).__name__}")

    def _queue_data(self, url: str, now: datetime) -> Iterable[dict[str, Any]]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        dimensions = [{"Name": "QueueName", "Value": url.rsplit("/", 1)[-1]}]
        age = oldest_message_age(url, int(now.timestamp() * 1000)) or 0.0
        visible, in_flight = attributes.get(names[0], 0), attributes.get(names[1], 0)
        for metric, value, unit in (
            ("ApproximateNumberOfMessagesVisible", visible, "Count"),
            ("ApproximateNumberOfMessagesNotVisible", in_flight, "Count"),
            ("ApproximateAgeOfOldestMessage", age, "Seconds"),
        ):
            datum = {"MetricName": metric, "Dimensions": dimensions, "Value": float(value), "Unit": unit}
            yield {**datum, "Timestamp": now}
