"""Helpers shared by the CLI's subcommands: one-line errors, argument types, time parsing, `table` (the one
column printer), and `emit`, the one way anything reaches the operator's terminal (values from the ledger, events
or a provider are escaped)."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TextIO

# What a terminal may act on instead of showing: C0/C1 controls (ESC starts colour and cursor sequences),
# DEL, the line and paragraph separators, zero-width and bidi-override format characters (they reorder or
# hide text), the BOM, lone surrogates and the invisible tag characters.
UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff\U000e0000-\U000e007f]"
)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a UTF-16 pair, as JSON writes it, so escaped JSON stays valid JSON
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every character a terminal could act on written as a JSON-style `\\uXXXX` escape."""
    return UNPRINTABLE.sub(_escape_char, text)


def emit(*lines: str, file: TextIO | None = None, flush: bool = False) -> None:
    """Print lines, each escaped (a newline inside a value cannot start a line of its own): every line the
    CLI shows goes through here or `emit_json`."""
    out = file if file is not None else sys.stdout
    out.write("".join(printable(line) + "\n" for line in lines))
    if flush:
        out.flush()


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON for the terminal: non-ASCII text kept readable, anything unprintable escaped (still valid JSON).
    json.dumps escapes the C0 controls inside strings, so the only raw newlines are its own indentation."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    return "\n".join(printable(line) for line in text.split("\n"))


def emit_json(value: Any, *, indent: int | None = None, file: TextIO | None = None, flush: bool = False) -> None:
    out = file if file is not None else sys.stdout
    out.write(json_text(value, indent=indent) + "\n")
    if flush:
        out.flush()


def display_width(text: str) -> int:
    """Columns a terminal gives `text`: CJK characters (a Volcengine status such as 生效中) take two."""
    return sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in text)


def table(rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()) -> list[str]:
    """Rows as aligned columns (the first row is the header); columns in `right` are right-aligned. Widths are
    those of what is shown: escapes included, CJK characters two columns wide."""
    cells = [[printable(str(c)) for c in r] for r in rows]
    widths = [max(display_width(r[i]) for r in cells) for i in range(len(cells[0]))]

    def pad(column: int, cell: str, width: int) -> str:
        gap = " " * (width - display_width(cell))
        return gap + cell if column in right else cell + gap

    return ["  ".join(pad(i, c, w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in cells]


def lateness_text(ms: float) -> str:
    """A stop's lateness for people: `850ms`, `2.4s`, `3m05s`."""
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"{minutes}m{seconds:02d}s"


class CliError(Exception):
    """An error shown to the operator as one line, with an exit code (2: the input is wrong)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the subcommand, the argument and the problem, then a pointer to --help
    (argparse's own prints the whole usage first, which buries the line that matters)."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("livectl").strip()
        hint = f" (see livectl {where} --help)" if where else " (see livectl --help)"
        raise CliError(f"{where + ': ' if where else ''}{message}{hint}")


def json_object(text: str, what: str = "--params") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CliError(f"{what} must be a JSON object")
    return value


def parse_time(text: str, what: str = "--at") -> datetime:
    """RFC 3339 (`2024-06-01T12:00:00Z`, `2026-11-21T18:00:00+08:00`) in UTC; a time without zone is refused."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"{what}: not an RFC 3339 time: {text!r} (example: 2024-06-01T12:00:00Z)") from exc
    if value.tzinfo is None:
        raise CliError(f"{what}: time {text!r} needs a zone (Z or +08:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59:59-23:59 is past the last datetime in UTC
        raise CliError(f"{what}: time {text!r} is out of range") from exc


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, what: str = "--after") -> timedelta:
    """`90s`, `15m`, `2h`, `1h30m`, `PT2H` (ISO 8601 hours/minutes/seconds); positive and finite."""
    raw = text.strip().lower()
    if raw.startswith("-"):
        raise CliError(f"{what}: {text!r} is negative; give a duration from now, e.g. 15m")
    if raw.startswith("pt"):
        raw = raw[2:]
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise CliError(f"{what}: not a duration: {text!r} (examples: 90s, 15m, 2h, 1h30m)")
    try:
        return timedelta(seconds=total)
    except OverflowError as exc:
        raise CliError(f"{what}: {text!r} is too long") from exc


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0 (argparse names the option in the error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def utc_now() -> datetime:
    return datetime.now(UTC)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass


def add_action_argument(p: argparse.ArgumentParser, actions: Iterable[str], *, optional: bool = False) -> None:
    """The ACTION positional: one of `actions`, listed in the help."""
    names = sorted(actions)
    p.add_argument("action", nargs="?" if optional else None, choices=names, metavar="ACTION", help=", ".join(names))


def add_command(
    sub: Any,
    name: str,
    *,
    summary: str,
    description: str | None = None,
    epilog: str | None = None,
    handler: Callable[[argparse.Namespace], int] | None = None,
) -> argparse.ArgumentParser:
    """One subcommand's parser: `summary` in `livectl --help`, `description` and `epilog` in its own --help."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=HelpFormatter
    )
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser
