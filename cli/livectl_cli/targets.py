"""How the operator commands find the stack they act on, and the layer's services wired against it.

Target: `--stack NAME` reads that CloudFormation stack's outputs (usual AWS credentials and region);
otherwise the local stack, from the state file `livectl local` writes (`.livectl-local.json`, or the path in
$LIVECTL_LOCAL_STATE), or from $LIVECTL_LOCAL_URL (moto's URL) with names computed from template.yaml.
Every name comes from the stack's outputs (the same keys locally and deployed).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livectl.errors import LivectlError
from livectl.schedules.scheduler import STOP_ACTIONS
from livectl_cli.common import CliError

STATE_FILE = ".livectl-local.json"
LOCAL_STACK_NAME = "livectl-local"

# Action → the logical-id stem of its function and queue (fixed interface; outputs are `<stem>QueueUrl`).
ACTION_STEMS = {
    "StopPullRecordTask": "StopPullRecord",
    "GetPullRecordTask": "GetPullRecord",
    "RestartPullToPushTask": "RestartPullToPush",
    "StopPullToPushTask": "StopPullToPush",
    "DeleteCloudRecording": "DeleteCloudRecording",
    "StopPublishCdnStream": "StopCdnPublish",
}


@dataclass
class Target:
    kind: str  # "local" or "stack"
    name: str
    outputs: dict[str, str]
    region: str | None = None
    aws_endpoint: str | None = None

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CliError(f"stack {self.name} has no output {key!r} (is it deployed from this template.yaml?)")
        return str(value)

    def queue_url(self, action: str) -> str:
        return self.output(f"{ACTION_STEMS[action]}QueueUrl")

    def client(self, service: str) -> Any:
        from livectl import aws

        return aws.client(service)


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack)")
    p.add_argument("--region", help="AWS region of --stack (default: the usual AWS configuration)")


def _use_local_environment(endpoint: str, region: str, dynamodb_endpoint: str | None = None) -> None:
    """Point boto3 (and livectl.aws's cached clients) at the local moto server(s)."""
    from livectl import aws

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    if dynamodb_endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    else:
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset_clients()


def state_file_path() -> Path:
    return Path(os.environ.get("LIVECTL_LOCAL_STATE") or STATE_FILE)


def resolve_target(args: argparse.Namespace) -> Target:
    if getattr(args, "stack", None):
        return _deployed(args.stack, getattr(args, "region", None))
    path = state_file_path()
    if path.is_file():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            endpoint, region, outputs = state["aws_endpoint"], state["region"], dict(state["outputs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"cannot read {path} (written by `livectl local`): {exc!r}") from exc
        _use_local_environment(endpoint, region, state.get("dynamodb_endpoint"))
        return Target("local", LOCAL_STACK_NAME, outputs, region, endpoint)
    url = os.environ.get("LIVECTL_LOCAL_URL")
    if url:
        from livectl_cli.local.cfn import Template
        from livectl_cli.local.stack import REGION, find_template

        template = Template.load(find_template(), stack_name=LOCAL_STACK_NAME, region=REGION, aws_endpoint=url)
        _use_local_environment(url, REGION)
        return Target("local", LOCAL_STACK_NAME, {k: str(v) for k, v in template.outputs().items()}, REGION, url)
    raise CliError(
        f"no target: start `livectl local` (it writes {STATE_FILE} here), set LIVECTL_LOCAL_URL, or pass --stack NAME"
    )


def _deployed(stack: str, region: str | None) -> Target:
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    try:
        import boto3

        cfn = boto3.client("cloudformation", region_name=region)
        answer = cfn.describe_stacks(StackName=stack)
    except Exception as exc:
        from livectl import aws

        code = aws.error_code(exc) or type(exc).__name__
        if code == "NoCredentialsError":
            raise CliError("no AWS credentials: configure a profile or export AWS_ACCESS_KEY_ID/...") from exc
        if code == "NoRegionError":
            raise CliError("no AWS region: pass --region or set AWS_DEFAULT_REGION") from exc
        raise CliError(f"cannot read stack {stack}: {code}") from exc
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise CliError(f"stack {stack} not found")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target("stack", stack, outputs, region)


def aws_call(what: str, fn: Callable[[], Any]) -> Any:
    """Run one AWS call; any failure becomes one clear line."""
    try:
        return fn()
    except CliError:
        raise
    except LivectlError as exc:
        # The layer's adapters already turned the AWS error into one (its message names the call).
        if "ConnectionError" in (exc.code or ""):
            raise CliError(f"{what} failed: {UNREACHABLE}") from exc
        text = str(exc)
        raise CliError(text if text.startswith(what) else f"{what} failed: {text}") from exc
    except Exception as exc:
        from livectl import aws

        code = aws.error_code(exc) or type(exc).__name__
        if "ConnectionError" in code:
            raise CliError(f"{what} failed: {UNREACHABLE}") from exc
        raise CliError(f"{what} failed: {code}") from exc


UNREACHABLE = "cannot reach AWS endpoint (is `livectl local` running?)"


def bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """`fn(*args)` as a call for `aws_call`, with the arguments taken now (a lambda in a loop would take the last)."""
    return lambda: fn(*args)


def guard_policies(target: Target) -> Any:
    """The stack's cost-guard policies (its defaults and SSM path from the outputs); None for an older stack."""
    from livectl.guard.policy import GuardPolicies, GuardPolicy, apply_fields

    path, defaults = target.outputs.get("GuardParameterPath"), target.outputs.get("GuardDefaults")
    if not path or not defaults:
        return None
    return GuardPolicies(path, apply_fields(GuardPolicy(), json.loads(defaults), "GuardDefaults"), max_age=0)


def schedule_deps(target: Target) -> Any:
    """The schedule manager's own dependencies, wired against the target's outputs (`schedule-stop`, `guard`)."""
    from livectl.events import EventPublisher
    from livectl.schedules.scheduler import ScheduleTarget, StopScheduler
    from livectl.schedules.service import ScheduleDeps
    from livectl.store.ledger import Ledger

    group = target.output("ScheduleGroupName")
    queue_arns = {
        action: target.output(f"{stem}QueueArn") for action, stem in ACTION_STEMS.items() if action in STOP_ACTIONS
    }
    schedule_target = ScheduleTarget(
        group=group,
        role_arn=target.output("SchedulerRoleArn"),
        dlq_arn=target.output("SchedulerDLQArn"),
        queue_arns=queue_arns,
    )
    return ScheduleDeps(
        target=schedule_target,
        scheduler=StopScheduler(group),
        ledger=Ledger(target.output("LedgerTableName")),
        publisher=EventPublisher(target.output("EventBusName")),
        guard=guard_policies(target),
    )
