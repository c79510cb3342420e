"""How livectl settles a refusal that is ambiguous by code, over real HTTP against the emulator.

Volcengine answers `InvalidParam` both for a bad request and for a task that is not in the state the action
starts from (a stop of a stopped task, a restart of a running relay). Every action with a `confirm_with` query
settles it by the status that query reports, never by message text: "already done" exactly when the status is
one of the action's `confirm_statuses`. The case that matters most is a lost answer: the call went through,
its answer did not arrive, and the retry is refused.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from livectl.errors import PermanentProviderError, TransientProviderError
from livectl.providers.catalogue import ACTIONS, CONFIRM_QUERIES, LIST_PAGE_SIZE_MAX, TRTC, Action
from livectl.providers.clients import ProviderClient
from livectl.providers.operations import perform
from livectl.providers.retry import RetryPolicy
from livectl_cli.emulator.model import PROCESSED_FAULTS, PULL_STATUSES

pytestmark = pytest.mark.emulator

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)
CONFIRMED = sorted(name for name, a in ACTIONS.items() if a.confirm_with)
MUTATIONS = sorted(name for name, a in ACTIONS.items() if a.is_mutation)
TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}
# What each action starts from and leads to at the emulator (docs/emulator.md, "Tasks and state machines").
STARTS = {
    "StopPullRecordTask": {"未开始", "生效中"},
    "RestartPullToPushTask": {"停用"},
    "StopPullToPushTask": {"未开始", "生效中"},
}
# (status before, status after) per mutation
MOVES = {
    "StopPullRecordTask": ("生效中", "停用"),
    "RestartPullToPushTask": ("停用", "生效中"),
    "StopPullToPushTask": ("生效中", "停用"),
    "DeleteCloudRecording": ("InProgress", "Exited"),
    "StopPublishCdnStream": ("RUNNING", "IDLE"),
}


def params_for(action: Action, task_id: str, **extra: Any) -> dict[str, Any]:
    return {action.task_id_param: task_id, **(TRTC_PARAMS if action.provider == TRTC else {}), **extra}


def settle(action: Action, params: dict[str, Any], credentials: Any, client: Any) -> Any:
    return perform(action, params, credentials, client, deadline=time.monotonic() + 20, policy=FAST)


def credentials_for(action: Action, volc_credentials: Any, trtc_credentials: Any) -> Any:
    return trtc_credentials if action.provider == TRTC else volc_credentials


@pytest.mark.parametrize("status", PULL_STATUSES)
@pytest.mark.parametrize("name", CONFIRMED)
def test_each_refusal_is_settled_by_the_status_alone(emulator, livectl_client, volc_credentials, name, status):
    """Every (action, status): done when the action starts from it; otherwise the refusal plus one query, then
    already done exactly when the status is a confirm status, and the refusal itself when it is not."""
    action = ACTIONS[name]
    emulator.add_task(action.kind, "t-1", status=status)
    query = action.confirm_with
    if status in STARTS[name]:
        assert settle(action, params_for(action, "t-1"), volc_credentials, livectl_client).status == "done"
        assert [c["action"] for c in emulator.calls()] == [name]
        return
    if status in action.confirm_statuses:
        outcome = settle(action, params_for(action, "t-1"), volc_credentials, livectl_client)
        assert (outcome.status, outcome.error_code, outcome.task_status) == ("already_done", "InvalidParam", status)
        assert outcome.provider_calls == 2
    else:
        with pytest.raises(PermanentProviderError) as err:
            settle(action, params_for(action, "t-1"), volc_credentials, livectl_client)
        assert err.value.code == "InvalidParam"
    assert [(c["action"], c["error_code"]) for c in emulator.calls()] == [(name, "InvalidParam"), (query, None)]
    assert emulator.task(action.kind, "t-1")["status"] == status  # nothing changed at the provider


def test_restart_confirm_statuses_are_the_enabled_ones():
    assert ACTIONS["RestartPullToPushTask"].confirm_statuses == {"生效中", "未开始"}
    assert ACTIONS["RestartPullToPushTask"].confirm_codes == {"InvalidParam"}
    assert ACTIONS["RestartPullToPushTask"].confirm_with in CONFIRM_QUERIES


def test_relay_stop_confirm_statuses_are_the_stopped_ones():
    """StopPullToPushTask's "already done": the relay is 停用 or 已结束, confirmed by listing it."""
    stop = ACTIONS["StopPullToPushTask"]
    assert stop.confirm_statuses == {"停用", "已结束"}
    assert stop.confirm_codes == {"InvalidParam"}
    assert stop.confirm_with == "ListPullToPushTaskV2"
    assert (stop.kind, stop.verb) == ("pull_to_push", "stop")


def test_mutation_table_covers_every_mutation():
    assert set(MOVES) == set(MUTATIONS)


@pytest.mark.parametrize("fault", sorted(PROCESSED_FAULTS))
@pytest.mark.parametrize("name", MUTATIONS)
def test_a_lost_answer_then_a_refused_retry_is_already_done(emulator, volc_credentials, trtc_credentials, name, fault):
    """The call is carried out but its answer is lost (late past the read timeout, cut short, not JSON); the
    retry is refused because the task is already where the call put it. Every mutation ends as already done."""
    action = ACTIONS[name]
    emulator.add_task(action.kind, "lost", status=MOVES[name][0])
    emulator.set_faults({"kinds": [fault], "actions": [name], "count": 1, "delay_ms": 1500})
    client = ProviderClient({"volcengine": emulator.url, "trtc": emulator.url}, timeout=(2.0, 0.5))
    credentials = credentials_for(action, volc_credentials, trtc_credentials)

    outcome = settle(action, params_for(action, "lost"), credentials, client)

    assert outcome.status == "already_done"
    assert emulator.task(action.kind, "lost")["status"] == MOVES[name][1]
    calls = [(c["action"], c["fault"]) for c in emulator.calls()]
    assert calls[:2] == [(name, fault), (name, None)]
    assert [c for c, _ in calls[2:]] == ([action.confirm_with] if action.confirm_with else [])


def test_a_restart_finds_its_relay_beyond_the_first_page(emulator, livectl_client, volc_credentials):
    others = [{"kind": "pull_to_push", "task_id": f"other-{i}", "status": "停用"} for i in range(LIST_PAGE_SIZE_MAX)]
    requests.post(f"{emulator.url}/_emulator/tasks", json=others, timeout=30).raise_for_status()
    emulator.add_task("pull_to_push", "late", status="生效中")
    outcome = settle(ACTIONS["RestartPullToPushTask"], {"TaskId": "late"}, volc_credentials, livectl_client)
    assert (outcome.status, outcome.task_status, outcome.provider_calls) == ("already_done", "生效中", 3)
    pages = [c["params"] for c in emulator.calls() if c["action"] == "ListPullToPushTaskV2"]
    assert pages == [{"Page": 1, "Size": 500}, {"Page": 2, "Size": 500}]


def test_a_restart_naming_a_group_lists_only_that_group(emulator, livectl_client, volc_credentials):
    emulator.add_task("pull_to_push", "grouped", status="生效中", group_name="east")
    outcome = settle(
        ACTIONS["RestartPullToPushTask"], {"TaskId": "grouped", "GroupName": "east"}, volc_credentials, livectl_client
    )
    assert outcome.status == "already_done"
    [listing] = [c for c in emulator.calls() if c["action"] == "ListPullToPushTaskV2"]
    assert listing["params"] == {"GroupNames": ["east"], "Page": 1, "Size": 500}


def test_a_relay_the_list_does_not_show_leaves_the_refusal(emulator, livectl_client, volc_credentials):
    """Refused, and not among the relays listed (here: another group): nothing says it is running."""
    emulator.add_task("pull_to_push", "elsewhere", status="生效中", group_name="west")
    with pytest.raises(PermanentProviderError):
        settle(
            ACTIONS["RestartPullToPushTask"],
            {"TaskId": "elsewhere", "GroupName": "west-typo"},
            volc_credentials,
            livectl_client,
        )


def test_a_failing_confirm_query_is_retried_later_not_reported_as_failed(emulator, livectl_client, volc_credentials):
    """If the provider cannot answer the query now, the refusal is not final: the command must be retried."""
    emulator.add_task("pull_to_push", "unsure", status="生效中")
    emulator.set_faults({"kinds": ["http_502"], "actions": ["ListPullToPushTaskV2"]})
    with pytest.raises(TransientProviderError):
        settle(ACTIONS["RestartPullToPushTask"], {"TaskId": "unsure"}, volc_credentials, livectl_client)
    assert [c["action"] for c in emulator.calls()].count("ListPullToPushTaskV2") == FAST.attempts
