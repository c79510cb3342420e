"""The redelivery schedule (livectl.control.redelivery) keeps the promise of every OutageToleranceMinutes value the
template allows: an outage of T up to the value sends nothing to a DLQ, costs a bounded number of provider calls,
and every command's next call comes within 180 s of recovery. Outages are simulated second by second."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from livectl.control import redelivery as r

pytestmark = pytest.mark.unit

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def allowed_minutes() -> list[int]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    doc = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    return [int(v) for v in doc["Parameters"]["OutageToleranceMinutes"]["AllowedValues"]]


def calls_budget(outage_seconds: float) -> int:
    """The bound we hold the schedule to: 1 call per 166 s of outage (the floor for 180 s convergence with a
    10 s read timeout is 1 per 170 s), plus the first receive's 3 attempts, plus 1 for the 30 s step."""
    return int(outage_seconds // 166) + 3 + 1


@pytest.mark.parametrize("minutes", allowed_minutes())
def test_every_outage_up_to_the_tolerance_dead_letters_nothing_costs_little_and_converges_in_3_minutes(minutes):
    limit = r.max_receive_count(minutes * 60)
    worst_wait = 0.0
    for outage in range(1, minutes * 60 + 1):
        receives = len(r.receive_times(outage))  # shortest delays: the most receives an outage can cause
        assert receives + 1 <= limit, (minutes, outage)  # the receive after recovery is still no DLQ
        assert r.calls_during_outage(outage) <= calls_budget(outage), (minutes, outage)
        worst_wait = max(worst_wait, r.wait_after_recovery(outage))
        assert r.wait_after_recovery(outage) <= r.RECOVERY_BOUND, (minutes, outage)
    assert worst_wait > r.RECOVERY_BOUND - r.PROCESSING_ALLOWANCE - 5  # the bound is tight, not vacuous


def test_one_hour_of_503_costs_at_most_24_calls_and_the_old_schedule_dead_lettered_after_15_minutes():
    """Issue 13: it was 27 (30/90/170 s at 95 %, 3 attempts on the first receive whatever the answer); the floor
    is 22 (one call per 170 s, plus the applying one)."""
    assert r.calls_during_outage(3600, said_unavailable=True) + 1 <= 24
    assert r.calls_during_outage(3600) + 1 <= 26
    # The old fixed schedule: 5 receives, one visibility timeout (180 s) apart.
    old_receives_in_an_hour = 3600 // 180
    assert old_receives_in_an_hour + 1 > 5 and r.max_receive_count(3600) > old_receives_in_an_hour


@pytest.mark.parametrize("receive_count", range(1, 60))
@pytest.mark.parametrize("u", [0.0, 0.5, 0.999999])
def test_delays_grow_capped_with_jitter_below_the_bound(receive_count, u):
    delay = r.redelivery_delay(receive_count, lambda: u)
    bound = r.delay_bound(receive_count)
    assert bound * (1 - r.JITTER) - 0.5 <= delay <= bound <= r.CAP
    assert r.delay_bound(receive_count + 1) >= bound
    assert r.CAP + r.PROCESSING_ALLOWANCE <= r.RECOVERY_BOUND


def test_only_the_first_receive_retries_inside_the_invocation():
    assert r.attempts_for(None) == r.attempts_for(1) == 3
    assert {r.attempts_for(n) for n in range(2, 100)} == {1}


def test_a_scale_shrinks_the_schedule_but_never_below_one_second():
    assert r.redelivery_delay(10, lambda: 0.0, scale=0.01) == 2
    assert r.redelivery_delay(1, lambda: 0.0, scale=0.001) == 1
