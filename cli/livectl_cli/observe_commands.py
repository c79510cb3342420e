"""What the stack recorded and published: `task` (a task's ledger entry and history), `rejected` (commands
refused before they reached a task) and `events` (outcome events as they arrive). Everything printed from the
ledger or the bus goes through `emit`/`emit_json`, which escape what a terminal would act on."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

from livectl_cli.common import CliError, HelpFormatter, emit, emit_json, positive_int, positive_number, utc_now
from livectl_cli.operator_commands import Target, _add_target, _aws_call, _bind, resolve_target

# ---------------------------------------------------------------------------------------------------------
# task
# ---------------------------------------------------------------------------------------------------------
TASK_EPILOG = """\
example:
  livectl task f831f3b0                 # looks under both providers
  livectl task rec-9 --provider trtc --json
Shows the ledger's STATE item (state, provider status, last error, request id) and the task's history:
commands applied (CMD#...) and TRTC callbacks received (CB#...), oldest first. Commands refused before they
named a valid task are not under any task: see `livectl rejected`.
"""


def ledger_items(table: str, provider: str, task_id: str) -> list[dict[str, Any]]:
    """Every item of one task (STATE, CMD#, CB#...), consistently read, as plain values."""
    from livectl import aws
    from livectl.store.table import query, task_pk

    return query(aws.client("dynamodb"), table, task_pk(provider, task_id))


def run_task(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    table = target.output("LedgerTableName")
    providers = [args.provider] if args.provider else ["volcengine", "trtc"]
    found: dict[str, list[dict[str, Any]]] = {}
    for provider in providers:
        items = _aws_call("ledger Query", _bind(ledger_items, table, provider, args.task_id))
        if items:
            found[provider] = items
    if not found:
        raise CliError(
            f"task {args.task_id} is not in the ledger ({' or '.join(providers)}); "
            "a command refused as invalid is listed by `livectl rejected`"
        )
    if args.json:
        emit_json(found, indent=2)
        return 0
    for provider, items in found.items():
        state = next((i for i in items if i.get("sk") == "STATE"), None)
        emit(f"task {args.task_id} ({provider})")
        if state:
            for key in sorted(k for k in state if k not in ("pk", "sk")):
                value = state[key]
                text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
                emit(f"  {key:<18} {text if len(text) <= 100 else text[:99] + '…'}")
        history = [i for i in items if i.get("sk") != "STATE"]
        if history:
            emit("  history:")
            for item in sorted(history, key=lambda i: str(i.get("at") or i.get("received_at") or i.get("sk"))):
                emit(f"    {_history_line(item)}")
    return 0


def _history_line(item: dict[str, Any]) -> str:
    sk = str(item.get("sk", ""))
    skip = {"pk", "sk", "expires_at", "published"}
    if sk.startswith("CMD#"):
        at = sk.split("#")[1]
        fields = {k: v for k, v in item.items() if k not in skip and v not in (None, "")}
        order = ["action", "outcome", "kind", "error_code", "request_id", "schedule", "scheduled_for"]
        shown = [f"{k}={fields.pop(k)}" for k in order if k in fields]
        if isinstance(fields.get("lateness_ms"), int | float):
            shown.append(f"late={lateness_text(fields['lateness_ms'])} (from {fields.get('late_from', '?')})")
        return f"{at}  command  " + " ".join(shown)
    if sk.startswith("CB#"):
        order = ["event_type", "event_name", "status", "user_id", "room_id"]
        described = " ".join(f"{k}={item[k]}" for k in order if item.get(k) not in (None, ""))
        return f"{item.get('received_at', '?')}  callback {described}"
    return f"{sk}  " + json.dumps({k: v for k, v in item.items() if k not in skip}, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------------------------
# rejected
# ---------------------------------------------------------------------------------------------------------
REJECTED_EPILOG = """\
examples:
  livectl rejected                      # today's (UTC) rejected commands, oldest first
  livectl rejected --date 2026-11-21 --json
A command that fails validation (unknown action, a bad or missing parameter, a reused id) never reaches a
task: the action function records it under REJECTED#<yyyy-mm-dd> (UTC day it arrived, kept 30 days) with the
field and the reason, and publishes `Command Rejected`. The body itself is not kept, only its sha256.
"""


def parse_day(text: str) -> str:
    """argparse type: a calendar day, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day like 2026-11-21: {text!r}") from None


def rejected_line(item: dict[str, Any]) -> str:
    sk_parts = str(item.get("sk", "")).split("#")  # CMD#<iso time>#<key>
    at = str(item.get("at") or (sk_parts[1] if len(sk_parts) > 2 else "?"))
    ids = " ".join(f"{k}={item[k]}" for k in ("command_id", "message_id") if item.get(k))
    return f"{at}  {item.get('action') or '?'}  {item.get('field') or '?'}: {item.get('reason') or '?'}  {ids}".rstrip()


def run_rejected(args: argparse.Namespace) -> int:
    from livectl.store.ledger import Ledger

    target = resolve_target(args)
    ledger = Ledger(target.output("LedgerTableName"))
    day = args.date or utc_now().date().isoformat()
    items = _aws_call("ledger Query", _bind(ledger.rejected, day))
    items.sort(key=lambda i: str(i.get("sk")))
    if args.json:
        emit_json(items, indent=2)
    elif not items:
        emit(f"no rejected commands on {day} (UTC)")
    else:
        emit(f"{len(items)} rejected command{'' if len(items) == 1 else 's'} on {day} (UTC):")
        for item in items:
            emit(f"  {rejected_line(item)}")
    return 0


# ---------------------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------------------
EVENTS_EPILOG = """\
examples:
  livectl events --follow               # until Ctrl-C
  livectl events --for 30 --json
How: livectl puts a temporary rule on the stack's bus (source "livectl") targeting a temporary SQS queue it
creates, prints what arrives, and removes both on exit. Locally this runs against moto; deployed, your
credentials need events:PutRule/PutTargets/RemoveTargets/DeleteRule and sqs:CreateQueue/SetQueueAttributes/
ReceiveMessage/DeleteMessage/DeleteQueue. Only events published while it runs are shown (EventBridge keeps no
history; `livectl task` shows the ledger).
"""


class EventTap:
    """A temporary rule on `bus` → a temporary queue; iterate to receive events as they arrive."""

    def __init__(self, target: Target) -> None:
        self.bus = target.output("EventBusName")
        self.sqs = target.client("sqs")
        self.events = target.client("events")
        self.name = f"livectl-cli-events-{uuid.uuid4().hex[:8]}"
        self.queue_url = ""
        self.rule_arn = ""

    def __enter__(self) -> EventTap:
        self.queue_url = self.sqs.create_queue(QueueName=self.name, Attributes={"MessageRetentionPeriod": "3600"})[
            "QueueUrl"
        ]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.rule_arn = self.events.put_rule(
            Name=self.name, EventBusName=self.bus, EventPattern=json.dumps({"source": ["livectl"]})
        )["RuleArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.rule_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
        self.events.put_targets(Rule=self.name, EventBusName=self.bus, Targets=[{"Id": "cli", "Arn": queue_arn}])
        return self

    def __exit__(self, *exc: object) -> None:
        for step in (
            lambda: self.events.remove_targets(Rule=self.name, EventBusName=self.bus, Ids=["cli"]),
            lambda: self.events.delete_rule(Name=self.name, EventBusName=self.bus),
            lambda: self.sqs.delete_queue(QueueUrl=self.queue_url),
        ):
            try:
                step()
            except Exception as exc:
                emit(f"livectl: cleanup of {self.name} failed: {type(exc).__name__}", file=sys.stderr)

    def receive(self, wait: int = 1) -> Iterator[dict[str, Any]]:
        answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        for message in answer.get("Messages", []):
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            try:
                yield json.loads(message["Body"])
            except ValueError:
                continue


def lateness_text(ms: float) -> str:
    """A stop's lateness for people: `850ms`, `2.4s`, `3m05s`."""
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def event_line(event: dict[str, Any]) -> str:
    detail = event.get("detail") or {}
    when = str(event.get("time", ""))[11:19]
    parts = [detail.get(k) for k in ("action", "provider", "task_id")]
    head = " ".join(str(p) for p in parts if p)
    extra = []
    for key in (
        "via",
        "outcome",
        "state",
        "status",
        "event_type",
        "at",
        "schedule",
        "error_code",
        "reason",
        "request_id",
    ):
        value = detail.get(key)
        if value not in (None, "", []):
            extra.append(f"{key}={value}")
    if isinstance(detail.get("lateness_ms"), int | float):
        extra.insert(1, f"late={lateness_text(detail['lateness_ms'])}")
    return f"{when}  {event.get('detail-type')!s:<22} {head}  {' '.join(extra)}".rstrip()


def run_events(args: argparse.Namespace) -> int:
    if not args.follow and args.for_seconds is None:
        raise CliError("give --follow (until Ctrl-C) or --for SECONDS")
    target = resolve_target(args)
    deadline = time.monotonic() + args.for_seconds if args.for_seconds is not None else None
    seen = 0
    tap = EventTap(target)
    _aws_call("creating the event tap", tap.__enter__)
    try:
        emit(f"listening on {tap.bus} (Ctrl-C to stop)", file=sys.stderr)
        while deadline is None or time.monotonic() < deadline:
            for event in _aws_call("ReceiveMessage", lambda: list(tap.receive())):
                seen += 1
                if args.json:
                    emit_json(event, flush=True)
                else:
                    emit(event_line(event), flush=True)
                if args.count and seen >= args.count:
                    return 0
    except KeyboardInterrupt:
        pass
    finally:
        tap.__exit__(None, None, None)
    return 0


# ---------------------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------------------
def register(sub: Any) -> None:
    task = sub.add_parser(
        "task",
        help="show a task's ledger entry and history",
        description="Show a task's current state and history from the ledger.",
        epilog=TASK_EPILOG,
        formatter_class=HelpFormatter,
    )
    task.add_argument("task_id", metavar="TASK_ID")
    task.add_argument("--provider", choices=["volcengine", "trtc"], help="default: look under both")
    task.add_argument("--json", action="store_true", help="print the raw items as JSON")
    _add_target(task)
    task.set_defaults(handler=run_task)

    rejected = sub.add_parser(
        "rejected",
        help="list the commands rejected as invalid on one day",
        description="List the commands the action functions rejected as invalid on one UTC day, with the reason.",
        epilog=REJECTED_EPILOG,
        formatter_class=HelpFormatter,
    )
    rejected.add_argument("--date", type=parse_day, metavar="YYYY-MM-DD", help="the UTC day (default: today)")
    rejected.add_argument("--json", action="store_true", help="print the raw items as JSON")
    _add_target(rejected)
    rejected.set_defaults(handler=run_rejected)

    events = sub.add_parser(
        "events",
        help="show outcome events as they arrive",
        description="Print livectl's outcome events from the stack's bus as they arrive.",
        epilog=EVENTS_EPILOG,
        formatter_class=HelpFormatter,
    )
    events.add_argument("--follow", action="store_true", help="keep listening until Ctrl-C")
    events.add_argument(
        "--for", dest="for_seconds", type=positive_number, metavar="SECONDS", help="listen this long, then exit"
    )
    events.add_argument("--count", type=positive_int, help="exit after this many events")
    events.add_argument("--json", action="store_true", help="print each event as JSON")
    _add_target(events)
    events.set_defaults(handler=run_events)
