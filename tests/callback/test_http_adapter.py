"""The local HTTP adapter turns real HTTP requests into HTTP API payload 2.0 events and back."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl_cli.http_adapter import HttpAdapter

pytestmark = pytest.mark.unit


def test_request_becomes_a_v2_event_and_the_result_an_http_response():
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 202, "headers": {"x-answer": "yes"}, "body": json.dumps({"ok": True})}

    body = b'{\n\t"a":\t1\n}\xff'
    with HttpAdapter({"POST /trtc/callback": handler}) as adapter:
        answer = requests.post(
            adapter.url + "/trtc/callback?x=1", data=body, headers={"Sign": "abc", "SdkAppId": "1"}, timeout=5
        )
    assert (answer.status_code, answer.json(), answer.headers["x-answer"]) == (202, {"ok": True}, "yes")
    (event,) = seen
    assert event["version"] == "2.0" and event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body  # byte for byte, invalid UTF-8 included
    assert event["headers"]["sign"] == "abc" and event["headers"]["sdkappid"] == "1"
    assert all(name == name.lower() for name in event["headers"])
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["path"] == "/trtc/callback" and event["rawQueryString"] == "x=1"
    assert event["requestContext"]["requestId"]


def test_unknown_route_is_404_and_a_crashing_handler_is_500():
    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    with HttpAdapter({"POST /a": crash, "ANY /b": lambda e, c: {"statusCode": 204, "body": ""}}) as adapter:
        assert requests.post(adapter.url + "/nope", data=b"x", timeout=5).status_code == 404
        assert requests.get(adapter.url + "/a", timeout=5).status_code == 404  # method matters
        assert requests.post(adapter.url + "/a", data=b"x", timeout=5).status_code == 500
        assert requests.delete(adapter.url + "/b", timeout=5).status_code == 204
        assert requests.post(adapter.url + "/b/", data=b"", timeout=5).status_code == 204


# ------------------------------------------------------------------------------------------------------------
# Framing: whatever the Content-Length says, the answer is a well-formed HTTP response, never a hang
# ------------------------------------------------------------------------------------------------------------
SOCKET_TIMEOUT = 10.0  # a safety net so a regression fails instead of hanging; nothing asserts on time


def _raw_exchange(
    adapter: HttpAdapter, request: bytes, *, half_close: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, optionally close our sending side, and parse the one answer (status, headers, body)."""
    with socket.create_connection((adapter.host, adapter.port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, code, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1"
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "answer body cut short"
            rest += chunk
        return int(code), headers, rest[:length]


def _post(headers: list[str], body: bytes = b"") -> bytes:
    lines = ["POST /cb HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@pytest.fixture()
def echo_adapter():
    calls: list[bytes] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(base64.b64decode(event["body"]))
        return {"statusCode": 200, "body": "{}"}

    with HttpAdapter({"POST /cb": handler}) as adapter:
        adapter.calls = calls  # type: ignore[attr-defined]
        yield adapter


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        pytest.param(["Content-Length: abc"], b"hello", 400, id="non-numeric"),
        pytest.param(["Content-Length: -1"], b"hello", 400, id="negative"),
        pytest.param(["Content-Length: +5"], b"hello", 400, id="signed"),
        pytest.param(["Content-Length: 1e3"], b"hello", 400, id="exponent"),
        pytest.param(["Content-Length: 5.0"], b"hello", 400, id="decimal"),
        pytest.param(["Content-Length: "], b"hello", 400, id="empty"),
        pytest.param(["Content-Length: \u00b2"], b"he", 400, id="superscript-digit"),
        pytest.param(["Content-Length: 99999999999"], b"hello", 413, id="huge"),
        pytest.param(["Content-Length: " + "9" * 5000], b"hello", 413, id="past-int-digit-limit"),
        pytest.param(["Content-Length: 5", "Content-Length: 6"], b"hello!", 400, id="conflicting"),
        pytest.param(["Content-Length: 5, 6"], b"hello!", 400, id="conflicting-list"),
        pytest.param([], b"hello", 411, id="missing-with-body"),
        pytest.param(["Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n", 411, id="chunked"),
        pytest.param(["Content-Length: 100"], b"only part of it", 400, id="truncated"),
    ],
)
def test_bad_framing_gets_a_well_formed_4xx_and_reaches_no_handler(echo_adapter, capfd, headers, body, status):
    code, answer_headers, payload = _raw_exchange(echo_adapter, _post(headers, body))
    assert code == status
    assert answer_headers["content-type"] == "application/json" and json.loads(payload)["message"]
    assert echo_adapter.calls == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(["Content-Length: 5"], b"hello", id="plain"),
        pytest.param(["Content-Length: 5", "Content-Length: 5"], b"hello", id="duplicated-equal"),
        pytest.param(["Content-Length: 005"], b"hello", id="leading-zeros"),
        pytest.param(["Content-Length: 0"], b"", id="empty-body"),
    ],
)
def test_good_framing_reaches_the_handler_with_the_exact_body(echo_adapter, headers, body):
    code, _, _ = _raw_exchange(echo_adapter, _post(headers, body))
    assert code == 200 and echo_adapter.calls == [body]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.one_of(st.integers(-10, 10**12).map(str), st.text(st.characters(codec="latin-1"), max_size=12)),
        min_size=0,
        max_size=3,
    ),
    body=st.binary(max_size=64),
)
def test_any_content_length_gets_a_well_formed_answer(echo_adapter, capfd, values, body):
    headers = [f"Content-Length: {v}" for v in values if "\r" not in v and "\n" not in v]
    code, _, _ = _raw_exchange(echo_adapter, _post(headers, body))
    assert code in (200, 400, 411, 413)
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_keeps_the_connection_open_gets_an_answer_to_a_bad_length(echo_adapter):
    # Without a half-close: `Content-Length: -1` used to read until the client gave up.
    code, headers, _ = _raw_exchange(echo_adapter, _post(["Content-Length: -1"], b"x"), half_close=False)
    assert code == 400 and headers["connection"] == "close"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "LINK", "FOO", "get", "post"])
def test_any_method_token_is_routed_never_a_501(method):
    """The standard library answers 501 (a 5xx: "a retry will help") for every method without a `do_` handler.
    API Gateway answers 404 for a method no route names, and an `ANY` route takes every method."""

    def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"method": event["requestContext"]["http"]["method"]})}

    with HttpAdapter({"POST /only-post": echo, "ANY /any": echo}) as adapter:
        request = f"{method} /only-post HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
        code, _, payload = _raw_exchange(adapter, request)
        assert code == (200 if method == "POST" else 404), payload
        code, _, payload = _raw_exchange(
            adapter, f"{method} /any HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
        )
        assert (code, json.loads(payload)) == (200, {"method": method})
