"""The local poller under a backlog, as Lambda's pollers run it: the next full batch is received while the
function runs and the finished batch is deleted after it, so a container does not idle between batches; a
batch that is not full keeps the plain order; a batch received ahead but never invoked goes back at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from livectl_cli.local.functions import Invocation, SqsSource
from livectl_cli.local.poller import SqsPoller

pytestmark = [pytest.mark.aws]
REGION = "ap-southeast-1"


class SlowFunction:
    """Takes `seconds` per invocation and notes when each started and ended, and how many messages the queue
    had in flight (received, not deleted) while it ran."""

    def __init__(self, sqs: Any, url: str, seconds: float) -> None:
        self.sqs, self.url, self.seconds = sqs, url, seconds
        self.spec = SimpleNamespace(logical_id="Slow")
        self.runs: list[tuple[float, float, int]] = []
        self.lock = threading.Lock()

    def invoke(self, event: dict[str, Any], trigger: str) -> Invocation:
        began = time.monotonic()
        time.sleep(self.seconds)
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        with self.lock:
            self.runs.append((began, time.monotonic(), int(attributes["ApproximateNumberOfMessagesNotVisible"])))
        return Invocation("Slow", trigger, True, {"batchItemFailures": []}, None, self.seconds)


@pytest.fixture()
def queue() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield sqs, url, arn


def send(sqs: Any, url: str, n: int) -> None:
    for start in range(0, n, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(n, start + 10))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def run(sqs: Any, url: str, arn: str, function: SlowFunction, until: Any, timeout: float = 20.0) -> SqsPoller:
    source = SqsSource("q", arn, batch_size=10, report_batch_item_failures=True, maximum_concurrency=1)
    poller = SqsPoller(function, source, url, sqs, region=REGION, poll_interval=0.05)  # type: ignore[arg-type]
    poller.start()
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop()
    return poller


def visible_and_in_flight(sqs: Any, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_with_a_backlog_the_next_batch_is_received_while_the_function_runs(queue: tuple[Any, str, str]) -> None:
    sqs, url, arn = queue
    send(sqs, url, 40)
    function = SlowFunction(sqs, url, seconds=0.3)
    run(sqs, url, arn, function, until=lambda: len(function.runs) >= 4)
    assert len(function.runs) == 4
    # While the first batches ran, the next one was already received: 10 running + 10 ahead in flight.
    assert [in_flight for _, _, in_flight in function.runs[:3]] == [20, 20, 20]
    gaps = [nxt[0] - prev[1] for prev, nxt in zip(function.runs, function.runs[1:], strict=False)]
    assert max(gaps) < 0.1  # the next invocation starts as the last ends: no receives in between
    assert visible_and_in_flight(sqs, url) == (0, 0)  # every batch deleted after it ran


def test_a_batch_that_is_not_full_keeps_the_plain_order(queue: tuple[Any, str, str]) -> None:
    sqs, url, arn = queue
    send(sqs, url, 5)
    function = SlowFunction(sqs, url, seconds=0.2)
    run(sqs, url, arn, function, until=lambda: len(function.runs) >= 1)
    assert [in_flight for _, _, in_flight in function.runs] == [5]
    assert visible_and_in_flight(sqs, url) == (0, 0)


def test_a_batch_received_ahead_goes_back_when_the_poller_stops(queue: tuple[Any, str, str]) -> None:
    sqs, url, arn = queue
    send(sqs, url, 20)
    function = SlowFunction(sqs, url, seconds=1.0)
    # Stopped while the first batch runs, once the second is in flight too: received ahead, never invoked.
    run(sqs, url, arn, function, until=lambda: visible_and_in_flight(sqs, url) == (0, 20))
    assert len(function.runs) == 1
    assert visible_and_in_flight(sqs, url) == (10, 0)


class RecordingSqs:
    """The SQS client, noting each ReceiveMessage's WaitTimeSeconds."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.waits: list[int] = []

    def receive_message(self, **kwargs: Any) -> Any:
        self.waits.append(kwargs["WaitTimeSeconds"])
        return self.sqs.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)


def test_an_idle_poller_long_polls_and_a_message_sent_meanwhile_is_taken_by_that_poll(
    queue: tuple[Any, str, str],
) -> None:
    sqs, url, arn = queue
    recording = RecordingSqs(sqs)
    function = SlowFunction(sqs, url, 0.0)
    source = SqsSource("q", arn, batch_size=10, report_batch_item_failures=True, maximum_concurrency=1)
    poller = SqsPoller(function, source, url, recording, region=REGION, poll_interval=0.05)  # type: ignore[arg-type]
    poller.start()
    try:
        time.sleep(2.5)  # idle: each receive waits its 1 s on the empty queue
        idle_receives = len(recording.waits)
        send(sqs, url, 1)
        deadline = time.monotonic() + 10
        while not function.runs and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        poller.stop()
    assert function.runs, "the message sent during a long poll was never invoked"
    assert recording.waits[0] == 1 and set(recording.waits[:idle_receives]) == {1}
    assert 1 <= idle_receives <= 6  # 2.5 s idle: about one receive a second (short polls every 0.05 s: ~50)
