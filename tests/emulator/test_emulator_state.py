"""State machines: every transition of the four task kinds, the refusals, and how livectl settles them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from livectl.errors import AlreadyDone, PermanentProviderError
from livectl.providers.catalogue import ACTIONS
from livectl.providers.operations import perform
from livectl.providers.retry import RetryPolicy
from tests.emulator.helpers import trtc_error, volc_error

pytestmark = pytest.mark.emulator

TRTC = {"SdkAppId": 1400000001}


def now() -> datetime:
    return datetime.now(UTC)


# ---- Volcengine pull-record tasks: 未开始 / 生效中 → 停用; 停用 / 已结束 refuse a stop -------------------------------
@pytest.mark.parametrize("start", ["未开始", "生效中"])
def test_stop_moves_a_pull_record_task_to_stopped(emulator, raw, start):
    emulator.add_task("pull_record", "rec-1", status=start)
    resp = raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})
    assert resp.status_code == 200
    meta = resp.json()["ResponseMetadata"]
    assert (meta["Action"], meta["Version"], meta["Service"], meta["Region"]) == (
        "StopPullRecordTask",
        "2023-01-01",
        "live",
        "cn-north-1",
    )
    assert "Error" not in meta and "Result" not in resp.json()
    task = emulator.task("pull_record", "rec-1")
    assert task["status"] == "停用"
    assert task["history"][0]["from"] == start and task["history"][0]["by"] == "StopPullRecordTask"
    got = raw.volc("GetPullRecordTask", {"TaskID": "rec-1"}).json()["Result"]
    assert got["Status"] == "停用" and got["TaskId"] == "rec-1"
    assert list(got) == ["TaskId", "StartTime", "EndTime", "Vhost", "Domain", "App", "Stream", "Status"]


@pytest.mark.parametrize("final", ["停用", "已结束"])
def test_stopping_a_stopped_or_ended_task_is_refused_with_invalid_param(emulator, raw, final):
    emulator.add_task("pull_record", "rec-1", status=final)
    assert volc_error(raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})) == (400, "InvalidParam")
    assert emulator.task("pull_record", "rec-1")["status"] == final
    assert emulator.task("pull_record", "rec-1")["history"] == []


@pytest.mark.parametrize("status", ["未开始", "生效中", "停用", "已结束"])
def test_get_reports_each_status(emulator, raw, status):
    emulator.add_task("pull_record", "rec-1", status=status)
    assert raw.volc("GetPullRecordTask", {"TaskID": "rec-1"}).json()["Result"]["Status"] == status


def test_livectl_settles_a_refused_stop_of_an_ended_task_as_already_done(emulator, livectl_client, volc_credentials):
    emulator.add_task("pull_record", "rec-1", status="已结束")
    outcome = perform(
        ACTIONS["StopPullRecordTask"],
        {"TaskId": "rec-1"},
        volc_credentials,
        livectl_client,
        deadline=time.monotonic() + 10,
    )
    assert (outcome.status, outcome.error_code, outcome.task_status) == ("already_done", "InvalidParam", "已结束")
    assert [c["action"] for c in emulator.calls()] == ["StopPullRecordTask", "GetPullRecordTask"]


# ---- Volcengine pull-to-push relays: restart only from 停用 ------------------------------------------------------
def test_restart_moves_a_stopped_relay_to_active(emulator, raw):
    emulator.add_task("pull_to_push", "relay-1", status="停用")
    assert raw.volc("RestartPullToPushTask", {"TaskId": "relay-1"}).status_code == 200
    assert emulator.task("pull_to_push", "relay-1")["status"] == "生效中"


@pytest.mark.parametrize("status", ["未开始", "生效中", "已结束"])
def test_restart_of_a_relay_not_stopped_is_refused(emulator, raw, status):
    emulator.add_task("pull_to_push", "relay-1", status=status)
    assert volc_error(raw.volc("RestartPullToPushTask", {"TaskId": "relay-1"})) == (400, "InvalidParam")
    assert emulator.task("pull_to_push", "relay-1")["status"] == status


def test_restart_checks_the_group_when_both_name_one(emulator, raw):
    emulator.add_task("pull_to_push", "relay-1", status="停用", group_name="g1")
    body = {"TaskId": "relay-1", "GroupName": "other"}
    assert volc_error(raw.volc("RestartPullToPushTask", body)) == (400, "InvalidParam")
    assert raw.volc("RestartPullToPushTask", {"TaskId": "relay-1", "GroupName": "g1"}).status_code == 200


# ---- Volcengine pull-to-push relays: stop only from 未开始 or 生效中 ----------------------------------------------
@pytest.mark.parametrize("status", ["未开始", "生效中"])
def test_relay_stop_moves_a_waiting_or_running_relay_to_stopped(emulator, raw, status):
    emulator.add_task("pull_to_push", "relay-1", status=status)
    resp = raw.volc("StopPullToPushTask", {"TaskId": "relay-1"})
    assert resp.status_code == 200
    assert set(resp.json()) == {"ResponseMetadata"}  # the documented answer: ResponseMetadata only
    assert resp.json()["ResponseMetadata"]["Action"] == "StopPullToPushTask"
    assert emulator.task("pull_to_push", "relay-1")["status"] == "停用"


@pytest.mark.parametrize("status", ["停用", "已结束"])
def test_relay_stop_of_a_stopped_or_ended_relay_is_refused(emulator, raw, status):
    emulator.add_task("pull_to_push", "relay-1", status=status)
    assert volc_error(raw.volc("StopPullToPushTask", {"TaskId": "relay-1"})) == (400, "InvalidParam")
    assert emulator.task("pull_to_push", "relay-1")["status"] == status


def test_relay_stop_checks_the_group_and_a_stopped_relay_restarts(emulator, raw):
    emulator.add_task("pull_to_push", "relay-1", status="生效中", group_name="g1")
    assert volc_error(raw.volc("StopPullToPushTask", {"TaskId": "relay-1", "GroupName": "g2"})) == (400, "InvalidParam")
    assert raw.volc("StopPullToPushTask", {"TaskId": "relay-1", "GroupName": "g1"}).status_code == 200
    assert raw.volc("RestartPullToPushTask", {"TaskId": "relay-1"}).status_code == 200
    assert emulator.task("pull_to_push", "relay-1")["status"] == "生效中"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("StopPullRecordTask", {"TaskId": "nobody"}),
        ("StopPullToPushTask", {"TaskId": "nobody"}),
        ("GetPullRecordTask", {"TaskID": "nobody"}),
        ("RestartPullToPushTask", {"TaskId": "nobody"}),
    ],
)
def test_unknown_volcengine_task_is_resource_not_found(emulator, raw, action, body):
    # a task of another kind with the same id does not count
    emulator.add_task("cloud_recording", "nobody")
    assert volc_error(raw.volc(action, body)) == (404, "ResourceNotFound")


# ---- TRTC cloud recordings and CDN relays: stop ends them; a second stop says TaskNotExist ----------------------
@pytest.mark.parametrize(
    ("kind", "action", "start", "end"),
    [
        ("cloud_recording", "DeleteCloudRecording", "InProgress", "Exited"),
        ("cloud_recording", "DeleteCloudRecording", "Idle", "Exited"),
        ("cdn_publish", "StopPublishCdnStream", "RUNNING", "IDLE"),
        ("cdn_publish", "StopPublishCdnStream", "CONNECTING", "IDLE"),
    ],
)
def test_trtc_stop_ends_the_task_and_a_second_stop_is_task_not_exist(emulator, raw, kind, action, start, end):
    emulator.add_task(kind, "t-1", status=start)
    first = raw.trtc(action, {**TRTC, "TaskId": "t-1"})
    assert first.json()["Response"]["TaskId"] == "t-1"
    assert len(first.json()["Response"]["RequestId"]) == 36
    assert emulator.task(kind, "t-1")["status"] == end
    second = raw.trtc(action, {**TRTC, "TaskId": "t-1"})
    assert trtc_error(second) == "FailedOperation.TaskNotExist"
    assert trtc_error(raw.trtc(action, {**TRTC, "TaskId": "never-existed"})) == "ResourceNotFound"


def test_livectl_treats_a_repeated_trtc_stop_as_already_done(emulator, livectl_client, trtc_credentials):
    emulator.add_task("cloud_recording", "cr-1")
    action = ACTIONS["DeleteCloudRecording"]
    params = {**TRTC, "TaskId": "cr-1", "Region": "ap-guangzhou"}
    assert livectl_client.call(action, params, trtc_credentials, now()).result == {"TaskId": "cr-1"}
    with pytest.raises(AlreadyDone):
        livectl_client.call(action, params, trtc_credentials, now())
    outcome = perform(action, params, trtc_credentials, livectl_client, deadline=time.monotonic() + 10)
    assert outcome.status == "already_done"
    emulator.add_task("cloud_recording", "cr-2")
    with pytest.raises(PermanentProviderError) as err:
        livectl_client.call(action, {**params, "TaskId": "unknown"}, trtc_credentials, now())
    assert err.value.code == "ResourceNotFound"


def test_a_task_belongs_to_its_sdk_app_and_region(emulator, raw):
    emulator.add_task("cloud_recording", "cr-1", sdk_app_id=1400000002, region="ap-beijing")
    body = {"SdkAppId": 1400000001, "TaskId": "cr-1"}
    assert trtc_error(raw.trtc("DeleteCloudRecording", body, region="ap-beijing")) == "InvalidParameter.SdkAppId"
    body["SdkAppId"] = 1400000002
    assert trtc_error(raw.trtc("DeleteCloudRecording", body, region="ap-guangzhou")) == "ResourceNotFound"
    assert trtc_error(raw.trtc("DeleteCloudRecording", body, region="ap-beijing")) is None


def test_retry_policy_drives_a_flaky_stop_to_done(emulator, livectl_client, volc_credentials):
    emulator.add_task("pull_record", "rec-1")
    emulator.set_faults({"kinds": ["http_502"], "count": 2})
    outcome = perform(
        ACTIONS["StopPullRecordTask"],
        {"TaskId": "rec-1"},
        volc_credentials,
        livectl_client,
        deadline=time.monotonic() + 10,
        policy=RetryPolicy(base=0.001, cap=0.002),
        sleep=lambda _s: None,
    )
    assert (outcome.status, outcome.provider_calls) == ("done", 3)
    assert [c["error_code"] for c in emulator.calls()] == ["InternalServiceError", "InternalServiceError", None]
