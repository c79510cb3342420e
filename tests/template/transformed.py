"""The SAM template, transformed offline (samtranslator, no credentials), and helpers to read the result.

The transform is what CloudFormation would run: SAM-generated roles, event source mappings, permissions and
EventInvokeConfigs only exist after it, so every invariant is checked on its output, not on the source YAML.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

ACCOUNT = "123456789012"
REGION = "ap-southeast-1"
STACK = "livectl-test"

ACTION_FUNCTIONS = {
    "StopPullRecordFunction": ("StopPullRecordTask", "StopPullRecordQueue", "volcengine"),
    "GetPullRecordFunction": ("GetPullRecordTask", "GetPullRecordQueue", "volcengine"),
    "RestartPullToPushFunction": ("RestartPullToPushTask", "RestartPullToPushQueue", "volcengine"),
    "StopPullToPushFunction": ("StopPullToPushTask", "StopPullToPushQueue", "volcengine"),
    "DeleteCloudRecordingFunction": ("DeleteCloudRecording", "DeleteCloudRecordingQueue", "trtc"),
    "StopCdnPublishFunction": ("StopPublishCdnStream", "StopCdnPublishQueue", "trtc"),
}
ALL_FUNCTIONS = {
    **{
        name: f"functions/{d}/"
        for name, d in zip(
            ACTION_FUNCTIONS,
            [
                "stop_pull_record",
                "get_pull_record",
                "restart_pull_to_push",
                "stop_pull_to_push",
                "delete_cloud_recording",
                "stop_cdn_publish",
            ],
            strict=True,
        )
    },
    "ScheduleManagerFunction": "functions/schedule_manager/",
    "TrtcCallbackFunction": "functions/trtc_callback/",
}
STOP_QUEUES = ("StopPullRecordQueue", "StopPullToPushQueue", "DeleteCloudRecordingQueue", "StopCdnPublishQueue")


class _NoNetworkPolicyLoader:
    """samtranslator asks IAM for managed policy ARNs; offline we build the documented ARN from the name."""

    def load(self) -> dict[str, str]:
        return _ManagedPolicies()


class _ManagedPolicies(dict):  # type: ignore[type-arg]
    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"

    def get(self, name: str, default: Any = None) -> str:  # samtranslator calls .get
        return self[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)


def load_source() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())  # type: ignore[no-any-return]


def transform(source: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform as sam_transform

    fragment = copy.deepcopy(source)
    # Local code directories become placeholder S3 objects, as `sam package` would make them.
    for resource in fragment["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://placeholder-bucket/{props[key].strip('/').replace('/', '-')}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    parameters = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": STACK}
    return sam_transform(fragment, parameters, _NoNetworkPolicyLoader())  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------------------------
# Reading the transformed template
# ---------------------------------------------------------------------------------------------------------------
def resources_of_type(cfn: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == rtype}


def ref_target(value: Any) -> str | None:
    """The logical id behind {"Ref": X} or {"Fn::GetAtt": [X, attr]}."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def resolve(value: Any, defaults: dict[str, Any]) -> Any:
    """Render an intrinsic as a concrete string where it names a parameter or pseudo parameter, else a token.

    Resources render as `<Logical.Attr>` so that resource patterns can be compared by what they point at.
    """
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK,
        "AWS::URLSuffix": "amazonaws.com",
    }
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(v, defaults) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            if arg in pseudo:
                return pseudo[arg]
            if arg in defaults:
                return str(defaults[arg])
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            target = arg if isinstance(arg, list) else arg.split(".", 1)
            return f"<{target[0]}.{target[1]}>"
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return str(resolve(variables[name], defaults))
                if name in pseudo:
                    return pseudo[name]
                if name in defaults:
                    return str(defaults[name])
                return f"<{name}>"

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(resolve(p, defaults)) for p in parts)
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(cfn: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    role = cfn["Resources"][role_id]["Properties"]
    for policy in role.get("Policies", []):
        yield from as_list(policy["PolicyDocument"]["Statement"])


def function_role(cfn: dict[str, Any], function_id: str) -> str:
    role = cfn["Resources"][function_id]["Properties"]["Role"]
    target = ref_target(role)
    assert target, f"{function_id} has no role of its own"
    return target


def function_grants(cfn: dict[str, Any], function_id: str, defaults: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (action, resource) an action function's role allows, resources rendered by `resolve`."""
    grants: set[tuple[str, str]] = set()
    for st in role_statements(cfn, function_role(cfn, function_id)):
        assert st["Effect"] == "Allow", st
        for action in as_list(st["Action"]):
            for resource in as_list(st["Resource"]):
                grants.add((action, str(resolve(resource, defaults))))
    return grants


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)
