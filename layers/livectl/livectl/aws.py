"""AWS adapter plumbing: one lazily created boto3 client per service and endpoint, and the translation of
botocore errors into livectl's error classes by error *code*.

boto3 costs ~100 ms to import (more without bytecode), so nothing here imports it until a client is needed.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

from livectl import runtime
from livectl.errors import AwsServiceError, LivectlError, PermanentProviderError

# Codes that a retry will not fix: the request itself or the setup is wrong.
PERMANENT_AWS_CODES = frozenset(
    {
        "ValidationException",
        "ValidationError",
        "AccessDeniedException",
        "AccessDenied",
        "ResourceNotFoundException",
        "InvalidParameterValue",
        "InvalidParameterException",
        "UnrecognizedClientException",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
)


# boto3's default session is not thread-safe while it creates clients (botocore#2991): one at a time.
_CREATE_LOCK = threading.Lock()


def new_client(
    service: str, endpoint_url: str | None = None, region: str | None = None, *, max_pool_connections: int = 10
) -> Any:
    """A new boto3 client whose HTTP pool holds `max_pool_connections` connections (botocore's default is 10:
    more calls in flight than that open and discard extra connections). Clients are thread-safe once made.
    `AWS_ENDPOINT_URL` (set by the local stack and tests) is honoured by boto3."""
    import boto3
    from botocore.config import Config

    make: Any = boto3.client  # typed per service by the stubs; one factory here for all of them
    with _CREATE_LOCK:
        return make(
            service,
            endpoint_url=endpoint_url,
            region_name=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
            # botocore's defaults (60 s timeouts) would outlive TRTC's 5 s callback timeout and an action's
            # budget; fail fast and let the queue (or TRTC) retry.
            config=Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=max_pool_connections,
            ),
        )


@lru_cache(maxsize=32)
def client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A cached boto3 client (one per service and endpoint in the process)."""
    return new_client(service, endpoint_url, region)


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def aws_error(exc: BaseException, what: str) -> LivectlError:
    """Translate a botocore error into AwsServiceError (retryable) or PermanentProviderError, by code."""
    code = error_code(exc) or type(exc).__name__
    cls: type[LivectlError] = PermanentProviderError if code in PERMANENT_AWS_CODES else AwsServiceError
    return cls(f"{what} failed", code=code, provider="aws")


def reset_clients() -> None:
    """Forget cached clients: the CLI when it switches targets; tests and the local stack call `runtime.reset()`."""
    client.cache_clear()


runtime.on_reset("aws clients", reset_clients)
