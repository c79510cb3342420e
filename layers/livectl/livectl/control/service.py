"""Message-triggered control: the one function every action handler calls.

`handle_event(event, context, action_name, settings)` accepts an SQS batch (its records in flight together, see
`livectl.control.batch`; partial batch response) or a direct EventBridge Scheduler invocation whose event is the command
itself. Per command:

    validate → stale check → idempotent provider call → ledger → outcome event → metrics   (`livectl.control.outcomes`)

The container's state (settings, limiters, clients, idempotent units, worker threads) is `livectl.control.container`.

Exactly once: the idempotent unit is ONLY the provider call (Powertools `idempotent_function` on the command's
business key). Its result is stored; the ledger writes and the event that follow are safe to repeat, so a crash
after a successful call followed by a redelivery replays the stored result without calling the provider again.

What happens to a record:
- invalid command (schema, params, wrong queue, id reused for another command) → ledger rejection,
  `Command Rejected`, metric; the record SUCCEEDS (a retry cannot fix it, it must not bounce to the DLQ).
- stale (`not_after` passed) → ledger "stale", `Command Rejected` (reason stale), metric `CommandsStale`; no
  provider call; the record succeeds.
- permanent provider error → ledger failed, `Task Stop Failed` (stops), metric; the record succeeds.
- transient / throttled after the in-invocation retry loop → ledger notes the error; the record FAILS and comes
  back after the redelivery schedule's delay for its receive count (`livectl.control.redelivery`, set with
  ChangeMessageVisibility by `livectl.control.batch`), up to maxReceiveCount, then the DLQ. Only the first receive
  retries inside the invocation; later ones make one attempt each (the queue's delay is the backoff).
- already done (the provider says the desired state already holds: the task is stopped, the relay runs) →
  success, recorded as stopped / restarted.

Only the provider answers whether a task is stopped; the ledger records what happened and is never asked
instead. A redelivery of the same command is answered from its stored idempotency result (0 provider calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from livectl import runtime
from livectl.command import Command, parse_command
from livectl.control import metrics as cm
from livectl.control import verdict
from livectl.control.batch import is_sqs_batch, run_batch
from livectl.control.container import (
    DEFAULT_DEADLINE_MARGIN,
    DEFAULT_IDEMPOTENCY_EXPIRES,
    DEFAULT_MIN_CALL_BUDGET,
    DEFAULT_RATE_PACING,
    DEFAULT_WINDOW_MARGIN,
    Container,
    ContainerSlot,
    Settings,
    container_for,
    provider_call,
    use_slot,
)
from livectl.control.metrics import CommandMetrics
from livectl.control.outcomes import ended_before_the_guard, log, log_keys, metrics, record
from livectl.control.redelivery import attempts_for
from livectl.errors import InvalidCommand, LivectlError, TransientProviderError
from livectl.providers.retry import UNAVAILABLE_CODES
from livectl.store.ledger import PUBLISH_LEASE
from livectl.store.table import iso

__all__ = [
    "DEFAULT_DEADLINE_MARGIN",
    "DEFAULT_IDEMPOTENCY_EXPIRES",
    "DEFAULT_MIN_CALL_BUDGET",
    "DEFAULT_RATE_PACING",
    "DEFAULT_WINDOW_MARGIN",
    "Container",
    "ContainerSlot",
    "Settings",
    "build_control_service",
    "container_for",
    "handle_event",
    "invocation_metrics",
    "is_sqs_batch",
    "metrics",
    "process_command",
    "provider_call",
    "use_slot",
]


# --------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ControlService:
    """One action function's service: `handle(event, context)` is the function's whole body."""

    settings: Settings
    action: str

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        return handle_event(event, context, self.action, self.settings)


def build_control_service(settings: Settings, action: str) -> ControlService:
    """The action's service, built once per process for these settings (`livectl.runtime.service`)."""
    return runtime.service(f"control:{action}", settings, lambda: ControlService(settings, action))


def handle_event(
    event: Any,
    context: Any,
    action_name: str,
    settings: Settings,
    *,
    container: Container | None = None,
) -> dict[str, Any]:
    """The action functions' whole body. SQS batch → `{"batchItemFailures": [...]}`, the records in flight
    together (`livectl.control.batch`); a direct Scheduler invocation → the command's result (a transient failure
    raises, so Lambda's async retry handles it)."""
    box = container or container_for(settings)
    # Before any record: the idempotency records' in-progress expiry comes from this context (Powertools #1745).
    box.idempotency_config().register_lambda_context(context)
    box.prepare(action_name)
    sink = invocation_metrics(action_name, box.settings)
    try:
        if is_sqs_batch(event):

            def process(
                body: str, *, message_id: str, receive_count: int | None, sent_at: datetime | None
            ) -> dict[str, Any]:
                return process_command(
                    body,
                    context=context,
                    action_name=action_name,
                    container=box,
                    message_id=message_id,
                    receive_count=receive_count,
                    sent_at=sent_at,
                    sink=sink,
                )

            return run_batch(event, context, box, process, log(box.settings.service))
        return process_command(event, context=context, action_name=action_name, container=box, sink=sink)
    finally:
        if sink.metric_set:  # an invocation that counted nothing (handed back unread) prints nothing
            sink.flush_metrics()


def invocation_metrics(action_name: str, settings: Settings) -> Any:
    """This invocation's own metric set, with the `action` dimension (`service` is added when it is flushed).
    Powertools' `Metrics` instances share one set per process; an EphemeralMetrics does not, so functions
    sharing a process (the local stack) never flush, clear or relabel each other's values."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    sink = EphemeralMetrics(namespace=settings.metrics_namespace or None, service=settings.service or None)
    sink.set_default_dimensions(action=action_name)
    return sink


def publish_lease(context: Any) -> timedelta:
    """How long this invocation may still be publishing an outcome: the rest of its time, and a second for clocks
    (Lambda stops it then). Without a context, the ledger's default."""
    if context is None:
        return PUBLISH_LEASE
    return timedelta(milliseconds=context.get_remaining_time_in_millis()) + timedelta(seconds=1)


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
    """One command, end to end. Returns a summary; raises only what must be retried. What it counts reaches
    the invocation's metric set (`sink`) in one locked step when it is done, whatever happened."""
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
    lease = publish_lease(context)
    try:
        command = parse_command(body, expected_action=action_name)
    except InvalidCommand as exc:
        return record(box, verdict.rejected(body, exc.field, exc.message, now, action_name, message_id), counted, lease)
    if command.is_stale(now):
        return record(box, verdict.stale(command, now, message_id), counted, lease)
    if command.via == "guard" and ended_before_the_guard(box, command):
        # The task's own callbacks (302/310/312, relay IDLE) said it ended: the guard has nothing to stop.
        ended = {"status": "already_done", "at": iso(now), "provider_calls": 0, "attempts": 0}
        return record(box, verdict.applied(command, ended, message_id, sent_at), counted, lease)
    deadline = _deadline(context, box)
    if deadline - box.monotonic() < box.settings.min_call_budget:
        raise TransientProviderError(
            "not enough time left in this invocation; handed back to the queue", code="DeadlineExceeded"
        )
    data = {"key": command.key, "fingerprint": command.fingerprint}
    try:
        outcome = _gated_call(box, command, data, deadline, receive_count, counted)
    except IdempotencyValidationError:
        reason = f"id {command.id!r} was already used for a different command"
        return record(box, verdict.rejected(body, "id", reason, now, action_name, message_id), counted, lease)
    except IdempotencyAlreadyInProgressError:
        log(box.settings.service).info("command in progress elsewhere; retry later", extra=log_keys(command))
        counted.count(cm.RETRIED)
        raise
    except IdempotencyPersistenceLayerError as exc:
        raise TransientProviderError("idempotency store unavailable", code="IdempotencyStore", provider="aws") from exc
    except LivectlError as exc:
        if exc.retryable:
            record(box, verdict.retrying(command, exc, now, message_id, receive_count), counted, lease)
            raise
        return record(box, verdict.failed(command, exc, now, message_id), counted, lease)
    return record(box, verdict.applied(command, outcome, message_id, sent_at), counted, lease)


def _gated_call(
    box: Container,
    command: Command,
    data: dict[str, Any],
    deadline: float,
    receive_count: int | None,
    counted: CommandMetrics,
) -> dict[str, Any]:
    """The idempotent provider call, through the container's outage gate (`livectl.control.outage`): while the
    action has just said "unavailable" here, this record goes back to the queue uncalled."""
    key = (command.name, command.account)
    if not box.outage.enter(key, box.monotonic()):
        raise TransientProviderError(
            f"{command.name} answered 'unavailable' moments ago in this container; not called, handed back",
            code="ProviderUnavailableHold",
            provider=command.provider,
        )
    unavailable: bool | None = None
    try:
        outcome = box.unit(command.name)(
            data=data,
            command=command,
            container=box,
            deadline=deadline,
            attempts=attempts_for(receive_count),
            observe=counted.observe_call,
        )
        unavailable = False
        return outcome
    except LivectlError as exc:
        unavailable = exc.code in UNAVAILABLE_CODES
        raise
    finally:
        box.outage.leave(key, box.monotonic(), unavailable=unavailable)
