"""`EmulatorClient`, the admin API with `Emulator`'s method names (what `stack.emulator` is when the local stack
runs the emulator apart), and `EmulatorProcess`, `livectl emulator` as a child: same answers as in process, and a
child that cannot start says why instead of taking whatever already answers on its port for itself."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from livectl_cli.emulator import Emulator
from livectl_cli.emulator.process import EmulatorClient, EmulatorProcess

pytestmark = pytest.mark.emulator

LIFECYCLE = {"start", "stop", "serve_forever", "admin"}  # not operations on the emulator's state


def fixed_clock() -> float:
    return 1_800_000_000.0


@pytest.fixture
def twins() -> Iterator[tuple[Emulator, EmulatorClient]]:
    """Two emulators alike (seed, clock): one used in process, the other only through a client."""
    here = Emulator(port=0, seed=5, clock=fixed_clock, callback_url=None).start()
    there = Emulator(port=0, seed=5, clock=fixed_clock, callback_url=None).start()
    try:
        yield here, EmulatorClient(there.url)
    finally:
        here.stop()
        there.stop()


def test_every_in_process_operation_has_its_twin_in_the_client() -> None:
    operations = {
        name for name, _ in inspect.getmembers(Emulator, inspect.isfunction) if not name.startswith("_")
    } - LIFECYCLE
    assert operations <= set(dir(EmulatorClient)), operations - set(dir(EmulatorClient))


STEPS: list[tuple[str, Callable[[Any], Any]]] = [
    ("add_task", lambda e: e.add_task("pull_record", "rec-1", status="生效中")),
    ("add_tasks", lambda e: e.add_tasks([{"kind": "cloud_recording", "task_id": f"cr-{i}"} for i in range(3)])),
    ("tasks", lambda e: e.tasks()),
    ("tasks of a kind", lambda e: e.tasks("cloud_recording")),
    ("task", lambda e: e.task("pull_record", "rec-1")),
    ("no such task", lambda e: e.task("pull_record", "rec/none")),
    (
        "a provider call",
        lambda e: (
            requests.post(f"{e.url}/?Action=StopPullRecordTask&Version=2023-01-01", json={}, timeout=10).status_code
        ),
    ),
    ("calls", lambda e: e.calls()),
    ("calls of an action", lambda e: e.calls("StopPullRecordTask", since=1)),
    ("configure", lambda e: e.configure(latency_ms=3, latency={"trtc": {"jitter_ms": 1}})),
    ("configuration", lambda e: e.configure()),
    ("set_faults", lambda e: e.set_faults({"rate": 0.5, "kinds": ["throttle"]})),
    ("add_account", lambda e: e.add_account("trtc", "AKIDOTHER", "other-secret")),
    ("callback_log", lambda e: e.callback_log()),
    ("wait_callbacks", lambda e: e.wait_callbacks(0.1)),
    ("reset", lambda e: e.reset()),
    ("tasks after reset", lambda e: e.tasks()),
]


def test_the_client_answers_as_the_emulator_does_in_process(twins: tuple[Emulator, EmulatorClient]) -> None:
    here, there = twins
    for name, step in STEPS:
        assert step(there) == step(here), name


def test_a_refused_change_is_an_error_naming_the_field(twins: tuple[Emulator, EmulatorClient]) -> None:
    _, there = twins
    with pytest.raises(ValueError, match="latency_ms must be a non-negative number"):
        there.configure(latency_ms=-1)


def test_health_names_the_serving_process(twins: tuple[Emulator, EmulatorClient]) -> None:
    _, there = twins
    assert there.health()["pid"] == os.getpid() and there.health()["callbacks_pending"] == 0


def test_a_child_on_a_taken_port_says_so_and_does_not_take_the_other_emulator_for_itself() -> None:
    with Emulator(port=0, callback_url=None) as other:
        child = EmulatorProcess(port=other.port)
        try:
            with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{other.port}"):
                child.wait_up()
            assert child.proc.returncode is not None
        finally:
            child.stop()  # had it taken the other for itself, it would bind once the other stops


def test_a_child_serves_in_its_own_process_until_stopped() -> None:
    child = EmulatorProcess(seed=9).wait_up()
    try:
        assert child.health()["pid"] == child.pid != os.getpid()
        assert child.configure()["seed"] == 9
    finally:
        child.stop()
    assert child.proc.returncode is not None
