"""Whatever the ledger, the bus or a schedule holds, `livectl` never writes a raw control character to the
operator's terminal (issue 10 item 8): every printer goes through `emit`/`emit_json`, which escape them, and
JSON output stays valid JSON that decodes to the very same values."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl_cli.commands import events as events_command
from livectl_cli.commands import rejected, schedules, task
from livectl_cli.common import UNPRINTABLE, json_text, printable
from livectl_cli.main import main
from livectl_cli.targets import Target

pytestmark = pytest.mark.unit

# Text as hostile as it gets: anything at all, with terminal controls, newlines and bidi overrides mixed in.
HOSTILE = st.lists(
    st.one_of(
        st.text(max_size=4),
        st.sampled_from(
            ["\x1b[2J\x1b[31m", "\n", "\r", "\x07", "\x9b", "\u202e", "\u2028", "\ufeff", "\ud800", "\U000e0041"]
        ),
    ),
    max_size=8,
).map("".join)
VALUES = st.one_of(HOSTILE, st.integers(), st.none(), st.lists(HOSTILE, max_size=2), st.dictionaries(HOSTILE, HOSTILE))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TARGET = Target("local", "livectl-local", {"LedgerTableName": "ledger", "ScheduleGroupName": "g", "EventBusName": "b"})


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_no_raw_control(text: str) -> None:
    found = UNPRINTABLE.search(text.replace("\n", ""))
    assert found is None, f"raw U+{ord(found.group()):04X} in output" if found else ""


@pytest.fixture(autouse=True)
def fake_target(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for command in (task, rejected, events_command, schedules):
        monkeypatch.setattr(command, "resolve_target", lambda args: TARGET)
    yield


@given(text=HOSTILE)
def test_printable_leaves_no_raw_control_and_keeps_everything_else(text: str) -> None:
    shown = printable(text)
    assert_no_raw_control(shown)
    assert "\n" not in shown
    assert all(part in shown for part in UNPRINTABLE.split(text))  # what is printable is shown as is


@given(value=VALUES)
def test_json_text_is_escaped_and_decodes_to_the_same_value(value: Any) -> None:
    for indent in (None, 2):
        text = json_text(value, indent=indent)
        assert_no_raw_control(text)
        assert json.loads(text) == value


def ledger_items(state: dict[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = [{"pk": "TASK#volcengine#t", "sk": "STATE", **state}]
    for n, extra in enumerate(history):
        sk = ["CMD#2026-11-21T10:00:00+00:00#k", "CB#302#x", "OTHER#1"][n % 3]
        items.append({"pk": "TASK#volcengine#t", "sk": sk, "received_at": "2026-11-21T10:00:00Z", **extra})
    return items


@SETTINGS
@given(
    task_id=HOSTILE.filter(str.strip),
    state=st.dictionaries(HOSTILE, VALUES, max_size=4),
    history=st.lists(st.dictionaries(st.sampled_from(["action", "outcome", "error_code", "event_type", "x"]), VALUES)),
    as_json=st.booleans(),
)
def test_task_prints_no_raw_control_character(
    monkeypatch: pytest.MonkeyPatch,
    task_id: str,
    state: dict[str, Any],
    history: list[dict[str, Any]],
    as_json: bool,
) -> None:
    state = {k: v for k, v in state.items() if k not in ("pk", "sk")}
    items = ledger_items(state, history)
    monkeypatch.setattr(task, "ledger_items", lambda table, provider, tid: items)
    code, out, err = run(["task", "--provider", "volcengine", *(["--json"] if as_json else []), "--", task_id])
    assert code == 0, err
    assert_no_raw_control(out)
    if as_json:
        assert json.loads(out) == {"volcengine": json.loads(json.dumps(items, default=str))}
    else:  # one line per STATE field and per history item, plus the headings: no value started a line
        assert len(out.splitlines()) == 1 + len(state) + (1 + len(history) if history else 0)


@SETTINGS
@given(items=st.lists(st.dictionaries(st.sampled_from(["action", "field", "reason", "command_id", "at"]), HOSTILE)))
def test_rejected_prints_no_raw_control_character(monkeypatch: pytest.MonkeyPatch, items: list[dict[str, Any]]) -> None:
    from livectl.store.ledger import Ledger

    rows = [
        {"pk": "REJECTED#2026-11-21", "sk": f"CMD#2026-11-21T00:00:00+00:00#k{n}", **i} for n, i in enumerate(items)
    ]
    monkeypatch.setattr(Ledger, "rejected", lambda self, day: list(rows))
    code, out, err = run(["rejected", "--date", "2026-11-21"])
    assert code == 0, err
    assert_no_raw_control(out)
    assert len(out.splitlines()) == 1 + len(rows)


class FakeTap:
    events: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, target: Target) -> None:
        self.bus = "b"
        self.sent = False

    def __enter__(self) -> FakeTap:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def receive(self, wait: int = 1) -> Iterator[dict[str, Any]]:
        if not self.sent:
            self.sent = True
            yield from self.events


@SETTINGS
@given(
    events=st.lists(
        st.fixed_dictionaries(
            {"detail-type": HOSTILE, "time": HOSTILE},
            optional={
                "detail": st.dictionaries(
                    st.sampled_from(["action", "provider", "task_id", "outcome", "reason", "error_code", "status"]),
                    VALUES,
                )
            },
        ),
        min_size=1,
        max_size=5,
    ),
    as_json=st.booleans(),
)
def test_events_prints_no_raw_control_character(
    monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]], as_json: bool
) -> None:
    FakeTap.events = events
    monkeypatch.setattr(events_command, "EventTap", FakeTap)
    argv = ["events", "--for", "5", "--count", str(len(events)), *(["--json"] if as_json else [])]
    code, out, err = run(argv)
    assert code == 0, err
    assert_no_raw_control(out + err)
    lines = out.splitlines()
    assert len(lines) == len(events)  # one line per event, whatever its values hold
    if as_json:
        assert [json.loads(line) for line in lines] == json.loads(json.dumps(events))


@SETTINGS
@given(task_id=HOSTILE, account=HOSTILE, name=HOSTILE, as_json=st.booleans())
def test_schedules_prints_no_raw_control_character(
    monkeypatch: pytest.MonkeyPatch, task_id: str, account: str, name: str, as_json: bool
) -> None:
    from livectl.schedules.scheduler import ScheduledStop, StopScheduler

    stop = ScheduledStop(
        name=name,
        at=datetime(2026, 11, 21, 18, tzinfo=UTC),
        state="ENABLED",
        target_arn="arn:aws:sqs:ap-southeast-1:123456789012:q",
        command={"action": "StopPullRecordTask", "params": {"TaskId": task_id}, "account": account},
    )
    monkeypatch.setattr(StopScheduler, "list", lambda self: [stop])
    code, out, err = run(["schedules", *(["--json"] if as_json else [])])
    assert code == 0, err
    assert_no_raw_control(out)
    if not as_json:
        assert len(out.splitlines()) == 2  # heading + the one schedule
