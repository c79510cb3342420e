"""Find the template's functions (code dir, handler, merged environment, event sources) and run them
in-process: each handler module is imported from its own file under a unique module name, with that
function's environment in `os.environ` while it imports (handlers read their env once, at import)."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from livectl_cli.http_adapter import from_result
from livectl_cli.local.cfn import Template, TemplateError
from livectl_cli.local.handler_output import failure_reasons

_ENV_LOCK = threading.RLock()


@dataclass(frozen=True)
class SqsSource:
    name: str  # the event's key under Events
    queue_arn: str
    batch_size: int = 10
    batching_window: float = 0.0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class HttpRoute:
    name: str
    method: str  # "POST", or "ANY"
    path: str
    payload_version: str = "2.0"


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str  # "app.handler"
    timeout: float
    memory: int
    environment: dict[str, str]
    sqs_sources: list[SqsSource] = field(default_factory=list)
    http_routes: list[HttpRoute] = field(default_factory=list)
    ignored_events: list[str] = field(default_factory=list)

    @property
    def module_file(self) -> Path:
        module = self.handler.rsplit(".", 1)[0]
        return self.code_dir / (module.replace(".", "/") + ".py")


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def discover(template: Template) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function with its Globals merged and intrinsics resolved to local names."""
    specs: dict[str, FunctionSpec] = {}
    for logical in template.of_type("AWS::Serverless::Function"):
        props = template.function_properties(logical)
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical}: CodeUri must be a local folder for the local stack")
        handler = str(props.get("Handler") or "")
        if "." not in handler:
            raise TemplateError(f"{logical}: Handler {handler!r} is not module.function")
        env = {k: _env_value(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        spec = FunctionSpec(
            logical_id=logical,
            name=template.physical[logical].ref,
            arn=template.physical[logical].attrs["Arn"],
            code_dir=(template.dir / code_uri).resolve(),
            handler=handler,
            timeout=float(props.get("Timeout") or 3),
            memory=int(props.get("MemorySize") or 128),
            environment=env,
        )
        for event_name, event in (props.get("Events") or {}).items():
            etype = event.get("Type")
            eprops = event.get("Properties") or {}
            if etype == "SQS":
                scaling = eprops.get("ScalingConfig") or {}
                spec.sqs_sources.append(
                    SqsSource(
                        name=event_name,
                        queue_arn=str(eprops["Queue"]),
                        batch_size=int(eprops.get("BatchSize") or 10),
                        batching_window=float(eprops.get("MaximumBatchingWindowInSeconds") or 0),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (eprops.get("FunctionResponseTypes") or []),
                        maximum_concurrency=int(scaling["MaximumConcurrency"])
                        if scaling.get("MaximumConcurrency")
                        else None,
                        enabled=eprops.get("Enabled", True) not in (False, "false", "False"),
                    )
                )
            elif etype == "HttpApi":
                spec.http_routes.append(
                    HttpRoute(
                        name=event_name,
                        method=str(eprops.get("Method") or "ANY").upper(),
                        path=str(eprops.get("Path") or "/"),
                        payload_version=str(eprops.get("PayloadFormatVersion") or "2.0"),
                    )
                )
            else:
                spec.ignored_events.append(f"{event_name} ({etype})")
        specs[logical] = spec
    return specs


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the duration (under a process-wide lock), then the previous values back."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def import_handler(spec: FunctionSpec, extra_env: Mapping[str, str] | None = None) -> Callable[..., Any]:
    """Import `spec`'s handler module from its file under a unique name; return the handler callable."""
    path = spec.module_file
    if not path.is_file():
        raise TemplateError(f"{spec.logical_id}: handler file {path} not found")
    module_name = f"livectl_local_fn_{spec.logical_id}"
    env = {**spec.environment, **(extra_env or {}), "AWS_LAMBDA_FUNCTION_NAME": spec.name}
    with environment(env):
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise TemplateError(f"{spec.logical_id}: cannot import {path}")
        module: ModuleType = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(spec.code_dir))
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            with suppress(ValueError):
                sys.path.remove(str(spec.code_dir))
    attr = spec.handler.rsplit(".", 1)[1]
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise TemplateError(f"{spec.logical_id}: {path.name} has no callable {attr!r}")
    return handler


class LambdaContext:
    """Enough of the Lambda context object for Powertools and our handlers."""

    def __init__(self, spec: FunctionSpec, region: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout
        self.region = region

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    function: str
    trigger: str
    ok: bool
    result: Any
    error: BaseException | None
    seconds: float
    reasons: list[str] = field(default_factory=list)  # why batch records failed (codes), when any did


class LocalFunction:
    """A loaded function: call it like Lambda would (one context per invocation)."""

    def __init__(
        self,
        spec: FunctionSpec,
        handler: Callable[..., Any],
        region: str,
        on_invoke: Callable[[Invocation, Any], None] | None = None,
    ) -> None:
        self.spec = spec
        self.handler = handler
        self.region = region
        self.on_invoke = on_invoke

    def invoke(self, event: Any, trigger: str) -> Invocation:
        context = LambdaContext(self.spec, self.region)
        start = time.monotonic()
        with failure_reasons().collect() as reasons:
            try:
                result = self.handler(event, context)
                outcome = Invocation(self.spec.logical_id, trigger, True, result, None, time.monotonic() - start)
            except Exception as exc:  # a function error, as Lambda would report it
                outcome = Invocation(self.spec.logical_id, trigger, False, None, exc, time.monotonic() - start)
        outcome.reasons = reasons
        if self.on_invoke:
            self.on_invoke(outcome, event)
        return outcome


def http_entry(
    function: LocalFunction, route: HttpRoute, log: Callable[[str], None]
) -> Callable[[dict[str, Any], Any], Any]:
    """The adapter calls this with a payload 2.0 event; it runs the function and logs one line."""

    def entry(event: dict[str, Any], _context: Any) -> Any:
        invocation = function.invoke(event, f"http:{route.method} {route.path}")
        size = len(event.get("body") or "") * 3 // 4 if event.get("isBase64Encoded") else len(event.get("body") or "")
        if invocation.ok:
            outcome = str(from_result(invocation.result)[0])
        else:
            outcome = f"500 (function error {type(invocation.error).__name__}: {invocation.error})"
        log(
            f"{function.spec.logical_id:<27} ← http {event['requestContext']['http']['method']} "
            f"{event['rawPath']} (~{size} bytes): {outcome} [{invocation.seconds * 1000:.0f} ms]"
        )
        if invocation.error is not None:
            raise invocation.error
        return invocation.result

    return entry
