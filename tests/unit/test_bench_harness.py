"""The bench's own plumbing: module selection and the emulator run as `livectl emulator`, driven by its admin API.

Benches are not tests (no timed assertion here); these check that the harness measures what it says it does.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"livectl_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.unit
@pytest.mark.parametrize(
    ("filters", "picked"),
    [(["drain"], ["drain"]), (["localdrain"], ["localdrain"]), (["drain", "burst"], ["burst", "drain"])],
)
def test_a_module_name_picks_that_module_only(filters, picked):
    """`make bench BENCH=drain` must not also run localdrain (a substring match did)."""
    found = [p.stem.removeprefix("bench_") for p in load("run").discover(filters)]
    assert found == picked


@pytest.mark.unit
def test_an_unknown_module_name_is_an_error():
    with pytest.raises(SystemExit, match="no bench module drian"):
        load("run").discover(["drian"])


@pytest.mark.unit
def test_max_in_any_second_counts_the_emulators_window():
    harness = load("harness")
    assert harness.max_in_any_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # (t - 1, t]: 0.0 leaves at t = 1.0
    assert harness.max_in_any_second([]) == 0


@pytest.mark.emulator
def test_emulator_process_answers_its_admin_api():
    """The drain bench's emulator in a process of its own: latency set, tasks created, calls read back."""
    import requests

    harness = load("harness")
    emulator = harness.EmulatorProcess()
    try:
        config = emulator.configure(latency={"volcengine": {"latency_ms": 7, "jitter_ms": 1}})
        assert config["latency"]["volcengine"] == {"latency_ms": 7.0, "jitter_ms": 1.0}
        emulator.add_tasks([{"kind": "pull_record", "task_id": f"t{i}"} for i in range(3)])
        assert len(requests.get(f"{emulator.url}/_emulator/tasks?kind=pull_record", timeout=10).json()) == 3
        assert emulator.calls("StopPullRecordTask") == []
        unsigned = requests.post(f"{emulator.url}/?Action=StopPullRecordTask&Version=2023-01-01", json={}, timeout=10)
        logged = emulator.calls("StopPullRecordTask")
        assert unsigned.status_code >= 400 and len(logged) == 1 and logged[0]["error_code"]
        emulator.reset()
        assert requests.get(f"{emulator.url}/_emulator/tasks", timeout=10).json() == []
    finally:
        emulator.stop()
    assert emulator.proc.returncode is not None
