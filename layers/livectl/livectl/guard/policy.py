"""The cost guard, part 1: the policy per TRTC SdkAppId and the signals the webhook sends.

Every TRTC recording (callback 301, Status 0) or CDN relay (401, Status 2) livectl sees start gets an auto-stop at
its start plus the app's maximum; when it ends by other means (302/310/312, relay IDLE) the guard is disarmed.

- **Policy**: a default from the template's Guard* parameters, overridden per SdkAppId by an SSM String parameter
  `<GuardParameterPath><SdkAppId>` holding JSON (`livectl guard set`). SSM rather than the ledger: it is where
  operators keep configuration (history per parameter, IAM per path, console and CLI), it is not task state, and
  one GetParametersByPath read (cached `max_age` seconds, Powertools' SSM provider) serves every app.
- **Signals**: the webhook does not arm inline. It sends one small message per start or end to the schedule
  manager's queue (`{"guard": "arm" | "end", ...}`); the schedule manager owns the state machine
  (`livectl.guard.manager`). One SQS SendMessage keeps the callback fast, and a Scheduler hiccup is retried by
  the queue (with a DLQ) instead of failing the callback, whose retries TRTC gives up after a minute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from livectl import aws
from livectl.errors import InvalidCommand
from livectl.providers.catalogue import DELETE_CLOUD_RECORDING_REGIONS, STOP_PUBLISH_CDN_REGIONS
from livectl.schedules.scheduler import parse_duration
from livectl.webhook.callbacks import GROUP_RECORDING, GROUP_RELAY, Callback
from livectl.webhook.callbacks import _int as int_field  # the docs send numbers and digit strings alike

GUARD_KEY = "guard"
KIND_ACTIONS = {"cloud_recording": "DeleteCloudRecording", "cdn_publish": "StopPublishCdnStream"}
RECORDING_ENDS = frozenset({302, 310, 312})
RELAY_RUNNING, RELAY_IDLE = 2, 0
GUARD_REGIONS = tuple(sorted(set(DELETE_CLOUD_RECORDING_REGIONS) | set(STOP_PUBLISH_CDN_REGIONS)))
POLICY_FIELDS = ("enabled", "region", "account", "max_recording", "max_relay")
MAX_BUDGET = timedelta(days=30)
ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_MAX_AGE = 60


# ------------------------------------------------------------------------------------------------------------
# Policy
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuardPolicy:
    enabled: bool = True
    region: str = "ap-guangzhou"
    account: str = "default"
    max_recording: timedelta = timedelta(hours=12)
    max_relay: timedelta = timedelta(hours=12)

    def budget(self, kind: str) -> timedelta:
        return self.max_recording if kind == "cloud_recording" else self.max_relay

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "region": self.region,
            "account": self.account,
            "max_recording": format_duration(self.max_recording),
            "max_relay": format_duration(self.max_relay),
        }


def format_duration(value: timedelta) -> str:
    """`12h`, `1h30m`, `45s`: the form `parse_duration` reads back."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


def apply_fields(base: GuardPolicy, doc: object, where: str = "policy") -> GuardPolicy:
    """`base` with the fields of `doc` (a partial policy) applied; InvalidCommand names the bad field."""
    if not isinstance(doc, Mapping):
        raise InvalidCommand(f"{where} must be a JSON object", field=where)
    for name in doc:
        if name not in POLICY_FIELDS:
            raise InvalidCommand(f"{where}.{name} is not a guard setting ({', '.join(POLICY_FIELDS)})", field=name)
    values: dict[str, Any] = base.__dict__.copy()
    if "enabled" in doc:
        enabled = doc["enabled"]
        if isinstance(enabled, str) and enabled.lower() in ("true", "false"):
            enabled = enabled.lower() == "true"
        if not isinstance(enabled, bool):
            raise InvalidCommand(f"{where}.enabled must be true or false, got {enabled!r}", field="enabled")
        values["enabled"] = enabled
    if "region" in doc:
        if doc["region"] not in GUARD_REGIONS:
            raise InvalidCommand(f"{where}.region must be one of {', '.join(GUARD_REGIONS)}", field="region")
        values["region"] = doc["region"]
    if "account" in doc:
        if not isinstance(doc["account"], str) or not ACCOUNT_PATTERN.match(doc["account"]):
            raise InvalidCommand(f"{where}.account must be 1-64 characters of [A-Za-z0-9_.-]", field="account")
        values["account"] = doc["account"]
    for name in ("max_recording", "max_relay"):
        if name in doc:
            try:
                budget = parse_duration(doc[name])
            except InvalidCommand:
                raise InvalidCommand(
                    f"{where}.{name} must be a duration like 12h, 90m or 1h30m, got {doc[name]!r}", field=name
                ) from None
            if budget > MAX_BUDGET:
                raise InvalidCommand(f"{where}.{name} must be at most {MAX_BUDGET.days} days", field=name)
            values[name] = budget
    return GuardPolicy(**values)


def default_policy(env: Mapping[str, str]) -> GuardPolicy:
    """The template's Guard* parameters, as the schedule manager's environment carries them."""
    doc = {
        "enabled": env.get("GUARD_ENABLED", "true"),
        "region": env.get("GUARD_REGION") or GuardPolicy.region,
        "account": env.get("GUARD_ACCOUNT") or GuardPolicy.account,
        "max_recording": env.get("GUARD_MAX_RECORDING") or "12h",
        "max_relay": env.get("GUARD_MAX_RELAY") or "12h",
    }
    return apply_fields(GuardPolicy(), doc, "guard defaults")


class GuardPolicies:
    """The effective policy per SdkAppId: `defaults` + the app's SSM override (`<path><SdkAppId>`, JSON)."""

    def __init__(
        self, path: str, defaults: GuardPolicy, *, max_age: int = DEFAULT_MAX_AGE, ssm_client: Any | None = None
    ) -> None:
        self.path = path if path.endswith("/") else path + "/"
        self.defaults = defaults
        self.max_age = max_age
        self._client = ssm_client
        self._provider: Any | None = None

    @property
    def client(self) -> Any:
        return self._client or aws.client("ssm")

    def overrides(self) -> dict[str, str]:
        """Every override under the path (name below the path -> raw JSON text), cached `max_age` seconds."""
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        if self._provider is None:
            self._provider = SSMProvider(boto3_client=self.client)
        try:
            found = self._provider.get_multiple(self.path, max_age=self.max_age, recursive=False)
        except Exception as exc:
            cause = exc.__cause__ or exc
            raise aws.aws_error(cause, "SSM GetParametersByPath guard policies") from exc
        return {str(k).rsplit("/", 1)[-1]: str(v) for k, v in found.items()}

    def override(self, sdk_app_id: int) -> dict[str, Any] | None:
        text = self.overrides().get(str(sdk_app_id))
        if text is None:
            return None
        try:
            doc = json.loads(text)
        except ValueError:
            raise InvalidCommand(f"{self.path}{sdk_app_id} is not a JSON object", field="policy") from None
        if not isinstance(doc, dict):
            raise InvalidCommand(f"{self.path}{sdk_app_id} is not a JSON object", field="policy")
        return doc

    def for_app(self, sdk_app_id: int) -> GuardPolicy:
        override = self.override(sdk_app_id)
        if override is None:
            return self.defaults
        return apply_fields(self.defaults, override, f"{self.path}{sdk_app_id}")

    def put(self, sdk_app_id: int, fields: Mapping[str, Any]) -> GuardPolicy:
        """Merge `fields` into the app's override (validated first) and write it. Returns the effective policy."""
        current = self.override(sdk_app_id) or {}
        merged = {**current, **fields}
        policy = apply_fields(self.defaults, merged)
        try:
            self.client.put_parameter(
                Name=f"{self.path}{sdk_app_id}",
                Value=json.dumps(merged, sort_keys=True),
                Type="String",
                Overwrite=True,
                Description=f"livectl cost guard policy for TRTC SdkAppId {sdk_app_id}",
            )
        except Exception as exc:
            raise aws.aws_error(exc, "SSM PutParameter guard policy") from exc
        if self._provider is not None:
            self._provider.clear_cache()
        return policy


# ------------------------------------------------------------------------------------------------------------
# Signals: what a verified callback means for the guard
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuardSignal:
    signal: str  # arm | end
    kind: str  # cloud_recording | cdn_publish
    task_id: str
    sdk_app_id: int
    at_ms: int  # when the recording or relay started (arm) or ended (end), EventMsTs
    event_type: int

    def as_request(self) -> dict[str, Any]:
        return {
            GUARD_KEY: self.signal,
            "kind": self.kind,
            "task_id": self.task_id,
            "sdk_app_id": self.sdk_app_id,
            "at_ms": self.at_ms,
            "event_type": self.event_type,
        }


def signal_for(cb: Callback, relay_applied: bool) -> GuardSignal | None:
    """Arm on 301 Status 0 and on an applied 401 Status 2; end on 302/310/312 and an applied 401 Status 0 (IDLE).
    A relay status older than the one recorded (`relay_applied` False) says nothing new."""
    if cb.task_id is None:
        return None
    status = int_field(cb.payload.get("Status"))
    signal: str | None = None
    kind = "cloud_recording"
    if cb.group == GROUP_RECORDING:
        if cb.event_type == 301 and status == 0:
            signal = "arm"
        elif cb.event_type in RECORDING_ENDS:
            signal = "end"
    elif cb.group == GROUP_RELAY and cb.event_type == 401 and relay_applied:
        kind = "cdn_publish"
        signal = "arm" if status == RELAY_RUNNING else "end" if status == RELAY_IDLE else None
    if signal is None:
        return None
    return GuardSignal(signal, kind, cb.task_id, cb.sdk_app_id, cb.order_ms, cb.event_type)


class SignalSender:
    """Puts guard signals on the schedule manager's queue (SQS). Failures raise livectl errors."""

    def __init__(self, queue_url: str, sqs_client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = sqs_client

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    def send(self, signal: GuardSignal) -> None:
        body = json.dumps(signal.as_request(), separators=(",", ":"), ensure_ascii=False)
        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)
        except Exception as exc:
            raise aws.aws_error(exc, "SQS SendMessage guard signal") from exc
