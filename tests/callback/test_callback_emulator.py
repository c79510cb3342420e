"""End to end: the emulator stops a cloud recording (DeleteCloudRecording through livectl's own client), posts
TRTC's signed callbacks over real HTTP to the local HTTP adapter, which runs the real handler; moto holds the
ledger and the bus. The ledger must end with every file and "all uploaded"."""

from __future__ import annotations

import importlib
import time
from typing import Any

import pytest
import requests

from livectl.providers.catalogue import get_action
from livectl.providers.operations import perform
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.http_adapter import HttpAdapter

pytestmark = [pytest.mark.emulator, pytest.mark.aws, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture
def webhook(moto_aws: Any, emulator: Any) -> Any:
    app = importlib.reload(importlib.import_module("functions.trtc_callback.app"))  # real clock
    with HttpAdapter({"POST /trtc/callback": app.handler}) as adapter:
        emulator.configure(
            callback_url=adapter.url + "/trtc/callback", callback_key=LOCAL_CALLBACK_KEY, start_callbacks=False
        )
        yield adapter


def stop_recording(emulator: Any, client: Any, credentials: Any, task_id: str, **spec: Any) -> None:
    answer = requests.post(
        f"{emulator.url}/_emulator/tasks",
        json={
            "kind": "cloud_recording",
            "task_id": task_id,
            "sdk_app_id": 1400000001,
            "region": "ap-singapore",
            **spec,
        },
        timeout=5,
    )
    assert answer.status_code in (200, 201), answer.text
    outcome = perform(
        get_action("DeleteCloudRecording"),
        {"SdkAppId": 1400000001, "TaskId": task_id, "Region": "ap-singapore"},
        credentials,
        client,
        deadline=time.monotonic() + 20,
    )
    assert outcome.status == "done"
    assert emulator.wait_callbacks(timeout=30)


def test_vod_recording_stop_ends_with_files_and_all_uploaded(
    webhook, emulator, livectl_client, trtc_credentials, moto_aws
):
    stop_recording(emulator, livectl_client, trtc_credentials, "emu-vod-1", storage="vod", files=3)
    log = emulator.callback_log()
    assert log and all(entry["delivered"] and entry["http_status"] == 200 for entry in log)
    assert sorted(e["body"].count("\n\t") > 0 for e in log) == [True] * len(log)  # cJSON bodies, verified raw
    state = moto_aws.state("emu-vod-1")
    assert state is not None
    assert state["all_uploaded"] is True and state["storage"] == "vod" and state["recorder_status"] == "stopped"
    assert sorted(state["files"]) == [f"emu-vod-1_{i}.mp4" for i in (1, 2, 3)]
    assert all(f["file_id"] and f["url"].startswith("http://") for f in state["files"].values())
    callbacks = moto_aws.callback_items()
    assert sorted(c["event_type"] for c in callbacks) == [302, 311, 311, 311, 312]
    published = moto_aws.published()
    uploaded = [e for e in published if e["detail-type"] == "Recording Uploaded"]
    assert len(uploaded) == 1 and len(uploaded[0]["detail"]["files"]) == 3


def test_cos_recording_stop_ends_with_files_and_all_uploaded(
    webhook, emulator, livectl_client, trtc_credentials, moto_aws
):
    stop_recording(emulator, livectl_client, trtc_credentials, "emu-cos-1", storage="cos", format="hls+mp4", files=2)
    state = moto_aws.state("emu-cos-1")
    assert state is not None and state["all_uploaded"] is True and state["storage"] == "cos"
    assert sorted(state["files"]) == ["emu-cos-1_1.mp4", "emu-cos-1_2.mp4"]


def test_receiver_failure_makes_the_emulator_retry_and_the_retry_is_recorded_once(
    webhook, emulator, livectl_client, trtc_credentials, moto_aws, monkeypatch
):
    from livectl.events import EventPublisher

    real = EventPublisher.publish
    failures = {"left": 2}

    def flaky(self: Any, *args: Any, **kwargs: Any) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("bus unavailable")
        real(self, *args, **kwargs)

    monkeypatch.setattr(EventPublisher, "publish", flaky)
    stop_recording(emulator, livectl_client, trtc_credentials, "emu-vod-2", storage="vod", files=1)
    log = emulator.callback_log()
    assert any(entry["http_status"] == 500 for entry in log)  # the receiver said "not recorded"...
    assert not any(entry.get("gave_up") for entry in log)
    state = moto_aws.state("emu-vod-2")
    assert state["all_uploaded"] is True and list(state["files"]) == ["emu-vod-2_1.mp4"]  # ...and the retry did
    assert sorted(c["event_type"] for c in moto_aws.callback_items()) == [302, 311, 312]
    assert all(c["status"] == "done" for c in moto_aws.callback_items())
    assert [e["detail-type"] for e in moto_aws.published()] == ["Recording Uploaded"]
