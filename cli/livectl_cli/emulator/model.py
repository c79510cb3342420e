"""The emulator's state: tasks and their state machines, fault rules, sliding one-second rate windows.

Everything here is plain data plus small pure-ish helpers; `core.py` holds the lock and drives them.
Task kinds, providers and QPS come from `livectl.providers.catalogue`; nothing here restates a parameter list.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from livectl.providers.catalogue import (
    ACTIONS,
    CONFIRM_QUERIES,
    DELETE_CLOUD_RECORDING_REGIONS,
    STOP_PUBLISH_CDN_REGIONS,
    PullRecordStatus,
)

KIND_PROVIDER: dict[str, str] = {a.kind: a.provider for a in ACTIONS.values()}
KINDS: tuple[str, ...] = tuple(sorted(KIND_PROVIDER))
FAULTABLE_ACTIONS = frozenset(ACTIONS) | frozenset(CONFIRM_QUERIES)

PULL_STATUSES: tuple[str, ...] = tuple(s.value for s in PullRecordStatus if s is not PullRecordStatus.UNKNOWN)
# TRTC vocabulary: DescribeCloudRecording's Status for recordings, the 401 callback's names for relays.
RECORDING_STATUSES = ("Idle", "InProgress", "Exited")
RELAY_STATUS_CODES: dict[str, int] = {
    "IDLE": 0,
    "CONNECTING": 1,
    "RUNNING": 2,
    "RECOVERING": 3,
    "FAILURE": 4,
    "DISCONNECTING": 5,
}
STATUSES: dict[str, tuple[str, ...]] = {
    "pull_record": PULL_STATUSES,
    "pull_to_push": PULL_STATUSES,
    "cloud_recording": RECORDING_STATUSES,
    "cdn_publish": tuple(RELAY_STATUS_CODES),
}
DEFAULT_STATUS: dict[str, str] = {
    "pull_record": PullRecordStatus.ACTIVE.value,
    "pull_to_push": PullRecordStatus.ACTIVE.value,
    "cloud_recording": "InProgress",
    "cdn_publish": "RUNNING",
}
KIND_REGIONS: dict[str, tuple[str, ...]] = {
    "cloud_recording": DELETE_CLOUD_RECORDING_REGIONS,
    "cdn_publish": STOP_PUBLISH_CDN_REGIONS,
}
STORAGES = ("vod", "cos")
COS_FORMATS = ("hls", "mp4", "hls+mp4")
DEFAULT_SDK_APP_ID = 1400000001
DEFAULT_TRTC_REGION = "ap-guangzhou"
DEFAULT_GROUP = "default"  # the group a Volcengine relay belongs to when none was given
BEIJING = timezone(timedelta(hours=8))


class SpecError(ValueError):
    """An admin request the emulator cannot honour (answered with HTTP 400 and this message)."""


def iso_beijing(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=BEIJING).isoformat(timespec="seconds")


@dataclass
class Task:
    kind: str
    task_id: str
    status: str
    created_at: float
    updated_at: float
    sdk_app_id: int = DEFAULT_SDK_APP_ID
    region: str = DEFAULT_TRTC_REGION
    storage: str = "vod"
    format: str = "hls"
    files: int = 2
    room_id: str = ""
    user_id: str = ""
    url: str = ""
    group_name: str | None = None
    title: str = ""
    vhost: str = "example.com"
    domain: str = "pull.example.com"
    app: str = "live"
    stream: str = ""
    start_time: float = 0.0
    end_time: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return KIND_PROVIDER[self.kind]

    def move(self, status: str, at: float, by: str) -> None:
        self.history.append({"from": self.status, "to": status, "at": at, "by": by})
        self.status = status
        self.updated_at = at

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "task_id": self.task_id,
            "status": self.status,
            "provider": self.provider,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "history": list(self.history),
        }
        if self.provider == "trtc":
            out.update(sdk_app_id=self.sdk_app_id, region=self.region, room_id=self.room_id, user_id=self.user_id)
            if self.kind == "cloud_recording":
                out.update(storage=self.storage, format=self.format, files=self.files)
            else:
                out["url"] = self.url
        else:
            out.update(group_name=self.group_name, stream=self.stream)
            if self.kind == "pull_record":
                out["result"] = pull_record_result(self)
            else:
                out["title"] = self.title
        return out


def pull_record_result(task: Task) -> dict[str, Any]:
    """GetPullRecordTask's `Result`, in the seed's field order."""
    return {
        "TaskId": task.task_id,
        "StartTime": iso_beijing(task.start_time),
        "EndTime": iso_beijing(task.end_time),
        "Vhost": task.vhost,
        "Domain": task.domain,
        "App": task.app,
        "Stream": task.stream,
        "Status": task.status,
    }


def _str_field(spec: Mapping[str, Any], name: str, default: str) -> str:
    value = spec.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        raise SpecError(f"{name} must be a non-empty string")
    return value


def task_from_spec(spec: object, now: float) -> Task:
    """Build a task from the admin API's JSON: only `kind` and `task_id` are required."""
    if not isinstance(spec, Mapping):
        raise SpecError("a task must be a JSON object")
    kind = spec.get("kind")
    if kind not in KIND_PROVIDER:
        raise SpecError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    task_id = spec.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        raise SpecError("task_id must be a non-empty string")
    status = _str_field(spec, "status", DEFAULT_STATUS[kind])
    if status not in STATUSES[kind]:
        raise SpecError(f"status of a {kind} task must be one of {', '.join(STATUSES[kind])}, got {status!r}")
    task = Task(kind=kind, task_id=task_id, status=status, created_at=now, updated_at=now)
    if KIND_PROVIDER[kind] == "trtc":
        sdk_app_id = spec.get("sdk_app_id", DEFAULT_SDK_APP_ID)
        if isinstance(sdk_app_id, bool) or not isinstance(sdk_app_id, int) or sdk_app_id <= 0:
            raise SpecError("sdk_app_id must be a positive integer")
        task.sdk_app_id = sdk_app_id
        task.region = _str_field(spec, "region", DEFAULT_TRTC_REGION)
        if task.region not in KIND_REGIONS[kind]:
            raise SpecError(f"region of a {kind} task must be one of {', '.join(KIND_REGIONS[kind])}")
        task.room_id = _str_field(spec, "room_id", "8888")
        task.user_id = _str_field(spec, "user_id", "recorder_bot" if kind == "cloud_recording" else "relay_bot")
        task.storage = _str_field(spec, "storage", "vod")
        if task.storage not in STORAGES:
            raise SpecError(f"storage must be one of {', '.join(STORAGES)}")
        task.format = _str_field(spec, "format", "hls")
        if task.format not in COS_FORMATS:
            raise SpecError(f"format must be one of {', '.join(COS_FORMATS)}")
        files = spec.get("files", 2)
        if isinstance(files, bool) or not isinstance(files, int) or not 0 <= files <= 100:
            raise SpecError("files must be an integer from 0 to 100")
        task.files = files
        task.url = _str_field(spec, "url", f"rtmp://push.example.com/live/{task_id}")
    else:
        group = spec.get("group_name")
        if group is not None and not isinstance(group, str):
            raise SpecError("group_name must be a string")
        task.group_name = group
        task.title = _str_field(spec, "title", task_id)
        task.vhost = _str_field(spec, "vhost", task.vhost)
        task.domain = _str_field(spec, "domain", task.domain)
        task.app = _str_field(spec, "app", task.app)
        task.stream = _str_field(spec, "stream", task_id)
        not_started = status == PullRecordStatus.NOT_STARTED.value
        task.start_time = now + 3600 if not_started else now
        task.end_time = task.start_time + 7200
        if status in (PullRecordStatus.STOPPED.value, PullRecordStatus.ENDED.value):
            task.start_time, task.end_time = now - 7200, now
    return task


# ---------------------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------------------
FAULT_KINDS = (
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "internal_error",
    "throttle",
    "delay",
    "drop",
    "truncated",
    "non_json",
    "common_err",
)
# Kinds after which the call is still carried out (the answer is late or mangled, the state has changed).
PROCESSED_FAULTS = frozenset({"delay", "truncated", "non_json"})
DEFAULT_DELAY_MS = 15000


@dataclass
class FaultRule:
    kinds: tuple[str, ...]
    rate: float = 1.0
    delay_ms: int = DEFAULT_DELAY_MS
    actions: tuple[str, ...] | None = None
    count: int | None = None  # remaining hits; the rule disappears at 0
    retry_after: float | None = None  # Retry-After header on throttle answers
    hits: int = 0

    def matches(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def as_dict(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds),
            "rate": self.rate,
            "delay_ms": self.delay_ms,
            "actions": list(self.actions) if self.actions is not None else None,
            "count": self.count,
            "retry_after": self.retry_after,
            "hits": self.hits,
        }


@dataclass(frozen=True)
class Fault:
    kind: str
    delay_ms: int
    retry_after: float | None

    @property
    def processed(self) -> bool:
        return self.kind in PROCESSED_FAULTS


def _number(rule: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = rule.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"faults: {name} must be a number")
    return float(value)


def parse_rule(rule: object) -> FaultRule:
    if not isinstance(rule, Mapping):
        raise SpecError("faults: each rule must be a JSON object")
    unknown = set(rule) - {"kinds", "rate", "delay_ms", "actions", "count", "retry_after"}
    if unknown:
        raise SpecError(f"faults: unknown field(s) {', '.join(sorted(unknown))}")
    kinds = rule.get("kinds")
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, list) or not kinds or any(k not in FAULT_KINDS for k in kinds):
        raise SpecError(f"faults: kinds must be a non-empty list of {', '.join(FAULT_KINDS)}")
    rate = _number(rule, "rate", 1.0)
    assert rate is not None
    if not 0.0 <= rate <= 1.0:
        raise SpecError("faults: rate must be between 0 and 1")
    delay_ms = _number(rule, "delay_ms", DEFAULT_DELAY_MS)
    assert delay_ms is not None
    actions = rule.get("actions")
    if actions is not None:
        if not isinstance(actions, list) or any(a not in FAULTABLE_ACTIONS for a in actions):
            raise SpecError(f"faults: actions must be a list of {', '.join(sorted(FAULTABLE_ACTIONS))}")
        actions = tuple(actions)
    count = rule.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise SpecError("faults: count must be a positive integer")
    return FaultRule(
        kinds=tuple(kinds),
        rate=rate,
        delay_ms=int(delay_ms),
        actions=actions,
        count=count,
        retry_after=_number(rule, "retry_after", None),
    )


def parse_faults(doc: object) -> tuple[list[FaultRule], int | None]:
    """Accept one rule, a list of rules, or `{"rules": [...], "seed": N}`; return (rules, seed or None)."""
    seed: int | None = None
    if isinstance(doc, Mapping) and "rules" in doc:
        seed_value = doc.get("seed")
        if seed_value is not None and (isinstance(seed_value, bool) or not isinstance(seed_value, int)):
            raise SpecError("faults: seed must be an integer")
        seed = seed_value
        doc = doc["rules"]
    if isinstance(doc, Mapping):
        doc = [doc]
    if not isinstance(doc, list):
        raise SpecError("faults: expected a rule object, a list of rules, or {'rules': [...]}")
    return [parse_rule(r) for r in doc], seed


class FaultPlan:
    """Seeded: the same seed and the same sequence of calls give the same faults. Not thread-safe by itself."""

    def __init__(self, seed: int) -> None:
        self.rules: list[FaultRule] = []
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = random.Random(f"livectl-emulator-faults:{seed}")

    def set(self, rules: Iterable[FaultRule], seed: int | None = None) -> None:
        self.rules = list(rules)
        if seed is not None:
            self.reseed(seed)

    def draw(self, action: str) -> Fault | None:
        for rule in self.rules:
            if not rule.matches(action):
                continue
            # Draw for every matching rule, hit or not, so the sequence depends only on the calls.
            hit = self.rng.random() < rule.rate
            kind = self.rng.choice(rule.kinds)
            if not hit:
                continue
            rule.hits += 1
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            return Fault(kind, rule.delay_ms, rule.retry_after)
        return None


# ---------------------------------------------------------------------------------------------------------
# Rate limits: a sliding one-second window per (account, action)
# ---------------------------------------------------------------------------------------------------------
class RateWindows:
    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def admit(self, account: str, action: str, limit: int, now: float) -> bool:
        """Count the call if fewer than `limit` calls were admitted in (now - window, now]."""
        q = self._calls.setdefault((account, action), deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) >= limit:
            return False
        q.append(now)
        return True

    def clear(self) -> None:
        self._calls.clear()
