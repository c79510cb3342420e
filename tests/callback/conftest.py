"""Fixtures for the TRTC callback receiver: moto (ledger table, bus -> SQS rule, callback secret), the real
handler module reloaded under that environment, a frozen clock, and helpers to sign and load sample events."""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livectl import aws
from livectl.providers.signing import trtc_callback_sign
from livectl.store.codec import from_item, to_item
from livectl.store.table import STATE_SK, task_pk
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from tests.tables import create_ledger_table

ROOT = Path(__file__).resolve().parents[2]
# `make fuzz` multiplies every fuzz run's example count by this (`make test` runs them at 1).
FUZZ_SCALE = max(1, int(os.environ.get("LIVECTL_FUZZ_SCALE") or 1))
EVENTS = ROOT / "events"
KEY = LOCAL_CALLBACK_KEY
APP_ID = 1400000001
TABLE = "livectl-ledger-test"
BUS = "livectl-bus-test"
SECRET = "livectl-callback/trtc"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"trtc_callback_{name}.json").read_text(encoding="utf-8"))


def raw_body(event: dict[str, Any]) -> bytes:
    if event.get("isBase64Encoded"):
        return base64.b64decode(event["body"])
    return event["body"].encode("utf-8")


def callback_ts(event: dict[str, Any]) -> int:
    return int(json.loads(raw_body(event))["CallbackTs"])


def make_event(
    raw: bytes,
    *,
    key: str | None = KEY,
    app_id: int | str | None = APP_ID,
    sign: str | None = None,
    headers: dict[str, str] | None = None,
    b64: bool = False,
) -> dict[str, Any]:
    h: dict[str, str] = {"content-type": "application/json"}
    if sign is None and key is not None:
        sign = trtc_callback_sign(key, raw)
    if sign is not None:
        h["sign"] = sign
    if app_id is not None:
        h["sdkappid"] = str(app_id)
    if headers is not None:
        h = headers
    return {
        "version": "2.0",
        "routeKey": "POST /trtc/callback",
        "rawPath": "/trtc/callback",
        "headers": h,
        "requestContext": {"http": {"method": "POST", "path": "/trtc/callback"}, "requestId": "test"},
        "body": base64.b64encode(raw).decode("ascii") if b64 else raw.decode("utf-8"),
        "isBase64Encoded": b64,
    }


def cjson(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent="\t", separators=(",", ":\t"), ensure_ascii=False).encode("utf-8")


def callback(
    event_type: int,
    payload: dict[str, Any],
    *,
    task: str = "task-1",
    at_ms: int,
    group: int | None = None,
    callback_ts: int | None = None,
    user: str = "recorder",
) -> bytes:
    info = {"RoomId": "635055", "EventTs": at_ms // 1000, "EventMsTs": at_ms, "UserId": user, "TaskId": task}
    info["Payload"] = payload
    return cjson(
        {
            "EventGroupId": group if group is not None else event_type // 100,
            "EventType": event_type,
            "CallbackTs": callback_ts if callback_ts is not None else at_ms + 20,
            "EventInfo": info,
        }
    )


class Clock:
    """The handler's `datetime`, frozen at `now` (only `.now()` is replaced)."""

    def __init__(self, now: datetime) -> None:
        self.now_value = now
        clock = self

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
                return clock.now_value

        self.datetime = Frozen

    def set_ms(self, ms: int) -> None:
        self.now_value = datetime.fromtimestamp(ms / 1000, UTC)


class Aws:
    """Handles on the moto resources the receiver writes to."""

    def __init__(self) -> None:
        import boto3

        self.dynamodb = boto3.client("dynamodb")
        self.sqs = boto3.client("sqs")
        self.events = boto3.client("events")
        self.secrets = boto3.client("secretsmanager")
        create_ledger_table(self.dynamodb, TABLE)
        self.events.create_event_bus(Name=BUS)
        self.queue_url = self.sqs.create_queue(QueueName="observed-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["livectl"]}))
        self.events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
        self.secrets.create_secret(Name=SECRET, SecretString=json.dumps({"keys": [KEY], "sdk_app_ids": [APP_ID]}))

    def set_secret(self, value: dict[str, Any]) -> None:
        from aws_lambda_powertools.utilities import parameters

        self.secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps(value))
        parameters.clear_caches()

    def published(self) -> list[dict[str, Any]]:
        """Every event that reached the bus so far (drains the observing queue)."""
        out: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=TABLE)
        return [from_item(i) for page in pages for i in page["Items"]]

    def callback_items(self) -> list[dict[str, Any]]:
        return [i for i in self.items() if i["sk"].startswith("CB#")]

    def state(self, task_id: str) -> dict[str, Any] | None:
        key = to_item({"pk": task_pk("trtc", task_id), "sk": STATE_SK})
        item = self.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
        return from_item(item) if item else None


def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "AWS_REGION": "ap-southeast-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LEDGER_TABLE": TABLE,
        "EVENT_BUS_NAME": BUS,
        "CALLBACK_SECRET_NAME": SECRET,
        "POWERTOOLS_SERVICE_NAME": "livectl",
        "POWERTOOLS_METRICS_NAMESPACE": "livectl",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "CALLBACK_MAX_BYTES",
        "CALLBACK_WINDOW_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    aws_environment(monkeypatch)
    aws.reset_clients()
    parameters.clear_caches()
    with mock_aws():
        yield Aws()
    aws.reset_clients()
    parameters.clear_caches()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 11, 21, 8, 0, 0, tzinfo=UTC))


@pytest.fixture
def app(moto_aws: Aws, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real handler module, imported fresh under the test environment, with a frozen clock."""
    module = importlib.import_module("functions.trtc_callback.app")
    module = importlib.reload(module)
    monkeypatch.setattr(module, "datetime", clock.datetime)
    return module


class LogCapture:
    """What the handler wrote: logging records and stdout/stderr (Powertools JSON logs and EMF metrics).

    Our loggers and Powertools are captured at DEBUG; everything else (botocore) at INFO, the most verbose a
    deployed function runs with (botocore's DEBUG dumps every response body, secrets included, by design).
    """

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys = caplog, capsys
        self.seen: list[str] = []

    def reset(self) -> None:
        self.capsys.readouterr()
        self.caplog.clear()
        self.seen = []

    def __call__(self) -> str:
        out, err = self.capsys.readouterr()
        self.seen += [out, err]
        self.seen += [r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in self.caplog.records]
        self.caplog.clear()
        return "\n".join(self.seen)


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> LogCapture:
    caplog.set_level(logging.INFO)
    for name in ("livectl", "aws_lambda_powertools", "functions"):
        caplog.set_level(logging.DEBUG, logger=name)
    return LogCapture(caplog, capsys)


def emf_metrics(text: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, dimensions) for each EMF document in `text`."""
    found: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{") or "_aws" not in line:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            dims = {d: doc[d] for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                found.append((metric["Name"], dims))
    return found


def report(config: pytest.Config, line: str) -> None:
    """A figure for `make fuzz`'s output, written past pytest's capture (the handler's log lines stay captured)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if FUZZ_SCALE > 1 and capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)
