"""What happens between the limiter's grant and the wire (issue 12): nothing but the send.

The provider counts arrivals; the limiter counts grants. Whatever a worker does after its grant (serialise,
sign, let `requests` prepare the request and read its environment) stretches, under a loaded GIL, the time from
grant to arrival past the limiter's window margin, and the provider answers "throttled". These tests run the
real `perform` and the real `ProviderClient` on a real `requests.Session`; only the transport adapter, the clock
and the limiter are fakes, and every step records itself in one event log, in the order it ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from livectl.errors import Throttled
from livectl.providers import clients
from livectl.providers.catalogue import get_action
from livectl.providers.clients import ProviderClient
from livectl.providers.operations import RESIGN_AFTER, perform
from livectl.providers.retry import RetryPolicy
from livectl.providers.signing import Credentials

pytestmark = pytest.mark.unit

AT = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
CREDS = Credentials("AKLTDEMO", "demo-secret")
STOP = get_action("StopPullRecordTask")
DELETE = get_action("DeleteCloudRecording")
CASES = {
    "volcengine": (STOP, {"TaskId": "t-1"}, "X-Date"),
    "trtc": (DELETE, {"SdkAppId": 1400000001, "TaskId": "t-1", "Region": "ap-guangzhou"}, "X-TC-Timestamp"),
}
ONE_ATTEMPT = ["sign", "prepare", "environment", "grant", "send"]


def answer(action: Any, throttled: bool) -> tuple[int, dict[str, Any]]:
    if action.provider == "volcengine":
        meta: dict[str, Any] = {"RequestId": "r", "Action": action.name}
        if throttled:
            meta["Error"] = {"Code": "FlowLimitExceeded", "Message": "slow down"}
        return (429 if throttled else 200), {"ResponseMetadata": meta, "Result": {}}
    body: dict[str, Any] = {"RequestId": "r"}
    if throttled:
        body["Error"] = {"Code": "RequestLimitExceeded", "Message": "slow down"}
    return 200, {"Response": body}


class World:
    """One log of events, a clock the limiter's wait moves, and the headers of every request sent."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.t = 1000.0
        self.sent: list[dict[str, str]] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def now(self) -> datetime:
        return AT + timedelta(seconds=self.t)


class CannedAdapter(BaseAdapter):
    """The transport: records the send and the headers that went out, answers from a script."""

    def __init__(self, world: World, answers: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__()
        self.world, self.answers = world, answers

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.world.events.append("send")
        self.world.sent.append(dict(request.headers))
        self.world.sleep(1.0)  # the round trip: a retry's fresh signature is seconds later
        status, doc = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response._content, response.url = status, json.dumps(doc).encode(), request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


class RecordingSession(requests.Session):
    """A real Session that logs the work `Session.request` does before it sends."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        self.world.events.append("prepare")
        return super().prepare_request(request)

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.world.events.append("environment")
        return super().merge_environment_settings(*args, **kwargs)


class RecordingLimiter:
    """Grants at once or after `wait` seconds of the world's clock, and logs the grant."""

    def __init__(self, world: World, wait: float = 0.0) -> None:
        self.world, self.wait = world, wait
        self.granted_at: list[datetime] = []

    def acquire(self, deadline: float | None = None) -> float:
        self.world.sleep(self.wait)
        self.world.events.append("grant")
        self.granted_at.append(self.world.now())
        return self.wait

    def departed(self) -> None:  # the canned transport writes nothing: `wire` never fires it here
        self.world.events.append("departed")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World()

    def logged(signer: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
        def sign(**kwargs: Any) -> dict[str, str]:
            world.events.append("sign")
            return signer(**kwargs)

        return sign

    monkeypatch.setattr(clients, "sign_volcengine", logged(clients.sign_volcengine))
    monkeypatch.setattr(clients, "sign_tc3", logged(clients.sign_tc3))
    return world


def run(world: World, provider: str, answers: list[tuple[int, dict[str, Any]]], limiter: RecordingLimiter) -> Any:
    action, params, _ = CASES[provider]
    session = RecordingSession(world)
    session.mount("https://", CannedAdapter(world, answers))
    return perform(
        action,
        params,
        CREDS,
        ProviderClient(session=session),
        deadline=world.t + 3600,
        policy=RetryPolicy(attempts=3, base=0.1, cap=0.1),
        limiter=limiter,
        now=world.now,
        monotonic=world.monotonic,
        sleep=world.sleep,
        min_call_budget=1.0,
    )


def signed_at(provider: str, headers: dict[str, str]) -> datetime:
    value = headers[CASES[provider][2]]
    if provider == "volcengine":
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value), tz=UTC)


@pytest.mark.parametrize("provider", sorted(CASES))
@pytest.mark.parametrize("throttled_first", [0, 1, 2], ids=["first-try", "one-retry", "two-retries"])
def test_every_attempt_signs_and_prepares_before_its_grant_and_only_sends_after(world, provider, throttled_first):
    """Per attempt, retries included: sign, prepare, read the environment, THEN the grant, then the send and
    nothing else. The old order (grant, then sign + prepare + send inside `ProviderClient.call`) fails."""
    action = CASES[provider][0]
    answers = [answer(action, throttled=True)] * throttled_first + [answer(action, throttled=False)]
    outcome = run(world, provider, answers, RecordingLimiter(world))
    assert outcome.status == "done"
    assert world.events == ONE_ATTEMPT * (throttled_first + 1)
    stamps = [signed_at(provider, headers) for headers in world.sent]
    assert len(set(stamps)) == len(stamps)  # each retry went out with a signature of its own


@pytest.mark.parametrize("provider", sorted(CASES))
def test_a_throttled_grant_wait_is_not_a_send(world, provider):
    """A grant refused at the deadline: the request was signed and prepared, nothing was sent."""

    class Refusing(RecordingLimiter):
        def acquire(self, deadline: float | None = None) -> float:
            raise Throttled("local rate limit: no slot before the deadline", code="LocalRateLimit")

    with pytest.raises(Throttled):
        run(world, provider, [answer(CASES[provider][0], throttled=False)], Refusing(world))
    assert "send" not in world.events
    assert world.sent == []


@pytest.mark.parametrize("provider", sorted(CASES))
@pytest.mark.parametrize("wait", [RESIGN_AFTER - 1.0, RESIGN_AFTER + 1.0])
def test_a_signature_never_ages_past_the_bound_while_waiting_for_its_grant(world, provider, wait):
    """Signed before the grant, so a request goes out with the instant it was signed at; a wait for the grant
    longer than `RESIGN_AFTER` signs again (the providers refuse a timestamp 5 minutes off)."""
    started = world.now()
    limiter = RecordingLimiter(world, wait)
    outcome = run(world, provider, [answer(CASES[provider][0], throttled=False)], limiter)
    assert outcome.status == "done"
    (headers,), (granted,) = world.sent, limiter.granted_at
    assert (granted - signed_at(provider, headers)).total_seconds() <= RESIGN_AFTER
    if wait < RESIGN_AFTER:
        assert world.events == ONE_ATTEMPT
        assert signed_at(provider, headers) == started
    else:
        assert world.events == ONE_ATTEMPT[:4] + ONE_ATTEMPT[:3] + ["send"]
        assert signed_at(provider, headers) == granted
