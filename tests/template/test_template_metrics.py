"""No alarm and no dashboard line on a metric nobody emits.

The test drives the real handlers through the local stack (moto, the provider emulator, the wiring read from
template.yaml): one command of every action, every command outcome (applied, already done, failed for good,
rejected, stale, retried after throttling), every kind of webhook answer (accepted, duplicate, rejected) and the
cost guard (armed by a recording's 301, disarmed by its end, and a guard's auto-stop that fires).
It collects every EMF document the code prints while it runs, then checks each custom metric the transformed
template's alarms and dashboard name, by name and dimension names, against what was emitted. It runs alone
or in the whole suite: it emits what it checks.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.local.metrics import TAP
from livectl_cli.local.stack import LocalConfig, LocalStack
from tests.template.operations import CUSTOM_METRICS, MetricRef, referenced_custom_metrics

pytestmark = [pytest.mark.template, pytest.mark.emulator]
ROOT = Path(__file__).resolve().parents[2]
TRTC = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}


class Emitted:
    """Every (metric name, dimension names) of every EMF document printed while collecting."""

    def __init__(self) -> None:
        self.found: set[MetricRef] = set()
        self._lock = threading.Lock()

    def __call__(self, doc: dict[str, Any]) -> None:
        with self._lock:
            for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
                for dimensions in directive.get("Dimensions") or [[]]:
                    for metric in directive.get("Metrics", []):
                        self.found.add((metric["Name"], frozenset(dimensions)))


@pytest.fixture(scope="module")
def emitted() -> Iterator[Emitted]:
    collected = Emitted()
    remove = TAP.add(collected)
    config = LocalConfig(moto_port=0, emulator_port=0, webhook_port=0, poll_interval=0.1, failed_visibility=0)
    stack = LocalStack(config).start()
    try:
        drive(stack, collected)
        yield collected
    finally:
        stack.stop()
        remove()


def send(stack: LocalStack, stem: str, doc: dict[str, Any] | str) -> None:
    body = doc if isinstance(doc, str) else json.dumps(doc)
    boto3.client("sqs").send_message(QueueUrl=stack.outputs[f"{stem}QueueUrl"], MessageBody=body)


def post(url: str, body: bytes, sign: str) -> int:
    headers = {"Content-Type": "application/json", "Sign": sign, "SdkAppId": str(TRTC["SdkAppId"])}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for_names(collected: Emitted, names: tuple[str, ...], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not set(names) <= {name for name, _ in collected.found}:
        time.sleep(0.2)


def drive(stack: LocalStack, collected: Emitted) -> None:
    emulator = stack.emulator
    emulator.add_task("pull_record", "m-stop", status="生效中")
    emulator.add_task("pull_record", "m-query", status="生效中")
    emulator.add_task("pull_record", "m-stopped", status="停用")
    emulator.add_task("pull_to_push", "m-relay", status="停用")
    emulator.add_task("pull_to_push", "m-relay-stop", status="生效中")
    emulator.add_task("cloud_recording", "m-crec", storage="vod", files=1)  # its 301 arms the guard
    emulator.add_task("cloud_recording", "m-crec-guarded", storage="vod", files=1)
    emulator.add_task("cdn_publish", "m-cdn")
    # Three throttling answers in a row outlast one invocation's retries: the command goes back to its queue.
    emulator.set_faults({"kinds": ["throttle"], "actions": ["StopPublishCdnStream"], "count": 3})
    send(stack, "StopPullRecord", {"action": "StopPullRecordTask", "params": {"TaskId": "m-stop"}})
    send(stack, "StopPullRecord", {"action": "StopPullRecordTask", "params": {"TaskId": "m-stopped"}})
    send(stack, "StopPullRecord", {"action": "StopPullRecordTask", "params": {"TaskId": "m-nobody"}})
    stale = {"action": "StopPullRecordTask", "params": {"TaskId": "m-stop"}, "not_after": "2020-01-01T00:00:00Z"}
    send(stack, "StopPullRecord", stale)
    send(stack, "GetPullRecord", {"action": "GetPullRecordTask", "params": {"TaskID": "m-query"}})
    send(stack, "GetPullRecord", '{"action": "GetPullRecordTask", "params": {"TaskId": "typo"}}')
    send(stack, "RestartPullToPush", {"action": "RestartPullToPushTask", "params": {"TaskId": "m-relay"}})
    send(stack, "StopPullToPush", {"action": "StopPullToPushTask", "params": {"TaskId": "m-relay-stop"}})
    guarded = {"action": "DeleteCloudRecording", "params": {**TRTC, "TaskId": "m-crec-guarded"}, "via": "guard"}
    send(stack, "DeleteCloudRecording", guarded)  # a guard's auto-stop, as its schedule delivers it
    wait_for_names(collected, ("GuardArmed",))  # then stop m-crec: its end callbacks disarm its guard
    send(stack, "DeleteCloudRecording", {"action": "DeleteCloudRecording", "params": {**TRTC, "TaskId": "m-crec"}})
    send(stack, "StopCdnPublish", {"action": "StopPublishCdnStream", "params": {**TRTC, "TaskId": "m-cdn"}})

    sample = json.loads((ROOT / "events" / "trtc_callback_302.json").read_text(encoding="utf-8"))
    doc = json.loads(sample["body"])
    doc["CallbackTs"] = int(time.time() * 1000)
    body = json.dumps(doc).encode()
    sign = trtc_callback_sign(LOCAL_CALLBACK_KEY, body)
    assert post(stack.webhook_url, body, sign) == 200  # accepted
    assert post(stack.webhook_url, body, sign) == 200  # duplicate
    assert post(stack.webhook_url, body, "forged" + sign[6:]) == 401  # rejected

    wait_for_names(collected, CUSTOM_METRICS)
    time.sleep(0.5)  # whatever else was in flight: its invocation flushes when it returns


def test_every_metric_an_alarm_or_the_dashboard_names_is_emitted(emitted: Emitted, cfn, defaults) -> None:
    referenced = referenced_custom_metrics(cfn, defaults)
    missing = sorted((name, sorted(dims)) for name, dims in referenced - emitted.found)
    assert not missing, f"named by an alarm or the dashboard, never emitted: {missing}"


def test_each_command_outcome_and_webhook_answer_was_driven(emitted: Emitted) -> None:
    """The scenario above really reached every outcome (so the check above is not vacuous)."""
    names = {name for name, _ in emitted.found}
    assert set(CUSTOM_METRICS) <= names, set(CUSTOM_METRICS) - names
