"""Read `template.yaml` the way CloudFormation would, closely enough to wire a local stack from it.

- a YAML loader that understands the short intrinsic tags (`!Ref`, `!GetAtt`, `!Sub`, `!Join`, `!If`, ...);
- Parameters (defaults, overridable), Mappings, Conditions, pseudo parameters;
- a local physical name and ARN for every resource, so `!Ref`/`!GetAtt`/`!Sub` resolve to what the local
  resources are really called;
- SAM `Globals` merged into each function (Environment variables merged key by key).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"  # moto's default account
NO_VALUE = object()  # AWS::NoValue: the key disappears

_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "Join": "Fn::Join",
    "If": "Fn::If",
    "Select": "Fn::Select",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Split": "Fn::Split",
    "Base64": "Fn::Base64",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Cidr": "Fn::Cidr",
    "Length": "Fn::Length",
    "ToJsonString": "Fn::ToJsonString",
}


class TemplateError(Exception):
    """The template uses something the local stack cannot resolve."""


class _Loader(yaml.SafeLoader):
    pass


def _make_constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
            elif name == "Fn::GetAZs" and value == "":
                value = ""
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short, _long in _SHORT_TAGS.items():
    _Loader.add_constructor(f"!{_short}", _make_constructor(_long))


def load_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass with intrinsic tags only
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


@dataclass
class Physical:
    """What a resource is called locally: `Ref` value and `Fn::GetAtt` attributes."""

    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class Template:
    """A loaded template plus the local names of its resources."""

    def __init__(
        self,
        data: dict[str, Any],
        path: Path | None = None,
        *,
        stack_name: str = "livectl-local",
        region: str = "ap-southeast-1",
        parameters: Mapping[str, str] | None = None,
        account_id: str = ACCOUNT_ID,
        aws_endpoint: str = "http://127.0.0.1:5000",
        webhook_url: str = "http://127.0.0.1:3000",
    ) -> None:
        self.aws_endpoint = aws_endpoint.rstrip("/")
        self.webhook_url = webhook_url.rstrip("/")
        self.data = data
        self.path = path
        self.dir = path.parent if path else Path.cwd()
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.resources: dict[str, dict[str, Any]] = dict(data.get("Resources") or {})
        self.mappings: dict[str, Any] = dict(data.get("Mappings") or {})
        self.parameters: dict[str, Any] = {}
        for name, spec in (data.get("Parameters") or {}).items():
            if parameters and name in parameters:
                self.parameters[name] = parameters[name]
            elif "Default" in (spec or {}):
                self.parameters[name] = spec["Default"]
            else:
                self.parameters[name] = ""
            if (spec or {}).get("Type", "").startswith("List<") or (spec or {}).get("Type") == "CommaDelimitedList":
                value = self.parameters[name]
                self.parameters[name] = value.split(",") if isinstance(value, str) and value else value or []
        self._conditions_raw: dict[str, Any] = dict(data.get("Conditions") or {})
        self._conditions: dict[str, bool] = {}
        self.physical: dict[str, Physical] = {}
        for logical, resource in self.resources.items():
            self.physical[logical] = self._name_resource(logical, resource)
        self.physical.update(self._implicit_resources())

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Template:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(f"cannot read {p}: {exc.strerror}") from exc
        return cls(load_yaml(text), p.resolve(), **kwargs)

    # -- naming -------------------------------------------------------------------------------------------
    def _arn(self, service: str, resource: str, *, region: bool = True, sep: str = ":") -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}{sep}{resource}"

    def _prop_name(self, resource: dict[str, Any], key: str) -> str | None:
        props = resource.get("Properties") or {}
        if key not in props:
            return None
        try:
            value = self.resolve(props[key])
        except TemplateError:
            return None
        return str(value) if isinstance(value, str | int) and value != "" else None

    def _name_resource(self, logical: str, resource: dict[str, Any]) -> Physical:
        kind = resource.get("Type", "")
        default = f"{self.stack_name}-{logical}"
        if kind == "AWS::SQS::Queue":
            name = self._prop_name(resource, "QueueName") or default
            if (resource.get("Properties") or {}).get("FifoQueue") and not name.endswith(".fifo"):
                name += ".fifo"
            url = f"{self.aws_endpoint}/{self.account_id}/{name}"
            arn = self._arn("sqs", name)
            return Physical(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})
        if kind == "AWS::DynamoDB::Table":
            name = self._prop_name(resource, "TableName") or default
            arn = self._arn("dynamodb", f"table/{name}")
            return Physical(name, {"Arn": arn, "StreamArn": f"{arn}/stream/local"})
        if kind == "AWS::Events::EventBus":
            name = self._prop_name(resource, "Name") or default
            return Physical(name, {"Arn": self._arn("events", f"event-bus/{name}"), "Name": name})
        if kind == "AWS::Scheduler::ScheduleGroup":
            name = self._prop_name(resource, "Name") or default
            return Physical(name, {"Arn": self._arn("scheduler", f"schedule-group/{name}")})
        if kind == "AWS::SecretsManager::Secret":
            name = self._prop_name(resource, "Name") or default
            arn = self._arn("secretsmanager", f"secret:{name}")
            return Physical(arn, {"Id": arn, "Name": name})
        if kind == "AWS::IAM::Role":
            name = self._prop_name(resource, "RoleName") or default
            return Physical(name, {"Arn": self._arn("iam", f"role/{name}", region=False), "RoleId": name})
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            name = self._prop_name(resource, "FunctionName") or default
            return Physical(name, {"Arn": self._arn("lambda", f"function:{name}")})
        if kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            arn = self._arn("lambda", f"layer:{self._prop_name(resource, 'LayerName') or default}:1")
            return Physical(arn, {"Arn": arn})
        if kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api", "AWS::Serverless::Api"):
            return Physical(logical.lower(), {"ApiEndpoint": self.webhook_url})
        if kind == "AWS::Logs::LogGroup":
            name = self._prop_name(resource, "LogGroupName") or default
            return Physical(name, {"Arn": self._arn("logs", f"log-group:{name}")})
        if kind in ("AWS::SNS::Topic",):
            name = self._prop_name(resource, "TopicName") or default
            arn = self._arn("sns", name)
            return Physical(arn, {"TopicArn": arn, "TopicName": name})
        # Anything else: a stable made-up name; GetAtt Arn still resolves.
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
        return Physical(default, {"Arn": self._arn(service, default)})

    def _implicit_resources(self) -> dict[str, Physical]:
        """SAM creates `ServerlessHttpApi` / `ServerlessRestApi` when an event has no explicit ApiId."""
        out: dict[str, Physical] = {}
        for logical, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                etype = (event or {}).get("Type")
                if etype == "HttpApi" and "ApiId" not in (event.get("Properties") or {}):
                    api = Physical("serverlesshttpapi", {"ApiEndpoint": self.webhook_url})
                    out.setdefault("ServerlessHttpApi", api)
                if etype == "Api" and "RestApiId" not in (event.get("Properties") or {}):
                    out.setdefault("ServerlessRestApi", Physical("serverlessrestapi", {"RootResourceId": "root"}))
            out.setdefault(f"{logical}Role", Physical(f"{self.stack_name}-{logical}Role"))
            out[f"{logical}Role"].attrs.setdefault(
                "Arn", self._arn("iam", f"role/{self.stack_name}-{logical}Role", region=False)
            )
        return out

    # -- intrinsics -----------------------------------------------------------------------------------------
    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self._arn("cloudformation", f"stack/{self.stack_name}/local", sep=":"),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }.get(name)

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            value = self.pseudo(name)
            if value is None:
                raise TemplateError(f"unknown pseudo parameter {name}")
            return value
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, logical: str, attr: str) -> Any:
        physical = self.physical.get(logical)
        if physical is None:
            raise TemplateError(f"!GetAtt {logical}.{attr}: no such resource")
        if attr in physical.attrs:
            return physical.attrs[attr]
        raise TemplateError(f"!GetAtt {logical}.{attr}: attribute not known locally")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self._conditions_raw:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(self._conditions_raw[name]))
        return self._conditions[name]

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1).strip()
            if key in variables:
                return str(self.resolve(variables[key]))
            if "." in key and not key.startswith("AWS::"):
                logical, attr = key.split(".", 1)
                return str(self.get_att(logical, attr))
            return str(self.ref(key))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in `value` (recursively). `AWS::NoValue` keys disappear."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key, arg)
        out: dict[str, Any] = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def _fn(self, key: str, arg: Any) -> Any:
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self.resolve(a) for a in arg]
            return self.get_att(str(parts[0]), str(parts[1]))
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return self._sub(arg, {})
            text, variables = arg[0], arg[1] if len(arg) > 1 else {}
            return self._sub(str(self.resolve(text)), variables)
        if key == "Fn::Join":
            sep, items = arg
            return str(self.resolve(sep)).join(str(i) for i in self.resolve(items))
        if key == "Fn::Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            return items[int(index)]
        if key == "Fn::Split":
            sep, text = self.resolve(arg[0]), self.resolve(arg[1])
            return str(text).split(str(sep))
        if key == "Fn::If":
            name, then, other = arg
            return self.resolve(then if self.condition(str(name)) else other)
        if key == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(x) for x in arg)
        if key == "Fn::Or":
            return any(self.resolve(x) for x in arg)
        if key == "Fn::FindInMap":
            name, top, second = (self.resolve(x) for x in arg[:3])
            try:
                return copy.deepcopy(self.mappings[name][top][second])
            except KeyError as exc:
                raise TemplateError(f"!FindInMap {name}/{top}/{second}: not found") from exc
        if key == "Fn::Base64":
            import base64

            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}a", f"{self.region}b", f"{self.region}c"]
        if key == "Fn::Length":
            return len(self.resolve(arg))
        if key == "Fn::ToJsonString":
            import json

            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise TemplateError(f"{key} is not supported by the local stack")

    # -- views ----------------------------------------------------------------------------------------------
    def included(self, resource: Mapping[str, Any]) -> bool:
        cond = resource.get("Condition")
        return self.condition(str(cond)) if cond else True

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {
            logical: resource
            for logical, resource in self.resources.items()
            if resource.get("Type") in types and self.included(resource)
        }

    def properties(self, logical: str) -> dict[str, Any]:
        resolved = self.resolve(self.resources[logical].get("Properties") or {})
        return resolved if isinstance(resolved, dict) else {}

    def function_properties(self, logical: str) -> dict[str, Any]:
        """A SAM function's properties with `Globals.Function` merged (env variables merged by key)."""
        glob = copy.deepcopy(((self.data.get("Globals") or {}).get("Function")) or {})
        own = copy.deepcopy(self.resources[logical].get("Properties") or {})
        merged: dict[str, Any] = {**glob, **own}
        env_g = ((glob.get("Environment") or {}).get("Variables")) or {}
        env_o = ((own.get("Environment") or {}).get("Variables")) or {}
        if env_g or env_o:
            merged["Environment"] = {"Variables": {**env_g, **env_o}}
        if "Layers" in glob and "Layers" in own:
            merged["Layers"] = list(glob["Layers"]) + list(own["Layers"])
        resolved = self.resolve(merged)
        return resolved if isinstance(resolved, dict) else {}

    def outputs(self) -> dict[str, Any]:
        """Outputs resolved locally (values that fail to resolve are skipped)."""
        out: dict[str, Any] = {}
        for name, spec in (self.data.get("Outputs") or {}).items():
            if spec.get("Condition") and not self.condition(spec["Condition"]):
                continue
            try:
                out[name] = self.resolve(spec.get("Value"))
            except TemplateError:
                continue
        return out

    def arn_to_logical(self) -> dict[str, str]:
        """Every ARN and Ref value a resource has locally → its logical id."""
        index: dict[str, str] = {}
        for logical, physical in self.physical.items():
            index.setdefault(physical.ref, logical)
            for value in physical.attrs.values():
                index.setdefault(value, logical)
        return index
