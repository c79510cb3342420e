"""Perform one provider action: rate limit, retry with fresh signatures, and settle "already done".

This is the single place where a command meets the provider; the CLI's `call` and every action function go
through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from livectl.catalogue import ACTIONS, Action, PullRecordStatus, task_id_of
from livectl.clients import ProviderClient, ProviderResponse
from livectl.errors import AlreadyDone, LivectlError, TransientProviderError
from livectl.ratelimit import WindowLimiter
from livectl.retry import RetryPolicy, retry_call, utc_now
from livectl.signing import Credentials


@dataclass
class Outcome:
    """What happened: `done` (the provider did it) or `already_done` (the state already held)."""

    action: str
    task_id: str
    status: str
    request_id: str | None
    result: dict[str, Any]
    attempts: int
    provider_calls: int
    error_code: str | None = None
    task_status: str | None = None  # GetPullRecordTask's raw Chinese status, or the confirmed status
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pull_record_status(self) -> PullRecordStatus | None:
        return PullRecordStatus.parse(self.task_status) if self.task_status is not None else None


def perform(
    action: Action,
    params: Mapping[str, Any],
    credentials: Credentials,
    client: ProviderClient,
    *,
    deadline: float,
    policy: RetryPolicy | None = None,
    limiter: WindowLimiter | None = None,
    now: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    min_call_budget: float = 0.0,
) -> Outcome:
    """Call `action` until it succeeds or fails for good. Raises a LivectlError other than AlreadyDone.

    No call starts with less than `min_call_budget` seconds before `deadline`: a slot in the limiter is not
    waited for past that point, and a call granted one too late is not sent (a retryable error instead)."""
    policy = policy or RetryPolicy()
    calls = 0

    def attempt(at: datetime) -> ProviderResponse:
        nonlocal calls
        if limiter is not None:
            limiter.acquire(deadline - min_call_budget)
        if deadline - monotonic() < min_call_budget:
            raise TransientProviderError(
                f"{action.name}: not enough time left for a call; handed back", code="DeadlineExceeded"
            )
        calls += 1
        # Never let one HTTP read outlive the invocation's budget.
        remaining = max(0.5, deadline - monotonic())
        timeout = (min(client.timeout[0], remaining), min(client.timeout[1], remaining))
        return client.call(action, params, credentials, at, timeout=timeout)

    def retrying(fn: Callable[[datetime], ProviderResponse]) -> ProviderResponse:
        return retry_call(fn, policy=policy, deadline=deadline, monotonic=monotonic, sleep=sleep, now=now)

    task_id = task_id_of(action, params)
    try:
        response = retrying(attempt)
    except AlreadyDone as exc:
        return Outcome(action.name, task_id, "already_done", exc.request_id, {}, calls, calls, exc.code)
    except LivectlError as exc:
        if action.confirm_with and exc.code in action.confirm_codes:
            settled = _confirm(action, params, credentials, client, retrying, exc)
            if settled is not None:
                calls += 1
                return Outcome(
                    action.name,
                    task_id,
                    "already_done",
                    exc.request_id,
                    settled.result,
                    calls,
                    calls,
                    exc.code,
                    task_status=settled.result.get("Status"),
                )
        raise
    status = response.result.get("Status") if action.name == "GetPullRecordTask" else None
    return Outcome(
        action.name,
        task_id,
        "done",
        response.request_id,
        response.result,
        calls,
        calls,
        task_status=status if isinstance(status, str) else None,
    )


def _confirm(
    action: Action,
    params: Mapping[str, Any],
    credentials: Credentials,
    client: ProviderClient,
    retrying: Callable[[Callable[[datetime], ProviderResponse]], ProviderResponse],
    refusal: LivectlError,
) -> ProviderResponse | None:
    """Ask the provider whether an ambiguous refusal means the task is already in the desired state."""
    assert action.confirm_with is not None
    query = ACTIONS[action.confirm_with]
    query_params = {query.task_id_param: task_id_of(action, params)}
    try:
        answer = retrying(lambda at: client.call(query, query_params, credentials, at))
    except LivectlError:
        return None
    return answer if answer.result.get("Status") in action.confirm_statuses else None
