"""What the local-stack tests share: `stack`, one stack per module started in this process on ephemeral ports
with the operator commands pointed at it (a module overrides `stack_config` for its own settings, and may do
something first there); waiting for a condition; running `livectl` in-process; a task's ledger items."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from livectl_cli.local.stack import LocalConfig, LocalStack
from livectl_cli.main import main

# Short intervals: commands, schedules, redeliveries and callback retries settle in seconds, not minutes.
FAST = {
    "moto_port": 0,
    "emulator_port": 0,
    "webhook_port": 0,
    "poll_interval": 0.1,
    "clock_interval": 0.2,
    "failed_visibility": 0,
    "callback_retry_interval": 0.2,
}


@pytest.fixture(scope="module")
def stack_config() -> dict[str, Any]:
    """LocalConfig fields on top of FAST for this module's stack."""
    return {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_config: dict[str, Any]) -> Iterator[LocalStack]:
    local = LocalStack(LocalConfig(**{**FAST, **stack_config})).start()
    state = tmp_path_factory.mktemp("local-stack") / "state.json"
    state.write_text(json.dumps(local.state()), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setenv("LIVECTL_LOCAL_STATE", str(state))
    try:
        yield local
    finally:
        mp.undo()
        local.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """The predicate's first truthy value, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """`livectl ARGV` in-process: its stdout; it must exit 0."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def task_items(capsys: pytest.CaptureFixture[str], task_id: str, provider: str) -> list[dict[str, Any]]:
    """`livectl task ID --json`'s items, or [] while the task is not in the ledger yet (exit 2)."""
    capsys.readouterr()
    code = main(["task", task_id, "--provider", provider, "--json"])
    out = capsys.readouterr().out
    return json.loads(out)[provider] if code == 0 else []


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    return json.loads(cli(capsys, *argv))
