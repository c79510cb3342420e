"""What happens after the provider call (or instead of it): ONE recorder, driven by a `Verdict`
(`livectl.control.verdict`): ledger, outcome event, metrics, log. Safe to repeat; runs on the record's worker
thread.

AWS calls per outcome (docs/DESIGN.md, "AWS calls per command"): STATE + command item in one TransactWriteItems,
PutEvents, then the `published` mark (`Ledger.record_and_publish`; a duplicate arriving while the first copy
publishes is handed back, see its publishing lease). A failure for good adds its FAILED#<day>
item to that transaction; a retry writes a STATE note and its FAILED#<day> item, and publishes nothing.

Metrics: each outcome counts into the record's `CommandMetrics`; `process_command` adds them to the invocation's
metric set under one lock when the record is done (`livectl.control.metrics`).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from livectl.command import Command
from livectl.control import metrics as cm
from livectl.control.container import Container
from livectl.control.metrics import CommandMetrics
from livectl.control.verdict import Verdict
from livectl.errors import AwsServiceError, LivectlError
from livectl.store.ledger import PUBLISH_IN_PROGRESS, PUBLISH_LEASE

# Powertools' Metrics instances share one metric set per process. An invocation counts into an EphemeralMetrics
# of its own instead (control.invocation_metrics): functions sharing a process (the local stack) or overlapping
# invocations never flush, clear or relabel each other's values. This one is the sink of process_command
# called on its own (tests).
metrics = Metrics()
_loggers: dict[str, Logger] = {}
_loggers_lock = threading.Lock()

METRICS = {
    "done": cm.APPLIED,
    "already_done": cm.ALREADY_DONE,
    "failed": cm.FAILED,
    "retrying": cm.RETRIED,
    "stale": cm.STALE,
    "rejected": cm.REJECTED,
}
LOG_LINES = {  # (level, message) per kind of outcome
    "done": ("info", "command applied"),
    "already_done": ("info", "command applied"),
    "failed": ("warning", "command failed for good"),
    "retrying": ("warning", "command failed transiently; handed back to the queue"),
    "stale": ("warning", "stale command dropped"),
    "rejected": ("warning", "command rejected"),
}


def log(service: str = "") -> Logger:
    """A child of the handler's Logger (`<service>.<module>`), one per service, made on first use. The service is
    the function's own (`Settings.service`, read with the function's env): where one process runs many functions
    without POWERTOOLS_SERVICE_NAME in its own env (the local stack), a child named after the process env would
    hang under no handler and its lines would vanish. Its level follows that Logger's. Empty: the process env's,
    as Powertools reads it for a handler's Logger (looked up each time: a Logger made under another env must not
    answer for this one)."""
    name = service or os.environ.get("POWERTOOLS_SERVICE_NAME", "")
    with _loggers_lock:
        found = _loggers.get(name)
        if found is None:
            found = _loggers[name] = Logger(service=name or None, child=True)
            # Its level is its parent's (the function's Logger), not this process env's: in Lambda both read the
            # same env; in the local stack the functions' Loggers are quiet and the process env says nothing.
            logging.getLogger(found.name).setLevel(logging.NOTSET)
        return found


def log_keys(command: Command, **more: Any) -> dict[str, Any]:
    """A log line's keys about the command. The record's `message_id` is not among them: `livectl.control.batch`
    appends it to the Logger for the whole record (`thread_safe_append_keys`), so every line of that record
    carries it, deeper modules' too, and no other record's line does."""
    keys = {"action": command.name, "task_id": command.task_id, "account": command.account, "key": command.key}
    keys.update({k: v for k, v in more.items() if v is not None})
    return keys


def record(
    box: Container, verdict: Verdict, counted: CommandMetrics, lease: timedelta = PUBLISH_LEASE
) -> dict[str, Any]:
    """Record one verdict: a settled outcome as its command item (with the task's STATE) under a publishing lease
    of `lease` (how long this invocation may still run), then its event, then the published mark; a retry as a
    note. Returns the command's summary (a retry returns an empty one: its caller raises, to hand the record
    back). A copy of a command whose other copy is publishing right now is handed back (`PublishInProgress`)."""
    if verdict.outcome.detail_type is None:
        counted.count(METRICS[verdict.kind])
        _log(verdict, box.settings.service)
        _note(box, verdict)
        return {}
    try:
        first = box.ledger.record_and_publish(verdict.entry(), box.publisher, now=box.now(), lease=lease)
    except AwsServiceError as exc:
        if exc.code == PUBLISH_IN_PROGRESS:
            counted.count(cm.RETRIED)
            keys = log_keys(verdict.command) if verdict.command is not None else {"key": verdict.key}
            log(box.settings.service).info("outcome being published by another copy; handed back", extra=keys)
        raise
    counted.count(METRICS[verdict.kind])
    if first and verdict.late:  # a redelivered duplicate is not a second stop
        counted.lateness(verdict.late["lateness_ms"])
    if first and verdict.kind == "done" and verdict.command is not None and verdict.command.via == "guard":
        counted.count(cm.GUARD_FIRED)  # the guard stopped what outlived its budget
    _log(verdict, box.settings.service)
    return verdict.summary()


def _note(box: Container, verdict: Verdict) -> None:
    """A transient failure: note the reason on the task (without overwriting a settled state) and under
    FAILED#<day> (`livectl status`, `livectl dlq`). A ledger failure here must not hide the provider's."""
    command, fields, failure = verdict.command, verdict.state_fields(), verdict.failure()
    assert command is not None and fields is not None and failure is not None
    try:
        box.ledger.update_state(
            command.provider, command.task_id, verdict.at, fields, keep_state=verdict.outcome.keep_state
        )
        box.ledger.record_failure(verdict.at, command.key, failure)
    except LivectlError:
        log(box.settings.service).warning("ledger note failed", extra=log_keys(command))


def _log(verdict: Verdict, service: str) -> None:
    level, message = LOG_LINES[verdict.kind]
    command = verdict.command
    if command is None:
        keys = {"action": verdict.action, "field": verdict.field, "reason": verdict.reason, "key": verdict.key}
    else:
        state = verdict.state if verdict.kind in ("done", "already_done") else None
        code = verdict.code if verdict.kind in ("failed", "retrying") else None
        keys = log_keys(
            command, outcome=verdict.kind, state=state, error_code=code, receive_count=verdict.receive_count
        )
    getattr(log(service), level)(message, extra=keys)


def ended_before_the_guard(box: Container, command: Command) -> bool:
    """A guard's stop fires only for a task still running as far as its callbacks tell (one ledger read, for
    guard commands only). A disarmed guard has no schedule left; this covers the race of a firing schedule and
    an end callback in flight."""
    state = box.ledger.get_state(command.provider, command.task_id) or {}
    return "guard_ended_ms" in state
