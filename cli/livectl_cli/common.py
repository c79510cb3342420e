"""Helpers shared by the CLI's subcommands: one-line errors, JSON arguments, time parsing."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any


class CliError(Exception):
    """An error shown to the operator as one line, with an exit code."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def json_object(text: str, what: str = "--params") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CliError(f"{what} must be a JSON object")
    return value


def parse_time(text: str) -> datetime:
    """RFC 3339 (`2024-06-01T12:00:00Z`, `2026-11-21T18:00:00+08:00`); a time without zone is refused."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"not an RFC 3339 time: {text!r} (example: 2024-06-01T12:00:00Z)") from exc
    if value.tzinfo is None:
        raise CliError(f"time {text!r} needs a zone (Z or +08:00)")
    return value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1h30m`, `PT2H` (ISO 8601 hours/minutes/seconds)."""
    raw = text.strip().lower()
    if raw.startswith("pt"):
        raw = raw[2:]
    pos, total = 0, 0.0
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise CliError(f"not a duration: {text!r} (examples: 90s, 15m, 2h, 1h30m)")
    return timedelta(seconds=total)


def utc_now() -> datetime:
    return datetime.now(UTC)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass
