"""`livectl emulator`: run the provider emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.common import CliError, add_command
from livectl_cli.emulator import latency

EPILOG = """\
example:
  livectl emulator --port 8900 --seed 7 --callback-url http://127.0.0.1:3000/callbacks/trtc

  # in another shell: create a task, stop it with livectl, read the request log
  curl -s -X POST localhost:8900/_emulator/tasks -d '{"kind": "pull_record", "task_id": "rec-1"}'
  VOLC_ACCESSKEY=AKLTDEMO VOLC_SECRETKEY=demo-secret \\
    livectl call volcengine StopPullRecordTask --params '{"TaskId": "rec-1"}' --endpoint http://127.0.0.1:8900
  curl -s localhost:8900/_emulator/calls

Demo accounts: Volcengine AKLTDEMO / demo-secret, TRTC AKIDDEMO / demo-secret; callback key CALLBACK_KEY.
Faults (--faults or POST /_emulator/faults): '{"rate": 0.3, "kinds": ["http_503", "throttle", "drop"]}'.
A slow TRTC beside a fast Volcengine: --latency-ms 50 --jitter-ms 10 --trtc-latency-ms 400 --trtc-jitter-ms 80.
The admin API is documented in docs/emulator.md.
""".replace("CALLBACK_KEY", LOCAL_CALLBACK_KEY)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "emulator",
        summary="run the Volcengine/TRTC provider emulator on localhost",
        description="Serve both providers' APIs (signed, rate-limited, stateful, with faults and TRTC callbacks) "
        "on one local port, plus an admin API under /_emulator/.",
        epilog=EPILOG,
        handler=run,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8900, help="port (default 8900; 0 picks a free one)")
    p.add_argument("--seed", type=int, default=0, help="seed for request ids and faults (default 0)")
    p.add_argument("--callback-url", help="where TRTC callbacks are posted when a recording or relay stops")
    p.add_argument(
        "--callback-key", default=LOCAL_CALLBACK_KEY, help=f"TRTC callback key for Sign (default {LOCAL_CALLBACK_KEY})"
    )
    p.add_argument("--callback-retry-interval", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--callback-retry-window", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--faults", help="fault rules as JSON (same shape as POST /_emulator/faults)")
    latency.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from livectl_cli.emulator.model import SpecError
    from livectl_cli.emulator.server import Emulator

    faults = None
    if args.faults:
        try:
            faults = json.loads(args.faults)
        except ValueError as exc:
            raise CliError(f"--faults is not valid JSON: {exc}") from exc
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            seed=args.seed,
            latency=latency.from_arguments(args),
            callback_url=args.callback_url,
            callback_key=args.callback_key or None,
            callback_retry_interval=args.callback_retry_interval,
            callback_retry_window=args.callback_retry_window,
            faults=faults,
        )
        emulator.start()
    except SpecError as exc:
        raise CliError(str(exc)) from exc  # "faults: ..." or the latency field at fault
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    url = emulator.url
    print(f"livectl emulator listening on {url}  (seed {args.seed})")
    print(f"  Volcengine  POST {url}/?Action=<Action>&Version=2023-01-01   access key AKLTDEMO / demo-secret")
    print(f"  TRTC        POST {url}/  (X-TC-Action, 2019-07-22)            SecretId AKIDDEMO / demo-secret")
    target = args.callback_url or "(none: set --callback-url or POST /_emulator/config)"
    print(f"  round trip  {emulator.core.latency.describe()}")
    print(f"  callbacks   {target}  signed: {'yes' if args.callback_key else 'no'}")
    print(f"  admin       GET/POST {url}/_emulator/tasks   GET {url}/_emulator/calls")
    print(f"              POST {url}/_emulator/faults   POST {url}/_emulator/reset   GET {url}/_emulator/callbacks")
    print("Ctrl-C to stop.", flush=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: emulator.stopping.set())
    try:
        emulator.stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    print("emulator stopped", file=sys.stderr)
    return 0
