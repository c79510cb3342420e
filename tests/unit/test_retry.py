"""retry_call under a fake clock: full-jitter shape, the caller's deadline, fresh `now` (hence a fresh
signature) per attempt, non-retryable errors at once, Retry-After honoured."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl.errors import (
    AlreadyDone,
    InvalidCommand,
    LivectlError,
    PermanentProviderError,
    Throttled,
    TransientProviderError,
)
from livectl.providers.catalogue import get_action
from livectl.providers.clients import prepare_request
from livectl.providers.retry import UNAVAILABLE_CODES, RetryPolicy, full_jitter_delay, retry_call
from livectl.providers.signing import Credentials

pytestmark = pytest.mark.unit

START = datetime(2024, 6, 1, 23, 59, 58, tzinfo=UTC)


class FakeClock:
    """monotonic(), sleep() and now() on one fake timeline."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.start = start
        self.sleeps: list[float] = []
        self.sleep_ends: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.t += seconds
        self.sleep_ends.append(self.t)

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t - self.start)

    def kwargs(self) -> dict:
        return {"monotonic": self.monotonic, "sleep": self.sleep, "now": self.now}


class Script:
    """An attempt function that raises the scripted errors in turn, then returns 'ok'; records its `now`s."""

    def __init__(self, clock: FakeClock, errors: list[LivectlError], cost: float = 0.0) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.cost = cost
        self.seen: list[datetime] = []

    def __call__(self, at: datetime) -> str:
        self.seen.append(at)
        self.clock.t += self.cost  # the call itself takes time
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def transient(**kw) -> TransientProviderError:
    return TransientProviderError("boom", code="InternalError", **kw)


# --------------------------------------------------------------------------------------------------------
# jitter shape
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 8])
def test_full_jitter_shape(attempt):
    policy = RetryPolicy(attempts=10, base=0.2, cap=5.0)
    bound = min(policy.cap, policy.base * 2 ** (attempt - 1))  # base * 2^n for the n-th retry (n from 0)
    assert policy.bound(attempt) == pytest.approx(bound)
    rng = random.Random(attempt)
    samples = [full_jitter_delay(policy, attempt, rng.random) for _ in range(10_000)]
    assert all(0.0 <= s <= bound for s in samples)
    mean = sum(samples) / len(samples)
    assert mean == pytest.approx(bound / 2, rel=0.05)
    # full jitter, not "equal jitter": the lower half of the range is used as much as the upper
    assert sum(s < bound / 2 for s in samples) / len(samples) == pytest.approx(0.5, abs=0.03)


def test_bound_is_capped():
    policy = RetryPolicy(attempts=20, base=0.5, cap=3.0)
    assert [policy.bound(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.bound(40) == 3.0


# --------------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------------
def test_success_after_transient_failures_sleeps_jittered_bounds():
    clock = FakeClock()
    fn = Script(clock, [transient(), Throttled("slow down", code="FlowLimitExceeded")])
    policy = RetryPolicy(attempts=3, base=0.2, cap=5.0)
    result = retry_call(fn, policy=policy, deadline=clock.t + 60, rand=lambda: 1.0, **clock.kwargs())
    assert result == "ok"
    assert len(fn.seen) == 3
    assert clock.sleeps == [0.2, 0.4]  # rand()=1.0 reaches each bound exactly


def test_attempts_are_bounded_and_last_error_raised_unchanged():
    clock = FakeClock()
    errors = [transient(request_id=f"r{i}") for i in range(10)]
    fn = Script(clock, errors)
    with pytest.raises(TransientProviderError) as err:
        retry_call(fn, policy=RetryPolicy(attempts=4), deadline=clock.t + 600, **clock.kwargs())
    assert len(fn.seen) == 4
    assert len(clock.sleeps) == 3
    assert err.value.request_id == "r3"


@pytest.mark.parametrize(
    "error",
    [
        PermanentProviderError("no", code="InvalidParameter"),
        InvalidCommand("bad", field="params.TaskId"),
        AlreadyDone("done", code="FailedOperation.TaskNotExist"),
    ],
)
def test_non_retryable_raised_at_once(error):
    clock = FakeClock()
    fn = Script(clock, [error])
    with pytest.raises(type(error)) as err:
        retry_call(fn, policy=RetryPolicy(attempts=5), deadline=clock.t + 600, **clock.kwargs())
    assert err.value is error
    assert len(fn.seen) == 1
    assert clock.sleeps == []


def test_foreign_exceptions_are_not_retried():
    clock = FakeClock()
    calls = []

    def fn(at):
        calls.append(at)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retry_call(fn, policy=RetryPolicy(attempts=5), deadline=clock.t + 600, **clock.kwargs())
    assert len(calls) == 1


def test_retry_after_is_honoured_even_above_the_jitter_bound():
    clock = FakeClock()
    fn = Script(clock, [Throttled("429", code="FlowLimitExceeded", retry_after=7.5)])
    retry_call(fn, policy=RetryPolicy(attempts=3, base=0.2, cap=1.0), deadline=clock.t + 60, **clock.kwargs())
    assert clock.sleeps == [7.5]


def test_retry_after_past_the_deadline_gives_up_without_sleeping():
    clock = FakeClock()
    fn = Script(clock, [Throttled("429", code="FlowLimitExceeded", retry_after=30.0)])
    with pytest.raises(Throttled):
        retry_call(fn, policy=RetryPolicy(attempts=3), deadline=clock.t + 10, **clock.kwargs())
    assert clock.sleeps == []
    assert len(fn.seen) == 1


@settings(max_examples=300, deadline=None)
@given(
    attempts=st.integers(1, 8),
    base=st.floats(0.01, 2.0),
    cap=st.floats(0.05, 20.0),
    budget=st.floats(0.0, 30.0),
    cost=st.floats(0.0, 3.0),
    retry_after=st.one_of(st.none(), st.floats(0.0, 40.0)),
    seed=st.integers(0, 2**32 - 1),
)
def test_never_sleeps_past_the_deadline(attempts, base, cap, budget, cost, retry_after, seed):
    clock = FakeClock()
    deadline = clock.t + budget
    fn = Script(clock, [transient(retry_after=retry_after) for _ in range(20)], cost=cost)
    rng = random.Random(seed)
    with pytest.raises(TransientProviderError):
        retry_call(
            fn,
            policy=RetryPolicy(attempts=attempts, base=base, cap=cap),
            deadline=deadline,
            rand=rng.random,
            **clock.kwargs(),
        )
    assert 1 <= len(fn.seen) <= attempts
    # every sleep ended before the deadline; only a call itself may run past it
    assert all(end < deadline for end in clock.sleep_ends)
    assert len(clock.sleeps) == len(fn.seen) - 1


def test_on_retry_reports_each_wait():
    clock = FakeClock()
    seen = []
    fn = Script(clock, [transient(), transient()])
    retry_call(
        fn,
        policy=RetryPolicy(attempts=3),
        deadline=clock.t + 60,
        rand=lambda: 0.5,
        on_retry=lambda n, exc, delay: seen.append((n, exc.code, delay)),
        **clock.kwargs(),
    )
    assert seen == [(1, "InternalError", 0.1), (2, "InternalError", 0.2)]


def test_fresh_now_per_attempt_means_a_fresh_signature():
    """Each attempt is signed with its own time: across midnight UTC even the credential scope changes."""
    clock = FakeClock()
    act = get_action("StopPullRecordTask")
    creds = Credentials("AKLTDEMO", "demo-secret")
    signed: list[dict[str, str]] = []
    errors = [transient(), transient()]

    def attempt(at: datetime) -> str:
        signed.append(prepare_request(act, {"TaskId": "t-1"}, creds, at).headers)
        clock.t += 0.3
        if errors:
            raise errors.pop(0)
        return "ok"

    retry_call(
        attempt, policy=RetryPolicy(attempts=3, base=1.0), deadline=clock.t + 60, rand=lambda: 1.0, **clock.kwargs()
    )
    dates = [h["X-Date"] for h in signed]
    assert dates == ["20240601T235958Z", "20240601T235959Z", "20240602T000001Z"]
    assert len({h["Authorization"] for h in signed}) == 3
    assert "/20240602/cn-north-1/live/request" in signed[-1]["Authorization"]
    assert all(list(h).count("Authorization") == 1 for h in signed)


@pytest.mark.parametrize("code", sorted(UNAVAILABLE_CODES))
@pytest.mark.parametrize("cls", [TransientProviderError, Throttled])
def test_an_answer_that_says_the_provider_is_unavailable_is_not_retried_in_the_invocation(code, cls):
    """Issue 13: in a long outage every in-invocation retry is one more call per command spent for nothing; the
    record goes back to the queue at once and the redelivery schedule is the backoff."""
    clock = FakeClock()
    script = Script(clock, [cls("down", code=code)])
    with pytest.raises(cls):
        retry_call(script, policy=RetryPolicy(attempts=3), deadline=clock.t + 60, **clock.kwargs())
    assert len(script.seen) == 1 and clock.sleeps == []


@pytest.mark.parametrize("code", ["InternalError", "HTTP502", "HTTP504", "Timeout", "ConnectionError", "CommonErr"])
def test_other_transient_answers_are_still_retried_in_the_invocation(code):
    """The control: a blip (a 500, a gateway error, a dropped connection) is absorbed by the first receive."""
    clock = FakeClock()
    script = Script(clock, [TransientProviderError("blip", code=code)] * 2)
    assert retry_call(script, policy=RetryPolicy(attempts=3), deadline=clock.t + 60, **clock.kwargs()) == "ok"
    assert len(script.seen) == 3
