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

from livectl.errors import AlreadyDone, LivectlError, TransientProviderError
from livectl.providers.catalogue import LIST_PAGE_SIZE_MAX, Action, PullRecordStatus, provider_action, task_id_of
from livectl.providers.clients import ProviderClient, ProviderResponse
from livectl.providers.ratelimit import WindowLimiter
from livectl.providers.retry import RetryPolicy, retry_call, utc_now
from livectl.providers.signing import Credentials

Observer = Callable[[str, float, LivectlError | None], None]

# The oldest signature a call may go out with, in seconds: a call that waited longer for its grant signs again.
# TC3 refuses an X-TC-Timestamp more than 5 minutes off (AuthFailure.SignatureExpire; the emulator holds Volcengine's
# X-Date to the same); a minute leaves the rest for our clock's skew.
RESIGN_AFTER = 60.0


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


@dataclass
class _Caller:
    """Sends one action's calls for `perform`: each attempt signs afresh and prepares its request, then waits
    for its limiter's grant and only sends after it; it respects the deadline and the minimum call budget, is
    counted and is reported to `observe`."""

    client: ProviderClient
    credentials: Credentials
    deadline: float
    policy: RetryPolicy
    now: Callable[[], datetime]
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
    min_call_budget: float
    observe: Observer | None
    calls: int = 0

    def send(self, act: Action, params: Mapping[str, Any], gate: WindowLimiter | None) -> ProviderResponse:
        """One call with livectl's retry loop."""
        return retry_call(
            lambda at: self._attempt(act, params, gate, at),
            policy=self.policy,
            deadline=self.deadline,
            monotonic=self.monotonic,
            sleep=self.sleep,
            now=self.now,
        )

    def _attempt(
        self, act: Action, params: Mapping[str, Any], gate: WindowLimiter | None, at: datetime
    ) -> ProviderResponse:
        # Sign and prepare BEFORE the grant: the provider counts arrivals, so the time from grant to wire must stay
        # far inside the limiter's window margin, whatever the CPU contention between a container's threads.
        ready = self.client.ready(act, params, self.credentials, at)
        signed = self.monotonic()
        if gate is not None:
            gate.acquire(self.deadline - self.min_call_budget)
        granted = self.monotonic()
        if self.deadline - granted < self.min_call_budget:
            raise TransientProviderError(
                f"{act.name}: not enough time left for a call; handed back", code="DeadlineExceeded"
            )
        if granted - signed > RESIGN_AFTER:  # a long wait for the grant (not in a Lambda's 30 s): sign again
            ready = self.client.ready(act, params, self.credentials, self.now())
        self.calls += 1
        # Never let one HTTP read outlive the invocation's budget.
        remaining = max(0.5, self.deadline - granted)
        timeout = (min(self.client.timeout[0], remaining), min(self.client.timeout[1], remaining))
        try:
            # The limiter counts this slot from the moment the request begins to write (`wire`), not the grant.
            response = self.client.send(ready, timeout=timeout, on_wire=gate.departed if gate is not None else None)
        except LivectlError as exc:
            self._observed(act, granted, exc)
            raise
        self._observed(act, granted, None)
        return response

    def _observed(self, act: Action, started: float, error: LivectlError | None) -> None:
        if self.observe is not None:
            self.observe(act.name, (self.monotonic() - started) * 1000.0, error)


def perform(
    action: Action,
    params: Mapping[str, Any],
    credentials: Credentials,
    client: ProviderClient,
    *,
    deadline: float,
    policy: RetryPolicy | None = None,
    limiter: WindowLimiter | None = None,
    confirm_limiter: WindowLimiter | None = None,
    now: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    min_call_budget: float = 0.0,
    observe: Observer | None = None,
) -> Outcome:
    """Call `action` until it succeeds or fails for good. Raises a LivectlError other than AlreadyDone.

    `confirm_limiter` paces the query that settles an ambiguous refusal (the action's `confirm_with`), which the
    provider counts against its own QPS. No call starts with less than `min_call_budget` seconds before
    `deadline`: a limiter slot is not waited for past that point, and a call granted one too late is not sent
    (a retryable error instead, so the record goes back to the queue). `observe(action, round_trip_ms, error)`
    hears of every HTTP call (the limiter's wait excluded), for the round-trip and throttling metrics."""
    caller = _Caller(
        client, credentials, deadline, policy or RetryPolicy(), now, monotonic, sleep, min_call_budget, observe
    )
    task_id = task_id_of(action, params)
    try:
        response = caller.send(action, params, limiter)
    except AlreadyDone as exc:
        return Outcome(action.name, task_id, "already_done", exc.request_id, {}, caller.calls, caller.calls, exc.code)
    except LivectlError as exc:
        if action.confirm_with and exc.code in action.confirm_codes:
            settled = _confirm(
                action, params, lambda query, query_params: caller.send(query, query_params, confirm_limiter)
            )
            if settled is not None:
                return Outcome(
                    action.name,
                    task_id,
                    "already_done",
                    exc.request_id,
                    settled,
                    caller.calls,
                    caller.calls,
                    exc.code,
                    task_status=settled.get("Status"),
                )
        raise
    status = response.result.get("Status") if action.name == "GetPullRecordTask" else None
    return Outcome(
        action.name,
        task_id,
        "done",
        response.request_id,
        response.result,
        caller.calls,
        caller.calls,
        task_status=status if isinstance(status, str) else None,
    )


Send = Callable[[Action, Mapping[str, Any]], ProviderResponse]
MAX_LIST_PAGES = 20  # a task is looked for among the first 20 × 500 = 10,000 relays; beyond that it stays unknown


def _confirm(action: Action, params: Mapping[str, Any], send: Send) -> dict[str, Any] | None:
    """Ask the provider whether an ambiguous refusal means the task is already in the desired state: the task's
    record (what the query answered for it) when its `Status` is one of `confirm_statuses`, else None. Settled by
    the status field only, never by the refusal's message.

    A query refused for good (say, no permission to list) leaves the refusal standing. A query that fails for
    now raises its transient error: the command is retried later rather than reported failed while the task
    may well be in the desired state."""
    assert action.confirm_with is not None
    query = provider_action(action.confirm_with)
    task_id = task_id_of(action, params)
    try:
        if query.verb == "list":
            found = _find_listed(query, task_id, params, send)
        else:
            found = send(query, {query.task_id_param: task_id}).result
    except LivectlError as exc:
        if exc.retryable:
            raise
        return None
    if found is None or found.get("Status") not in action.confirm_statuses:
        return None
    return found


def _find_listed(query: Action, task_id: str, params: Mapping[str, Any], send: Send) -> dict[str, Any] | None:
    """Page through a list query (Volcengine's `Page`/`Size`, answered as `Result.List` + `Pagination`) until the
    task turns up. A `GroupName` on the command narrows the list to that group, as a sub-account must."""
    group = params.get("GroupName")
    base: dict[str, Any] = {"GroupNames": [group]} if isinstance(group, str) else {}
    for page in range(1, MAX_LIST_PAGES + 1):
        result = send(query, {**base, "Page": page, "Size": LIST_PAGE_SIZE_MAX}).result
        items = result.get("List")
        items = items if isinstance(items, list) else []
        for item in items:
            if isinstance(item, dict) and item.get(query.task_id_param) == task_id:
                return item
        pagination = result.get("Pagination")
        total = pagination.get("PageTotal") if isinstance(pagination, dict) else None
        if len(items) < LIST_PAGE_SIZE_MAX or not isinstance(total, int) or page >= total:
            return None
    return None
