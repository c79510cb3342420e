"""The emulator as a field: per-provider round trip with seeded jitter, answers that wait side by side, and the
503 fault in each provider's shape as livectl classifies it.

No test here measures time: the HTTP layer's wait (`Emulator.stopping.wait(delay)`) is replaced by a recorder
(or a barrier), so the tests read the waits the emulator chose instead of timing them.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from livectl.errors import TransientProviderError, classify
from livectl.providers.catalogue import ACTIONS
from livectl_cli.emulator import Emulator
from livectl_cli.emulator.latency import from_arguments
from livectl_cli.main import build_parser
from tests.emulator.helpers import Raw, trtc_error, volc_error

pytestmark = pytest.mark.emulator

TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}


class RecordingStop(threading.Event):
    """Stands in for `Emulator.stopping`: records each answer's wait instead of sleeping it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        with self.lock:
            self.waits.append(timeout)
        return self.is_set()


class BarrierStop(threading.Event):
    """Every answer's wait meets a barrier of `parties`: it opens only if that many waits are under way at once."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties)

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        self.barrier.wait(timeout=30)  # a deadlock guard, not a measurement: it breaks only if calls serialise
        return self.is_set()


def waits_for(emu: Emulator, calls: list[tuple[str, str]]) -> list[float]:
    """Send (provider, task) calls one after another; the waits (s) the HTTP layer was asked for, in order,
    checked against the call log's `latency_ms` (zero waits are not slept at all, so only the log has them)."""
    stop = RecordingStop()
    emu.stopping = stop
    since = emu.calls()[-1]["seq"] if emu.calls() else 0
    raw = Raw(emu.url)
    for provider, task in calls:
        if provider == "volcengine":
            raw.volc("GetPullRecordTask", {"TaskID": task})
        else:
            raw.trtc("DeleteCloudRecording", {**TRTC_PARAMS, "TaskId": task})
    raw.session.close()
    logged = [c["latency_ms"] / 1000.0 for c in emu.calls(since=since)]
    assert [w for w in logged if w > 0] == pytest.approx(stop.waits)
    return logged


def field(seed: int, config: dict[str, Any], n: int = 8) -> list[float]:
    with Emulator(port=0, seed=seed, latency=config) as emu:
        emu.add_task("pull_record", "rec")
        return waits_for(emu, [("volcengine", "rec")] * n)


def test_jitter_is_bounded_and_varies():
    waits = field(3, {"latency_ms": 150, "jitter_ms": 30}, n=9)  # 9 ≤ GetPullRecordTask's 10 QPS
    assert all(0.120 <= w <= 0.180 for w in waits), waits
    assert len(set(waits)) > 1  # jitter, not a constant


def test_jitter_is_seeded():
    config = {"latency_ms": 150, "jitter_ms": 30}
    assert field(3, config) == field(3, config)
    assert field(3, config) != field(4, config)


def test_jitter_never_makes_a_wait_negative():
    assert all(0.0 <= w <= 0.030 for w in field(1, {"latency_ms": 10, "jitter_ms": 20}))


def test_reset_reseeds_the_jitter_and_keeps_the_config():
    with Emulator(port=0, seed=2, latency={"latency_ms": 100, "jitter_ms": 50}) as emu:
        emu.add_task("pull_record", "rec")
        first = waits_for(emu, [("volcengine", "rec")] * 5)
        emu.reset()
        emu.add_task("pull_record", "rec")
        assert waits_for(emu, [("volcengine", "rec")] * 5) == first


def test_per_provider_latency_applies_to_that_provider_only():
    with Emulator(port=0, seed=0) as emu:
        raw = Raw(emu.url)
        answer = raw.admin_post("config", {"latency": {"trtc": {"latency_ms": 400}}})
        assert answer.status_code == 200
        assert answer.json()["latency"] == {
            "volcengine": {"latency_ms": 0.0, "jitter_ms": 0.0},
            "trtc": {"latency_ms": 400.0, "jitter_ms": 0.0},
        }
        assert answer.json()["latency_ms"] is None  # the providers differ: no single figure
        emu.add_task("pull_record", "rec")
        emu.add_task("cloud_recording", "cr")
        waits = waits_for(emu, [("volcengine", "rec"), ("trtc", "cr"), ("volcengine", "rec"), ("trtc", "cr")])
        assert waits == [0.0, 0.4, 0.0, 0.4]


def test_both_provider_fields_set_both_and_a_provider_field_overrides_one():
    with Emulator(port=0, seed=0) as emu:
        config = emu.configure(latency_ms=150, jitter_ms=0, latency={"volcengine": {"latency_ms": 50}})
        assert config["latency"]["volcengine"]["latency_ms"] == 50
        assert config["latency"]["trtc"]["latency_ms"] == 150


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"latency_ms": -1}, "latency_ms"),
        ({"jitter_ms": "30"}, "jitter_ms"),
        ({"latency_ms": True}, "latency_ms"),
        ({"latency": {"aws": {"latency_ms": 1}}}, "latency"),
        ({"latency": {"trtc": {"latency_ms": -5}}}, "latency.trtc.latency_ms"),
        ({"latency": {"trtc": {"delay": 5}}}, "latency.trtc"),
        ({"latency": [1]}, "latency"),
    ],
)
def test_bad_latency_is_refused_naming_the_field_and_changes_nothing(doc, named):
    with Emulator(port=0, seed=0, latency={"latency_ms": 7}) as emu:
        raw = Raw(emu.url)
        answer = raw.admin_post("config", {**doc, "jitter_ms": 1} if "jitter_ms" not in doc else doc)
        assert answer.status_code == 400
        assert named in answer.json()["error"]
        assert raw.admin_get("config")["latency_ms"] == 7 and raw.admin_get("config")["jitter_ms"] == 0


def test_fifty_answers_wait_side_by_side():
    """50 calls in flight at once all reach their latency wait together: the server is threaded and the wait
    happens outside the emulator's lock. A serialising server would break the barrier (and fail the calls)."""
    n = 50  # StopPullRecordTask's QPS: none of them is throttled
    with Emulator(port=0, seed=0, latency={"latency_ms": 400}) as emu:
        for i in range(n):
            emu.add_task("pull_record", f"rec-{i}")
        stop = BarrierStop(n)
        emu.stopping = stop
        start = threading.Barrier(n)

        def one(i: int) -> int:
            raw = Raw(emu.url)  # a connection each, as 50 containers would have
            start.wait(timeout=30)  # all 50 connect at the same moment (a short listen backlog resets some)
            try:
                return raw.volc("StopPullRecordTask", {"TaskId": f"rec-{i}"}, timeout=60).status_code
            finally:
                raw.session.close()

        with ThreadPoolExecutor(n) as pool:
            statuses = list(pool.map(one, range(n)))
        assert statuses == [200] * n
        assert not stop.barrier.broken


def test_livectl_flags_become_the_emulator_config():
    args = build_parser().parse_args(
        ["local", "--latency-ms", "150", "--jitter-ms", "30", "--trtc-latency-ms", "400", "--trtc-jitter-ms", "80"]
    )
    with Emulator(port=0, seed=0, latency=from_arguments(args)) as emu:
        assert emu.core.config()["latency"] == {
            "volcengine": {"latency_ms": 150.0, "jitter_ms": 30.0},
            "trtc": {"latency_ms": 400.0, "jitter_ms": 80.0},
        }
    plain = from_arguments(build_parser().parse_args(["emulator"]))
    assert plain == {"latency_ms": 0.0, "jitter_ms": 0.0}


# ---- 503 -------------------------------------------------------------------------------------------------------
def test_503_in_each_providers_shape_changes_nothing(emulator, raw):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    emulator.set_faults({"kinds": ["http_503"]})
    assert volc_error(raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})) == (503, "ServiceUnavailableTemp")
    assert trtc_error(raw.trtc("DeleteCloudRecording", {"SdkAppId": 1400000001, "TaskId": "cr-1"})) == (
        "ServiceUnavailable"
    )
    assert emulator.task("pull_record", "rec-1")["status"] == "生效中"
    assert emulator.task("cloud_recording", "cr-1")["status"] == "InProgress"
    assert [c["fault"] for c in emulator.calls()] == ["http_503", "http_503"]


@pytest.mark.parametrize(
    ("action", "kind", "params", "code"),
    [
        ("StopPullRecordTask", "pull_record", {"TaskId": "t-1"}, "ServiceUnavailableTemp"),
        ("DeleteCloudRecording", "cloud_recording", {**TRTC_PARAMS, "TaskId": "t-1"}, "ServiceUnavailable"),
        ("StopPublishCdnStream", "cdn_publish", {**TRTC_PARAMS, "TaskId": "t-1"}, "ServiceUnavailable"),
    ],
)
def test_503_is_transient_for_livectl(
    emulator, livectl_client, volc_credentials, trtc_credentials, action, kind, params, code
):
    emulator.add_task(kind, "t-1")
    emulator.set_faults({"kinds": ["http_503"]})
    spec = ACTIONS[action]
    credentials = volc_credentials if spec.provider == "volcengine" else trtc_credentials
    with pytest.raises(TransientProviderError) as err:
        livectl_client.call(spec, params, credentials, datetime.now(UTC))
    assert err.value.code == code and err.value.retryable
    assert classify(spec.provider, code) is TransientProviderError  # by the table, not the HTTP status
