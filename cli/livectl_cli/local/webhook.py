"""The template's HttpApi routes on a local port: each request becomes an API Gateway HTTP API payload
v2.0 event for the real handler, and the handler's answer becomes the HTTP response."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from livectl_cli.local.functions import HttpRoute, LocalFunction

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def http_api_event(
    method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, route_key: str, source_ip: str
) -> dict[str, Any]:
    """An HTTP API payload v2.0 event (what API Gateway hands a Lambda proxy integration)."""
    split = urlsplit(raw_path)
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": merged.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = text
    return event


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's reading of a v2.0 handler result."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
        return int(result["statusCode"]), headers, body
    text = result if isinstance(result, str) else json.dumps(result)
    return 200, {"content-type": "application/json"}, text.encode("utf-8")


class WebhookServer:
    """Serves `routes` (function, HttpRoute) on host:port (0 = any free port)."""

    def __init__(
        self,
        routes: list[tuple[LocalFunction, HttpRoute]],
        host: str = "127.0.0.1",
        port: int = 3000,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.routes = routes
        self.log = log or (lambda line: None)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                outer.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(5)

    def match(self, method: str, path: str) -> tuple[LocalFunction, HttpRoute] | None:
        for function, route in self.routes:
            if route.path.rstrip("/") == path.rstrip("/") and route.method in (method, "ANY"):
                return function, route
        return None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        start = time.monotonic()
        method, raw_path = request.command, request.path
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(request, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            return
        body = request.rfile.read(length) if length else b""
        found = self.match(method, urlsplit(raw_path).path)
        if found is None:
            self._send(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
            return
        function, route = found
        route_key = f"{route.method} {route.path}" if route.method != "ANY" else f"ANY {route.path}"
        event = http_api_event(
            method, raw_path, list(request.headers.items()), body, route_key, request.client_address[0]
        )
        invocation = function.invoke(event, f"http:{route_key}")
        if invocation.ok:
            status, headers, payload = http_response(invocation.result)
        else:
            status, headers, payload = 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        self._send(request, status, headers, payload)
        error = "" if invocation.ok else f" ERROR {type(invocation.error).__name__}: {invocation.error}"
        self.log(
            f"{function.spec.logical_id:<27} ← http {method} {urlsplit(raw_path).path} ({len(body)} bytes): "
            f"{status}{error} [{(time.monotonic() - start) * 1000:.0f} ms]"
        )

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
