"""The operating side of the template: every alarm has a runbook entry and notifies the topic; every action is
covered by its alarms and on the dashboard (so an action added to the catalogue without them fails here)."""

from __future__ import annotations

import re

import pytest

from livectl.providers.catalogue import ACTIONS
from livectl_cli.targets import ACTION_STEMS
from tests.template.operations import (
    CUSTOM_METRICS,
    alarm_metrics,
    alarms,
    dashboard_body,
    dashboard_metrics,
    dimension_target,
    referenced_custom_metrics,
    runbook_titles,
)
from tests.template.transformed import ACTION_FUNCTIONS, ref_target

pytestmark = pytest.mark.template
RUNBOOK_REF = re.compile(r'runbook "([^"]+)"')


def test_every_catalogue_action_has_a_function_a_queue_and_a_cli_stem():
    assert {action for action, _, _ in ACTION_FUNCTIONS.values()} == set(ACTIONS)
    assert set(ACTION_STEMS) == set(ACTIONS)
    for fid, (action, queue, _) in ACTION_FUNCTIONS.items():
        assert fid == f"{ACTION_STEMS[action]}Function" and queue == f"{ACTION_STEMS[action]}Queue"


def test_every_alarm_names_a_runbook_entry_that_exists(cfn):
    titles = runbook_titles()
    for lid, alarm in alarms(cfn).items():
        found = RUNBOOK_REF.findall(alarm["AlarmDescription"])
        assert found, f"{lid}: AlarmDescription names no runbook entry"
        assert found[0] in titles, f"{lid}: docs/operating.md has no '### {found[0]}'"


def test_every_alarm_notifies_the_optional_topic_on_alarm_and_on_recovery(cfn):
    expected = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for lid, alarm in alarms(cfn).items():
        assert alarm.get("AlarmActions") == expected, lid
        assert alarm.get("OKActions") == expected, lid


@pytest.mark.parametrize("fid", sorted(ACTION_FUNCTIONS))
def test_every_action_has_its_queue_age_errors_and_throttling_alarms(cfn, fid):
    action, queue, _ = ACTION_FUNCTIONS[fid]
    kinds: dict[str, list[str]] = {"age": [], "errors": [], "throttled": [], "dlq": []}
    for lid, alarm in alarms(cfn).items():
        for metric in alarm_metrics(alarm):
            name = metric["MetricName"]
            if name == "ApproximateAgeOfOldestMessage" and dimension_target(metric, "QueueName") == queue:
                kinds["age"].append(lid)
                assert ref_target(alarm["Threshold"]) == "QueueAgeAlarmSeconds", lid
            if name == "Errors" and dimension_target(metric, "FunctionName") == fid:
                kinds["errors"].append(lid)
            if name == "ProviderThrottled" and dimension_target(metric, "action") == action:
                kinds["throttled"].append(lid)
                assert ref_target(alarm["EvaluationPeriods"]) == "ThrottleAlarmMinutes", lid
                assert ref_target(alarm["DatapointsToAlarm"]) == "ThrottleAlarmMinutes", lid
            if name == "ApproximateNumberOfMessagesVisible" and dimension_target(metric, "QueueName") == queue.replace(
                "Queue", "DLQ"
            ):
                kinds["dlq"].append(lid)
    assert all(len(found) == 1 for found in kinds.values()), kinds


def test_the_webhook_and_the_other_functions_are_alarmed(cfn):
    watched = {
        (m["MetricName"], dimension_target(m, "FunctionName")) for a in alarms(cfn).values() for m in alarm_metrics(a)
    }
    assert ("Errors", "ScheduleManagerFunction") in watched
    assert ("Errors", "TrtcCallbackFunction") in watched
    names = {m["MetricName"] for a in alarms(cfn).values() for m in alarm_metrics(a)}
    assert {"CallbackRejected", "CallbackAccepted"} <= names


def test_the_dashboard_shows_every_alarm(cfn, defaults):
    body = dashboard_body(cfn, defaults)
    shown = {a for w in body["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    assert shown == {f"<{lid}.Arn>" for lid in alarms(cfn)}


@pytest.mark.parametrize("fid", sorted(ACTION_FUNCTIONS))
def test_the_dashboard_shows_every_action_queue_dlq_and_function(cfn, defaults, fid):
    action, queue, _ = ACTION_FUNCTIONS[fid]
    _, explicit = dashboard_metrics(dashboard_body(cfn, defaults))
    named = {(e[1], e[3]) for e in explicit}
    for metric in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesNotVisible",
    ):
        assert (metric, f"<{queue}.QueueName>") in named, (action, metric)
    assert ("ApproximateNumberOfMessagesVisible", f"<{queue.replace('Queue', 'DLQ')}.QueueName>") in named
    assert ("Errors", f"<{fid}>") in named


def test_custom_metrics_are_drawn_per_action_with_the_stacks_namespace(cfn, defaults):
    """Each custom metric the alarms and the dashboard name carries `service` (and `action` for commands)."""
    referenced = referenced_custom_metrics(cfn, defaults)
    names = {name for name, _ in referenced}
    expected = set(CUSTOM_METRICS)
    assert expected <= names, expected - names
    assert all("service" in dims for _, dims in referenced)


def test_the_documented_metric_table_lists_every_referenced_metric(cfn, defaults):
    from tests.template.operations import RUNBOOK

    text = RUNBOOK.read_text(encoding="utf-8")
    for name, _ in referenced_custom_metrics(cfn, defaults):
        assert f"| `{name}` |" in text, name
