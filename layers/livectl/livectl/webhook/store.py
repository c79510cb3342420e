"""The TRTC callback receiver's ledger writes (DynamoDB): record a callback once, apply its effects to the task.

`service.py` turns a request into a reply; `task_files.py` decides what STATE holds inline and reads files back.

Ledger items (docs/DESIGN.md, docs/webhook.md):
- `pk = TASK#trtc#<TaskId>`, `sk = CB#<dedupe key>`: one item per distinct callback. Written with a conditional
  put, so ten copies of one callback (TRTC's retries, concurrent or not) record it once. The item starts as
  `status = received` with a short lease and becomes `done` once the task's state and the events are written;
  if that fails, the lease is released so TRTC's next retry processes it again (everything below is idempotent).
- `pk = TASK#trtc#<TaskId>`, `sk = STATE`: `files` (map: file name -> {url, size, file_id, ...}),
  `all_uploaded`, `upload_errors` (map: callback id -> {code, message, ...}), `upload_status`, `recorder_status`,
  `storage`, `relay_status` / `relay_status_name` / `relay_event_ms_ts` (only ever moves forward in
  `EventMsTs`), `callback_at`. The callback never writes `state` or `updated_at`: those belong to commands.
- The STATE item stays far below DynamoDB's 400 KB by design: at most MAX_INLINE_FILES files of at most
  INLINE_FILE_BYTES each, at most MAX_INLINE_ERRORS upload errors, every other echoed text clipped. Once a file
  does not fit, the task's STATE gets `files_overflow = true` and that file and every later one is written to
  its own item, `sk = FILE#<sha256 of the name>`; so an overflow record is always newer than an inline one of
  the same name, and `task_files.task_files()` (inline, then the FILE# items over them) is the whole list.
  Errors that do not fit set `upload_errors_overflow = true` and stay on their callback's item (`upload_error`).
  The common path keeps one STATE update per callback; only an overflowing task pays for the extra writes.
- Callbacks without a TaskId (room events, unknown groups) are kept under `pk = CALLBACK#trtc#<yyyy-mm-dd>`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from livectl import aws
from livectl.errors import AwsServiceError
from livectl.store.codec import from_item, to_av, to_item
from livectl.store.table import CONDITION_FAILED, STATE_SK, iso, task_pk
from livectl.webhook.callbacks import Callback
from livectl.webhook.effects import Effects, FileRecord
from livectl.webhook.task_files import MAX_INLINE_FILES, file_sk, files_not_held, fits_inline, task_files

# STATE's share of errors: 16 of at most ~3 KB each, next to task_files' share of files (docs/webhook.md).
MAX_INLINE_ERRORS = 16
_BATCH_WRITE_MAX = 25
CALLBACK_TTL = timedelta(days=90)
LEASE_SECONDS = 20


def callback_pk(cb: Callback) -> str:
    if cb.task_id:
        return task_pk("trtc", cb.task_id)
    # The event's own day (stable across retries); CallbackTs (inside the replay window) if that is nonsense.
    for ms in (cb.order_ms, cb.callback_ts):
        try:
            day = datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
        except (ValueError, OverflowError, OSError):
            continue
        return f"CALLBACK#trtc#{day}"
    return "CALLBACK#trtc#unknown"


def _state_key(cb: Callback) -> dict[str, Any]:
    return to_item({"pk": task_pk("trtc", cb.task_id or ""), "sk": STATE_SK})


@dataclass
class Applied:
    """What the STATE update did: every file known once all are uploaded, and the relay transition if there was one."""

    files: list[dict[str, Any]] = field(default_factory=list)
    relay_applied: bool = False
    previous_relay_status: str | None = None


class _Names:
    """ExpressionAttributeNames/Values builder (every name goes through a placeholder)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        for placeholder, known in self.names.items():
            if known == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_av(value)
        return placeholder


class CallbackStore:
    """DynamoDB adapter for callbacks. Raises only livectl errors (by AWS error code)."""

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any | None = None,
        *,
        lease_seconds: int = LEASE_SECONDS,
        ttl: timedelta = CALLBACK_TTL,
    ) -> None:
        self.table_name = table_name
        self._client = dynamodb_client
        self.lease_seconds = lease_seconds
        self.ttl = ttl

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    def _key(self, cb: Callback) -> dict[str, Any]:
        return {"pk": to_av(callback_pk(cb)), "sk": to_av(f"CB#{cb.dedupe_key}")}

    # -- the callback item ----------------------------------------------------------------------------------
    def claim(self, cb: Callback, now: datetime) -> bool:
        """Record the callback. False if it is already recorded (done, or being processed under a live lease)."""
        stamp = int(now.timestamp())
        fields: dict[str, Any] = {
            "dedupe_key": cb.dedupe_key,
            "event_group": cb.group,
            "event_type": cb.event_type,
            "event_name": cb.name,
            "callback_ts": cb.callback_ts,
            "event_ms_ts": cb.order_ms,
            "sdk_app_id": cb.sdk_app_id,
            "body": cb.body.decode("utf-8", "replace"),
            "received_at": iso(now),
            "status": "received",
            "lease_until": stamp + self.lease_seconds,
            "expires_at": int((now + self.ttl).timestamp()),
        }
        for name, value in (("task_id", cb.task_id), ("room_id", cb.room_id), ("user_id", cb.user_id)):
            if value:
                fields[name] = value
        item = {**self._key(cb), **to_item(fields)}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(sk) OR (#status <> :done AND lease_until < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":done": to_av("done"), ":now": to_av(stamp)},
            )
        except Exception as exc:
            if aws.error_code(exc) == CONDITION_FAILED:
                return False
            raise aws.aws_error(exc, "ledger PutItem callback") from exc
        return True

    def finish(self, cb: Callback, now: datetime, effects: Effects | None = None) -> None:
        extra: dict[str, Any] = {"done_at": iso(now)}
        if effects is not None and effects.upload_error is not None:
            extra["upload_error"] = effects.upload_error.as_dict()  # where an error beyond STATE's bound lives
        self._set_status(cb, "done", extra)

    def release(self, cb: Callback) -> None:
        """Give the callback back after a failure, so TRTC's retry processes it (best effort)."""
        with contextlib.suppress(Exception):  # best effort: the lease expires by itself
            self._set_status(cb, "failed", {"lease_until": 0})

    def _set_status(self, cb: Callback, status: str, extra: Mapping[str, Any]) -> None:
        n = _Names()
        sets = [f"{n.name('status')} = {n.value(status)}"]
        sets += [f"{n.name(k)} = {n.value(v)}" for k, v in extra.items()]
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(cb),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=n.names,
                ExpressionAttributeValues=n.values,
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger UpdateItem callback") from exc

    # -- the task's STATE item ------------------------------------------------------------------------------
    def apply(self, cb: Callback, effects: Effects, now: datetime) -> Applied:
        if not effects.touches_state or not cb.task_id:
            return Applied()
        if effects.relay is not None:
            return self._apply_relay(cb, effects, now)
        return self._apply_recording(cb, effects, now)

    def _common(self, n: _Names, cb: Callback, effects: Effects, now: datetime) -> list[str]:
        sets = [
            f"{n.name('provider')} = {n.value('trtc')}",
            f"{n.name('task_id')} = {n.value(cb.task_id)}",
            f"{n.name('kind')} = if_not_exists({n.name('kind')}, {n.value(effects.kind)})",
            f"{n.name('sdk_app_id')} = {n.value(cb.sdk_app_id)}",
            f"{n.name('callback_at')} = {n.value(iso(now))}",
            f"{n.name('last_callback_type')} = {n.value(cb.event_type)}",
        ]
        if cb.room_id:
            sets.append(f"{n.name('room_id')} = {n.value(cb.room_id)}")
        return sets

    def _apply_recording(self, cb: Callback, effects: Effects, now: datetime) -> Applied:
        """One conditional STATE update on the common path; the bounds decide what is written inline.

        If the update's condition fails (the maps do not exist yet, or a bound is reached), the maps are created
        and the STATE read back in the same call, the fit is decided again, and the update is retried once; a
        second failure (a concurrent writer filled the last slot) writes everything out of line.
        """
        files_inline = bool(effects.files) and fits_inline(effects.files)
        error_inline = effects.upload_error is not None
        new_files = len({r.name for r in effects.files})
        for attempt in range(3):
            request = self._recording_request(cb, effects, now, files_inline, error_inline, new_files)
            try:
                answer = dict(self.client.update_item(**request))
                break
            except Exception as exc:
                if aws.error_code(exc) != CONDITION_FAILED or "ConditionExpression" not in request:
                    raise aws.aws_error(exc, "ledger UpdateItem task") from exc
            if attempt == 0:
                current = self._ensure_maps(request["Key"])
                new_files = files_not_held(current, effects.files)
                files_inline = files_inline and not current.get("files_overflow") and new_files <= MAX_INLINE_FILES
                error_inline = error_inline and _error_fits(current, cb.dedupe_key)
            else:
                files_inline = error_inline = False
        if effects.files and not files_inline:
            self._put_files(cb, effects.files, now)
        if not effects.all_uploaded:
            return Applied()
        state = from_item(answer.get("Attributes", {}))  # the final event lists every file: read the rest, if any
        return Applied(files=task_files(self.client, self.table_name, state, cb.task_id or ""))

    def _recording_request(
        self, cb: Callback, effects: Effects, now: datetime, files_inline: bool, error_inline: bool, new_files: int
    ) -> dict[str, Any]:
        """The STATE update; `new_files` is how many of the callback's files STATE may not hold yet."""
        n = _Names()
        sets = self._common(n, cb, effects, now)
        conditions: list[str] = []
        if effects.storage:
            sets.append(f"{n.name('storage')} = {n.value(effects.storage)}")
        for name, value in sorted(effects.fields.items()):
            sets.append(f"{n.name(name)} = {n.value(value)}")
        if effects.all_uploaded:
            sets.append(f"{n.name('all_uploaded')} = {n.value(True)}")
            sets.append(
                f"{n.name('all_uploaded_at')} = if_not_exists({n.name('all_uploaded_at')}, {n.value(iso(now))})"
            )
        if effects.files and files_inline:
            files = n.name("files")
            for record in effects.files:
                sets.append(f"{files}.{n.name(record.name)} = {n.value(record.as_dict())}")
            room, overflow = n.value(MAX_INLINE_FILES - new_files), n.name("files_overflow")
            conditions.append(
                f"attribute_exists({files}) AND attribute_not_exists({overflow}) AND size({files}) <= {room}"
            )
        elif effects.files:
            sets.append(f"{n.name('files_overflow')} = {n.value(True)}")
        if effects.upload_error is not None and error_inline:
            errors = n.name("upload_errors")
            entry = f"{errors}.{n.name(cb.dedupe_key)}"
            sets.append(f"{entry} = {n.value(effects.upload_error.as_dict())}")
            below = n.value(MAX_INLINE_ERRORS)
            conditions.append(f"attribute_exists({errors}) AND (size({errors}) < {below} OR attribute_exists({entry}))")
        elif effects.upload_error is not None:
            sets.append(f"{n.name('upload_errors_overflow')} = {n.value(True)}")
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _state_key(cb),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": n.names,
            "ExpressionAttributeValues": n.values,
            "ReturnValues": "ALL_NEW",
        }
        if conditions:
            request["ConditionExpression"] = " AND ".join(f"({c})" for c in conditions)
        return request

    def _ensure_maps(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """Create the empty maps a nested SET needs (once per task) and read the STATE back in the same call."""
        empty: dict[str, Any] = {"M": {}}
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET #f = if_not_exists(#f, :e), #u = if_not_exists(#u, :e)",
                ExpressionAttributeNames={"#f": "files", "#u": "upload_errors"},
                ExpressionAttributeValues={":e": empty},
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger UpdateItem task maps") from exc
        return from_item(answer.get("Attributes", {}))

    def _put_files(self, cb: Callback, records: Sequence[FileRecord], now: datetime) -> None:
        """One item per file under the task's pk (BatchWriteItem, 25 at a time; unprocessed ones are resent)."""
        pk = task_pk("trtc", cb.task_id or "")
        items = {
            file_sk(r.name): {**r.as_dict(), "callback_id": cb.dedupe_key, "received_at": iso(now)} for r in records
        }
        requests = [{"PutRequest": {"Item": to_item({"pk": pk, "sk": sk, **item})}} for sk, item in items.items()]
        for start in range(0, len(requests), _BATCH_WRITE_MAX):
            pending: list[dict[str, Any]] = requests[start : start + _BATCH_WRITE_MAX]
            for _ in range(5):
                try:
                    answer = self.client.batch_write_item(RequestItems={self.table_name: pending})
                except Exception as exc:
                    raise aws.aws_error(exc, "ledger BatchWriteItem files") from exc
                pending = list(answer.get("UnprocessedItems", {}).get(self.table_name, []))
                if not pending:
                    break
            if pending:  # throttled throughout: a retry of the whole callback will help
                raise AwsServiceError("ledger BatchWriteItem files failed", code="UnprocessedItems", provider="aws")

    def _apply_relay(self, cb: Callback, effects: Effects, now: datetime) -> Applied:
        relay = effects.relay
        assert relay is not None
        n = _Names()
        sets = self._common(n, cb, effects, now)
        removes: list[str] = []
        ts = n.name("relay_event_ms_ts")
        for name, value in (
            ("relay_status", relay.status),
            ("relay_status_name", relay.status_name),
            ("relay_event_ms_ts", relay.event_ms_ts),
            ("relay_url", relay.url),
            ("relay_error_code", relay.error_code),
            ("relay_error_msg", relay.error_msg),
        ):
            if value is None:
                removes.append(n.name(name))
            else:
                sets.append(f"{n.name(name)} = {n.value(value)}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=_state_key(cb),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_not_exists({ts}) OR {ts} < {n.value(relay.event_ms_ts)}",
                ExpressionAttributeNames=n.names,
                ExpressionAttributeValues=n.values,
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if aws.error_code(exc) == CONDITION_FAILED:
                return Applied(relay_applied=False)  # an event that happened later is already recorded
            raise aws.aws_error(exc, "ledger UpdateItem relay") from exc
        old = from_item(answer.get("Attributes", {}))
        previous = old.get("relay_status_name")
        return Applied(relay_applied=True, previous_relay_status=previous if isinstance(previous, str) else None)


def _error_fits(state: Mapping[str, Any], callback_id: str) -> bool:
    errors = state.get("upload_errors")
    held: dict[str, Any] = errors if isinstance(errors, dict) else {}
    return callback_id in held or len(held) < MAX_INLINE_ERRORS
