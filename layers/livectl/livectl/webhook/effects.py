"""What a verified TRTC callback means: the task fields, files, errors and relay status it changes (`effects_of`),
and the details of the events it publishes. Pure functions (no I/O, no clock); `callbacks.py` verifies and
parses, `callback_store.py` writes. Facts are in shared/notes/trtc-callbacks.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livectl.webhook.callbacks import (
    GROUP_RECORDING,
    GROUP_RELAY,
    LEAVE_CODES,
    RECORDING_EVENTS,
    RELAY_STATUSES,
    Callback,
    _int,
    _text,
)

# Free text echoed into the task's STATE and into events (error messages, URLs of slices, relay targets) is clipped
# to this many characters; the callback's own item keeps the body whole. File records are never clipped.
MAX_TEXT_CHARS = 512
# A "Recording Uploaded" event lists files up to this many bytes of JSON (EventBridge takes 256 KB per entry);
# `file_count` always says how many there are, and `files_truncated` that the ledger holds the rest.
EVENT_FILES_BYTES = 128 * 1024


def _clip(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_TEXT_CHARS:
        return value
    return value[: MAX_TEXT_CHARS - 1] + "…"


def _clipped_text(value: object) -> str | None:
    return _clip(_text(value))


# ------------------------------------------------------------------------------------------------------------
# Interpretation: what a callback changes in the ledger and which events it publishes
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileRecord:
    """One uploaded file. COS events name files; VOD events add the file id and URL."""

    name: str
    event_type: int
    url: str | None = None
    size: int | None = None
    file_id: str | None = None
    user_id: str | None = None
    track_type: str | None = None
    media_id: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class UploadError:
    event_type: int
    status: int | None = None
    code: str | None = None
    message: str | None = None
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class RelayUpdate:
    status: int | None
    status_name: str
    event_ms_ts: int
    url: str | None = None
    error_code: int | None = None
    error_msg: str | None = None


@dataclass(frozen=True)
class Effects:
    """What one callback means for the task: plain STATE fields, files, completion, errors, relay status."""

    kind: str | None = None
    storage: str | None = None
    fields: dict[str, str | int | bool] = field(default_factory=dict)
    files: tuple[FileRecord, ...] = ()
    all_uploaded: bool = False
    upload_error: UploadError | None = None
    relay: RelayUpdate | None = None

    @property
    def touches_state(self) -> bool:
        return self.kind is not None


def _status(payload: Mapping[str, Any]) -> int | None:
    # 305's field is `Status` in every example but `LeaveCode` in the newest EN table.
    status = _int(payload.get("Status"))
    return status if status is not None else _int(payload.get("LeaveCode"))


def _size(entry: Mapping[str, Any]) -> int | None:
    for name in ("FileSize", "Size", "size"):
        size = _int(entry.get(name))
        if size is not None:
            return size
    return None


def effects_of(cb: Callback) -> Effects:
    """Interpret a verified callback. Unknown groups/types change nothing but their own record."""
    if cb.task_id is None:
        return Effects()
    if cb.group == GROUP_RELAY and cb.event_type == 401:
        return _relay_effects(cb)
    if cb.group == GROUP_RECORDING and cb.event_type in RECORDING_EVENTS:
        return _recording_effects(cb)
    return Effects()


def _relay_effects(cb: Callback) -> Effects:
    p = cb.payload
    status = _int(p.get("Status"))
    name = RELAY_STATUSES.get(status, "UNKNOWN") if status is not None else "UNKNOWN"
    relay = RelayUpdate(
        status=status,
        status_name=name,
        event_ms_ts=cb.order_ms,
        url=_clipped_text(p.get("Url")),
        error_code=_int(p.get("ErrorCode")),
        error_msg=_clipped_text(p.get("ErrorMsg")),
    )
    return Effects(kind="cdn_publish", relay=relay)


def _recording_effects(cb: Callback) -> Effects:
    p, t = cb.payload, cb.event_type
    status = _status(p)
    fields: dict[str, str | int | bool] = {}
    files: list[FileRecord] = []
    storage: str | None = None
    all_uploaded = False
    error: UploadError | None = None
    if t == 301:
        fields["recorder_status"] = "started" if status == 0 else "start_failed"
    elif t == 302:
        fields["recorder_status"] = "stopped"
        leave = _int(p.get("LeaveCode"))
        if leave is not None:
            fields["recorder_leave_code"] = leave
            fields["recorder_leave_reason"] = LEAVE_CODES.get(leave, "unknown")
    elif t == 303:
        storage = "cos"
        fields["upload_status"] = "uploading" if status == 0 else "upload_start_failed"
        if status not in (0, None):
            error = UploadError(t, status, message="upload module failed to start")
    elif t == 304:
        storage = "cos"
        for name in _names(p.get("FileList")):
            files.append(FileRecord(name=name, event_type=t))
    elif t == 305:
        storage = "cos"
        if status in (0, 2):  # 2: files that lingered were uploaded after all
            all_uploaded = True
            fields["upload_status"] = "uploaded"
        else:
            fields["upload_status"] = "incomplete"
            error = UploadError(t, status, message="upload finished with files left on the server")
    elif t == 306:
        fields["last_failover_ms"] = cb.order_ms
    elif t == 307:
        storage = "cos"
        slice_name = _clipped_text(p.get("FileName"))
        if slice_name:
            fields["first_slice"] = slice_name
    elif t == 308:
        error = UploadError(t, None, code=_clipped_text(p.get("Code")), message=_clipped_text(p.get("Message")))
    elif t == 309:
        url = _clipped_text(p.get("Url"))
        if url:
            fields["image_download_error_url"] = url
    elif t == 310:
        storage = "cos"
        files.extend(_mp4_files(p))
        if status == 0:
            all_uploaded = True
            fields["upload_status"] = "uploaded"
        else:
            fields["upload_status"] = "incomplete" if status == 1 else "failed"
            error = UploadError(t, status, message="MP4 task ended without uploading every file")
    elif t == 311:
        storage = "vod"
        vod = p.get("TencentVod") if isinstance(p.get("TencentVod"), dict) else p
        assert isinstance(vod, dict)
        cache_file = _text(vod.get("CacheFile"))
        file_id = _text(vod.get("FileId"))
        if status in (0, None) and (cache_file or file_id):
            files.append(
                FileRecord(
                    name=cache_file or file_id or "",
                    event_type=t,
                    url=_text(vod.get("VideoUrl")),
                    size=_size(vod),
                    file_id=file_id,
                    user_id=_text(vod.get("UserId")),
                    track_type=_text(vod.get("TrackType")),
                    media_id=_text(vod.get("MediaId")),
                    start_ms=_int(vod.get("StartTimeStamp")),
                    end_ms=_int(vod.get("EndTimeStamp")),
                )
            )
        elif status not in (0, None):
            error = UploadError(t, status, message=_clipped_text(p.get("Errmsg")), file=_clip(cache_file))
    elif t == 312:
        storage = "vod"
        if status in (0, None):
            all_uploaded = True
            fields["upload_status"] = "uploaded"
        else:
            fields["upload_status"] = "failed"
            error = UploadError(t, status, message="VOD upload task exited abnormally")
    if error is not None and "upload_status" not in fields:
        fields["upload_status"] = "error"
    return Effects(
        kind="cloud_recording",
        storage=storage,
        fields=fields,
        files=tuple(files),
        all_uploaded=all_uploaded,
        upload_error=error,
    )


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [n for n in (_text(v) for v in value) if n]
    return []


def _mp4_files(p: Mapping[str, Any]) -> list[FileRecord]:
    out: dict[str, FileRecord] = {}
    messages = p.get("FileMessage")
    if isinstance(messages, list):
        for entry in messages:
            if not isinstance(entry, dict):
                continue
            name = _text(entry.get("FileName"))
            if not name:
                continue
            out[name] = FileRecord(
                name=name,
                event_type=310,
                url=_text(entry.get("Url") or entry.get("FileUrl")),
                size=_size(entry),
                user_id=_text(entry.get("UserId")),
                track_type=_text(entry.get("TrackType")),
                media_id=_text(entry.get("MediaId")),
                start_ms=_int(entry.get("StartTimeStamp")),
                end_ms=_int(entry.get("EndTimeStamp")),
            )
    for name in _names(p.get("FileList")):
        out.setdefault(name, FileRecord(name=name, event_type=310))
    return list(out.values())


# ------------------------------------------------------------------------------------------------------------
# Event details (EventBridge, source "livectl")
# ------------------------------------------------------------------------------------------------------------
def base_detail(cb: Callback) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "provider": "trtc",
        "task_id": cb.task_id,
        "sdk_app_id": cb.sdk_app_id,
        "room_id": cb.room_id,
        "event_group": cb.group,
        "event_type": cb.event_type,
        "event_name": cb.name,
        "event_ms_ts": cb.order_ms,
        "callback_id": cb.dedupe_key,
    }
    return {k: v for k, v in detail.items() if v is not None}


def uploaded_detail(cb: Callback, storage: str | None, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Every file known so far, up to EVENT_FILES_BYTES of them (`files_truncated` says the ledger has more)."""
    shown: list[dict[str, Any]] = []
    used = 0
    for record in files:
        used += len(json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")) + 2
        if used > EVENT_FILES_BYTES:
            break
        shown.append(record)
    detail = {**base_detail(cb), "storage": storage, "all_uploaded": True, "files": shown, "file_count": len(files)}
    if len(shown) < len(files):
        detail["files_truncated"] = True
    return detail


def upload_failed_detail(cb: Callback, error: UploadError) -> dict[str, Any]:
    detail = {**base_detail(cb), **{f"error_{k}": v for k, v in error.as_dict().items() if k != "event_type"}}
    detail["reason"] = error.message or error.code or "upload error"
    if error.code:
        detail["error_code"] = error.code
    return detail


def relay_detail(cb: Callback, relay: RelayUpdate, previous: str | None) -> dict[str, Any]:
    detail = {
        **base_detail(cb),
        "status": relay.status,
        "status_name": relay.status_name,
        "previous_status_name": previous,
        "url": relay.url,
        "error_code": relay.error_code,
        "reason": relay.error_msg,
    }
    return {k: v for k, v in detail.items() if v is not None}
