"""`livectl cancel-stop`: cancel a pending auto-stop (the schedule manager's own code, as `schedule-stop`)."""

from __future__ import annotations

import argparse
from typing import Any

from livectl_cli.commands.schedule_stop import add_stop_arguments, schedule_request
from livectl_cli.common import add_command

CANCEL_EPILOG = """\
example:
  livectl cancel-stop StopPullRecordTask --params '{"TaskId": "f831f3b0"}'
"""


def run_cancel_stop(args: argparse.Namespace) -> int:
    return schedule_request(args, {"cancel": True})


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "cancel-stop",
        summary="cancel a pending auto-stop",
        description="Cancel a pending auto-stop.",
        epilog=CANCEL_EPILOG,
        handler=run_cancel_stop,
    )
    add_stop_arguments(p, with_time=False)
