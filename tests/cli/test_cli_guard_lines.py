"""What an operator reads about the cost guard in one line: `livectl events` says which stop the guard made."""

from __future__ import annotations

import pytest

from livectl_cli.commands.events import event_line

pytestmark = pytest.mark.unit


def test_an_event_line_says_a_stop_came_from_the_guard():
    event = {
        "time": "2026-11-21T14:41:11Z",
        "detail-type": "Task Stopped",
        "detail": {"action": "DeleteCloudRecording", "provider": "trtc", "task_id": "rec-1", "via": "guard"},
    }
    event["detail"]["outcome"] = "done"
    line = event_line(event)
    assert "Task Stopped" in line and "rec-1" in line and "via=guard" in line
    del event["detail"]["via"]
    assert "via=" not in event_line(event)
