"""EventBridge Scheduler's clock for one-time schedules (moto stores schedules but never fires them).

Every `interval` seconds: list the schedules of the watched groups, read the ones not seen yet or modified since
(concurrently, up to `workers` at once), and fire every due `at()` schedule together, as Scheduler fires a due
minute's schedules at once rather than one by one: SQS targets in SendMessageBatch calls (10 a call, by queue),
with `Input` rendered as the body; Lambda targets as an invocation of the local handler with `Input` as the event.
A schedule fires once per modification (at least once, as Scheduler promises); with `ActionAfterCompletion`
DELETE it is then deleted in the background, off the firing path (a failed delete is retried on the next tick,
never re-fired). A delivery that fails is tried again on later ticks as the target's `RetryPolicy` allows
(Scheduler's defaults when it has none: 185 retries, 24 h), with `<aws.scheduler.attempt-number>` counting;
once the policy is spent it goes to the `DeadLetterConfig` queue, with the attributes Scheduler sets.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from livectl_cli.local.functions import LocalFunction

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
BATCH_ENTRIES = 10  # SendMessageBatch's most entries
BATCH_BYTES = 256 * 1024  # and its most payload, summed over the entries
DEFAULT_RETRIES, DEFAULT_EVENT_AGE = 185, 86400  # Scheduler's RetryPolicy when a target sets none
RETRY_BACKOFF_MAX = 60.0  # seconds between a failing target's attempts, at most (Scheduler backs off too)


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


def batches_of(firings: list[_Firing]) -> list[list[_Firing]]:
    """Consecutive groups that fit one SendMessageBatch: at most 10 entries and 256 KiB of bodies."""
    batches: list[list[_Firing]] = []
    size = 0
    for firing in firings:
        length = len(firing.body.encode())
        if not batches or len(batches[-1]) == BATCH_ENTRIES or size + length > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(firing)
        size += length
    return batches


def _not_found(exc: Exception) -> bool:
    return "ResourceNotFound" in type(exc).__name__ or "ResourceNotFound" in str(exc)


@dataclass
class _Firing:
    """One attempt at one due schedule's invocation."""

    group: str
    schedule: Mapping[str, Any]
    when: datetime
    execution_id: str
    attempt: int = 1
    body: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[str, str]:
        """A schedule fires once per modification: (ARN, LastModificationDate)."""
        return str(self.schedule["Arn"]), str(self.schedule.get("LastModificationDate"))


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
        delete_workers: int = 2,
    ) -> None:
        self.scheduler = scheduler
        self.sqs = sqs
        self.groups = list(groups)
        self.queue_url_for_arn = queue_url_for_arn
        self.functions_by_arn = dict(functions_by_arn or {})
        self.interval = interval
        self.now = now
        self.log = log or (lambda line: None)
        self.fired: list[dict[str, Any]] = []  # every attempt: name, target, at, attempt, error, wall (time.time())
        self.workers = workers  # reads and SendMessageBatch calls in flight at once
        self.delete_workers = delete_workers  # deletes after completion: few, so they do not crowd the burst's drain
        self._details: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}  # (group, name) → (modified, schedule)
        self._done: set[tuple[str, str]] = set()  # keys fired (or dead-lettered) and not to fire again
        self._retry: dict[tuple[str, str], tuple[int, datetime, str]] = {}  # key → (next attempt, not before, exec id)
        self._deleting: set[tuple[str, str]] = set()  # (group, name) with a delete submitted and not finished
        self._pending: set[Future[None]] = set()
        self._deleter: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler-clock", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        if self._deleter:
            self._deleter.shutdown(wait=True, cancel_futures=True)
            self._deleter = None

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the deletes after completion that ticks left running."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.log(f"clock: {type(exc).__name__}: {exc}")

    # -- reading ------------------------------------------------------------------------------------------------
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
            if _not_found(exc):
                return None  # deleted between list and get
            raise
        self._details[key] = (stamp, schedule)
        return schedule

    def _map(self, work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """`work` over `items`, up to `workers` at once (moto answers each call on a thread of its own)."""
        if len(items) <= 1 or self.workers <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(min(self.workers, len(items)), thread_name_prefix="scheduler-clock") as pool:
            return list(pool.map(work, items))

    def _schedules(self, group: str) -> list[dict[str, Any]]:
        """The group's enabled schedules, the new and modified ones read concurrently."""
        listed = self._list(group)
        names = {(group, str(s["Name"])) for s in listed}
        for key in [k for k in self._details if k[0] == group and k not in names]:
            del self._details[key]
        enabled = [s for s in listed if s.get("State", "ENABLED") == "ENABLED"]
        schedules = self._map(lambda summary: self._read(group, summary), enabled)
        return [s for s in schedules if s is not None]

    # -- firing -------------------------------------------------------------------------------------------------
    def tick(self) -> int:
        """Fire every due schedule together; returns how many were attempted."""
        now = self.now()
        due: list[_Firing] = []
        live: set[tuple[str, str]] = set()
        for group in self.groups:
            for schedule in self._schedules(group):
                key = (str(schedule["Arn"]), str(schedule.get("LastModificationDate")))
                live.add(key)
                if key in self._done:
                    self._complete_later(group, schedule)  # a delete that failed is tried again
                    continue
                when = due_time(schedule.get("ScheduleExpression", ""), schedule.get("ScheduleExpressionTimezone"))
                if when is None or when > now:
                    continue
                retry = self._retry.get(key)
                if retry is None:
                    due.append(_Firing(group, schedule, when, str(uuid.uuid4())))
                elif retry[1] <= now:
                    due.append(_Firing(group, schedule, when, retry[2], retry[0]))
        with self._lock:
            self._done &= live  # gone (deleted) or modified: forgotten
            self._retry = {k: v for k, v in self._retry.items() if k in live}
        if due:
            self._fire_all(due)
        return len(due)

    def _fire_all(self, due: list[_Firing]) -> None:
        by_queue: dict[str, list[_Firing]] = {}
        for firing in due:
            schedule, target = firing.schedule, firing.schedule["Target"]
            firing.body = render_input(
                str(target.get("Input") or "{}"), schedule["Arn"], firing.when, firing.execution_id, firing.attempt
            )
            arn = str(target["Arn"])
            if arn.startswith("arn:aws:sqs:"):
                url = self.queue_url_for_arn(arn)
                if url is None:
                    self._failed(firing, f"LookupError: no local queue for {arn}")
                else:
                    by_queue.setdefault(url, []).append(firing)
            elif arn.startswith("arn:aws:lambda:") and arn in self.functions_by_arn:
                self._invoke(firing, self.functions_by_arn[arn])
            elif arn.startswith("arn:aws:lambda:"):
                self._failed(firing, f"LookupError: no local function for {arn}")
            else:
                self._failed(firing, f"LookupError: target {arn} is not supported locally")
        batches = [(url, batch) for url, firings in by_queue.items() for batch in batches_of(firings)]
        self._map(lambda job: self._send_batch(*job), batches)

    def _invoke(self, firing: _Firing, function: LocalFunction) -> None:
        """Scheduler invokes a Lambda target asynchronously: the handler runs on a thread of its own."""
        try:
            event = json.loads(firing.body)
        except ValueError as exc:
            self._failed(firing, f"{type(exc).__name__}: Input is not JSON: {exc}")
            return
        threading.Thread(
            target=function.invoke, args=(event, "scheduler"), name="scheduler-invoke", daemon=True
        ).start()
        self._delivered(firing, f"lambda {function.spec.logical_id}")

    def _send_batch(self, url: str, batch: list[_Firing]) -> None:
        entries = []
        for index, firing in enumerate(batch):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": firing.body}
            group_id = (firing.schedule["Target"].get("SqsParameters") or {}).get("MessageGroupId")
            if group_id:
                entry["MessageGroupId"] = group_id
            entries.append(entry)
        try:
            answer = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            failed = {str(f["Id"]): f"{f.get('Code')}: {f.get('Message')}" for f in answer.get("Failed") or []}
        except Exception as exc:
            failed = {str(index): f"{type(exc).__name__}: {exc}" for index in range(len(batch))}
        for index, firing in enumerate(batch):
            error = failed.get(str(index))
            if error is None:
                self._delivered(firing, f"sqs {str(firing.schedule['Target']['Arn']).rsplit(':', 1)[-1]}")
            else:
                self._failed(firing, error)

    def _delivered(self, firing: _Firing, where: str) -> None:
        with self._lock:
            self._done.add(firing.key)
            self._retry.pop(firing.key, None)
        self._note(firing, where, None)
        self._complete_later(firing.group, firing.schedule)

    def _failed(self, firing: _Firing, error: str) -> None:
        """Another attempt later while the target's RetryPolicy allows; then the DLQ, and the schedule is done."""
        policy = firing.schedule["Target"].get("RetryPolicy") or {}
        retries = int(policy.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age = int(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))
        now = self.now()
        backoff = min(RETRY_BACKOFF_MAX, 2.0 ** (firing.attempt - 1))
        if firing.attempt <= retries and (now - firing.when).total_seconds() + backoff < max_age:
            with self._lock:
                self._retry[firing.key] = (firing.attempt + 1, now + timedelta(seconds=backoff), firing.execution_id)
            self._note(firing, f"attempt {firing.attempt + 1} in {backoff:g} s", error)
            return
        try:
            where = self._dead_letter(firing.schedule, firing.body, firing.execution_id, error)
        except Exception as exc:  # the DLQ itself failed: keep the schedule, its last attempt comes round again
            with self._lock:
                self._retry[firing.key] = (firing.attempt, now + timedelta(seconds=backoff), firing.execution_id)
            self._note(firing, f"no DLQ delivery ({type(exc).__name__}: {exc})", error)
            return
        with self._lock:
            self._done.add(firing.key)
            self._retry.pop(firing.key, None)
        self._note(firing, where, error)
        self._complete_later(firing.group, firing.schedule)

    def _note(self, firing: _Firing, where: str, error: str | None) -> None:
        name, arn = firing.schedule["Name"], str(firing.schedule["Target"]["Arn"])
        late = (self.now() - firing.when).total_seconds()
        self.fired.append(
            {
                "name": name,
                "target": arn,
                "at": firing.when,
                "attempt": firing.attempt,
                "error": error,
                "wall": time.time(),
            }
        )
        attempt = f", attempt {firing.attempt}" if firing.attempt > 1 else ""
        self.log(
            f"{'scheduler':<27} → {where}: fired {name} ({late:.1f} s after its time{attempt}"
            f"{', ' + error if error else ''}) [{(time.monotonic() - firing.started) * 1000:.0f} ms]"
        )

    # -- completion ---------------------------------------------------------------------------------------------
    def _complete_later(self, group: str, schedule: Mapping[str, Any]) -> None:
        """ActionAfterCompletion DELETE, in the background: a burst's deletes do not hold up its fires."""
        if schedule.get("ActionAfterCompletion") != "DELETE":
            return
        key = (group, str(schedule["Name"]))
        with self._lock:
            if key in self._deleting or self._stop.is_set():
                return
            self._deleting.add(key)
            if self._deleter is None:
                self._deleter = ThreadPoolExecutor(self.delete_workers, thread_name_prefix="scheduler-delete")
            future = self._deleter.submit(self._delete, *key)
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _delete(self, group: str, name: str) -> None:
        try:
            self.scheduler.delete_schedule(Name=name, GroupName=group)
        except Exception as exc:
            if not _not_found(exc):  # still listed and done: the next tick deletes it again
                self.log(f"clock: delete {name}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._deleting.discard((group, name))

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
