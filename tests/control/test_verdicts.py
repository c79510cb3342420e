"""Outcomes as data: for every action and every kind of outcome, what a `Verdict` derives (the task's STATE
fields, the command item, the FAILED#<day> item, the event's detail-type and detail, in order) equals a table
written out here. A change in the catalogue's outcome tables or in the verdict's rows shows as a failure here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livectl.command import parse_command
from livectl.control import verdict as v
from livectl.errors import PermanentProviderError, TransientProviderError
from livectl.providers.catalogue import ACTIONS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
AT = "2026-11-21T10:00:00.123456+00:00"
PARAMS: dict[str, dict[str, Any]] = {
    "StopPullRecordTask": {"TaskId": "t-1"},
    "GetPullRecordTask": {"TaskID": "t-1"},
    "RestartPullToPushTask": {"TaskId": "t-1"},
    "StopPullToPushTask": {"TaskId": "t-1"},
    "DeleteCloudRecording": {"SdkAppId": 1400000001, "TaskId": "t-1", "Region": "ap-guangzhou"},
    "StopPublishCdnStream": {"SdkAppId": 1400000001, "TaskId": "t-1", "Region": "ap-guangzhou"},
}
STOP = ("stopped", "Task Stopped", False), ("stop_failed", "Task Stop Failed", False)
RESTART = ("restarted", "Task Restarted", False), ("restart_failed", "Task Restart Failed", False)
QUERY = ("running", "Task Status", False), ("unknown", "Task Status", True)  # the query answered 生效中
# action -> (state, detail-type, keep_state) of (done and already_done, failed); the other kinds are common.
EXPECTED = {
    "StopPullRecordTask": STOP,
    "GetPullRecordTask": QUERY,
    "RestartPullToPushTask": RESTART,
    "StopPullToPushTask": STOP,
    "DeleteCloudRecording": STOP,
    "StopPublishCdnStream": STOP,
}
COMMON = {
    "retrying": ("pending", None, True),
    "stale": (None, "Command Rejected", False),
    "rejected": (None, "Command Rejected", False),
}
STOP_STEMS = {"StopPullRecordTask": "pullrec", "StopPullToPushTask": "pullpush", "DeleteCloudRecording": "cloudrec"}
STOP_STEMS["StopPublishCdnStream"] = "cdnpub"


def verdicts(action: str, **doc: Any) -> dict[str, v.Verdict]:
    command = parse_command({"action": action, "params": PARAMS[action], "id": "c-1", **doc})
    result = {"status": "done", "at": AT, "request_id": "r-1", "provider_calls": 1, "task_status": "生效中"}
    already = {**result, "status": "already_done", "error_code": "FailedOperation.TaskFinished"}
    refusal = PermanentProviderError("task not found", code="InvalidParam", request_id="r-2", provider="volcengine")
    outage = TransientProviderError("busy", code="ServiceUnavailable", request_id="r-3", provider="volcengine")
    stale = parse_command(
        {"action": action, "params": PARAMS[action], "id": "c-1", "not_after": "2026-11-21T09:00:00+00:00", **doc}
    )
    return {
        "done": v.applied(command, result, "m-1", NOW - timedelta(seconds=2)),
        "already_done": v.applied(command, already, "m-1", None),
        "failed": v.failed(command, refusal, NOW, "m-1"),
        "retrying": v.retrying(command, outage, NOW, "m-1", 2),
        "stale": v.stale(stale, NOW, "m-1"),
        "rejected": v.rejected(json.dumps({"id": "c-1"}), "params.TaskID", "bad", NOW, action, "m-1"),
    }


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_and_outcome_leaves_the_state_and_event_of_its_table(action: str) -> None:
    applied, failed = EXPECTED[action]
    table = {"done": applied, "already_done": applied, "failed": failed, **COMMON}
    for kind, verdict in verdicts(action).items():
        state = verdict.state_fields()
        found = ((state or {}).get("state"), verdict.outcome.detail_type, verdict.outcome.keep_state)
        assert found == table[kind], (action, kind)
    assert ACTIONS[action].stop_stem == STOP_STEMS.get(action)


def test_a_stop_by_the_guard_derives_these_records() -> None:
    out = verdicts("DeleteCloudRecording", via="guard")
    task = {"action": "DeleteCloudRecording", "task_id": "t-1", "provider": "trtc", "account": "default"}
    head = {**task, "command_id": "c-1", "at": AT, "via": "guard"}
    key = out["done"].command.key  # type: ignore[union-attr]
    params = PARAMS["DeleteCloudRecording"]
    assert list(out["done"].detail().items()) == list(
        {
            **head,
            "outcome": "done",
            "request_id": "r-1",
            "error_code": None,
            "lateness_ms": 2000,
            "late_from": "sent",
        }.items()
    )
    assert out["done"].item() == {
        "action": "DeleteCloudRecording",
        "account": "default",
        "command_key": key,
        "command_id": "c-1",
        "via": "guard",
        "params": params,
        "outcome": "done",
        "state": "stopped",
        "request_id": "r-1",
        "provider_calls": 1,
        "provider_status": "生效中",
        "message_id": "m-1",
        "lateness_ms": 2000,
        "late_from": "sent",
    }
    state = {
        "state": "stopped",
        "kind": "cloud_recording",
        "provider": "trtc",
        "task_id": "t-1",
        "account": "default",
        "last_action": "DeleteCloudRecording",
        "last_request_id": "r-1",
        "last_command_key": key,
        "last_error_code": None,
        "last_error_reason": None,
    }
    assert out["done"].state_fields() == {
        **state,
        "last_outcome": "done",
        "provider_status": "生效中",
        "guard_status": "fired",
    }
    assert out["already_done"].item()["error_code"] == "FailedOperation.TaskFinished"
    assert "lateness_ms" not in out["already_done"].detail()  # no send time known
    assert list(out["failed"].detail().items()) == list(
        {
            **head,
            "outcome": "failed",
            "request_id": "r-2",
            "error_code": "InvalidParam",
            "reason": "task not found",
        }.items()
    )
    assert out["failed"].item() == {
        "action": "DeleteCloudRecording",
        "account": "default",
        "command_key": key,
        "command_id": "c-1",
        "params": params,
        "outcome": "failed",
        "error_code": "InvalidParam",
        "request_id": "r-2",
        "reason": "task not found",
        "message_id": "m-1",
    }
    failed_state = {**state, "state": "stop_failed", "last_request_id": "r-2", "last_outcome": "failed"}
    failed_state.update(last_error_code="InvalidParam", last_error_reason="task not found")
    assert out["failed"].state_fields() == failed_state
    failure = {**task, "outcome": "failed", "error_code": "InvalidParam", "reason": "task not found"}
    assert out["failed"].failure() == {**failure, "request_id": "r-2", "receive_count": None}
    assert out["failed"].entry().failure == out["failed"].failure()
    retry = out["retrying"]
    assert retry.state_fields() == {
        **state,
        "state": "pending",
        "last_outcome": "retrying",
        "last_request_id": "r-3",
        "last_error_code": "ServiceUnavailable",
        "last_error_reason": "busy",
        "receive_count": 2,
    }
    assert retry.failure() == {
        **task,
        "outcome": "retrying",
        "error_code": "ServiceUnavailable",
        "reason": "busy",
        "request_id": "r-3",
        "receive_count": 2,
    }
    reason = f"arrived at {AT}, after not_after 2026-11-21T09:00:00+00:00; dropped"
    stale = out["stale"]
    assert stale.state_fields() is None
    assert list(stale.detail().items()) == list(
        {**head, "outcome": "stale", "reason": reason, "field": "not_after"}.items()
    )
    assert stale.item() == {
        "action": "DeleteCloudRecording",
        "account": "default",
        "command_key": stale.command.key,  # type: ignore[union-attr]
        "command_id": "c-1",
        "params": params,
        "outcome": "stale",
        "reason": reason,
        "not_after": "2026-11-21T09:00:00+00:00",
        "message_id": "m-1",
    }


def test_a_query_reports_the_status_and_a_rejection_its_field() -> None:
    out = verdicts("GetPullRecordTask")
    head = {"action": "GetPullRecordTask", "task_id": "t-1", "provider": "volcengine", "account": "default"}
    assert list(out["done"].detail().items()) == list(
        {
            **head,
            "command_id": "c-1",
            "at": AT,
            "outcome": "done",
            "request_id": "r-1",
            "error_code": None,
            "status": "生效中",
            "status_name": "ACTIVE",
            "state": "running",
        }.items()
    )
    assert out["failed"].state_fields()["state"] == "unknown"  # type: ignore[index]
    assert out["failed"].entry().keep_state  # a failed read never overwrites what the task's state is
    rejected = out["rejected"]
    digest = rejected.item()["body_sha256"]
    assert list(rejected.detail().items()) == list(
        {
            "action": "GetPullRecordTask",
            "command_id": "c-1",
            "message_id": "m-1",
            "outcome": "rejected",
            "field": "params.TaskID",
            "reason": "bad",
            "at": AT,
        }.items()
    )
    assert rejected.item() == {
        "action": "GetPullRecordTask",
        "outcome": "rejected",
        "field": "params.TaskID",
        "reason": "bad",
        "body_sha256": digest,
        "command_id": "c-1",
        "message_id": "m-1",
    }
    entry = rejected.entry()
    assert (entry.pk, entry.key, entry.state) == ("REJECTED#2026-11-21", "m-1", None)
    assert rejected.summary() == {"outcome": "rejected", "field": "params.TaskID", "reason": "bad"}


@pytest.mark.parametrize(
    ("status", "state", "name"),
    [
        ("未开始", "not_started", "NOT_STARTED"),
        ("停用", "stopped", "STOPPED"),
        ("已结束", "ended", "ENDED"),
        ("?", "unknown", "UNKNOWN"),
        ("暂停", "unknown", "UNKNOWN"),
        (None, "unknown", "UNKNOWN"),
    ],
)
def test_a_query_state_follows_the_provider_status(status: str | None, state: str, name: str) -> None:
    command = parse_command({"action": "GetPullRecordTask", "params": {"TaskID": "t-1"}})
    verdict = v.applied(command, {"status": "done", "at": AT, "task_status": status}, None, None)
    assert (verdict.detail()["state"], verdict.detail()["status_name"], verdict.detail()["status"]) == (
        state,
        name,
        status,
    )
    assert verdict.state_fields()["provider_status"] == status  # type: ignore[index]


def test_an_event_names_a_command_without_id_by_its_key_and_its_item_by_none() -> None:
    command = parse_command({"action": "StopPullRecordTask", "params": {"TaskId": "t-1"}})
    verdict = v.applied(command, {"status": "done", "at": AT}, None, None)
    assert verdict.detail()["command_id"] == command.key
    assert "command_id" not in verdict.item()
