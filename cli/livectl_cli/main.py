"""`livectl`: the operators' command line. Each subcommand lives in its own module under `commands/` with a
`register`; how they find the stack is in targets.py, what they share in common.py.

Every failure ends as one line on stderr: `livectl: <what is wrong>`, exit 2 for bad input and 1 for anything
else. An unexpected exception is one line too; LIVECTL_DEBUG=1 shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Sequence

from livectl import __version__
from livectl_cli.commands import (
    call,
    cancel_stop,
    demo,
    dlq,
    emulator,
    events,
    guard,
    local,
    rejected,
    schedule_stop,
    schedules,
    send,
    sign,
    status,
    task,
)
from livectl_cli.common import CliError, Parser, emit

# In the order `livectl --help` lists them.
SUBCOMMAND_MODULES = [
    sign,
    call,
    emulator,
    send,
    schedule_stop,
    cancel_stop,
    schedules,
    guard,
    task,
    rejected,
    events,
    status,
    dlq,
    local,
    demo,
]
DEBUG_ENV = "LIVECTL_DEBUG"
_LOOKS_NEGATIVE = re.compile(r"-\d")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="livectl",
        description="Control plane for Volcengine Live and Tencent TRTC tasks, on AWS.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"livectl {__version__}")
    parser.set_defaults(cli=main)  # `livectl demo` drives the very CLI that started it (see commands/demo.py)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in SUBCOMMAND_MODULES:
        module.register(sub)
    return parser


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """`--after -5m` → `--after=-5m`: argparse takes `-5m` for an option and says only "expected one
    argument"; attached, the value reaches the option's own check, which says what is wrong with it."""
    out: list[str] = []
    for token in argv:
        if out and _LOOKS_NEGATIVE.match(token) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
        code: int = args.handler(args)
        return code
    except CliError as exc:
        return _one_line(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: still one line, the traceback on request
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        return _one_line(f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", 1)


def _one_line(message: str, code: int) -> int:
    emit(f"livectl: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
