"""`make demo` in CI: the whole scenario passes, and its checks fail when one job breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livectl_cli.local import demo
from livectl_cli.local.stack import find_template
from livectl_cli.main import main

pytestmark = [pytest.mark.aws, pytest.mark.emulator]


def test_the_demo_passes_every_check() -> None:
    lines: list[str] = []
    assert demo.run(main, out=lines.append) == 0, "\n".join(lines)
    report = "\n".join(lines)
    assert "demo passed" in report and "  FAIL  " not in report  # a failed check reads `  FAIL  <check>`
    # It ends with what an operator sees: the status screen, with the demo's stops counted.
    status = report[report.index("$ livectl status") :]
    assert "StopPublishCdnStream" in status and "webhook, last hour: accepted" in status
    for task in (
        "demo-rec-stop",
        "demo-relay-restart",
        "demo-relay-stop",
        "demo-cloudrec-vod",
        "demo-cloudrec-cos",
        "demo-cdn-stop",
    ):
        assert task in report


def test_the_demo_fails_when_a_handler_is_broken(tmp_path: Path) -> None:
    """A copy of the stack whose StopCdnPublish handler always raises: the demo must exit 1 and say what broke."""
    source = find_template().parent
    shutil.copy(source / "template.yaml", tmp_path / "template.yaml")
    shutil.copytree(source / "functions", tmp_path / "functions")
    broken = tmp_path / "functions" / "stop_cdn_publish" / "app.py"
    broken.write_text("def handler(event, context):\n    raise RuntimeError('broken on purpose')\n", encoding="utf-8")
    lines: list[str] = []
    assert demo.run(main, out=lines.append, template=tmp_path / "template.yaml", deadline=8) == 1
    failed = [line for line in lines if line.strip().startswith("FAIL")]
    assert any("StopPublishCdnStream" in line for line in failed), "\n".join(lines)
    assert not any("StopPullRecordTask: task stopped" in line for line in failed)
    assert lines[-1].strip().startswith("demo FAILED")
