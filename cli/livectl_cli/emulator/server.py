"""Real HTTP for the emulator: one port serves Volcengine (`?Action=`), TRTC (`X-TC-Action`) and the admin
API (`/_emulator/...`). stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive; `stop()` closes every connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.emulator.core import EmulatorCore
from livectl_cli.emulator.model import KINDS, SpecError
from livectl_cli.emulator.wire import Reply, Request

MAX_BODY = 10 * 1024 * 1024
ADMIN_PREFIX = "/_emulator/"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of new connections (50 containers, or one client's pool
    # opening 50 at once) overflowed it and the kernel reset the rest. Each accepted one gets its own thread.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stalls
    server_version = "livectl-emulator"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log is the admin API's /_emulator/calls

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self._read_body()
        if body is None:
            self._send(Reply(413, b'{"error": "body too large or bad Content-Length"}'))
            self.close_connection = True
            return
        split = urlsplit(self.path)
        emulator = self.server.emulator
        if split.path.startswith(ADMIN_PREFIX):
            self._send(emulator.admin(self.command, split.path, split.query, body))
            return
        req = Request(self.command, split.path or "/", split.query, self.headers, body, self.client_address[0])
        if req.header("X-TC-Action") is None and "Action" not in parse_qs(split.query):
            self._send(_json_reply(404, {"error": "not a provider call: no X-TC-Action header and no ?Action="}))
            return
        reply = emulator.core.provider_call(req)
        if reply.delay > 0 and emulator.stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.mangle == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        body = reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if reply.mangle == "truncated":
            self.send_header("Connection", "close")
            self.close_connection = True
            body = body[: len(body) // 2]
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _json_reply(status: int, doc: Any) -> Reply:
    return Reply(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"))


class Emulator:
    """The provider emulator. In tests: `Emulator(port=0).start()`, use `.url`, then `.stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8900,
        seed: int = 0,
        latency_ms: float = 0,
        callback_url: str | None = None,
        callback_key: str | None = LOCAL_CALLBACK_KEY,
        clock: Callable[[], float] | None = None,
        callback_retry_interval: float = 10.0,
        callback_retry_window: float = 60.0,
        faults: object = None,
        jitter_ms: float = 0,
        latency: Mapping[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.core = EmulatorCore(
            seed=seed,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            callback_url=callback_url,
            callback_key=callback_key,
            clock=clock,
            callback_retry_interval=callback_retry_interval,
            callback_retry_window=callback_retry_window,
        )
        if latency is not None:  # the admin shape: per provider under "latency" (see latency.py)
            self.core.configure(latency)
        if faults is not None:
            self.core.set_faults(faults)
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.core.callbacks.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="emulator-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.core.callbacks.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground until Ctrl-C (the CLI)."""
        self.start()
        try:
            self.stopping.wait()
        finally:
            self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- in-process conveniences (the same operations as the admin API) ---------------------------------------
    def reset(self) -> None:
        self.core.reset()

    def add_task(self, kind: str, task_id: str, **spec: Any) -> dict[str, Any]:
        return self.core.add_task({"kind": kind, "task_id": task_id, **spec}).as_dict()

    def add_tasks(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.core.add_task(spec).as_dict() for spec in specs]

    def tasks(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self.core.list_tasks(kind)

    def task(self, kind: str, task_id: str) -> dict[str, Any] | None:
        found = self.core.get_task(kind, task_id)
        return found.as_dict() if found is not None else None

    def calls(self, action: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return self.core.call_log(since=since, action=action)

    def set_faults(self, doc: object) -> list[dict[str, Any]]:
        return self.core.set_faults(doc)

    def configure(self, **config: Any) -> dict[str, Any]:
        return self.core.configure(config)

    def add_account(self, provider: str, access_key: str, secret_key: str) -> None:
        self.core.add_account({"provider": provider, "access_key": access_key, "secret_key": secret_key})

    def callback_log(self) -> list[dict[str, Any]]:
        with self.core.callbacks._cond:
            return list(self.core.callbacks.log)

    def wait_callbacks(self, timeout: float = 30.0) -> bool:
        return self.core.callbacks.wait_idle(timeout)

    # ---- admin API -------------------------------------------------------------------------------------------
    def admin(self, method: str, path: str, query: str, body: bytes) -> Reply:
        route = path[len(ADMIN_PREFIX) :].strip("/")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            doc: Any = json.loads(body) if body.strip() else None
        except ValueError:
            return _json_reply(400, {"error": "body is not valid JSON"})
        try:
            return self._admin(method, route, params, doc)
        except (SpecError, ValueError) as exc:
            return _json_reply(400, {"error": str(exc)})

    def _admin(self, method: str, route: str, params: Mapping[str, str], doc: Any) -> Reply:
        core = self.core
        if route == "health" and method == "GET":
            # pid: which process serves (the local stack runs it apart); callbacks_pending: what wait_callbacks reads.
            health = {"ok": True, "url": self.url, "pid": os.getpid(), "callbacks_pending": core.callbacks.pending()}
            return _json_reply(200, health)
        if route == "tasks":
            if method == "GET":
                kind = params.get("kind")
                if kind is not None and kind not in KINDS:
                    raise SpecError(f"kind must be one of {', '.join(KINDS)}")
                return _json_reply(200, core.list_tasks(kind))
            if method == "POST":
                specs = doc if isinstance(doc, list) else [doc]
                created = [core.add_task(s).as_dict() for s in specs]
                return _json_reply(201, created if isinstance(doc, list) else created[0])
        if route.startswith("tasks/") and method == "GET":
            parts = route.split("/", 2)
            if len(parts) == 3:
                found = core.get_task(parts[1], parts[2])
                if found is None:
                    return _json_reply(404, {"error": "no such task"})
                return _json_reply(200, found.as_dict())
        if route == "calls" and method == "GET":
            since = int(params.get("since", "0") or 0)
            limit = int(params["limit"]) if params.get("limit") else None
            return _json_reply(200, core.call_log(since=since, action=params.get("action"), limit=limit))
        if route == "faults":
            if method == "GET":
                return _json_reply(200, core.fault_rules())
            if method in ("POST", "PUT"):
                return _json_reply(200, core.set_faults(doc if doc is not None else []))
            if method == "DELETE":
                return _json_reply(200, core.set_faults([]))
        if route == "reset" and method == "POST":
            core.reset()
            return _json_reply(200, {"reset": True})
        if route == "accounts":
            if method == "GET":
                return _json_reply(200, core.list_accounts())
            if method == "POST":
                if not isinstance(doc, dict):
                    raise SpecError("an account must be a JSON object")
                return _json_reply(201, core.add_account(doc))
        if route == "config":
            if method == "GET":
                return _json_reply(200, core.config())
            if method == "POST":
                if not isinstance(doc, dict):
                    raise SpecError("config must be a JSON object")
                return _json_reply(200, core.configure(doc))
        if route == "callbacks" and method == "GET":
            if params.get("wait"):  # block until every queued delivery is done (or the wait runs out)
                self.wait_callbacks(min(float(params["wait"]), 120.0))
            return _json_reply(200, self.callback_log())
        return _json_reply(404, {"error": f"no admin route {method} {ADMIN_PREFIX}{route}"})
