"""The local stack with an emulator it did not start (`LocalConfig.emulator_url`, as the burst bench runs it: the
emulator in a process of its own). The stack wires its functions and callbacks to that emulator and starts none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from livectl_cli.emulator import Emulator
from livectl_cli.local.stack import LocalStack
from livectl_cli.main import main
from tests.local.conftest import wait_for

pytestmark = [pytest.mark.aws, pytest.mark.emulator]


@pytest.fixture(scope="module")
def external() -> Iterator[Any]:
    emulator = Emulator("127.0.0.1", 0, 3, callback_url=None).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def stack_config(external: Any) -> dict[str, Any]:
    return {"emulator_url": external.url + "/", "emulator_latency": {"latency_ms": 5, "jitter_ms": 1}}


def test_the_stack_uses_the_given_emulator_and_points_its_callbacks_home(stack: LocalStack, external: Any) -> None:
    assert stack.emulator is None  # none of its own
    assert stack.emulator_url == external.url
    assert stack.environment["LIVECTL_VOLCENGINE_ENDPOINT"] == external.url
    config = external.configure()
    assert config["callback_url"] == stack.webhook_url and config["callback_key_set"]
    assert config["latency_ms"] == 5 and config["jitter_ms"] == 1


def test_a_command_is_applied_by_the_given_emulator(
    stack: LocalStack, external: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    external.add_task("pull_record", "t-external", status="生效中")
    assert main(["send", "StopPullRecordTask", "--params", '{"TaskId": "t-external"}']) == 0
    wait_for(lambda: external.task("pull_record", "t-external")["status"] == "停用", timeout=60)
    assert [c["error_code"] for c in external.calls("StopPullRecordTask")] == [None]
