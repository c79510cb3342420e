"""The six provider actions livectl drives: exact parameters (from shared/seeds), QPS limits, what "already
done" looks like, what each outcome leaves in the ledger and on the bus, the auto-stop's schedule-name stem and
the template's function/queue stem. An action's whole behaviour reads from its entry here (docs/DESIGN.md,
"Where to change an action"). Validation here runs before any network call and names the bad field.

`CONFIRM_QUERIES` holds the provider queries livectl makes only to settle an ambiguous refusal (`confirm_with`):
they have no queue and no function, and a command cannot name them. `provider_action()` finds either kind.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livectl.errors import InvalidCommand

VOLCENGINE = "volcengine"
TRTC = "trtc"

# Characters no provider documents in a parameter and a terminal or log viewer may act on: C0/C1 controls
# (ESC starts colour and cursor sequences, a newline forges a log line), DEL, the line and paragraph
# separators, the bidi embeddings/overrides/isolates and marks that reorder text, and lone surrogates (not
# encodable as UTF-8). command.schema.json carries the same class (a test keeps the two equal).
FORBIDDEN_CHARS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CHARS}]")


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # str, int, or list (a list of strings)
    required: bool = True
    choices: tuple[str, ...] | None = None
    in_body: bool = True  # TRTC's Region is a common parameter: it travels in X-TC-Region, not the body
    max_length: int = 256
    maximum: int | None = None  # for an int


@dataclass(frozen=True)
class Outcome:
    """What one kind of outcome of an action leaves behind (`livectl.control.verdict` derives the records)."""

    state: str | None  # the task's ledger `state` after it; None: the task's STATE item is not touched
    detail_type: str | None  # the outcome event's detail-type; None: no event (not settled: back to the queue)
    keep_state: bool = False  # write `state` only if the task has none yet (never over a settled state)
    by_status: Mapping[str, str] | None = None  # a query's state by the provider's status (else `state`)
    reports: tuple[str, ...] = ()  # what the event reports beyond the common keys (a query: the status)


REJECTED = Outcome(None, "Command Rejected")  # invalid (REJECTED#<day>), or stale (on the task, no state)
RETRYING = Outcome("pending", None, keep_state=True)


def outcomes(applied: Outcome, failed: Outcome) -> dict[str, Outcome]:
    """An action's outcome table: `done` and `already_done` alike (already done is success), `failed` for a
    refusal for good; a retry, a stale and a rejected command the same for every action."""
    return {
        "done": applied,
        "already_done": applied,
        "failed": failed,
        "retrying": RETRYING,
        "stale": REJECTED,
        "rejected": REJECTED,
    }


@dataclass(frozen=True)
class Action:
    name: str
    provider: str
    version: str
    service: str
    qps: int
    kind: str  # the task kind it acts on: pull_record, pull_to_push, cloud_recording, cdn_publish
    verb: str  # stop, get, restart; list for a query that pages through tasks
    params: tuple[Param, ...]
    task_id_param: str  # the parameter naming the task (for a list: the field naming each listed task)
    # Provider codes that mean "the desired state already holds" for this action, beyond the global table.
    already_done_codes: frozenset[str] = frozenset()
    # For a refusal that is ambiguous by code (Volcengine answers InvalidParam for a stop on an ended task, or
    # for a restart whose first answer was lost), the query whose answer settles it, the statuses that mean
    # "already done", and the codes that call for the query.
    confirm_with: str | None = None
    confirm_statuses: frozenset[str] = frozenset()
    confirm_codes: frozenset[str] = frozenset()
    description: str = ""
    # Per kind of outcome (done, already_done, failed, retrying, stale, rejected): ledger state and event.
    outcomes: Mapping[str, Outcome] = field(default_factory=dict, hash=False)
    stop_stem: str | None = None  # a stop's short name in its auto-stop schedule's name (stop-<stem>-<hash>)
    stem: str = ""  # the template's logical-id stem of its function and queue (<stem>Function, <stem>Queue)
    param_names: tuple[str, ...] = field(init=False)
    body_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_names", tuple(p.name for p in self.params))
        object.__setattr__(self, "body_names", tuple(p.name for p in self.params if p.in_body))

    @property
    def is_mutation(self) -> bool:
        return self.verb not in ("get", "list")


class PullRecordStatus(enum.Enum):
    """GetPullRecordTask's Chinese `Status` values."""

    NOT_STARTED = "未开始"
    ACTIVE = "生效中"
    STOPPED = "停用"
    ENDED = "已结束"
    UNKNOWN = "?"

    @classmethod
    def parse(cls, raw: str | None) -> PullRecordStatus:
        for member in cls:
            if member.value == raw:
                return member
        return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        return self in (PullRecordStatus.STOPPED, PullRecordStatus.ENDED)


PULL_RECORD_STATES = {  # GetPullRecordTask's status -> the task's ledger state
    PullRecordStatus.NOT_STARTED.value: "not_started",
    PullRecordStatus.ACTIVE.value: "running",
    PullRecordStatus.STOPPED.value: "stopped",
    PullRecordStatus.ENDED.value: "ended",
}
STOP_OUTCOMES = outcomes(Outcome("stopped", "Task Stopped"), Outcome("stop_failed", "Task Stop Failed"))
RESTART_OUTCOMES = outcomes(Outcome("restarted", "Task Restarted"), Outcome("restart_failed", "Task Restart Failed"))
STATUS_OUTCOMES = outcomes(
    Outcome("unknown", "Task Status", by_status=PULL_RECORD_STATES, reports=("status", "status_name", "state")),
    Outcome("unknown", "Task Status", keep_state=True),  # a failed read says nothing of the task's state
)
DEFAULT_OUTCOMES = outcomes(REJECTED, REJECTED)  # a command naming no known action can only be rejected

DELETE_CLOUD_RECORDING_REGIONS = ("ap-beijing", "ap-guangzhou", "ap-mumbai", "ap-shanghai", "ap-singapore")
STOP_PUBLISH_CDN_REGIONS = ("ap-guangzhou", "ap-hongkong", "ap-singapore")
VOLC_VERSION = "2023-01-01"
TRTC_VERSION = "2019-07-22"

ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            name="StopPullRecordTask",
            provider=VOLCENGINE,
            version=VOLC_VERSION,
            service="live",
            qps=50,
            kind="pull_record",
            verb="stop",
            params=(Param("TaskId", str),),
            task_id_param="TaskId",
            confirm_with="GetPullRecordTask",
            confirm_statuses=frozenset({PullRecordStatus.STOPPED.value, PullRecordStatus.ENDED.value}),
            confirm_codes=frozenset({"InvalidParam"}),
            description="Stop a Volcengine pull-record task that has not started or is recording.",
            outcomes=STOP_OUTCOMES,
            stop_stem="pullrec",
            stem="StopPullRecord",
        ),
        Action(
            name="GetPullRecordTask",
            provider=VOLCENGINE,
            version=VOLC_VERSION,
            service="live",
            qps=10,
            kind="pull_record",
            verb="get",
            params=(Param("TaskID", str),),  # capital D in the request; the answer says TaskId
            task_id_param="TaskID",
            description="Read a Volcengine pull-record task's status.",
            outcomes=STATUS_OUTCOMES,
            stem="GetPullRecord",
        ),
        Action(
            name="RestartPullToPushTask",
            provider=VOLCENGINE,
            version=VOLC_VERSION,
            service="live",
            qps=10,
            kind="pull_to_push",
            verb="restart",
            params=(Param("TaskId", str), Param("GroupName", str, required=False)),
            task_id_param="TaskId",
            # Only 停用 tasks can restart: when a retry follows a restart whose answer was lost, the refusal is
            # settled by the relay's status. 生效中 (running) and 未开始 (enabled, waiting for its start time)
            # both mean the relay is enabled again.
            confirm_with="ListPullToPushTaskV2",
            confirm_statuses=frozenset({PullRecordStatus.ACTIVE.value, PullRecordStatus.NOT_STARTED.value}),
            confirm_codes=frozenset({"InvalidParam"}),
            description="Re-enable a stopped Volcengine pull-to-push relay task (a legacy API at Volcengine).",
            outcomes=RESTART_OUTCOMES,
            stem="RestartPullToPush",
        ),
        Action(
            name="StopPullToPushTask",
            provider=VOLCENGINE,
            version=VOLC_VERSION,
            service="live",
            qps=10,
            kind="pull_to_push",
            verb="stop",
            params=(Param("TaskId", str), Param("GroupName", str, required=False)),
            task_id_param="TaskId",
            # Only 未开始 or 生效中 relays can stop; the error table is RestartPullToPushTask's, so a stop of a
            # relay that is already 停用 or 已结束 (or a retry whose first answer was lost) is refused with
            # InvalidParam, and settled by listing the relay's status.
            confirm_with="ListPullToPushTaskV2",
            confirm_statuses=frozenset({PullRecordStatus.STOPPED.value, PullRecordStatus.ENDED.value}),
            confirm_codes=frozenset({"InvalidParam"}),
            description="Stop a Volcengine pull-to-push relay task that has not started or is running.",
            outcomes=STOP_OUTCOMES,
            stop_stem="pullpush",
            stem="StopPullToPush",
        ),
        Action(
            name="DeleteCloudRecording",
            provider=TRTC,
            version=TRTC_VERSION,
            service="trtc",
            qps=20,
            kind="cloud_recording",
            verb="stop",
            params=(
                Param("SdkAppId", int),
                Param("TaskId", str),
                Param("Region", str, choices=DELETE_CLOUD_RECORDING_REGIONS, in_body=False),
            ),
            task_id_param="TaskId",
            already_done_codes=frozenset({"FailedOperation.TaskNotExist", "FailedOperation.TaskFinished"}),
            description="Stop a TRTC cloud recording (files keep uploading; callbacks say when done).",
            outcomes=STOP_OUTCOMES,
            stop_stem="cloudrec",
            stem="DeleteCloudRecording",
        ),
        Action(
            name="StopPublishCdnStream",
            provider=TRTC,
            version=TRTC_VERSION,
            service="trtc",
            qps=20,
            kind="cdn_publish",
            verb="stop",
            params=(
                Param("SdkAppId", int),
                Param("TaskId", str),
                Param("Region", str, choices=STOP_PUBLISH_CDN_REGIONS, in_body=False),
            ),
            task_id_param="TaskId",
            already_done_codes=frozenset({"FailedOperation.TaskNotExist", "FailedOperation.TaskFinished"}),
            description="Stop a TRTC relay-to-CDN task.",
            outcomes=STOP_OUTCOMES,
            stop_stem="cdnpub",
            stem="StopCdnPublish",
        ),
    )
}

LIST_PAGE_SIZE_MAX = 500

CONFIRM_QUERIES: dict[str, Action] = {
    a.name: a
    for a in (
        # POST with a JSON body, like the six (ListPullToPushTask, the older form, is a GET with a query
        # string). There is no filter by task id: the task is found by paging (docs 6469/1327383).
        Action(
            name="ListPullToPushTaskV2",
            provider=VOLCENGINE,
            version=VOLC_VERSION,
            service="live",
            qps=15,
            kind="pull_to_push",
            verb="list",
            params=(
                Param("GroupNames", list, required=False),
                Param("Title", str, required=False),
                Param("Page", int, required=False),
                Param("Size", int, required=False, maximum=LIST_PAGE_SIZE_MAX),
            ),
            task_id_param="TaskId",
            description="List Volcengine pull-to-push relay tasks, a page at a time (Result.List, Pagination).",
        ),
    )
}


def provider_action(name: str) -> Action:
    """A command action or a confirm query, by name (KeyError if neither)."""
    return ACTIONS.get(name) or CONFIRM_QUERIES[name]


def get_action(name: object) -> Action:
    if not isinstance(name, str) or name not in ACTIONS:
        raise InvalidCommand(f"action must be one of {', '.join(sorted(ACTIONS))}, got {name!r}", field="action")
    return ACTIONS[name]


def validate_params(action: Action, params: object) -> dict[str, Any]:
    """Check params against the action's exact parameter list; return them in the provider's order."""
    if not isinstance(params, Mapping):
        raise InvalidCommand("params must be an object", field="params")
    known = set(action.param_names)
    for name in params:
        if name not in known:
            hint = ""
            lowered = {p.lower(): p for p in action.param_names}
            if isinstance(name, str) and name.lower() in lowered:
                hint = f" (did you mean {lowered[name.lower()]}?)"
            raise InvalidCommand(f"params.{name} is not a parameter of {action.name}{hint}", field=f"params.{name}")
    out: dict[str, Any] = {}
    for p in action.params:
        where = f"params.{p.name}"
        if p.name not in params or params[p.name] is None:
            if p.required:
                raise InvalidCommand(f"{where} is required for {action.name}", field=where)
            continue
        value = params[p.name]
        if p.type is int:
            # bool is an int in Python, never in the provider's contract
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidCommand(f"{where} must be an integer, got {value!r}", field=where)
            if value <= 0:
                raise InvalidCommand(f"{where} must be positive, got {value}", field=where)
            if p.maximum is not None and value > p.maximum:
                raise InvalidCommand(f"{where} must be at most {p.maximum}, got {value}", field=where)
        elif p.type is list:
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise InvalidCommand(f"{where} must be a list of non-empty strings", field=where)
        else:
            if not isinstance(value, str):
                raise InvalidCommand(f"{where} must be a string, got {value!r}", field=where)
            if not value.strip():
                raise InvalidCommand(f"{where} must not be empty", field=where)
            if len(value) > p.max_length:
                raise InvalidCommand(f"{where} is longer than {p.max_length} characters", field=where)
            bad = _FORBIDDEN.search(value)
            if bad:
                raise InvalidCommand(
                    f"{where} must not contain control or bidi characters (U+{ord(bad.group()):04X} at {bad.start()})",
                    field=where,
                )
        if p.choices is not None and value not in p.choices:
            raise InvalidCommand(
                f"{where} must be one of {', '.join(p.choices)} for {action.name}, got {value!r}",
                field=where,
            )
        out[p.name] = value
    return out


def task_id_of(action: Action, params: Mapping[str, Any]) -> str:
    return str(params[action.task_id_param])


def body_params(action: Action, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that travel in the JSON body, in the provider's documented order."""
    return {k: params[k] for k in action.body_names if k in params}


def region_param(action: Action, params: Mapping[str, Any]) -> str | None:
    value = params.get("Region")
    return value if isinstance(value, str) else None


def serialize_body(action: Action, params: Mapping[str, Any]) -> bytes:
    """Exactly what both SDKs send: `json.dumps` with its defaults (", " and ": ", ASCII escapes)."""
    return json.dumps(body_params(action, params)).encode("utf-8")
