"""`livectl local`: the whole stack on this machine (moto, the provider emulator, the real handlers) until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from livectl_cli.common import CliError, add_command
from livectl_cli.targets import STATE_FILE

LOCAL_EPILOG = """\
example:
  livectl local                      # then, in another terminal:
  livectl send StopPullRecordTask --params '{"TaskId": "demo-rec-1"}'
  livectl events --follow

Starts on 127.0.0.1: moto (SQS, Scheduler, DynamoDB, EventBridge, Secrets Manager) with the stack's resources
from template.yaml, the provider emulator (callbacks to the local webhook; moto and the emulator each in
processes of their own unless --moto-in-process / --emulator-in-process), the real handlers behind one
poller per SQS event source, a clock that fires due one-time schedules, and the HttpApi route. Writes
.livectl-local.json (endpoints + outputs) so the operator commands find it; removes it on Ctrl-C.
"""


def _print_banner(stack: Any, state_file: Path) -> None:
    from livectl_cli.emulator import latency

    s = stack.state()
    print("livectl local stack is up")
    print(f"  AWS (moto)       {s['aws_endpoint']}   region {s['region']}")
    if s.get("dynamodb_endpoint"):
        print(f"  DynamoDB (moto)  {s['dynamodb_endpoint']}   (a moto process of its own)")
    if s.get("idempotency_endpoint"):
        print(f"  idempotency      {s['idempotency_endpoint']}   (the functions' idempotency tables, a third moto)")
    apart = "a process of its own, " if stack.config.emulator_process else ""
    print(f"  emulator         {s['emulator_url']}   ({apart}admin API: {s['emulator_url']}/_emulator/tasks)")
    round_trip = latency.describe(stack.emulator.configure())
    print(f"  round trip       {round_trip}   (POST /_emulator/config to change)")
    print(f"  webhook          {s['webhook_url']}")
    print(f"  functions        {', '.join(stack.functions)}")
    if stack.skipped:
        print(f"  NOT started      {', '.join(stack.skipped)} (no code yet)")
    print(f"  state file       {state_file}")
    print("environment to export in another shell (boto3, aws CLI, livectl):")
    for key, value in stack.environment.items():
        print(f"  export {key}={value}")
    print("queues:")
    for key, value in sorted(s["outputs"].items()):
        if key.endswith("QueueUrl"):
            print(f"  {key:<28} {value}")
    print("logging one line per invocation; Ctrl-C stops everything", flush=True)


def run_local(args: argparse.Namespace) -> int:
    from livectl_cli.emulator import latency
    from livectl_cli.local.stack import LocalConfig, LocalStack

    config = LocalConfig(
        template=Path(args.template) if args.template else None,
        moto_port=args.aws_port,
        moto_processes=not args.moto_in_process,
        emulator_process=not args.emulator_in_process,
        emulator_port=args.emulator_port,
        webhook_port=args.webhook_port,
        seed=args.seed,
        emulator_latency=latency.from_arguments(args),
        quiet_handlers=not args.verbose,
        log=lambda line: print(line, flush=True),
    )
    stack = LocalStack(config)
    try:
        stack.start()
    except OSError as exc:
        raise CliError(f"cannot start the local stack: {exc.strerror or exc} (port in use? see --help)") from exc
    except RuntimeError as exc:  # a child (moto, the emulator) that did not come up says why in the message
        raise CliError(f"cannot start the local stack: {exc}") from exc
    state_file = Path(args.state_file or os.environ.get("LIVECTL_LOCAL_STATE") or STATE_FILE).resolve()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job may have it ignored
        signal.signal(signum, lambda *_: stopping.set())
    try:
        state_file.write_text(json.dumps(stack.state(), indent=2), encoding="utf-8")
        _print_banner(stack, state_file)
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", file=sys.stderr)
        stack.stop()
        state_file.unlink(missing_ok=True)
        print("stopped", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    from livectl_cli.emulator import latency

    local = add_command(
        sub,
        "local",
        summary="run the whole stack on this machine (moto + emulator + real handlers)",
        description="Run the whole livectl stack locally, wired from template.yaml, until Ctrl-C.",
        epilog=LOCAL_EPILOG,
        handler=run_local,
    )
    local.add_argument("--webhook-port", type=int, default=3000, help="the HttpApi route's port (default 3000)")
    local.add_argument("--emulator-port", type=int, default=8900, help="the provider emulator's port (default 8900)")
    local.add_argument("--aws-port", type=int, default=4566, help="moto's port (default 4566; 0 = any free port)")
    local.add_argument(
        "--moto-in-process",
        action="store_true",
        help="one moto in this process, as the tests run it (default: moto in three processes of its own, "
        "DynamoDB and the idempotency tables apart, so that AWS's stand-in does not share the functions' CPU)",
    )
    local.add_argument(
        "--emulator-in-process",
        action="store_true",
        help="the provider emulator in this process, as the tests and the demo run it (default: `livectl emulator` "
        "in a process of its own, so that its arrival stamps and rate limits do not wait for the functions' CPU)",
    )
    local.add_argument("--seed", type=int, default=7, help="the emulator's seed (fault draws, ids)")
    local.add_argument("--template", help="path to template.yaml (default: found from the current folder)")
    local.add_argument("--state-file", help="where to write endpoints for other commands (default .livectl-local.json)")
    local.add_argument("--verbose", action="store_true", help="also show the handlers' own JSON logs and metrics")
    latency.add_arguments(local)
