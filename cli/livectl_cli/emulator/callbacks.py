"""TRTC server callbacks: the documented bodies (EventGroupId 3 recording, 4 relay) and TRTC's delivery:
POST with `Content-Type`, `Sign` (base64 HMAC-SHA256 of the exact body under the callback key) and `SdkAppId`;
on a non-200 answer or no answer within 5 s, retry at once, then every 10 s until the message is a minute old.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from livectl.providers.signing import trtc_callback_sign
from livectl_cli.emulator.model import RELAY_STATUS_CODES, Task

CALLBACK_TIMEOUT = 5.0  # TRTC counts no answer within 5 s as a failure


def encode_body(doc: dict[str, Any]) -> bytes:
    """cJSON-style formatting like TRTC's own senders (tabs and newlines), so a receiver that re-serialises
    the JSON before checking `Sign` fails as it would in production."""
    return json.dumps(doc, indent="\t", separators=(",", ":\t"), ensure_ascii=False).encode("utf-8")


def _event(group: int, event_type: int, task: Task, at_ms: int, payload: dict[str, Any], **info: Any) -> dict[str, Any]:
    event_info: dict[str, Any] = {"RoomId": task.room_id}
    event_info.update(info)
    event_info.update(EventTs=at_ms // 1000, EventMsTs=at_ms, UserId=task.user_id, TaskId=task.task_id)
    event_info["Payload"] = payload
    return {"EventGroupId": group, "EventType": event_type, "CallbackTs": at_ms, "EventInfo": event_info}


def recording_stop_events(task: Task, now: float, rng: random.Random) -> list[dict[str, Any]]:
    """302 recorder stop, then VOD: 311 per file and 312; COS: 310 per MP4 file and/or 305 for HLS."""
    ms = int(now * 1000)
    events = [_event(3, 302, task, ms, {"LeaveCode": 0})]
    start = int((task.created_at or now) * 1000)
    files = []
    for i in range(task.files):
        files.append(
            {
                "name": f"{task.task_id}_{i + 1}.mp4",
                "user": f"user_{i + 1}",
                "start": start + i,
                "end": ms - task.files + i,
            }
        )
    if task.storage == "vod":
        for i, f in enumerate(files):
            file_id = str(rng.randrange(10**18, 10**19))
            vod = {
                "UserId": f["user"],
                "TrackType": "audio_video",
                "MediaId": "main",
                "FileId": file_id,
                "VideoUrl": f"http://1500000000.vod2.myqcloud.com/emulator/{file_id}/f0.mp4",
                "CacheFile": f["name"],
                "StartTimeStamp": f["start"],
                "EndTimeStamp": f["end"],
            }
            events.append(_event(3, 311, task, ms + 1 + i, {"Status": 0, "TencentVod": vod}))
        events.append(_event(3, 312, task, ms + 1 + len(files), {"Status": 0}))
        return events
    if "mp4" in task.format:
        for i, f in enumerate(files):
            message = {
                "FileName": f["name"],
                "UserId": f["user"],
                "TrackType": "audio_video",
                "MediaId": "main",
                "StartTimeStamp": f["start"],
                "EndTimeStamp": f["end"],
            }
            events.append(
                _event(3, 310, task, ms + 1 + i, {"Status": 0, "FileList": [f["name"]], "FileMessage": [message]})
            )
    if "hls" in task.format:
        events.append(_event(3, 305, task, ms + 1 + len(files), {"Status": 0}))
    return events


def start_events(task: Task) -> list[dict[str, Any]]:
    """What TRTC posts when a task starts: 301 (Status 0, the recorder module started) for a cloud recording in
    progress; 401 CONNECTING then RUNNING (Status 2, pushing) for a CDN relay. Timed at the task's creation."""
    ms = int(task.created_at * 1000)
    if task.kind == "cloud_recording" and task.status == "InProgress":
        return [_event(3, 301, task, ms, {"Status": 0})]
    if task.kind == "cdn_publish" and task.status == "RUNNING":
        return _relay_events(task, ms, ("CONNECTING", "RUNNING"))
    return []


def relay_stop_events(task: Task, now: float) -> list[dict[str, Any]]:
    """A normal relay stop goes RUNNING → DISCONNECTING → IDLE: two 401 events (group 4)."""
    return _relay_events(task, int(now * 1000), ("DISCONNECTING", "IDLE"))


def _relay_events(task: Task, ms: int, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    room_type = 0 if task.room_id.isdigit() else 1
    out = []
    for i, status in enumerate(statuses):
        payload = {"Url": task.url, "Status": RELAY_STATUS_CODES[status], "ErrorCode": 0, "ErrorMsg": ""}
        event = _event(4, 401, task, ms + i, payload, RoomType=room_type)
        del event["EventInfo"]["EventTs"]  # the relay table has EventMsTs only
        out.append(event)
    return out


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    meta: dict[str, Any] = field(compare=False)
    first: float = field(compare=False, default=0.0)
    attempts: int = field(compare=False, default=0)


class CallbackDispatcher:
    """One background thread; first attempts go out in order, retries follow TRTC's schedule."""

    def __init__(self, retry_interval: float = 10.0, retry_window: float = 60.0, log_size: int = 10000) -> None:
        self.retry_interval = retry_interval
        self.retry_window = retry_window
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._busy = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._thread: threading.Thread | None = None
        self._generation = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emulator-callbacks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=CALLBACK_TIMEOUT + 1)

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self.log.clear()
            self._generation += 1
            self._cond.notify_all()

    def enqueue(self, url: str, key: str | None, sdk_app_id: int, events: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._cond:
            for doc in events:
                body = encode_body(doc)
                headers = {"Content-Type": "application/json", "SdkAppId": str(sdk_app_id)}
                if key:
                    headers["Sign"] = trtc_callback_sign(key, body)
                meta = {
                    "event_group_id": doc["EventGroupId"],
                    "event_type": doc["EventType"],
                    "task_id": doc["EventInfo"]["TaskId"],
                    "url": url,
                }
                heapq.heappush(self._heap, _Delivery(now, next(self._seq), url, body, headers, meta, first=now))
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight (tests and the demo use it; no sleeping loops)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0].due > time.monotonic()):
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                item = heapq.heappop(self._heap)
                generation = self._generation
                self._busy += 1
            try:
                status, error = self._post(item)
            finally:
                with self._cond:
                    self._busy -= 1
                    if generation == self._generation:
                        self._after(item, status, error)
                    self._cond.notify_all()

    def _post(self, item: _Delivery) -> tuple[int | None, str | None]:
        """http.client keeps header names as TRTC spells them (urllib would send `Sdkappid`)."""
        split = urlsplit(item.url)
        conn_cls = http.client.HTTPSConnection if split.scheme == "https" else http.client.HTTPConnection
        path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        try:
            conn = conn_cls(split.hostname or "", split.port, timeout=CALLBACK_TIMEOUT)
            try:
                conn.request("POST", path, body=item.body, headers=item.headers)
                resp = conn.getresponse()
                resp.read()
                return resp.status, None
            finally:
                conn.close()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return None, type(exc).__name__

    def _after(self, item: _Delivery, status: int | None, error: str | None) -> None:
        now = time.monotonic()
        item.attempts += 1
        delivered = status == 200
        entry = dict(item.meta)
        entry.update(attempt=item.attempts, http_status=status, error=error, delivered=delivered, time=time.time())
        entry["body"] = item.body.decode("utf-8")
        entry["headers"] = dict(item.headers)
        if delivered:
            self.log.append(entry)
            return
        # TRTC: first retry at once, then every interval (counted from the first attempt, so the number of
        # attempts does not drift) until the message is `window` old.
        age_at_next = 0.0 if item.attempts == 1 else (item.attempts - 1) * self.retry_interval
        if age_at_next >= self.retry_window - 1e-9:
            entry["gave_up"] = True
            self.log.append(entry)
            return
        next_due = now if item.attempts == 1 else item.first + age_at_next
        self.log.append(entry)
        item.due = next_due
        item.seq = next(self._seq)
        heapq.heappush(self._heap, item)
