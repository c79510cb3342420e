"""The soak's short version (`make soak` runs 1,000 commands): 60 mixed commands across the six actions through
the local stack, each sent twice, 30 % of provider calls failing with every fault kind, a 2-minute 503 outage
in the middle on a fast clock (bench/soak.py says how), and fake keys that must appear nowhere."""

from __future__ import annotations

import pytest

from bench.soak import SoakConfig, run

pytestmark = [pytest.mark.aws, pytest.mark.emulator, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_60_mixed_commands_twice_with_faults_and_an_outage_lose_nothing_and_leak_no_key():
    config = SoakConfig(commands=60, timeout=600)
    report = run(config)
    print("\n".join(report.lines(config)))
    assert report.lost == []
    assert report.unexpected == []  # each command ends as planned: applied, rejected, stale or failed
    assert sum(report.outcomes.values()) == config.commands
    assert all(d["reason"] for d in report.dlq)
    assert max(report.mutations_per_task.values()) <= 1
    assert report.not_once == []  # every applied change made exactly once, nothing else made any
    assert report.outage_commands > 0, "the outage met no command: it proved nothing"
    assert report.applied_log_lines > 0, "the handlers' log lines were not captured: the scan read nothing"
    assert report.secret_hits == {}
