"""`common.table`, the one column printer (schedules, status, dlq and the demo's task table): columns line up on
the terminal, whatever the cells hold: CJK statuses take two columns, unprintable characters are escaped first."""

from __future__ import annotations

import pytest

from livectl_cli.common import UNPRINTABLE, table

pytestmark = pytest.mark.unit


def test_left_and_right_aligned_columns() -> None:
    rows = [("ACTION", "QUEUED", "NAME"), ("StopPullRecordTask", "3", "a"), ("Get", "120", "bb")]
    assert table(rows, frozenset({1})) == [
        "ACTION              QUEUED  NAME",
        "StopPullRecordTask       3  a",
        "Get                    120  bb",
    ]


def test_cjk_cells_take_two_columns() -> None:
    """A Volcengine status (生效中) is six columns wide on a terminal: the columns after it still line up."""
    rows = [("TASK", "STATUS", "STATE"), ("demo-rec-stop", "停用", "stopped"), ("r2", "生效中", "running")]
    assert table(rows) == [
        "TASK           STATUS  STATE",
        "demo-rec-stop  停用    stopped",
        "r2             生效中  running",
    ]


def test_unprintable_cells_are_escaped_and_measured_as_shown() -> None:
    lines = table([("A", "B"), ("\x1b[31mred", "x"), ("plain", "y")])
    assert lines == ["A              B", "\\u001b[31mred  x", "plain          y"]
    assert not any(UNPRINTABLE.search(line) for line in lines)
