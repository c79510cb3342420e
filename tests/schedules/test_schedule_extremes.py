"""Schedule requests with extreme or hostile input (issue 10, items 3 and 4): every `at`/`after` value is either a
firing time within the horizon or a rejection naming `at`/`after` that is recorded and published; a failure
livectl does not expect is recorded with its reason before the queue retries it; a rejection of any size fits a
ledger item and an event."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livectl.errors import InvalidCommand
from livectl.schedules import requests as schedule_requests
from livectl.schedules.scheduler import MAX_HORIZON, parse_duration, resolve_when
from livectl.schedules.service import ScheduleDeps, handle_schedule_request
from livectl.store.ledger import Ledger
from tests.schedules.conftest import TABLE

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
DAY = "2026-11-21"
STOP = {"action": "StopPullRecordTask", "params": {"TaskId": "rec-1"}, "account": "default"}
EXAMPLE = itertools.count(1)
ITEM_LIMIT = 400 * 1024  # DynamoDB's item size limit
EVENT_LIMIT = 256 * 1024  # EventBridge's PutEvents entry limit

# The inputs, each of which raised OverflowError or ValueError out of the schedule manager.
EXTREMES = [
    ("at", "9999-12-31T23:59:59-23:59"),
    ("at", "0001-01-01T00:00:00+23:59"),
    ("at", "9999-12-31T23:59:59.5Z"),
    ("after", math.nan),
    ("after", math.inf),
    ("after", -math.inf),
    ("after", 1e308),
    ("after", "99999999999999d"),
    ("after", "9999999d"),
    ("after", 10**400),
    ("after", "9" * 5000 + "s"),  # more digits than int() converts
]

# Any JSON scalar, and strings shaped like times and durations, so the strategy reaches the parsers' edges.
TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat())
OFFSETS = st.sampled_from(["Z", "z", "+00:00", "-23:59", "+23:59", "+08:00", "", "+24:00", "-00:30"])
DURATION_TEXT = st.tuples(
    st.integers(min_value=0, max_value=10**20), st.sampled_from(["d", "h", "m", "s", "", "d1h", "h30m"])
).map(lambda t: f"{t[0]}{t[1]}")
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.builds(lambda t, o: t + o, TIMES, OFFSETS),
    DURATION_TEXT,
    st.lists(st.integers(), max_size=2),
)


# ---------------------------------------------------------------------------------------------------------------
# Pure: the time rules
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(("kind", "value"), EXTREMES)
def test_extreme_times_are_refusals_naming_the_field(kind, value):
    with pytest.raises(InvalidCommand) as err:
        resolve_when(now=NOW, **{kind: value})
    assert err.value.field == kind
    assert len(err.value.message.encode("utf-8")) < 2048


@pytest.mark.unit
@given(kind=st.sampled_from(["at", "after"]), value=VALUES)
def test_any_at_or_after_is_a_time_within_the_horizon_or_a_refusal_naming_it(kind, value):
    if value is None:
        return  # "neither given" is its own refusal, tested in test_schedule_rules
    try:
        when = resolve_when(now=NOW, **{kind: value})
    except InvalidCommand as exc:
        assert exc.field == kind
        return
    assert NOW < when <= NOW + MAX_HORIZON
    assert when.microsecond == 0 and when.utcoffset() == timedelta(0)


@pytest.mark.unit
def test_the_horizon_is_365_days_to_the_second():
    assert resolve_when(after=365 * 86400, now=NOW) == NOW + timedelta(days=365)
    for beyond in (365 * 86400 + 1, 365 * 86400 + 0.5, "365d1s"):
        with pytest.raises(InvalidCommand, match="more than 365 days ahead"):
            parse_duration(beyond)


# ---------------------------------------------------------------------------------------------------------------
# Against moto: recorded and published like any invalid command
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def deps(moto_stack):
    return ScheduleDeps.from_env(moto_stack.env)


def rejections(moto_stack):
    return Ledger(TABLE, moto_stack.dynamodb).rejected(DAY)


@pytest.mark.aws
@pytest.mark.parametrize(("kind", "value"), EXTREMES)
def test_extreme_requests_are_recorded_and_published_rejections(moto_stack, deps, kind, value):
    result = handle_schedule_request(json.dumps({**STOP, kind: value}), deps, NOW)  # NaN travels as NaN
    assert result["status"] == "rejected" and result["field"] == kind
    [recorded] = rejections(moto_stack)
    assert recorded["field"] == kind and recorded["outcome"] == "rejected" and recorded["published"] is True
    [event] = moto_stack.events()
    assert event["detail-type"] == "Command Rejected" and event["detail"]["field"] == kind
    assert moto_stack.schedules() == []


@pytest.mark.aws
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["at", "after"]), value=VALUES.filter(lambda v: v is not None))
@example(kind="after", value=math.nan)
@example(kind="at", value="9999-12-31T23:59:59-23:59")
def test_any_at_or_after_is_scheduled_or_a_recorded_rejection(moto_stack, deps, kind, value):
    moto_stack.events()  # drain what earlier examples published
    before = len(rejections(moto_stack))
    now = NOW + timedelta(microseconds=next(EXAMPLE))  # a repeated example is a new request, not a redelivery
    result = handle_schedule_request({**STOP, kind: value}, deps, now)
    if result["status"] == "rejected":
        assert result["field"] == kind
        assert len(rejections(moto_stack)) == before + 1
        assert [e["detail"]["field"] for e in moto_stack.events()] == [kind]
    else:
        assert result["status"] in {"created", "moved"}
        assert [e["detail-type"] for e in moto_stack.events()] == ["Stop Scheduled"]


# ---------------------------------------------------------------------------------------------------------------
# Failures that are not the request's fault: recorded with a reason, then retried
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.aws
def test_a_livectl_bug_is_recorded_with_its_reason_then_raised_for_a_retry(moto_stack, deps, monkeypatch):
    def broken(*args, **kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(schedule_requests, "build_schedule_request", broken)
    body = json.dumps({**STOP, "after": "1h"})
    for receive in (1, 2):
        with pytest.raises(OverflowError):
            handle_schedule_request(body, deps, NOW, message_id="m-1", receive_count=receive)
    notes = rejections(moto_stack)
    assert [n["receive_count"] for n in notes] == [1, 2]
    assert all(n["outcome"] == "error" and n["error_code"] == "OverflowError" for n in notes)
    assert all("livectl bug" in n["reason"] and "date value out of range" in n["reason"] for n in notes)
    assert all(n["retryable"] is False and n["message_id"] == "m-1" for n in notes)
    assert moto_stack.events() == []  # not settled: the queue retries it, then its DLQ keeps it for a redrive


@pytest.mark.aws
def test_a_bug_that_also_breaks_the_ledger_still_raises_the_first_error(moto_stack, deps, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("Name")

    monkeypatch.setattr(schedule_requests, "build_schedule_request", broken)
    moto_stack.dynamodb.delete_table(TableName=TABLE)
    with pytest.raises(KeyError):
        handle_schedule_request({**STOP, "after": "1h"}, deps, NOW)


# ---------------------------------------------------------------------------------------------------------------
# Oversize rejections (item 4): recorded and published whatever the request echoes
# ---------------------------------------------------------------------------------------------------------------
EMOJI = "\U0001f600"
HUGE = [
    pytest.param(json.dumps({**STOP, "after": "1h", EMOJI * 60_000: 1}, ensure_ascii=False), "command", id="240KB-key"),
    pytest.param({**STOP, "after": "1h", EMOJI * 60_000: 1}, EMOJI * 60_000, id="direct-huge-key"),
    pytest.param({**STOP, "at": EMOJI * 100_000}, "at", id="huge-at"),
    pytest.param({**STOP, "after": "x" * 300_000}, "after", id="huge-after"),
    pytest.param({**STOP, "after": "1h", "id": "é" * 100_000}, "id", id="huge-id"),
    pytest.param({**STOP, "after": "1h", "params": {"TaskId": "\ud800" * 50_000}}, "params.TaskId", id="surrogates"),
    pytest.param({"action": EMOJI * 80_000, "params": {}, "after": "1h"}, "action", id="huge-action"),
]


@pytest.mark.aws
@pytest.mark.parametrize(("request_doc", "field"), HUGE)
def test_oversize_rejections_are_recorded_and_published_within_the_limits(moto_stack, deps, request_doc, field):
    result = handle_schedule_request(request_doc, deps, NOW)
    assert result["status"] == "rejected"
    assert result["field"].startswith(field[:8])
    [item] = moto_stack.dynamodb.scan(TableName=TABLE)["Items"]
    assert len(json.dumps(item, ensure_ascii=False).encode("utf-8")) < ITEM_LIMIT
    assert item["published"] == {"BOOL": True}
    [event] = moto_stack.events()
    assert len(json.dumps(event["detail"], ensure_ascii=False).encode("utf-8")) < EVENT_LIMIT
