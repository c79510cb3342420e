"""The TRTC callback receiver: `CallbackService` turns one HTTP request into one reply (read the request, verify,
record once through `CallbackStore`, publish, acknowledge); `SecretConfig` reads the keys from Secrets Manager.

A 5xx means "a retry will help" (the ledger, the bus or the secret failed) and nothing else: whatever a retry
cannot fix is refused with a 4xx before anything is stored (docs/webhook.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from livectl import runtime
from livectl.events import EventPublisher
from livectl.guard.policy import SignalSender, signal_for
from livectl.webhook.callbacks import (
    DEFAULT_MAX_BYTES,
    DEFAULT_WINDOW_SECONDS,
    MAX_CONFIGURABLE_BYTES,
    Callback,
    CallbackConfig,
    Rejection,
)
from livectl.webhook.effects import effects_of
from livectl.webhook.events import events_for
from livectl.webhook.gateway import request_from_event
from livectl.webhook.store import CallbackStore
from livectl.webhook.verify import verify

ACK: dict[str, Any] = {"code": 0}  # what TRTC expects of an accepted callback


# ------------------------------------------------------------------------------------------------------------
# Keys
# ------------------------------------------------------------------------------------------------------------
class SecretConfig:
    """Callback keys from Secrets Manager through Powertools' cache (re-read at most every `max_age` s)."""

    def __init__(self, secret_name: str, max_age: int = 300) -> None:
        self.secret_name = secret_name
        self.max_age = max_age
        self._cached: tuple[int, CallbackConfig] | None = None

    def __call__(self) -> CallbackConfig:
        from aws_lambda_powertools.utilities import parameters  # pulls boto3: import on first use only

        value = parameters.get_secret(self.secret_name, transform="json", max_age=self.max_age)
        if self._cached is not None and self._cached[0] == id(value):
            return self._cached[1]
        config = CallbackConfig.from_secret(value)
        self._cached = (id(value), config)
        return config


# ------------------------------------------------------------------------------------------------------------
# The receiver
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Reply:
    """The HTTP answer plus what to count: `metric` is CallbackAccepted / CallbackDuplicate / CallbackRejected /
    CallbackFailed, `reason` a short fixed word (never request content)."""

    status: int
    body: dict[str, Any]
    metric: str
    reason: str | None = None
    callback: Callback | None = None

    def response(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


def _rejected(rejection: Rejection) -> Reply:
    return Reply(rejection.status, rejection.body(), "CallbackRejected", rejection.reason)


class CallbackService:
    """verify -> record once -> update the task -> publish -> acknowledge. 5xx only when recording failed."""

    def __init__(
        self,
        store: CallbackStore,
        publisher: EventPublisher,
        config: Callable[[], CallbackConfig],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        window: float = DEFAULT_WINDOW_SECONDS,
        guard: SignalSender | None = None,
    ) -> None:
        self.guard = guard  # the cost guard's signals (a start arms, an end disarms); None: no guard
        self.store = store
        self.publisher = publisher
        self.config = config
        self.max_bytes = min(max_bytes, MAX_CONFIGURABLE_BYTES)
        self.window = window

    def handle_event(self, event: Mapping[str, Any], now: datetime) -> Reply:
        request = request_from_event(event if isinstance(event, Mapping) else {}, self.max_bytes)
        if isinstance(request, Rejection):
            return _rejected(request)
        if request.method and request.method != "POST":
            return _rejected(Rejection(405, "method", "only POST is accepted"))
        try:
            config = self.config()
        except Exception:
            return Reply(503, {"code": 503, "error": "unavailable"}, "CallbackFailed", "config")
        verdict = verify(
            request.headers, request.body, config.keys, config.sdk_app_ids, now, self.window, self.max_bytes
        )
        if isinstance(verdict, Rejection):
            return _rejected(verdict)
        return self.accept(verdict, now)

    def accept(self, cb: Callback, now: datetime) -> Reply:
        try:
            if not self.store.claim(cb, now):
                return Reply(200, dict(ACK), "CallbackDuplicate", callback=cb)
        except Exception as exc:
            return Reply(500, {"code": 500, "error": "not_recorded"}, "CallbackFailed", _code(exc), cb)
        try:
            effects = effects_of(cb)
            applied = self.store.apply(cb, effects, now)
            for detail_type, detail in events_for(cb, effects, applied):
                self.publisher.publish(detail_type, detail)
            signal = signal_for(cb, applied.relay_applied) if self.guard is not None else None
            if signal is not None and self.guard is not None:
                self.guard.send(signal)  # before `finish`: if it fails, TRTC's retry sends it again
            self.store.finish(cb, now, effects)
        except Exception as exc:
            self.store.release(cb)
            return Reply(500, {"code": 500, "error": "not_recorded"}, "CallbackFailed", _code(exc), cb)
        return Reply(200, dict(ACK), "CallbackAccepted", callback=cb)


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code else type(exc).__name__


@dataclass(frozen=True)
class WebhookSettings:
    """The callback function's environment: names and limits only; the keys come from Secrets Manager on first use."""

    table_name: str
    bus_name: str
    secret_name: str = ""
    guard_queue_url: str = ""  # the schedule manager's queue: the cost guard's signals; empty: no guard
    max_bytes: int = DEFAULT_MAX_BYTES
    window: float = DEFAULT_WINDOW_SECONDS
    in_lambda: bool = True
    metrics_namespace: str = "livectl"
    service: str = "livectl"  # every metric's `service` dimension

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        return cls(
            table_name=env.get("LEDGER_TABLE", ""),
            bus_name=env.get("EVENT_BUS_NAME", ""),
            secret_name=env.get("CALLBACK_SECRET_NAME", ""),
            guard_queue_url=env.get("GUARD_QUEUE_URL", ""),
            max_bytes=int(env.get("CALLBACK_MAX_BYTES") or DEFAULT_MAX_BYTES),
            window=float(env.get("CALLBACK_WINDOW_SECONDS") or DEFAULT_WINDOW_SECONDS),
            in_lambda=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "livectl",
            service=env.get("POWERTOOLS_SERVICE_NAME") or "livectl",
        )


def build_webhook_service(settings: WebhookSettings) -> CallbackService:
    """The receiver as deployed, built once per process for these settings (`livectl.runtime.service`).
    Without a secret name, local runs use the documented local key (`demokey123`, SdkAppId 1400000001);
    inside Lambda it fails closed (503) instead."""
    return runtime.service("webhook", settings, lambda: _build(settings))


def _build(settings: WebhookSettings) -> CallbackService:
    config: Callable[[], CallbackConfig]
    if settings.secret_name:
        config = SecretConfig(settings.secret_name)
    elif settings.in_lambda:

        def config() -> CallbackConfig:
            raise ValueError("CALLBACK_SECRET_NAME is not set")
    else:
        local = CallbackConfig.local()

        def config() -> CallbackConfig:
            return local

    return CallbackService(
        CallbackStore(settings.table_name),
        EventPublisher(settings.bus_name),
        config,
        max_bytes=settings.max_bytes,
        window=settings.window,
        guard=SignalSender(settings.guard_queue_url) if settings.guard_queue_url else None,
    )
