"""Throughput of the template's action functions (issue 12), on the transformed template.

- The defaults reach >= 95 % of every quota at provider round trips of 50, 150 and 400 ms, by
  `throughput_model` (the shipped limiter, paced, on a virtual clock; `make bench` measures).
- For EVERY allowed value of each concurrency parameter: the fleet never exceeds the QPS in any 1 s window with
  the template's batch size and in-flight count, and a batch's last grant leaves its records time to run before
  the invocation's deadline (`test_template_invariants` checks C x floor(QPS / C) <= QPS itself).
- Each container's memory gives it the vCPU share its rate needs (the CPU per command `make bench` measures).
- StopPullRecordTask, the burst action, bills at most a quarter of the ~240 ms per command that five
  containers cost (a backlogged container is busy all the time: C / QPS per command, whatever the code).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from livectl.control.container import DEFAULT_DEADLINE_MARGIN, DEFAULT_MIN_CALL_BUDGET
from livectl.providers.catalogue import ACTIONS
from tests.template.test_template_invariants import allowed_values, esm_of
from tests.template.throughput_model import WINDOW, Lane, billed_ms_per_command, fleet_peak, fleet_ratio
from tests.template.transformed import ACTION_FUNCTIONS, resolve

pytestmark = pytest.mark.template

BILLED_MS_BEFORE = 240  # StopPullRecordTask at C=5, one record at a time (issue 12)
MB_PER_VCPU = 1769  # Lambda: a full vCPU at 1,769 MB, in proportion below
# A container's CPU per command (signing, JSON, five boto3 calls, the batch plumbing): `make bench`'s drain prints
# it (this x86 machine, loaded: 12-15 ms); Graviton differs, so the test keeps 30 % spare.
CPU_SECONDS_PER_COMMAND = 0.012


def lane_of(cfn: dict[str, Any], fid: str, values: dict[str, str]) -> Lane:
    esm = esm_of(cfn, fid)
    env = cfn["Resources"][fid]["Properties"]["Environment"]["Variables"]
    containers = int(resolve(esm["ScalingConfig"]["MaximumConcurrency"], values))
    assert int(resolve(env["MAX_CONCURRENCY"], values)) == containers, fid  # the limiter's divisor is the fleet's
    action = ACTION_FUNCTIONS[fid][0]
    return Lane(ACTIONS[action].qps, containers, int(esm["BatchSize"]), int(resolve(env["MAX_IN_FLIGHT"], values)))


def every_value(cfn: dict[str, Any], source: dict[str, Any], fid: str) -> list[tuple[str, Lane]]:
    name = esm_of(cfn, fid)["ScalingConfig"]["MaximumConcurrency"]["Ref"]
    return [(value, lane_of(cfn, fid, {name: value})) for value in allowed_values(source["Parameters"][name])]


def test_a_batch_of_more_than_ten_has_a_batching_window(cfn):
    """SQS event sources refuse BatchSize > 10 without MaximumBatchingWindowInSeconds >= 1."""
    for fid in ACTION_FUNCTIONS:
        esm = esm_of(cfn, fid)
        if esm["BatchSize"] > 10:
            assert esm.get("MaximumBatchingWindowInSeconds", 0) >= 1, fid


def test_in_flight_covers_a_window_share_at_the_defaults(cfn, defaults):
    """Fewer workers than the share leave grants unused while records wait out a round trip (model: 0.93 of
    the QPS at 400 ms with 20 in flight for a share of 25)."""
    values = {k: str(v) for k, v in defaults.items()}
    for fid in ACTION_FUNCTIONS:
        lane = lane_of(cfn, fid, values)
        assert lane.in_flight >= min(lane.batch, lane.share), (fid, lane)


@pytest.mark.parametrize("latency_ms", [50, 150, 400])
def test_defaults_reach_95_percent_of_every_quota(cfn, defaults, latency_ms):
    values = {k: str(v) for k, v in defaults.items()}
    for fid in ACTION_FUNCTIONS:
        lane = lane_of(cfn, fid, values)
        ratio = fleet_ratio(lane, latency_ms / 1000)
        assert ratio >= 0.95, (fid, latency_ms, lane, round(ratio, 3))


def test_fleet_stays_within_the_quota_for_every_allowed_value(cfn, source):
    """The template's batch and in-flight count at every concurrency value: the fleet's most grants in any 1 s
    (every container's window aligned, the worst case) stay within the QPS, at a fast and a slow provider."""
    for fid in ACTION_FUNCTIONS:
        for value, lane in every_value(cfn, source, fid):
            for latency in (0.0, 0.4):
                assert fleet_peak(lane, latency) <= lane.qps, (fid, value, latency, lane)


def test_a_batch_is_granted_before_its_deadline_for_every_allowed_value(cfn, source):
    """A batch needs ceil(B / share) windows of grants; the last must come while a record may still start
    (remaining time - deadline margin >= the minimum call budget), or records go back unrun every time."""
    for fid in ACTION_FUNCTIONS:
        timeout = cfn["Resources"][fid]["Properties"]["Timeout"]
        for value, lane in every_value(cfn, source, fid):
            last_grant = (math.ceil(lane.batch / lane.share) - 1) * WINDOW
            assert last_grant + DEFAULT_MIN_CALL_BUDGET <= timeout - DEFAULT_DEADLINE_MARGIN, (fid, value, lane)


@pytest.mark.parametrize("latency_ms", [150, 400])
def test_stop_pull_record_bills_a_quarter_of_five_containers(cfn, defaults, latency_ms):
    values = {k: str(v) for k, v in defaults.items()}
    billed = billed_ms_per_command(lane_of(cfn, "StopPullRecordFunction", values), latency_ms / 1000)
    assert billed <= BILLED_MS_BEFORE / 4, round(billed)


def test_each_container_has_the_cpu_its_rate_needs(cfn, defaults):
    """Lambda gives a container CPU in proportion to its memory (one vCPU at 1,769 MB). At its share a container
    spends rate x CPU per command; keep that within 70 % of its vCPU so the in-flight records are not starved
    (StopPullRecordTask at 512 MB would need all of it: 24.5/s x 12 ms = 0.29 vCPU)."""
    values = {k: str(v) for k, v in defaults.items()}
    for fid in ACTION_FUNCTIONS:
        lane = lane_of(cfn, fid, values)
        vcpu = cfn["Resources"][fid]["Properties"]["MemorySize"] / MB_PER_VCPU
        needed = lane.share / WINDOW * CPU_SECONDS_PER_COMMAND
        assert needed <= 0.7 * vcpu, (fid, round(needed, 2), round(vcpu, 2))
