"""Throughput of the template's defaults (issue 12): every action reaches >= 95 % of its QPS at provider round
trips of 50, 150 and 400 ms, while the fleet never exceeds the QPS in any window (the bound itself, for every
allowed parameter value, is `test_template_invariants.test_concurrency_times_per_container_share_stays_within_qps`).

The rate is a model of one container's steady state, not a measurement (that is `make bench`): a batch of B
records, all in flight (MAX_IN_FLIGHT = K >= B), takes its grants from a limiter of s calls per W seconds, so its
last grants come ceil(B / s) - 1 windows after its first; each record then needs the provider's round trip L
plus its AWS calls A; the next batch arrives P later. A and P are generous figures for AWS in one region.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from livectl.control.container import DEFAULT_WINDOW_MARGIN
from livectl.providers.catalogue import ACTIONS
from livectl.providers.ratelimit import per_container_share
from tests.template.test_template_invariants import esm_of
from tests.template.transformed import ACTION_FUNCTIONS, resolve

pytestmark = pytest.mark.template

AWS_CALLS_SECONDS = 5 * 0.02  # five DynamoDB / EventBridge calls of ~20 ms each
NEXT_BATCH_SECONDS = 0.1  # the event source mapping deletes, polls and invokes again
WINDOW = 1.0 + DEFAULT_WINDOW_MARGIN


def container_rate(share: int, batch: int, in_flight: int, latency: float) -> float:
    windows = math.ceil(batch / share)
    waves = math.ceil(min(batch, share) / in_flight)  # records of the last window that wait for a free worker
    cycle = max(windows * WINDOW, (windows - 1) * WINDOW + waves * (latency + AWS_CALLS_SECONDS) + NEXT_BATCH_SECONDS)
    return batch / cycle


def settings_of(cfn: dict[str, Any], fid: str, values: dict[str, str]) -> tuple[int, int, int]:
    esm = esm_of(cfn, fid)
    env = cfn["Resources"][fid]["Properties"]["Environment"]["Variables"]
    containers = int(resolve(esm["ScalingConfig"]["MaximumConcurrency"], values))
    return containers, int(esm["BatchSize"]), int(resolve(env["MAX_IN_FLIGHT"], values))


def test_every_record_of_a_batch_is_in_flight(cfn, defaults):
    values = {k: str(v) for k, v in defaults.items()}
    for fid in ACTION_FUNCTIONS:
        _, batch, in_flight = settings_of(cfn, fid, values)
        assert in_flight >= batch, fid


@pytest.mark.parametrize("latency_ms", [50, 150, 400])
def test_defaults_reach_95_percent_of_every_quota(cfn, defaults, latency_ms):
    values = {k: str(v) for k, v in defaults.items()}
    for fid, (action, _, _) in ACTION_FUNCTIONS.items():
        qps = ACTIONS[action].qps
        containers, batch, in_flight = settings_of(cfn, fid, values)
        share = per_container_share(qps, containers)
        fleet = containers * container_rate(share, batch, in_flight, latency_ms / 1000)
        assert fleet >= 0.95 * qps, (fid, latency_ms, round(fleet, 2))
        assert containers * share <= qps  # and never more than the quota in any window
