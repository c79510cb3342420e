"""The real handler (functions/trtc_callback/app.py) against moto: ledger, bus, secret, metrics, logs."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from livectl.webhook.service import ACK
from tests.callback.conftest import (
    APP_ID,
    KEY,
    TABLE,
    callback,
    callback_ts,
    emf_metrics,
    load_event,
    make_event,
    raw_body,
)

pytestmark = pytest.mark.aws

COS_TASK = "-m9-bVVU7idQ3K-m928oZWQndiborbEWH3zY-lIXlprc-gQvQE"
VOD_TASK = "-m9-bVVU7idQ3K-vod8oZWQndiborbEWH3zY-lIXlprc-hRwRF"
RELAY_TASK = "-pUWD4ExRVRJeyIo5Oq4k4HpTpy1dqwRe0zq-_2N5G0nGeCt5J0"


def call(app: Any, clock: Any, event: dict[str, Any], now_ms: int | None = None) -> tuple[int, dict[str, Any]]:
    clock.set_ms(now_ms if now_ms is not None else callback_ts(event))
    answer = app.handler(event, None)
    return answer["statusCode"], json.loads(answer["body"])


def detail_types(events: list[dict[str, Any]]) -> list[str]:
    return [e["detail-type"] for e in events]


# -- acceptance and ledger ---------------------------------------------------------------------------------------
def test_cos_recording_flow_records_files_and_all_uploaded(app, clock, moto_aws):
    for name in ("301", "303", "307", "304", "306", "302", "310", "305"):
        status, body = call(app, clock, load_event(name))
        assert (status, body) == (200, ACK), name
    state = moto_aws.state(COS_TASK)
    assert state is not None
    assert state["all_uploaded"] is True and state["storage"] == "cos" and state["kind"] == "cloud_recording"
    assert state["recorder_status"] == "stopped" and state["upload_status"] == "uploaded"
    assert sorted(state["files"]) == [
        "1400000001_635055_recorder_635055.m3u8",
        "1400000001_635055_recorder_635055_main_1.mp4",
        "1400000001_635055_recorder_635055_main_2.mp4",
    ]
    assert state["files"]["1400000001_635055_recorder_635055_main_2.mp4"]["end_ms"] == 1763711999997
    assert "state" not in state and "updated_at" not in state  # those belong to commands
    assert len(moto_aws.callback_items()) == 8
    published = moto_aws.published()
    assert detail_types(published) == ["Recording Uploaded", "Recording Uploaded"]  # 310 and 305
    last = published[-1]
    assert last["source"] == "livectl"
    assert last["detail"]["task_id"] == COS_TASK and last["detail"]["all_uploaded"] is True
    assert [f["name"] for f in last["detail"]["files"]] == sorted(state["files"])


def test_vod_flow_records_file_ids_urls_and_failures(app, clock, moto_aws):
    for name in ("311", "311_failed", "312"):
        assert call(app, clock, load_event(name))[0] == 200
    state = moto_aws.state(VOD_TASK)
    assert state is not None and state["all_uploaded"] is True and state["storage"] == "vod"
    (vod_file,) = state["files"].values()
    assert vod_file["file_id"] == "5285890799617342315" and vod_file["url"].startswith("https://1500012345.vod2")
    (error,) = state["upload_errors"].values()
    assert error == {
        "event_type": 311,
        "status": 1,
        "message": "upload to vod timeout",
        "file": "1400000001_635055_host_2_main.mp4",
    }
    published = moto_aws.published()
    assert detail_types(published) == ["Recording Upload Failed", "Recording Uploaded"]
    failed = published[0]["detail"]
    assert failed["task_id"] == VOD_TASK and failed["reason"] == "upload to vod timeout"
    uploaded = published[1]["detail"]
    assert uploaded["storage"] == "vod" and uploaded["files"][0]["file_id"] == "5285890799617342315"


def test_upload_error_308_is_recorded_and_published(app, clock, moto_aws):
    assert call(app, clock, load_event("308"))[0] == 200
    state = moto_aws.state(COS_TASK)
    (error,) = state["upload_errors"].values()
    assert error["code"] == "InvalidAccessKeyId" and state["upload_status"] == "error"
    (event,) = moto_aws.published()
    assert event["detail-type"] == "Recording Upload Failed" and event["detail"]["error_code"] == "InvalidAccessKeyId"


def test_every_sample_event_is_acknowledged_and_stored(app, clock, moto_aws):
    names = ["301", "302", "303", "304", "305", "306", "307", "308", "309", "310", "311", "311_failed", "312", "401"]
    for name in names:
        assert call(app, clock, load_event(name)) == (200, ACK), name
    items = moto_aws.callback_items()
    assert sorted(i["event_type"] for i in items) == sorted(int(n[:3]) for n in names)
    assert all(i["status"] == "done" for i in items)
    by_type = {i["event_type"]: i for i in items}
    assert by_type[305]["body"].encode() == raw_body(load_event("305"))  # the signed bytes, as received


def test_unknown_events_and_room_events_are_stored_without_failing(app, clock, moto_aws):
    docs = load_event("docs_vector")  # room event 204, no TaskId, signed with the docs' key
    moto_aws.set_secret({"keys": [KEY, "123654"], "sdk_app_ids": [APP_ID]})
    assert call(app, clock, docs) == (200, ACK)
    future = callback(399, {"Whatever": [1, 2]}, task="task-9", at_ms=1763712000000)
    web = callback(801, {"Status": 1}, task="task-9", at_ms=1763712000000, group=8)
    for body in (future, web):
        assert call(app, clock, make_event(body)) == (200, ACK)
    items = moto_aws.callback_items()
    assert sorted(i["event_type"] for i in items) == [204, 399, 801]
    room = next(i for i in items if i["event_type"] == 204)
    assert room["pk"] == "CALLBACK#trtc#2022-09-26"
    assert moto_aws.state("task-9") is None  # unknown types change no task state
    assert moto_aws.published() == []


# -- rejections: nothing stored, a metric counted -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("variant", "status", "reason"),
    [
        ("forged", 401, "bad_sign"),
        ("missing", 401, "missing_sign"),
        ("reserialised", 401, "bad_sign"),
        ("wrong_app", 401, "sdk_app_id"),
        ("oversize", 413, "too_large"),
        ("malformed", 400, "malformed"),
        ("replay", 401, "replay"),
        ("get", 405, "method"),
    ],
)
def test_rejections_store_nothing_publish_nothing_and_count_a_metric(
    app, clock, moto_aws, log_lines, variant, status, reason
):
    sample = load_event("305")
    body = raw_body(sample)
    ts = callback_ts(sample)
    event = {
        "forged": lambda: make_event(body, sign="kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="),
        "missing": lambda: make_event(body, key=None),
        "reserialised": lambda: make_event(json.dumps(json.loads(body)).encode(), sign=sample["headers"]["sign"]),
        "wrong_app": lambda: make_event(body, app_id=1400000002),
        "oversize": lambda: make_event(b" " * 65537 + body),
        "malformed": lambda: make_event(b'{"EventGroupId": 3, "EventType": 305,'),
        "replay": lambda: sample,
        "get": lambda: {**sample, "requestContext": {"http": {"method": "GET", "path": "/trtc/callback"}}},
    }[variant]()
    now = ts + 301_000 if variant == "replay" else ts
    answer_status, answer = call(app, clock, event, now)
    assert (answer_status, answer["error"]) == (status, reason)
    assert moto_aws.items() == [] and moto_aws.published() == []
    output = log_lines()
    assert ("CallbackRejected", {"service": "livectl", "reason": reason}) in emf_metrics(output)
    assert ("CallbackRejected", {"service": "livectl"}) in emf_metrics(output)  # the total the alarm watches
    assert body.decode()[:40] not in output and "Payload" not in output  # no trace of the body
    if "sign" in event["headers"]:
        assert event["headers"]["sign"] not in output and event["headers"]["sign"] not in json.dumps(answer)


def test_a_rejection_reason_never_reaches_another_metric(app, clock, moto_aws, log_lines, monkeypatch):
    """Issue 10 item 11: the handler once put `reason` on Powertools' process-wide metric set. With metrics
    disabled (the local stack) nothing ever cleared it, and the next EMF document written from that set (at 100
    values Powertools writes one even when disabled) carried the callback's reason on another function's
    metric: `ProviderPermanentFailures` with `reason: bad_sign`."""
    from livectl.control.service import metrics as shared_metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(shared_metrics.provider, "namespace", "livectl")  # as the template's env sets it
    forged = make_event(raw_body(load_event("305")), sign="kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=")
    try:
        assert call(app, clock, forged)[0] == 401
        for _ in range(100):  # the 100th value makes Powertools write the shared set out
            shared_metrics.add_metric(name="ProviderPermanentFailures", unit="Count", value=1)
        found = emf_metrics(log_lines())
    finally:
        shared_metrics.clear_metrics()
    assert [name for name, _ in found if name.startswith("Callback")] == []  # disabled means disabled
    others = [dims for name, dims in found if name == "ProviderPermanentFailures"]
    assert others and all("reason" not in dims for dims in others)


def test_accepted_and_duplicate_metrics(app, clock, moto_aws, log_lines):
    event = load_event("302")
    assert call(app, clock, event)[0] == 200
    assert call(app, clock, event)[0] == 200
    names = [name for name, _ in emf_metrics(log_lines())]
    assert names == ["CallbackAccepted", "CallbackDuplicate"]


def test_retry_with_new_callback_ts_and_new_sign_is_a_duplicate(app, clock, moto_aws):
    first = callback(310, {"Status": 0, "FileList": ["a.mp4"]}, at_ms=1763712000000, callback_ts=1763712000100)
    retry = callback(310, {"Status": 0, "FileList": ["a.mp4"]}, at_ms=1763712000000, callback_ts=1763712010100)
    assert first != retry
    assert call(app, clock, make_event(first))[0] == 200
    assert call(app, clock, make_event(retry))[0] == 200
    assert len(moto_aws.callback_items()) == 1
    assert detail_types(moto_aws.published()) == ["Recording Uploaded"]


def test_ten_concurrent_duplicates_are_stored_once(app, clock, moto_aws):
    clock.set_ms(1763712000100)
    bodies = [
        callback(310, {"Status": 0, "FileList": ["x.mp4"]}, at_ms=1763712000000, callback_ts=1763712000100 + i * 10)
        for i in range(10)
    ]
    events = [make_event(b) for b in bodies]
    barrier = threading.Barrier(10)
    results: list[int] = []
    lock = threading.Lock()

    def send(event: dict[str, Any]) -> None:
        barrier.wait()
        status = app.handler(event, None)["statusCode"]
        with lock:
            results.append(status)

    threads = [threading.Thread(target=send, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 10
    assert len(moto_aws.callback_items()) == 1
    assert detail_types(moto_aws.published()) == ["Recording Uploaded"]
    assert list(moto_aws.state("task-1")["files"]) == ["x.mp4"]


def test_key_rotation_through_the_secret(app, clock, moto_aws):
    body = raw_body(load_event("301"))
    moto_aws.set_secret({"keys": [KEY, "newKey2026"], "sdk_app_ids": [APP_ID]})
    assert call(app, clock, make_event(body, key="newKey2026"))[0] == 200
    body2 = raw_body(load_event("303"))
    assert call(app, clock, make_event(body2, key=KEY))[0] == 200
    moto_aws.set_secret({"keys": ["newKey2026"], "sdk_app_ids": [APP_ID]})
    body3 = raw_body(load_event("306"))
    status, answer = call(app, clock, make_event(body3, key=KEY))
    assert (status, answer["error"]) == (401, "bad_sign")
    assert len(moto_aws.callback_items()) == 2


# -- relay ordering -------------------------------------------------------------------------------------------
def relay(status: int, at_ms: int, task: str = RELAY_TASK) -> dict[str, Any]:
    body = callback(
        401, {"Url": "rtmp://cdn/live/1", "Status": status, "ErrorCode": 0, "ErrorMsg": ""}, task=task, at_ms=at_ms
    )
    return make_event(body)


def test_relay_statuses_out_of_order_never_move_backwards(app, clock, moto_aws):
    t = 1763712000000
    # documented stop sequence RUNNING(2) -> DISCONNECTING(5) -> IDLE(0), delivered IDLE, RUNNING, DISCONNECTING
    for status, at in ((0, t + 2000), (2, t), (5, t + 1000)):
        assert call(app, clock, relay(status, at), t + 3000)[0] == 200
    state = moto_aws.state(RELAY_TASK)
    assert (state["relay_status"], state["relay_status_name"], state["relay_event_ms_ts"]) == (0, "IDLE", t + 2000)
    assert state["relay_url"] == "rtmp://cdn/live/1" and state["kind"] == "cdn_publish"
    published = moto_aws.published()
    assert detail_types(published) == ["Relay Status Changed"]  # the stale ones changed nothing
    assert published[0]["detail"]["status_name"] == "IDLE" and "previous_status_name" not in published[0]["detail"]
    assert len(moto_aws.callback_items()) == 3  # every callback is still recorded


def test_relay_in_order_publishes_each_change_once(app, clock, moto_aws):
    t = 1763712000000
    for i, status in enumerate((1, 1, 2, 3, 3, 2, 5, 0)):  # CONNECTING repeats every 5 s, RECOVERING too
        assert call(app, clock, relay(status, t + i * 5000), t + 40_000)[0] == 200
    changes = [(e["detail"].get("previous_status_name"), e["detail"]["status_name"]) for e in moto_aws.published()]
    assert changes == [
        (None, "CONNECTING"),
        ("CONNECTING", "RUNNING"),
        ("RUNNING", "RECOVERING"),
        ("RECOVERING", "RUNNING"),
        ("RUNNING", "DISCONNECTING"),
        ("DISCONNECTING", "IDLE"),
    ]


def test_relay_sample_event(app, clock, moto_aws):
    assert call(app, clock, load_event("401"))[0] == 200
    state = moto_aws.state(RELAY_TASK)
    assert state["relay_status_name"] == "RUNNING" and state["relay_event_ms_ts"] == 1763712005000


# -- failures: 5xx only when recording failed; a retry then succeeds -----------------------------------------------
def test_persist_failure_is_5xx_and_the_retry_records_it(app, clock, moto_aws, monkeypatch):
    from livectl.events import EventPublisher

    real = EventPublisher.publish
    monkeypatch.setattr(EventPublisher, "publish", lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    event = load_event("305")
    status, body = call(app, clock, event)
    assert status == 500 and body["error"] == "not_recorded"
    (item,) = moto_aws.callback_items()
    assert item["status"] == "failed" and item["lease_until"] == 0
    monkeypatch.setattr(EventPublisher, "publish", real)
    assert call(app, clock, event, callback_ts(event) + 10_000) == (200, ACK)  # TRTC's retry 10 s later
    (item,) = moto_aws.callback_items()
    assert item["status"] == "done"
    assert detail_types(moto_aws.published()) == ["Recording Uploaded"]
    assert call(app, clock, event)[0] == 200 and moto_aws.published() == []  # and now it is a duplicate


def test_missing_table_is_5xx(app, clock, moto_aws):
    moto_aws.dynamodb.delete_table(TableName=TABLE)
    status, body = call(app, clock, load_event("302"))
    assert status == 500 and body == {"code": 500, "error": "not_recorded"}


def test_unreadable_secret_is_503_and_fails_closed(app, clock, moto_aws):
    moto_aws.set_secret({"keys": []})
    status, body = call(app, clock, load_event("302"))
    assert (status, body["error"]) == (503, "unavailable") and moto_aws.items() == []


def test_no_secret_name_outside_lambda_uses_the_local_key(moto_aws, clock, monkeypatch):
    import importlib

    monkeypatch.setenv("CALLBACK_SECRET_NAME", "")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    app = importlib.reload(importlib.import_module("functions.trtc_callback.app"))
    monkeypatch.setattr(app, "datetime", clock.datetime)
    assert call(app, clock, load_event("302"))[0] == 200
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "TrtcCallbackFunction")
    app = importlib.reload(app)
    monkeypatch.setattr(app, "datetime", clock.datetime)
    assert call(app, clock, load_event("301"))[0] == 503  # in Lambda: fail closed


# -- log hygiene --------------------------------------------------------------------------------------------------
def test_no_key_material_in_any_log_line(app, clock, moto_aws, log_lines):
    secret_key = "rotatingKey9876"
    moto_aws.set_secret({"keys": [KEY, secret_key], "sdk_app_ids": [APP_ID]})
    log_lines.reset()  # only what the handler writes from here on
    signs = []
    for name in ("301", "302", "305", "310", "311", "311_failed", "312", "401", "308"):
        event = load_event(name)
        signs.append(event["headers"]["sign"])
        call(app, clock, event)
    forged = make_event(raw_body(load_event("303")), key="attacker")
    signs.append(forged["headers"]["sign"])
    call(app, clock, forged)
    call(app, clock, load_event("302"))  # duplicate
    output = log_lines()
    assert "callback recorded" in output  # the handler does log
    for secret in (KEY, secret_key, *signs):
        assert secret not in output
