"""Issue 10 item 6, for the action functions: two invocations in one process (the local stack runs them in
threads) each get a BatchProcessor of their own, so each answers with exactly its own failures."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from livectl.control import service as control
from livectl.errors import TransientProviderError
from tests.control.support import FakeContext, sqs_record

pytestmark = pytest.mark.unit

SETTINGS = control.Settings(ledger_table="ledger", event_bus="bus", idempotency_table="idempotency")


def test_overlapping_batches_each_answer_with_exactly_their_own_failures(monkeypatch):
    barrier = threading.Barrier(2, timeout=30)

    def process_command(body: str, **kwargs: Any) -> dict[str, Any]:
        task_id = json.loads(body)["params"]["TaskId"]
        if task_id.startswith("wait"):
            barrier.wait()  # both invocations are inside their batch now
        if task_id.startswith("fail"):
            raise TransientProviderError(f"{task_id} needs a retry", code="InternalError")
        return {"outcome": "done", "task_id": task_id}

    monkeypatch.setattr(control, "process_command", process_command)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")  # the container builds boto3 clients; no call is made
    box = control.Container(SETTINGS)

    def batch(name: str, size: int) -> dict[str, Any]:
        tasks = [f"wait-{name}", f"fail-{name}", *(f"ok-{name}-{i}" for i in range(size - 2))]
        bodies = [json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": t}}) for t in tasks]
        return {"Records": [sqs_record(b, f"{name}-{i}") for i, b in enumerate(bodies)]}

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return control.handle_event(event, FakeContext(), "StopPullRecordTask", SETTINGS, container=box)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.submit(invoke, batch("a", 10)), pool.submit(invoke, batch("b", 4))
        answers = first.result(timeout=60), second.result(timeout=60)
    assert answers == (
        {"batchItemFailures": [{"itemIdentifier": "a-1"}]},
        {"batchItemFailures": [{"itemIdentifier": "b-1"}]},
    )
