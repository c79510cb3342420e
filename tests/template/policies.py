"""Every IAM policy document of the SAM-transformed template, rendered as the concrete JSON IAM would hold.

Intrinsics become real-looking ARNs and names (a queue's `Arn` becomes `arn:aws:sqs:<region>:<account>:<stack>-<id>`,
a parameter its default), so that tools which know each action's resource types (parliament) can read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.template.transformed import ACCOUNT, REGION, STACK, as_list

PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
}


@dataclass(frozen=True)
class PolicyDoc:
    """One policy: where it is (`Role/PolicyName`, `Role/AssumeRolePolicy`, `QueuePolicy`), what kind, its JSON."""

    location: str
    kind: str  # "identity" (a role's permissions) or "resource" (trust policies, queue policies)
    document: dict[str, Any]


def _physical_name(cfn: dict[str, Any], logical_id: str) -> str:
    props = cfn["Resources"][logical_id].get("Properties", {})
    for key in ("Name", "QueueName", "TableName", "RoleName"):
        if isinstance(props.get(key), str):
            return str(props[key])
    return f"{STACK}-{logical_id}"


def _arn(cfn: dict[str, Any], logical_id: str) -> str:
    """The ARN CloudFormation would return for `Fn::GetAtt [logical_id, Arn]`."""
    rtype = cfn["Resources"][logical_id]["Type"]
    name = _physical_name(cfn, logical_id)
    formats = {
        "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
        "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "AWS::Scheduler::ScheduleGroup": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}",
    }
    assert rtype in formats, f"no ARN format for {rtype} ({logical_id})"
    return formats[rtype]


def render(value: Any, cfn: dict[str, Any], defaults: dict[str, Any]) -> Any:
    """`value` with every intrinsic resolved to a concrete string (parameters take their defaults)."""
    if isinstance(value, list):
        return [render(v, cfn, defaults) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
        return {k: render(v, cfn, defaults) for k, v in value.items()}
    ((fn, arg),) = value.items()
    if fn == "Ref":
        if arg in PSEUDO:
            return PSEUDO[arg]
        if arg in defaults:
            return str(defaults[arg])
        return _physical_name(cfn, arg)  # Ref of a queue is its URL, but no policy uses that
    if fn == "Fn::GetAtt":
        logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        assert attribute == "Arn", (logical_id, attribute)
        return _arn(cfn, logical_id)
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(render(variables[name], cfn, defaults))
            if "." in name:
                return str(render({"Fn::GetAtt": name.split(".", 1)}, cfn, defaults))
            return str(render({"Ref": name}, cfn, defaults))

        return re.sub(r"\$\{([^}!]+)\}", sub, text)
    if fn == "Fn::Join":
        sep, parts = arg
        return sep.join(str(render(p, cfn, defaults)) for p in parts)
    raise AssertionError(f"cannot render {fn} in a policy")


def policy_documents(cfn: dict[str, Any], defaults: dict[str, Any]) -> Iterator[PolicyDoc]:
    """Every inline role policy, trust policy and resource policy of the transformed template, rendered."""
    for lid, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            # A trust policy's resource is the role itself; IAM leaves it implicit, linters want it written.
            trust = render(props["AssumeRolePolicyDocument"], cfn, defaults)
            for st in as_list(trust["Statement"]):
                st.setdefault("Resource", _arn(cfn, lid))
            yield PolicyDoc(f"{lid}/AssumeRolePolicy", "resource", trust)
            for policy in props.get("Policies", []):
                document = render(policy["PolicyDocument"], cfn, defaults)
                yield PolicyDoc(f"{lid}/{policy['PolicyName']}", "identity", document)
        elif "PolicyDocument" in props:
            yield PolicyDoc(lid, "resource", render(props["PolicyDocument"], cfn, defaults))


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(st) for st in as_list(document["Statement"])]
