"""Read the operating side of the transformed template: alarms, the dashboard, and the custom metrics they name.

A metric is named as (metric name, dimension names): CloudWatch matches a metric by its whole dimension set, so an
alarm on `CommandsApplied{service, action}` watches nothing if the code emits it with `{service}` only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.template.transformed import ROOT, ref_target, resources_of_type

RUNBOOK = ROOT / "docs" / "operating.md"
CUSTOM_NAMESPACE = "livectl/${AWS::StackName}"
_SUB = re.compile(r"\$\{(!?)([^}]+)\}")
_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"([^\"]+)\"")

MetricRef = tuple[str, frozenset[str]]

# Every custom metric the code emits and the alarms and the dashboard read (docs/operating.md lists them).
CUSTOM_METRICS = (
    "CommandsApplied",
    "CommandsAlreadyDone",
    "CommandsFailed",
    "CommandsRejected",
    "CommandsStale",
    "CommandsRetried",
    "ProviderRoundTrip",
    "ProviderThrottled",
    "StopLateness",
    "CallbackAccepted",
    "CallbackDuplicate",
    "CallbackRejected",
    "GuardArmed",
    "GuardDisarmed",
    "GuardFired",
)


def alarms(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: a["Properties"] for lid, a in resources_of_type(cfn, "AWS::CloudWatch::Alarm").items()}


def alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: its own, or each MetricStat of its metric math."""
    if "MetricName" in alarm:
        return [{k: alarm.get(k) for k in ("Namespace", "MetricName", "Dimensions")}]
    return [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]


def dashboard_body(cfn: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The dashboard JSON, with `${Resource...}` kept as `<Resource...>` and number parameters filled in."""
    (dashboard,) = resources_of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]

    def fill(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in defaults and isinstance(defaults[name], int | float):
            return str(defaults[name])
        return f"<{name}>"

    body: dict[str, Any] = json.loads(_SUB.sub(fill, text))
    return body


def dashboard_metrics(body: dict[str, Any]) -> tuple[set[MetricRef], list[list[Any]]]:
    """(custom metrics named by SEARCH or explicitly, every explicit metric array)."""
    custom: set[MetricRef] = set()
    explicit: list[list[Any]] = []
    for widget in body["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            head = entry[0]
            if isinstance(head, dict) and "expression" in head:
                for schema, name in _SEARCH.findall(head["expression"]):
                    namespace, *dims = [part.strip() for part in schema.split(",")]
                    if namespace.startswith("livectl"):
                        custom.add((name, frozenset(dims)))
                continue
            explicit.append(entry)
            namespace, name, *rest = [e for e in entry if not isinstance(e, dict)]
            if str(namespace).startswith("livectl"):
                custom.add((name, frozenset(rest[0::2])))
    return custom, explicit


def referenced_custom_metrics(cfn: dict[str, Any], defaults: dict[str, Any]) -> set[MetricRef]:
    found, _ = dashboard_metrics(dashboard_body(cfn, defaults))
    for alarm in alarms(cfn).values():
        for metric in alarm_metrics(alarm):
            namespace = metric.get("Namespace")
            if isinstance(namespace, dict) and namespace.get("Fn::Sub") == CUSTOM_NAMESPACE:
                found.add((metric["MetricName"], frozenset(d["Name"] for d in metric.get("Dimensions", []))))
    return found


def runbook_titles(path: Path = RUNBOOK) -> set[str]:
    return {line[4:].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("### ")}


def dimension_target(metric: dict[str, Any], name: str) -> str | None:
    for dimension in metric.get("Dimensions") or []:
        if dimension["Name"] == name:
            value = dimension["Value"]
            return value if isinstance(value, str) else ref_target(value)
    return None
