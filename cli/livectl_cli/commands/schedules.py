"""`livectl schedules`: the pending one-time auto-stops in the stack's schedule group, soonest first."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import Any

from livectl_cli.common import add_command, emit, emit_json, table
from livectl_cli.targets import add_target_arguments, aws_call, resolve_target

SCHEDULES_EPILOG = """\
example:
  livectl schedules            # pending auto-stops in the stack's schedule group, soonest first
  livectl schedules --json
BY says whose auto-stop it is: `guard` (armed by the cost guard; `livectl guard extend|off`) or `operator`.
"""


def run_schedules(args: argparse.Namespace) -> int:
    from livectl.schedules.scheduler import StopScheduler

    target = resolve_target(args)
    scheduler = StopScheduler(target.output("ScheduleGroupName"))
    stops = aws_call("ListSchedules", scheduler.list)
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
    emit(*table(rows))
    return 0


def register(sub: Any) -> None:
    schedules = add_command(
        sub,
        "schedules",
        summary="list pending auto-stops",
        description="List the pending one-time auto-stops in the stack's schedule group.",
        epilog=SCHEDULES_EPILOG,
        handler=run_schedules,
    )
    schedules.add_argument("--json", action="store_true", help="print JSON")
    add_target_arguments(schedules)
