"""What the field benches share: counting the AWS calls a handler makes, the harness's own CPU, and the price list.

- `AwsCallCounter`: a botocore `before-parameter-build` hook on boto3's default session. Clients made AFTER
  `install()` carry it (botocore copies the session's handlers into each new client), so the bench's own clients
  (the pollers' SQS client: Lambda's event source mapping, not the function) are made before and not counted.
  Each call is counted by `service.Operation`, with the DynamoDB capacity units and EventBridge entries it bills.
- `cpu_seconds(pid)`: user + system CPU of a process from /proc/<pid>/stat, to say whether moto (the stand-in for
  AWS) or this process (the containers and the emulator) was the limit.
- `PRICES` and `cost_per_million`: AWS list prices and the arithmetic from measured calls and durations.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any

# AWS list prices, USD, read 2026-12-01 from AWS's pricing pages (through the search tool) for us-east-1; the
# template deploys to ap-southeast-1 (samconfig.toml), whose prices for these items were not in the corpus: Lambda
# and SQS list the same there, DynamoDB on-demand is dearer in Singapore. Edit here; BENCHMARKS.md says the same.
PRICES = {
    "region": "us-east-1 list prices (template region ap-southeast-1)",
    "date": "2026-12-01",
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_second_arm": 0.0000133334,  # Arm (the template's Architectures: [arm64]), first tier
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk of a request, after the free 1 M
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit (≤ 1 KB), since the Nov 2024 price cut
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit (≤ 4 KB strongly consistent; half if eventual)
    "eventbridge_event": 1.00 / 1e6,  # custom event put on a bus, per 64 KB chunk
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMODB_READS = {"GetItem", "Query", "Scan"}


class AwsCallCounter:
    """Counts AWS API calls made by clients created after `install()`. Thread-safe."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.units: Counter[str] = Counter()  # "wru", "rru", "events"
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        import boto3

        if self._installed:
            return
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", self._count)
        self._installed = True

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        name = model.name
        wru = rru = events = 0.0
        if service == "dynamodb":
            if name in DYNAMODB_WRITES:
                wru = 1
            elif name in DYNAMODB_READS:
                rru = 1 if params.get("ConsistentRead") else 0.5
            elif name == "TransactWriteItems":
                wru = 2 * len(params.get("TransactItems") or [])
            elif name == "TransactGetItems":
                rru = 2 * len(params.get("TransactItems") or [])
            elif name == "BatchWriteItem":
                wru = sum(len(v) for v in (params.get("RequestItems") or {}).values())
        elif service == "events" and name == "PutEvents":
            events = len(params.get("Entries") or [])
        with self._lock:
            self.calls[f"{service}.{name}"] += 1
            self.units.update({"wru": wru, "rru": rru, "events": events})

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        with self._lock:
            return Counter(self.calls), Counter(self.units)


def since(before: tuple[Counter[str], Counter[str]], after: tuple[Counter[str], Counter[str]]) -> dict[str, Any]:
    calls = after[0] - before[0]
    units = after[1] - before[1]
    return {"calls": dict(calls), "total": sum(calls.values()), "units": dict(units)}


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one by default), from /proc/<pid>/stat."""
    path = f"/proc/{pid or os.getpid()}/stat"
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of the whole line)


def cost_per_million(
    *,
    invocations_per_command: float,
    billed_ms_per_command: float,
    memory_mb: int,
    aws: dict[str, Any],
    commands: int,
) -> dict[str, float]:
    """USD per million commands, by item. SQS: one SendMessage per command (a producer or a schedule), and per
    invocation the event source mapping's ReceiveMessage and DeleteMessageBatch; its empty polls are not counted."""
    per = 1e6
    units = aws["units"]
    out = {
        "lambda requests": invocations_per_command * PRICES["lambda_request"] * per,
        "lambda duration": billed_ms_per_command / 1000 * memory_mb / 1024 * PRICES["lambda_gb_second_arm"] * per,
        "sqs": (1 + 2 * invocations_per_command) * PRICES["sqs_request"] * per,
        "dynamodb": (units.get("wru", 0) * PRICES["dynamodb_wru"] + units.get("rru", 0) * PRICES["dynamodb_rru"])
        / max(1, commands)
        * per,
        "eventbridge": units.get("events", 0) * PRICES["eventbridge_event"] / max(1, commands) * per,
    }
    out["total"] = sum(out.values())
    return out
