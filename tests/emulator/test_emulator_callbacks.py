"""TRTC callbacks: the documented sequences, signed over the exact bytes, with TRTC's retry schedule."""

from __future__ import annotations

import json

import pytest

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY

pytestmark = pytest.mark.emulator

KEY = LOCAL_CALLBACK_KEY


def stop_recording(raw, task_id: str = "cr-1", sdk_app_id: int = 1400000001):
    resp = raw.trtc("DeleteCloudRecording", {"SdkAppId": sdk_app_id, "TaskId": task_id})
    assert "Error" not in resp.json()["Response"]


def verified(received, key: str = KEY) -> list[dict]:
    """What a receiver does: check Sign over the raw bytes, then parse."""
    out = []
    for cb in received:
        assert cb.headers["Content-Type"] == "application/json"
        assert cb.headers["Sign"] == trtc_callback_sign(key, cb.body)
        doc = json.loads(cb.body)
        assert cb.headers["SdkAppId"] == "1400000001"
        out.append(doc)
    return out


def test_vod_recording_stop_posts_302_then_311_per_file_then_312(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cloud_recording", "cr-1", storage="vod", files=3, room_id="635055", user_id="bot_1")
    stop_recording(raw)
    assert emulator.wait_callbacks(timeout=10)
    docs = verified(callback_receiver.wait_for(5))
    assert [(d["EventGroupId"], d["EventType"]) for d in docs] == [(3, 302), (3, 311), (3, 311), (3, 311), (3, 312)]
    for doc in docs:
        info = doc["EventInfo"]
        assert set(info) == {"RoomId", "EventTs", "EventMsTs", "UserId", "TaskId", "Payload"}
        assert (info["RoomId"], info["UserId"], info["TaskId"]) == ("635055", "bot_1", "cr-1")
        assert info["EventTs"] == info["EventMsTs"] // 1000
        assert isinstance(doc["CallbackTs"], int) and doc["CallbackTs"] >= 10**12  # milliseconds
    assert docs[0]["EventInfo"]["Payload"] == {"LeaveCode": 0}
    vod = [d["EventInfo"]["Payload"] for d in docs[1:4]]
    assert all(p["Status"] == 0 for p in vod)
    assert [p["TencentVod"]["CacheFile"] for p in vod] == ["cr-1_1.mp4", "cr-1_2.mp4", "cr-1_3.mp4"]
    assert set(vod[0]["TencentVod"]) == {
        "UserId",
        "TrackType",
        "MediaId",
        "FileId",
        "VideoUrl",
        "CacheFile",
        "StartTimeStamp",
        "EndTimeStamp",
    }
    assert docs[4]["EventInfo"]["Payload"] == {"Status": 0}
    assert [d["EventInfo"]["EventMsTs"] for d in docs] == sorted(d["EventInfo"]["EventMsTs"] for d in docs)


def test_the_signature_covers_the_exact_bytes_not_the_json(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cloud_recording", "cr-1", files=0)
    stop_recording(raw)
    (first, _last) = callback_receiver.wait_for(2)
    reserialised = json.dumps(json.loads(first.body)).encode()
    assert reserialised != first.body
    assert trtc_callback_sign(KEY, reserialised) != first.headers["Sign"]
    assert b"\n\t" in first.body  # cJSON-style formatting, as TRTC sends


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("hls", [302, 305]), ("mp4", [302, 310, 310]), ("hls+mp4", [302, 310, 310, 305])],
)
def test_cos_recording_stop_posts_310_per_mp4_file_and_or_305(emulator, raw, callback_receiver, fmt, expected):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cloud_recording", "cr-1", storage="cos", format=fmt, files=2)
    stop_recording(raw)
    assert emulator.wait_callbacks(timeout=10)
    docs = verified(callback_receiver.wait_for(len(expected)))
    assert [d["EventType"] for d in docs] == expected
    for d in docs:
        if d["EventType"] == 310:
            payload = d["EventInfo"]["Payload"]
            assert payload["Status"] == 0
            assert payload["FileList"] == [payload["FileMessage"][0]["FileName"]]
            assert set(payload["FileMessage"][0]) == {
                "FileName",
                "UserId",
                "TrackType",
                "MediaId",
                "StartTimeStamp",
                "EndTimeStamp",
            }
        if d["EventType"] == 305:
            assert d["EventInfo"]["Payload"] == {"Status": 0}


def test_relay_stop_posts_401_disconnecting_then_idle(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cdn_publish", "relay-1", url="rtmp://cdn.example.com/live/s1", room_id="room-a")
    resp = raw.trtc("StopPublishCdnStream", {"SdkAppId": 1400000001, "TaskId": "relay-1"})
    assert resp.json()["Response"]["TaskId"] == "relay-1"
    assert emulator.wait_callbacks(timeout=10)
    docs = verified(callback_receiver.wait_for(2))
    assert [(d["EventGroupId"], d["EventType"]) for d in docs] == [(4, 401), (4, 401)]
    payloads = [d["EventInfo"]["Payload"] for d in docs]
    assert [p["Status"] for p in payloads] == [5, 0]  # DISCONNECTING, IDLE (the relay was RUNNING)
    assert payloads[0] == {"Url": "rtmp://cdn.example.com/live/s1", "Status": 5, "ErrorCode": 0, "ErrorMsg": ""}
    info = docs[0]["EventInfo"]
    assert (info["RoomId"], info["RoomType"], info["TaskId"]) == ("room-a", 1, "relay-1")
    assert docs[0]["EventInfo"]["EventMsTs"] < docs[1]["EventInfo"]["EventMsTs"]


def test_a_second_stop_posts_nothing(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cloud_recording", "cr-1", files=1)
    stop_recording(raw)
    assert emulator.wait_callbacks(timeout=10)
    second = raw.trtc("DeleteCloudRecording", {"SdkAppId": 1400000001, "TaskId": "cr-1"})
    assert second.json()["Response"]["Error"]["Code"] == "FailedOperation.TaskNotExist"
    assert emulator.wait_callbacks(timeout=10)
    assert len(callback_receiver.received) == 3  # 302, 311, 312 from the first stop only


def test_non_200_is_retried_at_once_then_on_the_interval_with_the_same_bytes(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cloud_recording", "cr-1", files=0)  # 302 then 312
    callback_receiver.fail_next(3, status=503)
    stop_recording(raw)
    assert emulator.wait_callbacks(timeout=10)
    got = callback_receiver.wait_for(5)
    # Every failure is retried: at once after the first, then on the interval. First attempts and immediate
    # retries are due "now", so the 312's first attempt lands between the 302's first and second.
    assert [json.loads(cb.body)["EventType"] for cb in got] == [302, 312, 302, 312, 302]
    assert len({cb.body for cb in got if json.loads(cb.body)["EventType"] == 302}) == 1  # identical bytes
    log = emulator.callback_log()
    assert [(e["event_type"], e["attempt"], e["http_status"], e["delivered"]) for e in log] == [
        (302, 1, 503, False),
        (312, 1, 503, False),
        (302, 2, 503, False),
        (312, 2, 200, True),
        (302, 3, 200, True),
    ]


def test_delivery_gives_up_after_the_window(emulator, raw, callback_receiver):
    """Retry interval 0.05 s and window 0.3 s in the test fixture (TRTC: 10 s and 60 s): 7 attempts."""
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url)
    emulator.add_task("cdn_publish", "relay-1")
    callback_receiver.fail_always(500)
    raw.trtc("StopPublishCdnStream", {"SdkAppId": 1400000001, "TaskId": "relay-1"})
    assert emulator.wait_callbacks(timeout=10)
    log = emulator.callback_log()
    for status in (5, 0):
        attempts = [e for e in log if json.loads(e["body"])["EventInfo"]["Payload"]["Status"] == status]
        assert [e["attempt"] for e in attempts] == [1, 2, 3, 4, 5, 6, 7]
        assert attempts[-1].get("gave_up") is True
        assert not any(e["delivered"] for e in attempts)
    assert len(callback_receiver.received) == 14


def test_unreachable_receiver_is_retried_then_dropped(emulator, raw):
    emulator.configure(start_callbacks=False, callback_url="http://127.0.0.1:9/unreachable")
    emulator.add_task("cloud_recording", "cr-1", files=0)
    stop_recording(raw)
    assert emulator.wait_callbacks(timeout=10)
    log = emulator.callback_log()
    assert {e["error"] for e in log} == {"ConnectionRefusedError"}
    assert sum(1 for e in log if e.get("gave_up")) == 2


def test_without_a_key_there_is_no_sign_header(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url, callback_key=None)
    emulator.add_task("cloud_recording", "cr-1", files=0)
    stop_recording(raw)
    got = callback_receiver.wait_for(2)
    assert all("Sign" not in cb.headers for cb in got)
    assert all(cb.headers["SdkAppId"] == "1400000001" for cb in got)


def test_callbacks_carry_the_tasks_sdk_app_id(emulator, raw, callback_receiver):
    emulator.configure(start_callbacks=False, callback_url=callback_receiver.url, callback_key="otherkey9")
    emulator.add_task("cloud_recording", "cr-9", files=0, sdk_app_id=1400000009)
    stop_recording(raw, "cr-9", 1400000009)
    got = callback_receiver.wait_for(2)
    assert {cb.headers["SdkAppId"] for cb in got} == {"1400000009"}
    assert all(cb.headers["Sign"] == trtc_callback_sign("otherkey9", cb.body) for cb in got)


def test_admin_api_lists_deliveries_and_can_wait(emulator, raw, callback_receiver):
    raw.admin_post("config", {"callback_url": callback_receiver.url})
    raw.admin_post("tasks", {"kind": "cloud_recording", "task_id": "cr-1", "files": 1})
    stop_recording(raw)
    log = raw.admin_get("callbacks", wait=10)
    # the recording's start (301), then its stop sequence
    assert [(e["event_type"], e["delivered"]) for e in log] == [(301, True), (302, True), (311, True), (312, True)]
    assert all(e["url"] == callback_receiver.url for e in log)


# ---- starts: TRTC posts 301 when a recording starts and 401 RUNNING when a relay pushes (the guard's triggers) ----
def test_a_recording_that_starts_posts_a_signed_301_with_status_0(emulator, callback_receiver):
    emulator.configure(callback_url=callback_receiver.url)
    task = emulator.add_task("cloud_recording", "cr-1", room_id="635055", user_id="bot_1")
    assert emulator.wait_callbacks(timeout=10)
    [doc] = verified(callback_receiver.wait_for(1))
    assert (doc["EventGroupId"], doc["EventType"]) == (3, 301)
    info = doc["EventInfo"]
    assert (info["TaskId"], info["RoomId"], info["UserId"], info["Payload"]) == (
        "cr-1",
        "635055",
        "bot_1",
        {"Status": 0},
    )
    assert info["EventMsTs"] == int(task["created_at"] * 1000)  # the recording's start, which the guard counts from


def test_a_relay_that_starts_posts_connecting_then_running(emulator, callback_receiver):
    emulator.configure(callback_url=callback_receiver.url)
    emulator.add_task("cdn_publish", "relay-1", url="rtmp://cdn.example.com/live/s1")
    assert emulator.wait_callbacks(timeout=10)
    docs = verified(callback_receiver.wait_for(2))
    assert [(d["EventType"], d["EventInfo"]["Payload"]["Status"]) for d in docs] == [(401, 1), (401, 2)]
    assert docs[0]["EventInfo"]["EventMsTs"] < docs[1]["EventInfo"]["EventMsTs"]


@pytest.mark.parametrize(("kind", "status"), [("cloud_recording", "Exited"), ("cdn_publish", "IDLE")])
def test_a_task_created_already_ended_or_without_start_callbacks_posts_nothing(
    emulator, callback_receiver, kind, status
):
    emulator.configure(callback_url=callback_receiver.url)
    emulator.add_task(kind, "ended", status=status)
    emulator.configure(start_callbacks=False)
    emulator.add_task(kind, "quiet")
    assert emulator.wait_callbacks(timeout=10)
    assert emulator.callback_log() == []
    assert emulator.configure()["start_callbacks"] is False
