"""Each DynamoDB request to the moto process holding its table.

In AWS every table scales on its own; one moto process is one GIL, and at ~6 CPU ms a call moto's DynamoDB capped
StopPullRecordTask's lane (issue 12). The local stack (`LocalConfig.moto_processes`) and the drain bench therefore
serve the idempotency tables from a moto process of their own. A botocore `before-send` hook on boto3's default
session, which livectl's clients (`livectl.aws`) and Powertools' idempotency store (given our client) are made from:
a request naming a routed table (TableName, or the first of TransactItems / RequestItems) goes to that table's
endpoint. moto does not check signatures, so the host the request was signed for does not matter. Only clients
made after `install()` carry the hook (botocore copies the session's handlers into each client).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

EVENT = "before-send.dynamodb"


class TableRouter:
    def __init__(self, endpoints: dict[str, str]) -> None:
        self.endpoints = {table: urllib.parse.urlsplit(url) for table, url in endpoints.items()}
        self._session: Any = None

    def install(self) -> TableRouter:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        self._session = boto3.DEFAULT_SESSION
        self._session.events.register(EVENT, self._route)
        return self

    def uninstall(self) -> None:
        """Clients made from now on send every request to their own endpoint again."""
        if self._session is not None:
            self._session.events.unregister(EVENT, self._route)
            self._session = None

    @staticmethod
    def table_of(body: Any) -> str | None:
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return None
        if "TableName" in doc:
            return str(doc["TableName"])
        for item in doc.get("TransactItems") or []:
            for operation in item.values():
                return str(operation.get("TableName"))
        for table in doc.get("RequestItems") or {}:
            return str(table)
        return None

    def _route(self, request: Any, **_: Any) -> None:
        target = self.endpoints.get(self.table_of(request.body) or "")
        if target is not None:
            parts = urllib.parse.urlsplit(request.url)
            request.url = urllib.parse.urlunsplit((target.scheme, target.netloc, *parts[2:]))


def route_idempotency_tables(specs: Iterable[Any], endpoint: str) -> TableRouter:
    """Installed before any DynamoDB client is made, so that CreateTable goes to `endpoint` too: every function's
    IDEMPOTENCY_TABLE (`specs`: the stack's FunctionSpecs) to the moto process at `endpoint`."""
    tables = {s.environment["IDEMPOTENCY_TABLE"] for s in specs if "IDEMPOTENCY_TABLE" in s.environment}
    return TableRouter(dict.fromkeys(tables, endpoint)).install()
