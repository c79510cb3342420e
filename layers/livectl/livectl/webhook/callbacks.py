"""TRTC server callbacks (cloud recording group 3, relay-to-CDN group 4): verify, parse, deduplicate, interpret.

Pure functions only: no I/O, no clock (`now` is a parameter), no logging. `callback_effects.py` interprets a
verified callback; `callback_store.py` and `callback_service.py` hold the AWS side. Facts used here are in
shared/notes/trtc-callbacks.md and providers.md section 3:

- `Sign = base64(HMAC-SHA256(key, raw body))` over the body exactly as received (the docs' own example contains
  tabs and newlines, so re-serialised JSON never verifies). Header names are matched case-insensitively.
- The signature carries no timestamp, so freshness comes from the body's `CallbackTs` (ms, covered by `Sign`).
- TRTC retries for about a minute, possibly with a new `CallbackTs`; the dedupe key therefore leaves it out.
- Relay statuses may arrive out of order: order by `EventMsTs` (the docs' example spells it `EventTsMs`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from livectl.providers.signing import trtc_callback_sign

DEFAULT_MAX_BYTES = 65536
# CALLBACK_MAX_BYTES is capped here: the callback's item stores the body as text (up to 3 bytes per byte received
# once invalid UTF-8 is replaced), and a DynamoDB item holds 400 KB.
MAX_CONFIGURABLE_BYTES = 96 * 1024
DEFAULT_WINDOW_SECONDS = 300
# Local defaults shared by the emulator, the local stack, the demo and tests (docs/DESIGN.md).
LOCAL_CALLBACK_KEY = "demokey123"
LOCAL_SDK_APP_ID = 1400000001
LOCAL_CALLBACK_SECRET: dict[str, Any] = {"keys": [LOCAL_CALLBACK_KEY], "sdk_app_ids": [LOCAL_SDK_APP_ID]}

SIGN_HEADER = "sign"
SDK_APP_ID_HEADER = "sdkappid"
ACK: dict[str, Any] = {"code": 0}

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
RELAY_STATUSES: dict[int, str] = {
    0: "IDLE",
    1: "CONNECTING",
    2: "RUNNING",
    3: "RECOVERING",
    4: "FAILURE",
    5: "DISCONNECTING",
}
LEAVE_CODES: dict[int, str] = {
    0: "stopped by API",
    1: "robot kicked by customer",
    2: "room dismissed by customer",
    3: "robot kicked by server",
    4: "room dismissed by server",
    99: "no other user left in the room",
    100: "room timed out",
    101: "same user re-entered the room",
}

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
# Requests and answers
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
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = field(repr=False)
    request_id: str | None = None


def request_from_event(event: Mapping[str, Any], max_bytes: int = DEFAULT_MAX_BYTES) -> HttpRequest | Rejection:
    """The raw request inside an API Gateway HTTP API (payload 2.0) event; REST (1.0) events work too.

    The body is size-checked before it is decoded, so an oversize request costs nothing.
    """
    context = event.get("requestContext") if isinstance(event.get("requestContext"), Mapping) else {}
    assert isinstance(context, Mapping)
    http = context.get("http") if isinstance(context.get("http"), Mapping) else {}
    assert isinstance(http, Mapping)
    method = str(http.get("method") or event.get("httpMethod") or "").upper()
    path = str(http.get("path") or event.get("rawPath") or event.get("path") or "")
    raw_headers = event.get("headers")
    headers: dict[str, str] = {}
    if isinstance(raw_headers, Mapping):
        for name, value in raw_headers.items():
            if isinstance(name, str) and isinstance(value, str):
                headers[name.lower()] = value
    request_id = context.get("requestId")
    body_text = event.get("body")
    if body_text is None:
        body_text = ""
    if not isinstance(body_text, str):
        return Rejection(400, "bad_body", "body must be text")
    if event.get("isBase64Encoded"):
        if len(body_text) > 4 * ((max_bytes + 2) // 3):
            return Rejection(413, "too_large", f"body is larger than {max_bytes} bytes")
        try:
            body = base64.b64decode(body_text, validate=True)
        except (binascii.Error, ValueError):
            return Rejection(400, "bad_encoding", "body is not valid base64")
    else:
        if len(body_text) > max_bytes:  # each character is at least one byte
            return Rejection(413, "too_large", f"body is larger than {max_bytes} bytes")
        body = body_text.encode("utf-8", "replace")
    return HttpRequest(method, path, headers, body, str(request_id) if request_id is not None else None)


def http_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """An HTTP API (2.0) response."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Header value by case-insensitive name (HTTP API lower-cases names; other front doors may not)."""
    wanted = name.lower()
    value = headers.get(wanted)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


# ------------------------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------------------------
def signature_matches(sign: str, raw_body: bytes, keys: Iterable[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit, so timing says nothing)."""
    given = sign.strip().encode("utf-8", "replace")
    matched = False
    for key in keys:
        expected = trtc_callback_sign(key, raw_body).encode("ascii")
        if hmac.compare_digest(expected, given):
            matched = True
    return matched


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
        table = RECORDING_EVENTS if self.group == GROUP_RECORDING else RELAY_EVENTS if self.group == 4 else {}
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


def verify(
    headers: Mapping[str, str],
    raw_body: bytes,
    keys: Iterable[str],
    allowed_app_ids: Iterable[int],
    now: datetime,
    window: float = DEFAULT_WINDOW_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Callback | Rejection:
    """Verify and parse one callback, cheapest checks first; JSON is parsed only after the signature holds.

    413 oversize; 401 missing/garbled Sign, SdkAppId not allowed, wrong signature, `CallbackTs` outside
    now ± window (a replay); 400 a correctly signed body that is not a callback.
    """
    if len(raw_body) > max_bytes:
        return Rejection(413, "too_large", f"body is larger than {max_bytes} bytes")
    sign = header(headers, SIGN_HEADER)
    if not sign or not sign.strip():
        return Rejection(401, "missing_sign", "Sign header is required")
    app_text = (header(headers, SDK_APP_ID_HEADER) or "").strip()
    app_id = int(app_text) if app_text.isascii() and app_text.isdigit() and len(app_text) < 19 else None
    if app_id is None or app_id not in set(allowed_app_ids):
        return Rejection(401, "sdk_app_id", "SdkAppId is missing or not allowed")
    if not signature_matches(sign, raw_body, keys):
        return Rejection(401, "bad_sign", "signature does not match")
    parsed = parse(raw_body, app_id)
    if isinstance(parsed, Rejection):
        return parsed
    now_ms = int(now.timestamp() * 1000)
    if abs(now_ms - parsed.callback_ts) > int(window * 1000):
        return Rejection(401, "replay", "CallbackTs is outside the accepted window")
    return parsed


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
