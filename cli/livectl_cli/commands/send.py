"""`livectl send`: validate a command and put it on its action's queue, or many from a JSONL file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from livectl.errors import LivectlError
from livectl.providers.catalogue import ACTIONS
from livectl_cli.common import CliError, add_action_argument, add_command, emit, json_object, parse_time
from livectl_cli.targets import add_target_arguments, aws_call, bind, resolve_target

SEND_EPILOG = """\
examples:
  livectl send StopPullRecordTask --params '{"TaskId": "f831f3b0"}'
  livectl send DeleteCloudRecording --params '{"SdkAppId": 1400000001, "TaskId": "rec-9", "Region": "ap-guangzhou"}' \\
      --id my-key-1 --account default
  livectl send --file commands.jsonl          # one command per line, as in the command contract
  livectl --help; livectl send --stack livectl-prod StopPullRecordTask --params '{"TaskId": "x"}'

The command is validated first (the error names the field), then put on the action's queue.
"""
BATCH_SIZE = 10  # SendMessageBatch's limit


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
    answer = aws_call(
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


def _read_lines(name: str) -> list[str]:
    try:
        return Path(name).read_text(encoding="utf-8").splitlines() if name != "-" else sys.stdin.read().splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {Path(name)}: {exc.strerror}") from exc


def _sort_lines(lines: list[str]) -> tuple[dict[str, list[tuple[int, str]]], list[str]]:
    """The valid commands by action (with their line numbers), and a note per invalid line."""
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
    return valid, invalid


def _send_batch(sqs: Any, url: str, entries: list[dict[str, str]]) -> Any:
    return sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _send_file(args: argparse.Namespace) -> int:
    valid, invalid = _sort_lines(_read_lines(args.file))
    total = sum(len(v) for v in valid.values())
    target = resolve_target(args)
    sqs = target.client("sqs")
    sent, failed = 0, list[str]()
    out = sys.stderr
    _progress(0, total, out)
    for action, items in valid.items():
        url = target.queue_url(action)
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            entries = [{"Id": str(n), "MessageBody": body} for n, body in chunk]
            answer = aws_call("SendMessageBatch", bind(_send_batch, sqs, url, entries))
            sent += len(answer.get("Successful", []))
            failed.extend(f"line {f['Id']}: {f.get('Code')}" for f in answer.get("Failed", []))
            _progress(sent + len(failed), total, out)
    out.write("\n")
    for line in invalid + failed:
        emit(f"  {line}", file=sys.stderr)
    per_action = ", ".join(f"{a} {len(v)}" for a, v in sorted(valid.items()))
    emit(f"sent {sent}, invalid {len(invalid)}, failed {len(failed)}" + (f" ({per_action})" if per_action else ""))
    return 0 if not invalid and not failed else 1


def register(sub: Any) -> None:
    send = add_command(
        sub,
        "send",
        summary="validate a command and put it on its action's queue (or bulk from a JSONL file)",
        description="Send one command (validated first) to its action's SQS queue, or many from --file.",
        epilog=SEND_EPILOG,
        handler=run_send,
    )
    add_action_argument(send, ACTIONS, optional=True)
    send.add_argument("--params", help="the action's parameters as a JSON object")
    send.add_argument("--account", help="provider account (default: default)")
    send.add_argument("--id", help="idempotency key (default: derived from action, account and params)")
    send.add_argument("--not-after", help="RFC 3339 time after which the command is dropped as stale")
    send.add_argument("--file", help="JSONL file of commands (- for stdin): progress bar and summary")
    add_target_arguments(send)
