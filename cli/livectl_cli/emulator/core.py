"""The emulator without HTTP: accounts, tasks, request log, rate windows, faults, the six actions and the
query livectl settles a relay's stop or restart with (ListPullToPushTaskV2).

`EmulatorCore.provider_call` takes a parsed request and returns a `Reply`; the HTTP layer (server.py) only
reads sockets and writes replies (and carries out the delivery faults: delay, drop, truncation).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

from livectl.errors import InvalidCommand
from livectl.providers.catalogue import (
    ACTIONS,
    CONFIRM_QUERIES,
    TRTC,
    VOLCENGINE,
    Action,
    PullRecordStatus,
    validate_params,
)
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.emulator import auth
from livectl_cli.emulator.callbacks import CallbackDispatcher, recording_stop_events, relay_stop_events, start_events
from livectl_cli.emulator.latency import LatencyModel
from livectl_cli.emulator.listing import pull_to_push_page
from livectl_cli.emulator.model import (
    FaultPlan,
    FaultRule,
    RateWindows,
    SpecError,
    Task,
    parse_faults,
    pull_record_result,
    task_from_spec,
)

DEFAULT_ACCOUNTS: dict[str, dict[str, str]] = {
    VOLCENGINE: {"AKLTDEMO": "demo-secret"},
    TRTC: {"AKIDDEMO": "demo-secret"},
}
CALL_LOG_SIZE = 100_000

# Volcengine: HTTP status and CodeN per code (the seeds' error tables; providers.md 4.2 for gateway codes).
VOLC_STATUS: dict[str, tuple[int, int | None]] = {
    "CommonErr": (200, None),
    "InvalidParam": (400, None),
    "InvalidParam.BindError": (400, None),
    "MissingParameter": (400, 100002),
    "MissingRequestInfo": (400, 100004),
    "InvalidTimestamp": (400, 100006),
    "InvalidActionOrVersion": (404, 100008),
    "InvalidAccessKey": (401, 100009),
    "SignatureDoesNotMatch": (401, 100010),
    "ResourceNotFound": (404, None),
    "FlowLimitExceeded": (429, None),
    "ServiceUnavailableTemp": (503, None),
    "InternalError": (500, 100014),
    "InternalServiceError": (502, None),
    "InternalServiceTimeout": (504, 100016),
}
VOLC_MESSAGES: dict[str, str] = {
    "InvalidParam.BindError": "Request parameter error, please check input data",
    "InternalError": "an internal error occurred, please contact the administrator.",
    "InternalServiceError": "an internal error occurred, please contact the administrator.",
    "InternalServiceTimeout": "Internal Service is timeout. please contact the administrator.",
    "FlowLimitExceeded": "Flow limit exceeded, please try again later.",
    "CommonErr": "未分类错误。建议重试",
    "ServiceUnavailableTemp": "Service is temporarily unavailable, please try again later.",
}
HTTP_FAULT_CODES = {
    "http_500": "InternalError",
    "http_502": "InternalServiceError",
    "http_504": "InternalServiceTimeout",
    "http_503": "ServiceUnavailableTemp",
}
GATEWAY_PAGES = {
    "http_500": (500, "Internal Server Error"),
    "http_502": (502, "Bad Gateway"),
    "http_504": (504, "Gateway Timeout"),
}


@dataclass
class Reply:
    status: int
    body: bytes
    # exactly "application/json": the Tencent SDK reads Response.Error only under that Content-Type
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0  # seconds to wait before answering (latency + delay fault)
    mangle: str | None = None  # "drop", "truncated" (the HTTP layer carries these out)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Any  # a Mapping or http.server's Message; look up with `header()` (case-insensitive)
    body: bytes
    remote: str = ""

    def header(self, name: str) -> str | None:
        getter = getattr(self.headers, "get", None)
        value = getter(name) if getter else None
        if value is None:
            lowered = name.lower()
            for k, v in self.headers.items():
                if k.lower() == lowered:
                    return v
        return value


class _CallError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


class EmulatorCore:
    def __init__(
        self,
        seed: int = 0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        callback_url: str | None = None,
        callback_key: str | None = LOCAL_CALLBACK_KEY,
        clock: Callable[[], float] | None = None,
        callback_retry_interval: float = 10.0,
        callback_retry_window: float = 60.0,
    ) -> None:
        self.seed = seed
        self.latency = LatencyModel(seed, latency_ms, jitter_ms)
        self.callback_url = callback_url
        self.callback_key = callback_key
        self.start_callbacks = True  # post 301 / 401 RUNNING when a task starts, as TRTC does
        self.clock: Callable[[], float] = clock or time.time
        self.lock = threading.RLock()
        self.accounts: dict[str, dict[str, str]] = {p: dict(a) for p, a in DEFAULT_ACCOUNTS.items()}
        self.tasks: dict[tuple[str, str], Task] = {}
        self.calls: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_SIZE)
        self.rates = RateWindows()
        self.faults = FaultPlan(seed)
        self.callbacks = CallbackDispatcher(callback_retry_interval, callback_retry_window)
        self._ids = random.Random(f"livectl-emulator-ids:{seed}")
        self._call_seq = 0

    # ---- admin -------------------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.tasks.clear()
            self.calls.clear()
            self.rates.clear()
            self.faults.set([], seed=self.seed)
            self.latency.reseed(self.seed)
            self._ids = random.Random(f"livectl-emulator-ids:{self.seed}")
            self._call_seq = 0
        self.callbacks.clear()

    def add_task(self, spec: Mapping[str, Any]) -> Task:
        with self.lock:
            task = task_from_spec(spec, self.clock())
            self.tasks[(task.kind, task.task_id)] = task
            started = start_events(task) if self.callback_url and self.start_callbacks else []
            if started and self.callback_url:
                self.callbacks.enqueue(self.callback_url, self.callback_key, task.sdk_app_id, started)
            return task

    def list_tasks(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [t.as_dict() for t in self.tasks.values() if kind is None or t.kind == kind]

    def get_task(self, kind: str, task_id: str) -> Task | None:
        with self.lock:
            return self.tasks.get((kind, task_id))

    def add_account(self, spec: Mapping[str, Any]) -> dict[str, str]:
        provider = spec.get("provider")
        access_key = spec.get("access_key")
        secret_key = spec.get("secret_key")
        if provider not in (VOLCENGINE, TRTC):
            raise SpecError("provider must be volcengine or trtc")
        if not isinstance(access_key, str) or not access_key or not isinstance(secret_key, str) or not secret_key:
            raise SpecError("access_key and secret_key must be non-empty strings")
        with self.lock:
            self.accounts[provider][access_key] = secret_key
        return {"provider": provider, "access_key": access_key}

    def list_accounts(self) -> list[dict[str, str]]:
        with self.lock:
            return [{"provider": p, "access_key": ak} for p, accts in self.accounts.items() for ak in sorted(accts)]

    def set_faults(self, doc: object) -> list[dict[str, Any]]:
        rules, seed = parse_faults(doc)
        with self.lock:
            self.faults.set(rules, seed)
            return self.fault_rules()

    def fault_rules(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.as_dict() for r in self.faults.rules]

    def add_fault_rules(self, rules: list[FaultRule]) -> None:
        with self.lock:
            self.faults.rules.extend(rules)

    def call_log(self, since: int = 0, action: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = [c for c in self.calls if c["seq"] > since and (action is None or c["action"] == action)]
        return out[-limit:] if limit else out

    def configure(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(doc) - {"callback_url", "callback_key", "latency_ms", "jitter_ms", "latency", "start_callbacks"}
        if unknown:
            raise SpecError(f"config: unknown field(s) {', '.join(sorted(unknown))}")
        with self.lock:
            self.latency.configure(doc)  # validates all its fields before changing any
            if "callback_url" in doc:
                url = doc["callback_url"]
                if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
                    raise SpecError("callback_url must be an http(s) URL or null")
                self.callback_url = url
            if "callback_key" in doc:
                key = doc["callback_key"]
                if key is not None and not isinstance(key, str):
                    raise SpecError("callback_key must be a string or null")
                self.callback_key = key
            if "start_callbacks" in doc:
                if not isinstance(doc["start_callbacks"], bool):
                    raise SpecError("start_callbacks must be true or false")
                self.start_callbacks = doc["start_callbacks"]
            return self.config()

    def config(self) -> dict[str, Any]:
        return {
            "callback_url": self.callback_url,
            "callback_key_set": bool(self.callback_key),
            **self.latency.as_dict(),
            "start_callbacks": self.start_callbacks,
            "seed": self.seed,
        }

    # ---- request ids ---------------------------------------------------------------------------------------
    def _volc_request_id(self, now: float) -> str:
        stamp = datetime.fromtimestamp(now, tz=timezone(timedelta(hours=8))).strftime("%Y%m%d%H%M%S")
        return stamp + "".join(self._ids.choice("0123456789ABCDEF") for _ in range(19))

    def _tencent_request_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # ---- provider calls -------------------------------------------------------------------------------------
    def provider_call(self, req: Request) -> Reply:
        if req.header("X-TC-Action") is not None:
            return self._call(req, TRTC)
        return self._call(req, VOLCENGINE)

    def _call(self, req: Request, provider: str) -> Reply:
        with self.lock:
            now = self.clock()
            self._call_seq += 1
            entry: dict[str, Any] = {
                "seq": self._call_seq,
                "time": now,
                "provider": provider,
                "action": None,
                "params": None,
                "account": None,
                "signature_valid": None,
                "error_code": None,
                "http_status": 200,
                "request_id": None,
                "fault": None,
                "task_id": None,
                "latency_ms": 0.0,
            }
            reply = self._dispatch(req, provider, now, entry)
            self.calls.append(entry)
            # Drawn under the lock, in arrival order (reproducible); waited out by the HTTP thread, unlocked.
            latency = self.latency.draw(provider)
            entry["latency_ms"] = latency * 1000.0
            reply.delay += latency
        return reply

    def _dispatch(self, req: Request, provider: str, now: float, entry: dict[str, Any]) -> Reply:
        query = dict(parse_qsl(req.query, keep_blank_values=True))
        if provider == VOLCENGINE:
            name, version = query.get("Action"), query.get("Version")
        else:
            name, version = req.header("X-TC-Action"), req.header("X-TC-Version")
        entry["action"] = name
        request_id = self._volc_request_id(now) if provider == VOLCENGINE else self._tencent_request_id()
        entry["request_id"] = request_id
        shape = _Shape(provider, name or "", version or "", request_id)
        try:
            entry["params"] = json.loads(req.body) if req.body else {}
        except ValueError:
            entry["params"] = None

        action = ACTIONS.get(name or "") or CONFIRM_QUERIES.get(name or "")
        if action is None or action.provider != provider or version != action.version:
            code = "InvalidActionOrVersion" if provider == VOLCENGINE else "InvalidAction"
            if action is not None and action.provider == provider and provider == TRTC:
                code = "NoSuchVersion"
            return self._error(entry, shape, code, f"Action {name!r} with Version {version!r} is not supported.")

        if req.method != "POST":
            code = "InvalidParam" if provider == VOLCENGINE else "UnsupportedOperation"
            return self._error(entry, shape, code, "The emulator accepts these actions over POST only.")

        if provider == VOLCENGINE:
            verdict = auth.verify_volcengine(
                method=req.method,
                path=req.path,
                query=query,
                header=req.header,
                body=req.body,
                secrets=self.accounts[VOLCENGINE],
                now=now,
                service=action.service,
            )
            if verdict.region:
                shape.region = verdict.region
        else:
            verdict = auth.verify_tc3(
                method=req.method,
                path=req.path,
                query=req.query,
                header=req.header,
                body=req.body,
                secrets=self.accounts[TRTC],
                now=now,
                service=action.service,
            )
        entry["account"] = verdict.account
        entry["signature_valid"] = verdict.signature_valid
        if verdict.error is not None:
            return self._error(entry, shape, *verdict.error)
        assert verdict.account is not None

        if not self.rates.admit(verdict.account, action.name, action.qps, now):
            code = "FlowLimitExceeded" if provider == VOLCENGINE else "RequestLimitExceeded"
            return self._error(entry, shape, code, f"{action.name} is limited to {action.qps} requests per second.")

        fault = self.faults.draw(action.name)
        if fault is not None:
            entry["fault"] = fault.kind
            if not fault.processed:
                return self._fault_reply(entry, shape, fault.kind, fault.retry_after)

        reply = self._perform(req, action, shape, entry, now)
        if fault is not None:
            if fault.kind == "delay":
                reply.delay += fault.delay_ms / 1000.0
            elif fault.kind == "truncated":
                reply.mangle = "truncated"
            elif fault.kind == "non_json":
                reply.body = b"<html><head><title>200 OK</title></head><body>upstream answered garbage</body></html>"
                reply.headers = {"Content-Type": "text/html"}
        return reply

    def _fault_reply(self, entry: dict[str, Any], shape: _Shape, kind: str, retry_after: float | None) -> Reply:
        if kind == "drop":
            entry["error_code"] = "ConnectionDropped"
            entry["http_status"] = None
            return Reply(0, b"", mangle="drop")
        if kind == "throttle":
            code = "FlowLimitExceeded" if shape.provider == VOLCENGINE else "RequestLimitExceeded"
            reply = self._error(entry, shape, code, "Request was throttled (injected fault).")
            if retry_after is not None:
                reply.headers["Retry-After"] = f"{retry_after:g}"
            return reply
        if kind == "common_err":
            code = "CommonErr" if shape.provider == VOLCENGINE else "InternalError"
            return self._error(entry, shape, code, VOLC_MESSAGES["CommonErr"])
        if kind == "http_503" and shape.provider == TRTC:
            # TRTC's API answers every error with HTTP 200 and its envelope; its code for this is documented.
            return self._error(entry, shape, "ServiceUnavailable", "The service is temporarily unavailable.")
        if kind == "internal_error":
            return self._error(entry, shape, "InternalError", VOLC_MESSAGES["InternalError"])
        # http_500 / http_502 / http_503 / http_504
        if shape.provider == VOLCENGINE:
            code = HTTP_FAULT_CODES[kind]
            return self._error(entry, shape, code, VOLC_MESSAGES[code])
        status, title = GATEWAY_PAGES[kind]
        entry["error_code"] = f"HTTP{status}"
        entry["http_status"] = status
        page = f"<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>"
        return Reply(status, page.encode(), headers={"Content-Type": "text/html"})

    def _error(self, entry: dict[str, Any], shape: _Shape, code: str, message: str) -> Reply:
        entry["error_code"] = code
        reply = shape.error(code, message)
        entry["http_status"] = reply.status
        return reply

    # ---- the six actions --------------------------------------------------------------------------------------
    def _perform(self, req: Request, action: Action, shape: _Shape, entry: dict[str, Any], now: float) -> Reply:
        try:
            params = self._params(req, action)
            entry["params"] = params
            entry["task_id"] = params.get(action.task_id_param)
            result = self._transition(action, params, now)
        except _CallError as exc:
            return self._error(entry, shape, exc.code, exc.message)
        return shape.success(result)

    def _params(self, req: Request, action: Action) -> dict[str, Any]:
        volc = action.provider == VOLCENGINE
        try:
            body = json.loads(req.body) if req.body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _CallError(
                "InvalidParam.BindError" if volc else "InvalidParameter",
                "Request parameter error, please check input data" if volc else "The request body is not JSON.",
            )
        # Unknown fields are ignored, as the gateways do; the catalogue's list decides what is read.
        known = {p.name: body[p.name] for p in action.params if p.in_body and p.name in body}
        if not volc:
            region = req.header("X-TC-Region")
            if region:
                known["Region"] = region
        try:
            return validate_params(action, known)
        except InvalidCommand as exc:
            raise self._param_error(action, known, exc) from None

    @staticmethod
    def _param_error(action: Action, params: Mapping[str, Any], exc: InvalidCommand) -> _CallError:
        """Map the catalogue's verdict (which field, and how) to the provider's code."""
        name = (exc.field or "").removeprefix("params.")
        spec = next((p for p in action.params if p.name == name), None)
        value = params.get(name)
        missing = value is None
        mistyped = spec is not None and not missing and (isinstance(value, bool) or not isinstance(value, spec.type))
        if action.provider == VOLCENGINE:
            if mistyped:
                return _CallError("InvalidParam.BindError", "Request parameter error, please check input data")
            return _CallError("InvalidParam", f"{name}: {exc.message}")
        if missing:
            code = f"MissingParameter.{name}" if name in ("TaskId", "SdkAppId") else "MissingParameter"
            return _CallError(code, f"The request is missing a required parameter `{name}`.")
        if name == "SdkAppId":
            return _CallError("InvalidParameter.SdkAppId", "SdkAppId is incorrect.")
        if name == "Region":
            return _CallError("InvalidParameter.OutOfRange", f"Region {value!r} is not supported by {action.name}.")
        return _CallError("InvalidParameter", exc.message)

    def _transition(self, action: Action, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        if action.name == "ListPullToPushTaskV2":
            return {"Result": pull_to_push_page(self.tasks.values(), params)}
        task_id = str(params[action.task_id_param])
        task = self.tasks.get((action.kind, task_id))
        if task is None:
            raise _CallError("ResourceNotFound", f"The task {task_id} does not exist.")
        by = action.name
        if action.provider == TRTC:
            if params["SdkAppId"] != task.sdk_app_id:
                raise _CallError("InvalidParameter.SdkAppId", "SdkAppId is incorrect.")
            if params["Region"] != task.region:
                raise _CallError("ResourceNotFound", f"The task {task_id} does not exist in {params['Region']}.")
            ended = "Exited" if action.kind == "cloud_recording" else "IDLE"
            if task.status == ended:
                raise _CallError("FailedOperation.TaskNotExist", f"The task {task_id} does not exist or has ended.")
            task.move(ended, now, by)
            if self.callback_url:
                if action.kind == "cloud_recording":
                    events = recording_stop_events(task, now, self._ids)
                else:
                    events = relay_stop_events(task, now)
                self.callbacks.enqueue(self.callback_url, self.callback_key, task.sdk_app_id, events)
            return {"TaskId": task_id}
        if action.name == "GetPullRecordTask":
            return {"Result": pull_record_result(task)}
        if action.name == "StopPullRecordTask":
            if task.status not in (PullRecordStatus.NOT_STARTED.value, PullRecordStatus.ACTIVE.value):
                raise _CallError(
                    "InvalidParam", f"The task {task_id} is {task.status}; only 未开始 or 生效中 can stop."
                )
            if task.status == PullRecordStatus.ACTIVE.value:
                task.end_time = now
            task.move(PullRecordStatus.STOPPED.value, now, by)
            return {}
        group = params.get("GroupName")
        if group is not None and task.group_name is not None and group != task.group_name:
            raise _CallError("InvalidParam", f"The task {task_id} is not in group {group!r}.")
        if action.name == "StopPullToPushTask":
            if task.status not in (PullRecordStatus.NOT_STARTED.value, PullRecordStatus.ACTIVE.value):
                raise _CallError(
                    "InvalidParam", f"The task {task_id} is {task.status}; only 未开始 or 生效中 can stop."
                )
            task.move(PullRecordStatus.STOPPED.value, now, by)
            return {}
        # RestartPullToPushTask
        if task.status != PullRecordStatus.STOPPED.value:
            raise _CallError("InvalidParam", f"The task {task_id} is {task.status}; only 停用 tasks can restart.")
        task.move(PullRecordStatus.ACTIVE.value, now, by)
        return {}


class _Shape:
    """Both providers' envelopes (request id, action, version, region) for one call."""

    def __init__(self, provider: str, action: str, version: str, request_id: str) -> None:
        self.provider = provider
        self.action = action
        self.version = version
        self.request_id = request_id
        self.region = "cn-north-1"

    def _metadata(self) -> dict[str, Any]:
        return {
            "RequestId": self.request_id,
            "Action": self.action,
            "Version": self.version,
            "Service": "live",
            "Region": self.region,
        }

    def success(self, result: dict[str, Any]) -> Reply:
        if self.provider == VOLCENGINE:
            doc: dict[str, Any] = {"ResponseMetadata": self._metadata()}
            if "Result" in result:
                doc["Result"] = result["Result"]
            return Reply(200, _dumps(doc))
        return Reply(200, _dumps({"Response": {**result, "RequestId": self.request_id}}))

    def error(self, code: str, message: str) -> Reply:
        if self.provider == VOLCENGINE:
            status, code_n = VOLC_STATUS.get(code, (400, None))
            error: dict[str, Any] = {"Code": code}
            if code_n is not None:
                error["CodeN"] = code_n
            error["Message"] = message
            meta = self._metadata()
            meta["Error"] = error
            return Reply(status, _dumps({"ResponseMetadata": meta}))
        return Reply(
            200, _dumps({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": self.request_id}})
        )
