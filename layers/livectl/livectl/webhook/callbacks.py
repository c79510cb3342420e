"""A TRTC server callback (cloud recording group 3, relay-to-CDN group 4) as a value: `Callback`, parsed from the
signed body by `parse`, with the key that says two deliveries are the same event (`dedupe_key`); and which
callbacks are ours (`CallbackConfig`, the secret's keys and SdkAppIds).

Pure functions only: no I/O, no clock, no logging. Facts used here are in shared/notes/trtc-callbacks.md:

- TRTC retries for about a minute, possibly with a new `CallbackTs`; the dedupe key therefore leaves it out.
- Relay statuses may arrive out of order: order by `EventMsTs` (the docs' example spells it `EventTsMs`).
- The docs type ids and timestamps as strings or numbers, in places both: `_int` and `_text` read either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_BYTES = 65536
# CALLBACK_MAX_BYTES is capped here: the callback's item stores the body as text (up to 3 bytes per byte received
# once invalid UTF-8 is replaced), and a DynamoDB item holds 400 KB.
MAX_CONFIGURABLE_BYTES = 96 * 1024
DEFAULT_WINDOW_SECONDS = 300
# Local defaults shared by the emulator, the local stack, the demo and tests (docs/DESIGN.md).
LOCAL_CALLBACK_KEY = "demokey123"
LOCAL_SDK_APP_ID = 1400000001
LOCAL_CALLBACK_SECRET: dict[str, Any] = {"keys": [LOCAL_CALLBACK_KEY], "sdk_app_ids": [LOCAL_SDK_APP_ID]}

GROUP_RECORDING = 3
GROUP_RELAY = 4
GROUP_WEB_RECORDING = 8
TASK_GROUPS = frozenset({GROUP_RECORDING, GROUP_RELAY, GROUP_WEB_RECORDING})
# TaskId, UserId and RoomId longer than this are refused (400): TRTC documents 64-byte room and 32-byte user ids,
# commands cap parameters at the same 256 characters, and a DynamoDB key holds at most 2,048 bytes.
MAX_ID_CHARS = 256

RECORDING_EVENTS: dict[int, str] = {
    301: "EVENT_TYPE_CLOUD_RECORDING_RECORDER_START",
    302: "EVENT_TYPE_CLOUD_RECORDING_RECORDER_STOP",
    303: "EVENT_TYPE_CLOUD_RECORDING_UPLOAD_START",
    304: "EVENT_TYPE_CLOUD_RECORDING_FILE_INFO",
    305: "EVENT_TYPE_CLOUD_RECORDING_UPLOAD_STOP",
    306: "EVENT_TYPE_CLOUD_RECORDING_FAILOVER",
    307: "EVENT_TYPE_CLOUD_RECORDING_FILE_SLICE",
    308: "EVENT_TYPE_CLOUD_RECORDING_UPLOAD_ERROR",
    309: "EVENT_TYPE_CLOUD_RECORDING_DOWNLOAD_IMAGE_ERROR",
    310: "EVENT_TYPE_CLOUD_RECORDING_MP4_STOP",
    311: "EVENT_TYPE_CLOUD_RECORDING_VOD_COMMIT",
    312: "EVENT_TYPE_CLOUD_RECORDING_VOD_STOP",
}
RELAY_EVENTS: dict[int, str] = {401: "EVENT_TYPE_CLOUD_PUBLISH_CDN_STATUS"}
# DynamoDB numbers hold 38 digits; anything past this is not a timestamp or a size and is ignored.
_MAX_INT = 10**18


# ------------------------------------------------------------------------------------------------------------
# Configuration (the Secrets Manager secret's value)
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallbackConfig:
    """The accepted keys (several during a rotation) and SdkAppIds. Keys never appear in repr()."""

    keys: tuple[str, ...] = field(repr=False)
    sdk_app_ids: frozenset[int]

    @classmethod
    def from_secret(cls, value: object) -> CallbackConfig:
        """Validate the secret's JSON `{"keys": [...], "sdk_app_ids": [...]}`. Raises ValueError (no key text)."""
        if not isinstance(value, Mapping):
            raise ValueError("callback secret must be a JSON object with keys and sdk_app_ids")
        keys = value.get("keys")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("callback secret: 'keys' must be a non-empty list of non-empty strings")
        ids = value.get("sdk_app_ids")
        if not isinstance(ids, list) or not ids:
            raise ValueError("callback secret: 'sdk_app_ids' must be a non-empty list")
        parsed = {_int(i) for i in ids}
        if None in parsed:
            raise ValueError("callback secret: every sdk_app_id must be an integer")
        return cls(tuple(keys), frozenset(i for i in parsed if i is not None))

    @classmethod
    def local(cls) -> CallbackConfig:
        return cls.from_secret(LOCAL_CALLBACK_SECRET)


# ------------------------------------------------------------------------------------------------------------
# The callback, or why it is refused
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rejection:
    """Why a request is refused. `reason` is a short fixed word (metric dimension); never echoes input."""

    status: int
    reason: str
    message: str
    field: str | None = None  # the body field at fault (a fixed name such as "EventInfo.TaskId", never a value)

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"code": self.status, "error": self.reason, "message": self.message}
        if self.field is not None:
            answer["field"] = self.field
        return answer


@dataclass(frozen=True)
class Callback:
    """One verified callback. `payload` is the event's Payload object; `body` the signed bytes."""

    group: int
    event_type: int
    callback_ts: int
    sdk_app_id: int
    task_id: str | None
    user_id: str | None
    room_id: str | None
    event_ms_ts: int | None
    event_ts: int | None
    payload: dict[str, Any]
    dedupe_key: str
    body: bytes = field(repr=False)

    @property
    def name(self) -> str:
        table = RECORDING_EVENTS if self.group == GROUP_RECORDING else RELAY_EVENTS if self.group == GROUP_RELAY else {}
        return table.get(self.event_type, "UNKNOWN")

    @property
    def known(self) -> bool:
        return self.name != "UNKNOWN"

    @property
    def order_ms(self) -> int:
        """When the event happened, in ms: EventMsTs, else EventTs, else the send time."""
        if self.event_ms_ts is not None:
            return self.event_ms_ts
        if self.event_ts is not None:
            return self.event_ts * 1000
        return self.callback_ts


def parse(raw_body: bytes, sdk_app_id: int) -> Callback | Rejection:
    """Parse a (verified) body into a Callback, tolerating the documented inconsistencies.

    Required (400 `malformed`, naming the field): the integers EventGroupId, EventType and CallbackTs, the object
    EventInfo and, for task events (groups 3, 4, 8), EventInfo.TaskId (a string or an integer, as the docs type
    it) and the object EventInfo.Payload. Identifiers longer than MAX_ID_CHARS are 400 `too_long`: no TRTC id is
    that long, and the task's key could not hold it. Everything else is optional and read leniently.
    """
    try:
        data = json.loads(raw_body)
    except (ValueError, RecursionError):
        return Rejection(400, "malformed", "body is not JSON")
    if not isinstance(data, dict):
        return Rejection(400, "malformed", "body is not a JSON object")
    numbers: dict[str, int] = {}
    for name in ("EventGroupId", "EventType", "CallbackTs"):
        number = _int(data.get(name)) if isinstance(data.get(name), int | float) else None
        if number is None:
            return _malformed(name, "is required and must be an integer")
        numbers[name] = number
    group, event_type, callback_ts = numbers["EventGroupId"], numbers["EventType"], numbers["CallbackTs"]
    info = data.get("EventInfo")
    if not isinstance(info, dict):
        return _malformed("EventInfo", "is required and must be a JSON object")
    problem = _task_fields_problem(info) if group in TASK_GROUPS else None
    if problem is not None:
        return problem
    payload = info.get("Payload", {})
    if not isinstance(payload, dict):
        payload = {"value": payload}
    event_ms_ts = _int(info.get("EventMsTs"))
    if event_ms_ts is None:
        event_ms_ts = _int(info.get("EventTsMs"))  # the relay doc's example spelling
    event_ts = _int(info.get("EventTs"))
    task_id = _text(info.get("TaskId"))
    user_id = _text(info.get("UserId"))
    room_id = _text(info.get("RoomId"))
    for name, value in (("TaskId", task_id), ("UserId", user_id), ("RoomId", room_id)):
        if value is not None and len(value) > MAX_ID_CHARS:
            where = f"EventInfo.{name}"
            return Rejection(400, "too_long", f"{where} is longer than {MAX_ID_CHARS} characters", where)
    try:
        key = dedupe_key(group, event_type, task_id, user_id, event_ms_ts, event_ts, payload)
    except (ValueError, TypeError, RecursionError):
        return Rejection(400, "malformed", "Payload cannot be read", "EventInfo.Payload")
    return Callback(
        group=group,
        event_type=event_type,
        callback_ts=callback_ts,
        sdk_app_id=sdk_app_id,
        task_id=task_id or None,
        user_id=user_id,
        room_id=room_id,
        event_ms_ts=event_ms_ts,
        event_ts=event_ts,
        payload=payload,
        dedupe_key=key,
        body=raw_body,
    )


def _malformed(where: str, problem: str) -> Rejection:
    return Rejection(400, "malformed", f"{where} {problem}", where)


def _task_fields_problem(info: Mapping[str, Any]) -> Rejection | None:
    """A task event names its task (TaskId) and carries its Payload object: every documented example does."""
    task_id = info.get("TaskId")
    if isinstance(task_id, bool) or not isinstance(task_id, str | int | float) or task_id == "":
        return _malformed("EventInfo.TaskId", "is required and must be a non-empty string or an integer")
    if _text(task_id) is None:
        return _malformed("EventInfo.TaskId", "is not a usable id")
    if not isinstance(info.get("Payload"), dict):
        return _malformed("EventInfo.Payload", "is required and must be a JSON object")
    return None


def dedupe_key(
    group: int,
    event_type: int,
    task_id: str | None,
    user_id: str | None,
    event_ms_ts: int | None,
    event_ts: int | None,
    payload: Mapping[str, Any],
) -> str:
    """sha256 over what identifies the event itself; `CallbackTs` (the send time) is left out on purpose."""
    when = event_ms_ts if event_ms_ts is not None else event_ts
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    parts = [str(group), str(event_type), task_id or "", user_id or "", "" if when is None else str(when), canonical]
    return hashlib.sha256("|".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _int(value: object) -> int | None:
    """An integer from a number or a digit string (the docs send EventTs both ways); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < _MAX_INT else None
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_INT:
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) < 19:
            return int(text)
    return None


def _text(value: object) -> str | None:
    """A string field that the docs type as String/Number (RoomId, TaskId); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates past this point
    if isinstance(value, int):
        return str(value) if abs(value) < _MAX_INT else None
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_INT:
        return str(int(value))  # JSON has one number type: 77.0 is the integer 77, the same id
    return None
