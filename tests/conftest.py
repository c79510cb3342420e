"""Shared fixtures.

- `emulator`: the provider emulator (one per session, on an ephemeral port), reset before each test: no tasks,
  no calls, no faults, empty rate windows, no callback URL, real clock. Its TRTC callback retry schedule is
  shortened (0.05 s interval, 0.3 s window: TRTC's 7 attempts, in a fraction of a second).
- `emulator_clock`: the clock the emulator uses for rate windows and the timestamp check; `freeze(t)`,
  `advance(dt)`, `thaw()`. Frozen time makes the QPS window deterministic.
- `callback_receiver`: a tiny HTTP server that records every request (raw body bytes and headers) and answers
  with the statuses you queue (`fail_next(n, status)`, `fail_always(status)`).
- `livectl_client`, `volc_credentials`, `trtc_credentials`: livectl's own client pointed at the emulator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

EMULATOR_RETRY_INTERVAL = 0.05
EMULATOR_RETRY_WINDOW = 0.3


class EmulatorClock:
    """Real time until frozen; thread-safe enough for tests (a float assignment is atomic)."""

    def __init__(self) -> None:
        self._frozen: float | None = None

    def __call__(self) -> float:
        frozen = self._frozen
        return time.time() if frozen is None else frozen

    def freeze(self, at: float | None = None) -> float:
        self._frozen = time.time() if at is None else at
        return self._frozen

    def advance(self, seconds: float) -> float:
        if self._frozen is None:
            raise RuntimeError("freeze the clock before advancing it")
        self._frozen += seconds
        return self._frozen

    def thaw(self) -> None:
        self._frozen = None


@pytest.fixture(scope="session")
def _emulator_session() -> Iterator[tuple[Any, EmulatorClock]]:
    from livectl_cli.emulator import Emulator

    clock = EmulatorClock()
    emu = Emulator(
        host="127.0.0.1",
        port=0,
        seed=0,
        clock=clock,
        callback_retry_interval=EMULATOR_RETRY_INTERVAL,
        callback_retry_window=EMULATOR_RETRY_WINDOW,
    ).start()
    try:
        yield emu, clock
    finally:
        emu.stop()


@pytest.fixture
def emulator(_emulator_session: tuple[Any, EmulatorClock]) -> Iterator[Any]:
    from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY

    emu, clock = _emulator_session
    clock.thaw()
    emu.reset()
    emu.configure(callback_url=None, callback_key=LOCAL_CALLBACK_KEY, latency_ms=0, jitter_ms=0, start_callbacks=True)
    yield emu
    clock.thaw()
    emu.configure(callback_url=None)
    emu.wait_callbacks(timeout=5)


@pytest.fixture
def emulator_clock(emulator: Any, _emulator_session: tuple[Any, EmulatorClock]) -> EmulatorClock:
    return _emulator_session[1]


@pytest.fixture
def volc_credentials() -> Any:
    from livectl.providers.signing import Credentials

    return Credentials("AKLTDEMO", "demo-secret")


@pytest.fixture
def trtc_credentials() -> Any:
    from livectl.providers.signing import Credentials

    return Credentials("AKIDDEMO", "demo-secret")


@pytest.fixture
def livectl_client(emulator: Any) -> Any:
    import requests

    from livectl.providers.clients import ProviderClient

    session = requests.Session()
    client = ProviderClient({"volcengine": emulator.url, "trtc": emulator.url}, timeout=(2.0, 5.0), session=session)
    yield client
    session.close()


# ---------------------------------------------------------------------------------------------------------
# A tiny callback receiver
# ---------------------------------------------------------------------------------------------------------
@dataclass
class ReceivedCallback:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CallbackReceiver:
    url: str = ""
    received: list[ReceivedCallback] = field(default_factory=list)
    _statuses: list[int] = field(default_factory=list)
    _always: int | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._cond:
            self._statuses.extend([status] * n)

    def fail_always(self, status: int = 500) -> None:
        self._always = status

    def _record(self, cb: ReceivedCallback) -> int:
        with self._cond:
            self.received.append(cb)
            self._cond.notify_all()
            if self._always is not None:
                return self._always
            return self._statuses.pop(0) if self._statuses else 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedCallback]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.received)


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver._record(ReceivedCallback(self.path, dict(self.headers.items()), body))
            reply = b'{"code":0}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/callbacks/trtc"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
