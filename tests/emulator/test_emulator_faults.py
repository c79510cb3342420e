"""Faults: every kind, what the client sees, whether the call was carried out, and seeded reproducibility."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from livectl.errors import Throttled, TransientProviderError
from livectl.providers.catalogue import ACTIONS
from livectl_cli.emulator import Emulator
from tests.emulator.helpers import Raw, trtc_error, volc_error

pytestmark = pytest.mark.emulator

STOP = ACTIONS["StopPullRecordTask"]
DELETE = ACTIONS["DeleteCloudRecording"]
TRTC_PARAMS = {"SdkAppId": 1400000001, "TaskId": "cr-1", "Region": "ap-guangzhou"}


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def two_tasks(emulator):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    return emulator


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("http_500", 500, "InternalError"),
        ("http_502", 502, "InternalServiceError"),
        ("http_503", 503, "ServiceUnavailableTemp"),
        ("http_504", 504, "InternalServiceTimeout"),
        ("internal_error", 500, "InternalError"),
        ("throttle", 429, "FlowLimitExceeded"),
        ("common_err", 200, "CommonErr"),
    ],
)
def test_volcengine_error_faults_answer_the_seed_table_and_change_nothing(two_tasks, raw, kind, status, code):
    two_tasks.set_faults({"kinds": [kind]})
    resp = raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})
    assert volc_error(resp) == (status, code)
    assert two_tasks.task("pull_record", "rec-1")["status"] == "生效中"
    call = two_tasks.calls()[-1]
    assert (call["fault"], call["error_code"], call["http_status"]) == (kind, code, status)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("http_500", (TransientProviderError, "HTTP500")),
        ("http_502", (TransientProviderError, "HTTP502")),
        ("http_503", (TransientProviderError, "ServiceUnavailable")),
        ("http_504", (TransientProviderError, "HTTP504")),
        ("internal_error", (TransientProviderError, "InternalError")),
        ("throttle", (Throttled, "RequestLimitExceeded")),
        ("common_err", (TransientProviderError, "InternalError")),
    ],
)
def test_trtc_error_faults_as_livectl_sees_them(two_tasks, livectl_client, trtc_credentials, kind, expected):
    two_tasks.set_faults({"kinds": [kind]})
    with pytest.raises(expected[0]) as err:
        livectl_client.call(DELETE, TRTC_PARAMS, trtc_credentials, now())
    assert err.value.code == expected[1]
    assert two_tasks.task("cloud_recording", "cr-1")["status"] == "InProgress"


def test_trtc_gateway_faults_are_not_json(two_tasks, raw):
    two_tasks.set_faults({"kinds": ["http_502"]})
    resp = raw.trtc("DeleteCloudRecording", {"SdkAppId": 1400000001, "TaskId": "cr-1"})
    assert resp.status_code == 502 and resp.headers["Content-Type"] == "text/html"
    assert b"Bad Gateway" in resp.content


def test_throttle_fault_can_carry_retry_after(two_tasks, livectl_client, volc_credentials):
    two_tasks.set_faults({"kinds": ["throttle"], "retry_after": 1.5})
    with pytest.raises(Throttled) as err:
        livectl_client.call(STOP, {"TaskId": "rec-1"}, volc_credentials, now())
    assert (err.value.code, err.value.retry_after) == ("FlowLimitExceeded", 1.5)


def test_drop_closes_the_connection_without_an_answer_and_changes_nothing(two_tasks, livectl_client, volc_credentials):
    two_tasks.set_faults({"kinds": ["drop"]})
    with pytest.raises(TransientProviderError) as err:
        livectl_client.call(STOP, {"TaskId": "rec-1"}, volc_credentials, now())
    assert err.value.code == "ConnectionError"
    assert two_tasks.task("pull_record", "rec-1")["status"] == "生效中"
    assert two_tasks.calls()[-1]["error_code"] == "ConnectionDropped"


def test_delay_outlives_the_client_timeout_but_the_call_is_carried_out(two_tasks, livectl_client, volc_credentials):
    two_tasks.set_faults({"kinds": ["delay"], "delay_ms": 3000, "count": 1})
    with pytest.raises(TransientProviderError) as err:
        livectl_client.call(STOP, {"TaskId": "rec-1"}, volc_credentials, now(), timeout=(1.0, 0.2))
    assert err.value.code == "Timeout"
    assert two_tasks.task("pull_record", "rec-1")["status"] == "停用"  # the server did the work
    assert two_tasks.calls()[-1]["fault"] == "delay"


def test_truncated_body_is_cut_mid_stream_after_the_call_is_carried_out(
    two_tasks, raw, livectl_client, trtc_credentials
):
    two_tasks.set_faults({"kinds": ["truncated"]})
    with pytest.raises(TransientProviderError):
        livectl_client.call(DELETE, TRTC_PARAMS, trtc_credentials, now())
    assert two_tasks.task("cloud_recording", "cr-1")["status"] == "Exited"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})
    assert two_tasks.task("pull_record", "rec-1")["status"] == "停用"


def test_non_json_body_is_malformed_for_livectl(two_tasks, livectl_client, volc_credentials):
    two_tasks.set_faults({"kinds": ["non_json"]})
    with pytest.raises(TransientProviderError) as err:
        livectl_client.call(STOP, {"TaskId": "rec-1"}, volc_credentials, now())
    assert err.value.code == "MalformedResponse"
    assert two_tasks.task("pull_record", "rec-1")["status"] == "停用"


def test_rules_can_target_actions_and_expire_after_a_count(two_tasks, raw):
    two_tasks.set_faults([{"kinds": ["http_500"], "actions": ["GetPullRecordTask"], "count": 2}])
    assert raw.volc("StopPullRecordTask", {"TaskId": "rec-1"}).status_code == 200
    codes = [raw.volc("GetPullRecordTask", {"TaskID": "rec-1"}).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert raw.admin_get("faults") == []


def _fault_sequence(seed: int, n: int = 40) -> list[str | None]:
    """A fresh emulator started with a 30 % rule; 40 calls stay under StopPullRecordTask's 50/s."""
    with Emulator(port=0, seed=seed, faults={"rate": 0.3, "kinds": ["http_500", "throttle", "common_err"]}) as emu:
        raw = Raw(emu.url)
        for _ in range(n):
            raw.volc("StopPullRecordTask", {"TaskId": "nobody"})
        raw.session.close()
        return [c["fault"] for c in emu.calls()]


def test_faults_are_seeded_and_reproducible():
    first = _fault_sequence(7)
    assert any(first) and not all(first)
    assert _fault_sequence(7) == first
    assert _fault_sequence(8) != first


def test_fault_rate_is_honoured_over_many_calls(emulator, raw):
    emulator.add_task("pull_record", "rec-1")
    raw.admin_post("faults", {"seed": 3, "rules": [{"rate": 0.3, "kinds": ["http_500", "http_502", "http_504"]}]})
    statuses = [raw.volc("StopPullRecordTask", {"TaskId": "nobody"}).status_code for _ in range(45)]
    faulted = sum(1 for s in statuses if s >= 500)
    assert 5 <= faulted <= 25  # 30 % of 45 is 13.5; the seeded draw is fixed, the bound documents the intent
    assert faulted == sum(1 for c in emulator.calls() if c["fault"])
    # the same seed and the same calls give the same faults
    first = [c["fault"] for c in emulator.calls()]
    raw.admin_post("reset")
    raw.admin_post("faults", {"seed": 3, "rules": [{"rate": 0.3, "kinds": ["http_500", "http_502", "http_504"]}]})
    for _ in range(45):
        raw.volc("StopPullRecordTask", {"TaskId": "nobody"})
    assert [c["fault"] for c in emulator.calls()] == first


@pytest.mark.parametrize(
    "bad",
    [
        {"kinds": ["meteor"]},
        {"kinds": []},
        {"kinds": ["http_500"], "rate": 2},
        {"kinds": ["http_500"], "actions": ["Nope"]},
        {"kinds": ["http_500"], "count": 0},
        {"kinds": ["http_500"], "colour": "red"},
        "http_500",
    ],
)
def test_invalid_fault_rules_are_refused(emulator, raw, bad):
    resp = raw.admin_post("faults", bad)
    assert resp.status_code == 400 and resp.json()["error"].startswith("faults:")
    assert raw.admin_get("faults") == []


def test_faults_set_at_start_apply_from_the_first_call():
    with Emulator(port=0, faults={"kinds": ["common_err"], "actions": ["StopPullRecordTask"]}) as emu:
        emu.add_task("pull_record", "rec-1")
        raw = Raw(emu.url)
        assert volc_error(raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})) == (200, "CommonErr")
        assert raw.volc("GetPullRecordTask", {"TaskID": "rec-1"}).status_code == 200
        assert trtc_error(raw.trtc("DeleteCloudRecording", {"SdkAppId": 1400000001, "TaskId": "x"})) == (
            "ResourceNotFound"
        )
        raw.session.close()
