"""`livectl dlq ACTION [--redrive [--id MESSAGE_ID ...]]`: what an action's dead-letter queue holds, why each
command failed (from the ledger), and sending them back to the action's queue.

Listing receives every message with a short visibility timeout and makes each visible again at once, so
nothing is consumed (SQS has no peek; each listing adds one to a message's receive count).

Redrive: without --id, and when every message is a plain command, through SQS's message move task
(StartMessageMoveTask, the console's "redrive"); where that API is missing (moto) or some messages must be
chosen or unwrapped, message by message: send the command to the action's queue, then delete it from the DLQ.
A command that already took effect is answered from its idempotency record, with no second provider call.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from livectl.providers.catalogue import ACTIONS
from livectl_cli.common import CliError, add_action_argument, add_command, emit, emit_json, table, utc_now
from livectl_cli.targets import ACTION_STEMS, Target, add_target_arguments, aws_call, resolve_target

HIDE_SECONDS = 60  # long enough to list (or move) them all, short enough not to matter if we die
MAX_MESSAGES = 1000
UNSUPPORTED = {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction"}

DLQ_EPILOG = """\
examples:
  livectl dlq StopPullRecordTask                    # what is dead-lettered, with the ledger's reason
  livectl dlq StopPullRecordTask --redrive          # send everything back to the StopPullRecordTask queue
  livectl dlq DeleteCloudRecording --redrive --id 3f6c...  --id 9a1b...
A command lands in its DLQ after 5 receives that failed for a transient reason (provider outage, throttling,
expired credentials). Fix the cause first, then redrive. Commands are idempotent: one that already took effect
is answered from its stored result without calling the provider again. Messages stay 14 days in a DLQ.
Deployed, your credentials need sqs:ReceiveMessage, ChangeMessageVisibility, GetQueueAttributes, and for
--redrive sqs:StartMessageMoveTask (or SendMessage on the queue and DeleteMessage on the DLQ); dynamodb:Query.
"""


@dataclass
class DeadLetter:
    message_id: str
    receipt: str
    body: str
    sent_at: datetime | None
    sqs_receives: int
    command: dict[str, Any] | None  # what a redrive sends (a Lambda destination record is unwrapped)
    key: str | None
    task_id: str | None
    wrapped: bool  # a Lambda async-invocation failure record (a direct Scheduler invocation that failed)
    error_code: str | None = None
    reason: str | None = None
    receive_count: int | None = None  # the receive on which the ledger last saw it fail

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k not in ("receipt", "body")}
        out["sent_at"] = self.sent_at.isoformat() if self.sent_at else None
        return out


def _interpret(message: dict[str, Any]) -> DeadLetter:
    from livectl.command import parse_command
    from livectl.errors import LivectlError

    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    letter = DeadLetter(
        message_id=message["MessageId"],
        receipt=message["ReceiptHandle"],
        body=message["Body"],
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        sqs_receives=int(attributes.get("ApproximateReceiveCount", 1)) - 1,  # less this listing's own receive
        command=None,
        key=None,
        task_id=None,
        wrapped=False,
    )
    try:
        doc = json.loads(message["Body"])
    except ValueError:
        return letter
    if isinstance(doc, dict) and isinstance(doc.get("requestPayload"), dict):
        letter.wrapped = True
        payload = doc.get("responsePayload")
        response: dict[str, Any] = payload if isinstance(payload, dict) else {}
        letter.error_code, letter.reason = response.get("errorType"), response.get("errorMessage")
        doc = doc["requestPayload"]
    if isinstance(doc, dict):
        letter.command = doc
        try:
            command = parse_command(doc)
            letter.key, letter.task_id = command.key, command.task_id
        except LivectlError as exc:
            letter.reason = letter.reason or f"invalid command: {exc.message}"
    return letter


def receive_all(sqs: Any, url: str) -> list[DeadLetter]:
    """Every message in the queue, hidden for HIDE_SECONDS (call `release` to make them visible again)."""
    seen: dict[str, DeadLetter] = {}
    while len(seen) < MAX_MESSAGES:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=HIDE_SECONDS,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            seen.setdefault(message["MessageId"], _interpret(message))
    return list(seen.values())


def release(sqs: Any, url: str, letters: list[DeadLetter]) -> None:
    entries = [{"Id": str(i), "ReceiptHandle": x.receipt, "VisibilityTimeout": 0} for i, x in enumerate(letters)]
    for start in range(0, len(entries), 10):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries[start : start + 10])


def attach_reasons(ledger: Any, letters: list[DeadLetter], now: datetime) -> None:
    """The latest failure the ledger noted for each command (FAILED#<day>, from the day it was sent)."""
    wanted = {x.key for x in letters if x.key}
    if not wanted:
        return
    first = min((x.sent_at for x in letters if x.sent_at), default=now) - timedelta(days=1)
    days = min((now.date() - first.date()).days, 15)
    latest: dict[str, dict[str, Any]] = {}
    for offset in range(days + 1):
        for item in ledger.failures((now - timedelta(days=offset)).date().isoformat()):
            key = item.get("command_key")
            if key in wanted and key not in latest:
                latest[str(key)] = item  # newest first: the first seen is the latest
    for letter in letters:
        item = latest.get(letter.key or "")
        if item:
            letter.error_code = item.get("error_code") or letter.error_code
            letter.reason = item.get("reason") or letter.reason
            letter.receive_count = item.get("receive_count")


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _one_by_one(sqs: Any, dlq: str, queue: str, chosen: list[DeadLetter]) -> list[str]:
    moved = []
    for letter in chosen:
        body = json.dumps(letter.command) if letter.wrapped else letter.body
        sqs.send_message(QueueUrl=queue, MessageBody=body)
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=letter.receipt)
        moved.append(letter.message_id)
    return moved


def redrive(target: Target, action: str, letters: list[DeadLetter], ids: list[str] | None) -> list[str]:
    """Send the chosen letters back; returns the lines that say what happened."""
    sqs = target.client("sqs")
    stem = ACTION_STEMS[action]
    dlq, queue = target.output(f"{stem}DLQUrl"), target.output(f"{stem}QueueUrl")
    by_id = {x.message_id: x for x in letters}
    unknown = [i for i in ids or [] if i not in by_id]
    if unknown:
        release(sqs, dlq, letters)
        raise CliError(f"--id: not in the {action} DLQ: {', '.join(unknown)}")
    chosen = [by_id[i] for i in ids] if ids else letters
    unsendable = [x for x in chosen if x.command is None]
    chosen = [x for x in chosen if x.command is not None]
    release(sqs, dlq, [x for x in letters if x not in chosen])
    notes = [f"left {x.message_id}: its body is not a command (kept in the DLQ)" for x in unsendable]
    if not chosen:
        return [*notes, "nothing to redrive"]
    if target.kind == "local":  # moto 5 has no StartMessageMoveTask (it answers 500 "not implemented")
        notes.append("the local stack (moto) has no StartMessageMoveTask: moving them one by one")
    elif not ids and not unsendable and not any(x.wrapped for x in chosen):
        release(sqs, dlq, chosen)
        try:
            handle = sqs.start_message_move_task(SourceArn=_queue_arn(sqs, dlq), DestinationArn=_queue_arn(sqs, queue))
        except Exception as exc:
            from livectl import aws

            if (aws.error_code(exc) or "") not in UNSUPPORTED:
                raise
            notes.append(f"StartMessageMoveTask refused ({aws.error_code(exc)}): moving them one by one")
            chosen = [x for x in receive_all(sqs, dlq) if x.command is not None]  # released above: take them again
        else:
            return [
                *notes,
                f"started a message move task for {len(chosen)} message(s) back to {queue.rsplit('/', 1)[-1]} "
                f"(task {str(handle.get('TaskHandle', '?'))[:24]}…); `livectl dlq {action}` shows what is left",
            ]
    moved = _one_by_one(sqs, dlq, queue, chosen)
    done = f"sent {len(moved)} message(s) back to {queue.rsplit('/', 1)[-1]} and deleted them from the DLQ:"
    return [*notes, done, *(f"  {m}" for m in moved)]


def run_dlq(args: argparse.Namespace) -> int:
    from livectl.store.ledger import Ledger

    if args.id and not args.redrive:
        raise CliError("--id chooses what --redrive sends back; give --redrive too")
    target = resolve_target(args)
    sqs = target.client("sqs")
    dlq = target.output(f"{ACTION_STEMS[args.action]}DLQUrl")
    letters = aws_call("ReceiveMessage", lambda: receive_all(sqs, dlq))
    ledger = Ledger(target.output("LedgerTableName"))
    if not args.redrive:
        aws_call("ChangeMessageVisibility", lambda: release(sqs, dlq, letters))
    aws_call("ledger Query", lambda: attach_reasons(ledger, letters, utc_now()))
    if args.redrive:
        emit(*aws_call("redrive", lambda: redrive(target, args.action, letters, args.id)))
        return 0
    if args.json:
        emit_json([x.as_dict() for x in letters], indent=2)
        return 0
    if not letters:
        emit(f"the {args.action} DLQ is empty")
        return 0
    rows: list[tuple[str, ...]] = [("MESSAGE", "SENT (UTC)", "TASK", "RECEIVES", "ERROR", "REASON")]
    for x in letters:
        sent = f"{x.sent_at:%Y-%m-%d %H:%M:%S}" if x.sent_at else "?"
        receives = str(x.receive_count or x.sqs_receives)
        reason = (x.reason or "not in the ledger")[:80]
        rows.append((x.message_id, sent, x.task_id or "?", receives, x.error_code or "?", reason))
    emit(f"{len(letters)} dead-lettered {args.action} command{'' if len(letters) == 1 else 's'}:", *table(rows))
    return 0


def register(sub: Any) -> None:
    dlq = add_command(
        sub,
        "dlq",
        summary="list an action's dead-lettered commands with the reason, or send them back (--redrive)",
        description="List the commands in an action's dead-letter queue, or send them back to its queue.",
        epilog=DLQ_EPILOG,
        handler=run_dlq,
    )
    add_action_argument(dlq, ACTIONS)
    dlq.add_argument("--redrive", action="store_true", help="send them back to the action's queue")
    dlq.add_argument("--id", action="append", metavar="MESSAGE_ID", help="only this message (repeatable)")
    dlq.add_argument("--json", action="store_true", help="print the list as JSON")
    add_target_arguments(dlq)
