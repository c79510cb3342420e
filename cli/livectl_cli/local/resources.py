"""Create the template's stateful resources in moto: queues (with redrive), tables (keys, TTL), buses,
schedule groups, secrets; plus the local-only "events tap" (a rule on each bus → a queue we can read)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livectl.webhook.callbacks import LOCAL_CALLBACK_SECRET
from livectl_cli.local.cfn import Template

# Demo credentials the provider emulator accepts (docs/DESIGN.md "Local defaults").
DEMO_PROVIDER_SECRETS = {
    "volcengine": {"access_key": "AKLTDEMO", "secret_key": "demo-secret"},
    "trtc": {"access_key": "AKIDDEMO", "secret_key": "demo-secret"},
}
DEMO_ACCOUNTS = ("default",)

EVENTS_TAP_QUEUE = "livectl-local-events-tap"
EVENTS_TAP_RULE = "livectl-local-events-tap"

# Queue properties → SQS attribute names (values stringified; RedrivePolicy as JSON).
_QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "VisibilityTimeout",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "DelaySeconds": "DelaySeconds",
    "MaximumMessageSize": "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "FifoQueue": "FifoQueue",
    "ContentBasedDeduplication": "ContentBasedDeduplication",
}


@dataclass
class Created:
    """What exists locally, by logical id."""

    queues: dict[str, str] = field(default_factory=dict)  # logical → URL
    queue_arns: dict[str, str] = field(default_factory=dict)  # logical → ARN
    tables: dict[str, str] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)
    schedule_groups: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    events_tap_url: str = ""

    def queue_url_for_arn(self, arn: str) -> str | None:
        for logical, known in self.queue_arns.items():
            if known == arn:
                return self.queues[logical]
        return None


def _queue_order(template: Template) -> list[str]:
    """Dead-letter queues first, so a RedrivePolicy always names an existing queue."""
    queues = template.of_type("AWS::SQS::Queue")
    with_redrive = [q for q, r in queues.items() if "RedrivePolicy" in (r.get("Properties") or {})]
    return [q for q in queues if q not in with_redrive] + with_redrive


def create_queues(template: Template, sqs: Any, created: Created) -> None:
    for logical in _queue_order(template):
        props = template.properties(logical)
        name = template.physical[logical].attrs["QueueName"]
        attributes = {
            attr: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
            for key, attr in _QUEUE_ATTRIBUTES.items()
            if key in props
        }
        if "RedrivePolicy" in props:
            redrive = props["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            )
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        created.queues[logical] = url
        created.queue_arns[logical] = template.physical[logical].attrs["Arn"]


def create_tables(template: Template, dynamodb: Any, created: Created) -> None:
    for logical in template.of_type("AWS::DynamoDB::Table"):
        props = template.properties(logical)
        name = template.physical[logical].ref
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                kwargs[key] = props[key]
        dynamodb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
        created.tables[logical] = name


def create_buses(template: Template, events: Any, created: Created) -> None:
    for logical in template.of_type("AWS::Events::EventBus"):
        name = template.physical[logical].ref
        events.create_event_bus(Name=name)
        created.buses[logical] = name


def create_schedule_groups(template: Template, scheduler: Any, created: Created) -> None:
    for logical in template.of_type("AWS::Scheduler::ScheduleGroup"):
        name = template.physical[logical].ref
        scheduler.create_schedule_group(Name=name)
        created.schedule_groups[logical] = name


def secret_values(function_envs: Iterable[Mapping[str, str]], template: Template) -> dict[str, dict[str, Any]]:
    """The secrets the functions will read, filled with the emulator's demo keys.

    Names come from the functions' resolved environment (PROVIDER_SECRET_PREFIX, CALLBACK_SECRET_NAME), which
    the template fills from its Parameters' defaults — nothing here repeats those names.
    """
    wanted: dict[str, dict[str, Any]] = {}
    for env in function_envs:
        prefix = env.get("PROVIDER_SECRET_PREFIX")
        if prefix is not None:
            for provider, value in DEMO_PROVIDER_SECRETS.items():
                for account in DEMO_ACCOUNTS:
                    wanted[f"{prefix}{provider}/{account}"] = dict(value)
        if env.get("CALLBACK_SECRET_NAME"):
            wanted[env["CALLBACK_SECRET_NAME"]] = dict(LOCAL_CALLBACK_SECRET)
    for logical in template.of_type("AWS::SecretsManager::Secret"):
        name = template.physical[logical].attrs["Name"]
        props = template.properties(logical)
        if name not in wanted:
            raw = props.get("SecretString")
            wanted[name] = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else {"value": raw or ""}
    return wanted


def create_secrets(secrets: Mapping[str, Mapping[str, Any]], client: Any, created: Created) -> None:
    for name, value in secrets.items():
        client.create_secret(Name=name, SecretString=json.dumps(value))
        created.secrets.append(name)


def create_events_tap(sqs: Any, events: Any, created: Created) -> None:
    """A queue that receives every `livectl` event from every bus (moto delivers EventBridge → SQS)."""
    url = sqs.create_queue(QueueName=EVENTS_TAP_QUEUE, Attributes={"MessageRetentionPeriod": "3600"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for bus in created.buses.values():
        events.put_rule(Name=EVENTS_TAP_RULE, EventBusName=bus, EventPattern=json.dumps({"source": ["livectl"]}))
        events.put_targets(Rule=EVENTS_TAP_RULE, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
    created.events_tap_url = url


def create_all(template: Template, clients: Mapping[str, Any], function_envs: Iterable[Mapping[str, str]]) -> Created:
    created = Created()
    create_queues(template, clients["sqs"], created)
    create_tables(template, clients["dynamodb"], created)
    create_buses(template, clients["events"], created)
    create_schedule_groups(template, clients["scheduler"], created)
    create_secrets(secret_values(function_envs, template), clients["secretsmanager"], created)
    create_events_tap(clients["sqs"], clients["events"], created)
    return created
