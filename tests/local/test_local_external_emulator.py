"""The local stack with an emulator and a moto server it did not start (`LocalConfig.emulator_url`,
`LocalConfig.aws_endpoint`, as the burst bench runs it: each in a process of its own). The stack wires its
resources, functions and callbacks to them and starts neither."""

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
def external_moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack_config(external: Any, external_moto: str) -> dict[str, Any]:
    return {
        "emulator_url": external.url + "/",
        "emulator_latency": {"latency_ms": 5, "jitter_ms": 1},
        "aws_endpoint": external_moto,
    }


def test_the_stack_uses_the_given_emulator_and_points_its_callbacks_home(stack: LocalStack, external: Any) -> None:
    assert stack.emulator is None and stack.moto is None  # none of its own
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


def test_the_resources_live_in_the_given_moto(stack: LocalStack, external_moto: str) -> None:
    import boto3

    assert stack.aws_endpoint == external_moto
    sqs = boto3.client("sqs", endpoint_url=external_moto, region_name="ap-southeast-1")
    assert stack.outputs["StopPullRecordQueueUrl"] in sqs.list_queues()["QueueUrls"]
