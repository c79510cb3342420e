"""The local stack with moto in two processes of its own (`LocalConfig.moto_processes`, what `livectl local`
starts): DynamoDB apart through boto3's AWS_ENDPOINT_URL_DYNAMODB, the state file and the exported environment
carrying both endpoints, the operator commands reading the ledger from the DynamoDB process, and both processes
gone when the stack stops."""

from __future__ import annotations

from typing import Any

import pytest

from livectl_cli.local.stack import LocalConfig, LocalStack
from livectl_cli.main import main
from tests.local.conftest import FAST, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.emulator, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack_config() -> dict[str, Any]:
    return {"moto_processes": True}


def test_dynamodb_is_served_by_a_process_of_its_own(stack: LocalStack) -> None:
    import boto3

    aws, dynamodb = stack.moto_processes
    assert stack.moto is None and aws.proc.poll() is None and dynamodb.proc.poll() is None
    assert (stack.aws_endpoint, stack.dynamodb_endpoint) == (aws.endpoint, dynamodb.endpoint)
    assert stack.environment["AWS_ENDPOINT_URL_DYNAMODB"] == dynamodb.endpoint
    assert stack.state()["dynamodb_endpoint"] == dynamodb.endpoint
    tables = boto3.client("dynamodb", endpoint_url=dynamodb.endpoint, region_name="ap-southeast-1").list_tables()
    elsewhere = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name="ap-southeast-1").list_tables()
    assert tables["TableNames"] and not elsewhere["TableNames"]
    queues = boto3.client("sqs", endpoint_url=aws.endpoint, region_name="ap-southeast-1").list_queues()
    assert stack.outputs["StopPullRecordQueueUrl"] in queues["QueueUrls"]


def test_a_command_lands_in_the_ledger_the_operator_commands_read(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another shell: only the state file says where DynamoDB is.
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    stack.emulator.add_task("pull_record", "t-split", status="生效中")
    assert main(["send", "StopPullRecordTask", "--params", '{"TaskId": "t-split"}']) == 0
    wait_for(lambda: stack.emulator.task("pull_record", "t-split")["status"] == "停用", timeout=60)
    shown = wait_for(lambda: stopped_in_ledger(capsys, "t-split"), timeout=30)
    assert "StopPullRecordTask" in shown


def stopped_in_ledger(capsys: pytest.CaptureFixture[str], task_id: str) -> str | None:
    """`livectl task`'s output once it shows the task stopped. Not `cli()`, which asserts exit 0: the emulator
    flips the task before the handler writes the ledger, and until then `livectl task` exits 2 (not there yet)."""
    capsys.readouterr()
    code = main(["task", task_id])
    out = capsys.readouterr().out
    return out if code == 0 and "stopped" in out else None


def test_stopping_the_stack_ends_both_processes() -> None:
    local = LocalStack(LocalConfig(**{**FAST, "moto_processes": True})).start()
    processes = list(local.moto_processes)
    local.stop()
    assert len(processes) == 2 and all(p.proc.poll() is not None for p in processes)
    assert local.moto_processes == []
