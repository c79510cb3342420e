"""The local stack started in-process on ephemeral ports and driven with the CLI's `main([...])`:
a command through a queue, a scheduled stop that fires, webhook callbacks, a poisoned message redriven to the
DLQ after maxReceiveCount receives, and the operator commands' one-line errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.local.stack import LocalStack
from livectl_cli.main import main
from tests.local.conftest import cli_json, task_items
from tests.local.conftest import wait_for as settle

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

TRTC = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}


def leave_a_stale_secrets_client() -> None:
    """What earlier tests (or an earlier stack) in the same process leave behind: Powertools' secrets provider
    bound to a moto that has stopped. The stack must not inherit it: it once did, and once the 300 s secret
    cache had expired every command failed with GetSecretFailed."""
    from aws_lambda_powertools.utilities import parameters

    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    mp.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")
    try:
        with pytest.raises(parameters.exceptions.GetParameterError):
            parameters.get_secret("livectl/volcengine/default", max_age=1)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def stack_config() -> dict[str, Any]:
    leave_a_stale_secrets_client()  # before the stack starts
    return {"parameters": {"GuardPolicyMaxAge": "0"}}  # the guard test changes a policy and wants it at once


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    return settle(predicate, timeout, every=0.1)


def settled_state(capsys: pytest.CaptureFixture[str], task_id: str, provider: str) -> dict[str, Any] | None:
    """The task's STATE item once an outcome is recorded in it: under load the item was read with fields but no
    `state` yet, after the emulator had stopped the task (the test then failed on a KeyError)."""
    state = next((i for i in task_items(capsys, task_id, provider) if i["sk"] == "STATE"), None)
    return state if state and "state" in state else None


def test_stack_is_wired_from_the_template(stack: LocalStack) -> None:
    assert not stack.skipped
    assert {"StopPullRecordFunction", "ScheduleManagerFunction", "TrtcCallbackFunction"} <= set(stack.functions)
    sqs = boto3.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=stack.outputs["StopPullRecordQueueUrl"], AttributeNames=["All"])
    redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
    assert stack.template is not None  # the local queue follows template.yaml, whatever it says today
    declared = stack.template.properties("StopPullRecordQueue")
    assert redrive["maxReceiveCount"] == int(declared["RedrivePolicy"]["maxReceiveCount"])
    assert redrive["deadLetterTargetArn"] == declared["RedrivePolicy"]["deadLetterTargetArn"]
    assert redrive["deadLetterTargetArn"].endswith("StopPullRecordDLQ")
    assert attrs["Attributes"]["VisibilityTimeout"] == str(declared["VisibilityTimeout"])
    secret = boto3.client("secretsmanager").get_secret_value(SecretId="livectl/volcengine/default")
    assert json.loads(secret["SecretString"])["access_key"] == "AKLTDEMO"


def test_a_command_through_its_queue_stops_the_task(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.emulator.add_task("pull_record", "t-queue", status="生效中")
    assert main(["send", "StopPullRecordTask", "--params", '{"TaskId": "t-queue"}']) == 0
    assert "sent StopPullRecordTask for task t-queue" in capsys.readouterr().out
    wait_for(lambda: stack.emulator.task("pull_record", "t-queue")["status"] == "停用")
    state = wait_for(lambda: settled_state(capsys, "t-queue", "volcengine"))
    assert state["state"] == "stopped" and state["last_action"] == "StopPullRecordTask"


def test_a_scheduled_stop_fires_into_the_queue_and_is_deleted(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.emulator.add_task("cdn_publish", "t-sched")
    params = json.dumps({**TRTC, "TaskId": "t-sched"})
    result = cli_json(capsys, "schedule-stop", "StopPublishCdnStream", "--params", params, "--after", "1s", "--json")
    assert result["status"] == "created"
    listed = cli_json(capsys, "schedules", "--json")
    assert [s["name"] for s in listed] == [result["schedule"]]
    wait_for(lambda: stack.emulator.task("cdn_publish", "t-sched")["status"] == "IDLE")
    assert stack.clock is not None
    assert [f["name"] for f in stack.clock.fired if f["error"] is None].count(result["schedule"]) == 1
    # nothing left, the relay's guard included (armed by its 401 RUNNING, disarmed by its IDLE)
    wait_for(lambda: cli_json(capsys, "schedules", "--json") == [])


def test_a_cancelled_stop_never_fires(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.emulator.add_task("pull_record", "t-cancel", status="生效中")
    params = '{"TaskId": "t-cancel"}'
    created = cli_json(capsys, "schedule-stop", "StopPullRecordTask", "--params", params, "--after", "2s", "--json")
    cancelled = cli_json(capsys, "cancel-stop", "StopPullRecordTask", "--params", params, "--json")
    assert cancelled["status"] == "cancelled" and cancelled["schedule"] == created["schedule"]
    time.sleep(3)
    assert stack.emulator.task("pull_record", "t-cancel")["status"] == "生效中"
    assert stack.clock is not None and created["schedule"] not in [f["name"] for f in stack.clock.fired]


def test_webhook_callbacks_from_the_emulator_are_stored(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.emulator.add_task("cloud_recording", "t-hook", storage="vod", files=1)
    assert main(["send", "DeleteCloudRecording", "--params", json.dumps({**TRTC, "TaskId": "t-hook"})]) == 0

    def callbacks() -> list[dict[str, Any]]:
        return [i for i in task_items(capsys, "t-hook", "trtc") if i["sk"].startswith("CB#")]

    # 301 start (the emulator posts it when the recording starts), 302 stop, 311 file, 312 done
    stored = wait_for(lambda: {301, 302, 311, 312} <= {i["event_type"] for i in callbacks()} and callbacks())
    assert {i["event_type"] for i in stored} == {301, 302, 311, 312}
    deliveries = [d for d in stack.emulator.callback_log() if "t-hook" in d["body"]]
    assert deliveries and all(d["http_status"] == 200 for d in deliveries)


def test_webhook_verifies_signatures(stack: LocalStack) -> None:
    body = json.dumps(
        {
            "EventGroupId": 3,
            "EventType": 302,
            "CallbackTs": int(time.time() * 1000),
            "EventInfo": {
                "RoomId": "1",
                "EventTs": int(time.time()),
                "UserId": "u",
                "TaskId": "t-signed",
                "Payload": {},
            },
        }
    ).encode()
    headers = {"Content-Type": "application/json", "SdkAppId": "1400000001"}
    good = requests.post(
        stack.webhook_url,
        data=body,
        headers={**headers, "Sign": trtc_callback_sign(LOCAL_CALLBACK_KEY, body)},
        timeout=5,
    )
    forged = requests.post(
        stack.webhook_url, data=body, headers={**headers, "Sign": trtc_callback_sign("wrong", body)}, timeout=5
    )
    assert good.status_code == 200
    assert forged.status_code == 401
    missing = requests.post(stack.webhook_url.replace("/trtc/callback", "/nope"), data=body, timeout=5)
    assert missing.status_code == 404


def test_a_poisoned_message_lands_in_the_dlq_after_max_receive_count(stack: LocalStack) -> None:
    """Every GetPullRecordTask call fails (HTTP 500): the record is reported failed on each receive, and moto's
    RedrivePolicy moves it to the DLQ on the receive after the maxReceiveCount-th."""
    stack.emulator.add_task("pull_record", "t-poison", status="生效中")
    stack.emulator.set_faults({"kinds": ["http_500"], "actions": ["GetPullRecordTask"]})
    try:
        sqs = boto3.client("sqs")
        body = json.dumps({"action": "GetPullRecordTask", "params": {"TaskID": "t-poison"}})
        sqs.send_message(QueueUrl=stack.outputs["GetPullRecordQueueUrl"], MessageBody=body)
        dlq = stack.outputs["GetPullRecordDLQUrl"]

        def dead() -> list[dict[str, Any]]:
            answer = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)
            return answer.get("Messages", [])

        (message,) = wait_for(dead, timeout=120)
        assert message["Body"] == body
    finally:
        stack.emulator.set_faults([])
    calls = [
        c for c in stack.emulator.calls("GetPullRecordTask") if (c.get("params") or {}).get("TaskID") == "t-poison"
    ]
    assert stack.template is not None
    max_receives = int(stack.template.properties("GetPullRecordQueue")["RedrivePolicy"]["maxReceiveCount"])
    assert len(calls) >= max_receives  # at least one provider attempt per receive


def test_events_follow_prints_outcome_events(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.emulator.add_task("pull_to_push", "t-events", status="停用")
    capsys.readouterr()
    result: dict[str, int] = {}
    listener = threading.Thread(
        target=lambda: result.setdefault("code", main(["events", "--for", "20", "--count", "1", "--json"]))
    )
    listener.start()
    time.sleep(1.0)  # the temporary rule and queue exist once the listener says so
    assert main(["send", "RestartPullToPushTask", "--params", '{"TaskId": "t-events"}']) == 0
    listener.join(25)
    assert result["code"] == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(e["detail-type"] == "Task Restarted" and e["detail"]["task_id"] == "t-events" for e in lines)
    names = boto3.client("events").list_rules(EventBusName=stack.outputs["EventBusName"])["Rules"]
    assert not [r for r in names if r["Name"].startswith("livectl-cli-events-")]  # cleaned up


def test_bulk_send_reports_progress_and_a_summary(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        stack.emulator.add_task("pull_record", f"t-bulk-{i}", status="生效中")
    lines = [json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": f"t-bulk-{i}"}}) for i in range(3)]
    lines.insert(1, '{"action": "StopPullRecordTask", "params": {"TaskID": "oops"}}')
    path = tmp_path / "commands.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["send", "--file", str(path)]) == 1  # one invalid line
    captured = capsys.readouterr()
    assert "sent 3, invalid 1, failed 0" in captured.out
    assert "line 2: invalid command" in captured.err and "3/3" in captured.err
    wait_for(lambda: all(stack.emulator.task("pull_record", f"t-bulk-{i}")["status"] == "停用" for i in range(3)))


def test_rejected_lists_invalid_commands_with_field_and_reason(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """A producer's invalid command (sent straight to the queue, past the CLI's own check) is recorded under
    REJECTED#<day>; `livectl rejected` shows it, `livectl task` points there."""
    sqs = boto3.client("sqs")
    body = json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": "t-rej\u001b[2J"}, "id": "rej-1"})
    sqs.send_message(QueueUrl=stack.outputs["StopPullRecordQueueUrl"], MessageBody=body)

    def listed() -> list[dict[str, Any]]:
        return [i for i in cli_json(capsys, "rejected", "--json") if i.get("command_id") == "rej-1"]

    (item,) = wait_for(listed)
    assert item["field"] == "params.TaskId" and "control" in item["reason"]
    assert main(["rejected"]) == 0
    out = capsys.readouterr().out
    assert "StopPullRecordTask  params.TaskId: params.TaskId must not contain control" in out
    assert "command_id=rej-1" in out and "\x1b" not in out
    assert main(["rejected", "--date", "2001-01-01"]) == 0
    assert "no rejected commands on 2001-01-01" in capsys.readouterr().out
    assert main(["task", "t-rej"]) == 2
    assert "livectl rejected" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send", "StopPullRecordTask", "--params", '{"TaskID": "x"}'], "invalid command: params.TaskID"),
        (["send", "StopPullRecordTask", "--params", "{nope"], "--params is not valid JSON"),
        (["schedule-stop", "StopPullRecordTask", "--params", '{"TaskId": "x"}', "--after", "soon"], "not a duration"),
        (["task", "never-seen"], "task never-seen is not in the ledger"),
    ],
)
def test_errors_are_one_clear_line(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("livectl: ") and message in err and len(err.strip().splitlines()) == 1


def test_no_target_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVECTL_LOCAL_STATE", str(tmp_path / "missing.json"))
    monkeypatch.delenv("LIVECTL_LOCAL_URL", raising=False)
    assert main(["schedules"]) == 2
    assert "no target" in capsys.readouterr().err


def test_the_guard_through_the_cli_set_armed_listed_extended_off(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """`livectl guard set` an app's policy; the emulator's 301 for a new recording arms a guard through the real
    webhook and schedule manager; `livectl schedules` marks it; `guard extend` moves it; `guard off` cancels it."""
    shown = cli_json(capsys, "guard", "show", "1400000001", "--json")
    assert shown["max_recording"] == "12h" and shown["override"] is None
    capsys.readouterr()
    assert main(["guard", "set", "1400000001", "--max-recording", "3h", "--guard-region", "ap-singapore"]) == 0
    assert "max_recording=3h" in capsys.readouterr().out
    shown = cli_json(capsys, "guard", "show", "1400000001", "--json")
    assert (shown["max_recording"], shown["region"]) == ("3h", "ap-singapore")
    assert shown["override"] == {"max_recording": "3h", "region": "ap-singapore"}

    task = stack.emulator.add_task("cloud_recording", "t-guarded", region="ap-singapore")

    def guard_schedule() -> dict[str, Any] | None:
        rows = [s for s in cli_json(capsys, "schedules", "--json") if (s["params"] or {}).get("TaskId") == "t-guarded"]
        return rows[0] if rows else None

    armed = wait_for(guard_schedule)
    assert armed["via"] == "guard" and armed["action"] == "DeleteCloudRecording"
    assert armed["params"]["Region"] == "ap-singapore"
    started = task["created_at"]
    assert abs(datetime.fromisoformat(armed["at"]).timestamp() - (started + 3 * 3600)) <= 2
    capsys.readouterr()
    assert main(["schedules"]) == 0
    table = capsys.readouterr().out
    assert any("t-guarded" in line and " guard " in line for line in table.splitlines())

    capsys.readouterr()
    assert main(["guard", "extend", "t-guarded", "--by", "2h"]) == 0
    assert "extended the guard of t-guarded" in capsys.readouterr().out
    moved = guard_schedule()
    assert moved is not None and moved["via"] == "guard"
    assert datetime.fromisoformat(moved["at"]) - datetime.fromisoformat(armed["at"]) == timedelta(hours=2)

    capsys.readouterr()
    assert main(["guard", "off", "t-guarded"]) == 0
    assert guard_schedule() is None
    capsys.readouterr()
    assert main(["guard", "off", "t-guarded"]) == 2  # nothing left: one clear line, not a traceback
    assert "no armed guard for task t-guarded" in capsys.readouterr().err
    assert stack.emulator.task("cloud_recording", "t-guarded")["status"] == "InProgress"  # never stopped
    assert main(["guard", "set", "1400000001", "--max-recording", "12h", "--guard-region", "ap-guangzhou"]) == 0
