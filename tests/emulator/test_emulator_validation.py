"""Validation like the real thing: every documented parameter error, with the seeds' codes and statuses."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import trtc_error, volc_error

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize(
    ("action", "body", "expected"),
    [
        ("StopPullRecordTask", {}, (400, "InvalidParam")),
        ("StopPullRecordTask", {"TaskId": ""}, (400, "InvalidParam")),
        ("StopPullRecordTask", {"TaskId": "x" * 300}, (400, "InvalidParam")),
        ("StopPullRecordTask", {"TaskId": 12345}, (400, "InvalidParam.BindError")),
        ("StopPullRecordTask", {"TaskId": ["rec-1"]}, (400, "InvalidParam.BindError")),
        ("StopPullRecordTask", b"{not json", (400, "InvalidParam.BindError")),
        ("StopPullRecordTask", b'["TaskId"]', (400, "InvalidParam.BindError")),
        # GetPullRecordTask wants TaskID (capital D); TaskId is not its parameter
        ("GetPullRecordTask", {"TaskId": "rec-1"}, (400, "InvalidParam")),
        ("GetPullRecordTask", {"TaskID": True}, (400, "InvalidParam.BindError")),
        ("RestartPullToPushTask", {}, (400, "InvalidParam")),
        ("RestartPullToPushTask", {"TaskId": "relay-1", "GroupName": 7}, (400, "InvalidParam.BindError")),
        ("StopPullToPushTask", {}, (400, "InvalidParam")),
        ("StopPullToPushTask", {"TaskId": ""}, (400, "InvalidParam")),
        ("StopPullToPushTask", {"TaskId": 7}, (400, "InvalidParam.BindError")),
        ("StopPullToPushTask", {"TaskId": "relay-1", "GroupName": 7}, (400, "InvalidParam.BindError")),
    ],
)
def test_volcengine_parameter_errors(emulator, raw, action, body, expected):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("pull_to_push", "relay-1", status="停用")
    resp = raw.volc(action, body)
    assert volc_error(resp) == expected
    error = resp.json()["ResponseMetadata"]["Error"]
    assert error["Message"]
    if expected[1] == "InvalidParam.BindError":
        assert error["Message"] == "Request parameter error, please check input data"
    assert {t["status"] for t in emulator.tasks()} == {"生效中", "停用"}  # nothing moved
    assert emulator.calls()[-1]["signature_valid"] is True


@pytest.mark.parametrize(
    ("action", "version", "expected"),
    [
        ("StopPullRecordTask", "2020-08-01", (404, "InvalidActionOrVersion")),
        ("ListPullRecordTask", "2023-01-01", (404, "InvalidActionOrVersion")),
        ("DeleteCloudRecording", "2023-01-01", (404, "InvalidActionOrVersion")),
    ],
)
def test_volcengine_unknown_action_or_version(emulator, raw, action, version, expected):
    resp = raw.volc(action, {"TaskId": "rec-1"}, version=version)
    assert volc_error(resp) == expected
    assert resp.json()["ResponseMetadata"]["Error"]["CodeN"] == 100008


TRTC_OK = {"SdkAppId": 1400000001, "TaskId": "t-1"}


@pytest.mark.parametrize("action", ["DeleteCloudRecording", "StopPublishCdnStream"])
@pytest.mark.parametrize(
    ("body", "region", "code"),
    [
        ({"SdkAppId": 1400000001}, "ap-guangzhou", "MissingParameter.TaskId"),
        ({"TaskId": "t-1"}, "ap-guangzhou", "MissingParameter.SdkAppId"),
        ({"SdkAppId": "1400000001", "TaskId": "t-1"}, "ap-guangzhou", "InvalidParameter.SdkAppId"),
        ({"SdkAppId": 0, "TaskId": "t-1"}, "ap-guangzhou", "InvalidParameter.SdkAppId"),
        ({"SdkAppId": True, "TaskId": "t-1"}, "ap-guangzhou", "InvalidParameter.SdkAppId"),
        ({"SdkAppId": 1400000001, "TaskId": 42}, "ap-guangzhou", "InvalidParameter"),
        ({"SdkAppId": 1400000001, "TaskId": ""}, "ap-guangzhou", "InvalidParameter"),
        (TRTC_OK, "ap-nowhere", "InvalidParameter.OutOfRange"),
        (TRTC_OK, None, "MissingParameter"),
        (b"{oops", "ap-guangzhou", "InvalidParameter"),
    ],
)
def test_trtc_parameter_errors(emulator, raw, action, body, region, code):
    kind = "cloud_recording" if action == "DeleteCloudRecording" else "cdn_publish"
    emulator.add_task(kind, "t-1")
    resp = raw.trtc(action, body, region=region)
    assert trtc_error(resp) == code
    assert resp.json()["Response"]["Error"]["Message"]
    assert emulator.task(kind, "t-1")["status"] in ("InProgress", "RUNNING")


def test_regions_follow_each_actions_documented_list(emulator, raw):
    """ap-mumbai is documented for DeleteCloudRecording only, ap-hongkong for StopPublishCdnStream only."""
    emulator.add_task("cloud_recording", "t-1", region="ap-mumbai")
    emulator.add_task("cdn_publish", "t-1", region="ap-hongkong")
    assert trtc_error(raw.trtc("StopPublishCdnStream", TRTC_OK, region="ap-mumbai")) == "InvalidParameter.OutOfRange"
    assert trtc_error(raw.trtc("DeleteCloudRecording", TRTC_OK, region="ap-hongkong")) == "InvalidParameter.OutOfRange"
    assert trtc_error(raw.trtc("DeleteCloudRecording", TRTC_OK, region="ap-mumbai")) is None
    assert trtc_error(raw.trtc("StopPublishCdnStream", TRTC_OK, region="ap-hongkong")) is None


def test_trtc_unknown_action_and_version(emulator, raw):
    assert trtc_error(raw.trtc("DescribeCloudRecording", TRTC_OK)) == "InvalidAction"
    assert trtc_error(raw.trtc("StopPullRecordTask", TRTC_OK)) == "InvalidAction"
    assert trtc_error(raw.trtc("DeleteCloudRecording", TRTC_OK, version="2018-01-01")) == "NoSuchVersion"


def test_unknown_fields_are_ignored_like_the_gateways_do(emulator, raw):
    emulator.add_task("pull_record", "rec-1")
    assert raw.volc("StopPullRecordTask", {"TaskId": "rec-1", "Extra": 1}).status_code == 200
    emulator.add_task("cdn_publish", "t-1")
    assert trtc_error(raw.trtc("StopPublishCdnStream", {**TRTC_OK, "RecordKey": None})) is None


def test_requests_that_are_no_provider_call_get_404(emulator, raw):
    resp = raw.session.post(f"{emulator.url}/", data=b"{}", timeout=5)
    assert resp.status_code == 404
    assert raw.session.get(f"{emulator.url}/_emulator/nothing-here", timeout=5).status_code == 404
    assert emulator.calls() == []
