"""Scheduler rules moto does not enforce: name charset and length, the at() format, complete update requests,
time resolution (zones, durations, past times)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livectl.command import parse_command
from livectl.errors import InvalidCommand
from livectl.schedules.scheduler import (
    MAX_EVENT_AGE_SECONDS,
    STOP_ACTIONS,
    ScheduleTarget,
    at_expression,
    build_schedule_request,
    check_name,
    command_id,
    parse_at_expression,
    parse_duration,
    resolve_when,
    schedule_name,
)
from tests.schedules.conftest import sample

pytestmark = pytest.mark.unit

# EventBridge Scheduler's documented rules (API reference, CreateSchedule):
SCHEDULER_NAME = re.compile(r"^[0-9a-zA-Z\-_.]+$")
AT_FORMAT = re.compile(r"^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$")
NOW = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)
TARGET = ScheduleTarget(
    group="livectl-dev-stops",
    role_arn="arn:aws:iam::123456789012:role/SchedulerRole",
    dlq_arn="arn:aws:sqs:ap-southeast-1:123456789012:SchedulerDLQ",
    queue_arns={a: f"arn:aws:sqs:ap-southeast-1:123456789012:{a}Queue" for a in STOP_ACTIONS},
)


# ---------------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------------
def test_name_is_deterministic_per_action_account_and_task():
    a = schedule_name("StopPullRecordTask", "default", "task-1")
    assert a == schedule_name("StopPullRecordTask", "default", "task-1")
    others = {
        schedule_name("StopPullRecordTask", "default", "task-2"),
        schedule_name("StopPullRecordTask", "other", "task-1"),
        schedule_name("DeleteCloudRecording", "default", "task-1"),
    }
    assert a not in others and len(others) == 3
    assert re.fullmatch(r"stop-pullrec-[0-9a-f]{16}", a)


@given(action=st.sampled_from(sorted(STOP_ACTIONS)), account=st.text(max_size=64), task_id=st.text(max_size=256))
def test_names_always_meet_the_scheduler_rules(action, account, task_id):
    name = schedule_name(action, account, task_id)
    assert SCHEDULER_NAME.match(name) and len(name) <= 64


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "slash/name", "colon:name", "ünicode", "tab\t"])
def test_check_name_refuses_what_the_scheduler_refuses(bad):
    with pytest.raises(InvalidCommand):
        check_name(bad)


@pytest.mark.parametrize("good", ["a", "a" * 64, "stop-x_y.z-09AZ"])
def test_check_name_accepts_the_full_charset(good):
    assert check_name(good) == good


@pytest.mark.parametrize("action", ["GetPullRecordTask", "RestartPullToPushTask", "Nope"])
def test_only_stop_actions_get_a_schedule_name(action):
    with pytest.raises(InvalidCommand) as err:
        schedule_name(action, "default", "t")
    assert err.value.field == "action"


# ---------------------------------------------------------------------------------------------------------------
# at() and time resolution
# ---------------------------------------------------------------------------------------------------------------
def test_at_expression_is_utc_without_zone_or_fraction():
    when = datetime(2026, 11, 21, 18, 0, 0, 750000, tzinfo=timezone(timedelta(hours=8)))
    assert at_expression(when) == "at(2026-11-21T10:00:00)"
    assert AT_FORMAT.match(at_expression(when))


def test_at_expression_refuses_naive_times():
    with pytest.raises(InvalidCommand):
        at_expression(datetime(2026, 11, 21, 18, 0))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()))
def test_at_expression_round_trips_to_the_same_instant(when):
    expression = at_expression(when)
    assert AT_FORMAT.match(expression)
    assert parse_at_expression(expression, "UTC") == when.astimezone(UTC).replace(microsecond=0)


def test_parse_at_expression_refuses_other_zones_and_shapes():
    for expression, zone in [
        ("at(2026-11-21T10:00:00)", "Asia/Shanghai"),
        ("rate(5 minutes)", "UTC"),
        ("at(2026-11-21)", "UTC"),
    ]:
        with pytest.raises(ValueError):
            parse_at_expression(expression, zone)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-21T18:00:00+08:00", datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
        ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
        ("2026-11-21T10:00:00z", datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
        ("2026-11-21T05:30:00-05:00", datetime(2026, 11, 21, 10, 30, tzinfo=UTC)),
        ("2026-11-21T09:00:00.2+00:00", datetime(2026, 11, 21, 9, 0, 1, tzinfo=UTC)),  # rounded up, never early
    ],
)
def test_at_in_any_zone(at, expected):
    assert resolve_when(at=at, now=NOW) == expected


def test_sample_at_event_resolves_in_its_zone():
    doc = sample("schedule_manager.at.json")
    assert resolve_when(at=doc["at"], now=NOW) == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d12h", 129600), ("1h0m5s", 3605), (45, 45), (1.5, 2)],
)
def test_durations(after, seconds):
    assert resolve_when(after=after, now=NOW) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "2", "h", "2x", "30m1h", "-5m", "1.5h", "2 h", True, None, [], {}])
def test_bad_durations_name_after(bad):
    with pytest.raises(InvalidCommand) as err:
        parse_duration(bad)
    assert err.value.field == "after"


@pytest.mark.parametrize("zero", ["0s", 0, "0h0m"])
def test_zero_duration_is_refused(zero):
    with pytest.raises(InvalidCommand) as err:
        resolve_when(after=zero, now=NOW)
    assert err.value.field == "after"


@pytest.mark.parametrize("at", ["2026-11-21T08:59:59Z", "2026-11-21T09:00:00Z", "2026-11-21T16:59:00+08:00"])
def test_past_times_are_refused_naming_at(at):
    with pytest.raises(InvalidCommand) as err:
        resolve_when(at=at, now=NOW)
    assert err.value.field == "at"
    assert "not in the future" in err.value.message


@pytest.mark.parametrize("at", ["2026-11-21T18:00:00", "tomorrow", "2026-13-01T00:00:00Z", 1795250700, ""])
def test_naive_or_malformed_at_is_refused(at):
    with pytest.raises(InvalidCommand) as err:
        resolve_when(at=at, now=NOW)
    assert err.value.field == "at"


def test_exactly_one_of_at_and_after():
    with pytest.raises(InvalidCommand):
        resolve_when(now=NOW)
    with pytest.raises(InvalidCommand):
        resolve_when(at="2026-11-22T00:00:00Z", after="1h", now=NOW)


def test_more_than_a_year_ahead_is_refused():
    with pytest.raises(InvalidCommand) as err:
        resolve_when(after="366d", now=NOW)
    assert err.value.field == "after"
    assert resolve_when(after="365d", now=NOW) == NOW + timedelta(days=365)


# ---------------------------------------------------------------------------------------------------------------
# The complete request
# ---------------------------------------------------------------------------------------------------------------
WHEN = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def request_for(doc):
    command = parse_command(doc)
    return build_schedule_request(command.as_dict(), command.task_id, WHEN, TARGET)


def test_request_has_every_field_the_auto_stop_needs():
    request = request_for({"action": "StopPullRecordTask", "params": {"TaskId": "t-1"}, "account": "acme"})
    assert request["Name"] == schedule_name("StopPullRecordTask", "acme", "t-1")
    assert request["GroupName"] == TARGET.group
    assert request["ScheduleExpression"] == "at(2026-11-21T10:00:00)"
    assert request["ScheduleExpressionTimezone"] == "UTC"
    assert request["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert request["ActionAfterCompletion"] == "DELETE"
    assert request["State"] == "ENABLED"
    assert "t-1" in request["Description"] and len(request["Description"]) <= 512
    target = request["Target"]
    assert target["Arn"] == TARGET.queue_arns["StopPullRecordTask"]
    assert target["RoleArn"] == TARGET.role_arn
    assert target["DeadLetterConfig"] == {"Arn": TARGET.dlq_arn}
    assert 0 <= target["RetryPolicy"]["MaximumRetryAttempts"] <= 185
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] == MAX_EVENT_AGE_SECONDS <= 300


def test_update_request_carries_every_field_of_the_api():
    """UpdateSchedule resets anything omitted, so our request names every UpdateSchedule member except the ones
    a one-time schedule has no use for (start/end dates, a CMK, the idempotency token)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("scheduler")
    members = set(model.operation_model("UpdateSchedule").input_shape.members)
    unused = {"StartDate", "EndDate", "KmsKeyArn", "ClientToken"}
    request = request_for({"action": "StopPullRecordTask", "params": {"TaskId": "t-1"}})
    assert set(request) == members - unused
    # Target: every member that matters for an SQS target (FIFO-only and other target kinds aside).
    target_members = set(model.shape_for("Target").members)
    other_targets = {m for m in target_members if m.endswith("Parameters")}  # FIFO SQS, ECS, EventBridge, ...
    assert set(request["Target"]) == target_members - other_targets
    assert {"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"} <= set(request["Target"])


@pytest.mark.parametrize("operation", ["CreateSchedule", "UpdateSchedule"])
def test_request_is_valid_for_both_operations(operation):
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("scheduler")
    request = request_for({k: v for k, v in sample("schedule_manager.after.json").items() if k != "after"})
    report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_delivered_input_is_a_valid_command_with_not_after_and_a_deterministic_id():
    doc = {
        "action": "DeleteCloudRecording",
        "params": {"SdkAppId": 1400000001, "TaskId": "r-1", "Region": "ap-singapore"},
        "id": "caller-id",
        "not_after": "2020-01-01T00:00:00Z",
    }
    request = request_for(doc)
    delivered = json.loads(request["Target"]["Input"])
    command = parse_command(delivered, expected_action="DeleteCloudRecording")
    assert command.params == doc["params"]
    assert command.not_after == WHEN + timedelta(seconds=TARGET.stale_after_seconds)
    assert command.scheduled_at == WHEN  # a stop's lateness is measured from the firing time
    assert command.id == command_id(request["Name"], WHEN) == f"{request['Name']}@20261121T100000Z"
    assert not command.is_stale(WHEN + timedelta(seconds=299))
    assert command.is_stale(WHEN + timedelta(seconds=301))
    # same task, same time: same request; another time: same name, another id
    assert request_for(doc) == request
    later = build_schedule_request(parse_command(doc).as_dict(), "r-1", WHEN + timedelta(hours=1), TARGET)
    assert later["Name"] == request["Name"]
    assert json.loads(later["Target"]["Input"])["id"] != delivered["id"]


def test_unknown_queue_for_action_is_an_invalid_command():
    target = ScheduleTarget(group="g", role_arn="r", dlq_arn="d", queue_arns={})
    command = parse_command({"action": "StopPullRecordTask", "params": {"TaskId": "t"}})
    with pytest.raises(InvalidCommand):
        build_schedule_request(command.as_dict(), command.task_id, WHEN, target)
