"""The five action functions end to end: handler → layer → emulator (real HTTP) and moto (real boto3).

Each test checks what the provider saw (the emulator's request log), what the ledger holds and which outcome
events went out on the bus.
"""

from __future__ import annotations

import copy
import importlib
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livectl.command import parse_command
from livectl.control import service as control
from livectl.errors import AwsServiceError, Throttled
from livectl.providers.retry import RetryPolicy
from livectl.store.ledger import PUBLISH_LEASE, Ledger
from tests.control.support import FUNCTIONS, FakeContext, load_event, sqs_event, sqs_record

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)
KIND = {
    "StopPullRecordTask": "pull_record",
    "GetPullRecordTask": "pull_record",
    "RestartPullToPushTask": "pull_to_push",
    "StopPullToPushTask": "pull_to_push",
    "DeleteCloudRecording": "cloud_recording",
    "StopPublishCdnStream": "cdn_publish",
}
# status the emulator reports after the action, and the ledger state livectl records
AFTER = {
    "StopPullRecordTask": ("停用", "stopped", "Task Stopped"),
    "GetPullRecordTask": ("生效中", "running", "Task Status"),
    "RestartPullToPushTask": ("生效中", "restarted", "Task Restarted"),
    "StopPullToPushTask": ("停用", "stopped", "Task Stopped"),
    "DeleteCloudRecording": ("Exited", "stopped", "Task Stopped"),
    "StopPublishCdnStream": ("IDLE", "stopped", "Task Stopped"),
}
PROVIDER = {a: ("trtc" if a in ("DeleteCloudRecording", "StopPublishCdnStream") else "volcengine") for a in FUNCTIONS}
ACCESS_KEY = {"volcengine": "AKLTDEMO", "trtc": "AKIDDEMO"}


def task_id_of(params: dict[str, Any]) -> str:
    return str(params.get("TaskId") or params.get("TaskID"))


def add_task(emu: Any, action: str, task_id: str) -> None:
    status = "停用" if action == "RestartPullToPushTask" else None
    emu.add_task(KIND[action], task_id, **({"status": status} if status else {}))


def app_for(action: str, stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    app = importlib.import_module(f"functions.{FUNCTIONS[action]}.app")
    monkeypatch.setattr(app, "SETTINGS", stack.settings)
    return app


def box(stack: Any, **kwargs: Any) -> control.Container:
    return control.Container(stack.settings, policy=kwargs.pop("policy", FAST), **kwargs)


def stop_command(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"action": "StopPullRecordTask", "params": {"TaskId": task_id}, **extra}


def later(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


# ---------------------------------------------------------------------------------------------------------
# Each action, through SQS and through a Scheduler invocation
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(FUNCTIONS))
def test_action_through_sqs(action, stack, emu, monkeypatch):
    event = load_event(f"{FUNCTIONS[action]}.sqs.json")
    commands = [json.loads(r["body"]) for r in event["Records"]]
    for c in commands:
        add_task(emu, action, task_id_of(c["params"]))

    answer = app_for(action, stack, monkeypatch).handler(event, FakeContext())

    assert answer == {"batchItemFailures": []}
    calls = sorted(emu.calls(), key=lambda c: task_id_of(c["params"]))  # the records ran concurrently
    assert [c["action"] for c in calls] == [action, action]
    provider = PROVIDER[action]
    for call, command in zip(calls, sorted(commands, key=lambda c: task_id_of(c["params"])), strict=True):
        assert call["params"] == command["params"]  # exactly the documented parameters, nothing else
        assert call["account"] == ACCESS_KEY[provider]
        assert call["signature_valid"] is True
        assert call["error_code"] is None
    status, state, detail_type = AFTER[action]
    ledger = stack.ledger()
    for c in commands:
        task_id = task_id_of(c["params"])
        assert emu.task(KIND[action], task_id)["status"] == status
        assert ledger.get_state(provider, task_id)["state"] == state
        [item] = ledger.history(provider, task_id)
        assert item["outcome"] == "done" and item["provider_calls"] == 1 and item["published"] is True
    events = stack.events(detail_type)
    assert sorted(e["detail"]["task_id"] for e in events) == sorted(task_id_of(c["params"]) for c in commands)
    assert all(e["source"] == "livectl" and e["detail"]["provider"] == provider for e in events)
    assert {e["detail"]["request_id"] for e in events} == {c["request_id"] for c in calls}


@pytest.mark.parametrize("action", sorted(FUNCTIONS))
def test_action_through_scheduler(action, stack, emu, monkeypatch):
    command = load_event(f"{FUNCTIONS[action]}.scheduler.json")
    command["not_after"] = later()  # the sample's firing time is fixed; fire it "now"
    add_task(emu, action, task_id_of(command["params"]))

    answer = app_for(action, stack, monkeypatch).handler(command, FakeContext())

    status, state, detail_type = AFTER[action]
    assert answer["outcome"] == "done" and answer["state"] == state
    [call] = emu.calls()
    assert call["action"] == action and call["params"] == command["params"] and call["signature_valid"] is True
    assert emu.task(KIND[action], task_id_of(command["params"]))["status"] == status
    [event] = stack.events(detail_type)
    assert event["detail"]["command_id"] == command["id"]
    assert event["detail"]["request_id"] == call["request_id"]


def test_task_status_carries_raw_chinese_status_and_enum_name(stack, emu, monkeypatch):
    emu.add_task("pull_record", "st-1", status="未开始")
    app = app_for("GetPullRecordTask", stack, monkeypatch)
    app.handler(sqs_event({"action": "GetPullRecordTask", "params": {"TaskID": "st-1"}}), FakeContext())
    [event] = stack.events("Task Status")
    assert event["detail"]["status"] == "未开始"
    assert event["detail"]["status_name"] == "NOT_STARTED"
    state = stack.ledger().get_state("volcengine", "st-1")
    assert state["state"] == "not_started" and state["provider_status"] == "未开始"


# ---------------------------------------------------------------------------------------------------------
# Stale, invalid, already done, permanent
# ---------------------------------------------------------------------------------------------------------


def test_stale_scheduled_command_is_dropped_without_a_provider_call(stack, emu, monkeypatch, capsys):
    emu.add_task("pull_record", "sample-rec-1")
    command = load_event("stop_pull_record.scheduler.json")
    command["not_after"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    app = app_for("StopPullRecordTask", stack, monkeypatch)

    answer = app.handler(command, FakeContext())

    assert answer["outcome"] == "stale"
    assert emu.calls() == []
    assert emu.task("pull_record", "sample-rec-1")["status"] == "生效中"
    ledger = stack.ledger()
    assert ledger.get_state("volcengine", "sample-rec-1") is None  # state unchanged
    [item] = ledger.history("volcengine", "sample-rec-1")
    assert item["outcome"] == "stale" and "not_after" in item["reason"]
    [event] = stack.events("Command Rejected")
    assert event["detail"]["outcome"] == "stale" and event["detail"]["field"] == "not_after"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(doc.get("CommandsStale") == [1.0] or doc.get("CommandsStale") == 1.0 for doc in emf)


def test_stale_check_uses_the_clock_it_is_given(stack, emu):
    """The sample fires at 18:05 Beijing time; a container whose clock reads one second later drops it."""
    emu.add_task("pull_record", "sample-rec-1")
    command = load_event("stop_pull_record.scheduler.json")
    not_after = parse_command(command).not_after
    assert not_after is not None
    late = box(stack, now=lambda: not_after + timedelta(seconds=1))
    answer = control.handle_event(command, FakeContext(), "StopPullRecordTask", stack.settings, container=late)
    assert answer["outcome"] == "stale"
    assert emu.calls() == []


def test_invalid_commands_are_rejected_recorded_and_not_retried(stack, emu, monkeypatch):
    app = app_for("StopPullRecordTask", stack, monkeypatch)
    bad = [
        "{not json",
        json.dumps({"action": "StopPullRecordTask", "params": {"TaskID": "x"}}),
        json.dumps({"action": "GetPullRecordTask", "params": {"TaskID": "x"}}),  # wrong queue
        json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "not_after": "soon"}),
    ]
    answer = app.handler(sqs_event(*bad), FakeContext())
    assert answer == {"batchItemFailures": []}  # not retried: they must not bounce to the DLQ
    assert emu.calls() == []
    events = stack.events("Command Rejected")
    assert sorted(e["detail"]["field"] for e in events) == ["action", "command", "not_after", "params.TaskID"]
    day = datetime.now(UTC).date().isoformat()
    rejected = stack.ledger().rejected(day)
    assert len(rejected) == 4 and all(r["outcome"] == "rejected" and r["reason"] for r in rejected)
    assert "did you mean TaskId?" in next(r["reason"] for r in rejected if r["field"] == "params.TaskID")


def test_same_id_for_a_different_command_is_rejected(stack, emu, monkeypatch):
    emu.add_task("pull_record", "a")
    emu.add_task("pull_record", "b")
    app = app_for("StopPullRecordTask", stack, monkeypatch)
    app.handler(sqs_event(stop_command("a", id="reused")), FakeContext())
    answer = app.handler(sqs_event(stop_command("b", id="reused")), FakeContext())
    assert answer == {"batchItemFailures": []}
    assert [c["params"]["TaskId"] for c in emu.calls()] == ["a"]
    [event] = stack.events("Command Rejected")
    assert event["detail"]["field"] == "id"


def test_already_done_is_success(stack, emu, monkeypatch):
    """TRTC answers TaskNotExist for an ended task; Volcengine refuses a stopped task and a Get confirms."""
    emu.add_task("cloud_recording", "done-crec", status="Exited")
    emu.add_task("pull_record", "done-rec", status="已结束")
    trtc = app_for("DeleteCloudRecording", stack, monkeypatch)
    volc = app_for("StopPullRecordTask", stack, monkeypatch)
    trtc.handler(
        sqs_event(
            {
                "action": "DeleteCloudRecording",
                "params": {"SdkAppId": 1400000001, "TaskId": "done-crec", "Region": "ap-guangzhou"},
            }
        ),
        FakeContext(),
    )
    volc.handler(sqs_event(stop_command("done-rec")), FakeContext())
    ledger = stack.ledger()
    assert ledger.get_state("trtc", "done-crec")["state"] == "stopped"
    assert ledger.get_state("volcengine", "done-rec")["state"] == "stopped"
    outcomes = {e["detail"]["task_id"]: e["detail"]["outcome"] for e in stack.events("Task Stopped")}
    assert outcomes == {"done-crec": "already_done", "done-rec": "already_done"}
    assert [(c["action"], c["error_code"]) for c in emu.calls()] == [
        ("DeleteCloudRecording", "FailedOperation.TaskNotExist"),
        ("StopPullRecordTask", "InvalidParam"),
        ("GetPullRecordTask", None),
    ]


def test_stopping_a_task_livectl_already_stopped_asks_the_provider_and_ends_already_done(stack, emu, monkeypatch):
    """No ledger read before the call (one AWS call less per command): the provider says it is already stopped."""
    emu.add_task("pull_record", "twice")
    app = app_for("StopPullRecordTask", stack, monkeypatch)
    app.handler(sqs_event(stop_command("twice", id="first")), FakeContext())
    app.handler(sqs_event(stop_command("twice", id="second")), FakeContext())  # another command, same task
    assert stack.ledger().get_state("volcengine", "twice")["state"] == "stopped"
    outcomes = [e["detail"]["outcome"] for e in stack.events("Task Stopped")]
    assert sorted(outcomes) == ["already_done", "done"]


def test_permanent_provider_error_is_recorded_and_not_retried(stack, emu, monkeypatch):
    app = app_for("StopPullRecordTask", stack, monkeypatch)
    answer = app.handler(sqs_event(stop_command("nobody-knows")), FakeContext())
    assert answer == {"batchItemFailures": []}
    [call] = emu.calls()  # one call: no retry inside the invocation either
    assert call["error_code"] == "ResourceNotFound"
    state = stack.ledger().get_state("volcengine", "nobody-knows")
    assert state["state"] == "stop_failed"
    assert state["last_error_code"] == "ResourceNotFound"
    assert "does not exist" in state["last_error_reason"]
    assert state["last_request_id"] == call["request_id"]
    [event] = stack.events("Task Stop Failed")
    assert event["detail"]["error_code"] == "ResourceNotFound" and event["detail"]["reason"]


def test_unknown_account_is_a_permanent_failure_naming_it(stack, emu, monkeypatch):
    emu.add_task("pull_record", "acct")
    app = app_for("StopPullRecordTask", stack, monkeypatch)
    answer = app.handler(sqs_event(stop_command("acct", account="ghost")), FakeContext())
    assert answer == {"batchItemFailures": []}
    assert emu.calls() == []
    state = stack.ledger().get_state("volcengine", "acct")
    assert state["last_error_code"] == "CredentialsNotFound" and "'ghost'" in state["last_error_reason"]


def test_restart_failure_has_its_own_event(stack, emu, monkeypatch):
    emu.add_task("pull_to_push", "relay-ended", status="已结束")  # only 停用 tasks can restart
    app = app_for("RestartPullToPushTask", stack, monkeypatch)
    app.handler(sqs_event({"action": "RestartPullToPushTask", "params": {"TaskId": "relay-ended"}}), FakeContext())
    [event] = stack.events("Task Restart Failed")
    assert event["detail"]["error_code"] == "InvalidParam"
    assert stack.ledger().get_state("volcengine", "relay-ended")["state"] == "restart_failed"
    # the refusal was checked with the provider: the relay is ended, not running
    assert [(c["action"], c["error_code"]) for c in emu.calls()] == [
        ("RestartPullToPushTask", "InvalidParam"),
        ("ListPullToPushTaskV2", None),
    ]


# ---------------------------------------------------------------------------------------------------------
# Partial batches, duplicates, crashes
# ---------------------------------------------------------------------------------------------------------


def hold_in_progress(stack: Any, container: control.Container, command: dict[str, Any]) -> None:
    """Another container is applying this command right now: its Powertools record is INPROGRESS."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    cmd = parse_command(command)
    store = DynamoDBPersistenceLayer(table_name=stack.settings.idempotency_table, boto3_client=stack.client("dynamodb"))
    store.configure(config=copy.copy(container.idempotency_config()), key_prefix=f"livectl.{cmd.name}")
    store.save_inprogress(data={"key": cmd.key, "fingerprint": cmd.fingerprint}, remaining_time_in_millis=60_000)


def test_batch_of_10_with_2_poisoned_reports_exactly_those(stack, emu):
    container = box(stack)
    commands = [stop_command(f"b-{i}", id=f"cmd-{i}") for i in range(10)]
    for c in commands:
        emu.add_task("pull_record", c["params"]["TaskId"])
    for poisoned in (3, 7):
        hold_in_progress(stack, container, commands[poisoned])
    event = {"Records": [sqs_record(json.dumps(c), message_id=f"m-{i}") for i, c in enumerate(commands)]}

    answer = control.handle_event(event, FakeContext(), "StopPullRecordTask", stack.settings, container=container)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-3"}, {"itemIdentifier": "m-7"}]}
    called = sorted(c["params"]["TaskId"] for c in emu.calls())
    assert called == sorted(f"b-{i}" for i in range(10) if i not in (3, 7))  # the other 8, once each
    # SQS redelivers only the failed two (here: after the other holder gave up)
    for item in stack.idempotency_items():
        if item["status"]["S"] == "INPROGRESS":
            stack.client("dynamodb").delete_item(TableName=stack.settings.idempotency_table, Key={"id": item["id"]})
    again = {"Records": [event["Records"][3], event["Records"][7]]}
    assert control.handle_event(again, FakeContext(), "StopPullRecordTask", stack.settings, container=container) == {
        "batchItemFailures": []
    }
    assert sorted(c["params"]["TaskId"] for c in emu.calls()) == sorted(f"b-{i}" for i in range(10))


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "derived-key"])
def test_one_command_delivered_5_times_makes_1_provider_call(with_id, stack, emu, monkeypatch):
    emu.add_task("pull_record", "dup")
    command = stop_command("dup", **({"id": "dup-1"} if with_id else {}))
    app = app_for("StopPullRecordTask", stack, monkeypatch)
    answers = [app.handler(sqs_event(command), FakeContext()) for _ in range(4)]  # 4 deliveries, new message ids
    answers.append(app.handler(sqs_event(command, command), FakeContext()))  # and twice in one batch
    assert all(a == {"batchItemFailures": []} for a in answers)
    assert len(emu.calls()) == 1
    assert len(stack.ledger().history("volcengine", "dup")) == 1
    assert len(stack.events("Task Stopped")) == 1


def test_a_copy_recorded_while_the_first_publishes_is_handed_back_and_the_event_goes_out_once(stack, emu, monkeypatch):
    """Two copies of one command in two containers; the second's ledger write lands between the first's and its
    event (stop 11's demo saw 1 call and 2 events). The second must not publish: it is handed back, and its
    redelivery finds the event out."""
    emu.add_task("pull_record", "race")
    first_box, second_box = box(stack), box(stack)
    command = json.dumps(stop_command("race", id="race-1"))
    copy = sqs_record(command, message_id="second")
    answers: list[dict[str, Any]] = []
    publish = type(first_box.publisher).publish

    def second_copy() -> None:
        event = {"Records": [copy]}
        answers.append(
            control.handle_event(event, FakeContext(), "StopPullRecordTask", stack.settings, container=second_box)
        )

    def publish_after_the_copy(self: Any, detail_type: str, detail: Any) -> None:
        if self is first_box.publisher and not answers:  # the first copy, its item written, its event not yet
            runner = threading.Thread(target=second_copy)
            runner.start()
            runner.join()
        publish(self, detail_type, detail)

    monkeypatch.setattr(type(first_box.publisher), "publish", publish_after_the_copy)
    first = {"Records": [sqs_record(command, message_id="first")]}
    assert control.handle_event(first, FakeContext(), "StopPullRecordTask", stack.settings, container=first_box) == {
        "batchItemFailures": []
    }
    assert answers == [{"batchItemFailures": [{"itemIdentifier": "second"}]}]
    assert len(stack.events("Task Stopped")) == 1
    redelivered = {**copy, "attributes": {**copy["attributes"], "ApproximateReceiveCount": "2"}}
    again = control.handle_event(
        {"Records": [redelivered]}, FakeContext(), "StopPullRecordTask", stack.settings, container=second_box
    )
    assert again == {"batchItemFailures": []}
    assert len(emu.calls()) == 1
    assert len(stack.events("Task Stopped")) == 1
    [item] = stack.ledger().history("volcengine", "race")
    assert item["published"] is True and "publishing_until" not in item


def test_the_publishing_lease_lasts_the_rest_of_the_invocation_and_a_second() -> None:
    assert control.publish_lease(FakeContext(remaining_ms=12_000)) == timedelta(seconds=13)
    assert control.publish_lease(None) == PUBLISH_LEASE  # no invocation to go by: twice the functions' timeout


def test_duplicate_scheduler_firings_make_1_provider_call(stack, emu, monkeypatch):
    command = load_event("delete_cloud_recording.scheduler.json")
    command["not_after"] = later()
    emu.add_task("cloud_recording", "sample-crec-1")
    app = app_for("DeleteCloudRecording", stack, monkeypatch)
    outcomes = [app.handler(dict(command), FakeContext())["outcome"] for _ in range(3)]
    assert outcomes == ["done", "done", "done"]
    assert len(emu.calls()) == 1


@pytest.mark.parametrize("crash_in", ["ledger", "events"])
def test_crash_after_a_successful_call_then_redelivery_calls_once(crash_in, stack, emu, monkeypatch):
    emu.add_task("pull_record", "crash")
    container = box(stack)
    target = (Ledger, "settle") if crash_in == "ledger" else (type(container.publisher), "publish")
    original = getattr(*target)
    crashes = []

    def crash_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not crashes:
            crashes.append(1)
            raise AwsServiceError("simulated outage", code="ServiceUnavailable", provider="aws")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(*target, crash_once)
    record = sqs_record(json.dumps(stop_command("crash", id="crash-1")), message_id="first")
    first = control.handle_event(
        {"Records": [record]}, FakeContext(), "StopPullRecordTask", stack.settings, container=container
    )
    assert first == {"batchItemFailures": [{"itemIdentifier": "first"}]}
    redelivered = {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}
    second = control.handle_event(
        {"Records": [redelivered]}, FakeContext(), "StopPullRecordTask", stack.settings, container=container
    )
    assert second == {"batchItemFailures": []}
    assert len(emu.calls()) == 1
    assert stack.ledger().get_state("volcengine", "crash")["state"] == "stopped"
    assert len(stack.events("Task Stopped")) == 1


def test_too_little_time_left_hands_the_record_back_without_calling(stack, emu):
    emu.add_task("pull_record", "late")
    container = box(stack)
    answer = control.handle_event(
        sqs_event(stop_command("late")),
        FakeContext(remaining_ms=3_500),
        "StopPullRecordTask",
        stack.settings,
        container=container,
    )
    assert len(answer["batchItemFailures"]) == 1
    assert emu.calls() == []
    assert stack.idempotency_items() == []  # nothing left INPROGRESS


def test_scheduler_invocation_raises_what_must_be_retried(stack, emu):
    """A direct invocation has no batch to report into: a transient failure raises, so Lambda's async retry
    (and the function's OnFailure destination) take over; the ledger notes the reason first."""
    emu.add_task("cdn_publish", "sample-cdn-1")
    emu.faults({"kinds": ["throttle"], "rate": 1.0, "actions": ["StopPublishCdnStream"]})
    command = load_event("stop_cdn_publish.scheduler.json")
    command["not_after"] = later()
    with pytest.raises(Throttled):
        control.handle_event(command, FakeContext(), "StopPublishCdnStream", stack.settings, container=box(stack))
    assert len(emu.calls()) == FAST.attempts
    state = stack.ledger().get_state("trtc", "sample-cdn-1")
    assert state["last_error_code"] == "RequestLimitExceeded" and state["state"] == "pending"
    assert stack.idempotency_items() == []  # nothing cached: the retry calls again
    emu.faults([])
    answer = control.handle_event(command, FakeContext(), "StopPublishCdnStream", stack.settings, container=box(stack))
    assert answer["outcome"] == "done"
    assert stack.ledger().get_state("trtc", "sample-cdn-1")["state"] == "stopped"
