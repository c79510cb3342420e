"""Operator commands against the local stack or a deployed one: send, schedule-stop, cancel-stop, schedules
(`observe_commands` has task, rejected and events).

Target: `--stack NAME` reads that CloudFormation stack's outputs (usual AWS credentials and region);
otherwise the local stack, from the state file `livectl local` writes (`.livectl-local.json`, or the path in
$LIVECTL_LOCAL_STATE), or from $LIVECTL_LOCAL_URL (moto's URL) with names computed from template.yaml.
Every name comes from the stack's outputs (the same keys locally and deployed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TextIO

from livectl.errors import LivectlError
from livectl.providers.catalogue import ACTIONS
from livectl.schedules.scheduler import STOP_ACTIONS
from livectl_cli.common import (
    CliError,
    HelpFormatter,
    emit,
    emit_json,
    json_object,
    parse_duration,
    parse_time,
    printable,
    utc_now,
)

STATE_FILE = ".livectl-local.json"
LOCAL_STACK_NAME = "livectl-local"

# Action → the logical-id stem of its function and queue (fixed interface; outputs are `<stem>QueueUrl`).
ACTION_STEMS = {
    "StopPullRecordTask": "StopPullRecord",
    "GetPullRecordTask": "GetPullRecord",
    "RestartPullToPushTask": "RestartPullToPush",
    "StopPullToPushTask": "StopPullToPush",
    "DeleteCloudRecording": "DeleteCloudRecording",
    "StopPublishCdnStream": "StopCdnPublish",
}


# ---------------------------------------------------------------------------------------------------------
# Target stack
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Target:
    kind: str  # "local" or "stack"
    name: str
    outputs: dict[str, str]
    region: str | None = None
    aws_endpoint: str | None = None

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CliError(f"stack {self.name} has no output {key!r} (is it deployed from this template.yaml?)")
        return str(value)

    def queue_url(self, action: str) -> str:
        return self.output(f"{ACTION_STEMS[action]}QueueUrl")

    def client(self, service: str) -> Any:
        from livectl import aws

        return aws.client(service)


def _use_local_environment(endpoint: str, region: str) -> None:
    """Point boto3 (and livectl.aws's cached clients) at the local moto server."""
    from livectl import aws

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset_clients()


def state_file_path() -> Path:
    return Path(os.environ.get("LIVECTL_LOCAL_STATE") or STATE_FILE)


def resolve_target(args: argparse.Namespace) -> Target:
    if getattr(args, "stack", None):
        return _deployed(args.stack, getattr(args, "region", None))
    path = state_file_path()
    if path.is_file():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            endpoint, region, outputs = state["aws_endpoint"], state["region"], dict(state["outputs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"cannot read {path} (written by `livectl local`): {exc!r}") from exc
        _use_local_environment(endpoint, region)
        return Target("local", LOCAL_STACK_NAME, outputs, region, endpoint)
    url = os.environ.get("LIVECTL_LOCAL_URL")
    if url:
        from livectl_cli.local.cfn import Template
        from livectl_cli.local.stack import REGION, find_template

        template = Template.load(find_template(), stack_name=LOCAL_STACK_NAME, region=REGION, aws_endpoint=url)
        _use_local_environment(url, REGION)
        return Target("local", LOCAL_STACK_NAME, {k: str(v) for k, v in template.outputs().items()}, REGION, url)
    raise CliError(
        f"no target: start `livectl local` (it writes {STATE_FILE} here), set LIVECTL_LOCAL_URL, or pass --stack NAME"
    )


def _deployed(stack: str, region: str | None) -> Target:
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    try:
        import boto3

        cfn = boto3.client("cloudformation", region_name=region)
        answer = cfn.describe_stacks(StackName=stack)
    except Exception as exc:
        from livectl import aws

        code = aws.error_code(exc) or type(exc).__name__
        if code == "NoCredentialsError":
            raise CliError("no AWS credentials: configure a profile or export AWS_ACCESS_KEY_ID/...") from exc
        if code == "NoRegionError":
            raise CliError("no AWS region: pass --region or set AWS_DEFAULT_REGION") from exc
        raise CliError(f"cannot read stack {stack}: {code}") from exc
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise CliError(f"stack {stack} not found")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target("stack", stack, outputs, region)


def _add_target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack)")
    p.add_argument("--region", help="AWS region of --stack (default: the usual AWS configuration)")


def _aws_call(what: str, fn: Callable[[], Any]) -> Any:
    """Run one AWS call; any failure becomes one clear line."""
    try:
        return fn()
    except CliError:
        raise
    except LivectlError as exc:
        raise CliError(f"{what} failed: {exc}") from exc
    except Exception as exc:
        from livectl import aws

        code = aws.error_code(exc) or type(exc).__name__
        if "EndpointConnectionError" in code or "ConnectionError" in code:
            raise CliError(f"{what} failed: cannot reach AWS endpoint (is `livectl local` running?)") from exc
        raise CliError(f"{what} failed: {code}") from exc


# ---------------------------------------------------------------------------------------------------------
# send
# ---------------------------------------------------------------------------------------------------------
SEND_EPILOG = """\
examples:
  livectl send StopPullRecordTask --params '{"TaskId": "f831f3b0"}'
  livectl send DeleteCloudRecording --params '{"SdkAppId": 1400000001, "TaskId": "rec-9", "Region": "ap-guangzhou"}' \\
      --id my-key-1 --account default
  livectl send --file commands.jsonl          # one command per line, as in the command contract
  livectl --help; livectl send --stack livectl-prod StopPullRecordTask --params '{"TaskId": "x"}'

The command is validated first (the error names the field), then put on the action's queue.
"""


def build_command(
    action: str, params: dict[str, Any], account: str | None, command_id: str | None, not_after: str | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"action": action, "params": params}
    # An option given empty is still given: the contract then says what is wrong with it ("" is no id).
    if account is not None:
        doc["account"] = account
    if command_id is not None:
        doc["id"] = command_id
    if not_after is not None:
        doc["not_after"] = parse_time(not_after, "--not-after").isoformat()
    return doc


def validate(doc: Any) -> Any:
    from livectl.command import parse_command

    try:
        return parse_command(doc)
    except LivectlError as exc:
        raise CliError(f"invalid command: {exc.message}") from exc


def run_send(args: argparse.Namespace) -> int:
    if args.file:
        if args.action or args.params:
            raise CliError("give either ACTION --params JSON or --file, not both")
        return _send_file(args)
    if not args.action or args.params is None:
        raise CliError("give ACTION --params JSON (or --file commands.jsonl)")
    doc = build_command(args.action, json_object(args.params), args.account, args.id, args.not_after)
    command = validate(doc)
    target = resolve_target(args)
    url = target.queue_url(command.name)
    answer = _aws_call(
        "SendMessage", lambda: target.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(doc))
    )
    emit(
        f"sent {command.name} for task {command.task_id} (key {command.key[:16]}) to "
        f"{url.rsplit('/', 1)[-1]}: message {answer['MessageId']}"
    )
    return 0


def _progress(done: int, total: int, out: TextIO) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    out.flush()


def _send_file(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if args.file != "-" else sys.stdin.read().splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    valid: dict[str, list[tuple[int, str]]] = {}
    invalid: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            command = validate(line)
        except CliError as exc:
            invalid.append(f"line {number}: {exc}")
            continue
        valid.setdefault(command.name, []).append((number, line))
    total = sum(len(v) for v in valid.values())
    target = resolve_target(args)
    sqs = target.client("sqs")
    sent, failed = 0, list[str]()
    out = sys.stderr
    _progress(0, total, out)
    for action, items in valid.items():
        url = target.queue_url(action)
        for start in range(0, len(items), 10):
            chunk = items[start : start + 10]
            entries = [{"Id": str(n), "MessageBody": body} for n, body in chunk]
            answer = _aws_call("SendMessageBatch", _bind(_send_batch, sqs, url, entries))
            sent += len(answer.get("Successful", []))
            failed.extend(f"line {f['Id']}: {f.get('Code')}" for f in answer.get("Failed", []))
            _progress(sent + len(failed), total, out)
    out.write("\n")
    for line in invalid + failed:
        emit(f"  {line}", file=sys.stderr)
    per_action = ", ".join(f"{a} {len(v)}" for a, v in sorted(valid.items()))
    emit(f"sent {sent}, invalid {len(invalid)}, failed {len(failed)}" + (f" ({per_action})" if per_action else ""))
    return 0 if not invalid and not failed else 1


# ---------------------------------------------------------------------------------------------------------
# schedule-stop / cancel-stop / schedules
# ---------------------------------------------------------------------------------------------------------
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

CANCEL_EPILOG = """\
example:
  livectl cancel-stop StopPullRecordTask --params '{"TaskId": "f831f3b0"}'
"""

SCHEDULES_EPILOG = """\
example:
  livectl schedules            # pending auto-stops in the stack's schedule group, soonest first
  livectl schedules --json
BY says whose auto-stop it is: `guard` (armed by the cost guard; `livectl guard extend|off`) or `operator`.
"""


def _schedule_deps(target: Target) -> Any:
    from livectl.events import EventPublisher
    from livectl.schedules.scheduler import ScheduleTarget, StopScheduler
    from livectl.schedules.service import ScheduleDeps
    from livectl.store.ledger import Ledger

    group = target.output("ScheduleGroupName")
    queue_arns = {
        action: target.output(f"{stem}QueueArn") for action, stem in ACTION_STEMS.items() if action in STOP_ACTIONS
    }
    schedule_target = ScheduleTarget(
        group=group,
        role_arn=target.output("SchedulerRoleArn"),
        dlq_arn=target.output("SchedulerDLQArn"),
        queue_arns=queue_arns,
    )
    return ScheduleDeps(
        target=schedule_target,
        scheduler=StopScheduler(group),
        ledger=Ledger(target.output("LedgerTableName")),
        publisher=EventPublisher(target.output("EventBusName")),
        guard=guard_policies(target),
    )


def guard_policies(target: Target) -> Any:
    """The stack's cost-guard policies (its defaults and SSM path from the outputs); None for an older stack."""
    from livectl.guard.policy import GuardPolicies, GuardPolicy, apply_fields

    path, defaults = target.outputs.get("GuardParameterPath"), target.outputs.get("GuardDefaults")
    if not path or not defaults:
        return None
    return GuardPolicies(path, apply_fields(GuardPolicy(), json.loads(defaults), "GuardDefaults"), max_age=0)


def _schedule_request(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    from livectl.schedules.service import handle_schedule_request

    doc = build_command(args.action, json_object(args.params), args.account, args.id, None)
    validate(doc)
    request = {**doc, **extra}
    target = resolve_target(args)
    if args.via_queue:
        url = target.output("ScheduleRequestQueueUrl")
        answer = _aws_call(
            "SendMessage", lambda: target.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(request))
        )
        emit(f"schedule request sent to {url.rsplit('/', 1)[-1]}: message {answer['MessageId']}")
        return 0
    deps = _schedule_deps(target)
    result = _aws_call("schedule request", lambda: handle_schedule_request(request, deps, utc_now()))
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
        return _schedule_request(args, {"at": at.isoformat()})
    duration = parse_duration(args.after, "--after")
    if duration.total_seconds() < 1:
        raise CliError(f"--after: {args.after!r} is shorter than 1s")
    if duration > MAX_HORIZON:
        raise CliError(f"--after: {args.after} is {limit}")
    seconds = int(duration.total_seconds())
    return _schedule_request(args, {"after": f"{seconds}s"})


def run_cancel_stop(args: argparse.Namespace) -> int:
    return _schedule_request(args, {"cancel": True})


def run_schedules(args: argparse.Namespace) -> int:
    from livectl.schedules.scheduler import StopScheduler

    target = resolve_target(args)
    scheduler = StopScheduler(target.output("ScheduleGroupName"))
    stops = _aws_call("ListSchedules", scheduler.list)
    if args.json:
        emit_json([s.as_dict() for s in stops], indent=2)
        return 0
    if not stops:
        emit("no pending auto-stops")
        return 0
    rows: list[tuple[str, ...]] = [("AT (UTC)", "ACTION", "TASK", "ACCOUNT", "BY", "STATE", "NAME")]
    for s in stops:
        params = s.command.get("params") or {}
        task = str(params.get("TaskId") or params.get("TaskID") or "?")
        at = s.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if s.at else "?"
        by = "guard" if s.command.get("via") == "guard" else "operator"  # the cost guard's, or someone's
        account = str(s.command.get("account", "default"))
        rows.append((at, str(s.command.get("action")), task, account, by, s.state, s.name))
    emit(*_table(rows))
    return 0


def _table(rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()) -> list[str]:
    """Rows as aligned columns (the first row is the header); columns in `right` are right-aligned."""
    cells = [[printable(str(c)) for c in r] for r in rows]  # widths of what is shown, escapes included
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in cells
    ]


def _send_batch(sqs: Any, url: str, entries: list[dict[str, str]]) -> Any:
    return sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)


# ---------------------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------------------
def register(sub: Any) -> None:
    actions = sorted(ACTIONS)
    stop_actions = sorted(STOP_ACTIONS)

    send = sub.add_parser(
        "send",
        help="validate a command and put it on its action's queue (or bulk from a JSONL file)",
        description="Send one command (validated first) to its action's SQS queue, or many from --file.",
        epilog=SEND_EPILOG,
        formatter_class=HelpFormatter,
    )
    send.add_argument("action", nargs="?", choices=actions, metavar="ACTION", help=", ".join(actions))
    send.add_argument("--params", help="the action's parameters as a JSON object")
    send.add_argument("--account", help="provider account (default: default)")
    send.add_argument("--id", help="idempotency key (default: derived from action, account and params)")
    send.add_argument("--not-after", help="RFC 3339 time after which the command is dropped as stale")
    send.add_argument("--file", help="JSONL file of commands (- for stdin): progress bar and summary")
    _add_target(send)
    send.set_defaults(handler=run_send)

    for name, helptext, epilog, handler in (
        ("schedule-stop", "schedule (or move) a one-time auto-stop", SCHEDULE_EPILOG, run_schedule_stop),
        ("cancel-stop", "cancel a pending auto-stop", CANCEL_EPILOG, run_cancel_stop),
    ):
        p = sub.add_parser(
            name,
            help=helptext,
            description=helptext[0].upper() + helptext[1:] + ".",
            epilog=epilog,
            formatter_class=HelpFormatter,
        )
        p.add_argument("action", choices=stop_actions, metavar="ACTION", help=", ".join(stop_actions))
        p.add_argument("--params", required=True, help="the stop's parameters as a JSON object (identifies the task)")
        p.add_argument("--account", help="provider account (default: default)")
        p.add_argument("--id", help="idempotency key of the command (optional)")
        if name == "schedule-stop":
            when = p.add_mutually_exclusive_group(required=True)
            when.add_argument("--at", help="RFC 3339 time with zone, e.g. 2026-11-21T18:00:00+08:00")
            when.add_argument("--after", help="duration from now: 90s, 15m, 2h, 1h30m")
        p.add_argument("--via-queue", action="store_true", help="send a request to ScheduleRequestQueue instead")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        _add_target(p)
        p.set_defaults(handler=handler)

    schedules = sub.add_parser(
        "schedules",
        help="list pending auto-stops",
        description="List the pending one-time auto-stops in the stack's schedule group.",
        epilog=SCHEDULES_EPILOG,
        formatter_class=HelpFormatter,
    )
    schedules.add_argument("--json", action="store_true", help="print JSON")
    _add_target(schedules)
    schedules.set_defaults(handler=run_schedules)
