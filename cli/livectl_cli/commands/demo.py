"""`livectl demo`: what `make demo` runs (the scenario and its checks live in livectl_cli.local.demo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from livectl_cli.common import add_command

DEMO_EPILOG = """\
example:
  livectl demo          # what `make demo` runs; exits non-zero if any expected outcome is missing
"""


def run_demo(args: argparse.Namespace) -> int:
    from livectl_cli.local.demo import run

    # `args.cli` is the entry point that parsed these arguments (main.py sets it): the demo drives that same CLI.
    return run(args.cli, verbose=args.verbose, template=Path(args.template) if args.template else None)


def register(sub: Any) -> None:
    demo = add_command(
        sub,
        "demo",
        summary="start the local stack, run the scenario, check every outcome",
        description="Run the demo scenario against a fresh local stack (ephemeral ports) and check each outcome.",
        epilog=DEMO_EPILOG,
        handler=run_demo,
    )
    demo.add_argument("--verbose", action="store_true", help="also print the stack's one-line invocation log")
    demo.add_argument("--template", help="path to template.yaml (default: found from the current folder)")
