"""Invariants of the SAM-transformed template (brief §5, reliability §5.5 T3/T4/T6)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from livectl.control.redelivery import max_receive_count, redelivery_span
from livectl.providers.catalogue import ACTIONS
from livectl.providers.ratelimit import per_container_share
from tests.template.operations import alarm_metrics, alarms, dimension_target
from tests.template.transformed import (
    ACCOUNT,
    ACTION_FUNCTIONS,
    ALL_FUNCTIONS,
    REGION,
    STOP_QUEUES,
    as_list,
    function_role,
    ref_target,
    resolve,
    resources_of_type,
    role_statements,
)

pytestmark = pytest.mark.template

PROVIDER_SECRET_SAMPLES = {
    "volcengine": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:livectl/volcengine/default-AbC123",
    "trtc": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:livectl/trtc/default-AbC123",
}


def esms(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(cfn, "AWS::Lambda::EventSourceMapping")


def esm_of(cfn: dict[str, Any], function_id: str) -> dict[str, Any]:
    found = [e["Properties"] for e in esms(cfn).values() if ref_target(e["Properties"]["FunctionName"]) == function_id]
    assert len(found) == 1, f"{function_id}: {len(found)} event source mappings"
    return found[0]


def max_concurrency(esm: dict[str, Any], defaults: dict[str, Any], parameter_value: str = "Default") -> int:
    value = esm["ScalingConfig"]["MaximumConcurrency"]
    if isinstance(value, dict):
        return int(defaults[value["Ref"]]) if parameter_value == "Default" else int(parameter_value)
    return int(value)


# ---------------------------------------------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------------------------------------------
def test_every_function_of_the_contract_exists_with_its_code_dir(source):
    functions = {k: v for k, v in source["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert {k: v["Properties"]["CodeUri"] for k, v in functions.items()} == ALL_FUNCTIONS
    assert source["Globals"]["Function"]["Runtime"] == "python3.12"
    assert source["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert source["Globals"]["Function"]["Handler"] == "app.handler"


def test_globals_env_carries_powertools_and_tracer_is_off(cfn):
    for fid in ALL_FUNCTIONS:
        props = cfn["Resources"][fid]["Properties"]
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == "livectl"
        # One namespace per stack: a dev stack's throttling must not page whoever watches prod.
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "livectl/${AWS::StackName}"}
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
        assert ref_target(env["LEDGER_TABLE"]) == "LedgerTable"
        assert ref_target(env["EVENT_BUS_NAME"]) == "LivectlBus"
        assert props.get("TracingConfig", {}).get("Mode", "PassThrough") != "Active", fid


def test_action_functions_env_names(cfn, defaults):
    for fid in ACTION_FUNCTIONS:
        env = cfn["Resources"][fid]["Properties"]["Environment"]["Variables"]
        assert ref_target(env["IDEMPOTENCY_TABLE"]) == "IdempotencyTable"
        assert resolve(env["PROVIDER_SECRET_PREFIX"], defaults) == "livectl/"
        for name in ("MAX_CONCURRENCY", "LIVECTL_VOLCENGINE_ENDPOINT", "LIVECTL_TRTC_ENDPOINT"):
            assert name in env, (fid, name)
        assert "CALLBACK_SECRET_NAME" not in env


def test_schedule_manager_env_points_at_the_stop_queues(cfn, defaults):
    env = cfn["Resources"]["ScheduleManagerFunction"]["Properties"]["Environment"]["Variables"]
    assert ref_target(env["SCHEDULE_GROUP"]) == "LivectlScheduleGroup"
    assert ref_target(env["SCHEDULER_ROLE_ARN"]) == "SchedulerRole"
    assert ref_target(env["SCHEDULER_DLQ_ARN"]) == "SchedulerDLQ"
    assert int(resolve(env["STALE_AFTER_SECONDS"], defaults)) == 300
    queue_arns = json.loads(resolve(env["ACTION_QUEUE_ARNS"], defaults))
    assert queue_arns == {
        "StopPullRecordTask": "<StopPullRecordQueue.Arn>",
        "StopPullToPushTask": "<StopPullToPushQueue.Arn>",
        "DeleteCloudRecording": "<DeleteCloudRecordingQueue.Arn>",
        "StopPublishCdnStream": "<StopCdnPublishQueue.Arn>",
    }
    # each is the queue of the function that performs that action
    for fid, (action, queue, _) in ACTION_FUNCTIONS.items():
        if action in queue_arns:
            assert queue_arns[action] == f"<{queue}.Arn>", fid


def test_env_values_are_names_not_secrets(cfn, defaults):
    for fid in ALL_FUNCTIONS:
        for name, value in cfn["Resources"][fid]["Properties"]["Environment"]["Variables"].items():
            text = str(resolve(value, defaults))
            for needle in ("AKLT", "AKID", "secret_key", "demo-secret", "demokey"):
                assert needle not in text, (fid, name)


# ---------------------------------------------------------------------------------------------------------------
# Queues and event sources (T3)
# ---------------------------------------------------------------------------------------------------------------
def test_every_sqs_event_source_reports_partial_failures(cfn, defaults):
    mappings = esms(cfn)
    assert len(mappings) == 7  # six actions + schedule requests
    for lid, esm in mappings.items():
        p = esm["Properties"]
        assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"], lid
        assert 1 <= p["BatchSize"] <= 100, lid  # > 10 needs a batching window (test_template_throughput)
        assert p.get("MaximumBatchingWindowInSeconds", 0) <= 5, lid
        assert max_concurrency(p, defaults) >= 2, lid


def test_visibility_timeout_is_at_least_six_function_timeouts(cfn):
    for lid, esm in esms(cfn).items():
        queue = cfn["Resources"][ref_target(esm["Properties"]["EventSourceArn"])]["Properties"]
        function = cfn["Resources"][ref_target(esm["Properties"]["FunctionName"])]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"], lid


def receive_limits(redrive: dict[str, Any], source: dict[str, Any]) -> dict[str, int]:
    """maxReceiveCount per OutageToleranceMinutes value (a plain number: the same for every value)."""
    values = source["Parameters"]["OutageToleranceMinutes"]["AllowedValues"]
    limit = redrive["maxReceiveCount"]
    if isinstance(limit, int):
        return {str(v): limit for v in values}
    mapping, key, field = limit["Fn::FindInMap"]
    assert key == {"Ref": "OutageToleranceMinutes"}
    return {str(v): int(source["Mappings"][mapping][str(v)][field]) for v in values}


def test_redrive_after_at_least_five_receives_to_a_fourteen_day_dlq(cfn, source):
    """Five receives at least, so throttling alone never dead-letters (AWS's advice), for every outage value."""
    for _lid, esm in esms(cfn).items():
        queue_id = ref_target(esm["Properties"]["EventSourceArn"])
        queue = cfn["Resources"][queue_id]["Properties"]
        redrive = queue["RedrivePolicy"]
        assert min(receive_limits(redrive, source).values()) >= 5, queue_id
        dlq = cfn["Resources"][ref_target(redrive["deadLetterTargetArn"])]["Properties"]
        assert dlq["MessageRetentionPeriod"] == 1209600, queue_id
        assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"], queue_id
        assert queue["MessageRetentionPeriod"] <= 4 * 86400, queue_id


def test_each_action_function_has_its_own_queue_and_dlq(cfn):
    for fid, (_, queue, _) in ACTION_FUNCTIONS.items():
        esm = esm_of(cfn, fid)
        assert ref_target(esm["EventSourceArn"]) == queue
        redrive = cfn["Resources"][queue]["Properties"]["RedrivePolicy"]
        assert ref_target(redrive["deadLetterTargetArn"]) == queue.replace("Queue", "DLQ")
    assert ref_target(esm_of(cfn, "ScheduleManagerFunction")["EventSourceArn"]) == "ScheduleRequestQueue"


def allowed_values(param: dict[str, Any]) -> list[str]:
    if "AllowedValues" in param:
        return [str(v) for v in param["AllowedValues"]]
    return [str(v) for v in range(int(param["MinValue"]), int(param["MaxValue"]) + 1)]


def test_concurrency_times_per_container_share_stays_within_qps(cfn, source):
    """Each action queue's MaximumConcurrency and its function's MAX_CONCURRENCY come from one parameter, and
    the fleet's worst window (containers x floor(QPS / MAX_CONCURRENCY)) never exceeds the documented QPS,
    for every value the parameter allows; at its default the fleet can use at least 95 % of the quota."""
    for fid, (action, _, _) in ACTION_FUNCTIONS.items():
        esm = esm_of(cfn, fid)
        env = cfn["Resources"][fid]["Properties"]["Environment"]["Variables"]
        assert env["MAX_CONCURRENCY"] == esm["ScalingConfig"]["MaximumConcurrency"], fid  # same source
        name = env["MAX_CONCURRENCY"]["Ref"]
        param = source["Parameters"][name]
        assert min(int(v) for v in allowed_values(param)) >= 2, name  # ScalingConfig's minimum
        qps = ACTIONS[action].qps
        for value in allowed_values(param):
            containers = int(resolve(esm["ScalingConfig"]["MaximumConcurrency"], {name: value}))
            share = per_container_share(qps, int(resolve(env["MAX_CONCURRENCY"], {name: value})))
            assert containers * share <= qps, (fid, value, containers, share)
        default = int(param["Default"])
        assert default * per_container_share(qps, default) >= 0.95 * qps, (fid, default)


def test_the_50_qps_action_runs_on_two_containers(cfn, defaults):
    """StopPullRecordTask bills about C / QPS per command under a backlog: two containers (share 25 per window,
    batches of 75, 25 in flight) reach its quota at 40 ms a command, where five cost 100 (test_template_throughput
    models both)."""
    assert max_concurrency(esm_of(cfn, "StopPullRecordFunction"), defaults) == 2


def test_action_queues_redrive_after_the_receives_the_outage_tolerance_needs(cfn, source):
    """Every action queue's maxReceiveCount is livectl.control.redelivery's for each allowed OutageToleranceMinutes
    (the redelivery schedule replaced the fixed 5 x VisibilityTimeout, which dead-lettered after ~15 minutes)."""
    for _fid, (_, queue, _) in ACTION_FUNCTIONS.items():
        limits = receive_limits(cfn["Resources"][queue]["Properties"]["RedrivePolicy"], source)
        assert limits == {v: max_receive_count(int(v) * 60) for v in limits}, queue


def test_idempotency_outlives_redelivery(cfn, source):
    """Was: maxReceiveCount x VisibilityTimeout. A failed record now comes back after the redelivery schedule's
    delay, so the span is the schedule's (each receive allowed its whole run) at the largest outage value."""
    minimum = int(source["Parameters"]["IdempotencyExpiresSeconds"]["MinValue"])
    for fid, (_, queue, _) in ACTION_FUNCTIONS.items():
        q = cfn["Resources"][queue]["Properties"]
        window = esm_of(cfn, fid).get("MaximumBatchingWindowInSeconds", 0)
        limits = receive_limits(q["RedrivePolicy"], source)
        longest = max(int(v) for v in limits)
        assert minimum >= redelivery_span(longest * 60) + q["VisibilityTimeout"] + window, fid


def test_direct_invocations_retry_little_and_dead_letter_to_the_functions_dlq(cfn):
    configs = resources_of_type(cfn, "AWS::Lambda::EventInvokeConfig")
    by_function = {ref_target(c["Properties"]["FunctionName"]): c["Properties"] for c in configs.values()}
    for fid, (_, queue, _) in ACTION_FUNCTIONS.items():
        config = by_function[fid]
        assert 0 <= config["MaximumRetryAttempts"] <= 2
        assert config["MaximumEventAgeInSeconds"] <= 300
        on_failure = config["DestinationConfig"]["OnFailure"]["Destination"]
        assert ref_target(on_failure) == queue.replace("Queue", "DLQ")


def test_queues_use_sse_sqs_so_the_scheduler_can_deliver(cfn):
    for lid, queue in resources_of_type(cfn, "AWS::SQS::Queue").items():
        p = queue["Properties"]
        assert p.get("SqsManagedSseEnabled") is True, lid
        assert "KmsMasterKeyId" not in p, lid  # alias/aws/sqs would block EventBridge Scheduler


# ---------------------------------------------------------------------------------------------------------------
# State, bus, schedule group
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "keys", "ttl"),
    [("LedgerTable", {"pk": "HASH", "sk": "RANGE"}, "expires_at"), ("IdempotencyTable", {"id": "HASH"}, "expiration")],
)
def test_tables(cfn, table, keys, ttl):
    p = cfn["Resources"][table]["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in p["KeySchema"]} == keys
    assert {a["AttributeName"]: a["AttributeType"] for a in p["AttributeDefinitions"]} == dict.fromkeys(keys, "S")
    assert p["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"]["SSEEnabled"] is True


def test_bus_and_schedule_group(cfn):
    assert cfn["Resources"]["LivectlBus"]["Type"] == "AWS::Events::EventBus"
    assert cfn["Resources"]["LivectlScheduleGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"


def test_outputs_the_cli_finds_a_stack_by(source):
    outputs = set(source["Outputs"])
    for queue in (
        "StopPullRecord",
        "GetPullRecord",
        "RestartPullToPush",
        "StopPullToPush",
        "DeleteCloudRecording",
        "StopCdnPublish",
    ):
        assert {f"{queue}QueueUrl", f"{queue}QueueArn", f"{queue}DLQUrl"} <= outputs
    assert {
        "ScheduleRequestQueueUrl",
        "LedgerTableName",
        "IdempotencyTableName",
        "EventBusName",
        "ScheduleGroupName",
        "SchedulerRoleArn",
        "SchedulerDLQArn",
        "WebhookUrl",
    } <= outputs


# ---------------------------------------------------------------------------------------------------------------
# Observability (T6)
# ---------------------------------------------------------------------------------------------------------------
def test_every_function_logs_to_its_own_group_with_retention(cfn, defaults):
    groups = []
    for fid in ALL_FUNCTIONS:
        group = ref_target(cfn["Resources"][fid]["Properties"]["LoggingConfig"]["LogGroup"])
        resource = cfn["Resources"][group]
        assert resource["Type"] == "AWS::Logs::LogGroup"
        assert int(resolve(resource["Properties"]["RetentionInDays"], defaults)) > 0
        groups.append(group)
    assert len(set(groups)) == len(ALL_FUNCTIONS)


def test_every_dlq_has_a_depth_alarm(cfn):
    dlqs = {
        ref_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in resources_of_type(cfn, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    dlqs.add("SchedulerDLQ")
    alarmed = {}
    for lid, alarm in alarms(cfn).items():
        for metric in alarm_metrics(alarm):
            if metric["Namespace"] == "AWS/SQS" and metric["MetricName"] == "ApproximateNumberOfMessagesVisible":
                assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold", lid
                alarmed[dimension_target(metric, "QueueName")] = lid
    assert len(dlqs) == 8
    assert dlqs <= set(alarmed), dlqs - set(alarmed)


def test_webhook_route_access_logs_and_flood_guard(cfn, source):
    api = source["Resources"]["WebhookApi"]["Properties"]
    assert ref_target(api["AccessLogSettings"]["DestinationArn"]) == "WebhookAccessLogGroup"
    event = source["Resources"]["TrtcCallbackFunction"]["Properties"]["Events"]["Callback"]
    assert event["Type"] == "HttpApi"
    assert (event["Properties"]["Method"], event["Properties"]["Path"]) == ("POST", "/trtc/callback")
    assert event["Properties"]["PayloadFormatVersion"] == "2.0"
    fn = cfn["Resources"]["TrtcCallbackFunction"]["Properties"]
    assert 1 <= fn["ReservedConcurrentExecutions"] <= 50
    assert fn["Timeout"] <= 10  # TRTC waits 5 s
    permission = [
        p
        for p in resources_of_type(cfn, "AWS::Lambda::Permission").values()
        if ref_target(p["Properties"]["FunctionName"]) == "TrtcCallbackFunction"
    ]
    assert len(permission) == 1 and "/POST/trtc/callback" in json.dumps(permission[0]["Properties"]["SourceArn"])


# ---------------------------------------------------------------------------------------------------------------
# IAM (T4)
# ---------------------------------------------------------------------------------------------------------------
LEDGER_RW = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
IDEMPOTENCY_RW = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/<LivectlBus>"
SQS_POLL = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SQS_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"


def grants(cfn, role_id, defaults, effect="Allow"):
    out = set()
    for st in role_statements(cfn, role_id):
        if st["Effect"] != effect:
            continue
        key = "Resource" if "Resource" in st else "NotResource"
        for action in as_list(st["Action"]):
            for resource in as_list(st[key]):
                out.add((action, str(resolve(resource, defaults))))
    return out


def expected_action_grants(fid: str, provider: str) -> set[tuple[str, str]]:
    dlq = ACTION_FUNCTIONS[fid][1].replace("Queue", "DLQ")
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:livectl/{provider}/*"
    return (
        {(a, "<LedgerTable.Arn>") for a in LEDGER_RW}
        | {(a, "<IdempotencyTable.Arn>") for a in IDEMPOTENCY_RW}
        | {("events:PutEvents", BUS), ("secretsmanager:GetSecretValue", secret), ("sqs:SendMessage", f"<{dlq}.Arn>")}
    )


@pytest.mark.parametrize("fid", list(ACTION_FUNCTIONS))
def test_action_function_role_is_exactly_its_allowlist(cfn, defaults, fid):
    role = function_role(cfn, fid)
    assert grants(cfn, role, defaults) == expected_action_grants(fid, ACTION_FUNCTIONS[fid][2])
    # SAM's SQS event attaches AWSLambdaSQSQueueExecutionRole (Resource "*"): an explicit Deny narrows polling
    # to the function's own queue.
    queue = ACTION_FUNCTIONS[fid][1]
    assert grants(cfn, role, defaults, "Deny") == {(a, f"<{queue}.Arn>") for a in SQS_POLL}
    assert all("NotResource" in st for st in role_statements(cfn, role) if st["Effect"] == "Deny")
    assert set(cfn["Resources"][role]["Properties"]["ManagedPolicyArns"]) == {BASIC, SQS_EXECUTION}


def test_schedule_manager_role_is_exactly_its_allowlist(cfn, defaults):
    role = function_role(cfn, "ScheduleManagerFunction")
    schedules = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/<LivectlScheduleGroup>/*"
    assert grants(cfn, role, defaults) == (
        {
            (a, schedules)
            for a in (
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
                "scheduler:GetSchedule",
            )
        }
        | {("scheduler:ListSchedules", "*"), ("iam:PassRole", "<SchedulerRole.Arn>"), ("events:PutEvents", BUS)}
        | {("ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/livectl-test/guard")}
        | {(a, "<LedgerTable.Arn>") for a in LEDGER_RW}
    )
    passrole = [st for st in role_statements(cfn, role) if st["Action"] == "iam:PassRole"]
    assert passrole[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    assert grants(cfn, role, defaults, "Deny") == {(a, "<ScheduleRequestQueue.Arn>") for a in SQS_POLL}
    assert set(cfn["Resources"][role]["Properties"]["ManagedPolicyArns"]) == {BASIC, SQS_EXECUTION}


def test_callback_role_reads_only_the_callback_secret(cfn, defaults):
    role = function_role(cfn, "TrtcCallbackFunction")
    callback_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:livectl-callback/trtc-??????"
    # the webhook writes the ledger (conditional put for dedupe, update of the task's state, a batch of FILE# items
    # when a recording's files outgrow STATE) and reads back only those FILE# items (Query)
    ledger = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:Query")
    # ...and arms the cost guard asynchronously: one message to the schedule manager's queue, no Scheduler rights
    assert grants(cfn, role, defaults) == (
        {(a, "<LedgerTable.Arn>") for a in ledger}
        | {("events:PutEvents", BUS), ("secretsmanager:GetSecretValue", callback_secret)}
        | {("sqs:SendMessage", "<ScheduleRequestQueue.Arn>")}
    )
    env = cfn["Resources"]["TrtcCallbackFunction"]["Properties"]["Environment"]["Variables"]
    assert ref_target(env["GUARD_QUEUE_URL"]) == "ScheduleRequestQueue"
    assert set(cfn["Resources"][role]["Properties"]["ManagedPolicyArns"]) == {BASIC}


def _can_read(cfn, role_id, defaults, secret_arn):
    for action, resource in grants(cfn, role_id, defaults):
        if (fnmatchcase(action, "secretsmanager:*") or action == "*") and fnmatchcase(secret_arn, resource):
            return True
    return False


def test_only_action_functions_read_provider_secrets_and_only_their_providers(cfn, defaults):
    roles = {lid for lid, r in resources_of_type(cfn, "AWS::IAM::Role").items()}
    readers = {
        provider: {role for role in roles if _can_read(cfn, role, defaults, arn)}
        for provider, arn in PROVIDER_SECRET_SAMPLES.items()
    }
    for provider in PROVIDER_SECRET_SAMPLES:
        expected = {function_role(cfn, fid) for fid, (_, _, p) in ACTION_FUNCTIONS.items() if p == provider}
        assert readers[provider] == expected, provider
    assert len(readers["volcengine"]) == 4 and len(readers["trtc"]) == 2


def test_callback_secret_is_readable_by_the_callback_function_only(cfn, defaults):
    name = defaults["CallbackSecretName"]
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-Xy12Ab"
    roles = {lid for lid in resources_of_type(cfn, "AWS::IAM::Role")}
    assert {role for role in roles if _can_read(cfn, role, defaults, arn)} == {
        function_role(cfn, "TrtcCallbackFunction")
    }
    # and the default name cannot fall under a provider prefix
    prefix = defaults["ProviderSecretPrefix"]
    assert not name.startswith((f"{prefix}volcengine/", f"{prefix}trtc/"))


def test_scheduler_role_only_sends_to_stop_queues(cfn, defaults):
    role = cfn["Resources"]["SchedulerRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert len(trust) == 1
    assert trust[0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role
    assert grants(cfn, "SchedulerRole", defaults) == {
        ("sqs:SendMessage", f"<{q}.Arn>") for q in (*STOP_QUEUES, "SchedulerDLQ")
    }


def test_no_wildcard_actions_and_star_resources_only_where_unavoidable(cfn, defaults):
    star_ok = {
        "scheduler:ListSchedules",
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    for lid in resources_of_type(cfn, "AWS::IAM::Role"):
        for st in role_statements(cfn, lid):
            assert "NotAction" not in st, lid
            assert st["Effect"] == "Deny" or "NotResource" not in st, lid  # NotResource only narrows
            for action in as_list(st["Action"]):
                assert "*" not in action, (lid, action)
            if st["Effect"] == "Allow":
                for resource in as_list(st["Resource"]):
                    if resolve(resource, defaults) == "*":
                        assert set(as_list(st["Action"])) <= star_ok, (lid, st)


def test_one_role_per_function(cfn):
    roles = [function_role(cfn, fid) for fid in ALL_FUNCTIONS]
    assert len(set(roles)) == len(ALL_FUNCTIONS)


# ---------------------------------------------------------------------------------------------------------------
# The cost guard
# ---------------------------------------------------------------------------------------------------------------
def test_guard_policy_defaults_reach_the_schedule_manager_and_read_back_as_a_policy(cfn, defaults, source):
    """The template's Guard* parameters are the schedule manager's defaults, and they parse as a policy; the
    per-app overrides live under one SSM path that only the schedule manager reads."""
    from livectl.guard.policy import default_policy

    env = {
        k: str(resolve(v, defaults))
        for k, v in cfn["Resources"]["ScheduleManagerFunction"]["Properties"]["Environment"]["Variables"].items()
    }
    assert env["GUARD_PARAMETER_PATH"] == "/livectl-test/guard/"
    policy = default_policy(env)
    assert policy.as_dict() == {
        "enabled": True,
        "region": "ap-guangzhou",
        "account": "default",
        "max_recording": "12h",
        "max_relay": "12h",
    }
    outputs = {k: str(resolve(v["Value"], defaults)) for k, v in source["Outputs"].items()}
    assert json.loads(outputs["GuardDefaults"]) == policy.as_dict()
    assert outputs["GuardParameterPath"] == env["GUARD_PARAMETER_PATH"]
    readers = {
        lid
        for lid in resources_of_type(cfn, "AWS::IAM::Role")
        if any(a.startswith("ssm:") for a, _ in grants(cfn, lid, defaults))
    }
    assert readers == {function_role(cfn, "ScheduleManagerFunction")}


def test_every_guard_region_is_a_region_of_some_guarded_action(source):
    from livectl.guard.policy import GUARD_REGIONS

    assert source["Parameters"]["GuardRegion"]["AllowedValues"] == list(GUARD_REGIONS)
