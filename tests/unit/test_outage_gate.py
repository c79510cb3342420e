"""The container's outage gate (livectl.control.outage): while an action answers "unavailable", one record at a
time calls it; the others go back uncalled, and never later than HOLD after the last "unavailable" answer."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livectl.control import redelivery
from livectl.control.outage import HOLD, STREAK, OutageGate

pytestmark = pytest.mark.unit
KEY = ("StopPullRecordTask", "default")


def trip(gate: OutageGate, at: float) -> None:
    """STREAK "unavailable" answers in a row, the last at `at`."""
    for _ in range(STREAK):
        assert gate.enter(KEY, at)
        gate.leave(KEY, at, unavailable=True)


def test_a_lone_unavailable_answer_among_successes_gates_nothing() -> None:
    gate = OutageGate()
    for at in range(5):
        gate.leave(KEY, float(at), unavailable=True)
        gate.leave(KEY, float(at), unavailable=False)
        assert gate.enter(KEY, float(at))
    gate.leave(KEY, 9.0, unavailable=True)
    assert gate.enter(KEY, 9.0)  # one in a row so far


def test_a_healthy_action_lets_every_record_call() -> None:
    gate = OutageGate()
    assert all(gate.enter(KEY, 0.0) for _ in range(10))


def test_after_unavailable_no_record_calls_within_the_hold_then_one_probes() -> None:
    gate = OutageGate()
    trip(gate, 1.0)
    assert not gate.enter(KEY, 1.0 + HOLD - 0.01)
    assert gate.enter(KEY, 1.0 + HOLD)  # the probe
    assert not gate.enter(KEY, 1.0 + HOLD + 100)  # the probe is out: the others wait for its answer
    gate.leave(KEY, 1.0 + HOLD + 101, unavailable=False)  # recovered
    assert all(gate.enter(KEY, 1.0 + HOLD + 101) for _ in range(5))


def test_a_probe_that_ends_without_an_answer_leaves_the_state_as_it_was() -> None:
    gate = OutageGate()
    trip(gate, 0.0)
    assert gate.enter(KEY, HOLD)  # probe
    gate.leave(KEY, HOLD, unavailable=None)  # say, an idempotency replay: no call was made
    assert gate.enter(KEY, HOLD)  # still suspect, and the next record may probe at once


def test_actions_and_accounts_are_gated_apart() -> None:
    gate = OutageGate()
    trip(gate, 0.0)
    assert gate.enter(("GetPullRecordTask", "default"), 0.0)
    assert gate.enter(("StopPullRecordTask", "other"), 0.0)


def test_of_ten_threads_entering_together_after_the_hold_exactly_one_probes() -> None:
    gate = OutageGate()
    trip(gate, 0.0)
    barrier = threading.Barrier(10)
    answers: list[bool] = []

    def enter() -> None:
        barrier.wait()
        answers.append(gate.enter(KEY, HOLD + 1))

    threads = [threading.Thread(target=enter) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 9 + [True]


@given(
    unavailable_at=st.floats(0, 10_000),
    turned_back_at=st.floats(0, 20_000),
)
def test_no_record_is_turned_back_later_than_the_hold_after_the_last_unavailable_answer(
    unavailable_at: float, turned_back_at: float
) -> None:
    """The recovery promise: a record turned back at t returns by t + CAP, so t must be within HOLD of the last
    "unavailable" answer (given before recovery) for HOLD + CAP <= RECOVERY_BOUND to bound it."""
    gate = OutageGate()
    trip(gate, unavailable_at)
    if not gate.enter(KEY, turned_back_at):
        assert turned_back_at - unavailable_at < HOLD
    assert HOLD + redelivery.CAP <= redelivery.RECOVERY_BOUND
