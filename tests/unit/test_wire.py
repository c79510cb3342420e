"""The departure stamp (`livectl.providers.wire`): a container's pooled session fires the limiter's `departed` as
each request begins to write, after its grant and before the provider sees it; once per call, and never for a
request the hook was not armed for. Real `requests` and urllib3 against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from livectl.providers import wire
from livectl.providers.catalogue import get_action
from livectl.providers.clients import ProviderClient, http_session, pooled_session
from livectl.providers.operations import perform
from livectl.providers.signing import Credentials

pytestmark = pytest.mark.unit

STOP = get_action("StopPullRecordTask")
CREDS = Credentials("AKLTDEMO", "demo-secret")


class Provider:
    """Answers every POST as Volcengine would a successful StopPullRecordTask, and logs each arrival in `log`."""

    def __init__(self, log: list[str]) -> None:
        log_ = log

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                log_.append("arrived")
                body = json.dumps({"ResponseMetadata": {"RequestId": "r", "Action": STOP.name}, "Result": {}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def provider() -> Iterator[tuple[Provider, list[str]]]:
    log: list[str] = []
    server = Provider(log)
    yield server, log
    server.server.shutdown()
    server.server.server_close()


class LoggingLimiter:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def acquire(self, deadline: float | None = None) -> float:
        self.log.append("grant")
        return 0.0

    def departed(self) -> None:
        self.log.append("departed")


def test_a_container_call_reports_its_departure_after_the_grant_and_before_the_provider_sees_it(provider):
    server, log = provider
    client = ProviderClient({"volcengine": server.url}, session=pooled_session(2))
    for task in ("t-1", "t-2"):
        perform(
            STOP,
            {"TaskId": task},
            CREDS,
            client,
            deadline=float("inf"),
            limiter=LoggingLimiter(log),  # type: ignore[arg-type]
            now=lambda: datetime.now(UTC),
        )
    # the second call reuses the pooled connection: its departure is reported all the same
    assert log == ["grant", "departed", "arrived"] * 2


def test_a_hook_is_never_fired_for_a_request_it_was_not_armed_for(provider):
    server, log = provider
    fired: list[str] = []
    plain = ProviderClient({"volcengine": server.url}, session=http_session())  # no stamping connections
    ready = plain.ready(STOP, {"TaskId": "t-1"}, CREDS, datetime.now(UTC))
    plain.send(ready, on_wire=lambda: fired.append("stale"))
    stamping = pooled_session(2)
    stamping.post(server.url + "/", data=b"{}")  # nothing armed now: `send` disarmed the hook it did not fire
    wire.arm(lambda: fired.append("armed"))
    try:
        stamping.post(server.url + "/", data=b"{}")
        stamping.post(server.url + "/", data=b"{}")  # once per arming
    finally:
        wire.disarm()
    assert fired == ["armed"] and log.count("arrived") == 4
