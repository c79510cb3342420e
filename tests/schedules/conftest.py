"""A moto stack for schedule tests: schedule group, ledger table, bus with a capture queue, stop queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livectl import runtime
from tests.tables import create_ledger_table

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
REGION = "ap-southeast-1"
GROUP = "livectl-test-stops"
TABLE = "livectl-test-ledger"
BUS = "livectl-test-bus"


def sample(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text())


@dataclass
class Stack:
    env: dict[str, str]
    scheduler: Any
    dynamodb: Any
    sqs: Any
    capture_url: str
    queue_arns: dict[str, str]

    def events(self) -> list[dict[str, Any]]:
        """Every event put on the bus so far (drained from the capture queue)."""
        out = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=m["ReceiptHandle"])

    def schedules(self) -> list[dict[str, Any]]:
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return [self.scheduler.get_schedule(Name=n, GroupName=GROUP) for n in names]


@pytest.fixture
def moto_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    runtime.reset()
    with mock_aws():
        import boto3

        scheduler = boto3.client("scheduler", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)

        scheduler.create_schedule_group(Name=GROUP)
        create_ledger_table(dynamodb, TABLE)
        queue_arns = {}
        for action, queue in (
            ("StopPullRecordTask", "StopPullRecordQueue"),
            ("StopPullToPushTask", "StopPullToPushQueue"),
            ("DeleteCloudRecording", "DeleteCloudRecordingQueue"),
            ("StopPublishCdnStream", "StopCdnPublishQueue"),
        ):
            url = sqs.create_queue(QueueName=queue)["QueueUrl"]
            queue_arns[action] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        dlq_url = sqs.create_queue(QueueName="SchedulerDLQ")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        role_arn = iam.create_role(
            RoleName="SchedulerRole",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]

        events.create_event_bus(Name=BUS)
        capture_url = sqs.create_queue(QueueName="capture")["QueueUrl"]
        capture_arn = sqs.get_queue_attributes(QueueUrl=capture_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["livectl"]}))
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "capture", "Arn": capture_arn}])

        env = {
            "SCHEDULE_GROUP": GROUP,
            "SCHEDULER_ROLE_ARN": role_arn,
            "SCHEDULER_DLQ_ARN": dlq_arn,
            "ACTION_QUEUE_ARNS": json.dumps(queue_arns),
            "STALE_AFTER_SECONDS": "300",
            "LEDGER_TABLE": TABLE,
            "EVENT_BUS_NAME": BUS,
        }
        yield Stack(env, scheduler, dynamodb, sqs, capture_url, queue_arns)
    runtime.reset()
