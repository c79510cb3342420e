"""The cost guard firing: a guard's stop (`"via": "guard"`) through the real action function, the emulator and
moto. It stops a recording nobody stopped; it makes no provider call for a recording whose end the callbacks
already reported; an operator's stop is unaffected by what the callbacks said (the provider is the truth)."""

from __future__ import annotations

from typing import Any

import pytest

from livectl.control import service as control
from livectl.providers.retry import RetryPolicy
from livectl.store.table import task_pk
from tests.control.support import FakeContext, sqs_event

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)
PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}


def guard_stop(task_id: str, via: str | None = "guard") -> dict[str, Any]:
    body: dict[str, Any] = {"action": "DeleteCloudRecording", "params": {**PARAMS, "TaskId": task_id}}
    body["id"] = f"stop-cloudrec-guard-{task_id}@20261121T120000Z"
    if via:
        body["via"] = via
    return body


def run(stack: Any, body: dict[str, Any]) -> dict[str, Any]:
    container = control.Container(stack.settings, policy=FAST)
    answer: dict[str, Any] = control.handle_event(
        sqs_event(body), FakeContext(), "DeleteCloudRecording", stack.settings, container=container
    )
    return answer


def note_end(stack: Any, task_id: str) -> None:
    """What the schedule manager writes when a 302/310/312 reaches it (livectl.guard.manager.GuardState)."""
    stack.client("dynamodb").update_item(
        TableName=stack.settings.ledger_table,
        Key={"pk": {"S": task_pk("trtc", task_id)}, "sk": {"S": "STATE"}},
        UpdateExpression="SET guard_ended_ms = :ms, guard_status = :s",
        ExpressionAttributeValues={":ms": {"N": "1795250700000"}, ":s": {"S": "disarmed"}},
    )


def test_a_guard_stops_a_recording_nobody_stopped(stack, emu):
    emu.add_task("cloud_recording", "forgotten")
    assert run(stack, guard_stop("forgotten")) == {"batchItemFailures": []}
    assert emu.task("cloud_recording", "forgotten")["status"] == "Exited"
    [event] = stack.events("Task Stopped")
    assert event["detail"]["via"] == "guard" and event["detail"]["outcome"] == "done"
    state = stack.ledger().get_state("trtc", "forgotten")
    assert (state["state"], state["guard_status"]) == ("stopped", "fired")


def test_no_provider_call_when_the_recording_already_ended(stack, emu):
    emu.add_task("cloud_recording", "ended-first")
    note_end(stack, "ended-first")
    assert run(stack, guard_stop("ended-first")) == {"batchItemFailures": []}
    assert emu.calls() == []  # not even the refused call a stop of an ended recording would cost
    [event] = stack.events("Task Stopped")
    assert (event["detail"]["via"], event["detail"]["outcome"]) == ("guard", "already_done")


def test_an_operators_stop_still_asks_the_provider_whatever_the_callbacks_said(stack, emu):
    emu.add_task("cloud_recording", "running-again")
    note_end(stack, "running-again")
    assert run(stack, guard_stop("running-again", via=None)) == {"batchItemFailures": []}
    assert [c["action"] for c in emu.calls()] == ["DeleteCloudRecording"]
    [event] = stack.events("Task Stopped")
    assert "via" not in event["detail"]


def test_via_is_part_of_the_contract_and_only_guard_is_known(stack, emu):
    from livectl.command import parse_command
    from livectl.errors import InvalidCommand

    assert parse_command(guard_stop("t")).via == "guard"
    assert parse_command(guard_stop("t")).as_dict()["via"] == "guard"
    with pytest.raises(InvalidCommand) as err:
        parse_command(guard_stop("t", via="robot"))
    assert err.value.field == "via"
