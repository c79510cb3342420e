"""`livectl events`: livectl's outcome events from the stack's bus, printed as they arrive (through a temporary
rule and queue that it removes on exit)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from livectl_cli.common import CliError, add_command, emit, emit_json, lateness_text, positive_int, positive_number
from livectl_cli.targets import Target, add_target_arguments, aws_call, resolve_target

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
    aws_call("creating the event tap", tap.__enter__)
    try:
        emit(f"listening on {tap.bus} (Ctrl-C to stop)", file=sys.stderr)
        while deadline is None or time.monotonic() < deadline:
            for event in aws_call("ReceiveMessage", lambda: list(tap.receive())):
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


def register(sub: Any) -> None:
    events = add_command(
        sub,
        "events",
        summary="show outcome events as they arrive",
        description="Print livectl's outcome events from the stack's bus as they arrive.",
        epilog=EVENTS_EPILOG,
        handler=run_events,
    )
    events.add_argument("--follow", action="store_true", help="keep listening until Ctrl-C")
    events.add_argument(
        "--for", dest="for_seconds", type=positive_number, metavar="SECONDS", help="listen this long, then exit"
    )
    events.add_argument("--count", type=positive_int, help="exit after this many events")
    events.add_argument("--json", action="store_true", help="print each event as JSON")
    add_target_arguments(events)
