"""The local HTTP adapter turns real HTTP requests into HTTP API payload 2.0 events and back."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

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
