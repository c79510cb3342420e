"""The admin API under /_emulator/ and the emulator's lifecycle (in-process and as a process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.emulator import Emulator
from tests.emulator.helpers import Raw

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/livectl"), str(ROOT / "cli")])}


def test_create_tasks_with_defaults(emulator, raw):
    resp = raw.admin_post("tasks", {"kind": "pull_record", "task_id": "rec-1"})
    assert resp.status_code == 201
    assert resp.json()["status"] == "生效中"
    created = raw.admin_post(
        "tasks",
        [
            {"kind": "pull_to_push", "task_id": "relay-1"},
            {"kind": "cloud_recording", "task_id": "cr-1"},
            {"kind": "cdn_publish", "task_id": "cdn-1"},
        ],
    ).json()
    assert [t["status"] for t in created] == ["生效中", "InProgress", "RUNNING"]
    recording = created[1]
    assert (recording["sdk_app_id"], recording["region"], recording["storage"], recording["files"]) == (
        1400000001,
        "ap-guangzhou",
        "vod",
        2,
    )
    listed = raw.admin_get("tasks")
    assert [(t["kind"], t["task_id"], t["status"]) for t in listed] == [
        ("pull_record", "rec-1", "生效中"),
        ("pull_to_push", "relay-1", "生效中"),
        ("cloud_recording", "cr-1", "InProgress"),
        ("cdn_publish", "cdn-1", "RUNNING"),
    ]
    assert [t["task_id"] for t in raw.admin_get("tasks", kind="cdn_publish")] == ["cdn-1"]
    assert raw.admin_get("tasks/pull_record/rec-1")["status"] == "生效中"
    assert raw.session.get(f"{emulator.url}/_emulator/tasks/pull_record/none", timeout=5).status_code == 404


def test_task_fields_are_honoured(emulator, raw):
    spec = {
        "kind": "cloud_recording",
        "task_id": "cr-1",
        "status": "Idle",
        "sdk_app_id": 1400000002,
        "region": "ap-singapore",
        "storage": "cos",
        "format": "mp4",
        "files": 4,
    }
    task = raw.admin_post("tasks", spec).json()
    assert {k: task[k] for k in spec if k not in ("kind", "task_id")} == {
        "status": "Idle",
        "sdk_app_id": 1400000002,
        "region": "ap-singapore",
        "storage": "cos",
        "format": "mp4",
        "files": 4,
    }
    not_started = raw.admin_post("tasks", {"kind": "pull_record", "task_id": "r", "status": "未开始"}).json()
    assert not_started["result"]["Status"] == "未开始"
    assert not_started["result"]["StartTime"] > datetime.now(UTC).isoformat()[:10]


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "pull_record"},
        {"task_id": "x"},
        {"kind": "spaceship", "task_id": "x"},
        {"kind": "pull_record", "task_id": "x", "status": "Exited"},
        {"kind": "cloud_recording", "task_id": "x", "status": "生效中"},
        {"kind": "cloud_recording", "task_id": "x", "storage": "tape"},
        {"kind": "cloud_recording", "task_id": "x", "sdk_app_id": "14"},
        {"kind": "cdn_publish", "task_id": "x", "region": "ap-mumbai"},
        ["not", "objects"],
    ],
)
def test_invalid_task_specs_are_refused(emulator, raw, spec):
    resp = raw.admin_post("tasks", spec)
    assert resp.status_code == 400 and resp.json()["error"]
    assert raw.admin_get("tasks") == []


def test_the_call_log(emulator, raw):
    emulator.add_task("pull_record", "rec-1")
    raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})
    raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})
    raw.trtc("DeleteCloudRecording", {"SdkAppId": 1400000001, "TaskId": "nope"})
    calls = raw.admin_get("calls")
    assert [(c["action"], c["error_code"]) for c in calls] == [
        ("StopPullRecordTask", None),
        ("StopPullRecordTask", "InvalidParam"),
        ("DeleteCloudRecording", "ResourceNotFound"),
    ]
    first = calls[0]
    assert first["params"] == {"TaskId": "rec-1"}
    assert first["account"] == "AKLTDEMO" and first["signature_valid"] is True
    assert isinstance(first["time"], float) and abs(first["time"] - datetime.now(UTC).timestamp()) < 60
    assert calls[2]["params"] == {"SdkAppId": 1400000001, "TaskId": "nope", "Region": "ap-guangzhou"}
    assert len(calls[2]["request_id"]) == 36
    assert [c["seq"] for c in raw.admin_get("calls", since=calls[0]["seq"])] == [calls[1]["seq"], calls[2]["seq"]]
    assert len(raw.admin_get("calls", action="DeleteCloudRecording")) == 1
    assert len(raw.admin_get("calls", limit=1)) == 1
    assert "demo-secret" not in raw.session.get(f"{emulator.url}/_emulator/calls", timeout=5).text


def test_reset_clears_tasks_calls_and_faults(emulator, raw):
    emulator.add_task("pull_record", "rec-1")
    raw.admin_post("faults", {"kinds": ["http_500"], "rate": 0.5})
    raw.volc("GetPullRecordTask", {"TaskID": "rec-1"})
    assert raw.admin_get("faults") and raw.admin_get("calls") and raw.admin_get("tasks")
    assert raw.admin_post("reset").status_code == 200
    assert raw.admin_get("faults") == [] and raw.admin_get("calls") == [] and raw.admin_get("tasks") == []


def test_request_ids_are_reproducible_for_a_seed():
    def ids(seed: int) -> list[str]:
        with Emulator(port=0, seed=seed) as emu:
            raw = Raw(emu.url)
            raw.trtc("DeleteCloudRecording", {"SdkAppId": 1400000001, "TaskId": "a"})
            raw.volc("GetPullRecordTask", {"TaskID": "a"})
            raw.session.close()
            return [c["request_id"] for c in emu.calls()]

    first = ids(5)
    assert first[0] == ids(5)[0]  # the uuid is wholly seeded
    assert first[1][14:] == ids(5)[1][14:]  # the Volcengine id is a time stamp plus seeded characters
    assert len(first[1]) == 33
    assert ids(6)[0] != first[0]


def test_config_endpoint(emulator, raw):
    assert raw.admin_post("config", {"latency_ms": 5, "callback_url": "http://127.0.0.1:1/cb"}).status_code == 200
    config = raw.admin_get("config")
    assert config["latency_ms"] == 5 and config["callback_url"] == "http://127.0.0.1:1/cb"
    assert config["callback_key_set"] is True and LOCAL_CALLBACK_KEY not in str(config)
    assert raw.admin_post("config", {"callback_url": "ftp://x"}).status_code == 400
    assert raw.admin_post("config", {"colour": 1}).status_code == 400


def test_stop_is_clean_even_with_a_delayed_call_in_flight():
    emu = Emulator(port=0, faults={"kinds": ["delay"], "delay_ms": 60_000}).start()
    emu.add_task("pull_record", "rec-1")
    raw = Raw(emu.url)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(raw.volc("StopPullRecordTask", {"TaskId": "rec-1"}, timeout=30).status_code)
        except requests.RequestException as exc:
            outcome.append(type(exc).__name__)

    caller = threading.Thread(target=call)
    caller.start()
    while not emu.calls():  # the call has reached the emulator and is now being delayed
        threading.Event().wait(0.01)
    emu.stop()
    caller.join(timeout=30)
    assert not caller.is_alive()
    assert outcome == ["ConnectionError"]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emu.url}/_emulator/health", timeout=2)
    emu.stop()  # idempotent


def test_context_manager_and_ephemeral_ports():
    with Emulator(port=0) as a, Emulator(port=0) as b:
        assert a.url != b.url
        health = requests.get(f"{a.url}/_emulator/health", timeout=5).json()
        assert health == {"ok": True, "url": a.url, "pid": os.getpid(), "callbacks_pending": 0}


def test_cli_help_has_an_example():
    out = subprocess.run(
        [sys.executable, "-m", "livectl_cli.main", "emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=CLI_ENV,
    ).stdout
    assert "example" in out and "--callback-url" in out and "--seed" in out


@pytest.mark.slow
def test_runs_as_a_process_until_interrupted():
    proc = subprocess.Popen(
        [sys.executable, "-m", "livectl_cli.main", "emulator", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=CLI_ENV,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("livectl emulator listening on http://127.0.0.1:")
        url = first.split()[4]
        banner = "".join(proc.stdout.readline() for _ in range(6))
        assert "AKLTDEMO" in banner and "AKIDDEMO" in banner and "/_emulator/tasks" in banner
        raw = Raw(url)
        assert raw.admin_post("tasks", {"kind": "pull_record", "task_id": "rec-1"}).status_code == 201
        assert raw.volc("StopPullRecordTask", {"TaskId": "rec-1"}).status_code == 200
        raw.session.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
