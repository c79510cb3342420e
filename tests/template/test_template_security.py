"""IAM and template security, offline: parliament lints every policy of the SAM-transformed template, cfripper
runs its rules over it, and a policy simulation proves that the callback function cannot read provider credentials.

Every finding is either fixed in template.yaml or accepted below with its reason (the same reasons stand as
comments next to the checkov suppressions in template.yaml). An accepted finding that no longer occurs fails the
test too, so the lists never hold stale excuses.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.template.policies import PolicyDoc, policy_documents, statements
from tests.template.transformed import ACCOUNT, REGION, as_list, function_role

pytestmark = pytest.mark.template


@dataclass(frozen=True)
class Accepted:
    """A finding we keep on purpose: which tool and check, where (a predicate on the location), and why."""

    tool: str
    check: str
    where: Callable[[str], bool]
    reason: str


def _sam_generated(source: dict[str, Any]) -> set[str]:
    """Locations of the policy documents SAM writes itself: its policy templates (`EventBridgePutEventsPolicy`,
    `AWSSecretsManagerGetSecretValuePolicy`) and the EventInvokeConfig OnFailure policy. Ours are inline
    `{Version, Statement}` documents."""
    generated: set[str] = set()
    for lid, resource in source["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for index, policy in enumerate(props.get("Policies", [])):
            if not (isinstance(policy, dict) and "Statement" in policy):
                generated.add(f"{lid}Role/{lid}RolePolicy{index}")
        if "OnFailure" in props.get("EventInvokeConfig", {}).get("DestinationConfig", {}):
            generated.add(f"{lid}Role/{lid}EventInvokeConfigOnFailureSQSPolicy")
    return generated


def accepted_findings(source: dict[str, Any]) -> list[Accepted]:
    generated = _sam_generated(source)
    return [
        Accepted(
            "parliament",
            "NO_VERSION",
            lambda where: where in generated,
            "SAM writes these documents (policy templates, EventInvokeConfig OnFailure) without a Version; IAM then "
            "reads them as 2008-10-17, which differs only in not expanding policy variables, and none of them uses "
            "one (test_sam_generated_policies_use_no_policy_variables). Our own inline documents carry 2012-10-17.",
        ),
        Accepted(
            "parliament",
            "CREDENTIALS_EXPOSURE",
            lambda where: where.endswith("/AssumeRolePolicy"),
            "sts:AssumeRole in a trust policy is what the trust policy exists for: each names one service principal "
            "(lambda.amazonaws.com for function roles; scheduler.amazonaws.com pinned by aws:SourceAccount).",
        ),
        Accepted(
            "parliament",
            "PERMISSIONS_MANAGEMENT_ACTIONS",
            lambda where: where == "ScheduleManagerFunctionRole/ScheduleManagerFunctionRolePolicy0",
            "iam:PassRole is how a schedule gets its role: it is limited to the stack's SchedulerRole (which may only "
            "send to the stop queues) and to iam:PassedToService scheduler.amazonaws.com.",
        ),
        Accepted(
            "cfripper",
            "WildcardResourceRule",
            lambda where: where == "ScheduleManagerFunctionRole:scheduler:ListSchedules",
            "scheduler:ListSchedules has no resource-level permissions (the service authorization reference lists "
            "no resource type for it), so '*' is the only resource it takes; the code filters by schedule group.",
        ),
    ]


def _unexpected(found: list[tuple[str, str, str]], accepted: list[Accepted]) -> tuple[list[Any], list[str]]:
    """(findings no entry accepts, accepted checks that matched nothing)."""
    used: set[int] = set()
    unexpected = []
    for tool, check, where in found:
        matches = [i for i, a in enumerate(accepted) if (a.tool, a.check) == (tool, check) and a.where(where)]
        used.update(matches)
        if not matches:
            unexpected.append((tool, check, where))
    stale = [f"{a.tool} {a.check}" for i, a in enumerate(accepted) if i not in used]
    return unexpected, stale


# ---------------------------------------------------------------------------------------------------------------
# parliament
# ---------------------------------------------------------------------------------------------------------------
def _parliament(document: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns on import
        import parliament

    return parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)


@pytest.fixture(scope="module")
def documents(cfn, defaults) -> list[PolicyDoc]:
    return list(policy_documents(cfn, defaults))


def test_parliament_finds_nothing_outside_the_accepted_findings(documents, source):
    kinds = {doc.kind for doc in documents}
    assert kinds == {"identity", "resource"} and len(documents) >= 30, "every role, trust and queue policy"
    found = [("parliament", f.issue, doc.location) for doc in documents for f in _parliament(doc.document).findings]
    accepted = [a for a in accepted_findings(source) if a.tool == "parliament"]
    unexpected, stale = _unexpected(found, accepted)
    assert unexpected == [], unexpected
    assert stale == [], f"accepted findings that no longer occur (remove them): {stale}"


def test_parliament_catches_what_it_should():
    """The linter as wired here does fail: a misspelt action, a resource of the wrong type, a missing Version."""
    bad = {
        "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:PutItems", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/x",
            },
        ]
    }
    assert {f.issue for f in _parliament(bad).findings} >= {"UNKNOWN_ACTION", "RESOURCE_MISMATCH", "NO_VERSION"}


def test_sam_generated_policies_use_no_policy_variables(cfn, source):
    generated = _sam_generated(source)
    assert len(generated) >= 12
    for location in generated:
        role, name = location.split("/")
        (policy,) = [p for p in cfn["Resources"][role]["Properties"]["Policies"] if p["PolicyName"] == name]
        assert "Version" not in policy["PolicyDocument"]  # else the NO_VERSION acceptance is stale
        text = json.dumps(policy["PolicyDocument"])
        assert not re.search(r"\$\{aws:", text), location


# ---------------------------------------------------------------------------------------------------------------
# cfripper
# ---------------------------------------------------------------------------------------------------------------
def _cfripper(cfn: dict[str, Any], defaults: dict[str, Any]) -> Any:
    import logging

    import pycfmodel
    from cfripper.cli import init_cfripper

    logging.getLogger("pycfmodel").setLevel(logging.ERROR)  # it logs every resource type it has no model for
    config, processor = init_cfripper(None, None, ACCOUNT, None)
    params = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, **{k: v for k, v in defaults.items() if v is not None}}
    model = pycfmodel.parse(cfn).resolve(extra_params=params)
    return processor.process_cf_template(model, config)


def test_cfripper_finds_nothing_outside_the_accepted_findings(cfn, defaults, source):
    result = _cfripper(cfn, defaults)
    assert result.exceptions == []
    found = [
        ("cfripper", f.rule, f"{resource}:{action}")
        for f in result.failures
        for resource in sorted(f.resource_ids or {"?"})
        for action in sorted(f.actions or {"?"})
    ]
    unexpected, stale = _unexpected(found, [a for a in accepted_findings(source) if a.tool == "cfripper"])
    assert unexpected == [], unexpected
    assert stale == [], f"accepted findings that no longer occur (remove them): {stale}"


def test_cfripper_catches_what_it_should(cfn, defaults):
    """A wildcard action on the callback role is a blocking cfripper finding (the scan is not a no-op)."""
    import copy

    broken = copy.deepcopy(cfn)
    role = function_role(broken, "TrtcCallbackFunction")
    broken["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}
    )
    rules = {f.rule for f in _cfripper(broken, defaults).failures if role in (f.resource_ids or set())}
    assert {"WildcardResourceRule", "GenericWildcardPolicyRule"} & rules, rules


# ---------------------------------------------------------------------------------------------------------------
# The callback function cannot read provider credentials
# ---------------------------------------------------------------------------------------------------------------
# AWSLambdaBasicExecutionRole, the only managed policy the callback role has (test_template_invariants pins that).
BASIC_EXECUTION = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}


def glob_can_match_prefix(pattern: str, prefix: str) -> bool:
    """Whether an IAM resource pattern (`*` any run, `?` one character) matches some string starting with `prefix`."""
    if not prefix:
        return True  # what remains of the pattern matches something
    if not pattern:
        return False
    head = pattern[0]
    if head == "*":
        return any(glob_can_match_prefix(pattern[1:], prefix[k:]) for k in range(len(prefix) + 1))
    if head == "?" or head == prefix[0]:
        return glob_can_match_prefix(pattern[1:], prefix[1:])
    return False


def can_read_secrets_under(documents: list[dict[str, Any]], prefix: str) -> list[str]:
    """The resource patterns through which these policies allow secretsmanager:GetSecretValue on a secret whose
    ARN starts with `prefix`. parliament expands wildcard actions and NotAction, and weighs Deny statements."""
    merged = {"Version": "2012-10-17", "Statement": [st for doc in documents for st in statements(doc)]}
    allowed = _parliament(merged).get_allowed_resources("secretsmanager", "GetSecretValue")
    return [str(r) for r in allowed if glob_can_match_prefix(str(r), prefix)]


def _role_documents(documents: list[PolicyDoc], role: str) -> list[dict[str, Any]]:
    return [doc.document for doc in documents if doc.location.startswith(f"{role}/") and doc.kind == "identity"]


@pytest.mark.parametrize("provider", ["volcengine", "trtc"])
def test_no_statement_of_the_callback_role_allows_reading_provider_secrets(cfn, defaults, documents, provider):
    secret_prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{defaults['ProviderSecretPrefix']}{provider}/"
    callback = _role_documents(documents, function_role(cfn, "TrtcCallbackFunction"))
    assert len(callback) == 3 and all(as_list(d["Statement"]) for d in callback)
    assert can_read_secrets_under([*callback, BASIC_EXECUTION], secret_prefix) == []
    # The same simulation says yes where it should: the provider's own action functions, and a widened grant.
    action_role = function_role(cfn, "StopPullRecordFunction" if provider == "volcengine" else "StopCdnPublishFunction")
    assert can_read_secrets_under(_role_documents(documents, action_role), secret_prefix)
    widened = {
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:Get*", "Resource": f"{secret_prefix[:-1]}*"}]
    }
    assert can_read_secrets_under([*callback, widened], secret_prefix)


@pytest.mark.parametrize(
    ("pattern", "prefix", "expected"),
    [
        ("arn:x:secret:livectl-callback/trtc-??????", "arn:x:secret:livectl/trtc/", False),
        ("arn:x:secret:livectl/volcengine/*", "arn:x:secret:livectl/trtc/", False),
        ("arn:x:secret:livectl/trtc/*", "arn:x:secret:livectl/trtc/", True),
        ("arn:x:secret:livectl/*", "arn:x:secret:livectl/trtc/", True),
        ("arn:x:secret:live??l/t*", "arn:x:secret:livectl/trtc/", True),
        ("*", "arn:x:secret:livectl/trtc/", True),
        ("arn:x:secret:livectl/trtc", "arn:x:secret:livectl/trtc/", False),
    ],
)
def test_glob_prefix_matching(pattern, prefix, expected):
    assert glob_can_match_prefix(pattern, prefix) is expected
