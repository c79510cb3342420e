"""The documented QPS per account and action, in a sliding one-second window, on a frozen clock."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from livectl.providers.catalogue import ACTIONS
from livectl.providers.signing import Credentials
from tests.emulator.helpers import trtc_error

pytestmark = pytest.mark.emulator


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def volc_codes(raw, action: str, body: dict, n: int, when: float, credentials=None) -> Counter:
    kwargs = {"credentials": credentials} if credentials else {}
    out: Counter = Counter()
    for _ in range(n):
        resp = raw.volc(action, body, now=at(when), **kwargs)
        meta = resp.json()["ResponseMetadata"]
        out[(resp.status_code, meta.get("Error", {}).get("Code"))] += 1
    return out


def test_sixty_stop_calls_in_one_second_exactly_fifty_succeed(emulator, emulator_clock, raw):
    t0 = emulator_clock.freeze()
    for i in range(60):
        emulator.add_task("pull_record", f"rec-{i}")
    results: Counter = Counter()
    for i in range(60):
        emulator_clock.freeze(t0 + i / 60)  # spread over one second
        resp = raw.volc("StopPullRecordTask", {"TaskId": f"rec-{i}"}, now=at(t0))
        meta = resp.json()["ResponseMetadata"]
        results[(resp.status_code, meta.get("Error", {}).get("Code"))] += 1
    assert results == {(200, None): 50, (429, "FlowLimitExceeded"): 10}
    stopped = [t for t in emulator.tasks("pull_record") if t["status"] == "停用"]
    assert len(stopped) == 50  # a throttled call changes nothing
    assert sum(1 for c in emulator.calls() if c["error_code"] == "FlowLimitExceeded") == 10


def test_sixty_concurrent_calls_on_a_frozen_clock_admit_exactly_fifty(emulator, emulator_clock, livectl_client):
    t0 = emulator_clock.freeze()
    for i in range(60):
        emulator.add_task("pull_record", f"rec-{i}")
    creds = Credentials("AKLTDEMO", "demo-secret")
    action = ACTIONS["StopPullRecordTask"]

    def stop(i: int) -> str | None:
        try:
            livectl_client.call(action, {"TaskId": f"rec-{i}"}, creds, at(t0))
        except Exception as exc:  # the mapped livectl error
            return getattr(exc, "code", type(exc).__name__)
        return None

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = Counter(pool.map(stop, range(60)))
    assert codes == {None: 50, "FlowLimitExceeded": 10}


def test_the_window_slides(emulator, emulator_clock, raw):
    t0 = emulator_clock.freeze()
    emulator.add_task("pull_record", "rec-1")
    body = {"TaskID": "rec-1"}  # GetPullRecordTask: 10 per second
    assert volc_codes(raw, "GetPullRecordTask", body, 6, t0) == {(200, None): 6}
    emulator_clock.freeze(t0 + 0.5)
    assert volc_codes(raw, "GetPullRecordTask", body, 5, t0) == {(200, None): 4, (429, "FlowLimitExceeded"): 1}
    emulator_clock.freeze(t0 + 0.999)
    assert volc_codes(raw, "GetPullRecordTask", body, 1, t0) == {(429, "FlowLimitExceeded"): 1}
    emulator_clock.freeze(t0 + 1.0)  # the six calls at t0 leave the window
    assert volc_codes(raw, "GetPullRecordTask", body, 7, t0) == {(200, None): 6, (429, "FlowLimitExceeded"): 1}
    emulator_clock.freeze(t0 + 1.5)  # the four at t0+0.5 leave too
    assert volc_codes(raw, "GetPullRecordTask", body, 5, t0) == {(200, None): 4, (429, "FlowLimitExceeded"): 1}


def test_windows_are_per_account_and_per_action(emulator, emulator_clock, raw):
    t0 = emulator_clock.freeze()
    emulator.add_account("volcengine", "AKLTOTHER", "other-secret")
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("pull_to_push", "relay-1", status="已结束")
    get = {"TaskID": "rec-1"}
    assert volc_codes(raw, "GetPullRecordTask", get, 12, t0)[(200, None)] == 10
    other = Credentials("AKLTOTHER", "other-secret")
    assert volc_codes(raw, "GetPullRecordTask", get, 12, t0, other)[(200, None)] == 10
    # RestartPullToPushTask has its own 10/s window (its answers are refusals, but not throttling)
    restart = volc_codes(raw, "RestartPullToPushTask", {"TaskId": "relay-1"}, 11, t0)
    assert restart == {(400, "InvalidParam"): 10, (429, "FlowLimitExceeded"): 1}
    # and so does StopPullToPushTask (10/s), counted apart from the restart
    stop = volc_codes(raw, "StopPullToPushTask", {"TaskId": "relay-1"}, 11, t0)
    assert stop == {(400, "InvalidParam"): 10, (429, "FlowLimitExceeded"): 1}


@pytest.mark.parametrize("action", ["DeleteCloudRecording", "StopPublishCdnStream"])
def test_trtc_actions_allow_twenty_per_second_then_request_limit_exceeded(emulator, emulator_clock, raw, action):
    t0 = emulator_clock.freeze()
    codes = Counter(
        trtc_error(raw.trtc(action, {"SdkAppId": 1400000001, "TaskId": f"t-{i}"}, now=at(t0))) for i in range(25)
    )
    assert codes == {"ResourceNotFound": 20, "RequestLimitExceeded": 5}


def test_refused_signatures_do_not_use_the_quota(emulator, emulator_clock, raw):
    t0 = emulator_clock.freeze()
    emulator.add_task("pull_record", "rec-1")
    bad = Credentials("AKLTDEMO", "wrong")
    assert volc_codes(raw, "GetPullRecordTask", {"TaskID": "rec-1"}, 15, t0, bad) == {
        (401, "SignatureDoesNotMatch"): 15
    }
    assert volc_codes(raw, "GetPullRecordTask", {"TaskID": "rec-1"}, 10, t0) == {(200, None): 10}


def test_reset_clears_the_rate_windows(emulator, emulator_clock, raw):
    t0 = emulator_clock.freeze()
    emulator.add_task("pull_record", "rec-1")
    assert volc_codes(raw, "GetPullRecordTask", {"TaskID": "rec-1"}, 11, t0)[(429, "FlowLimitExceeded")] == 1
    assert raw.admin_post("reset").json() == {"reset": True}
    emulator.add_task("pull_record", "rec-1")
    assert volc_codes(raw, "GetPullRecordTask", {"TaskID": "rec-1"}, 10, t0) == {(200, None): 10}
