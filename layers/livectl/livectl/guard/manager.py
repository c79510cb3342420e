"""The cost guard, part 2: the state machine the schedule manager runs for guard signals and operator requests.

A guard rides on the ordinary auto-stop: its schedule is the task's stop schedule (same name, so `livectl
schedules`, `schedule-stop` and `cancel-stop` see and move it) whose command carries `"via": "guard"`.

State lives in the task's ledger STATE item (`guard_*` fields), changed only by conditional writes, so every
request is safe to repeat and the order of arrival does not matter:

    (none) --arm--> arming --schedule created--> armed --end / guard off--> disarmed
       |              |--an auto-stop already set--> existing          armed --fired--> fired (control)
       |              `--ended meanwhile--> ended (schedule removed again)
       `--end--> guard_ended_ms set: a later (or retried) arm is refused, so a 302 before its 301 arms nothing
    app's guard off --> off

Requests (schedule manager queue or direct invocation):
- `{"guard": "arm" | "end", "kind", "task_id", "sdk_app_id", "at_ms", "event_type"}` from the webhook;
- `{"guard": "extend", "task_id", "by": "2h"}` and `{"guard": "off", "task_id"}` from `livectl guard`.
Events: `Guard Armed` and `Guard Disarmed`, each published once (ledger item first, event, then the mark).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from livectl import aws
from livectl import command as contract
from livectl.errors import InvalidCommand
from livectl.guard.policy import KIND_ACTIONS, GuardPolicy
from livectl.schedules.requests import ScheduleDeps, handle_schedule_request
from livectl.schedules.scheduler import MAX_HORIZON, build_schedule_request, parse_duration, schedule_name, to_utc
from livectl.store.codec import to_av
from livectl.store.ledger import Entry
from livectl.store.table import CONDITION_FAILED, STATE_SK, iso, read_item, task_pk

PROVIDER = "trtc"
MIN_LEAD = timedelta(seconds=5)  # a guard whose budget has already run out (a late 301) fires this soon


class GuardState:
    """Conditional writes to the guard fields of a TRTC task's STATE item. Raises only livectl errors."""

    def __init__(self, deps: ScheduleDeps) -> None:
        self.ledger = deps.ledger
        self.table = deps.ledger.table_name
        self.client = deps.ledger.client

    def _update(
        self, task_id: str, sets: Mapping[str, Any], condition: str = "", ended_ms: int | None = None, **values: Any
    ) -> dict[str, Any] | None:
        """SET `sets` (and guard_ended_ms once) if `condition` holds; the new item, or None if it did not hold."""
        names = {f"#g{i}": name for i, name in enumerate(sets)}
        placeholders = {f":g{i}": to_av(value) for i, value in enumerate(sets.values())}
        clauses = [f"#g{i} = :g{i}" for i in range(len(sets))]
        if ended_ms is not None:
            names["#ended"], placeholders[":ended"] = "guard_ended_ms", to_av(ended_ms)
            clauses.append("#ended = if_not_exists(#ended, :ended)")
        for placeholder, attribute in (("#status", "guard_status"), ("#ended", "guard_ended_ms")):
            if placeholder in condition:
                names[placeholder] = attribute
        placeholders.update({f":{k}": to_av(v) for k, v in values.items()})
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": to_av(task_pk(PROVIDER, task_id)), "sk": to_av(STATE_SK)},
            "UpdateExpression": "SET " + ", ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": placeholders,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            request["ConditionExpression"] = condition
        try:
            return read_item(self.client.update_item(**request).get("Attributes", {}))
        except Exception as exc:
            if aws.error_code(exc) == CONDITION_FAILED:
                return None
            raise aws.aws_error(exc, "ledger UpdateItem guard") from exc

    def begin_arm(self, task_id: str, fields: Mapping[str, Any]) -> bool:
        """Claim the arming: only while no end has been seen and no guard exists (or a crashed arming is resumed)."""
        condition = "attribute_not_exists(#ended) AND (attribute_not_exists(#status) OR #status = :arming)"
        return self._update(task_id, {**fields, "guard_status": "arming"}, condition, arming="arming") is not None

    def move(
        self, task_id: str, expected: str, new: str, fields: Mapping[str, Any] | None = None, running: bool = False
    ) -> bool:
        """guard_status `expected` -> `new` (with `fields`); with `running`, only while no end has been seen."""
        condition = "#status = :expected" + (" AND attribute_not_exists(#ended)" if running else "")
        return self._update(task_id, {**(fields or {}), "guard_status": new}, condition, expected=expected) is not None

    def mark_ended(self, task_id: str, ended_ms: int, event_type: int) -> dict[str, Any]:
        """Note the end (the first one's time stays). Unconditional: an end always counts."""
        return self._update(task_id, {"guard_end_event": event_type}, ended_ms=ended_ms) or {}

    def get(self, task_id: str) -> dict[str, Any]:
        return self.ledger.get_state(PROVIDER, task_id) or {}


# ------------------------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------------------------
def handle_guard_request(doc: Mapping[str, Any], deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    kind = doc.get("guard")
    handlers = {"arm": _arm, "end": _end, "extend": _extend, "off": _off}
    if kind not in handlers:
        raise InvalidCommand(f"guard must be one of {', '.join(handlers)}, got {kind!r}", field="guard")
    if deps.guard is None:
        raise InvalidCommand("the cost guard is not configured (GUARD_PARAMETER_PATH)", field="guard")
    return handlers[str(kind)](doc, deps, now)


def _text(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidCommand(f"{name} must be a non-empty string of at most 256 characters", field=name)
    return value


def _number(doc: Mapping[str, Any], name: str) -> int:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 10**15:
        raise InvalidCommand(f"{name} must be a non-negative integer, got {value!r}", field=name)
    return value


def _signal(doc: Mapping[str, Any]) -> tuple[str, str, int, int, int]:
    kind = doc.get("kind")
    if kind not in KIND_ACTIONS:
        raise InvalidCommand(f"kind must be one of {', '.join(KIND_ACTIONS)}, got {kind!r}", field="kind")
    return (
        str(kind),
        _text(doc, "task_id"),
        _number(doc, "sdk_app_id"),
        _number(doc, "at_ms"),
        _number(doc, "event_type"),
    )


def guard_command(kind: str, task_id: str, sdk_app_id: int, policy: GuardPolicy) -> contract.Command:
    """The stop a guard schedules, validated like any command (a Region the action does not take is refused)."""
    params = {"SdkAppId": sdk_app_id, "TaskId": task_id, "Region": policy.region}
    doc = {"action": KIND_ACTIONS[kind], "params": params, "account": policy.account, "via": "guard"}
    return contract.parse_command(doc)


def _arm(doc: Mapping[str, Any], deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    kind, task_id, sdk_app_id, started_ms, _ = _signal(doc)
    assert deps.guard is not None
    state = GuardState(deps)
    policy = deps.guard.for_app(sdk_app_id)
    if not policy.enabled:
        off = state.begin_arm(task_id, {"guard_sdk_app_id": sdk_app_id}) and state.move(task_id, "arming", "off")
        return {"status": "off" if off else "skipped", "task_id": task_id, "sdk_app_id": sdk_app_id}
    command = guard_command(kind, task_id, sdk_app_id, policy)
    started = datetime.fromtimestamp(started_ms / 1000, UTC)
    when = max(started + policy.budget(kind), now + MIN_LEAD).replace(microsecond=0) + timedelta(seconds=1)
    when = min(when, now + MAX_HORIZON - timedelta(minutes=1))
    name = schedule_name(command.name, command.account, task_id)
    fields = {
        "guard_action": command.name,
        "guard_schedule": name,
        "guard_at": iso(when),
        "guard_account": command.account,
        "guard_sdk_app_id": sdk_app_id,
        "guard_started_ms": started_ms,
        "guard_kind": kind,
    }
    if not state.begin_arm(task_id, fields):
        return _already(state, deps, task_id, now)
    existing = deps.scheduler.get(name)
    if existing is not None and existing.command.get("via") != "guard":
        state.move(task_id, "arming", "existing")  # an auto-stop already set for the task is not overridden
        return {"status": "existing", "task_id": task_id, "schedule": name}
    if existing is None:
        request = build_schedule_request(command.as_dict(), task_id, when, deps.target)
        if not deps.scheduler.create(request):  # someone scheduled a stop in between: theirs stands
            state.move(task_id, "arming", "existing")
            return {"status": "existing", "task_id": task_id, "schedule": name}
    if not state.move(task_id, "arming", "armed", running=True):
        # The end arrived while we were arming: take the schedule back; nothing was announced.
        deps.scheduler.cancel(name)
        state.move(task_id, "arming", "ended")
        return {"status": "ended", "task_id": task_id, "schedule": name}
    detail = _detail(state.get(task_id), "armed")
    _publish_once(deps, now, task_id, when, f"guard-armed:{name}", "Guard Armed", detail)
    return {"status": "armed", "task_id": task_id, "schedule": name, "at": to_utc(when).isoformat()}


def _already(state: GuardState, deps: ScheduleDeps, task_id: str, now: datetime) -> dict[str, Any]:
    """A repeated arm (or one after the end): nothing to do but make sure an armed guard was announced."""
    current = state.get(task_id)
    status = current.get("guard_status")
    if status == "armed":
        at = datetime.fromisoformat(str(current["guard_at"]))
        name = current["guard_schedule"]
        _publish_once(deps, now, task_id, at, f"guard-armed:{name}", "Guard Armed", _detail(current, "armed"))
    reason = "ended" if "guard_ended_ms" in current else status
    return {"status": "skipped", "task_id": task_id, "guard": reason}


def _end(doc: Mapping[str, Any], deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    _, task_id, _, ended_ms, event_type = _signal(doc)
    state = GuardState(deps)
    current = state.mark_ended(task_id, ended_ms, event_type)
    return _disarm(state, deps, task_id, current, "ended", datetime.fromtimestamp(ended_ms / 1000, UTC), now)


def _disarm(
    state: GuardState,
    deps: ScheduleDeps,
    task_id: str,
    current: Mapping[str, Any],
    reason: str,
    at: datetime,
    now: datetime,
) -> dict[str, Any]:
    status = current.get("guard_status")
    if status not in ("armed", "disarmed"):
        return {"status": "not_armed", "task_id": task_id, "guard": status}
    name = str(current.get("guard_schedule"))
    if status == "armed":
        found = deps.scheduler.get(name)
        if found is not None and found.command.get("via") == "guard":  # an operator's own schedule stays
            deps.scheduler.cancel(name)
        state.move(task_id, "armed", "disarmed", {"guard_disarmed_at": iso(at), "guard_disarm_reason": reason})
        current = state.get(task_id)
    if current.get("guard_status") == "disarmed":  # announce once (also after a crash right after the move)
        when = datetime.fromisoformat(str(current.get("guard_disarmed_at") or iso(at)))
        detail = _detail(current, "disarmed")
        _publish_once(deps, now, task_id, when, f"guard-disarmed:{name}", "Guard Disarmed", detail)
    return {"status": "disarmed", "task_id": task_id, "schedule": name, "reason": current.get("guard_disarm_reason")}


def _armed_guard(state: GuardState, deps: ScheduleDeps, task_id: str) -> tuple[dict[str, Any], Any]:
    current = state.get(task_id)
    found = deps.scheduler.get(str(current["guard_schedule"])) if current.get("guard_status") == "armed" else None
    if found is None or found.command.get("via") != "guard":
        raise InvalidCommand(
            f"no armed guard for task {task_id} (guard {current.get('guard_status') or 'never armed'}; it may have "
            "fired, been disarmed, or been replaced by an operator's auto-stop)",
            field="task_id",
        )
    return current, found


def _extend(doc: Mapping[str, Any], deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    task_id = _text(doc, "task_id")
    try:
        by = parse_duration(doc.get("by"))
    except InvalidCommand:
        raise InvalidCommand(f"by must be a duration like 2h or 30m, got {doc.get('by')!r}", field="by") from None
    state = GuardState(deps)
    _, found = _armed_guard(state, deps, task_id)
    assert found.at is not None
    when = found.at + by
    command = {k: v for k, v in found.command.items() if k not in ("id", "not_after")}
    result = handle_schedule_request({**command, "at": when.isoformat()}, deps, now)
    if result.get("status") == "rejected":
        raise InvalidCommand(str(result.get("message") or "the move was refused"), field="by")
    state.move(task_id, "armed", "armed", {"guard_at": iso(when)})
    return {**result, "status": "extended", "task_id": task_id, "at": to_utc(when).isoformat()}


def _off(doc: Mapping[str, Any], deps: ScheduleDeps, now: datetime) -> dict[str, Any]:
    task_id = _text(doc, "task_id")
    state = GuardState(deps)
    current, _ = _armed_guard(state, deps, task_id)
    return _disarm(state, deps, task_id, current, "operator", now, now)


# ------------------------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------------------------
def _detail(state: Mapping[str, Any], status: str) -> dict[str, Any]:
    detail = {
        "action": state.get("guard_action"),
        "task_id": state.get("task_id") or None,
        "provider": PROVIDER,
        "account": state.get("guard_account"),
        "sdk_app_id": state.get("guard_sdk_app_id"),
        "kind": state.get("guard_kind"),
        "schedule": state.get("guard_schedule"),
        "at": state.get("guard_at"),
        "started_ms": state.get("guard_started_ms"),
        "guard": status,
        "reason": state.get("guard_disarm_reason") if status == "disarmed" else None,
        "ended_ms": state.get("guard_ended_ms"),
    }
    return {k: v for k, v in detail.items() if v is not None}


def _publish_once(
    deps: ScheduleDeps, now: datetime, task_id: str, at: datetime, key: str, detail_type: str, detail: dict[str, Any]
) -> None:
    pk = task_pk(PROVIDER, task_id)
    detail = {**detail, "task_id": task_id}
    fields = {"kind": "guard", "action": detail.get("action"), "outcome": detail_type}
    fields["schedule"] = detail.get("schedule")
    deps.ledger.record_and_publish(Entry(pk, at, key, fields, detail_type, detail), deps.publisher, now=now)
