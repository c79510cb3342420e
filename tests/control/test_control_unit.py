"""control's pure parts: settings from the environment, the fleet-safe bucket rate, trigger detection, and the
shape of the five handlers."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from livectl.catalogue import ACTIONS
from livectl.control import ARRIVAL_JITTER, DEFAULT_IDEMPOTENCY_EXPIRES, Settings, bucket_rate, is_sqs_batch
from livectl.ratelimit import TokenBucket
from tests.control.support import FUNCTIONS, load_event

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_settings_from_env_names_only():
    env = {
        "LEDGER_TABLE": "L",
        "EVENT_BUS_NAME": "B",
        "IDEMPOTENCY_TABLE": "I",
        "PROVIDER_SECRET_PREFIX": "prod/livectl/",
        "MAX_CONCURRENCY": "5",
        "LIVECTL_VOLCENGINE_ENDPOINT": "http://127.0.0.1:8900",
        "LIVECTL_TRTC_ENDPOINT": "",
        "IDEMPOTENCY_EXPIRES_SECONDS": "3600",
    }
    s = Settings.from_env(env)
    assert (s.ledger_table, s.event_bus, s.idempotency_table) == ("L", "B", "I")
    assert s.secret_prefix == "prod/livectl/" and s.max_concurrency == 5 and s.idempotency_expires == 3600
    assert s.endpoints == {"volcengine": "http://127.0.0.1:8900", "trtc": ""}


def test_settings_defaults():
    s = Settings.from_env({})
    assert s.secret_prefix == "livectl/"
    assert s.max_concurrency == 2
    # the idempotency record must outlive maxReceiveCount (5) × visibility timeout (6 × 30 s function timeout)
    assert s.idempotency_expires == DEFAULT_IDEMPOTENCY_EXPIRES >= 5 * 6 * 30


@pytest.mark.parametrize("qps", sorted({a.qps for a in ACTIONS.values()}))
@pytest.mark.parametrize("containers", range(2, 11))
def test_bucket_rate_keeps_the_fleet_inside_the_window(qps, containers):
    rate = bucket_rate(qps, containers)
    # a burst-1 bucket admits at most floor(1 + r × (1 + jitter)) calls in one second
    assert containers * math.floor(1 + rate * (1 + ARRIVAL_JITTER)) <= qps
    assert rate <= qps / containers
    if qps % containers == 0:
        assert rate * containers >= 0.9 * qps  # and still uses most of the quota
    else:  # the most a burst-1 bucket can do: floor(QPS / C) calls per container per second
        assert rate * containers >= 0.9 * containers * (qps // containers) / (1 + ARRIVAL_JITTER)


def test_bucket_admits_what_the_formula_says():
    """Drive a real TokenBucket with a fake clock for 10 s of saturation; count the worst one-second window."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    rate = bucket_rate(10, 3)
    bucket = TokenBucket(rate, monotonic=lambda: now[0], sleep=sleep)
    times = []
    for _ in range(100):
        bucket.acquire()
        times.append(now[0])
    worst = max(sum(1 for t in times if start - 1.0 < t <= start) for start in times)
    assert worst <= math.floor(10 / 3)


def test_trigger_detection():
    for action in FUNCTIONS.values():
        assert is_sqs_batch(load_event(f"{action}.sqs.json"))
        assert not is_sqs_batch(load_event(f"{action}.scheduler.json"))
    assert not is_sqs_batch({"Records": []})
    assert not is_sqs_batch({"Records": [{"eventSource": "aws:sns"}]})
    assert not is_sqs_batch("text")


@pytest.mark.parametrize("action", sorted(FUNCTIONS))
def test_handlers_are_thin_and_ship_nothing_of_their_own(action):
    folder = ROOT / "functions" / FUNCTIONS[action]
    source = (folder / "app.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 30
    assert (folder / "requirements.txt").read_text(encoding="utf-8").strip() == ""
    tree = ast.parse(source)
    assigned = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert assigned["ACTION"] == action
    handler = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "handler")
    assert len(handler.body) == 1  # one call into the layer
