"""EventBridge Scheduler's clock for one-time schedules (moto stores schedules but never fires them).

Every `interval` seconds: list the schedules of the watched groups, read each (again only when it was
modified), fire those whose `at()` time is due (up to `workers` at once) into their target (SQS SendMessage
with `Input` as the body, or the local Lambda handler with `Input` as the event), then delete the schedule
when `ActionAfterCompletion` is DELETE. A schedule that cannot be delivered goes to its `DeadLetterConfig`
queue, with the attributes Scheduler sets.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from livectl_cli.local.functions import LocalFunction

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def due_time(expression: str, timezone: str | None) -> datetime | None:
    """The UTC instant of an `at(yyyy-mm-ddThh:mm:ss)` expression in `timezone` (default UTC); None otherwise."""
    match = _AT.match(expression.strip())
    if not match:
        return None
    local = datetime.fromisoformat(match.group(1))
    zone = ZoneInfo(timezone) if timezone and timezone.upper() != "UTC" else UTC
    return local.replace(tzinfo=zone).astimezone(UTC)


def render_input(text: str, schedule_arn: str, scheduled: datetime, execution_id: str, attempt: int = 1) -> str:
    """Scheduler's context attributes inside Input."""
    return (
        text.replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.scheduled-time>", scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .replace("<aws.scheduler.execution-id>", execution_id)
        .replace("<aws.scheduler.attempt-number>", str(attempt))
    )


class SchedulerClock:
    def __init__(
        self,
        scheduler: Any,
        sqs: Any,
        groups: Iterable[str],
        *,
        queue_url_for_arn: Callable[[str], str | None],
        functions_by_arn: Mapping[str, LocalFunction] | None = None,
        interval: float = 0.5,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        log: Callable[[str], None] | None = None,
        workers: int = 8,
    ) -> None:
        self.scheduler = scheduler
        self.sqs = sqs
        self.groups = list(groups)
        self.queue_url_for_arn = queue_url_for_arn
        self.functions_by_arn = dict(functions_by_arn or {})
        self.interval = interval
        self.now = now
        self.log = log or (lambda line: None)
        self.fired: list[dict[str, Any]] = []
        self._done: set[tuple[str, str]] = set()  # (arn, last modified) fired and kept (ActionAfterCompletion NONE)
        self._details: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}  # (group, name) → (modified, schedule)
        self.workers = workers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler-clock", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.log(f"clock: {type(exc).__name__}: {exc}")

    def _list(self, group: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"GroupName": group}
            if token:
                kwargs["NextToken"] = token
            page = self.scheduler.list_schedules(**kwargs)
            items.extend(page.get("Schedules", []))
            token = page.get("NextToken")
            if not token:
                return items

    def _read(self, group: str, summary: Mapping[str, Any]) -> dict[str, Any] | None:
        """The schedule's full definition; read again only when its LastModificationDate changes (a burst of
        thousands of future schedules would otherwise cost one GetSchedule each on every tick)."""
        key = (group, str(summary["Name"]))
        stamp = str(summary.get("LastModificationDate"))
        cached = self._details.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            schedule: dict[str, Any] = self.scheduler.get_schedule(Name=summary["Name"], GroupName=group)
        except Exception as exc:
            if "ResourceNotFound" in type(exc).__name__ or "ResourceNotFound" in str(exc):
                return None  # deleted between list and get
            raise
        self._details[key] = (stamp, schedule)
        return schedule

    def tick(self) -> int:
        """Fire every due schedule once (up to `workers` at a time, as Scheduler fires a due minute's schedules
        together rather than one by one); returns how many fired."""
        now = self.now()
        due: list[tuple[str, dict[str, Any], datetime]] = []
        for group in self.groups:
            listed = self._list(group)
            live = {(group, str(s["Name"])) for s in listed}
            for key in [k for k in self._details if k[0] == group and k not in live]:
                del self._details[key]
            for summary in listed:
                if summary.get("State", "ENABLED") != "ENABLED":
                    continue
                schedule = self._read(group, summary)
                if schedule is None:
                    continue
                if (schedule["Arn"], str(schedule.get("LastModificationDate"))) in self._done:
                    continue
                when = due_time(schedule.get("ScheduleExpression", ""), schedule.get("ScheduleExpressionTimezone"))
                if when is not None and when <= now:
                    due.append((group, schedule, when))
        if len(due) <= 1 or self.workers <= 1:
            for item in due:
                self._fire_and_complete(*item)
        else:
            with ThreadPoolExecutor(min(self.workers, len(due)), thread_name_prefix="scheduler-fire") as pool:
                list(pool.map(lambda item: self._fire_and_complete(*item), due))
        return len(due)

    def _fire_and_complete(self, group: str, schedule: Mapping[str, Any], when: datetime) -> None:
        self.fire(schedule, when)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            try:
                self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
            except Exception as exc:
                if "ResourceNotFound" not in type(exc).__name__ and "ResourceNotFound" not in str(exc):
                    raise
            self._details.pop((group, str(schedule["Name"])), None)
        else:
            self._done.add((schedule["Arn"], str(schedule.get("LastModificationDate"))))

    def fire(self, schedule: Mapping[str, Any], when: datetime) -> None:
        target = schedule["Target"]
        execution_id = str(uuid.uuid4())
        body = render_input(str(target.get("Input") or "{}"), schedule["Arn"], when, execution_id)
        arn = str(target["Arn"])
        start = time.monotonic()
        error: str | None = None
        try:
            if arn.startswith("arn:aws:sqs:"):
                url = self.queue_url_for_arn(arn)
                if url is None:
                    raise LookupError(f"no local queue for {arn}")
                kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
                group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
                if group_id:
                    kwargs["MessageGroupId"] = group_id
                self.sqs.send_message(**kwargs)
                where = f"sqs {arn.rsplit(':', 1)[-1]}"
            elif arn.startswith("arn:aws:lambda:"):
                function = self.functions_by_arn.get(arn)
                if function is None:
                    raise LookupError(f"no local function for {arn}")
                threading.Thread(
                    target=function.invoke, args=(json.loads(body), "scheduler"), name="scheduler-invoke", daemon=True
                ).start()
                where = f"lambda {function.spec.logical_id}"
            else:
                raise LookupError(f"target {arn} is not supported locally")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            where = self._dead_letter(schedule, body, execution_id, error)
        late = (self.now() - when).total_seconds()
        self.fired.append({"name": schedule["Name"], "target": arn, "at": when, "error": error})
        self.log(
            f"{'scheduler':<27} → {where}: fired {schedule['Name']} ({late:.1f} s after its time"
            f"{', ' + error if error else ''}) [{(time.monotonic() - start) * 1000:.0f} ms]"
        )

    def _dead_letter(self, schedule: Mapping[str, Any], body: str, execution_id: str, error: str) -> str:
        dlq = ((schedule["Target"].get("DeadLetterConfig")) or {}).get("Arn")
        url = self.queue_url_for_arn(str(dlq)) if dlq else None
        if not url:
            return "nowhere (no DeadLetterConfig)"
        self.sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": "DeliveryFailed"},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:256]},
                "EXECUTION_ID": {"DataType": "String", "StringValue": execution_id},
                "SCHEDULE_ARN": {"DataType": "String", "StringValue": str(schedule["Arn"])},
                "TARGET_ARN": {"DataType": "String", "StringValue": str(schedule["Target"]["Arn"])},
            },
        )
        return f"DLQ {str(dlq).rsplit(':', 1)[-1]}"
