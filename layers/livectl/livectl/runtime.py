"""Process-wide state, registered in one place, with ONE `reset()` for the tests and the local stack.

A Lambda container keeps a few things between invocations: the boto3 clients (`livectl.aws`), Powertools'
secrets provider and its cache (`livectl.providers.credentials`), the container slot with its limiters, pooled
clients and idempotent units (`livectl.control.container`), the services each function built
(`livectl.runtime.service`) and the compiled command validator (`livectl.command`). Each module that keeps such
state registers how to forget it here, when it is imported; `reset()` forgets all of it. A test that switches
moto servers, or the local stack starting afresh, calls `reset()` and nothing else: a cache nobody resets is how
the stale secrets provider of cba906c happened.

This module sits at the bottom of the import graph: it imports nothing of livectl, everything may import it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_resets: dict[str, Callable[[], None]] = {}
_services: dict[str, tuple[object, Any]] = {}
_lock = threading.Lock()


def on_reset(name: str, forget: Callable[[], None]) -> None:
    """Register `forget` (clears one kind of process state) under `name`; registering a name again replaces it."""
    with _lock:
        _resets[name] = forget


def reset() -> None:
    """Forget every piece of process-wide state: the next invocation builds it again from its settings."""
    with _lock:
        forgets = list(_resets.values())
        _services.clear()
    for forget in forgets:
        forget()


def service(name: str, settings: object, build: Callable[[], T]) -> T:
    """The service `name` (a use case: `control:<action>`, `schedules`, `webhook`), built once per process on
    its first invocation, and built again only if its settings change (as between tests)."""
    with _lock:
        found = _services.get(name)
        if found is None or found[0] != settings:
            found = _services[name] = (settings, build())
        built: T = found[1]
        return built


def _forget_parameter_providers() -> None:
    """Powertools' parameter providers hold fetched secrets and a boto3 client bound to one endpoint (a provider
    bound to a stopped moto failed every command once its cache expired, cba906c). Dropped if ever loaded."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()


on_reset("powertools parameter providers", _forget_parameter_providers)
