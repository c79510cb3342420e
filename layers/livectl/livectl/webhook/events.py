"""The bus events a recorded callback publishes (EventBridge, source "livectl") and their details.

Pure functions: `events_for` reads what the callback means (`effects.py`) and what the ledger write found
(`store.Applied`: the task's files so far, the relay status it replaced).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from livectl.webhook.callbacks import Callback
from livectl.webhook.effects import Effects, RelayUpdate, UploadError
from livectl.webhook.store import Applied

# A "Recording Uploaded" event lists files up to this many bytes of JSON (EventBridge takes 256 KB per entry);
# `file_count` always says how many there are, and `files_truncated` that the ledger holds the rest.
EVENT_FILES_BYTES = 128 * 1024


def events_for(cb: Callback, effects: Effects, applied: Applied) -> Iterator[tuple[str, dict[str, Any]]]:
    """The bus events one (new) callback produces: (detail-type, detail)."""
    if effects.all_uploaded:
        yield "Recording Uploaded", uploaded_detail(cb, effects.storage, applied.files)
    if effects.upload_error is not None:
        yield "Recording Upload Failed", upload_failed_detail(cb, effects.upload_error)
    relay = effects.relay
    if relay is not None and applied.relay_applied and applied.previous_relay_status != relay.status_name:
        yield "Relay Status Changed", relay_detail(cb, relay, applied.previous_relay_status)


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
