"""`livectl local`'s one-line log, read from the real command's output (issue 10 item 11): a kept record says
why it was kept, and neither a Powertools metric document nor a Powertools warning gets in between.

What once leaked: forged callbacks left `reason` on Powertools' process-wide metric set, and 100 values of a
metric (here 101 rejected commands) made Powertools print the set even with metrics disabled, `reason`
included, followed by a "No application metrics to publish" warning on the next flush.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.local.conftest import wait_for

pytestmark = [pytest.mark.aws, pytest.mark.emulator, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not written yet, or half written
    return state


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    folder = tmp_path_factory.mktemp("livectl-local")
    state_file, log_file = folder / "state.json", folder / "out.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LIVECTL_", "POWERTOOLS_"))}
    argv = [sys.executable, "-m", "livectl_cli.main", "local", "--state-file", str(state_file)]
    argv += ["--aws-port", "0", "--emulator-port", "0", "--webhook-port", "0"]
    with log_file.open("w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        state = wait_for(lambda: read_state(state_file) or process.poll() is not None)
        assert process.poll() is None, log_file.read_text()
        yield state, log_file
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_log_says_why_records_were_kept_and_shows_no_metrics_or_warnings(
    local: tuple[dict[str, Any], Path],
) -> None:
    state, log_file = local
    sqs = boto3.client(
        "sqs",
        endpoint_url=state["aws_endpoint"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for _ in range(3):  # forged: 401, and (once) a `reason` dimension on the shared metric set
        answer = requests.post(state["webhook_url"], data=b"{}", headers={"Sign": "forged"}, timeout=10)
        assert answer.status_code == 401
    queue = state["outputs"]["StopPullRecordQueueUrl"]
    bad = json.dumps({"action": "StopPullRecordTask", "params": {"TaskID": "typo"}})
    for start in range(0, 101, 10):
        entries = [{"Id": str(i), "MessageBody": bad} for i in range(start, min(start + 10, 101))]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    emulator = state["emulator_url"]
    requests.post(f"{emulator}/_emulator/tasks", json={"kind": "pull_record", "task_id": "t-500"}, timeout=10)
    requests.post(
        f"{emulator}/_emulator/faults", json={"kinds": ["http_500"], "actions": ["GetPullRecordTask"]}, timeout=10
    )
    get = json.dumps({"action": "GetPullRecordTask", "params": {"TaskID": "t-500"}})
    sqs.send_message(QueueUrl=state["outputs"]["GetPullRecordQueueUrl"], MessageBody=get)

    def settled() -> list[str] | None:
        lines = log_file.read_text().splitlines()
        stop_deleted = sum(
            int(line.split("deleted ")[1].split(",")[0]) for line in lines if "← sqs StopPullRecordQueue" in line
        )
        kept = [line for line in lines if "← sqs GetPullRecordQueue" in line and "kept 1" in line]
        return lines if stop_deleted >= 101 and kept else None

    lines = wait_for(settled, timeout=120)
    kept = next(line for line in lines if "← sqs GetPullRecordQueue" in line and "kept 1" in line)
    assert "kept 1 (InternalError)" in kept  # the provider's 500, by its code
    assert not [line for line in lines if line.lstrip().startswith("{")], "a JSON document in the one-line log"
    assert not [line for line in lines if "Warning" in line or "warnings.warn" in line]
