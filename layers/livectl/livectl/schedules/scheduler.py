"""One-time auto-stop schedules on EventBridge Scheduler: pure builders and a small adapter.

A stop schedule is an `at()` schedule in the stack's schedule group that puts one stop command on the
action's SQS queue (one retry path, one rate limit, one DLQ) and deletes itself after it ran. Its name is
derived from (action, account, task id), so scheduling the same task again *moves* the schedule instead of
adding a second one. The command it delivers carries `not_after` = firing time + a grace, so a late delivery
is dropped as stale rather than stopping something hours later.

Scheduler facts the builders encode (moto does not enforce any of them, so the unit tests do):
- names are `[0-9a-zA-Z-_.]+`, at most 64 characters;
- `at(yyyy-mm-ddThh:mm:ss)` has no zone: the zone is `ScheduleExpressionTimezone`, always UTC here;
- UpdateSchedule replaces *every* field (omitted ones fall back to defaults: ActionAfterCompletion NONE,
  no DLQ, 185 retries over 24 h), so create and update send the same complete request.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from livectl import aws
from livectl.bounds import shown
from livectl.errors import InvalidCommand, PermanentProviderError
from livectl.providers.catalogue import ACTIONS

# action -> its short name in schedule names (the catalogue's `stop_stem`): the actions an auto-stop can run
STOP_ACTIONS: dict[str, str] = {a.name: a.stop_stem for a in ACTIONS.values() if a.stop_stem}
NAME_PREFIX = "stop-"
NAME_PATTERN = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
AT_PATTERN = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
DURATION_PATTERN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

DEFAULT_STALE_AFTER_SECONDS = 300
MAX_HORIZON = timedelta(days=365)
# Scheduler's own delivery retries: a few tries within the staleness grace, then the Scheduler DLQ.
RETRY_ATTEMPTS = 5
MAX_EVENT_AGE_SECONDS = 300  # Scheduler minimum is 60, maximum 86400
DESCRIPTION_MAX = 512


# --------------------------------------------------------------------------------------------------------
# Pure builders
# --------------------------------------------------------------------------------------------------------
def check_name(name: str, what: str = "schedule name") -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidCommand(f"{what} {name!r} must be 1-64 characters of [0-9a-zA-Z-_.]", field="schedule")
    return name


def schedule_name(action: str, account: str, task_id: str) -> str:
    """`stop-<short action>-<16 hex of sha256(action, account, task id)>`: same task, same name."""
    if action not in STOP_ACTIONS:
        raise InvalidCommand(
            f"action must be one of {', '.join(sorted(STOP_ACTIONS))} for an auto-stop, got {action!r}",
            field="action",
        )
    digest = hashlib.sha256(json.dumps([action, account, task_id]).encode("utf-8")).hexdigest()[:16]
    return check_name(f"{NAME_PREFIX}{STOP_ACTIONS[action]}-{digest}")


def to_utc(when: datetime, field: str = "at") -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidCommand(f"{field} must carry a UTC offset or Z, got {when.isoformat()!r}", field=field)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past datetime.max in UTC; 0001-01-01...+23:59 before min
        raise InvalidCommand(
            f"{field} {when.isoformat()!r} is outside the years 0001-9999 in UTC", field=field
        ) from None


def at_expression(when: datetime) -> str:
    """`at(YYYY-MM-DDTHH:MM:SS)` in UTC, to whole seconds (use with ScheduleExpressionTimezone="UTC")."""
    return f"at({to_utc(when).strftime('%Y-%m-%dT%H:%M:%S')})"


def parse_at_expression(expression: str, timezone: str | None = "UTC") -> datetime:
    """The firing time of an `at()` expression written by `at_expression`."""
    match = AT_PATTERN.match(expression)
    if not match or (timezone or "UTC") != "UTC":
        raise ValueError(f"not a UTC at() expression: {expression!r} ({timezone})")
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)


def parse_duration(text: object) -> timedelta:
    """`90s`, `15m`, `2h`, `1h30m`, `1d12h` (units in that order), or a number of seconds, up to MAX_HORIZON.

    The bound is checked on the number before a timedelta is built: NaN, infinities and values past
    timedelta's range (`1e308`, `99999999999999d`) are refusals naming `after`, not OverflowError/ValueError.
    """
    if isinstance(text, bool):
        raise InvalidCommand(f"after must be a duration like 2h, 90s or 1h30m, got {shown(text)}", field="after")
    seconds: int | float
    if isinstance(text, int | float):
        seconds = text
    elif isinstance(text, str) and (match := DURATION_PATTERN.match(text.strip())) and text.strip():
        try:
            days, hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits): far too long anyway
            raise _beyond_horizon("after") from None
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        raise InvalidCommand(f"after must be a duration like 2h, 90s or 1h30m, got {shown(text)}", field="after")
    if isinstance(seconds, float) and not math.isfinite(seconds):  # NaN compares false with everything
        raise InvalidCommand(f"after must be a finite number of seconds, got {shown(text)}", field="after")
    if seconds <= 0:
        raise InvalidCommand(f"after must be positive, got {shown(text)}", field="after")
    if seconds > MAX_HORIZON.total_seconds():  # int vs float compares exactly, with no overflow
        raise _beyond_horizon("after")
    return timedelta(seconds=seconds)


def _beyond_horizon(field: str) -> InvalidCommand:
    return InvalidCommand(f"{field} is more than {MAX_HORIZON.days} days ahead", field=field)


def parse_at(value: object) -> datetime:
    """An RFC 3339 time in any zone (`Z` or an offset); naive times are refused."""
    if isinstance(value, datetime):
        return to_utc(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"at must be an RFC 3339 time with an offset, got {shown(value)}", field="at")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidCommand(f"at must be an RFC 3339 time with an offset, got {shown(value)}", field="at") from exc
    return to_utc(parsed)


def resolve_when(*, at: object = None, after: object = None, now: datetime) -> datetime:
    """The firing time in UTC, whole seconds, from exactly one of `at` (absolute) or `after` (from `now`)."""
    if (at is None) == (after is None):
        raise InvalidCommand("give exactly one of at (a time) or after (a duration)", field="at")
    field = "at" if at is not None else "after"
    now = to_utc(now, "now")
    when = parse_at(at) if at is not None else now + parse_duration(after)
    if when - now > MAX_HORIZON:  # before rounding up: 9999-12-31T23:59:59.5Z cannot take one more second
        raise _beyond_horizon(field)
    when = when.replace(microsecond=0) + (timedelta(seconds=1) if when.microsecond else timedelta())
    if when <= now:
        raise InvalidCommand(
            f"{field} resolves to {when.isoformat()}, which is not in the future (now {now.isoformat()})",
            field=field,
        )
    if when - now > MAX_HORIZON:
        raise _beyond_horizon(field)
    return when


def command_id(name: str, when: datetime) -> str:
    """The id the scheduled command carries: one per (schedule, firing time), so duplicate firings dedupe."""
    return f"{name}@{to_utc(when).strftime('%Y%m%dT%H%M%SZ')}"


@dataclass(frozen=True)
class ScheduleTarget:
    """Where stop schedules deliver, from the stack: the action queues, the role and the Scheduler DLQ."""

    group: str
    role_arn: str
    dlq_arn: str
    queue_arns: Mapping[str, str]
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS

    def queue_for(self, action: str) -> str:
        try:
            return self.queue_arns[action]
        except KeyError:
            raise InvalidCommand(f"no queue is configured for {action} auto-stops", field="action") from None


def scheduled_command(
    command: Mapping[str, Any], name: str, when: datetime, stale_after_seconds: int
) -> dict[str, Any]:
    """The command as the schedule delivers it: deterministic id, `scheduled_at` = the firing time (a stop's
    lateness is measured from it) and `not_after` = firing time + grace."""
    out = {k: v for k, v in command.items() if k not in ("id", "not_after", "scheduled_at")}
    out["id"] = command_id(name, when)
    out["scheduled_at"] = to_utc(when).isoformat()
    out["not_after"] = (to_utc(when) + timedelta(seconds=stale_after_seconds)).isoformat()
    return out


def build_schedule_request(
    command: Mapping[str, Any], task_id: str, when: datetime, target: ScheduleTarget
) -> dict[str, Any]:
    """The COMPLETE CreateSchedule/UpdateSchedule arguments (Update replaces every field, so send them all).

    `command` is the command's wire form (`Command.as_dict()`), already validated.
    """
    action = str(command["action"])
    account = str(command.get("account", "default"))
    name = schedule_name(action, account, task_id)
    check_name(target.group, "schedule group")
    delivered = scheduled_command(command, name, when, target.stale_after_seconds)
    description = f"livectl auto-stop {action} {task_id} (account {account}) at {to_utc(when).isoformat()}"
    return {
        "Name": name,
        "GroupName": target.group,
        "ScheduleExpression": at_expression(when),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "Description": description[:DESCRIPTION_MAX],
        "Target": {
            "Arn": target.queue_for(action),
            "RoleArn": target.role_arn,
            "Input": json.dumps(delivered, ensure_ascii=False, separators=(",", ":")),
            "RetryPolicy": {"MaximumRetryAttempts": RETRY_ATTEMPTS, "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS},
            "DeadLetterConfig": {"Arn": target.dlq_arn},
        },
    }


# --------------------------------------------------------------------------------------------------------
# Adapter
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduledStop:
    """One stop schedule as the Scheduler reports it."""

    name: str
    at: datetime | None
    state: str
    target_arn: str
    command: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "at": self.at.isoformat() if self.at else None,
            "state": self.state,
            "action": self.command.get("action"),
            "account": self.command.get("account", "default"),
            "params": self.command.get("params"),
            "command_id": self.command.get("id"),
            "not_after": self.command.get("not_after"),
            "via": self.command.get("via"),
            "target": self.target_arn,
        }


class StopScheduler:
    """Create (or move), cancel, read and list stop schedules in one group. Raises only livectl errors."""

    def __init__(self, group: str, scheduler_client: Any | None = None) -> None:
        self.group = group
        self._client = scheduler_client

    @property
    def client(self) -> Any:
        return self._client or aws.client("scheduler")

    def put(self, request: Mapping[str, Any]) -> str:
        """Create the schedule; if the name exists, replace it whole (a move). Returns "created" or "moved"."""
        try:
            self.client.create_schedule(**request)
            return "created"
        except Exception as exc:
            if aws.error_code(exc) != "ConflictException":
                raise aws.aws_error(exc, "Scheduler CreateSchedule") from exc
        try:
            self.client.update_schedule(**request)
        except Exception as exc:
            raise aws.aws_error(exc, "Scheduler UpdateSchedule") from exc
        return "moved"

    def create(self, request: Mapping[str, Any]) -> bool:
        """Create the schedule only if its name is free: False when one exists (it is left as it is)."""
        try:
            self.client.create_schedule(**request)
        except Exception as exc:
            if aws.error_code(exc) == "ConflictException":
                return False
            raise aws.aws_error(exc, "Scheduler CreateSchedule") from exc
        return True

    def cancel(self, name: str) -> bool:
        """Delete the schedule. Returns False if it was already gone (fired, or never made): still success."""
        try:
            self.client.delete_schedule(Name=name, GroupName=self.group)
        except Exception as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return False
            raise aws.aws_error(exc, "Scheduler DeleteSchedule") from exc
        return True

    def get(self, name: str) -> ScheduledStop | None:
        try:
            answer = self.client.get_schedule(Name=name, GroupName=self.group)
        except Exception as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return None
            raise aws.aws_error(exc, "Scheduler GetSchedule") from exc
        return _scheduled_stop(answer)

    def names(self) -> Iterator[str]:
        kwargs: dict[str, Any] = {"GroupName": self.group, "NamePrefix": NAME_PREFIX}
        while True:
            try:
                answer = self.client.list_schedules(**kwargs)
            except Exception as exc:
                raise aws.aws_error(exc, "Scheduler ListSchedules") from exc
            for item in answer.get("Schedules", []):
                if item.get("GroupName", self.group) == self.group:
                    yield str(item["Name"])
            token = answer.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

    def list(self) -> list[ScheduledStop]:
        """Every stop schedule in the group, soonest first (one that vanished meanwhile is skipped)."""
        found = [s for s in (self.get(name) for name in self.names()) if s is not None]
        return sorted(found, key=lambda s: (s.at is None, s.at or datetime.max.replace(tzinfo=UTC), s.name))


def _scheduled_stop(answer: Mapping[str, Any]) -> ScheduledStop:
    target = answer.get("Target") or {}
    try:
        command = json.loads(target.get("Input") or "{}")
    except ValueError:
        command = {}
    try:
        at: datetime | None = parse_at_expression(
            str(answer.get("ScheduleExpression", "")), answer.get("ScheduleExpressionTimezone")
        )
    except ValueError:
        at = None
    return ScheduledStop(
        name=str(answer.get("Name", "")),
        at=at,
        state=str(answer.get("State", "")),
        target_arn=str(target.get("Arn", "")),
        command=command if isinstance(command, dict) else {},
    )


def parse_queue_arns(text: str) -> dict[str, str]:
    """ACTION_QUEUE_ARNS (JSON object action -> queue ARN) from the environment."""
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        raise PermanentProviderError("ACTION_QUEUE_ARNS is not a JSON object", code="Configuration") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PermanentProviderError("ACTION_QUEUE_ARNS is not a JSON object of ARNs", code="Configuration")
    return {str(k): v for k, v in value.items()}
