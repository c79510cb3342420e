"""What one Lambda container keeps between invocations: settings, rate limiters, pooled clients, idempotent units
and the worker threads that keep several records of a batch in flight at once.

One `Container` per process in Lambda. The local stack and the tests simulate several containers in one process:
each simulated container binds its own `ContainerSlot` (`use_slot`), so `container_for` hands every batch the
state of the container it runs in, never a process-wide one shared by concurrent batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from livectl import runtime
from livectl.command import Command
from livectl.control.outage import OutageGate
from livectl.providers.catalogue import provider_action
from livectl.providers.retry import RetryPolicy, utc_now
from livectl.store.table import iso

DEFAULT_IDEMPOTENCY_EXPIRES = 86400  # ≥ maxReceiveCount (5) × visibility timeout (6 × function timeout)
DEFAULT_DEADLINE_MARGIN = 3.0  # seconds kept back from the invocation's remaining time
DEFAULT_MIN_CALL_BUDGET = 1.0  # do not start a provider call with less time than this left
# Each container's share of the QPS is counted over 1 + margin seconds: the margin covers the spread of network
# latency between our send and the provider's count. A wider spread than the margin may draw a rare throttling
# answer, which is retried with backoff; RATE_WINDOW_MARGIN widens it.
DEFAULT_WINDOW_MARGIN = 0.02
# The spacing between one container's grants, as a fraction of the fair interval window / share (0: bursts);
# livectl.providers.ratelimit explains why grants are paced at all.
DEFAULT_RATE_PACING = 0.5
# Records of one batch in flight at once (the template's BatchSize): every record of a batch is in flight, so a
# provider round trip of up to ~1 s costs no throughput (docs/DESIGN.md, "Throughput").
DEFAULT_IN_FLIGHT = 10


@dataclass(frozen=True)
class Settings:
    ledger_table: str
    event_bus: str
    idempotency_table: str
    secret_prefix: str = "livectl/"  # noqa: S105 - a name prefix, not a secret
    max_concurrency: int = 2
    volcengine_endpoint: str = ""
    trtc_endpoint: str = ""
    idempotency_expires: int = DEFAULT_IDEMPOTENCY_EXPIRES
    deadline_margin: float = DEFAULT_DEADLINE_MARGIN
    min_call_budget: float = DEFAULT_MIN_CALL_BUDGET
    window_margin: float = DEFAULT_WINDOW_MARGIN
    rate_pacing: float = DEFAULT_RATE_PACING
    in_flight: int = DEFAULT_IN_FLIGHT
    metrics_namespace: str = ""  # POWERTOOLS_METRICS_NAMESPACE: one per stack
    service: str = ""  # POWERTOOLS_SERVICE_NAME: every metric's `service` dimension
    redelivery_scale: float = 1.0  # < 1 shrinks the redelivery schedule: local runs and tests only (a fast clock)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            ledger_table=env.get("LEDGER_TABLE", ""),
            event_bus=env.get("EVENT_BUS_NAME", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            secret_prefix=env.get("PROVIDER_SECRET_PREFIX") or "livectl/",
            max_concurrency=max(1, int(env.get("MAX_CONCURRENCY") or 2)),
            volcengine_endpoint=env.get("LIVECTL_VOLCENGINE_ENDPOINT", ""),
            trtc_endpoint=env.get("LIVECTL_TRTC_ENDPOINT", ""),
            idempotency_expires=int(env.get("IDEMPOTENCY_EXPIRES_SECONDS") or DEFAULT_IDEMPOTENCY_EXPIRES),
            window_margin=float(env.get("RATE_WINDOW_MARGIN") or DEFAULT_WINDOW_MARGIN),
            rate_pacing=min(1.0, max(0.0, float(env.get("RATE_PACING") or DEFAULT_RATE_PACING))),
            in_flight=max(1, int(env.get("MAX_IN_FLIGHT") or DEFAULT_IN_FLIGHT)),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", ""),
            service=env.get("POWERTOOLS_SERVICE_NAME", ""),
            redelivery_scale=float(env.get("LIVECTL_REDELIVERY_SCALE") or 1.0),
        )

    @property
    def endpoints(self) -> dict[str, str]:
        return {"volcengine": self.volcengine_endpoint, "trtc": self.trtc_endpoint}


class Container:
    """Per-container state. Thread-safe: the batch's worker threads share one limiter per (action, account), one
    HTTP session and one boto3 client per service, each pool sized for `settings.in_flight` calls at once."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: Any | None = None,
        ledger: Any | None = None,
        publisher: Any | None = None,
        policy: RetryPolicy | None = None,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._client = client
        self._ledger = ledger
        self._publisher = publisher
        self.policy = policy or RetryPolicy()
        self.now = now
        self.monotonic = monotonic
        self.sleep = sleep
        self.rand = rand
        self._limiters: dict[tuple[str, str], Any] = {}
        self._units: dict[str, Callable[..., dict[str, Any]]] = {}
        self._aws: dict[str, Any] = {}
        self._config: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        self.outage = OutageGate()  # one probe at a time while an action answers "unavailable"

    # -- clients, built once, in the thread that runs the batch (boto3's default session is not thread-safe) --
    def aws_client(self, service: str) -> Any:
        from livectl import aws

        with self._lock:
            found = self._aws.get(service)
            if found is None:
                # + 2: the idempotency store and the ledger share the DynamoDB client
                found = self._aws[service] = aws.new_client(service, max_pool_connections=self.settings.in_flight + 2)
            return found

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from livectl.providers.clients import ProviderClient, pooled_session

                self._client = ProviderClient(self.settings.endpoints, session=pooled_session(self.settings.in_flight))
            return self._client

    @property
    def ledger(self) -> Any:
        with self._lock:
            if self._ledger is None:
                from livectl.store.ledger import Ledger

                self._ledger = Ledger(self.settings.ledger_table, self.aws_client("dynamodb"))
            return self._ledger

    @property
    def publisher(self) -> Any:
        with self._lock:
            if self._publisher is None:
                from livectl.events import EventPublisher

                self._publisher = EventPublisher(self.settings.event_bus, self.aws_client("events"))
            return self._publisher

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The worker threads of this container: at most `in_flight` records of a batch run at once."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.in_flight, thread_name_prefix="livectl-record"
                )
            return self._pool

    def prepare(self, action: str) -> None:
        """Build everything the workers share before they start (clients, the idempotent unit, the secrets
        provider): creating boto3 clients from several threads at once can fail (botocore#2991)."""
        from livectl.providers import credentials

        _ = self.client, self.ledger, self.publisher, self.pool
        self.unit(action)
        credentials.prime()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def limiter(self, action: str, account: str) -> Any:
        """The limiter for (action, account): floor(QPS / MaximumConcurrency) calls per 1 + margin seconds, paced
        `rate_pacing` x the fair interval apart, shared by every record in flight in this container. `action` may
        be a confirm query, which the provider counts apart from the action it settles."""
        from livectl.providers.ratelimit import WindowLimiter, per_container_share

        with self._lock:
            limiter = self._limiters.get((action, account))
            if limiter is None:
                share = per_container_share(provider_action(action).qps, self.settings.max_concurrency)
                window = 1.0 + self.settings.window_margin
                limiter = WindowLimiter(
                    share,
                    window,
                    monotonic=self.monotonic,
                    sleep=self.sleep,
                    spacing=self.settings.rate_pacing * window / share,
                )
                self._limiters[(action, account)] = limiter
            return limiter

    def idempotency_config(self) -> Any:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        with self._lock:
            if self._config is None:
                self._config = IdempotencyConfig(
                    event_key_jmespath="key",
                    payload_validation_jmespath="fingerprint",
                    raise_on_no_idempotency_key=True,
                    expires_after_seconds=self.settings.idempotency_expires,
                )
            return self._config

    def unit(self, action: str) -> Callable[..., dict[str, Any]]:
        """The idempotent provider call for one action (key prefix `livectl.<action>`), with a persistence layer
        of its own. Powertools 3.37's `BasePersistenceLayer` keeps per-call data in arguments, but `configure()`
        rewrites `function_name` (the key prefix) on every call: one layer per unit, never shared across
        prefixes, keeps concurrent calls' keys from crossing (tests/control/test_concurrency.py)."""
        with self._lock:
            found = self._units.get(action)
            if found is not None:
                return found
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

            store = DynamoDBPersistenceLayer(
                table_name=self.settings.idempotency_table, boto3_client=self.aws_client("dynamodb")
            )
            wrapped: Callable[..., dict[str, Any]] = idempotent_function(
                provider_call,
                data_keyword_argument="data",
                persistence_store=store,
                config=self.idempotency_config(),
                key_prefix=f"livectl.{action}",
            )
            self._units[action] = wrapped
            return wrapped


# ------------------------------------------------------------------------------------------------------------
# The idempotent unit of an action (`Container.unit` wraps it): the provider call, and nothing else.
# ------------------------------------------------------------------------------------------------------------
def provider_call(
    *,
    data: dict[str, Any],
    command: Command,
    container: Container,
    deadline: float,
    attempts: int | None = None,
    observe: Any = None,
) -> dict[str, Any]:
    """Call the provider once for `command` (with livectl's retry loop). The returned dict is stored by
    Powertools and replayed to every duplicate of the command.

    A new command always reaches the provider, even when the ledger says the task is stopped: the provider is
    the source of truth (a task can run again outside livectl), a stop of a task that is already stopped
    costs one refused call that settles as "already done", and a ledger read would be one more AWS call."""
    from livectl.providers.credentials import load_credentials
    from livectl.providers.operations import perform

    credentials = load_credentials(command.provider, command.account, prefix=container.settings.secret_prefix)
    outcome = perform(
        command.action,
        command.params,
        credentials,
        container.client,
        deadline=deadline,
        policy=_policy(container, attempts),
        limiter=container.limiter(command.name, command.account),
        confirm_limiter=_confirm_limiter(command, container),
        now=container.now,
        monotonic=container.monotonic,
        sleep=container.sleep,
        min_call_budget=container.settings.min_call_budget,
        observe=observe,  # not called on a replay: a stored result made no provider call
    )
    out: dict[str, Any] = dataclasses.asdict(outcome)
    out["at"] = iso(container.now())
    return out


def _policy(container: Container, attempts: int | None) -> Any:
    if attempts is None or attempts >= container.policy.attempts:
        return container.policy
    return dataclasses.replace(container.policy, attempts=max(1, attempts))


def _confirm_limiter(command: Command, container: Container) -> Any:
    query = command.action.confirm_with
    return container.limiter(query, command.account) if query else None


class ContainerSlot:
    """Where one (simulated) container keeps its `Container`."""

    def __init__(self) -> None:
        self.container: Container | None = None
        self.lock = threading.Lock()


_process_slot = ContainerSlot()
_current_slot: ContextVar[ContainerSlot | None] = ContextVar("livectl_container_slot", default=None)


@contextlib.contextmanager
def use_slot(slot: ContainerSlot) -> Iterator[ContainerSlot]:
    """Run the enclosed invocations in the simulated container `slot` (the local stack's pollers do)."""
    token = _current_slot.set(slot)
    try:
        yield slot
    finally:
        _current_slot.reset(token)


def container_for(settings: Settings) -> Container:
    """The current container (rebuilt only if the settings change, e.g. between tests)."""
    slot = _current_slot.get() or _process_slot
    with slot.lock:
        if slot.container is None or slot.container.settings != settings:
            slot.container = Container(settings)
        return slot.container


def _forget_process_container() -> None:
    with _process_slot.lock:
        _process_slot.container = None


runtime.on_reset("control container", _forget_process_container)
