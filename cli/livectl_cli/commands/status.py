"""`livectl status`: one screen that says whether stops are on time, what failed and why, what sits in a DLQ,
and whether TRTC reaches the webhook. The same reads locally (moto, fed by the local stack) and deployed.

Where each figure comes from:
- queued / in flight / DLQ: SQS GetQueueAttributes (live);
- oldest message age: CloudWatch `AWS/SQS ApproximateAgeOfOldestMessage` (SQS publishes it once a minute);
- commands, stop lateness and webhook counts of the last hour: the functions' own metrics (EMF) in CloudWatch;
- auto-stops due within the hour: the stack's schedule group; the latest failures: the ledger's FAILED#<day>.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from livectl_cli.common import add_command, emit, emit_json, positive_number, table, utc_now
from livectl_cli.targets import ACTION_STEMS, Target, add_target_arguments, aws_call, bind, resolve_target

WINDOW = timedelta(hours=1)
FAILURES_SHOWN = 10
DUE_SHOWN = 10
SERVICE = "livectl"  # POWERTOOLS_SERVICE_NAME: every metric's `service` dimension
OTHER_DLQS = {"ScheduleRequestDLQ": "schedule requests", "SchedulerDLQ": "Scheduler deliveries"}
HEADER = ("ACTION", "QUEUED", "IN FLIGHT", "OLDEST", "DLQ", "APPLIED", "ALREADY", "FAILED", "RETRIED", "MAX LATENESS")
COMMAND_METRICS = ("CommandsApplied", "CommandsAlreadyDone", "CommandsFailed", "CommandsRetried")
WEBHOOK_METRICS = ("CallbackAccepted", "CallbackDuplicate", "CallbackRejected")

STATUS_EPILOG = """\
examples:
  livectl status                        # the local stack
  livectl status --stack livectl-prod --watch 10
  livectl status --json
Per action: commands queued, in flight, the age of the oldest (are stops running late?), dead-lettered;
then, for the last hour, commands applied / already done / failed / retried and the worst stop lateness
(provider stop time minus the schedule's time, or minus the time the command was sent). Below: auto-stops due
in the next hour, the 10 latest failures with their reasons, and what the webhook accepted and refused.
Metrics reach CloudWatch about a minute late; queue depths are live. Deployed, your credentials need
sqs:GetQueueAttributes, cloudwatch:GetMetricData and ListMetrics, scheduler:ListSchedules and GetSchedule,
dynamodb:Query on the ledger.
"""


@dataclass
class ActionRow:
    action: str
    queued: int | None = None
    in_flight: int | None = None
    dlq: int | None = None
    oldest_age: float | None = None
    counts: dict[str, float] = field(default_factory=dict)
    worst_lateness_ms: float | None = None


@dataclass
class Status:
    stack: str
    at: datetime
    rows: list[ActionRow]
    other_dlqs: dict[str, int | None]
    due: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    webhook: dict[str, float]
    rejected_by_reason: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "at": self.at.isoformat(),
            "actions": [vars(r) for r in self.rows],
            "other_dlqs": self.other_dlqs,
            "auto_stops_due": self.due,
            "failures": self.failures,
            "webhook": {**self.webhook, "rejected_by_reason": self.rejected_by_reason},
        }


# ---------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------
def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0))


@dataclass(frozen=True)
class MetricQuery:
    id: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str  # Sum or Maximum, folded over the window's one-minute values here
    latest: bool = False  # a gauge: keep the newest minute's value instead of folding


def read_metrics(cloudwatch: Any, queries: list[MetricQuery], start: datetime, end: datetime) -> dict[str, float]:
    """Each query's Sum (or Maximum) over [start, end), from one-minute values; no data → absent."""
    found: dict[str, float] = {}
    for first in range(0, len(queries), 500):  # GetMetricData's limit per call
        chunk = queries[first : first + 500]
        request = [
            {
                "Id": q.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": q.namespace,
                        "MetricName": q.name,
                        "Dimensions": [{"Name": n, "Value": v} for n, v in q.dimensions],
                    },
                    "Period": 60,
                    "Stat": q.stat,
                },
            }
            for q in chunk
        ]
        kwargs: dict[str, Any] = {"MetricDataQueries": request, "StartTime": start, "EndTime": end}
        stats = {q.id: q.stat for q in chunk}
        newest = {q.id for q in chunk if q.latest}
        newest_at: dict[str, Any] = {}
        while True:
            answer = cloudwatch.get_metric_data(**kwargs)
            for result in answer.get("MetricDataResults", []):
                values = [float(v) for v in result.get("Values", [])]
                if not values:
                    continue
                qid = result["Id"]
                if qid in newest:
                    stamps = result.get("Timestamps") or []
                    if stamps and (qid not in newest_at or max(stamps) > newest_at[qid]):
                        found[qid], newest_at[qid] = values[stamps.index(max(stamps))], max(stamps)
                    continue
                fold = max if stats[qid] == "Maximum" else sum
                found[qid] = fold([*values, found[qid]]) if qid in found else fold(values)
            token = answer.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return found


def _metric_queries(namespace: str, actions: Iterable[str], queue_names: dict[str, str]) -> list[MetricQuery]:
    queries: list[MetricQuery] = []
    for i, action in enumerate(actions):
        dims = (("service", SERVICE), ("action", action))
        queries += [MetricQuery(f"a{i}_{n}", namespace, n, dims, "Sum") for n in COMMAND_METRICS]
        queries.append(MetricQuery(f"a{i}_late", namespace, "StopLateness", dims, "Maximum"))
        if action in queue_names:
            age_dims = (("QueueName", queue_names[action]),)
            age = MetricQuery(f"a{i}_age", "AWS/SQS", "ApproximateAgeOfOldestMessage", age_dims, "Maximum", True)
            queries.append(age)
    queries += [MetricQuery(f"w_{n}", namespace, n, (("service", SERVICE),), "Sum") for n in WEBHOOK_METRICS]
    return queries


def rejection_reasons(cloudwatch: Any, namespace: str) -> list[str]:
    answer = cloudwatch.list_metrics(Namespace=namespace, MetricName="CallbackRejected")
    reasons = set()
    for metric in answer.get("Metrics", []):
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        if "reason" in dims:
            reasons.add(dims["reason"])
    return sorted(reasons)


def latest_failures(ledger: Any, now: datetime, limit: int = FAILURES_SHOWN) -> list[dict[str, Any]]:
    """The newest failed attempts: today's (UTC), then yesterday's if today has fewer than `limit`."""
    found: list[dict[str, Any]] = []
    for day in (now, now - timedelta(days=1)):
        found += ledger.failures(day.date().isoformat(), limit=limit - len(found))
        if len(found) >= limit:
            break
    return found


def auto_stops_due(scheduler: Any, now: datetime, within: timedelta = WINDOW) -> list[dict[str, Any]]:
    return [s.as_dict() for s in scheduler.list() if s.at is not None and s.at <= now + within]


def gather(target: Target, now: datetime) -> Status:
    from livectl.schedules.scheduler import StopScheduler
    from livectl.store.ledger import Ledger

    sqs, cloudwatch = target.client("sqs"), target.client("cloudwatch")
    namespace = target.outputs.get("MetricsNamespace") or SERVICE
    actions = list(ACTION_STEMS)
    rows = [ActionRow(action) for action in actions]
    queue_names: dict[str, str] = {}
    for row in rows:
        stem = ACTION_STEMS[row.action]
        url = target.outputs.get(f"{stem}QueueUrl")
        if url:
            row.queued, row.in_flight = aws_call("GetQueueAttributes", bind(queue_counts, sqs, url))
            queue_names[row.action] = url.rsplit("/", 1)[-1]
        dlq = target.outputs.get(f"{stem}DLQUrl")
        if dlq:
            row.dlq = aws_call("GetQueueAttributes", bind(queue_counts, sqs, dlq))[0]
    other: dict[str, int | None] = {}
    for logical, label in OTHER_DLQS.items():
        url = target.outputs.get(f"{logical}Url")
        other[label] = aws_call("GetQueueAttributes", bind(queue_counts, sqs, url))[0] if url else None
    queries = _metric_queries(namespace, actions, queue_names)
    values = aws_call("GetMetricData", lambda: read_metrics(cloudwatch, queries, now - WINDOW, now))
    # The age is a gauge: its newest minute says how late the queue is now, not an hour ago.
    age_queries = [q for q in queries if q.id.endswith("_age")]
    ages = aws_call("GetMetricData", lambda: read_metrics(cloudwatch, age_queries, now - timedelta(minutes=5), now))
    for i, row in enumerate(rows):
        row.counts = {n: values.get(f"a{i}_{n}", 0.0) for n in COMMAND_METRICS}
        row.worst_lateness_ms = values.get(f"a{i}_late")
        row.oldest_age = ages.get(f"a{i}_age")
    reasons = aws_call("ListMetrics", lambda: rejection_reasons(cloudwatch, namespace))
    by_reason = aws_call(
        "GetMetricData",
        lambda: read_metrics(
            cloudwatch,
            [
                MetricQuery(f"r{i}", namespace, "CallbackRejected", (("service", SERVICE), ("reason", r)), "Sum")
                for i, r in enumerate(reasons)
            ],
            now - WINDOW,
            now,
        ),
    )
    ledger = Ledger(target.output("LedgerTableName"))
    scheduler = StopScheduler(target.output("ScheduleGroupName"))
    return Status(
        stack=f"{target.name} ({target.kind})",
        at=now,
        rows=rows,
        other_dlqs=other,
        due=aws_call("ListSchedules", lambda: auto_stops_due(scheduler, now)),
        failures=aws_call("ledger Query", lambda: latest_failures(ledger, now)),
        webhook={n: values.get(f"w_{n}", 0.0) for n in WEBHOOK_METRICS},
        rejected_by_reason={r: by_reason[f"r{i}"] for i, r in enumerate(reasons) if by_reason.get(f"r{i}")},
    )


# ---------------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------------
def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _count(value: float | int | None) -> str:
    return "-" if value is None else str(int(value))


def render(status: Status) -> list[str]:
    lines = [f"livectl status: {status.stack} at {status.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC", ""]
    rows: list[tuple[str, ...]] = [HEADER]
    for r in status.rows:
        late = None if r.worst_lateness_ms is None else r.worst_lateness_ms / 1000
        counts = [_count(r.counts.get(n)) for n in COMMAND_METRICS]
        age = seconds_text(r.oldest_age) if r.oldest_age else "-"  # SQS reports 0 for an empty queue
        queue = [_count(r.queued), _count(r.in_flight), age, _count(r.dlq)]
        rows.append((r.action, *queue, *counts, seconds_text(late)))
    heading = "queues: now (OLDEST: the newest minute's figure) · commands and lateness: last hour"
    lines += [heading, *table(rows, frozenset(range(1, 10)))]
    lines.append("other DLQs: " + ", ".join(f"{label} {_count(n)}" for label, n in status.other_dlqs.items()))
    lines += ["", f"auto-stops due in the next hour: {len(status.due)}"]
    for stop in status.due[:DUE_SHOWN]:
        params = stop.get("params") or {}
        task = params.get("TaskId") or params.get("TaskID") or "?"
        when = datetime.fromisoformat(str(stop["at"]))
        due_in = seconds_text(max(0.0, (when - status.at).total_seconds()))
        lines.append(f"  {when:%H:%M:%S}  in {due_in:<5} {stop.get('action')}  {task}  ({stop.get('name')})")
    if len(status.due) > DUE_SHOWN:
        lines.append(f"  … and {len(status.due) - DUE_SHOWN} more (livectl schedules)")
    lines += ["", f"latest failures: {len(status.failures) or 'none'}"]
    lines += [f"  {failure_line(f)}" for f in status.failures]
    w = status.webhook
    reasons = ", ".join(f"{r} {int(n)}" for r, n in sorted(status.rejected_by_reason.items()))
    lines += [
        "",
        f"webhook, last hour: accepted {int(w['CallbackAccepted'])}, duplicate {int(w['CallbackDuplicate'])}, "
        f"rejected {int(w['CallbackRejected'])}" + (f" ({reasons})" if reasons else ""),
    ]
    return lines


def failure_line(item: dict[str, Any]) -> str:
    at = str(item.get("at", "?"))[11:19]
    outcome = item.get("outcome") or "?"
    if item.get("receive_count"):
        outcome += f" (receive {item['receive_count']})"
    reason = f"{item.get('error_code') or '?'}: {item.get('reason') or ''}".rstrip(": ")
    return f"{at}  {item.get('action', '?')}  {item.get('task_id', '?')}  {outcome}  {reason}"


# ---------------------------------------------------------------------------------------------------------
# command
# ---------------------------------------------------------------------------------------------------------
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # our own constant, never data: written without escaping


def run_status(args: argparse.Namespace, *, now: Callable[[], datetime] = utc_now) -> int:
    target = resolve_target(args)
    while True:
        status = gather(target, now())
        if args.json:
            emit_json(status.as_dict(), indent=None if args.watch else 2, flush=True)
        else:
            if args.watch and sys.stdout.isatty():
                sys.stdout.write(CLEAR_SCREEN)
            emit(*render(status), flush=True)
        if not args.watch:
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        if not args.json and not sys.stdout.isatty():
            emit("")


def register(sub: Any) -> None:
    status = add_command(
        sub,
        "status",
        summary="one screen: queues, lateness, DLQs, due auto-stops, latest failures, webhook counts",
        description="Show the stack's state on one screen.",
        epilog=STATUS_EPILOG,
        handler=run_status,
    )
    status.add_argument(
        "--watch", nargs="?", const=5.0, type=positive_number, metavar="SECONDS", help="refresh (every 5 s by default)"
    )
    status.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_target_arguments(status)
