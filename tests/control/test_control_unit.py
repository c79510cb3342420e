"""control's pure parts: settings from the environment, each container's limiter, trigger detection, and the
shape of the five handlers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from livectl.catalogue import ACTIONS
from livectl.control import DEFAULT_IDEMPOTENCY_EXPIRES, DEFAULT_WINDOW_MARGIN, Container, Settings, is_sqs_batch
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
        "RATE_WINDOW_MARGIN": "0.05",
    }
    s = Settings.from_env(env)
    assert (s.ledger_table, s.event_bus, s.idempotency_table) == ("L", "B", "I")
    assert s.secret_prefix == "prod/livectl/" and s.max_concurrency == 5 and s.idempotency_expires == 3600
    assert s.endpoints == {"volcengine": "http://127.0.0.1:8900", "trtc": ""}
    assert s.window_margin == 0.05


def test_settings_defaults():
    s = Settings.from_env({})
    assert s.secret_prefix == "livectl/"
    assert s.max_concurrency == 2
    # the idempotency record must outlive maxReceiveCount (5) × visibility timeout (6 × 30 s function timeout)
    assert s.idempotency_expires == DEFAULT_IDEMPOTENCY_EXPIRES >= 5 * 6 * 30


@pytest.mark.parametrize("containers", [2, 3, 5, 10])
def test_each_container_limits_its_share_per_action_and_account(containers):
    settings = Settings("L", "B", "I", max_concurrency=containers)
    box = Container(settings, client=object(), ledger=object(), publisher=object())  # type: ignore[arg-type]
    for name, action in ACTIONS.items():
        limiter = box.limiter(name, "default")
        assert limiter.calls == max(1, action.qps // containers)
        assert limiter.window == pytest.approx(1 + DEFAULT_WINDOW_MARGIN)
        assert containers * limiter.calls <= action.qps  # the fleet's worst window stays within the quota
        assert box.limiter(name, "default") is limiter  # one per container, kept warm
        assert box.limiter(name, "other") is not limiter  # the provider counts per account


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
