"""The provider is the source of truth: a new command always asks it, and an ambiguous refusal is settled by
asking it again, never by the ledger or by message text. Only a redelivery of the same command is answered
from its stored idempotency result.

Handler → layer → emulator (real HTTP, signatures checked) and moto (real boto3).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from livectl.control import service as control
from livectl.providers.catalogue import ACTIONS, TRTC, Action
from livectl.providers.clients import ProviderClient
from livectl.providers.retry import RetryPolicy
from tests.control.support import FakeContext, sqs_event, sqs_record

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)
STOPS = sorted(name for name, a in ACTIONS.items() if a.verb == "stop")
TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}  # the emulator's defaults for a TRTC task
STOPPED_AT_PROVIDER = {
    "pull_record": "停用",
    "pull_to_push": "停用",
    "cloud_recording": "Exited",
    "cdn_publish": "IDLE",
}


def params_for(action: Action, task_id: str) -> dict[str, Any]:
    return {action.task_id_param: task_id, **(TRTC_PARAMS if action.provider == TRTC else {})}


def command(name: str, task_id: str, command_id: str) -> dict[str, Any]:
    return {"action": name, "params": params_for(ACTIONS[name], task_id), "id": command_id}


def run(stack: Any, name: str, body: dict[str, Any], container: control.Container | None = None) -> dict[str, Any]:
    container = container or control.Container(stack.settings, policy=FAST)
    answer: dict[str, Any] = control.handle_event(
        sqs_event(body), FakeContext(), name, stack.settings, container=container
    )
    return answer


# ---------------------------------------------------------------------------------------------------------
# Issue 10 item 2: a stop is never answered from the ledger
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STOPS)
def test_a_new_stop_reaches_the_provider_although_the_ledger_says_stopped(name, stack, emu):
    """The task runs again at the provider (restarted outside livectl): a new stop command must stop it."""
    action = ACTIONS[name]
    emu.add_task(action.kind, "again")
    assert run(stack, name, command(name, "again", "first")) == {"batchItemFailures": []}
    assert stack.ledger().get_state(action.provider, "again")["state"] == "stopped"
    emu.add_task(action.kind, "again")  # running again at the provider; the ledger still says stopped

    assert run(stack, name, command(name, "again", "second")) == {"batchItemFailures": []}

    calls = emu.calls()
    assert [(c["action"], c["error_code"]) for c in calls] == [(name, None), (name, None)]  # exactly one more
    assert emu.task(action.kind, "again")["status"] == STOPPED_AT_PROVIDER[action.kind]
    history = stack.ledger().history(action.provider, "again")
    assert sorted(item["outcome"] for item in history) == ["done", "done"]
    assert [e["detail"]["outcome"] for e in stack.events("Task Stopped")] == ["done", "done"]


@pytest.mark.parametrize("name", STOPS)
def test_a_redelivered_stop_is_answered_from_its_stored_result(name, stack, emu):
    """The same command again (new SQS message id) makes 0 provider calls, even if the task runs again: that
    is what the idempotency record is for; a new command (above) is what asks the provider."""
    action = ACTIONS[name]
    emu.add_task(action.kind, "redelivered")
    body = command(name, "redelivered", "only-once")
    run(stack, name, body)
    emu.add_task(action.kind, "redelivered")
    answer = control.handle_event(
        {"Records": [sqs_record(json.dumps(body), message_id="redelivery", receive_count=2)]},
        FakeContext(),
        name,
        stack.settings,
        container=control.Container(stack.settings, policy=FAST),
    )
    assert answer == {"batchItemFailures": []}
    assert len(emu.calls()) == 1
    assert len(stack.ledger().history(action.provider, "redelivered")) == 1


def test_a_new_stop_of_a_task_stopped_at_the_provider_is_settled_there(stack, emu):
    """Stopping a task that livectl stopped before asks the provider, which refuses; GetPullRecordTask settles
    the refusal as already done (停用). One refused stop plus one query: the ledger is not consulted."""
    emu.add_task("pull_record", "twice")
    run(stack, "StopPullRecordTask", command("StopPullRecordTask", "twice", "first"))
    run(stack, "StopPullRecordTask", command("StopPullRecordTask", "twice", "second"))
    assert [(c["action"], c["error_code"]) for c in emu.calls()] == [
        ("StopPullRecordTask", None),
        ("StopPullRecordTask", "InvalidParam"),
        ("GetPullRecordTask", None),
    ]
    outcomes = [e["detail"]["outcome"] for e in stack.events("Task Stopped")]
    assert sorted(outcomes) == ["already_done", "done"]
    assert stack.ledger().get_state("volcengine", "twice")["state"] == "stopped"


# ---------------------------------------------------------------------------------------------------------
# Issue 10 item 1: a restart whose answer was lost is not reported as failed
# ---------------------------------------------------------------------------------------------------------


def test_a_restart_whose_answer_was_lost_is_reported_restarted(stack, emu):
    """The reported run: the restart goes through but its answer comes after the read timeout (the emulator's
    `delay` fault, scaled down with the client's timeout); the retry is refused with InvalidParam ("only 停用
    tasks can restart"). The relay runs, so the command ends already done and `Task Restarted` goes out."""
    emu.add_task("pull_to_push", "relay-lost", status="停用")
    emu.faults({"kinds": ["delay"], "actions": ["RestartPullToPushTask"], "count": 1, "delay_ms": 1500})
    client = ProviderClient(stack.settings.endpoints, timeout=(2.0, 0.5))
    container = control.Container(stack.settings, client=client, policy=FAST)
    body = {"action": "RestartPullToPushTask", "params": {"TaskId": "relay-lost"}, "id": "restart-1"}

    assert run(stack, "RestartPullToPushTask", body, container) == {"batchItemFailures": []}

    assert emu.task("pull_to_push", "relay-lost")["status"] == "生效中"
    assert [(c["action"], c["fault"], c["error_code"]) for c in emu.calls()] == [
        ("RestartPullToPushTask", "delay", None),  # carried out; the answer never reached livectl
        ("RestartPullToPushTask", None, "InvalidParam"),
        ("ListPullToPushTaskV2", None, None),
    ]
    state = stack.ledger().get_state("volcengine", "relay-lost")
    assert (state["state"], state["last_outcome"], state["provider_status"]) == ("restarted", "already_done", "生效中")
    assert stack.events("Task Restart Failed") == []
    [event] = stack.events("Task Restarted")
    assert (event["detail"]["outcome"], event["detail"]["error_code"]) == ("already_done", "InvalidParam")
    [item] = stack.ledger().history("volcengine", "relay-lost")
    assert (item["outcome"], item["provider_calls"]) == ("already_done", 3)
