"""The drain bench's report: a lane's line and its per-command rows (billed ms, CPU, AWS calls, cost)."""

from __future__ import annotations

import os
from typing import Any


def machine_ceiling(f: dict[str, Any]) -> float:
    """Commands per second the machine's CPUs could carry at the CPU per command all processes spent in the lane
    (the harness's own ceiling: a lane near it was capped by the machine, not by livectl's limiter)."""
    spent_per_command = sum(f["cpu"]) / f["rate"] if f["rate"] else 0.0
    return (os.cpu_count() or 1) / spent_per_command if spent_per_command else float("inf")


def describe(f: dict[str, Any]) -> str:
    """One lane's line, printed as it ends (a full run takes a while)."""
    cpu = f["cpu"]
    pairs = zip(f["harness"], cpu[:-1], strict=True)
    harness = ", ".join(f"{n} {c:.2f}" for n, c in pairs) or "all in this process"
    line = (
        f"    {f['latency_ms']:>4g} ms {f['action']:<22} QPS {f['qps']:>2} x{f['containers']}: {f['applied']}/{f['n']} "
        f"applied in {f['seconds']:.1f} s = {f['rate']:.2f}/s (peak {f['peak']}/s); provider calls {f['calls']}, "
        f"errors {f['errors']}, throttled {f['throttled']}, retried records {f['retried']}, copies delivered twice "
        f"{f.get('copies', 0)}; limiter {f['limiter']}; "
        f"billed {f['billed_ms']:.0f} ms/command, waited {f['waited_ms']:.0f} ms/command; CPU-s per s: {harness}, "
        f"this process (containers) {cpu[-1]:.2f} = {f['cpu_ms']:.1f} CPU ms/command; all {sum(cpu):.2f} of "
        f"{os.cpu_count()} CPUs; load average {f['load']}"
    )
    if f["rate"]:
        all_ms, ceiling = sum(cpu) * 1000 / f["rate"], machine_ceiling(f)
        line += (
            f"\n{'':>12}harness ceiling: {all_ms:.0f} CPU ms per command in all processes (moto, emulator, containers)"
            f" -> at most {ceiling:.1f}/s on {os.cpu_count()} CPUs ({ceiling / f['qps']:.2f} of QPS)"
        )
    if f["aws"]:
        per = {k: round(v / max(1, f["applied"]), 2) for k, v in sorted(f["aws"]["calls"].items())}
        line += f"\n{'':>12}AWS calls per command {f['aws']['total'] / max(1, f['applied']):.2f}: {per}"
    return line


def field_rows(f: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Per-command figures at the field latency: billed ms, AWS calls, cost per million commands."""
    from field import PRICES, cost_per_million

    rows: list[dict[str, Any]] = [
        {
            "metric": f"{name}: Lambda billed ms per command",
            "value": f["billed_ms"],
            "unit": f"ms ({f['memory']} MB arm64; load {f['load']})",
        },
        {
            "metric": f"{name}: container CPU ms per command (this process / commands)",
            "value": f["cpu_ms"],
            "unit": "CPU ms",
        },
    ]
    if f["aws"]:
        applied = max(1, f["applied"])
        rows.append(
            {
                "metric": f"{name}: AWS calls per command (success path)",
                "value": f["aws"]["total"] / applied,
                "unit": "calls/cmd",
                "bar": "<= 5",
            }
        )
        cost = cost_per_million(
            invocations_per_command=f["invocations"] / applied,
            billed_ms_per_command=f["billed_ms"],
            memory_mb=f["memory"],
            aws=f["aws"],
            commands=applied,
        )
        parts = ", ".join(f"{k} {v:.2f}" for k, v in cost.items() if k != "total")
        where = f"{f['action']} at {f['latency_ms']:g} ms"
        print(f"    cost per million {where}: ${cost['total']:.2f} ({parts}); {PRICES['region']}")
        rows.append({"metric": f"{name}: USD per million commands", "value": cost["total"], "unit": "USD"})
    return rows
