"""What goes over the wire between a client and the emulator: the parsed request, the reply, and both providers'
envelopes and error codes (Volcengine's HTTP status and CodeN per code; TRTC answers every error with 200)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from livectl.providers.catalogue import VOLCENGINE

# Volcengine: HTTP status and CodeN per code (the seeds' error tables; providers.md 4.2 for gateway codes).
VOLC_STATUS: dict[str, tuple[int, int | None]] = {
    "CommonErr": (200, None),
    "InvalidParam": (400, None),
    "InvalidParam.BindError": (400, None),
    "MissingParameter": (400, 100002),
    "MissingRequestInfo": (400, 100004),
    "InvalidTimestamp": (400, 100006),
    "InvalidActionOrVersion": (404, 100008),
    "InvalidAccessKey": (401, 100009),
    "SignatureDoesNotMatch": (401, 100010),
    "ResourceNotFound": (404, None),
    "FlowLimitExceeded": (429, None),
    "ServiceUnavailableTemp": (503, None),
    "InternalError": (500, 100014),
    "InternalServiceError": (502, None),
    "InternalServiceTimeout": (504, 100016),
}
VOLC_MESSAGES: dict[str, str] = {
    "InvalidParam.BindError": "Request parameter error, please check input data",
    "InternalError": "an internal error occurred, please contact the administrator.",
    "InternalServiceError": "an internal error occurred, please contact the administrator.",
    "InternalServiceTimeout": "Internal Service is timeout. please contact the administrator.",
    "FlowLimitExceeded": "Flow limit exceeded, please try again later.",
    "CommonErr": "未分类错误。建议重试",
    "ServiceUnavailableTemp": "Service is temporarily unavailable, please try again later.",
}
HTTP_FAULT_CODES = {
    "http_500": "InternalError",
    "http_502": "InternalServiceError",
    "http_504": "InternalServiceTimeout",
    "http_503": "ServiceUnavailableTemp",
}
GATEWAY_PAGES = {
    "http_500": (500, "Internal Server Error"),
    "http_502": (502, "Bad Gateway"),
    "http_504": (504, "Gateway Timeout"),
}


@dataclass
class Reply:
    status: int
    body: bytes
    # exactly "application/json": the Tencent SDK reads Response.Error only under that Content-Type
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0  # seconds to wait before answering (latency + delay fault)
    mangle: str | None = None  # "drop", "truncated" (the HTTP layer carries these out)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Any  # a Mapping or http.server's Message; look up with `header()` (case-insensitive)
    body: bytes
    remote: str = ""

    def header(self, name: str) -> str | None:
        getter = getattr(self.headers, "get", None)
        value = getter(name) if getter else None
        if value is None:
            lowered = name.lower()
            for k, v in self.headers.items():
                if k.lower() == lowered:
                    return v
        return value


class CallError(Exception):
    """A provider error code and message, raised where an action refuses a call."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


class Envelope:
    """Both providers' envelopes (request id, action, version, region) for one call."""

    def __init__(self, provider: str, action: str, version: str, request_id: str) -> None:
        self.provider = provider
        self.action = action
        self.version = version
        self.request_id = request_id
        self.region = "cn-north-1"

    def _metadata(self) -> dict[str, Any]:
        return {
            "RequestId": self.request_id,
            "Action": self.action,
            "Version": self.version,
            "Service": "live",
            "Region": self.region,
        }

    def success(self, result: dict[str, Any]) -> Reply:
        if self.provider == VOLCENGINE:
            doc: dict[str, Any] = {"ResponseMetadata": self._metadata()}
            if "Result" in result:
                doc["Result"] = result["Result"]
            return Reply(200, _dumps(doc))
        return Reply(200, _dumps({"Response": {**result, "RequestId": self.request_id}}))

    def error(self, code: str, message: str) -> Reply:
        if self.provider == VOLCENGINE:
            status, code_n = VOLC_STATUS.get(code, (400, None))
            error: dict[str, Any] = {"Code": code}
            if code_n is not None:
                error["CodeN"] = code_n
            error["Message"] = message
            meta = self._metadata()
            meta["Error"] = error
            return Reply(status, _dumps({"ResponseMetadata": meta}))
        return Reply(
            200, _dumps({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": self.request_id}})
        )
