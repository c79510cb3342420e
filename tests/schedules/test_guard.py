"""The cost guard against moto: signed callbacks through the real webhook service, its signals through a real SQS
queue into the schedule manager's code, schedules in EventBridge Scheduler, state in the ledger.

Ordering and duplicates are driven by the test: it decides which callbacks arrive, in which order, and when the
schedule manager drains its queue (`Guard.drain`, optionally in reverse order).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livectl.errors import InvalidCommand
from livectl.events import EventPublisher
from livectl.guard.manager import handle_guard_request
from livectl.guard.policy import GuardPolicies, SignalSender, apply_fields, default_policy, format_duration, signal_for
from livectl.providers.signing import trtc_callback_sign
from livectl.schedules.scheduler import schedule_name
from livectl.schedules.service import ScheduleDeps, handle_schedule_request
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY, LOCAL_SDK_APP_ID, CallbackConfig
from livectl.webhook.service import CallbackService
from livectl.webhook.store import CallbackStore
from tests.schedules.conftest import BUS, TABLE

pytestmark = pytest.mark.aws

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
START_MS = int(NOW.timestamp() * 1000) - 60_000  # the recording started a minute ago
PATH = "/livectl-test/guard/"


class Guard:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.queue_url = stack.sqs.create_queue(QueueName="schedule-requests")["QueueUrl"]
        self.service = CallbackService(
            CallbackStore(TABLE),
            EventPublisher(BUS),
            CallbackConfig.local,
            guard=SignalSender(self.queue_url),
        )
        env = {**stack.env, "GUARD_PARAMETER_PATH": PATH, "GUARD_POLICY_MAX_AGE": "0", "GUARD_MAX_RECORDING": "2h"}
        self.deps = ScheduleDeps.from_env(env)
        self.seen: list[dict[str, Any]] = []

    def post(self, event_type: int, task_id: str, status: int = 0, *, at_ms: int = START_MS, sent_ms: int = 0) -> int:
        group = 4 if event_type == 401 else 3
        info: dict[str, Any] = {"RoomId": "635055", "EventMsTs": at_ms, "UserId": "bot", "TaskId": task_id}
        info["Payload"] = {"Status": status} if event_type != 302 else {"LeaveCode": 0}
        doc = {"EventGroupId": group, "EventType": event_type, "CallbackTs": at_ms + 10 + sent_ms, "EventInfo": info}
        body = json.dumps(doc, indent="\t").encode()
        headers = {"sign": trtc_callback_sign(LOCAL_CALLBACK_KEY, body), "sdkappid": str(LOCAL_SDK_APP_ID)}
        event = {"headers": headers, "body": body.decode(), "requestContext": {"http": {"method": "POST"}}}
        received = datetime.fromtimestamp((at_ms + 10 + sent_ms) / 1000, UTC)
        return self.service.handle_event(event, received).status

    def drain(self, *, reverse: bool = False, now: datetime = NOW) -> list[dict[str, Any]]:
        """The schedule manager's turn: every queued guard signal, in arrival order or reversed."""
        bodies = []
        while True:
            answer = self.stack.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            for m in answer.get("Messages", []):
                bodies.append(m["Body"])
                self.stack.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            if not answer.get("Messages"):
                break
        results = [handle_schedule_request(b, self.deps, now) for b in (reversed(bodies) if reverse else bodies)]
        self.seen.extend(self.stack.events())
        return results

    def schedules(self) -> dict[str, dict[str, Any]]:
        return {s["Name"]: json.loads(s["Target"]["Input"]) for s in self.stack.schedules()}

    def events(self, detail_type: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["detail-type"] == detail_type]

    def state(self, task_id: str) -> dict[str, Any]:
        item = self.stack.dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"TASK#trtc#{task_id}"}, "sk": {"S": "STATE"}}
        ).get("Item", {})
        return {k: next(iter(v.values())) for k, v in item.items()}

    def set_policy(self, **fields: Any) -> None:
        assert self.deps.guard is not None
        self.deps.guard.put(LOCAL_SDK_APP_ID, fields)


@pytest.fixture
def guard(moto_stack: Any) -> Guard:
    return Guard(moto_stack)


def recording_stop(task_id: str) -> str:
    return schedule_name("DeleteCloudRecording", "default", task_id)


# ---------------------------------------------------------------------------------------------------------------
# Arm, disarm, fire
# ---------------------------------------------------------------------------------------------------------------
def test_a_301_arms_one_auto_stop_at_the_start_plus_the_maximum(guard):
    assert guard.post(301, "rec-1") == 200
    [result] = guard.drain()
    assert result["status"] == "armed"
    [(name, command)] = guard.schedules().items()
    assert name == recording_stop("rec-1")
    assert command["action"] == "DeleteCloudRecording" and command["via"] == "guard"
    assert command["params"] == {"SdkAppId": LOCAL_SDK_APP_ID, "TaskId": "rec-1", "Region": "ap-guangzhou"}
    started = datetime.fromtimestamp(START_MS / 1000, UTC)
    fire = guard.stack.schedules()[0]["ScheduleExpression"]
    assert fire == f"at({(started + timedelta(hours=2, seconds=1)).replace(microsecond=0):%Y-%m-%dT%H:%M:%S})"
    [armed] = guard.events("Guard Armed")
    assert armed["detail"]["task_id"] == "rec-1" and armed["detail"]["schedule"] == name
    assert guard.state("rec-1")["guard_status"] == "armed"


@pytest.mark.parametrize("end", [302, 310, 312])
def test_the_end_of_a_recording_disarms_its_guard(guard, end):
    guard.post(301, "rec-1")
    guard.drain()
    guard.post(end, "rec-1", at_ms=START_MS + 5_000)
    [result] = guard.drain()
    assert result["status"] == "disarmed"
    assert guard.schedules() == {}
    [disarmed] = guard.events("Guard Disarmed")
    assert disarmed["detail"]["reason"] == "ended" and disarmed["detail"]["task_id"] == "rec-1"


def test_a_relay_is_armed_when_it_pushes_and_disarmed_when_idle(guard):
    guard.post(401, "relay-1", status=1)  # CONNECTING: nothing yet
    guard.post(401, "relay-1", status=2, at_ms=START_MS + 1)
    assert [r["status"] for r in guard.drain()] == ["armed"]
    [(name, command)] = guard.schedules().items()
    assert command["action"] == "StopPublishCdnStream" and name == schedule_name(
        "StopPublishCdnStream", "default", "relay-1"
    )
    guard.post(401, "relay-1", status=2, at_ms=START_MS + 2)  # RUNNING again after RECOVERING: already guarded
    assert [r["status"] for r in guard.drain()] == ["skipped"]
    guard.post(401, "relay-1", status=0, at_ms=START_MS + 3)
    assert [r["status"] for r in guard.drain()] == ["disarmed"]
    assert guard.schedules() == {}


# ---------------------------------------------------------------------------------------------------------------
# Duplicates and reordering
# ---------------------------------------------------------------------------------------------------------------
def test_a_301_retried_with_a_new_callback_ts_arms_once(guard):
    for sent_ms in (0, 1, 10_000, 20_000):  # TRTC's retry schedule; CallbackTs changes, the event does not
        assert guard.post(301, "rec-1", sent_ms=sent_ms) == 200
    guard.drain()
    assert len(guard.schedules()) == 1 and len(guard.events("Guard Armed")) == 1


def test_the_same_arm_delivered_twice_to_the_schedule_manager_arms_once(guard):
    guard.post(301, "rec-1")
    [body] = [m["Body"] for m in guard.stack.sqs.receive_message(QueueUrl=guard.queue_url)["Messages"]]
    results = [handle_schedule_request(body, guard.deps, NOW)["status"] for _ in range(3)]
    assert results == ["armed", "skipped", "skipped"]
    assert len(guard.stack.events()) == 1  # one Guard Armed


@pytest.mark.parametrize("reverse", [False, True], ids=["302-processed-first", "301-processed-first"])
def test_a_302_that_arrives_before_its_301_leaves_no_guard(guard, reverse):
    guard.post(302, "rec-1", at_ms=START_MS + 5_000)
    guard.post(301, "rec-1")
    guard.drain(reverse=reverse)
    assert guard.schedules() == {}
    state = guard.state("rec-1")
    assert state.get("guard_status") in (None, "disarmed", "ended") and "guard_ended_ms" in state
    assert len(guard.events("Guard Armed")) == len(guard.events("Guard Disarmed"))  # nothing left announced armed


def test_a_late_arm_after_the_end_changes_nothing(guard):
    guard.post(302, "rec-1", at_ms=START_MS + 5_000)
    guard.drain()
    guard.post(301, "rec-1")
    assert [r["status"] for r in guard.drain()] == ["skipped"]
    assert guard.schedules() == {} and guard.events("Guard Armed") == []


# ---------------------------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------------------------
def test_a_policy_change_applies_to_the_next_recording(guard):
    guard.post(301, "rec-1")
    guard.drain()
    guard.set_policy(max_recording="30m", region="ap-singapore", account="eu")
    guard.post(301, "rec-2")
    guard.drain()
    schedules = guard.schedules()
    first = schedules[recording_stop("rec-1")]
    second = schedules[schedule_name("DeleteCloudRecording", "eu", "rec-2")]
    assert first["params"]["Region"] == "ap-guangzhou" and first["account"] == "default"
    assert second["params"]["Region"] == "ap-singapore" and second["account"] == "eu"
    at = {s["Name"]: s["ScheduleExpression"] for s in guard.stack.schedules()}
    started = datetime.fromtimestamp(START_MS / 1000, UTC)
    expected = (started + timedelta(minutes=30, seconds=1)).replace(microsecond=0)
    assert at[schedule_name("DeleteCloudRecording", "eu", "rec-2")] == f"at({expected:%Y-%m-%dT%H:%M:%S})"


def test_an_app_with_the_guard_off_gets_no_schedule(guard):
    guard.set_policy(enabled=False)
    guard.post(301, "rec-1")
    assert [r["status"] for r in guard.drain()] == ["off"]
    assert guard.schedules() == {} and guard.events("Guard Armed") == []
    assert guard.state("rec-1")["guard_status"] == "off"


def test_an_existing_auto_stop_for_the_task_is_not_overridden(guard):
    operator = {"action": "DeleteCloudRecording", "params": {"SdkAppId": LOCAL_SDK_APP_ID, "TaskId": "rec-1"}}
    operator["params"]["Region"] = "ap-guangzhou"
    assert handle_schedule_request({**operator, "after": "20m"}, guard.deps, NOW)["status"] == "created"
    guard.post(301, "rec-1")
    assert [r["status"] for r in guard.drain()] == ["existing"]
    [command] = guard.schedules().values()
    assert "via" not in command  # still the operator's, at the operator's time


def test_a_budget_already_spent_fires_soon_rather_than_never(guard):
    guard.set_policy(max_recording="1m")
    guard.post(301, "rec-1", at_ms=START_MS - 3_600_000)  # started an hour ago, delivered late
    [result] = guard.drain()
    assert timedelta(0) < datetime.fromisoformat(result["at"]) - NOW <= timedelta(seconds=7)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"region": "ap-tokyo"}, "region"),
        ({"max_recording": "forever"}, "max_recording"),
        ({"max_relay": "90d"}, "max_relay"),
        ({"enabled": "maybe"}, "enabled"),
        ({"account": "a b"}, "account"),
        ({"max_recordings": "1h"}, "max_recordings"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field_and_nothing_is_written(guard, fields, field):
    with pytest.raises(InvalidCommand) as err:
        guard.set_policy(**fields)
    assert err.value.field == field
    assert guard.deps.guard is not None and guard.deps.guard.overrides() == {}


def test_a_hand_broken_override_is_a_recorded_rejection_not_a_crash(guard):
    import boto3  # written around livectl's validation, as a hand edit in the console would be

    boto3.client("ssm").put_parameter(Name=f"{PATH}{LOCAL_SDK_APP_ID}", Value="{not json", Type="String")
    guard.post(301, "rec-1")
    [result] = guard.drain()
    assert result["status"] == "rejected" and result["field"] == "policy"


def test_durations_round_trip():
    for text in ("12h", "1h30m", "45s", "1d2h3m4s"):
        assert format_duration(apply_fields(default_policy({}), {"max_relay": text}).max_relay) == text


# ---------------------------------------------------------------------------------------------------------------
# Operators: extend, off
# ---------------------------------------------------------------------------------------------------------------
def test_extend_moves_the_guard_and_keeps_it_a_guard(guard):
    guard.post(301, "rec-1")
    armed = guard.drain()[0]
    result = handle_guard_request({"guard": "extend", "task_id": "rec-1", "by": "2h"}, guard.deps, NOW)
    assert result["status"] == "extended"
    assert datetime.fromisoformat(result["at"]) == datetime.fromisoformat(armed["at"]) + timedelta(hours=2)
    [command] = guard.schedules().values()
    assert command["via"] == "guard"
    assert guard.state("rec-1")["guard_at"].startswith(result["at"][:19])


def test_off_cancels_the_guard_of_one_task(guard):
    guard.post(301, "rec-1")
    guard.post(301, "rec-2")
    guard.drain()
    result = handle_guard_request({"guard": "off", "task_id": "rec-1"}, guard.deps, NOW)
    assert result["status"] == "disarmed" and result["reason"] == "operator"
    assert list(guard.schedules()) == [recording_stop("rec-2")]
    guard.seen.extend(guard.stack.events())
    assert [e["detail"]["task_id"] for e in guard.events("Guard Disarmed")] == ["rec-1"]
    with pytest.raises(InvalidCommand) as err:  # nothing left to turn off, or to extend
        handle_guard_request({"guard": "extend", "task_id": "rec-1", "by": "1h"}, guard.deps, NOW)
    assert err.value.field == "task_id"


@pytest.mark.parametrize(
    ("request_doc", "field"),
    [
        ({"guard": "nap", "task_id": "t"}, "guard"),
        ({"guard": "extend", "task_id": "t", "by": "soon"}, "by"),
        ({"guard": "arm", "kind": "pull_record", "task_id": "t", "sdk_app_id": 1, "at_ms": 1, "event_type": 1}, "kind"),
        ({"guard": "arm", "kind": "cloud_recording", "task_id": "", "sdk_app_id": 1, "at_ms": 1}, "task_id"),
        ({"guard": "end", "kind": "cdn_publish", "task_id": "t", "sdk_app_id": 1, "at_ms": -1}, "at_ms"),
    ],
)
def test_bad_guard_requests_are_rejected_naming_the_field(guard, request_doc, field):
    result = handle_schedule_request(request_doc, guard.deps, NOW)
    assert result["status"] == "rejected" and result["field"] == field


# ---------------------------------------------------------------------------------------------------------------
# What the webhook sends
# ---------------------------------------------------------------------------------------------------------------
def test_only_starts_and_ends_signal_and_a_stale_relay_status_does_not(guard):
    for event_type in (303, 304, 305, 306, 307, 309, 311):
        guard.post(event_type, "rec-1")
    guard.post(301, "rec-1", status=1)  # the recorder failed to start: nothing to guard
    assert guard.drain() == []
    guard.post(401, "relay-1", status=0, at_ms=START_MS + 10)  # IDLE
    guard.post(401, "relay-1", status=2, at_ms=START_MS)  # an older RUNNING arriving late
    assert [r["status"] for r in guard.drain()] == ["not_armed"]  # the IDLE only; the stale RUNNING says nothing
    assert guard.schedules() == {}


@pytest.mark.parametrize(
    ("group", "event_type", "status", "task_id", "applied", "expected"),
    [
        (3, 301, 0, "t", True, ("arm", "cloud_recording")),
        (3, 301, "0", "t", True, ("arm", "cloud_recording")),  # a digit string, as some doc examples send
        (3, 301, 0, None, True, None),  # no task: nothing to guard
        (3, 302, None, "t", True, ("end", "cloud_recording")),
        (4, 401, 2, "t", True, ("arm", "cdn_publish")),
        (4, 401, 2, "t", False, None),  # older than what is recorded
        (4, 401, 0, "t", True, ("end", "cdn_publish")),
        (4, 401, 4, "t", True, None),  # FAILURE: an UpdatePublishCdnStream may still revive it
        (8, 802, 1, "t", True, None),  # web page recording: not guarded
    ],
)
def test_signal_for(group, event_type, status, task_id, applied, expected):
    from livectl.webhook.callbacks import Callback

    payload = {} if status is None else {"Status": status}
    cb = Callback(group, event_type, 1, LOCAL_SDK_APP_ID, task_id, None, None, 5, None, payload, "k", b"")
    signal = signal_for(cb, applied)
    assert (None if signal is None else (signal.signal, signal.kind)) == expected
    if signal is not None:
        assert (signal.at_ms, signal.sdk_app_id, signal.task_id) == (5, LOCAL_SDK_APP_ID, "t")


def test_policies_are_read_once_per_max_age(guard, monkeypatch):
    policies = GuardPolicies(PATH, default_policy({}), max_age=300)
    calls = []
    original = policies.client.get_parameters_by_path

    def counted(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(policies.client, "get_parameters_by_path", counted)
    for _ in range(5):
        assert policies.for_app(LOCAL_SDK_APP_ID).max_recording == timedelta(hours=12)
    assert len(calls) == 1
