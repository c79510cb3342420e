"""Helpers for the action-function tests (fixtures live in conftest.py): constants, a fake Lambda context,
SQS event builders, the moto-backed Stack view and the emulator admin driver."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from livectl.control import service as control
from livectl_cli.emulator.process import EmulatorClient

REGION = "ap-southeast-1"
LEDGER = "livectl-ledger"
IDEMPOTENCY = "livectl-idempotency"
BUS = "livectl-bus"
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
DEMO_SECRET = "demo-secret"
TEST_SECRET = "s3cr3t-TEST-key-material-9f8e7d"  # an extra account's key: must never reach a log either
SECRETS = {
    "livectl/volcengine/default": {"access_key": "AKLTDEMO", "secret_key": DEMO_SECRET},
    "livectl/trtc/default": {"access_key": "AKIDDEMO", "secret_key": DEMO_SECRET},
    "livectl/volcengine/second": {"access_key": "AKLTSECOND", "secret_key": TEST_SECRET},
}
FUNCTIONS = {
    "StopPullRecordTask": "stop_pull_record",
    "GetPullRecordTask": "get_pull_record",
    "RestartPullToPushTask": "restart_pull_to_push",
    "StopPullToPushTask": "stop_pull_to_push",
    "DeleteCloudRecording": "delete_cloud_recording",
    "StopPublishCdnStream": "stop_cdn_publish",
}


class FakeContext:
    """The parts of a LambdaContext that Powertools and livectl read."""

    def __init__(self, remaining_ms: int = 30_000, name: str = "livectl-test-function") -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "2026/11/21/[$LATEST]test"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def sqs_record(body: str, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795250700000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795250700050",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:livectl-queue",
        "awsRegion": REGION,
    }


def sqs_event(*bodies: str | dict[str, Any]) -> dict[str, Any]:
    return {"Records": [sqs_record(b if isinstance(b, str) else json.dumps(b)) for b in bodies]}


def load_event(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return doc


@dataclass
class Stack:
    url: str
    settings: control.Settings
    observer_queue_url: str
    queues: dict[str, str] = field(default_factory=dict)
    _seen: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION)

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every outcome event put on the bus so far (drained from the observer queue)."""
        sqs = self.client("sqs")
        while True:
            got = sqs.receive_message(QueueUrl=self.observer_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                break
            for m in messages:
                self._seen.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.observer_queue_url, ReceiptHandle=m["ReceiptHandle"])
        return [e for e in self._seen if detail_type is None or e["detail-type"] == detail_type]

    def ledger(self) -> Any:
        from livectl.store.ledger import Ledger

        return Ledger(LEDGER)

    def idempotency_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client("dynamodb").scan(TableName=IDEMPOTENCY)["Items"]
        return items

    def action_queue(self, name: str, max_receive_count: int = 5) -> tuple[str, str]:
        """(queue url, dlq url) with a RedrivePolicy, like the template's action queues."""
        sqs = self.client("sqs")
        dlq = sqs.create_queue(QueueName=f"{name}DLQ")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})
        queue = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "180", "RedrivePolicy": redrive})[
            "QueueUrl"
        ]
        return queue, dlq


class Emu(EmulatorClient):
    """The emulator driven through its admin HTTP API (`livectl_cli.emulator.process.EmulatorClient`)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=10)

    def faults(self, doc: object) -> None:
        self.set_faults(doc)
