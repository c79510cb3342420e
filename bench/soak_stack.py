"""The local stack's side of the soak (bench/soak.py): log capture, the fake keys, the emulator's admin API,
sending commands, the outcome events, the queues and tables."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import requests

from livectl_cli.local.stack import LocalStack


class Capture(io.TextIOBase):
    """Every line written to stdout / stderr / logging during the run (handlers' JSON logs, EMF, stack log)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def text(self) -> str:
        return "".join(self.parts)


@contextlib.contextmanager
def captured(capture: Capture) -> Iterator[None]:
    handler = logging.StreamHandler(capture)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
            yield
    finally:
        root.removeHandler(handler)


def fake_keys() -> dict[str, Any]:
    tag = secrets.token_hex(6)
    return {
        "volcengine": {"access_key": f"AKLTsoak{tag}", "secret_key": f"soak-secret-volc-{tag}"},
        "trtc": {"access_key": f"AKIDsoak{tag}", "secret_key": f"soak-secret-trtc-{tag}"},
        "callback": f"soakcallback{tag}",
    }


def install_keys(stack: LocalStack, keys: dict[str, Any]) -> None:
    """The stack's secrets and the emulator's accounts get the soak's keys before any command runs."""
    assert stack.created is not None
    sm = stack_client(stack, "secretsmanager")
    for name in stack.created.secrets:
        value: dict[str, Any] = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
        provider = next((p for p in ("volcengine", "trtc") if f"/{p}/" in name), None)
        if provider is not None:
            value = dict(keys[provider])
        elif "keys" in value:
            value["keys"] = [keys["callback"]]
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))
    for provider in ("volcengine", "trtc"):
        admin(stack, "POST", "accounts", {"provider": provider, **keys[provider]})
    admin(stack, "POST", "config", {"callback_key": keys["callback"]})


def stack_client(stack: LocalStack, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=stack.aws_endpoint, region_name="ap-southeast-1")


def admin(stack: LocalStack, method: str, route: str, doc: object = None, **params: Any) -> Any:
    answer = requests.request(method, f"{stack.emulator_url}/_emulator/{route}", json=doc, params=params, timeout=30)
    answer.raise_for_status()
    return answer.json()


QUEUES = {  # action → the template's queue (its outputs `<name>QueueUrl`, `<name>DLQUrl`)
    "StopPullRecordTask": "StopPullRecord",
    "GetPullRecordTask": "GetPullRecord",
    "RestartPullToPushTask": "RestartPullToPush",
    "StopPullToPushTask": "StopPullToPush",
    "DeleteCloudRecording": "DeleteCloudRecording",
    "StopPublishCdnStream": "StopCdnPublish",
}


def send(stack: LocalStack, bodies: list[dict[str, Any]], copies: int) -> None:
    """Every command `copies` times, as separate messages (SQS's at-least-once, or a producer's retry)."""
    sqs = stack_client(stack, "sqs")
    by_queue: dict[str, list[str]] = {}
    for body in bodies:
        url = stack.outputs[f"{QUEUES[body['action']]}QueueUrl"]
        by_queue.setdefault(url, []).extend([json.dumps(body)] * copies)
    for url, texts in by_queue.items():
        for start in range(0, len(texts), 10):
            entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(texts[start : start + 10])]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)


class Outcomes:
    """The outcome events on the bus, read from the local stack's events tap, by command id."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.created is not None
        self.sqs = stack_client(stack, "sqs")
        self.url = stack.created.events_tap_url
        self.events: list[dict[str, Any]] = []
        self.by_id: dict[str, str] = {}

    def poll(self) -> int:
        while True:
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                return len(self.by_id)
            for m in messages:
                event = json.loads(m["Body"])
                self.events.append(event)
                detail = event.get("detail") or {}
                if detail.get("command_id") and detail.get("outcome"):
                    self.by_id.setdefault(str(detail["command_id"]), str(detail["outcome"]))
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )


def queues_idle(stack: LocalStack) -> bool:
    sqs = stack_client(stack, "sqs")
    for name in QUEUES.values():
        attrs = sqs.get_queue_attributes(
            QueueUrl=stack.outputs[f"{name}QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if attrs["ApproximateNumberOfMessages"] != "0" or attrs["ApproximateNumberOfMessagesNotVisible"] != "0":
            return False
    return True


def drain_dlqs(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack_client(stack, "sqs")
    out: list[dict[str, Any]] = []
    for name in QUEUES.values():
        url = stack.outputs[f"{name}DLQUrl"]
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                break
            for m in messages:
                out.append({"body": m["Body"], "queue": name})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def scan_tables(stack: LocalStack) -> list[dict[str, Any]]:
    """Every item of every table of the stack (ledger, idempotency, webhook dedupe, ...)."""
    ddb = stack_client(stack, "dynamodb")
    items: list[dict[str, Any]] = []
    for table in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
    return items
