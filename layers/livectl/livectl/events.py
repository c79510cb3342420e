"""Outcome events on the stack's EventBridge bus. Source `livectl`; detail-types are fixed names
(`Task Stopped`, `Command Rejected`, `Recording Uploaded`, ...), documented in the README.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from livectl import aws

SOURCE = "livectl"

DETAIL_TYPES = (
    "Task Stopped",
    "Task Stop Failed",
    "Task Restarted",
    "Task Restart Failed",
    "Task Status",
    "Command Rejected",
    "Stop Scheduled",
    "Stop Cancelled",
    "Recording Uploaded",
    "Recording Upload Failed",
    "Relay Status Changed",
    "Guard Armed",
    "Guard Disarmed",
)


class EventPublisher:
    """Puts one event per call on `bus_name`. Failures become AwsServiceError (retried by the caller's queue)."""

    def __init__(self, bus_name: str, events_client: Any | None = None) -> None:
        self.bus_name = bus_name
        self._client = events_client

    @property
    def client(self) -> Any:
        return self._client or aws.client("events")

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if detail_type not in DETAIL_TYPES:
            raise ValueError(f"unknown detail-type {detail_type!r}")
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False, default=str),
            "EventBusName": self.bus_name,
        }
        try:
            answer = self.client.put_events(Entries=[entry])
        except Exception as exc:
            raise aws.aws_error(exc, f"PutEvents {detail_type}") from exc
        if answer.get("FailedEntryCount"):
            code = answer["Entries"][0].get("ErrorCode", "PutEventsFailed")
            raise aws.AwsServiceError(f"PutEvents {detail_type} failed", code=code, provider="aws")
