"""Every way an operator can mistype a `livectl` command ends as ONE line on stderr that names the option or
argument and the problem, exit code 2, never a traceback, never a usage dump (issue 10 item 7).

No stack runs here: the state file points nowhere, so a value the CLI accepted would end in the "no target"
error instead, which the table's expected fragments tell apart.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl_cli import main as main_module
from livectl_cli.common import UNPRINTABLE
from livectl_cli.main import main

pytestmark = pytest.mark.unit

STOP = ["StopPullRecordTask", "--params", '{"TaskId": "x"}']
TRTC = '{"SdkAppId": 1400000001, "TaskId": "t", "Region": "ap-guangzhou"}'


@pytest.fixture(autouse=True)
def no_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("LIVECTL_LOCAL_STATE", str(tmp_path / "no-stack.json"))
    monkeypatch.delenv("LIVECTL_LOCAL_URL", raising=False)
    monkeypatch.delenv("LIVECTL_DEBUG", raising=False)
    yield


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_one_clean_line(err: str) -> str:
    assert err.startswith("livectl: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "usage:" not in err
    assert not UNPRINTABLE.search(err[:-1]), err  # values echoed in the message are escaped
    return err


BAD = [
    # (argv, fragment the message must contain)
    (["schedule-stop", *STOP, "--after", "100000000000h"], "--after"),
    (["schedule-stop", *STOP, "--after", "9" * 400 + "d"], "--after"),
    (["schedule-stop", *STOP, "--after", "366d"], "365-day limit"),
    (["schedule-stop", *STOP, "--after", "-5m"], "--after: '-5m' is negative"),
    (["schedule-stop", *STOP, "--after", "-1"], "--after: '-1' is negative"),
    (["schedule-stop", *STOP, "--after", "0s"], "--after: '0s' is shorter than 1s"),
    (["schedule-stop", *STOP, "--after", "soon"], "--after: not a duration"),
    (["schedule-stop", *STOP, "--at", "9999-12-31T23:59:59-23:59"], "--at: time '9999-12-31T23:59:59-23:59' is out"),
    (["schedule-stop", *STOP, "--at", "0001-01-01T00:00:00+23:59"], "--at: time '0001-01-01T00:00:00+23:59' is out"),
    (["schedule-stop", *STOP, "--at", "2001-01-01T00:00:00Z"], "--at: 2001-01-01T00:00:00Z is in the past"),
    (["schedule-stop", *STOP, "--at", "9999-01-01T00:00:00Z"], "365-day limit"),
    (["schedule-stop", *STOP, "--at", "2030-01-01T00:00:00"], "--at: time '2030-01-01T00:00:00' needs a zone"),
    (["schedule-stop", *STOP, "--at", "tomorrow"], "--at: not an RFC 3339 time"),
    (["schedule-stop", *STOP], "one of the arguments --at --after is required"),
    (["schedule-stop", "StopPullRecordTask", "--after", "1h"], "--params"),
    (["schedule-stop", "GetPullRecordTask", "--params", "{}", "--after", "1h"], "argument ACTION: invalid choice"),
    (["schedule-stop", *STOP[:2], '{"TaskId": "a\\u001b[2J"}', "--after", "1h"], "params.TaskId must not contain"),
    (["cancel-stop", "Nope", "--params", "{}"], "cancel-stop: argument ACTION: invalid choice: 'Nope'"),
    (["cancel-stop", "StopPublishCdnStream", "--params", "[1]"], "--params must be a JSON object"),
    (["send", *STOP, "--id", ""], "id must be"),
    (["send", *STOP, "--account", ""], "account must"),
    (["send", *STOP, "--id", "has space"], "id must"),
    (["send", *STOP, "--not-after", "later"], "--not-after: not an RFC 3339 time"),
    (["send", *STOP, "--not-after", "9999-12-31T23:59:59-23:59"], "--not-after: time"),
    (["send", "Nope", "--params", "{}"], "send: argument ACTION: invalid choice: 'Nope'"),
    (["send", "StopPullRecordTask"], "give ACTION --params JSON"),
    (["send", "StopPullRecordTask", "--params", '{"TaskId": "a\\nb"}'], "params.TaskId must not contain"),
    (["send", "StopPublishCdnStream", "--params", TRTC.replace("ap-guangzhou", "mars")], "params.Region"),
    (["send", "--file", "/nonexistent/commands.jsonl"], "cannot read"),
    (["events", "--for", "-1"], "events: argument --for: must be a positive number, got '-1'"),
    (["events", "--for", "0"], "argument --for: must be a positive number"),
    (["events", "--for", "nan"], "argument --for: must be a positive number"),
    (["events", "--for", "inf"], "argument --for: must be a positive number"),
    (["events", "--for", "soon"], "argument --for: not a number"),
    (["events", "--count", "0"], "argument --count: must be at least 1"),
    (["events", "--count", "-3"], "argument --count: must be at least 1"),
    (["events"], "give --follow"),
    (["rejected", "--date", "2026-13-01"], "rejected: argument --date: not a day"),
    (["rejected", "--date", "yesterday"], "argument --date: not a day"),
    (["task"], "task: the following arguments are required: TASK_ID"),
    (["task", "x", "--provider", "aws"], "argument --provider: invalid choice"),
    (["schedules", "--bogus"], "unrecognized arguments: --bogus"),
    (["sign", "volcengine", "StopPullRecordTask", "--params", "{}"], "params.TaskId is required"),
    (["sign", "trtc", "StopPullRecordTask", "--params", '{"TaskId": "x"}'], "is a volcengine action, not trtc"),
    (["sign", "volcengine", *STOP, "--at", "noon"], "--at: not an RFC 3339 time"),
    (["call", "volcengine", *STOP, "--timeout", "-1"], "argument --timeout: must be a positive number"),
    (["local", "--aws-port", "x"], "argument --aws-port: invalid int value"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_a_bad_argument_is_one_line_naming_it_with_exit_code_2(argv: list[str], fragment: str) -> None:
    code, out, err = run(argv)
    assert code == 2
    assert out == ""
    assert fragment in assert_one_clean_line(err)
    assert "no target" not in err  # refused before looking for a stack


@pytest.mark.parametrize(
    "argv",
    [
        ["send", *STOP],
        ["schedule-stop", *STOP, "--after", "2h"],
        ["schedule-stop", *STOP, "--after", "365d"],
        ["cancel-stop", *STOP],
        ["schedules"],
        ["task", "x"],
        ["rejected", "--date", "2026-11-21"],
        ["events", "--for", "0.5", "--count", "1"],
    ],
)
def test_good_arguments_get_as_far_as_looking_for_the_stack(argv: list[str]) -> None:
    """The checks above refuse only what is wrong: valid arguments reach the target lookup."""
    code, _, err = run(argv)
    assert code == 2 and "no target" in assert_one_clean_line(err)


# Options whose value is free text, per subcommand: whatever the value, the answer is one clean line, exit 2
# (a value the CLI accepts ends at "no target").
FREE_TEXT_OPTIONS = [
    (["schedule-stop", *STOP], "--after"),
    (["schedule-stop", *STOP], "--at"),
    (["schedule-stop", "StopPullRecordTask", "--after", "1h"], "--params"),
    (["send", *STOP], "--id"),
    (["send", *STOP], "--account"),
    (["send", *STOP], "--not-after"),
    (["send", "StopPullRecordTask"], "--params"),
    (["cancel-stop", *STOP], "--id"),
    (["events", "--follow"], "--for"),
    (["events", "--follow"], "--count"),
    (["rejected"], "--date"),
    (["sign", "volcengine", *STOP], "--at"),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(FREE_TEXT_OPTIONS), value=st.text(max_size=40), detached=st.booleans())
def test_any_option_value_is_one_line_and_exit_2(where: tuple[list[str], str], value: str, detached: bool) -> None:
    head, option = where
    if head[0] == "sign":  # the only command that can succeed without a stack; it needs credentials
        head = [*head, "--access-key", "AK", "--secret-key", "SK"]
    # detached (`--after VALUE`) is how people type it; a value like "-h" then means help, so skip that one
    argv = [*head, option, value] if detached and not value.startswith("-h") else [*head, f"{option}={value}"]
    code, out, err = run(argv)
    if code == 0:  # `sign` with a valid --at prints the signed request
        assert head[0] == "sign" and json.loads(out)["method"] == "POST"
        return
    assert code == 2
    assert_one_clean_line(err)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task_id=st.text(max_size=40))
def test_any_task_id_is_one_clean_line(task_id: str) -> None:
    code, out, err = run(["task", "--", task_id])
    assert code == 2 and out == ""
    assert_one_clean_line(err)


def test_an_unexpected_exception_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("disk on fire\nsecond line\x1b[2J")

    monkeypatch.setattr(main_module.schedules, "run_schedules", broken)
    code, _, err = run(["schedules"])
    assert code == 1
    assert "unexpected RuntimeError: disk on fire second line\\u001b[2J" in assert_one_clean_line(err)
    assert "LIVECTL_DEBUG=1" in err


def test_livectl_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(main_module.schedules, "run_schedules", broken)
    monkeypatch.setenv("LIVECTL_DEBUG", "1")
    code, _, err = run(["schedules"])
    assert code == 1 and "Traceback" in err and err.rstrip().endswith("(set LIVECTL_DEBUG=1 for the traceback)")
