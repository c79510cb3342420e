"""`livectl`: the operators' command line. Each subcommand lives in its own module with a `register`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from livectl import __version__
from livectl_cli import local_commands, operator_commands, provider_commands
from livectl_cli.common import CliError
from livectl_cli.emulator import command as emulator_command

SUBCOMMAND_MODULES = [provider_commands, emulator_command, operator_commands, local_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livectl",
        description="Control plane for Volcengine Live and Tencent TRTC tasks, on AWS.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"livectl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except CliError as exc:
        print(f"livectl: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
