"""The local stack with moto in three processes of its own (`LocalConfig.moto_processes`, what `livectl local`
starts): DynamoDB apart through boto3's AWS_ENDPOINT_URL_DYNAMODB and the functions' idempotency tables in a
third (`TableRouter`), the state file and the exported environment carrying the endpoints, the operator commands
reading the ledger from the DynamoDB process, a command's idempotency record in the third, and every process gone
(and the router off) when the stack stops."""

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

    aws, dynamodb, idempotency = stack.moto_processes
    assert stack.moto is None and all(p.proc.poll() is None for p in stack.moto_processes)
    assert (stack.aws_endpoint, stack.dynamodb_endpoint) == (aws.endpoint, dynamodb.endpoint)
    assert stack.idempotency_endpoint == idempotency.endpoint
    assert stack.environment["AWS_ENDPOINT_URL_DYNAMODB"] == dynamodb.endpoint
    assert stack.state()["dynamodb_endpoint"] == dynamodb.endpoint
    assert stack.state()["idempotency_endpoint"] == idempotency.endpoint
    tables = set(tables_at(dynamodb.endpoint))
    idempotency_tables = set(tables_at(idempotency.endpoint))
    assert tables and not tables_at(aws.endpoint)
    assert idempotency_tables == {s.environment.get("IDEMPOTENCY_TABLE") for s in stack.specs.values()} - {None}
    assert not tables & idempotency_tables
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
    records = [
        item
        for table in tables_at(stack.idempotency_endpoint)
        for item in dynamodb_at(stack.idempotency_endpoint).scan(TableName=table)["Items"]
    ]
    assert any(item.get("status", {}).get("S") == "COMPLETED" for item in records)


def dynamodb_at(endpoint: str) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="ap-southeast-1")


def tables_at(endpoint: str) -> list[str]:
    names: list[str] = dynamodb_at(endpoint).list_tables()["TableNames"]
    return names


def stopped_in_ledger(capsys: pytest.CaptureFixture[str], task_id: str) -> str | None:
    """`livectl task`'s output once it shows the task stopped. Not `cli()`, which asserts exit 0: the emulator
    flips the task before the handler writes the ledger, and until then `livectl task` exits 2 (not there yet)."""
    capsys.readouterr()
    code = main(["task", task_id])
    out = capsys.readouterr().out
    return out if code == 0 and "stopped" in out else None


def test_stopping_the_stack_ends_both_processes() -> None:
    local = LocalStack(LocalConfig(**{**FAST, "moto_processes": True})).start()
    processes, router = list(local.moto_processes), local.table_router
    local.stop()
    assert len(processes) == 3 and all(p.proc.poll() is not None for p in processes)
    assert local.moto_processes == [] and local.table_router is None and router._session is None
