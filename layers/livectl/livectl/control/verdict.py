"""What became of one command, as data: a `Verdict`, from which the task's STATE fields, the command item, the
FAILED#<day> item and the outcome event are all derived (`livectl.control.outcomes` records them).

Two kinds of data decide what a verdict leaves behind:
- the action's catalogue entry (`Action.outcomes`, livectl.providers.catalogue): for each kind of outcome, the
  task's ledger `state` and the event's detail-type;
- the tables below: which facts each record carries, one row per kind of outcome. An event's keys keep the
  row's order; a key the verdict does not know is left out (`via` on a command without one, a stop's lateness).

Kinds: `done` and `already_done` (the provider call settled it), `failed` (refused for good), `retrying` (a
transient failure handed back to the queue: a note, no event), `stale` (arrived after `not_after`) and
`rejected` (invalid: recorded under REJECTED#<day>).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from datetime import datetime
from typing import Any

from livectl.bounds import NAME_BYTES, clip, clip_json
from livectl.command import Command
from livectl.errors import LivectlError
from livectl.providers.catalogue import ACTIONS, DEFAULT_OUTCOMES, Outcome, PullRecordStatus
from livectl.store.ledger import Entry
from livectl.store.table import iso, task_pk

APPLIED = ("done", "already_done")
FAILURES = ("failed", "retrying")  # a failed attempt: FAILED#<day> item, `last_error_*` on the task
REPORTS = "<the outcome's reports>"  # where an event row takes `Outcome.reports` (a query's status)

_TASK = ("action", "task_id", "provider", "account", "command_id", "at", "via")  # what an event says of a task
DETAIL_KEYS: dict[str, tuple[str, ...]] = {
    "done": (*_TASK, "outcome", "request_id", "error_code", REPORTS, "lateness_ms", "late_from"),
    "already_done": (*_TASK, "outcome", "request_id", "error_code", REPORTS, "lateness_ms", "late_from"),
    "failed": (*_TASK, "outcome", "request_id", "error_code", "reason"),
    "stale": (*_TASK, "outcome", "reason", "field"),
    "rejected": ("action", "command_id", "message_id", "outcome", "field", "reason", "at"),
}
# The event's `command_id` is the command's id, or its key when it has none; the items keep the id alone.
_DETAIL_SOURCES = {"command_id": "reported_id"}

_COMMAND = ("action", "account", "command_key", "command_id")
_APPLIED_ITEM = ("via", "params", "outcome", "state", "error_code", "request_id", "provider_calls")
ITEM_KEYS: dict[str, tuple[str, ...]] = {  # a command item (a field without a value is not written)
    "done": (*_COMMAND, *_APPLIED_ITEM, "provider_status", "message_id", "lateness_ms", "late_from"),
    "already_done": (*_COMMAND, *_APPLIED_ITEM, "provider_status", "message_id", "lateness_ms", "late_from"),
    "failed": (*_COMMAND, "params", "outcome", "error_code", "request_id", "reason", "message_id"),
    "stale": (*_COMMAND, "params", "outcome", "reason", "not_after", "message_id"),
    "rejected": ("action", "outcome", "field", "reason", "body_sha256", "command_id", "message_id"),
}

_STATE = ("state", "kind", "provider", "task_id", "account", "last_action", "last_outcome", "last_request_id")
_LAST = ("last_command_key", "last_error_code", "last_error_reason")
STATE_KEYS: dict[str, tuple[str, ...]] = {  # the task's STATE item (a field known to be empty is removed)
    "done": (*_STATE, *_LAST, "provider_status", "guard_status"),
    "already_done": (*_STATE, *_LAST, "provider_status", "guard_status"),
    "failed": (*_STATE, *_LAST),
    "retrying": (*_STATE, *_LAST, "receive_count"),
}
FAILURE_KEYS = (  # a FAILED#<day> item
    "action",
    "provider",
    "task_id",
    "account",
    "outcome",
    "error_code",
    "reason",
    "request_id",
    "receive_count",
)
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {  # what the invocation answers (a direct Scheduler invocation)
    "done": ("outcome", "state", "task_id", "request_id"),
    "already_done": ("outcome", "state", "task_id", "request_id"),
    "failed": ("outcome", "task_id", "error_code", "reason"),
    "stale": ("outcome", "task_id", "reason"),
    "rejected": ("outcome", "field", "reason"),
}


@dataclass(frozen=True)
class Verdict:
    """One command's outcome: its kind, the command (None when it did not parse), when, and what the provider or
    the validation said. Every text from outside is bounded (`livectl.bounds`) before it gets here."""

    kind: str  # done | already_done | failed | retrying | stale | rejected
    action: str
    at: datetime
    command: Command | None = None
    code: str | None = None  # the provider's error code, or the code that said "already done"
    request_id: str | None = None
    reason: str | None = None
    field: str | None = None
    result: Mapping[str, Any] = default(default_factory=dict)  # the provider call's outcome (task_status, calls)
    late: Mapping[str, Any] = default(default_factory=dict)  # a stop's lateness_ms and late_from
    message_id: str | None = None
    receive_count: int | None = None
    key: str | None = None  # a rejection's key (message id or body digest); else the command's
    extra: Mapping[str, Any] = default(default_factory=dict)  # a rejection's body_sha256 and peeked id

    # -- from the catalogue -----------------------------------------------------------------------------
    @property
    def outcome(self) -> Outcome:
        entry = ACTIONS.get(self.action)
        return (entry.outcomes if entry else DEFAULT_OUTCOMES)[self.kind]

    @property
    def state(self) -> str | None:
        outcome = self.outcome
        raw = self.result.get("task_status")
        if outcome.by_status is not None and isinstance(raw, str):
            return outcome.by_status.get(raw, outcome.state)
        return outcome.state

    # -- derived records --------------------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        """Everything this verdict knows, under the names the records use."""
        known: dict[str, Any] = {"action": self.action, "outcome": self.kind, "at": iso(self.at), **self.extra}
        known.update(field=self.field, reason=self.reason, message_id=self.message_id, state=self.state)
        known.update(request_id=self.request_id, error_code=self.code, **self.late)
        if self.command is not None:
            known.update(_command_facts(self.command))
        failure = self.kind in FAILURES
        known.update(
            last_action=self.action,
            last_outcome=self.kind,
            last_request_id=self.request_id,
            last_error_code=self.code if failure else None,
            last_error_reason=self.reason if failure else None,
            receive_count=self.receive_count,
        )
        raw = self.result.get("task_status")
        status = clip(raw, NAME_BYTES) if isinstance(raw, str) else raw  # the provider's text, bounded
        known.update(status=status, status_name=PullRecordStatus.parse(raw if isinstance(raw, str) else None).name)
        known.update(provider_status=status if isinstance(raw, str) else None)
        known["provider_calls"] = self.result.get("provider_calls")
        return known

    def detail(self) -> dict[str, Any]:
        facts = self.facts()
        keys: list[str] = []
        for name in DETAIL_KEYS[self.kind]:
            keys.extend(self.outcome.reports if name == REPORTS else (name,))
        sources = {name: _DETAIL_SOURCES.get(name, name) for name in keys}
        return {name: facts[source] for name, source in sources.items() if source in facts}

    def item(self) -> dict[str, Any]:
        facts = self.facts()
        return {name: facts[name] for name in ITEM_KEYS[self.kind] if facts.get(name) is not None}

    def state_fields(self) -> dict[str, Any] | None:
        """The task's STATE fields (None: removed), or None when this outcome leaves the task's state alone."""
        if self.outcome.state is None or self.command is None:
            return None
        facts = self.facts()
        return {name: facts[name] for name in STATE_KEYS[self.kind] if name in facts}

    def failure(self) -> dict[str, Any] | None:
        """What FAILED#<day> keeps of a failed attempt (`livectl status`, `livectl dlq`)."""
        if self.kind not in FAILURES:
            return None
        facts = self.facts()
        return {name: facts.get(name) for name in FAILURE_KEYS}

    def entry(self) -> Entry:
        """The ledger entry of a settled outcome: command item (+ STATE, + FAILED#<day>) and its event."""
        detail_type = self.outcome.detail_type
        assert detail_type is not None, "a retry is not settled: it has no entry"
        if self.command is None:
            return Entry.rejection(self.at, str(self.key), self.item(), self.detail())
        pk = task_pk(self.command.provider, self.command.task_id)
        return Entry(
            pk,
            self.at,
            self.command.key,
            self.item(),
            detail_type,
            self.detail(),
            state=self.state_fields(),
            keep_state=self.outcome.keep_state,
            failure=self.failure(),
        )

    def summary(self) -> dict[str, Any]:
        """What the invocation answers for this command (a direct Scheduler invocation returns it)."""
        facts = self.facts()
        return {name: facts.get(name) for name in SUMMARY_KEYS[self.kind]}

    @property
    def task_id(self) -> str | None:
        return self.command.task_id if self.command is not None else None


def _command_facts(command: Command) -> dict[str, Any]:
    facts = {
        "task_id": command.task_id,
        "provider": command.provider,
        "account": command.account,
        "kind": command.action.kind,
        "command_key": command.key,
        "last_command_key": command.key,
        "command_id": command.id,
        "reported_id": command.id or command.key,
        "params": clip_json(command.params),
    }
    if command.via is not None:
        facts["via"] = command.via  # "guard": the cost guard's auto-stop
        if command.via == "guard":
            facts["guard_status"] = "fired"
    if command.not_after is not None:
        facts["not_after"] = command.not_after.isoformat()
    return facts


# ------------------------------------------------------------------------------------------------------------
# Verdicts, one constructor per way a command ends
# ------------------------------------------------------------------------------------------------------------
def applied(command: Command, outcome: Mapping[str, Any], message_id: str | None, sent_at: datetime | None) -> Verdict:
    """The provider call settled it (`outcome` is its stored result: status done | already_done)."""
    at = datetime.fromisoformat(outcome["at"])
    return Verdict(
        outcome["status"],
        command.name,
        at,
        command,
        code=clip(outcome.get("error_code"), NAME_BYTES),
        request_id=clip(outcome.get("request_id"), NAME_BYTES),
        result=outcome,
        late=lateness(command, at, sent_at),
        message_id=message_id,
    )


def failed(command: Command, exc: LivectlError, now: datetime, message_id: str | None) -> Verdict:
    """A refusal for good: recorded, reported, never retried."""
    return _failure("failed", command, exc, now, message_id, None)


def retrying(
    command: Command, exc: LivectlError, now: datetime, message_id: str | None, receive_count: int | None
) -> Verdict:
    """A transient failure that outlived the in-invocation retries: noted, then handed back to the queue."""
    return _failure("retrying", command, exc, now, message_id, receive_count)


def _failure(
    kind: str, command: Command, exc: LivectlError, now: datetime, message_id: str | None, receives: int | None
) -> Verdict:
    # The provider's code, request id and message are foreign text: bounded before they are stored or published.
    return Verdict(
        kind,
        command.name,
        now,
        command,
        code=clip(exc.code, NAME_BYTES),
        request_id=clip(exc.request_id, NAME_BYTES),
        reason=clip(exc.message),
        message_id=message_id,
        receive_count=receives,
    )


def stale(command: Command, now: datetime, message_id: str | None) -> Verdict:
    assert command.not_after is not None
    reason = f"arrived at {iso(now)}, after not_after {command.not_after.isoformat()}; dropped"
    return Verdict("stale", command.name, now, command, reason=reason, field="not_after", message_id=message_id)


def rejected(
    body: str | bytes | Mapping[str, Any],
    field: str | None,
    reason: str,
    now: datetime,
    action: str,
    message_id: str | None,
) -> Verdict:
    """An invalid command. The raw body is not kept, and what the rejection repeats from it (field, reason, id)
    is bounded, so any body can be recorded."""
    raw = body if isinstance(body, str | bytes) else json.dumps(body, sort_keys=True, default=str)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw).hexdigest()
    peeked = body.get("id") if isinstance(body, Mapping) else _peek_id(raw)
    command_id = clip(peeked, NAME_BYTES) if isinstance(peeked, str) else None
    return Verdict(
        "rejected",
        action,
        now,
        field=clip(field, NAME_BYTES),
        reason=clip(reason),
        message_id=message_id,
        key=message_id or digest,
        extra={"body_sha256": digest, "command_id": command_id, "reported_id": command_id},
    )


def lateness(command: Command, done_at: datetime, sent_at: datetime | None) -> dict[str, Any]:
    """How late a stop took effect: the provider's answer minus the auto-stop's `scheduled_at`, or minus the
    time the command was sent. Empty for other verbs, or when neither time is known."""
    if command.action.verb != "stop":
        return {}
    origin, since = (command.scheduled_at, "scheduled_at") if command.scheduled_at else (sent_at, "sent")
    if origin is None:
        return {}
    return {"lateness_ms": max(0, int((done_at - origin).total_seconds() * 1000)), "late_from": since}


def _peek_id(raw: str | bytes) -> object:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc.get("id") if isinstance(doc, dict) else None
