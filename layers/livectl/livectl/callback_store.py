"""The TRTC callback receiver's side effects: the ledger (DynamoDB), the bus (EventBridge), the keys (Secrets
Manager), and `CallbackService`, which turns one HTTP request into one reply.

Ledger items (docs/DESIGN.md):
- `pk = TASK#trtc#<TaskId>`, `sk = CB#<dedupe key>`: one item per distinct callback. Written with a conditional
  put, so ten copies of one callback (TRTC's retries, concurrent or not) record it once. The item starts as
  `status = received` with a short lease and becomes `done` once the task's state and the events are written;
  if that fails, the lease is released so TRTC's next retry processes it again (everything below is idempotent).
- `pk = TASK#trtc#<TaskId>`, `sk = STATE`: `files` (map: file name -> {url, size, file_id, ...}),
  `all_uploaded`, `upload_errors` (map: callback id -> {code, message, ...}), `upload_status`, `recorder_status`,
  `storage`, `relay_status` / `relay_status_name` / `relay_event_ms_ts` (only ever moves forward in
  `EventMsTs`), `callback_at`. The callback never writes `state` or `updated_at`: those belong to commands.
- Callbacks without a TaskId (room events, unknown groups) are kept under `pk = CALLBACK#trtc#<yyyy-mm-dd>`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from livectl import aws
from livectl.callbacks import (
    ACK,
    DEFAULT_MAX_BYTES,
    DEFAULT_WINDOW_SECONDS,
    Callback,
    CallbackConfig,
    Effects,
    Rejection,
    effects_of,
    relay_detail,
    request_from_event,
    upload_failed_detail,
    uploaded_detail,
    verify,
)
from livectl.errors import AwsServiceError
from livectl.events import EventPublisher

STATE_SK = "STATE"
CALLBACK_TTL = timedelta(days=90)
LEASE_SECONDS = 20
_CONDITION_FAILED = "ConditionalCheckFailedException"


def task_pk(task_id: str) -> str:
    return f"TASK#trtc#{task_id}"


def callback_pk(cb: Callback) -> str:
    if cb.task_id:
        return task_pk(cb.task_id)
    # The event's own day (stable across retries); CallbackTs (inside the replay window) if that is nonsense.
    for ms in (cb.order_ms, cb.callback_ts):
        try:
            day = datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
        except (ValueError, OverflowError, OSError):
            continue
        return f"CALLBACK#trtc#{day}"
    return "CALLBACK#trtc#unknown"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def to_av(value: Any) -> dict[str, Any]:
    """A DynamoDB attribute value for the plain data callbacks produce (str, int, bool, None, dict, list)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_av(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_av(v) for v in value]}
    return {"S": str(value)}


def from_av(value: Mapping[str, Any]) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        text = value["N"]
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if "BOOL" in value:
        return value["BOOL"]
    if "M" in value:
        return {k: from_av(v) for k, v in value["M"].items()}
    if "L" in value:
        return [from_av(v) for v in value["L"]]
    return None


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_av(v) for k, v in item.items()}


@dataclass
class Applied:
    """What the STATE update did: the files known afterwards, and the relay transition if there was one."""

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
        item = {
            **self._key(cb),
            "dedupe_key": to_av(cb.dedupe_key),
            "event_group": to_av(cb.group),
            "event_type": to_av(cb.event_type),
            "event_name": to_av(cb.name),
            "callback_ts": to_av(cb.callback_ts),
            "event_ms_ts": to_av(cb.order_ms),
            "sdk_app_id": to_av(cb.sdk_app_id),
            "body": to_av(cb.body.decode("utf-8", "replace")),
            "received_at": to_av(_iso(now)),
            "status": to_av("received"),
            "lease_until": to_av(stamp + self.lease_seconds),
            "expires_at": to_av(int((now + self.ttl).timestamp())),
        }
        for name, value in (("task_id", cb.task_id), ("room_id", cb.room_id), ("user_id", cb.user_id)):
            if value:
                item[name] = to_av(value)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(sk) OR (#status <> :done AND lease_until < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":done": to_av("done"), ":now": to_av(stamp)},
            )
        except Exception as exc:
            if aws.error_code(exc) == _CONDITION_FAILED:
                return False
            raise aws.aws_error(exc, "ledger PutItem callback") from exc
        return True

    def finish(self, cb: Callback, now: datetime) -> None:
        self._set_status(cb, "done", {"done_at": _iso(now)})

    def release(self, cb: Callback) -> None:
        """Give the callback back after a failure, so TRTC's retry processes it (best effort)."""
        try:
            self._set_status(cb, "failed", {"lease_until": 0})
        except AwsServiceError:
            pass  # the lease expires by itself
        except Exception:  # noqa: S110 - best effort: the lease expires by itself
            pass

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
            f"{n.name('callback_at')} = {n.value(_iso(now))}",
            f"{n.name('last_callback_type')} = {n.value(cb.event_type)}",
        ]
        if cb.room_id:
            sets.append(f"{n.name('room_id')} = {n.value(cb.room_id)}")
        return sets

    def _apply_recording(self, cb: Callback, effects: Effects, now: datetime) -> Applied:
        n = _Names()
        sets = self._common(n, cb, effects, now)
        if effects.storage:
            sets.append(f"{n.name('storage')} = {n.value(effects.storage)}")
        for name, value in sorted(effects.fields.items()):
            sets.append(f"{n.name(name)} = {n.value(value)}")
        if effects.all_uploaded:
            sets.append(f"{n.name('all_uploaded')} = {n.value(True)}")
            sets.append(
                f"{n.name('all_uploaded_at')} = if_not_exists({n.name('all_uploaded_at')}, {n.value(_iso(now))})"
            )
        nested = bool(effects.files) or effects.upload_error is not None
        files = n.name("files") if nested else "files"
        errors = n.name("upload_errors") if nested else "upload_errors"
        for record in effects.files:
            sets.append(f"{files}.{n.name(record.name)} = {n.value(record.as_dict())}")
        if effects.upload_error is not None:
            sets.append(f"{errors}.{n.name(cb.dedupe_key)} = {n.value(effects.upload_error.as_dict())}")
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": to_av(task_pk(cb.task_id or "")), "sk": to_av(STATE_SK)},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": n.names,
            "ExpressionAttributeValues": n.values,
            "ReturnValues": "ALL_NEW",
        }
        if nested:
            # A map path can only be set inside an existing map: create both maps once, then retry.
            request["ConditionExpression"] = f"attribute_exists({files}) AND attribute_exists({errors})"
        try:
            answer = self._update_with_maps(request, nested)
        except Exception as exc:
            raise aws.aws_error(exc, "ledger UpdateItem task") from exc
        state = plain(answer.get("Attributes", {}))
        known = state.get("files") if isinstance(state.get("files"), dict) else {}
        assert isinstance(known, dict)
        return Applied(files=[known[k] for k in sorted(known)])

    def _update_with_maps(self, request: dict[str, Any], nested: bool) -> dict[str, Any]:
        try:
            return dict(self.client.update_item(**request))
        except Exception as exc:
            if not nested or aws.error_code(exc) != _CONDITION_FAILED:
                raise
        empty: dict[str, Any] = {"M": {}}
        self.client.update_item(
            TableName=self.table_name,
            Key=request["Key"],
            UpdateExpression="SET #f = if_not_exists(#f, :e), #u = if_not_exists(#u, :e)",
            ExpressionAttributeNames={"#f": "files", "#u": "upload_errors"},
            ExpressionAttributeValues={":e": empty},
        )
        return dict(self.client.update_item(**request))

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
                Key={"pk": to_av(task_pk(cb.task_id or "")), "sk": to_av(STATE_SK)},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_not_exists({ts}) OR {ts} < {n.value(relay.event_ms_ts)}",
                ExpressionAttributeNames=n.names,
                ExpressionAttributeValues=n.values,
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if aws.error_code(exc) == _CONDITION_FAILED:
                return Applied(relay_applied=False)  # an event that happened later is already recorded
            raise aws.aws_error(exc, "ledger UpdateItem relay") from exc
        old = plain(answer.get("Attributes", {}))
        previous = old.get("relay_status_name")
        return Applied(relay_applied=True, previous_relay_status=previous if isinstance(previous, str) else None)

    # -- reads (tests, CLI) -----------------------------------------------------------------------------------
    def state(self, task_id: str) -> dict[str, Any] | None:
        try:
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"pk": to_av(task_pk(task_id)), "sk": to_av(STATE_SK)},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger GetItem") from exc
        item = answer.get("Item")
        return plain(item) if item else None

    def callbacks(self, task_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :cb)",
            "ExpressionAttributeValues": {":pk": to_av(task_pk(task_id)), ":cb": to_av("CB#")},
            "ConsistentRead": True,
        }
        try:
            while True:
                page = self.client.query(**kwargs)
                items.extend(plain(i) for i in page.get("Items", []))
                if not page.get("LastEvaluatedKey"):
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as exc:
            raise aws.aws_error(exc, "ledger Query") from exc


def events_for(cb: Callback, effects: Effects, applied: Applied) -> Iterator[tuple[str, dict[str, Any]]]:
    """The bus events one (new) callback produces."""
    if effects.all_uploaded:
        yield "Recording Uploaded", uploaded_detail(cb, effects.storage, applied.files)
    if effects.upload_error is not None:
        yield "Recording Upload Failed", upload_failed_detail(cb, effects.upload_error)
    relay = effects.relay
    if relay is not None and applied.relay_applied and applied.previous_relay_status != relay.status_name:
        yield "Relay Status Changed", relay_detail(cb, relay, applied.previous_relay_status)


# ------------------------------------------------------------------------------------------------------------
# Keys
# ------------------------------------------------------------------------------------------------------------
class SecretConfig:
    """Callback keys from Secrets Manager through Powertools' cache (re-read at most every `max_age` s)."""

    def __init__(self, secret_name: str, max_age: int = 300) -> None:
        self.secret_name = secret_name
        self.max_age = max_age
        self._cached: tuple[int, CallbackConfig] | None = None

    def __call__(self) -> CallbackConfig:
        from aws_lambda_powertools.utilities import parameters  # pulls boto3: import on first use only

        value = parameters.get_secret(self.secret_name, transform="json", max_age=self.max_age)
        if self._cached is not None and self._cached[0] == id(value):
            return self._cached[1]
        config = CallbackConfig.from_secret(value)
        self._cached = (id(value), config)
        return config


# ------------------------------------------------------------------------------------------------------------
# The receiver
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Reply:
    """The HTTP answer plus what to count: `metric` is CallbackAccepted / CallbackDuplicate / CallbackRejected /
    CallbackFailed, `reason` a short fixed word (never request content)."""

    status: int
    body: dict[str, Any]
    metric: str
    reason: str | None = None
    callback: Callback | None = None

    def response(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


def _rejected(rejection: Rejection) -> Reply:
    return Reply(rejection.status, rejection.body(), "CallbackRejected", rejection.reason)


class CallbackService:
    """verify -> record once -> update the task -> publish -> acknowledge. 5xx only when recording failed."""

    def __init__(
        self,
        store: CallbackStore,
        publisher: EventPublisher,
        config: Callable[[], CallbackConfig],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        window: float = DEFAULT_WINDOW_SECONDS,
        path: str | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.config = config
        self.max_bytes = max_bytes
        self.window = window
        self.path = path

    def handle_event(self, event: Mapping[str, Any], now: datetime) -> Reply:
        request = request_from_event(event if isinstance(event, Mapping) else {}, self.max_bytes)
        if isinstance(request, Rejection):
            return _rejected(request)
        if request.method and request.method != "POST":
            return _rejected(Rejection(405, "method", "only POST is accepted"))
        try:
            config = self.config()
        except Exception:
            return Reply(503, {"code": 503, "error": "unavailable"}, "CallbackFailed", "config")
        verdict = verify(
            request.headers, request.body, config.keys, config.sdk_app_ids, now, self.window, self.max_bytes
        )
        if isinstance(verdict, Rejection):
            return _rejected(verdict)
        return self.accept(verdict, now)

    def accept(self, cb: Callback, now: datetime) -> Reply:
        try:
            if not self.store.claim(cb, now):
                return Reply(200, dict(ACK), "CallbackDuplicate", callback=cb)
        except Exception as exc:
            return Reply(500, {"code": 500, "error": "not_recorded"}, "CallbackFailed", _code(exc), cb)
        try:
            effects = effects_of(cb)
            applied = self.store.apply(cb, effects, now)
            for detail_type, detail in events_for(cb, effects, applied):
                self.publisher.publish(detail_type, detail)
            self.store.finish(cb, now)
        except Exception as exc:
            self.store.release(cb)
            return Reply(500, {"code": 500, "error": "not_recorded"}, "CallbackFailed", _code(exc), cb)
        return Reply(200, dict(ACK), "CallbackAccepted", callback=cb)


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code else type(exc).__name__


def build_service(
    *,
    table_name: str,
    bus_name: str,
    secret_name: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    window: float = DEFAULT_WINDOW_SECONDS,
    in_lambda: bool = True,
) -> CallbackService:
    """The receiver as deployed. Without a secret name, local runs use the documented local key
    (`demokey123`, SdkAppId 1400000001); inside Lambda it fails closed (503) instead."""
    config: Callable[[], CallbackConfig]
    if secret_name:
        config = SecretConfig(secret_name)
    elif in_lambda:

        def config() -> CallbackConfig:
            raise ValueError("CALLBACK_SECRET_NAME is not set")
    else:
        local = CallbackConfig.local()

        def config() -> CallbackConfig:
            return local

    return CallbackService(
        CallbackStore(table_name), EventPublisher(bus_name), config, max_bytes=max_bytes, window=window
    )
