"""Scheduling, moving, cancelling and listing against moto's EventBridge Scheduler (real boto3 calls)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from livectl.command import parse_command
from livectl.errors import AwsServiceError, PermanentProviderError
from livectl.schedules.scheduler import ScheduleTarget, StopScheduler, build_schedule_request, schedule_name
from livectl.schedules.service import ScheduleDeps, handle_schedule_request
from livectl.store.ledger import Ledger
from tests.schedules.conftest import GROUP, sample

pytestmark = pytest.mark.aws

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
STOP = {"action": "StopPullRecordTask", "params": {"TaskId": "rec-1"}, "account": "default"}


@pytest.fixture
def deps(moto_stack):
    return ScheduleDeps.from_env(moto_stack.env)


def test_create_then_schedule_again_moves_the_same_schedule(moto_stack, deps):
    first = handle_schedule_request({**STOP, "at": "2026-11-21T18:00:00+08:00"}, deps, NOW)
    assert first["status"] == "created"
    second = handle_schedule_request(json.dumps({**STOP, "after": "3h"}), deps, NOW)
    assert second["status"] == "moved"
    assert second["schedule"] == first["schedule"] == schedule_name("StopPullRecordTask", "default", "rec-1")

    schedules = moto_stack.schedules()
    assert len(schedules) == 1
    stored = schedules[0]
    assert stored["ScheduleExpression"] == "at(2026-11-21T12:00:00)"
    assert stored["ScheduleExpressionTimezone"] == "UTC"
    assert stored["ActionAfterCompletion"] == "DELETE"
    assert stored["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert stored["Target"]["Arn"] == moto_stack.queue_arns["StopPullRecordTask"]
    assert stored["Target"]["DeadLetterConfig"]["Arn"] == moto_stack.env["SCHEDULER_DLQ_ARN"]
    delivered = parse_command(stored["Target"]["Input"], expected_action="StopPullRecordTask")
    assert delivered.not_after == datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
    assert delivered.id == second["command_id"]

    events = moto_stack.events()
    assert [e["detail-type"] for e in events] == ["Stop Scheduled", "Stop Scheduled"]
    assert [e["detail"]["moved"] for e in events] == [False, True]
    assert events[1]["detail"] | {} == {
        "action": "StopPullRecordTask",
        "task_id": "rec-1",
        "provider": "volcengine",
        "account": "default",
        "at": "2026-11-21T12:00:00+00:00",
        "schedule": second["schedule"],
        "moved": True,
        "command_id": second["command_id"],
    }
    history = Ledger(moto_stack.env["LEDGER_TABLE"], moto_stack.dynamodb).history("volcengine", "rec-1")
    assert [h["outcome"] for h in history] == ["created", "moved"]
    assert all(h["published"] for h in history)


def test_conflict_path_replaces_every_field(moto_stack):
    """Create on an existing name raises ConflictException; the adapter then sends the whole request as an update."""
    target = ScheduleTarget(
        group=GROUP,
        role_arn=moto_stack.env["SCHEDULER_ROLE_ARN"],
        dlq_arn=moto_stack.env["SCHEDULER_DLQ_ARN"],
        queue_arns=moto_stack.queue_arns,
    )
    command = parse_command(STOP)
    store = StopScheduler(GROUP, moto_stack.scheduler)
    first = build_schedule_request(command.as_dict(), "rec-1", NOW + timedelta(hours=1), target)
    with pytest.raises(Exception) as conflict:
        moto_stack.scheduler.create_schedule(**first)
        moto_stack.scheduler.create_schedule(**first)
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    # a foreign edit that an UpdateSchedule with missing fields would leave behind
    moto_stack.scheduler.update_schedule(**{**first, "Description": "edited", "State": "DISABLED"})
    second = build_schedule_request(command.as_dict(), "rec-1", NOW + timedelta(hours=2), target)
    assert store.put(second) == "moved"
    stored = moto_stack.scheduler.get_schedule(Name=second["Name"], GroupName=GROUP)
    for key in ("ScheduleExpression", "ScheduleExpressionTimezone", "State", "Description", "ActionAfterCompletion"):
        assert stored[key] == second[key], key
    assert stored["Target"]["Input"] == second["Target"]["Input"]
    assert stored["Target"]["RetryPolicy"] == second["Target"]["RetryPolicy"]


def test_cancel_then_cancel_again_is_still_success(moto_stack, deps):
    handle_schedule_request({**STOP, "after": "2h"}, deps, NOW)
    cancelled = handle_schedule_request({**STOP, "cancel": True}, deps, NOW + timedelta(minutes=1))
    assert cancelled["status"] == "cancelled" and cancelled["existed"] is True
    assert moto_stack.schedules() == []
    again = handle_schedule_request({**STOP, "cancel": True}, deps, NOW + timedelta(minutes=2))
    assert again["status"] == "not_scheduled" and again["existed"] is False
    types = [(e["detail-type"], e["detail"].get("existed")) for e in moto_stack.events()]
    assert types == [("Stop Scheduled", None), ("Stop Cancelled", True), ("Stop Cancelled", False)]


def test_list_shows_every_stop_soonest_first(moto_stack, deps):
    handle_schedule_request({**STOP, "after": "5h"}, deps, NOW)
    handle_schedule_request(
        {
            "action": "StopPublishCdnStream",
            "params": {"SdkAppId": 1400000001, "TaskId": "cdn-1", "Region": "ap-singapore"},
            "at": "2026-11-21T10:30:00Z",
        },
        deps,
        NOW,
    )
    listed = handle_schedule_request(sample("schedule_manager.list.json"), deps, NOW)
    assert listed["status"] == "listed"
    rows = listed["schedules"]
    assert [(r["action"], r["at"]) for r in rows] == [
        ("StopPublishCdnStream", "2026-11-21T10:30:00+00:00"),
        ("StopPullRecordTask", "2026-11-21T14:00:00+00:00"),
    ]
    assert rows[1]["params"] == {"TaskId": "rec-1"} and rows[1]["state"] == "ENABLED"
    assert rows[1]["not_after"] == "2026-11-21T14:05:00+00:00"


def test_listing_ignores_schedules_outside_the_group_and_prefix(moto_stack, deps):
    moto_stack.scheduler.create_schedule_group(Name="other")
    for group, name in (("other", "stop-pullrec-0000000000000000"), (GROUP, "not-a-stop")):
        moto_stack.scheduler.create_schedule(
            Name=name,
            GroupName=group,
            ScheduleExpression="at(2026-12-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": moto_stack.queue_arns["StopPullRecordTask"],
                "RoleArn": moto_stack.env["SCHEDULER_ROLE_ARN"],
            },
        )
    handle_schedule_request({**STOP, "after": "1h"}, deps, NOW)
    names = [r["name"] for r in handle_schedule_request({"list": True}, deps, NOW)["schedules"]]
    assert names == [schedule_name("StopPullRecordTask", "default", "rec-1")]


@pytest.mark.parametrize(
    ("request_doc", "field"),
    [
        ({"action": "GetPullRecordTask", "params": {"TaskID": "t"}, "after": "1h"}, "action"),
        ({"action": "RestartPullToPushTask", "params": {"TaskId": "t"}, "after": "1h"}, "action"),
        ({**STOP, "at": "2026-11-21T08:00:00Z"}, "at"),
        ({**STOP, "after": "soon"}, "after"),
        ({**STOP, "after": "1h", "at": "2026-11-22T00:00:00Z"}, "at"),
        ({**STOP, "cancel": False}, "cancel"),
        (STOP, "at"),
        ({"action": "StopPullRecordTask", "params": {"TaskID": "t"}, "after": "1h"}, "params.TaskID"),
        ({"list": True, "action": "StopPullRecordTask"}, "list"),
        ([1, 2], "command"),
    ],
)
def test_invalid_requests_are_rejected_recorded_and_schedule_nothing(moto_stack, deps, request_doc, field):
    result = handle_schedule_request(json.dumps(request_doc), deps, NOW)
    assert result["status"] == "rejected"
    assert result["field"] == field
    assert moto_stack.schedules() == []
    events = moto_stack.events()
    assert [e["detail-type"] for e in events] == ["Command Rejected"]
    assert events[0]["detail"]["field"] == field
    assert len(Ledger(moto_stack.env["LEDGER_TABLE"], moto_stack.dynamodb).rejected("2026-11-21")) == 1


def test_redelivered_rejection_is_published_once(moto_stack, deps):
    body = json.dumps({**STOP, "after": "never"})
    for _ in range(3):
        assert handle_schedule_request(body, deps, NOW)["status"] == "rejected"
    assert len(moto_stack.events()) == 1


def test_scheduler_failures_raise_for_a_retry(moto_stack, deps):
    """An AWS failure is not a verdict on the request: it raises (the queue redelivers), nothing is published and
    the task's history is untouched, but the attempt's reason is noted, so a DLQ'd request is never unexplained."""
    moto_stack.scheduler.delete_schedule_group(Name=GROUP)
    with pytest.raises((AwsServiceError, PermanentProviderError)):
        handle_schedule_request({**STOP, "after": "1h"}, deps, NOW, message_id="m-9", receive_count=3)
    assert moto_stack.events() == []
    ledger = Ledger(moto_stack.env["LEDGER_TABLE"], moto_stack.dynamodb)
    assert ledger.history("volcengine", "rec-1") == []
    [note] = ledger.rejected(NOW.date().isoformat())
    assert note["outcome"] == "error" and note["error_code"]  # moto's own code for a missing group varies
    assert note["reason"].startswith("Scheduler CreateSchedule") and note["receive_count"] == 3


def test_adapter_get_and_cancel_of_missing_schedules(moto_stack):
    store = StopScheduler(GROUP, moto_stack.scheduler)
    assert store.get("stop-pullrec-ffffffffffffffff") is None
    assert store.cancel("stop-pullrec-ffffffffffffffff") is False
    assert store.list() == []
