"""A local HTTP front door for Lambda handlers: each real HTTP request becomes an API Gateway HTTP API payload
2.0 event (body always base64 with `isBase64Encoded: true`, lower-case header names, `requestContext.http`
method/path, a request id) and the handler's answer becomes the HTTP response.

Generic: give it `{"POST /trtc/callback": handler, ...}` (method `ANY` matches every method). Standard library
only; used by the tests and available to the local stack.

    with HttpAdapter({"POST /trtc/callback": app.handler}) as adapter:
        requests.post(adapter.url + "/trtc/callback", data=body, headers=...)
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

Handler = Callable[[dict[str, Any], Any], Any]
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # HTTP API's payload limit: larger requests never reach the function
# A client that stops sending mid-request gets a 408 after this long instead of holding a thread forever.
READ_TIMEOUT_SECONDS = 30.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Refusal:
    """An answer given before the body is read; the connection is closed after it (the framing is unknown)."""

    status: int
    message: str


def body_length(method: str, values: list[str], transfer_encoding: str | None) -> int | Refusal:
    """The request body's length from its Content-Length header(s), as RFC 9112 section 6.3 reads them.

    Only digits are a length (`-1`, `+5`, `1e3` and `abc` are not). Repeated headers must agree. No length on a
    method that carries a body, or a Transfer-Encoding (not supported here), is 411.
    """
    if transfer_encoding is not None:
        return Refusal(411, "Transfer-Encoding is not supported; send Content-Length")
    texts = {v.strip() for value in values for v in value.split(",")}
    if not texts:
        return Refusal(411, "Content-Length is required") if method in _BODY_METHODS else 0
    if len(texts) > 1:
        return Refusal(400, "conflicting Content-Length headers")
    (text,) = texts
    if not (text.isascii() and text.isdigit()):
        return Refusal(400, "Content-Length must be a non-negative integer")
    # Compare digit counts first: int() of a 5,000-digit string raises ValueError (sys.int_info limit).
    if len(text.lstrip("0")) > len(str(API_GATEWAY_MAX_BODY)) or int(text) > API_GATEWAY_MAX_BODY:
        return Refusal(413, "Request Entity Too Large")
    return int(text)


def to_event(
    method: str, target: str, headers: Mapping[str, str] | list[tuple[str, str]], body: bytes
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event for one request (repeated headers are joined with commas, as HTTP API does)."""
    split = urlsplit(target)
    merged: dict[str, str] = {}
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    now = datetime.now(UTC)
    request_id = uuid.uuid4().hex
    route_key = f"{method} {split.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": merged.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
    return event


def from_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """How API Gateway (payload 2.0) reads a handler's result."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
        return int(result["statusCode"]), headers, payload
    text = result if isinstance(result, str) else json.dumps(result)
    return 200, {"content-type": "application/json"}, text.encode("utf-8")


def lambda_context(name: str, request_id: str) -> Any:
    """Enough of a Lambda context object for Powertools."""
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:local:000000000000:function:{name}",
        memory_limit_in_mb=256,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 10_000,
    )


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer is its own business: no traceback in the local stack's output."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # a defect here, said in one line (the default prints a traceback)
            print(f"http adapter: {type(error).__name__} while serving a request", file=sys.stderr)


class HttpAdapter:
    """Serves `routes` ("METHOD /path" -> handler) on host:port (port 0 = any free port), one thread per request."""

    def __init__(self, routes: Mapping[str, Handler], host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        for key, handler in routes.items():
            method, _, path = key.partition(" ")
            self.routes[(method.upper(), path.rstrip("/") or "/")] = handler
        adapter = self

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = READ_TIMEOUT_SECONDS  # socket timeout for every read: no client can hold a thread forever

            def log_message(self, format: str, *args: Any) -> None:  # bodies and headers stay out of logs
                return

            def _any(self) -> None:
                adapter._serve(self)

            def __getattr__(self, name: str) -> Any:
                # The standard library answers 501 to any method without a `do_<METHOD>`; API Gateway routes every
                # method token (a method no route names gets 404, an ANY route takes it).
                if name.startswith("do_"):
                    return self._any
                raise AttributeError(name)

        self.server = _QuietServer((host, port), _Request)
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HttpAdapter:
        self._thread = threading.Thread(target=self.server.serve_forever, name="http-adapter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HttpAdapter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def match(self, method: str, path: str) -> Handler | None:
        path = path.rstrip("/") or "/"
        return self.routes.get((method, path)) or self.routes.get(("ANY", path))

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        length = body_length(
            request.command, request.headers.get_all("Content-Length") or [], request.headers.get("Transfer-Encoding")
        )
        if isinstance(length, Refusal):
            self._refuse(request, length)
            return
        try:
            body = request.rfile.read(length) if length else b""
        except TimeoutError:
            self._refuse(request, Refusal(408, "Request Timeout"))
            return
        if len(body) < length:  # the client closed its side before sending the whole body
            self._refuse(request, Refusal(400, "body is shorter than Content-Length"))
            return
        handler = self.match(request.command, urlsplit(request.path).path)
        if handler is None:
            self._send(request, 404, _JSON, b'{"message":"Not Found"}')
            return
        event = to_event(request.command, request.path, list(request.headers.items()), body)
        try:
            result = handler(event, lambda_context("local", event["requestContext"]["requestId"]))
            status, headers, payload = from_result(result)
        except Exception:  # what API Gateway answers when the integration fails
            status, headers, payload = 500, _JSON, b'{"message":"Internal Server Error"}'
        self._send(request, status, headers, payload)

    def _refuse(self, request: BaseHTTPRequestHandler, refusal: Refusal) -> None:
        request.close_connection = True
        payload = json.dumps({"message": refusal.message}).encode("utf-8")
        self._send(request, refusal.status, {**_JSON, "connection": "close"}, payload)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)
