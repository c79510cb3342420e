"""API Gateway's side of the receiver: the raw HTTP request inside an HTTP API (payload 2.0) event.

The reply goes back as `service.Reply.response()`. Nothing here looks at what the body says: `verify.py` does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livectl.webhook.callbacks import DEFAULT_MAX_BYTES, Rejection


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = field(repr=False)


def request_from_event(event: Mapping[str, Any], max_bytes: int = DEFAULT_MAX_BYTES) -> HttpRequest | Rejection:
    """The raw request inside an API Gateway HTTP API (payload 2.0) event; REST (1.0) events work too.

    The body is size-checked before it is decoded, so an oversize request costs nothing.
    """
    context = event.get("requestContext") if isinstance(event.get("requestContext"), Mapping) else {}
    assert isinstance(context, Mapping)
    http = context.get("http") if isinstance(context.get("http"), Mapping) else {}
    assert isinstance(http, Mapping)
    method = str(http.get("method") or event.get("httpMethod") or "").upper()
    path = str(http.get("path") or event.get("rawPath") or event.get("path") or "")
    raw_headers = event.get("headers")
    headers: dict[str, str] = {}
    if isinstance(raw_headers, Mapping):
        for name, value in raw_headers.items():
            if isinstance(name, str) and isinstance(value, str):
                headers[name.lower()] = value
    body_text = event.get("body")
    if body_text is None:
        body_text = ""
    if not isinstance(body_text, str):
        return Rejection(400, "bad_body", "body must be text")
    if event.get("isBase64Encoded"):
        if len(body_text) > 4 * ((max_bytes + 2) // 3):
            return Rejection(413, "too_large", f"body is larger than {max_bytes} bytes")
        try:
            body = base64.b64decode(body_text, validate=True)
        except (binascii.Error, ValueError):
            return Rejection(400, "bad_encoding", "body is not valid base64")
    else:
        if len(body_text) > max_bytes:  # each character is at least one byte
            return Rejection(413, "too_large", f"body is larger than {max_bytes} bytes")
        body = body_text.encode("utf-8", "replace")
    return HttpRequest(method, path, headers, body)
