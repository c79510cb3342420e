"""The emulator without HTTP: accounts, tasks, request log, rate windows, faults, and the dispatch of each call
(action and version, signature, rate limit, fault) to the six actions and the query livectl settles a relay's
stop or restart with (ListPullToPushTaskV2): what those do to a task is in actions.py, the envelopes in wire.py.

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
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

from livectl.providers.catalogue import (
    ACTIONS,
    CONFIRM_QUERIES,
    TRTC,
    VOLCENGINE,
    Action,
)
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.emulator import auth
from livectl_cli.emulator.actions import read_params, transition
from livectl_cli.emulator.callbacks import CallbackDispatcher, recording_stop_events, relay_stop_events, start_events
from livectl_cli.emulator.latency import LatencyModel
from livectl_cli.emulator.model import (
    Fault,
    FaultPlan,
    FaultRule,
    RateWindows,
    SpecError,
    Task,
    parse_faults,
    task_from_spec,
)
from livectl_cli.emulator.wire import (
    GATEWAY_PAGES,
    HTTP_FAULT_CODES,
    VOLC_MESSAGES,
    CallError,
    Envelope,
    Reply,
    Request,
)

DEFAULT_ACCOUNTS: dict[str, dict[str, str]] = {
    VOLCENGINE: {"AKLTDEMO": "demo-secret"},
    TRTC: {"AKIDDEMO": "demo-secret"},
}
CALL_LOG_SIZE = 100_000


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
        shape = Envelope(provider, name or "", version or "", request_id)
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

        verdict = self._verify(req, provider, query, action, now, shape)
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
            _spoil(reply, fault)
        return reply

    def _verify(
        self, req: Request, provider: str, query: dict[str, str], action: Action, now: float, shape: Envelope
    ) -> auth.Verdict:
        """The signature check of the call's provider (a Volcengine signature also names the region it is for)."""
        if provider == TRTC:
            return auth.verify_tc3(
                method=req.method,
                path=req.path,
                query=req.query,
                header=req.header,
                body=req.body,
                secrets=self.accounts[TRTC],
                now=now,
                service=action.service,
            )
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
        return verdict

    def _fault_reply(self, entry: dict[str, Any], shape: Envelope, kind: str, retry_after: float | None) -> Reply:
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

    def _error(self, entry: dict[str, Any], shape: Envelope, code: str, message: str) -> Reply:
        entry["error_code"] = code
        reply = shape.error(code, message)
        entry["http_status"] = reply.status
        return reply

    # ---- the six actions --------------------------------------------------------------------------------------
    def _perform(self, req: Request, action: Action, shape: Envelope, entry: dict[str, Any], now: float) -> Reply:
        try:
            params = read_params(req, action)
            entry["params"] = params
            entry["task_id"] = params.get(action.task_id_param)
            result = transition(self.tasks, action, params, now, lambda task: self._post_stop_callbacks(task, now))
        except CallError as exc:
            return self._error(entry, shape, exc.code, exc.message)
        return shape.success(result)

    def _post_stop_callbacks(self, task: Task, now: float) -> None:
        """TRTC posts a stopped recording's files, or a relay's end, to the callback URL."""
        if not self.callback_url:
            return
        if task.kind == "cloud_recording":
            events = recording_stop_events(task, now, self._ids)
        else:
            events = relay_stop_events(task, now)
        self.callbacks.enqueue(self.callback_url, self.callback_key, task.sdk_app_id, events)


def _spoil(reply: Reply, fault: Fault) -> None:
    """A fault that lets the call take effect spoils only its answer: late, cut short, or not JSON."""
    if fault.kind == "delay":
        reply.delay += fault.delay_ms / 1000.0
    elif fault.kind == "truncated":
        reply.mangle = "truncated"
    elif fault.kind == "non_json":
        reply.body = b"<html><head><title>200 OK</title></head><body>upstream answered garbage</body></html>"
        reply.headers = {"Content-Type": "text/html"}
