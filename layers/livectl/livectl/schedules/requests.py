"""Schedule requests: create, move, cancel and list one-time auto-stops (the schedule manager's logic; the cost
guard's requests are dispatched to `livectl.guard.manager` by `livectl.schedules.service`, which passes it in).

A request is a stop command (the command contract) plus exactly one of `"at"` (RFC 3339, any zone),
`"after"` (a duration like "2h"), or `"cancel": true`; or `{"list": true}`. The same function serves the
schedule manager's SQS records, its direct invocations and, later, the CLI.

Outcomes: `Stop Scheduled` / `Stop Cancelled` events on the bus and one ledger item per request on the task;
an invalid request is recorded as rejected and answered, never retried. Any other failure (an AWS error, a bug)
is recorded with its reason and raised, so the queue retries it and, in the end, its DLQ keeps it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from livectl import command as contract
from livectl.bounds import NAME_BYTES, clip
from livectl.errors import InvalidCommand, LivectlError
from livectl.events import EventPublisher
from livectl.guard.policy import DEFAULT_MAX_AGE, GUARD_KEY, GuardPolicies, GuardPolicy, default_policy
from livectl.schedules.scheduler import (
    DEFAULT_STALE_AFTER_SECONDS,
    STOP_ACTIONS,
    ScheduleTarget,
    StopScheduler,
    build_schedule_request,
    command_id,
    parse_queue_arns,
    resolve_when,
    schedule_name,
    to_utc,
)
from livectl.store.ledger import PUBLISH_IN_PROGRESS, Entry, Ledger
from livectl.store.table import iso, task_pk

REQUEST_KEYS = ("at", "after", "cancel")


@dataclass(frozen=True)
class ScheduleSettings:
    """The schedule manager's environment (names only), read once per container."""

    target: ScheduleTarget
    ledger_table: str
    event_bus: str
    guard_path: str = ""  # GUARD_PARAMETER_PATH; empty: guard requests are refused
    guard_max_age: int = DEFAULT_MAX_AGE
    guard_defaults: GuardPolicy | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScheduleSettings:
        target = ScheduleTarget(
            group=env["SCHEDULE_GROUP"],
            role_arn=env["SCHEDULER_ROLE_ARN"],
            dlq_arn=env["SCHEDULER_DLQ_ARN"],
            queue_arns=parse_queue_arns(env.get("ACTION_QUEUE_ARNS", "{}")),
            stale_after_seconds=int(env.get("STALE_AFTER_SECONDS") or DEFAULT_STALE_AFTER_SECONDS),
        )
        guard_path = env.get("GUARD_PARAMETER_PATH", "")
        return cls(
            target=target,
            ledger_table=env["LEDGER_TABLE"],
            event_bus=env["EVENT_BUS_NAME"],
            guard_path=guard_path,
            guard_max_age=int(env.get("GUARD_POLICY_MAX_AGE") or DEFAULT_MAX_AGE),
            guard_defaults=default_policy(env) if guard_path else None,
        )


@dataclass
class ScheduleDeps:
    """Everything a schedule request touches; built once per container from the settings."""

    target: ScheduleTarget
    scheduler: StopScheduler
    ledger: Ledger
    publisher: EventPublisher
    guard: GuardPolicies | None = None  # the cost guard's policies; None: guard requests are refused

    @classmethod
    def from_settings(cls, settings: ScheduleSettings) -> ScheduleDeps:
        guard = None
        if settings.guard_path and settings.guard_defaults is not None:
            guard = GuardPolicies(settings.guard_path, settings.guard_defaults, max_age=settings.guard_max_age)
        return cls(
            target=settings.target,
            scheduler=StopScheduler(settings.target.group),
            ledger=Ledger(settings.ledger_table),
            publisher=EventPublisher(settings.event_bus),
            guard=guard,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ScheduleDeps:
        return cls.from_settings(ScheduleSettings.from_env(env))


# A guard request's handler (livectl.guard.manager.handle_guard_request), passed in by the schedule manager's
# service: the guard moves schedules through this module, so this module cannot import it.
GuardHandler = Callable[[Mapping[str, Any], ScheduleDeps, datetime], dict[str, Any]]


def split_request(doc: object) -> tuple[str, Any, dict[str, Any]]:
    """(`at` | `after` | `cancel`, its value, the command part). Exactly one request key is allowed."""
    if not isinstance(doc, dict):
        raise InvalidCommand("a schedule request must be a JSON object", field="command")
    present = [k for k in REQUEST_KEYS if k in doc]
    if len(present) != 1:
        raise InvalidCommand('give exactly one of "at", "after" or "cancel": true', field="at")
    kind = present[0]
    value = doc[kind]
    if kind == "cancel" and value is not True:
        raise InvalidCommand("cancel must be true (omit it to schedule)", field="cancel")
    rest = {k: v for k, v in doc.items() if k != kind}
    return kind, value, rest


def handle_schedule_request(
    raw: str | bytes | Mapping[str, Any],
    deps: ScheduleDeps,
    now: datetime,
    *,
    message_id: str | None = None,
    receive_count: int | None = None,
    guard: GuardHandler | None = None,
) -> dict[str, Any]:
    """Apply one request. Returns the outcome: an invalid request is recorded as rejected and returned. Any
    other failure (an AWS error, or a bug) is recorded with its reason, then raised for the queue to retry.
    `guard` handles the cost guard's requests (without it they are refused). A copy of a request whose other
    copy is publishing its outcome right now (`PublishInProgress`) is raised with no failure note: nothing failed,
    and by its next receive the other copy has published (`handed_back`)."""
    try:
        return _apply(raw, deps, now, guard)
    except InvalidCommand as exc:
        return _reject(raw, exc, deps, now)
    except Exception as exc:
        if not handed_back(exc):
            _note_failure(raw, exc, deps, now, message_id, receive_count)
        raise


def handed_back(exc: BaseException) -> bool:
    """The ledger handed this copy back: another copy of the same request holds its publishing lease."""
    return isinstance(exc, LivectlError) and exc.code == PUBLISH_IN_PROGRESS


def _apply(
    raw: str | bytes | Mapping[str, Any], deps: ScheduleDeps, now: datetime, guard: GuardHandler | None
) -> dict[str, Any]:
    doc = contract.decode(raw)
    if isinstance(doc, dict) and doc.get("list") is True:
        if len(doc) != 1:
            raise InvalidCommand('a list request is exactly {"list": true}', field="list")
        return {"status": "listed", "schedules": [s.as_dict() for s in deps.scheduler.list()]}
    if isinstance(doc, dict) and GUARD_KEY in doc:
        if guard is None:
            raise InvalidCommand("guard requests go to the schedule manager", field="guard")
        return guard(doc, deps, now)
    kind, value, rest = split_request(doc)
    command = contract.parse_command(rest)
    if command.name not in STOP_ACTIONS:
        raise InvalidCommand(
            f"only stop actions can be scheduled ({', '.join(sorted(STOP_ACTIONS))}), got {command.name}",
            field="action",
        )
    if kind == "cancel":
        return _cancel(command, deps, now)
    when = resolve_when(at=value if kind == "at" else None, after=value if kind == "after" else None, now=now)
    return _schedule(command, when, deps, now)


def _schedule(command: contract.Command, when: datetime, deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    request = build_schedule_request(command.as_dict(), command.task_id, when, deps.target)
    name = request["Name"]
    outcome = deps.scheduler.put(request)  # "created" or "moved"
    at = to_utc(when).isoformat()
    scheduled_id = command_id(name, when)
    detail = {
        "action": command.name,
        "task_id": command.task_id,
        "provider": command.provider,
        "account": command.account,
        "at": at,
        "schedule": name,
        "moved": outcome == "moved",
        "command_id": scheduled_id,
        **({"via": command.via} if command.via else {}),
    }
    _note_and_publish(command, deps, now, f"schedule:{scheduled_id}", "Stop Scheduled", detail, outcome)
    return {"status": outcome, **detail}


def _cancel(command: contract.Command, deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    name = schedule_name(command.name, command.account, command.task_id)
    existed = deps.scheduler.cancel(name)
    detail = {
        "action": command.name,
        "task_id": command.task_id,
        "provider": command.provider,
        "account": command.account,
        "schedule": name,
        "existed": existed,
    }
    outcome = "cancelled" if existed else "not_scheduled"
    _note_and_publish(command, deps, now, f"cancel:{name}:{iso(now)}", "Stop Cancelled", detail, outcome)
    return {"status": outcome, **detail}


def _note_and_publish(
    command: contract.Command,
    deps: ScheduleDeps,
    now: datetime,
    key: str,
    detail_type: str,
    detail: Mapping[str, Any],
    outcome: str,
) -> None:
    """Ledger first, event second, then mark published: a redelivery after a crash publishes at most once more."""
    pk = task_pk(command.provider, command.task_id)
    fields = {
        "kind": "schedule",
        "action": command.name,
        "outcome": outcome,
        "account": command.account,
        "schedule": detail.get("schedule"),
        "scheduled_for": detail.get("at"),
        "command_id": detail.get("command_id"),
    }
    deps.ledger.record_and_publish(Entry(pk, now, key, fields, detail_type, detail), deps.publisher, now=now)


def _reject(
    raw: str | bytes | Mapping[str, Any], exc: InvalidCommand, deps: ScheduleDeps, now: datetime
) -> dict[str, Any]:
    """Recorded under REJECTED#<day> and published once. What it repeats from the request is bounded, so a
    rejection of any request fits a ledger item and an event."""
    key = _digest(raw)
    field, reason = clip(exc.field, NAME_BYTES), clip(exc.message)
    detail = {"error_code": "InvalidCommand", "reason": reason, "field": field, "source": "schedule"}
    fields = {"kind": "schedule", "outcome": "rejected", **detail}
    deps.ledger.record_and_publish(Entry.rejection(now, key, fields, detail), deps.publisher, now=now)
    return {"status": "rejected", "error": "InvalidCommand", "message": reason, "field": field}


def _note_failure(
    raw: str | bytes | Mapping[str, Any],
    exc: Exception,
    deps: ScheduleDeps,
    now: datetime,
    message_id: str | None,
    receive_count: int | None,
) -> None:
    """Record why a request failed for a reason other than its content, before it goes back to the queue.

    An AWS error may clear on a retry; an exception livectl does not know is a bug that a retry cannot fix. Both
    are retried anyway (an unknown exception may be transient, and after maxReceiveCount the DLQ keeps the
    request for a redrive once the bug is fixed), but neither is silent: each attempt leaves an `error` item
    with its reason under REJECTED#<day>, so no message sits in the DLQ without one. Nothing is published:
    the request is not settled yet.
    """
    bug = not isinstance(exc, LivectlError)
    code = (exc.code if isinstance(exc, LivectlError) else None) or type(exc).__name__
    fields = {
        "kind": "schedule",
        "outcome": "error",
        "error_code": clip(code, NAME_BYTES),
        "reason": clip(f"livectl bug, {type(exc).__name__}: {_text(exc)}" if bug else _text(exc)),
        "retryable": not bug,
        "source": "schedule",
        "message_id": message_id,
        "receive_count": receive_count,
    }
    key = f"{_digest(raw)}#error#{receive_count or 0}"
    try:
        deps.ledger.record_rejection(now, key, fields)
    except Exception:  # the ledger failing too must not hide the first error, which is re-raised
        return


def _digest(raw: str | bytes | Mapping[str, Any]) -> str:
    """sha256 of the request: the rejection's key, stable across redeliveries. Never raises."""
    if isinstance(raw, bytes):
        data = raw
    elif isinstance(raw, str):
        data = raw.encode("utf-8", "surrogatepass")
    else:
        try:
            data = json.dumps(raw, sort_keys=True, default=str).encode("utf-8")
        except (ValueError, TypeError, RecursionError):  # keys of mixed types, or nested past the stack
            data = repr(type(raw)).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _text(exc: Exception) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ fails still deserves a record
        return type(exc).__name__
