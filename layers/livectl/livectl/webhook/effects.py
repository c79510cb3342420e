"""What a verified TRTC callback means for its task: the STATE fields, files, upload error or relay status it
changes. `EFFECTS` is the table, one interpretation per event type (301-312, 401); `effects_of` looks a callback
up in it. Pure functions (no I/O, no clock). Facts are in shared/notes/trtc-callbacks.md.

To teach the receiver a new event type: name it in `callbacks.RECORDING_EVENTS`/`RELAY_EVENTS`, add its row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livectl.webhook.callbacks import Callback, _int, _text

# Free text echoed into the task's STATE and into events (error messages, URLs of slices, relay targets) is clipped
# to this many characters; the callback's own item keeps the body whole. File records are never clipped.
MAX_TEXT_CHARS = 512

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


def _said(record: object) -> dict[str, Any]:
    """A record's fields as stored and published: None means the callback did not say, and is left out."""
    return {k: v for k, v in vars(record).items() if v is not None}


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
        return _said(self)


@dataclass(frozen=True)
class UploadError:
    event_type: int
    status: int | None = None
    code: str | None = None
    message: str | None = None
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _said(self)


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


def effects_of(cb: Callback) -> Effects:
    """Interpret a verified callback. Unknown groups/types change nothing but their own record."""
    interpret = EFFECTS.get(cb.event_type) if cb.known else None  # `known`: named for the callback's own group
    return interpret(cb) if interpret is not None and cb.task_id is not None else Effects()


# ------------------------------------------------------------------------------------------------------------
# Reading the payload
# ------------------------------------------------------------------------------------------------------------
def _clip(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_TEXT_CHARS:
        return value
    return value[: MAX_TEXT_CHARS - 1] + "…"


def _clipped_text(value: object) -> str | None:
    return _clip(_text(value))


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


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [n for n in (_text(v) for v in value) if n]
    return []


def _file(name: str, event_type: int, entry: Mapping[str, Any], **known: Any) -> FileRecord:
    """A file record from a payload entry that describes one file (MP4 `FileMessage`, VOD `TencentVod`)."""
    return FileRecord(
        name=name,
        event_type=event_type,
        size=_size(entry),
        user_id=_text(entry.get("UserId")),
        track_type=_text(entry.get("TrackType")),
        media_id=_text(entry.get("MediaId")),
        start_ms=_int(entry.get("StartTimeStamp")),
        end_ms=_int(entry.get("EndTimeStamp")),
        **known,
    )


# ------------------------------------------------------------------------------------------------------------
# The table: one interpretation per event type
# ------------------------------------------------------------------------------------------------------------
def _recording(
    *,
    storage: str | None = None,
    fields: dict[str, str | int | bool] | None = None,
    files: Iterable[FileRecord] = (),
    all_uploaded: bool = False,
    error: UploadError | None = None,
) -> Effects:
    """A cloud recording's effects; an upload error that sets no upload status of its own sets `error`."""
    fields = dict(fields or {})
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


def _recorder_start(cb: Callback) -> Effects:  # 301
    return _recording(fields={"recorder_status": "started" if _status(cb.payload) == 0 else "start_failed"})


def _recorder_stop(cb: Callback) -> Effects:  # 302
    fields: dict[str, str | int | bool] = {"recorder_status": "stopped"}
    leave = _int(cb.payload.get("LeaveCode"))
    if leave is not None:
        fields["recorder_leave_code"] = leave
        fields["recorder_leave_reason"] = LEAVE_CODES.get(leave, "unknown")
    return _recording(fields=fields)


def _upload_start(cb: Callback) -> Effects:  # 303
    status = _status(cb.payload)
    failed = status not in (0, None)
    error = UploadError(303, status, message="upload module failed to start") if failed else None
    return _recording(
        storage="cos", fields={"upload_status": "uploading" if status == 0 else "upload_start_failed"}, error=error
    )


def _file_info(cb: Callback) -> Effects:  # 304
    return _recording(storage="cos", files=(FileRecord(n, 304) for n in _names(cb.payload.get("FileList"))))


def _upload_stop(cb: Callback) -> Effects:  # 305
    status = _status(cb.payload)
    if status in (0, 2):  # 2: files that lingered were uploaded after all
        return _recording(storage="cos", fields={"upload_status": "uploaded"}, all_uploaded=True)
    error = UploadError(305, status, message="upload finished with files left on the server")
    return _recording(storage="cos", fields={"upload_status": "incomplete"}, error=error)


def _failover(cb: Callback) -> Effects:  # 306
    return _recording(fields={"last_failover_ms": cb.order_ms})


def _file_slice(cb: Callback) -> Effects:  # 307
    slice_name = _clipped_text(cb.payload.get("FileName"))
    return _recording(storage="cos", fields={"first_slice": slice_name} if slice_name else {})


def _upload_error(cb: Callback) -> Effects:  # 308
    code, message = _clipped_text(cb.payload.get("Code")), _clipped_text(cb.payload.get("Message"))
    return _recording(error=UploadError(308, None, code=code, message=message))


def _image_download_error(cb: Callback) -> Effects:  # 309
    url = _clipped_text(cb.payload.get("Url"))
    return _recording(fields={"image_download_error_url": url} if url else {})


def _mp4_stop(cb: Callback) -> Effects:  # 310
    status = _status(cb.payload)
    files = _mp4_files(cb.payload)
    if status == 0:
        return _recording(storage="cos", fields={"upload_status": "uploaded"}, files=files, all_uploaded=True)
    error = UploadError(310, status, message="MP4 task ended without uploading every file")
    fields: dict[str, str | int | bool] = {"upload_status": "incomplete" if status == 1 else "failed"}
    return _recording(storage="cos", fields=fields, files=files, error=error)


def _mp4_files(p: Mapping[str, Any]) -> list[FileRecord]:
    """`FileMessage` describes files, `FileList` names them (the same ones, or more): each file once."""
    out: dict[str, FileRecord] = {}
    messages = p.get("FileMessage")
    for entry in messages if isinstance(messages, list) else []:
        name = _text(entry.get("FileName")) if isinstance(entry, dict) else None
        if name:
            out[name] = _file(name, 310, entry, url=_text(entry.get("Url") or entry.get("FileUrl")))
    for name in _names(p.get("FileList")):
        out.setdefault(name, FileRecord(name=name, event_type=310))
    return list(out.values())


def _vod_commit(cb: Callback) -> Effects:  # 311
    p, status = cb.payload, _status(cb.payload)
    vod = p.get("TencentVod") if isinstance(p.get("TencentVod"), dict) else p
    assert isinstance(vod, dict)
    cache_file, file_id = _text(vod.get("CacheFile")), _text(vod.get("FileId"))
    if status not in (0, None):
        error = UploadError(311, status, message=_clipped_text(p.get("Errmsg")), file=_clip(cache_file))
        return _recording(storage="vod", error=error)
    if not (cache_file or file_id):
        return _recording(storage="vod")
    record = _file(cache_file or file_id or "", 311, vod, url=_text(vod.get("VideoUrl")), file_id=file_id)
    return _recording(storage="vod", files=[record])


def _vod_stop(cb: Callback) -> Effects:  # 312
    status = _status(cb.payload)
    if status in (0, None):
        return _recording(storage="vod", fields={"upload_status": "uploaded"}, all_uploaded=True)
    error = UploadError(312, status, message="VOD upload task exited abnormally")
    return _recording(storage="vod", fields={"upload_status": "failed"}, error=error)


def _relay_status(cb: Callback) -> Effects:  # 401
    p = cb.payload
    status = _int(p.get("Status"))
    relay = RelayUpdate(
        status=status,
        status_name=RELAY_STATUSES.get(status, "UNKNOWN") if status is not None else "UNKNOWN",
        event_ms_ts=cb.order_ms,
        url=_clipped_text(p.get("Url")),
        error_code=_int(p.get("ErrorCode")),
        error_msg=_clipped_text(p.get("ErrorMsg")),
    )
    return Effects(kind="cdn_publish", relay=relay)


EFFECTS: dict[int, Callable[[Callback], Effects]] = {
    301: _recorder_start,
    302: _recorder_stop,
    303: _upload_start,
    304: _file_info,
    305: _upload_stop,
    306: _failover,
    307: _file_slice,
    308: _upload_error,
    309: _image_download_error,
    310: _mp4_stop,
    311: _vod_commit,
    312: _vod_stop,
    401: _relay_status,
}
