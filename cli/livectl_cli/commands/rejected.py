"""`livectl rejected`: the commands refused before they reached a task, on one UTC day, with the reason."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from livectl_cli.common import add_command, emit, emit_json, utc_now
from livectl_cli.targets import add_target_arguments, aws_call, bind, resolve_target

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
    items = aws_call("ledger Query", bind(ledger.rejected, day))
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


def register(sub: Any) -> None:
    rejected = add_command(
        sub,
        "rejected",
        summary="list the commands rejected as invalid on one day",
        description="List the commands the action functions rejected as invalid on one UTC day, with the reason.",
        epilog=REJECTED_EPILOG,
        handler=run_rejected,
    )
    rejected.add_argument("--date", type=parse_day, metavar="YYYY-MM-DD", help="the UTC day (default: today)")
    rejected.add_argument("--json", action="store_true", help="print the raw items as JSON")
    add_target_arguments(rejected)
