"""What happens after the provider call (or instead of it): ledger, outcome event, metrics, log. Each is safe to
repeat, and each runs on the record's worker thread.

AWS calls per outcome (docs/DESIGN.md, "AWS calls per command"): STATE + command item in one TransactWriteItems,
PutEvents, then the `published` mark. A failure for good adds its FAILED#<day> item to that transaction.

Metrics: each outcome counts into the record's `CommandMetrics`; `control.process_command` adds them to the
invocation's metric set under one lock when the record is done (`livectl.control.metrics`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from livectl.bounds import NAME_BYTES, clip, clip_json
from livectl.command import Command
from livectl.control import metrics as cm
from livectl.control.container import Container
from livectl.control.metrics import CommandMetrics
from livectl.errors import InvalidCommand, LivectlError
from livectl.providers.catalogue import PullRecordStatus
from livectl.store.ledger import Entry
from livectl.store.table import iso, task_pk

# Powertools' Metrics instances share one metric set per process. An invocation counts into an EphemeralMetrics
# of its own instead (control.invocation_metrics): functions sharing a process (the local stack) or overlapping
# invocations never flush, clear or relabel each other's values. This one is the sink of process_command
# called on its own (tests).
metrics = Metrics()
_logger: Logger | None = None


def log() -> Logger:
    """A child of the handler's Logger (`<service>.control`), made on first use so the service name is known."""
    global _logger
    if _logger is None:
        _logger = Logger(child=True)
    return _logger


# --------------------------------------------------------------------------------------------------------
# Outcomes: ledger, event, metrics. Each is safe to repeat.
# --------------------------------------------------------------------------------------------------------


def log_keys(command: Command, **more: Any) -> dict[str, Any]:
    """A log line's keys about the command. The record's `message_id` is not among them: `livectl.control.batch` appends
    it to the Logger for the whole record (`thread_safe_append_keys`), so every line of that record carries it,
    deeper modules' too, and no other record's line does."""
    keys = {"action": command.name, "task_id": command.task_id, "account": command.account, "key": command.key}
    keys.update({k: v for k, v in more.items() if v is not None})
    return keys


def _base_detail(command: Command, at: str) -> dict[str, Any]:
    detail = {
        "action": command.name,
        "task_id": command.task_id,
        "provider": command.provider,
        "account": command.account,
        "command_id": command.id or command.key,
        "at": at,
    }
    if command.via is not None:
        detail["via"] = command.via  # "guard": the cost guard's auto-stop
    return detail


def ended_before_the_guard(box: Container, command: Command) -> bool:
    """A guard's stop fires only for a task still running as far as its callbacks tell (one ledger read, for
    guard commands only). A disarmed guard has no schedule left; this covers the race of a firing schedule and
    an end callback in flight."""
    state = box.ledger.get_state(command.provider, command.task_id) or {}
    return "guard_ended_ms" in state


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


def _lateness(command: Command, done_at: datetime, sent_at: datetime | None) -> dict[str, Any]:
    """How late a stop took effect: the provider's answer minus the auto-stop's `scheduled_at`, or minus the
    time the command was sent. Empty for other verbs, or when neither time is known."""
    if command.action.verb != "stop":
        return {}
    origin, since = (command.scheduled_at, "scheduled_at") if command.scheduled_at else (sent_at, "sent")
    if origin is None:
        return {}
    return {"lateness_ms": max(0, int((done_at - origin).total_seconds() * 1000)), "late_from": since}


def _failure_item(
    command: Command, outcome: str, code: str | None, reason: str | None, request_id: str | None, receives: int | None
) -> dict[str, Any]:
    """What FAILED#<day> keeps of one failed attempt (`livectl status`, `livectl dlq`); texts already bounded."""
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


def _record_and_publish(
    box: Container,
    command: Command,
    at: datetime,
    state: dict[str, Any],
    fields: dict[str, Any],
    event: tuple[str, dict[str, Any]],
    *,
    keep_state: bool = False,
    failure: dict[str, Any] | None = None,
) -> bool:
    """STATE and command item in one transaction, then the event, then the `published` mark. False: published
    before (a redelivered duplicate)."""
    pk = task_pk(command.provider, command.task_id)
    entry = Entry(pk, at, command.key, fields, event[0], event[1], state=state, keep_state=keep_state, failure=failure)
    return bool(box.ledger.record_and_publish(entry, box.publisher))


def applied(
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
    task_state = {
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
        **({"guard_status": "fired"} if command.via == "guard" else {}),
    }
    fields = {
        "action": command.name,
        "account": command.account,
        "command_key": command.key,
        "command_id": command.id,
        "via": command.via,
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
    first = _record_and_publish(box, command, at, task_state, fields, (detail_type, detail))
    counted.count(cm.ALREADY_DONE if status == "already_done" else cm.APPLIED)
    if first and late:  # a redelivered duplicate is not a second stop
        counted.lateness(late["lateness_ms"])
    if first and command.via == "guard" and status == "done":  # the guard stopped what outlived its budget
        counted.count(cm.GUARD_FIRED)
    log().info("command applied", extra=log_keys(command, outcome=status, state=state))
    return {"outcome": status, "state": state, "task_id": command.task_id, "request_id": request_id}


def failed(
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
    task_state = {
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
    }
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
    failure = _failure_item(command, "failed", code, reason, request_id, None)
    event = (detail_type, detail)
    _record_and_publish(box, command, now, task_state, fields, event, keep_state=state is None, failure=failure)
    counted.count(cm.FAILED)
    log().warning("command failed for good", extra=log_keys(command, error_code=code))
    return {"outcome": "failed", "task_id": command.task_id, "error_code": code, "reason": reason}


def note_retry(
    box: Container,
    command: Command,
    exc: LivectlError,
    now: datetime,
    message_id: str | None,
    receive_count: int | None,
    counted: CommandMetrics,
) -> None:
    """A transient failure that outlived the in-invocation retries: note the reason (STATE, and FAILED#<day> for
    `livectl status` and `livectl dlq`), then hand back."""
    counted.count(cm.RETRIED)
    code, reason, request_id = clip(exc.code, NAME_BYTES), clip(exc.message), clip(exc.request_id, NAME_BYTES)
    log().warning(
        "command failed transiently; handed back to the queue",
        extra=log_keys(command, error_code=exc.code, receive_count=receive_count),
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
                "last_error_code": code,
                "last_error_reason": reason,
                "last_request_id": request_id,
                "receive_count": receive_count,
            },
            keep_state=True,
        )
        failure = _failure_item(command, "retrying", code, reason, request_id, receive_count)
        box.ledger.record_failure(now, command.key, failure)
    except LivectlError:
        log().warning("ledger note failed", extra=log_keys(command))


def stale(
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
    box.ledger.record_and_publish(Entry(pk, now, command.key, fields, "Command Rejected", detail), box.publisher)
    counted.count(cm.STALE)
    log().warning("stale command dropped", extra=log_keys(command))
    return {"outcome": "stale", "task_id": command.task_id, "reason": reason}


def reject(
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
    box.ledger.record_and_publish(Entry.rejection(now, key, fields, detail), box.publisher)
    counted.count(cm.REJECTED)
    log().warning("command rejected", extra={"action": action_name, "field": field, "reason": reason, "key": key})
    return {"outcome": "rejected", "field": field, "reason": reason}


def _peek_id(raw: str | bytes) -> object:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc.get("id") if isinstance(doc, dict) else None
