"""The ledger table's keys and its one paginated query, shared by every reader and writer of the table.

Item layout: docs/DESIGN.md ("The ledger"). Every timestamp in a key or a field has one sortable form (`iso`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from livectl import aws
from livectl.store.codec import from_item, to_av

STATE_SK = "STATE"
CONDITION_FAILED = "ConditionalCheckFailedException"


def iso(at: datetime) -> str:
    """One sortable form for every timestamp in the table (UTC, microseconds)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def task_pk(provider: str, task_id: str) -> str:
    return f"TASK#{provider}#{task_id}"


def rejected_pk(at: datetime) -> str:
    return f"REJECTED#{at.astimezone(UTC).date().isoformat()}"


def failed_pk(at: datetime) -> str:
    return f"FAILED#{at.astimezone(UTC).date().isoformat()}"


def command_sk(at: str, key: str) -> str:
    return f"CMD#{at}#{key}"


# The ledger's first codec stored every nested value as JSON text in an S. Of what the ledger writes, a command's
# `params` is the one nested field; items written in that form (kept up to 90 days) read back as the data they
# were written from. A `params` that is not JSON text of an object (params clipped by `bounds.clip_json`, which
# are a string in either form) stays a string.
JSON_TEXT_FIELDS = ("params",)


def read_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """One ledger item as plain data, whichever codec wrote it."""
    plain = from_item(item)
    for name in JSON_TEXT_FIELDS:
        value = plain.get(name)
        if isinstance(value, str):
            plain[name] = _json_object(value)
    return plain


def _json_object(text: str) -> Any:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, dict) else text


def query(
    client: Any, table_name: str, pk: str, prefix: str = "", *, newest_first: bool = False, limit: int | None = None
) -> list[dict[str, Any]]:
    """The items of one partition (those whose sort key starts with `prefix`), as plain data, all pages read."""
    values = {":pk": to_av(pk), ":prefix": to_av(prefix)} if prefix else {":pk": to_av(pk)}
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk",
        "ExpressionAttributeValues": values,
        "ConsistentRead": True,
        "ScanIndexForward": not newest_first,
    }
    if limit is not None:
        kwargs["Limit"] = limit
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = client.query(**kwargs)
            items.extend(read_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except Exception as exc:
        raise aws.aws_error(exc, "ledger Query") from exc
