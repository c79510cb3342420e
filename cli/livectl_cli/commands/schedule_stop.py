"""`livectl schedule-stop`: schedule (or move) a one-time auto-stop; `schedule_request` also serves `cancel-stop`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from livectl.schedules.scheduler import STOP_ACTIONS
from livectl_cli.commands.send import build_command, validate
from livectl_cli.common import (
    CliError,
    add_action_argument,
    add_command,
    emit,
    emit_json,
    json_object,
    parse_duration,
    parse_time,
    utc_now,
)
from livectl_cli.targets import add_target_arguments, aws_call, resolve_target, schedule_deps

SCHEDULE_EPILOG = """\
examples:
  livectl schedule-stop StopPullRecordTask --params '{"TaskId": "f831f3b0"}' --after 2h
  livectl schedule-stop StopPullToPushTask --params '{"TaskId": "relay-1"}' --at 2026-11-21T22:00:00+08:00
  livectl schedule-stop StopPublishCdnStream \\
      --params '{"SdkAppId": 1400000001, "TaskId": "t1", "Region": "ap-guangzhou"}' --at 2026-11-21T18:00:00+08:00
Scheduling the same task again MOVES its schedule. By default the schedule is written directly (with the
schedule manager's own code: same name, same ledger record, same `Stop Scheduled` event) and the answer is
printed; --via-queue sends a schedule request to the stack's ScheduleRequestQueue instead (needs only
sqs:SendMessage; the result shows up in `livectl schedules` and `livectl events`).
"""


def schedule_request(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    """Run one schedule request (the command plus `at`, `after` or `cancel`) and print its answer."""
    from livectl.schedules.service import handle_schedule_request

    doc = build_command(args.action, json_object(args.params), args.account, args.id, None)
    validate(doc)
    request = {**doc, **extra}
    target = resolve_target(args)
    if args.via_queue:
        url = target.output("ScheduleRequestQueueUrl")
        answer = aws_call(
            "SendMessage", lambda: target.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(request))
        )
        emit(f"schedule request sent to {url.rsplit('/', 1)[-1]}: message {answer['MessageId']}")
        return 0
    deps = schedule_deps(target)
    result = aws_call("schedule request", lambda: handle_schedule_request(request, deps, utc_now()))
    if result.get("status") == "rejected":
        raise CliError(f"invalid request: {result.get('message')}")
    if args.json:
        emit_json(result, indent=2)
        return 0
    status = result["status"]
    if status in ("created", "moved"):
        emit(f"{status} {result['schedule']}: {result['action']} {result['task_id']} at {result['at']}")
    elif status == "cancelled":
        emit(f"cancelled {result['schedule']} ({result['action']} {result['task_id']})")
    else:
        emit(f"nothing to cancel: no pending auto-stop for {result['action']} {result['task_id']}")
    return 0


def run_schedule_stop(args: argparse.Namespace) -> int:
    from livectl.schedules.scheduler import MAX_HORIZON

    now = utc_now()
    limit = f"beyond the {MAX_HORIZON.days}-day limit of one-time schedules"
    if args.at is not None:
        at = parse_time(args.at, "--at")
        if at <= now:
            raise CliError(f"--at: {args.at} is in the past")
        if at - now > MAX_HORIZON:
            raise CliError(f"--at: {args.at} is {limit}")
        return schedule_request(args, {"at": at.isoformat()})
    duration = parse_duration(args.after, "--after")
    if duration.total_seconds() < 1:
        raise CliError(f"--after: {args.after!r} is shorter than 1s")
    if duration > MAX_HORIZON:
        raise CliError(f"--after: {args.after} is {limit}")
    seconds = int(duration.total_seconds())
    return schedule_request(args, {"after": f"{seconds}s"})


def add_stop_arguments(p: argparse.ArgumentParser, *, with_time: bool) -> None:
    """The arguments `schedule-stop` and `cancel-stop` share (`with_time`: --at or --after)."""
    add_action_argument(p, STOP_ACTIONS)
    p.add_argument("--params", required=True, help="the stop's parameters as a JSON object (identifies the task)")
    p.add_argument("--account", help="provider account (default: default)")
    p.add_argument("--id", help="idempotency key of the command (optional)")
    if with_time:
        when = p.add_mutually_exclusive_group(required=True)
        when.add_argument("--at", help="RFC 3339 time with zone, e.g. 2026-11-21T18:00:00+08:00")
        when.add_argument("--after", help="duration from now: 90s, 15m, 2h, 1h30m")
    p.add_argument("--via-queue", action="store_true", help="send a request to ScheduleRequestQueue instead")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_target_arguments(p)


def register(sub: Any) -> None:
    summary = "schedule (or move) a one-time auto-stop"
    p = add_command(
        sub,
        "schedule-stop",
        summary=summary,
        description="Schedule (or move) a one-time auto-stop.",
        epilog=SCHEDULE_EPILOG,
        handler=run_schedule_stop,
    )
    add_stop_arguments(p, with_time=True)
