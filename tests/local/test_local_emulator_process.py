"""The local stack with the emulator in a process of its own (`LocalConfig.emulator_process`, what `livectl local`
starts): `livectl emulator` as a child, configured as the stack would configure one in its process (seed,
callbacks to the stack's webhook, latency), reached by the functions, read by `stack.emulator` over its admin
API (its end with the stack: test_local_emulator_process_stop.py)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from livectl_cli.commands.local import _print_banner
from livectl_cli.emulator.process import EmulatorClient, EmulatorProcess
from livectl_cli.local.stack import LocalStack
from livectl_cli.main import main
from tests.local.conftest import task_items, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.emulator, pytest.mark.slow]

TRTC = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}


@pytest.fixture(scope="module")
def stack_config() -> dict[str, Any]:
    return {"emulator_process": True, "seed": 11, "emulator_latency": {"latency_ms": 5, "jitter_ms": 1}}


def test_the_emulator_is_served_by_a_process_of_its_own(stack: LocalStack) -> None:
    assert isinstance(stack.emulator, EmulatorProcess) and stack.emulator.proc.poll() is None
    serving = EmulatorClient(stack.emulator_url).health()["pid"]
    assert serving == stack.emulator.pid != os.getpid()
    assert stack.environment["LIVECTL_TRTC_ENDPOINT"] == stack.emulator_url == stack.state()["emulator_url"]


def test_it_is_configured_as_the_stack_would_configure_its_own(stack: LocalStack) -> None:
    config = EmulatorClient(stack.emulator_url).configure()
    assert config["callback_url"] == stack.webhook_url and config["callback_key_set"]
    assert config["seed"] == 11
    assert config["latency"] == {p: {"latency_ms": 5.0, "jitter_ms": 1.0} for p in ("volcengine", "trtc")}


def test_a_command_reaches_it_and_its_call_log_is_read_over_http(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.emulator.add_task("pull_record", "t-apart", status="生效中")
    assert main(["send", "StopPullRecordTask", "--params", '{"TaskId": "t-apart"}']) == 0
    wait_for(lambda: stack.emulator.task("pull_record", "t-apart")["status"] == "停用", timeout=60)
    calls = stack.emulator.calls("StopPullRecordTask")
    assert [(c["task_id"], c["error_code"], c["signature_valid"]) for c in calls] == [("t-apart", None, True)]
    assert stack.emulator.task("pull_record", "no-such-task") is None


def test_its_callbacks_reach_the_stacks_webhook(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.emulator.add_task("cloud_recording", "t-apart-hook", storage="vod", files=1)
    assert main(["send", "DeleteCloudRecording", "--params", json.dumps({**TRTC, "TaskId": "t-apart-hook"})]) == 0

    def stored() -> set[int]:
        return {i["event_type"] for i in task_items(capsys, "t-apart-hook", "trtc") if i["sk"].startswith("CB#")}

    wait_for(lambda: {301, 302, 311, 312} <= stored())
    assert stack.emulator.wait_callbacks(30)
    deliveries = [d for d in stack.emulator.callback_log() if d["task_id"] == "t-apart-hook"]
    assert deliveries and {(d["url"], d["http_status"]) for d in deliveries} == {(stack.webhook_url, 200)}


def test_the_banner_reads_the_round_trip_over_http(stack: LocalStack, tmp_path: Any, capsys: Any) -> None:
    _print_banner(stack, tmp_path / "state.json")
    out = capsys.readouterr().out
    assert f"{stack.emulator_url}   (a process of its own," in out
    assert "volcengine 5±1 ms, trtc 5±1 ms" in out
