"""`livectl <subcommand> --help` works for every subcommand (and every `guard` verb), listed from the parser itself
so a subcommand added later is covered too: usage and options on stdout, exit 0, nothing on stderr."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

from livectl_cli.main import build_parser, main

pytestmark = pytest.mark.unit


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every subcommand path the parser accepts: ("send",), ("guard",), ("guard", "show"), ..."""
    paths: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(command_paths(sub, (*prefix, name)))
    return paths


PATHS = command_paths(build_parser())


def test_the_parser_lists_every_subcommand_and_guard_verb() -> None:
    names = {path[0] for path in PATHS}
    assert {"sign", "call", "emulator", "send", "schedule-stop", "cancel-stop", "schedules", "guard"} <= names
    assert {"task", "rejected", "events", "status", "dlq", "local", "demo"} <= names
    assert {path[1] for path in PATHS if len(path) == 2} == {"show", "set", "extend", "off"}


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_help_of_every_subcommand(path: tuple[str, ...]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    assert err.getvalue() == ""
    text = out.getvalue()
    assert text.startswith(f"usage: livectl {' '.join(path)}"), text[:200]
    assert "-h, --help" in text


def test_every_subcommand_has_a_handler_or_verbs() -> None:
    """A subcommand registered without `handler` would fail only when an operator runs it."""
    parser = build_parser()
    leaves = [p for p in PATHS if not any(q[: len(p)] == p and len(q) > len(p) for q in PATHS)]
    for path in leaves:
        sub = parser
        for name in path:
            sub = next(a.choices[name] for a in sub._actions if isinstance(a, argparse._SubParsersAction))
        assert callable(sub.get_default("handler")), path
