"""`livectl call`: sign and send one provider call (with livectl's retry loop) and print the parsed result."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from livectl.errors import LivectlError
from livectl.providers.clients import ProviderClient
from livectl.providers.operations import perform
from livectl.providers.retry import RetryPolicy
from livectl_cli.commands.sign import add_request_arguments, credentials_from, resolve_request
from livectl_cli.common import add_command, emit_json, positive_number

CALL_EPILOG = """\
example (against the emulator started with `livectl emulator`):
  VOLC_ACCESSKEY=AKLTDEMO VOLC_SECRETKEY=demo-secret \\
    livectl call volcengine GetPullRecordTask --params '{"TaskID": "demo-rec-1"}' --endpoint http://127.0.0.1:8900

Prints the parsed result as JSON; on error prints the error class, the provider's code and request id, and
exits 1.
"""


def run_call(args: argparse.Namespace) -> int:
    action, params, endpoint = resolve_request(args)
    client = ProviderClient({action.provider: endpoint})
    try:
        outcome = perform(
            action,
            params,
            credentials_from(args, action.provider),
            client,
            deadline=time.monotonic() + args.timeout,
            policy=RetryPolicy(attempts=3),
        )
    except LivectlError as exc:
        emit_json(exc.as_dict(), file=sys.stderr)
        return 1
    emit_json(
        {
            "action": outcome.action,
            "status": outcome.status,
            "request_id": outcome.request_id,
            "result": outcome.result,
            "provider_calls": outcome.provider_calls,
            **({"error_code": outcome.error_code} if outcome.error_code else {}),
        },
        indent=2,
    )
    return 0


def register(sub: Any) -> None:
    call = add_command(
        sub,
        "call",
        summary="send one signed request and print the parsed result",
        description="Sign and send one provider call (with livectl's retry loop), print the result.",
        epilog=CALL_EPILOG,
        handler=run_call,
    )
    add_request_arguments(call, with_at=False)
    call.add_argument("--timeout", type=positive_number, default=30.0, help="overall seconds budget (default 30)")
