"""control's pure parts: settings from the environment, each container's limiter, trigger detection, and the
shape of the five handlers."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from livectl.control.service import (
    DEFAULT_IDEMPOTENCY_EXPIRES,
    DEFAULT_RATE_PACING,
    DEFAULT_WINDOW_MARGIN,
    Container,
    Settings,
    is_sqs_batch,
)
from livectl.providers.catalogue import ACTIONS
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
    assert s.rate_pacing == DEFAULT_RATE_PACING == 0.5


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


@pytest.mark.parametrize("containers", [1, 2, 5])
def test_each_container_paces_its_grants(containers):
    """Regression (issue 12): a batch's records took a whole window's grants at one instant, and the provider,
    counting arrivals, saw the spread of that burst push some of them into the next window. The container's
    limiter now spaces its grants half the fair interval apart: ten records asking at once leave one by one."""
    clock = [100.0]
    settings = Settings("L", "B", "I", max_concurrency=containers)
    box = Container(
        settings,
        client=object(),
        ledger=object(),
        publisher=object(),
        monotonic=lambda: clock[0],
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
    )  # type: ignore[arg-type]
    for name, _action in ACTIONS.items():
        limiter = box.limiter(name, "default")
        fair = (1 + DEFAULT_WINDOW_MARGIN) / limiter.calls
        assert limiter.spacing > 0
        assert limiter.spacing == pytest.approx(DEFAULT_RATE_PACING * fair)
        grants = []
        for _ in range(limiter.calls):
            limiter.acquire()
            grants.append(clock[0])
        gaps = [b - a for a, b in itertools.pairwise(grants)]
        assert all(g >= limiter.spacing - 1e-9 for g in gaps), (name, gaps)


@pytest.mark.parametrize(("raw", "pacing"), [("0", 0.0), ("0.25", 0.25), ("1", 1.0), ("3", 1.0), ("-1", 0.0)])
def test_rate_pacing_from_env_is_kept_between_none_and_the_fair_interval(raw, pacing):
    """More than the fair interval would lower the rate below the share (and the limiter refuses it)."""
    assert Settings.from_env({"RATE_PACING": raw}).rate_pacing == pacing


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
