"""Message-triggered control: the one function every action handler calls.

`handle_event(event, context, action_name, settings)` accepts an SQS batch (Powertools BatchProcessor, partial
batch response) or a direct EventBridge Scheduler invocation whose event is the command itself. Per command:

    validate → stale check → idempotent provider call → ledger → outcome event → metrics

Exactly once: the idempotent unit is ONLY the provider call (Powertools `idempotent_function` on the command's
business key). Its result is stored; the ledger writes and the event that follow are safe to repeat, so a crash
after a successful call followed by a redelivery replays the stored result without calling the provider again.

What happens to a record:
- invalid command (schema, params, wrong queue, id reused for another command) → ledger rejection,
  `Command Rejected`, metric; the record SUCCEEDS (a retry cannot fix it, it must not bounce to the DLQ).
- stale (`not_after` passed) → ledger "stale", `Command Rejected` (reason stale), metric `StaleCommand`; no
  provider call; the record succeeds.
- permanent provider error → ledger failed, `Task Stop Failed` (stops), metric; the record succeeds.
- transient / throttled after the in-invocation retry loop → ledger notes the error; the record FAILS and SQS
  redelivers it after the visibility timeout, up to maxReceiveCount, then the DLQ.
- already done (the provider says the desired state already holds: the task is stopped, the relay runs) →
  success, recorded as stopped / restarted.

Only the provider answers whether a task is stopped; the ledger records what happened and is never asked
instead. A redelivery of the same command is answered from its stored idempotency result (0 provider calls).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from livectl import command_metrics as cm
from livectl.bounds import NAME_BYTES, clip, clip_json
from livectl.catalogue import PullRecordStatus, provider_action
from livectl.command import Command, parse_command
from livectl.command_metrics import CommandMetrics
from livectl.errors import InvalidCommand, LivectlError, PermanentProviderError, TransientProviderError
from livectl.ledger import COMMAND_TTL, Ledger, iso, rejected_pk, task_pk
from livectl.retry import RetryPolicy, utc_now

# Powertools' Metrics share one metric set per process (every instance): what a command counts goes instead to
# its invocation's own EphemeralMetrics, flushed when the invocation ends. Several functions in one process
# (the local stack) or overlapping invocations then never flush, clear or label each other's values.
metrics = Metrics()  # the fallback sink of process_command called on its own (tests)
_logger: Logger | None = None


def log() -> Logger:
    """A child of the handler's Logger (`<service>.control`), made on first use so the service name is known."""
    global _logger
    if _logger is None:
        _logger = Logger(child=True)
    return _logger


DEFAULT_IDEMPOTENCY_EXPIRES = 86400  # ≥ maxReceiveCount (5) × visibility timeout (6 × function timeout)
DEFAULT_DEADLINE_MARGIN = 3.0  # seconds kept back from the invocation's remaining time
DEFAULT_MIN_CALL_BUDGET = 1.0  # do not start a provider call with less time than this left
# Each container's share of the QPS is counted over 1 + margin seconds: the margin covers the spread of network
# latency between our send and the provider's count. A wider spread than the margin may draw a rare throttling
# answer, which is retried with backoff; RATE_WINDOW_MARGIN widens it.
DEFAULT_WINDOW_MARGIN = 0.02

# --------------------------------------------------------------------------------------------------------
# Settings: read once from the environment by the handler module, then passed down.
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    ledger_table: str
    event_bus: str
    idempotency_table: str
    secret_prefix: str = "livectl/"  # noqa: S105 - a name prefix, not a secret
    max_concurrency: int = 2
    volcengine_endpoint: str = ""
    trtc_endpoint: str = ""
    idempotency_expires: int = DEFAULT_IDEMPOTENCY_EXPIRES
    deadline_margin: float = DEFAULT_DEADLINE_MARGIN
    min_call_budget: float = DEFAULT_MIN_CALL_BUDGET
    window_margin: float = DEFAULT_WINDOW_MARGIN
    metrics_namespace: str = ""  # POWERTOOLS_METRICS_NAMESPACE, read with the rest: one per stack
    service: str = ""  # POWERTOOLS_SERVICE_NAME: every metric's `service` dimension

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            ledger_table=env.get("LEDGER_TABLE", ""),
            event_bus=env.get("EVENT_BUS_NAME", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            secret_prefix=env.get("PROVIDER_SECRET_PREFIX") or "livectl/",
            max_concurrency=max(1, int(env.get("MAX_CONCURRENCY") or 2)),
            volcengine_endpoint=env.get("LIVECTL_VOLCENGINE_ENDPOINT", ""),
            trtc_endpoint=env.get("LIVECTL_TRTC_ENDPOINT", ""),
            idempotency_expires=int(env.get("IDEMPOTENCY_EXPIRES_SECONDS") or DEFAULT_IDEMPOTENCY_EXPIRES),
            window_margin=float(env.get("RATE_WINDOW_MARGIN") or DEFAULT_WINDOW_MARGIN),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", ""),
            service=env.get("POWERTOOLS_SERVICE_NAME", ""),
        )

    @property
    def endpoints(self) -> dict[str, str]:
        return {"volcengine": self.volcengine_endpoint, "trtc": self.trtc_endpoint}


# --------------------------------------------------------------------------------------------------------
# Container: what one Lambda container keeps between invocations (limiters, clients, idempotent units).
# --------------------------------------------------------------------------------------------------------


class Container:
    """Per-process state. Tests simulate several containers by building several of these."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: Any | None = None,
        ledger: Ledger | None = None,
        publisher: Any | None = None,
        policy: RetryPolicy | None = None,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from livectl.clients import ProviderClient
        from livectl.events import EventPublisher

        self.settings = settings
        self.client = client or ProviderClient(settings.endpoints)
        self.ledger = ledger or Ledger(settings.ledger_table)
        self.publisher = publisher or EventPublisher(settings.event_bus)
        self.policy = policy or RetryPolicy()
        self.now = now
        self.monotonic = monotonic
        self.sleep = sleep
        self._limiters: dict[tuple[str, str], Any] = {}
        self._units: dict[str, Callable[..., dict[str, Any]]] = {}
        self._config: Any = None
        self._lock = threading.Lock()

    def limiter(self, action: str, account: str) -> Any:
        """The limiter for (action, account): floor(QPS / MaximumConcurrency) calls per 1 + margin seconds.
        `action` may be a confirm query, which the provider counts apart from the action it settles."""
        from livectl.ratelimit import WindowLimiter, per_container_share

        with self._lock:
            limiter = self._limiters.get((action, account))
            if limiter is None:
                limiter = WindowLimiter(
                    per_container_share(provider_action(action).qps, self.settings.max_concurrency),
                    1.0 + self.settings.window_margin,
                    monotonic=self.monotonic,
                    sleep=self.sleep,
                )
                self._limiters[(action, account)] = limiter
            return limiter

    def idempotency_config(self) -> Any:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        if self._config is None:
            self._config = IdempotencyConfig(
                event_key_jmespath="key",
                payload_validation_jmespath="fingerprint",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=self.settings.idempotency_expires,
            )
        return self._config

    def unit(self, action: str) -> Callable[..., dict[str, Any]]:
        """The idempotent provider call for one action (key prefix `livectl.<action>`)."""
        with self._lock:
            found = self._units.get(action)
            if found is not None:
                return found
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

            from livectl import aws

            store = DynamoDBPersistenceLayer(
                table_name=self.settings.idempotency_table, boto3_client=aws.client("dynamodb")
            )
            wrapped: Callable[..., dict[str, Any]] = idempotent_function(
                _provider_call,
                data_keyword_argument="data",
                persistence_store=store,
                config=self.idempotency_config(),
                key_prefix=f"livectl.{action}",
            )
            self._units[action] = wrapped
            return wrapped


_container: Container | None = None


def container_for(settings: Settings) -> Container:
    """The process's container (rebuilt only if the settings change, e.g. between tests)."""
    global _container
    if _container is None or _container.settings != settings:
        _container = Container(settings)
    return _container


def reset() -> None:
    global _container
    _container = None


# --------------------------------------------------------------------------------------------------------
# The idempotent unit: the provider call, and nothing else.
# --------------------------------------------------------------------------------------------------------


def _provider_call(
    *, data: dict[str, Any], command: Command, container: Container, deadline: float, observe: Any = None
) -> dict[str, Any]:
    """Call the provider once for `command` (with livectl's retry loop). The returned dict is stored by
    Powertools and replayed to every duplicate of the command.

    A new command always reaches the provider, even when the ledger says the task is stopped: the provider is
    the source of truth (a task can run again outside livectl), and a stop of a task that is already stopped
    costs one refused call that settles as "already done"."""
    from livectl.credentials import load_credentials
    from livectl.operations import perform

    credentials = load_credentials(command.provider, command.account, prefix=container.settings.secret_prefix)
    outcome = perform(
        command.action,
        command.params,
        credentials,
        container.client,
        deadline=deadline,
        policy=container.policy,
        limiter=container.limiter(command.name, command.account),
        confirm_limiter=_confirm_limiter(command, container),
        now=container.now,
        monotonic=container.monotonic,
        sleep=container.sleep,
        observe=observe,
    )
    out: dict[str, Any] = dataclasses.asdict(outcome)
    out["at"] = iso(container.now())
    return out


def _confirm_limiter(command: Command, container: Container) -> Any:
    query = command.action.confirm_with
    return container.limiter(query, command.account) if query else None


# --------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def handle_event(
    event: Any,
    context: Any,
    action_name: str,
    settings: Settings,
    *,
    container: Container | None = None,
) -> dict[str, Any]:
    """The action functions' whole body. SQS batch → `{"batchItemFailures": [...]}`; a direct Scheduler
    invocation → the command's result (a transient failure raises, so Lambda's async retry handles it)."""
    box = container or container_for(settings)
    box.idempotency_config().register_lambda_context(context)
    sink = invocation_metrics(action_name, settings)
    try:
        if is_sqs_batch(event):
            return _handle_batch(event, context, action_name, box, sink)
        return process_command(event, context=context, action_name=action_name, container=box, sink=sink)
    finally:
        if sink.metric_set:  # an invocation that counted nothing (handed back unread) prints nothing
            sink.flush_metrics()


def invocation_metrics(action_name: str, settings: Settings) -> Any:
    """A metric set of this invocation's own, with the `action` dimension (`service` is added on flush)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    sink = EphemeralMetrics(namespace=settings.metrics_namespace or None, service=settings.service or None)
    sink.set_default_dimensions(action=action_name)
    return sink


def _handle_batch(
    event: Mapping[str, Any], context: Any, action_name: str, box: Container, sink: Any
) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    # raise_on_entire_batch_failure=False: a batch whose records all failed transiently (say, a provider
    # outage) is reported record by record like any partial failure. SQS retries exactly the same records
    # either way, but the invocation does not end in an error, so Lambda's Errors metric and alarm stay
    # reserved for real crashes (bugs, timeouts) and our own `CommandsRetried` metric counts the rest.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        return process_command(
            record.body,
            context=context,
            action_name=action_name,
            container=box,
            message_id=record.message_id,
            receive_count=_receive_count(record),
            sent_at=_sent_at(record),
            sink=sink,
        )

    response = process_partial_response(
        event=dict(event), record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def _sent_at(record: Any) -> datetime | None:
    """When the message was sent to its queue (SQS SentTimestamp): a stop's lateness counts from it when the
    command carries no `scheduled_at`."""
    try:
        return datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, UTC)
    except (TypeError, ValueError, AttributeError, OverflowError, OSError):
        return None


def _receive_count(record: Any) -> int | None:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError, AttributeError):
        return None


def _deadline(context: Any, box: Container) -> float:
    remaining_ms = context.get_remaining_time_in_millis() if context is not None else 60_000
    return box.monotonic() + remaining_ms / 1000.0 - box.settings.deadline_margin


def process_command(
    body: str | bytes | Mapping[str, Any],
    *,
    context: Any,
    action_name: str,
    container: Container,
    message_id: str | None = None,
    receive_count: int | None = None,
    sent_at: datetime | None = None,
    sink: Any = None,
) -> dict[str, Any]:
    """One command, end to end. Returns a summary; raises only what must be retried. Its metrics reach the
    invocation's metric set (`sink`) in one locked step at the end, whatever happened."""
    counted = CommandMetrics()
    try:
        return _process(body, context, action_name, container, message_id, receive_count, sent_at, counted)
    finally:
        counted.add_to(sink if sink is not None else metrics)


def _process(
    body: str | bytes | Mapping[str, Any],
    context: Any,
    action_name: str,
    box: Container,
    message_id: str | None,
    receive_count: int | None,
    sent_at: datetime | None,
    counted: CommandMetrics,
) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    now = box.now()
    try:
        command = parse_command(body, expected_action=action_name)
    except InvalidCommand as exc:
        return _reject(box, body, exc, now, action_name, message_id, counted)
    if command.is_stale(now):
        return _stale(box, command, now, message_id, counted)
    deadline = _deadline(context, box)
    if deadline - box.monotonic() < box.settings.min_call_budget:
        raise TransientProviderError(
            "not enough time left in this invocation; handed back to the queue", code="DeadlineExceeded"
        )
    data = {"key": command.key, "fingerprint": command.fingerprint}
    try:
        outcome = box.unit(command.name)(
            data=data, command=command, container=box, deadline=deadline, observe=counted.observe_call
        )
    except IdempotencyValidationError:
        error = InvalidCommand(f"id {command.id!r} was already used for a different command", field="id")
        return _reject(box, body, error, now, action_name, message_id, counted)
    except IdempotencyAlreadyInProgressError:
        log().info("command in progress elsewhere; retry later", extra=_log_keys(command, message_id))
        counted.count(cm.RETRIED)
        raise
    except IdempotencyPersistenceLayerError as exc:
        raise TransientProviderError("idempotency store unavailable", code="IdempotencyStore", provider="aws") from exc
    except PermanentProviderError as exc:
        return _failed(box, command, exc, now, message_id, counted)
    except LivectlError as exc:
        if exc.retryable:
            _note_retry(box, command, exc, now, message_id, receive_count, counted)
            raise
        return _failed(box, command, exc, now, message_id, counted)
    return _applied(box, command, outcome, message_id, sent_at, counted)


# --------------------------------------------------------------------------------------------------------
# Outcomes: ledger, event, metrics. Each is safe to repeat.
# --------------------------------------------------------------------------------------------------------


def _log_keys(command: Command, message_id: str | None, **more: Any) -> dict[str, Any]:
    keys = {"action": command.name, "task_id": command.task_id, "account": command.account, "key": command.key}
    if message_id:
        keys["message_id"] = message_id
    keys.update({k: v for k, v in more.items() if v is not None})
    return keys


def _base_detail(command: Command, at: str) -> dict[str, Any]:
    return {
        "action": command.name,
        "task_id": command.task_id,
        "provider": command.provider,
        "account": command.account,
        "command_id": command.id or command.key,
        "at": at,
    }


def _settle(command: Command, outcome: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(ledger state, event detail-type, extra detail) for a successful outcome."""
    verb = command.action.verb
    if verb == "stop":
        return "stopped", "Task Stopped", {}
    if verb == "restart":
        return "restarted", "Task Restarted", {}
    raw = outcome.get("task_status")
    status = PullRecordStatus.parse(raw if isinstance(raw, str) else None)
    state = {
        PullRecordStatus.NOT_STARTED: "not_started",
        PullRecordStatus.ACTIVE: "running",
        PullRecordStatus.STOPPED: "stopped",
        PullRecordStatus.ENDED: "ended",
    }.get(status, "unknown")
    shown_status = clip(raw, NAME_BYTES) if isinstance(raw, str) else raw  # the provider's text, bounded
    return state, "Task Status", {"status": shown_status, "status_name": status.name, "state": state}


def _publish_once(
    box: Container, pk: str, at: datetime, key: str, fields: dict[str, Any], event: tuple[str, dict[str, Any]]
) -> bool:
    """Command item first, then the event, then the `published` mark: a replay publishes at most once more
    (only if the previous attempt died between the event and the mark). False: published before."""
    if box.ledger.record_command(pk, at, key, fields, ttl=COMMAND_TTL):
        box.publisher.publish(event[0], event[1])
        box.ledger.mark_published(pk, at, key)
        return True
    return False


def _lateness(command: Command, done_at: datetime, sent_at: datetime | None) -> dict[str, Any]:
    """How late a stop took effect: the provider's answer minus the auto-stop's `scheduled_at`, or minus the
    time the command was sent. Empty for other verbs, or when neither time is known."""
    if command.action.verb != "stop":
        return {}
    origin, since = (command.scheduled_at, "scheduled_at") if command.scheduled_at else (sent_at, "sent")
    if origin is None:
        return {}
    return {"lateness_ms": max(0, int((done_at - origin).total_seconds() * 1000)), "late_from": since}


def _applied(
    box: Container,
    command: Command,
    outcome: dict[str, Any],
    message_id: str | None,
    sent_at: datetime | None,
    counted: CommandMetrics,
) -> dict[str, Any]:
    at = datetime.fromisoformat(outcome["at"])
    late = _lateness(command, at, sent_at)
    state, detail_type, extra = _settle(command, outcome)
    status = outcome["status"]  # done | already_done
    # The provider's texts, bounded like any echo.
    request_id, error_code = clip(outcome.get("request_id"), NAME_BYTES), clip(outcome.get("error_code"), NAME_BYTES)
    provider_status = outcome.get("task_status")
    provider_status = clip(provider_status, NAME_BYTES) if isinstance(provider_status, str) else None
    box.ledger.update_state(
        command.provider,
        command.task_id,
        at,
        {
            "state": state,
            "kind": command.action.kind,
            "provider": command.provider,
            "task_id": command.task_id,
            "account": command.account,
            "provider_status": provider_status,
            "last_action": command.name,
            "last_outcome": status,
            "last_request_id": request_id,
            "last_command_key": command.key,
            "last_error_code": None,
            "last_error_reason": None,
        },
    )
    fields = {
        "action": command.name,
        "account": command.account,
        "command_key": command.key,
        "command_id": command.id,
        "params": clip_json(command.params),
        "outcome": status,
        "state": state,
        "error_code": error_code,
        "request_id": request_id,
        "provider_calls": outcome.get("provider_calls"),
        "provider_status": provider_status,
        "message_id": message_id,
        **late,
    }
    detail = {
        **_base_detail(command, outcome["at"]),
        "outcome": status,
        "request_id": request_id,
        "error_code": error_code,
        **extra,
        **late,
    }
    pk = task_pk(command.provider, command.task_id)
    first = _publish_once(box, pk, at, command.key, fields, (detail_type, detail))
    counted.count(cm.ALREADY_DONE if status == "already_done" else cm.APPLIED)
    if first and late:  # a redelivered duplicate is not a second stop
        counted.lateness(late["lateness_ms"])
    log().info("command applied", extra=_log_keys(command, message_id, outcome=status, state=state))
    return {"outcome": status, "state": state, "task_id": command.task_id, "request_id": request_id}


def _failed(
    box: Container,
    command: Command,
    exc: LivectlError,
    now: datetime,
    message_id: str | None,
    counted: CommandMetrics,
) -> dict[str, Any]:
    """A permanent provider refusal: recorded, reported, never retried."""
    verb = command.action.verb
    # The provider's code, request id and message are foreign text: bounded before they are stored or published.
    code, request_id, reason = clip(exc.code, NAME_BYTES), clip(exc.request_id, NAME_BYTES), clip(exc.message)
    state = {"stop": "stop_failed", "restart": "restart_failed"}.get(verb)
    box.ledger.update_state(
        command.provider,
        command.task_id,
        now,
        {
            "state": state or "unknown",
            "kind": command.action.kind,
            "provider": command.provider,
            "task_id": command.task_id,
            "account": command.account,
            "last_action": command.name,
            "last_outcome": "failed",
            "last_request_id": request_id,
            "last_command_key": command.key,
            "last_error_code": code,
            "last_error_reason": reason,
        },
        keep_state=state is None,
    )
    fields = {
        "action": command.name,
        "account": command.account,
        "command_key": command.key,
        "command_id": command.id,
        "params": clip_json(command.params),
        "outcome": "failed",
        "error_code": code,
        "request_id": request_id,
        "reason": reason,
        "message_id": message_id,
    }
    detail_type = {"stop": "Task Stop Failed", "restart": "Task Restart Failed"}.get(verb, "Task Status")
    detail = {
        **_base_detail(command, iso(now)),
        "outcome": "failed",
        "request_id": request_id,
        "error_code": code,
        "reason": reason,
    }
    pk = task_pk(command.provider, command.task_id)
    _publish_once(box, pk, now, command.key, fields, (detail_type, detail))
    box.ledger.record_failure(now, command.key, _failure_item(command, "failed", code, reason, request_id, None))
    counted.count(cm.FAILED)
    log().warning("command failed for good", extra=_log_keys(command, message_id, error_code=code))
    return {"outcome": "failed", "task_id": command.task_id, "error_code": code, "reason": reason}


def _note_retry(
    box: Container,
    command: Command,
    exc: LivectlError,
    now: datetime,
    message_id: str | None,
    receive_count: int | None,
    counted: CommandMetrics,
) -> None:
    """A transient failure that outlived the in-invocation retries: note the reason, then hand back."""
    counted.count(cm.RETRIED)
    log().warning(
        "command failed transiently; handed back to the queue",
        extra=_log_keys(command, message_id, error_code=exc.code, receive_count=receive_count),
    )
    try:
        box.ledger.update_state(
            command.provider,
            command.task_id,
            now,
            {
                "state": "pending",
                "kind": command.action.kind,
                "provider": command.provider,
                "task_id": command.task_id,
                "account": command.account,
                "last_action": command.name,
                "last_outcome": "retrying",
                "last_command_key": command.key,
                "last_error_code": clip(exc.code, NAME_BYTES),
                "last_error_reason": clip(exc.message),
                "last_request_id": clip(exc.request_id, NAME_BYTES),
                "receive_count": receive_count,
            },
            keep_state=True,
        )
        code, reason = clip(exc.code, NAME_BYTES), clip(exc.message)
        request_id = clip(exc.request_id, NAME_BYTES)
        box.ledger.record_failure(
            now, command.key, _failure_item(command, "retrying", code, reason, request_id, receive_count)
        )
    except LivectlError:
        log().warning("ledger note failed", extra=_log_keys(command, message_id))


def _failure_item(
    command: Command, outcome: str, code: str | None, reason: str | None, request_id: str | None, receives: int | None
) -> dict[str, Any]:
    """What FAILED#<day> keeps of one failed attempt (`livectl status`, `livectl dlq`); the reason is bounded."""
    return {
        "action": command.name,
        "provider": command.provider,
        "task_id": command.task_id,
        "account": command.account,
        "outcome": outcome,
        "error_code": code,
        "reason": reason,
        "request_id": request_id,
        "receive_count": receives,
    }


def _stale(
    box: Container, command: Command, now: datetime, message_id: str | None, counted: CommandMetrics
) -> dict[str, Any]:
    assert command.not_after is not None
    reason = f"arrived at {iso(now)}, after not_after {command.not_after.isoformat()}; dropped"
    fields = {
        "action": command.name,
        "account": command.account,
        "command_key": command.key,
        "command_id": command.id,
        "params": clip_json(command.params),
        "outcome": "stale",
        "reason": reason,
        "not_after": command.not_after.isoformat(),
        "message_id": message_id,
    }
    detail = {**_base_detail(command, iso(now)), "outcome": "stale", "reason": reason, "field": "not_after"}
    pk = task_pk(command.provider, command.task_id)
    _publish_once(box, pk, now, command.key, fields, ("Command Rejected", detail))
    counted.count(cm.STALE)
    log().warning("stale command dropped", extra=_log_keys(command, message_id))
    return {"outcome": "stale", "task_id": command.task_id, "reason": reason}


def _reject(
    box: Container,
    body: str | bytes | Mapping[str, Any],
    exc: InvalidCommand,
    now: datetime,
    action_name: str,
    message_id: str | None,
    counted: CommandMetrics,
) -> dict[str, Any]:
    """An invalid command: recorded under REJECTED#<day>, reported, never retried. The raw body is not kept,
    and what the rejection repeats from it (field, reason, id) is bounded, so any body can be recorded."""
    raw = body if isinstance(body, str | bytes) else json.dumps(body, sort_keys=True, default=str)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw).hexdigest()
    key = message_id or digest
    peeked = body.get("id") if isinstance(body, Mapping) else _peek_id(raw)
    command_id = clip(peeked, NAME_BYTES) if isinstance(peeked, str) else None
    field, reason = clip(exc.field, NAME_BYTES), clip(exc.message)
    fields = {
        "action": action_name,
        "outcome": "rejected",
        "field": field,
        "reason": reason,
        "body_sha256": digest,
        "command_id": command_id,
        "message_id": message_id,
    }
    detail = {
        "action": action_name,
        "command_id": command_id,
        "message_id": message_id,
        "outcome": "rejected",
        "field": field,
        "reason": reason,
        "at": iso(now),
    }
    if box.ledger.record_rejection(now, key, fields):
        box.publisher.publish("Command Rejected", detail)
        box.ledger.mark_published(rejected_pk(now), now, key)
    counted.count(cm.REJECTED)
    log().warning("command rejected", extra={"action": action_name, "field": field, "reason": reason, "key": key})
    return {"outcome": "rejected", "field": field, "reason": reason}


def _peek_id(raw: str | bytes) -> object:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc.get("id") if isinstance(doc, dict) else None
