"""The pieces that several in-flight records of one container share: the limiter under real threads, the
deadline budget of a call, the pooled HTTP session and boto3 clients, the in-flight setting."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import pytest

from livectl.control.container import DEFAULT_IN_FLIGHT, Container, Settings
from livectl.errors import TransientProviderError
from livectl.providers.catalogue import ACTIONS
from livectl.providers.operations import perform
from livectl.providers.ratelimit import WindowLimiter
from livectl.providers.retry import RetryPolicy
from livectl.providers.signing import Credentials

pytestmark = pytest.mark.unit


def test_threads_sharing_one_limiter_never_exceed_its_calls_in_any_window():
    """Ten workers hammer one limiter (real clock, short window): the grant log never holds more than `calls`
    grants inside any window, however the threads interleave."""
    limiter = WindowLimiter(3, 0.05)
    grants: list[float] = []

    class Recorded(deque):  # type: ignore[type-arg]
        def append(self, stamp: float) -> None:  # the limiter's own grant times, under its lock
            grants.append(stamp)
            super().append(stamp)

    limiter._grants = Recorded(maxlen=3)

    def worker() -> None:
        for _ in range(6):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    grants.sort()
    assert len(grants) == 60
    for i in range(len(grants) - 3):
        assert grants[i + 3] - grants[i] >= 0.05, i  # a 4th grant inside any window would break the share


class NeverCalled:
    timeout = (3.0, 10.0)

    def __init__(self) -> None:
        self.calls = 0

    def ready(self, *args: Any, **kwargs: Any) -> Any:
        return object()  # signing ahead of the grant is fine; sending is not

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError("a call started with less than its budget left")


def test_no_call_starts_with_less_than_its_budget_left():
    client = NeverCalled()
    now = [100.0]
    with pytest.raises(TransientProviderError) as caught:
        perform(
            ACTIONS["StopPullRecordTask"],
            {"TaskId": "t"},
            Credentials("ak", "sk"),
            client,  # type: ignore[arg-type]
            deadline=100.5,
            policy=RetryPolicy(attempts=1),
            limiter=WindowLimiter(10, 1.0, monotonic=lambda: now[0], sleep=lambda s: None),
            monotonic=lambda: now[0],
            sleep=lambda s: None,
            min_call_budget=1.0,
        )
    assert client.calls == 0
    assert caught.value.code in ("DeadlineExceeded", "LocalRateLimit")


def test_the_limiter_is_not_waited_for_into_the_last_budget():
    """A slot that frees up only inside the last `min_call_budget` seconds is not waited for."""
    now = [0.0]
    limiter = WindowLimiter(1, 1.0, monotonic=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    limiter.acquire()  # the window's one slot is taken until t = 1.0
    client = NeverCalled()
    with pytest.raises(Exception) as caught:
        perform(
            ACTIONS["StopPullRecordTask"],
            {"TaskId": "t"},
            Credentials("ak", "sk"),
            client,  # type: ignore[arg-type]
            deadline=1.5,  # the slot at 1.0 would leave 0.5 s: less than the 1 s budget
            policy=RetryPolicy(attempts=1),
            limiter=limiter,
            monotonic=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            min_call_budget=1.0,
        )
    assert getattr(caught.value, "retryable", False)
    assert client.calls == 0


def test_in_flight_setting_and_pools_sized_for_it():
    assert Settings.from_env({}).in_flight == DEFAULT_IN_FLIGHT == 10
    settings = Settings.from_env({"MAX_IN_FLIGHT": "7", "AWS_REGION": "ap-southeast-1"})
    assert settings.in_flight == 7
    box = Container(settings)
    adapter = box.client.session.get_adapter("https://live.volcengineapi.com/")
    assert adapter._pool_maxsize == 7  # one connection per in-flight call, reused
    assert box.pool._max_workers == 7
    box.close()


def test_each_container_has_its_own_clients_session_and_pool(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")
    settings = Settings("L", "B", "I", in_flight=4)
    one, two = Container(settings), Container(settings)
    assert one.client.session is not two.client.session
    assert one.aws_client("dynamodb") is not two.aws_client("dynamodb")
    assert one.aws_client("dynamodb") is one.aws_client("dynamodb")
    assert one.aws_client("dynamodb").meta.config.max_pool_connections >= 4
    assert one.pool is not two.pool
    one.close()
    two.close()
