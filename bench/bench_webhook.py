"""Webhook benchmark: the TRTC callback handler's warm latency per callback, and its import time.

`run()` returns rows for bench/run.py:
- warm p50 / p99 / max over 1,000 distinct signed callbacks through the real handler (moto in-process for
  DynamoDB, EventBridge, Secrets Manager and SQS; the first, cold call is excluded). The cost guard is on: every
  301 (Status 0) and applied 401 RUNNING / IDLE, and every 302/310/312, sends one guard signal to the schedule
  manager's queue (SQS SendMessage); the arming callbacks' own p99 is reported apart. moto's in-process latency
  stands in for DynamoDB's ~5-10 ms per call in a region, so treat the absolute figure as the handler's own
  cost plus a fake backend; the quality bar is warm p99 < 50 ms.
- duplicate p50 (the same callbacks again: one conditional put, then 200) and rejected p50 (forged Sign).
- the handler module's import time in a fresh interpreter (median of 7), with bytecode as built.

    .venv/bin/python bench/bench_webhook.py
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
N = 1000
T0_MS = 1763712000000


def _environment() -> None:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "ap-southeast-1",
            "AWS_REGION": "ap-southeast-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "LEDGER_TABLE": "bench-ledger",
            "EVENT_BUS_NAME": "bench-bus",
            "CALLBACK_SECRET_NAME": "bench/callback",
            "POWERTOOLS_SERVICE_NAME": "livectl",
            "POWERTOOLS_METRICS_NAMESPACE": "livectl",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    for path in (ROOT / "layers" / "livectl", ROOT / "cli", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def _setup_aws() -> None:
    import boto3

    from livectl.webhook.callbacks import LOCAL_CALLBACK_SECRET

    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="bench-ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("events").create_event_bus(Name="bench-bus")
    # the cost guard's signals (read by the handler module at import, so created before it is imported)
    if os.environ.get("BENCH_WEBHOOK_GUARD", "1") != "0":  # 0: the receiver without the guard, for comparison
        queue = boto3.client("sqs").create_queue(QueueName="bench-schedule-requests")
        os.environ["GUARD_QUEUE_URL"] = queue["QueueUrl"]
    boto3.client("secretsmanager").create_secret(Name="bench/callback", SecretString=json.dumps(LOCAL_CALLBACK_SECRET))


def _events() -> list[dict[str, Any]]:
    from livectl.providers.signing import trtc_callback_sign
    from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY, LOCAL_SDK_APP_ID

    out = []
    for i in range(N):
        at = T0_MS + i
        event_type = (301, 302, 304, 310, 311, 312, 401)[i % 7]
        payload: dict[str, Any] = {"Status": 0}
        if event_type == 310:
            payload = {
                "Status": 0,
                "FileList": [f"f{i}.mp4"],
                "FileMessage": [{"FileName": f"f{i}.mp4", "MediaId": "main"}],
            }
        elif event_type == 311:
            payload = {
                "Status": 0,
                "TencentVod": {"FileId": str(10**18 + i), "VideoUrl": f"https://v/{i}.mp4", "CacheFile": f"{i}.mp4"},
            }
        elif event_type == 304:
            payload = {"FileList": f"f{i}.m3u8"}
        elif event_type == 401:
            payload = {"Url": "rtmp://cdn/live/x", "Status": i % 6}
        info = {"RoomId": "635055", "EventTs": at // 1000, "EventMsTs": at, "UserId": "bot", "TaskId": f"task-{i % 50}"}
        info["Payload"] = payload
        doc = {"EventGroupId": event_type // 100, "EventType": event_type, "CallbackTs": at, "EventInfo": info}
        body = json.dumps(doc, indent="\t", separators=(",", ":\t")).encode()
        out.append(
            {
                "version": "2.0",
                "headers": {
                    "content-type": "application/json",
                    "sign": trtc_callback_sign(LOCAL_CALLBACK_KEY, body),
                    "sdkappid": str(LOCAL_SDK_APP_ID),
                },
                "requestContext": {"http": {"method": "POST", "path": "/trtc/callback"}, "requestId": f"r{i}"},
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
            }
        )
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _AwsTimer:
    """Time spent inside boto3 API calls (moto answering), to separate the handler's own cost."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.total = 0.0
        self.calls = 0
        original = BaseClient._make_api_call
        timer = self

        def timed(client: Any, operation: str, params: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(client, operation, params)
            finally:
                timer.total += time.perf_counter() - start
                timer.calls += 1

        BaseClient._make_api_call = timed  # type: ignore[method-assign]
        self._restore = lambda: setattr(BaseClient, "_make_api_call", original)

    def close(self) -> None:
        self._restore()


def _time_calls(handler: Any, events: list[dict[str, Any]], timer: _AwsTimer) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"wall": [], "cpu": [], "own": [], "aws_calls": []}
    with open(os.devnull, "w") as sink:  # EMF and log lines: the write stays, the terminal does not
        real_stdout, sys.stdout = sys.stdout, sink
        try:
            for event in events:
                aws_before, calls_before = timer.total, timer.calls
                cpu = time.process_time()
                start = time.perf_counter()
                answer = handler(event, None)
                wall = time.perf_counter() - start
                out["wall"].append(wall * 1000)
                out["cpu"].append((time.process_time() - cpu) * 1000)
                out["own"].append((wall - (timer.total - aws_before)) * 1000)
                out["aws_calls"].append(float(timer.calls - calls_before))
                assert answer["statusCode"] in (200, 401), answer
        finally:
            sys.stdout = real_stdout
    return out


def warm_latency() -> dict[str, float]:
    _environment()
    import logging

    from moto import mock_aws

    from livectl import runtime

    with mock_aws():
        runtime.reset()
        _setup_aws()
        app = importlib.import_module("functions.trtc_callback.app")
        # INFO, as the template deploys it: the JSON log lines are formatted and written, to /dev/null.
        devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the bench process
        for handler in logging.getLogger(app.logger.service).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
                return datetime.fromtimestamp((T0_MS + N // 2) / 1000, UTC)

        app.datetime = Frozen  # type: ignore[attr-defined]
        events = _events()
        timer = _AwsTimer()
        try:
            _time_calls(app.handler, events[:1], timer)  # cold: first secret fetch, boto3 clients
            accepted = _time_calls(app.handler, events[1:], timer)
            arming = [w for i, w in enumerate(accepted["wall"], start=1) if i % 7 == 0]  # the 301s (Status 0)
            duplicate = _time_calls(app.handler, events[1:201], timer)
            forged = [dict(e, headers={**e["headers"], "sign": "AAAA"}) for e in events[1:201]]
            rejected = _time_calls(app.handler, forged, timer)
        finally:
            timer.close()
    runtime.reset()
    return {
        "p50": statistics.median(accepted["wall"]),
        "p99": _percentile(accepted["wall"], 0.99),
        "cpu_p50": statistics.median(accepted["cpu"]),
        "cpu_p99": _percentile(accepted["cpu"], 0.99),
        "own_p50": statistics.median(accepted["own"]),
        "own_p99": _percentile(accepted["own"], 0.99),
        "aws_calls": statistics.mean(accepted["aws_calls"]),
        "arm_p99": _percentile(arming, 0.99),
        "arm_n": float(len(arming)),
        "dup_p50": statistics.median(duplicate["wall"]),
        "rej_p50": statistics.median(rejected["wall"]),
        "n": float(len(accepted["wall"])),
    }


IMPORT_SNIPPET = """
import sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
import functions.trtc_callback.app
print((time.perf_counter() - t) * 1000)
"""


def import_ms(samples: int = 7) -> float:
    paths = [str(ROOT / "layers" / "livectl"), str(ROOT / "cli"), str(ROOT)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update({"AWS_DEFAULT_REGION": "ap-southeast-1", "POWERTOOLS_SERVICE_NAME": "livectl"})
    times = []
    for _ in range(samples):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_SNIPPET.format(paths=paths)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    warm = warm_latency()
    imp = import_ms()
    return [
        {"bench": "webhook", "metric": "warm p50 per callback (ms, moto backend)", "value": round(warm["p50"], 2)},
        {
            "bench": "webhook",
            "metric": "warm p99 per callback (ms, moto backend)",
            "value": round(warm["p99"], 2),
            "bar": "< 50",
        },
        {
            "bench": "webhook",
            "metric": f"warm p99 of the arming 301s (ms, guard signal included, n={int(warm['arm_n'])})",
            "value": round(warm["arm_p99"], 2),
            "bar": "< 50",
        },
        {
            "bench": "webhook",
            "metric": "warm CPU p50 / p99 per callback (ms)",
            "value": f"{warm['cpu_p50']:.2f} / {warm['cpu_p99']:.2f}",
        },
        {
            "bench": "webhook",
            "metric": "handler's own time p50 / p99, AWS calls excluded (ms)",
            "value": f"{warm['own_p50']:.2f} / {warm['own_p99']:.2f}",
        },
        {"bench": "webhook", "metric": "AWS calls per accepted callback (mean)", "value": round(warm["aws_calls"], 2)},
        {"bench": "webhook", "metric": "duplicate p50 (ms)", "value": round(warm["dup_p50"], 2)},
        {"bench": "webhook", "metric": "rejected (forged) p50 (ms)", "value": round(warm["rej_p50"], 3)},
        {
            "bench": "webhook",
            "metric": "handler module import (ms, fresh interpreter, median of 7)",
            "value": round(imp, 1),
        },
        {"bench": "webhook", "metric": "callbacks timed", "value": int(warm["n"])},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['metric']:<60} {row['value']}" + (f"   (bar {row['bar']})" if "bar" in row else ""))
