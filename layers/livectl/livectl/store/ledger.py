"""The ledger: one DynamoDB table holding each task's current state and the commands applied to it.

Item layout (docs/DESIGN.md):
- `pk = TASK#<provider>#<task_id>`, `sk = STATE`: current state, provider status (raw text), last error code,
  last request id, timestamps.
- `pk = TASK#<provider>#<task_id>`, `sk = CMD#<iso time>#<command key>`: one item per command applied.
- `pk = REJECTED#<yyyy-mm-dd>`, `sk = CMD#<iso time>#<key>`: commands rejected before a task id could be trusted.
- `pk = FAILED#<yyyy-mm-dd>`, `sk = <iso time>#<command key>`: one item per failed attempt (a provider refusal
  for good, or a transient failure handed back to the queue), so `livectl status` lists the latest failures and
  `livectl dlq` finds why a dead-lettered command failed without scanning the table.

Every write is safe to repeat: the STATE item only moves forward in time (a condition on `updated_at`), and a
command item is written once and marked `published` after its outcome event went out, so a redelivered command
neither rewinds the state nor publishes its event twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from livectl import aws
from livectl.store.table import (
    CONDITION_FAILED,
    STATE_SK,
    command_sk,
    failed_pk,
    iso,
    rejected_pk,
    task_pk,
)

COMMAND_TTL = timedelta(days=90)
REJECTED_TTL = timedelta(days=30)
FAILED_TTL = timedelta(days=30)  # outlives a DLQ's 14-day retention: a dead-lettered command's reason is still there
_CONDITION_FAILED = CONDITION_FAILED


def _av(value: Any) -> dict[str, Any]:
    """A DynamoDB attribute value. Nested data is stored as JSON text (floats and empty maps need no care)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    return {"S": json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        if "S" in value:
            out[name] = value["S"]
        elif "N" in value:
            number = value["N"]
            out[name] = int(number) if number.lstrip("-").isdigit() else float(number)
        elif "BOOL" in value:
            out[name] = value["BOOL"]
        elif "NULL" in value:
            out[name] = None
    return out


class Ledger:
    """DynamoDB adapter. Raises only livectl errors (`aws.aws_error` by code)."""

    def __init__(self, table_name: str, dynamodb_client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    # -- reads ------------------------------------------------------------------------------------------

    def get_state(self, provider: str, task_id: str) -> dict[str, Any] | None:
        try:
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"pk": _av(task_pk(provider, task_id)), "sk": _av(STATE_SK)},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger GetItem") from exc
        item = answer.get("Item")
        return _plain(item) if item else None

    def history(self, provider: str, task_id: str) -> list[dict[str, Any]]:
        """The task's command items, oldest first."""
        return self._query(task_pk(provider, task_id), "CMD#")

    def rejected(self, day: str) -> list[dict[str, Any]]:
        """Rejected commands of one UTC day (`yyyy-mm-dd`)."""
        return self._query(f"REJECTED#{day}", "CMD#")

    def failures(self, day: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Failed attempts of one UTC day (`yyyy-mm-dd`), newest first (at most `limit`)."""
        return self._query(f"FAILED#{day}", "", newest_first=True, limit=limit)

    def _query(
        self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        values = {":pk": _av(pk), ":prefix": _av(prefix)} if prefix else {":pk": _av(pk)}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk",
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        if limit is not None:
            kwargs["Limit"] = limit
        try:
            while True:
                answer = self.client.query(**kwargs)
                items.extend(_plain(i) for i in answer.get("Items", []))
                if "LastEvaluatedKey" not in answer or (limit is not None and len(items) >= limit):
                    return items[:limit] if limit is not None else items
                kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except Exception as exc:
            raise aws.aws_error(exc, "ledger Query") from exc

    # -- writes -----------------------------------------------------------------------------------------

    def update_state(
        self, provider: str, task_id: str, at: datetime, fields: Mapping[str, Any], *, keep_state: bool = False
    ) -> bool:
        """Set `fields` on the task's STATE item unless a newer update already landed. Returns whether it did.

        A field given as None is removed. `keep_state=True` writes `state` only if the item has none yet (notes
        about a failed attempt must not overwrite a settled state).
        """
        try:
            self.client.update_item(**self._state_update(provider, task_id, at, fields, keep_state))
        except Exception as exc:
            if aws.error_code(exc) == _CONDITION_FAILED:
                return False  # a newer update is already there: this one is old news
            raise aws.aws_error(exc, "ledger UpdateItem") from exc
        return True

    def _state_update(
        self, provider: str, task_id: str, at: datetime, fields: Mapping[str, Any], keep_state: bool
    ) -> dict[str, Any]:
        names: dict[str, str] = {"#updated_at": "updated_at"}
        values: dict[str, Any] = {":at": _av(iso(at))}
        sets = ["#updated_at = :at"]
        removes: list[str] = []
        for i, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
                continue
            values[f":v{i}"] = _av(value)
            if name == "state" and keep_state:
                sets.append(f"#f{i} = if_not_exists(#f{i}, :v{i})")
            else:
                sets.append(f"#f{i} = :v{i}")
        return {
            "TableName": self.table_name,
            "Key": {"pk": _av(task_pk(provider, task_id)), "sk": _av(STATE_SK)},
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": "attribute_not_exists(#updated_at) OR #updated_at <= :at",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def settle(
        self,
        provider: str,
        task_id: str,
        at: datetime,
        state: Mapping[str, Any],
        key: str,
        command: Mapping[str, Any],
        *,
        keep_state: bool = False,
        ttl: timedelta = COMMAND_TTL,
        failure: Mapping[str, Any] | None = None,
    ) -> bool:
        """The STATE update and the command item in ONE TransactWriteItems (one call instead of two; both or
        neither). Returns whether the command's event must still be published, as `record_command` does.
        `failure` (a failed command's FAILED#<day> fields) rides in the same transaction, unconditionally.

        The transaction is cancelled if either condition fails: the command item already published (a replay:
        its STATE write went in with it the first time, nothing to do) or a newer STATE (this outcome is old
        news for the state, but its command item and event are still owed: written on their own).
        """
        put = self._command_put(task_pk(provider, task_id), at, key, command, ttl)
        items: list[dict[str, Any]] = [
            {"Update": self._state_update(provider, task_id, at, state, keep_state)},
            {"Put": put},
        ]
        if failure is not None:
            items.append({"Put": self._failure_put(at, key, failure)})
        try:
            self.client.transact_write_items(TransactItems=items)
        except Exception as exc:
            if aws.error_code(exc) != "TransactionCanceledException":
                raise aws.aws_error(exc, "ledger TransactWriteItems") from exc
            reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons") or []]
            if len(reasons) == len(items) and reasons[1] == "ConditionalCheckFailed":
                return False  # the command item is there and its event went out
            if len(reasons) == len(items) and reasons[0] == "ConditionalCheckFailed":
                if failure is not None:
                    self.record_failure(at, key, failure)
                return self.record_command(task_pk(provider, task_id), at, key, command, ttl=ttl)
            raise aws.aws_error(exc, "ledger TransactWriteItems") from exc  # a conflict: retryable
        return True

    def record_command(self, pk: str, at: datetime, key: str, fields: Mapping[str, Any], *, ttl: timedelta) -> bool:
        """Write one command item. Returns False if the same item exists and its event was already published
        (a redelivery after a crash): the caller then skips publishing."""
        try:
            self.client.put_item(**self._command_put(pk, at, key, fields, ttl))
        except Exception as exc:
            if aws.error_code(exc) == _CONDITION_FAILED:
                return False
            raise aws.aws_error(exc, "ledger PutItem") from exc
        return True

    def _command_put(
        self, pk: str, at: datetime, key: str, fields: Mapping[str, Any], ttl: timedelta
    ) -> dict[str, Any]:
        stamp = iso(at)
        item = {name: _av(value) for name, value in fields.items() if value is not None}
        item.update(
            {
                "pk": _av(pk),
                "sk": _av(command_sk(stamp, key)),
                "at": _av(stamp),
                "expires_at": _av(int((at + ttl).timestamp())),
                "published": _av(False),
            }
        )
        return {
            "TableName": self.table_name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk) OR published = :false",
            "ExpressionAttributeValues": {":false": _av(False)},
        }

    def mark_published(self, pk: str, at: datetime, key: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": _av(pk), "sk": _av(command_sk(iso(at), key))},
                UpdateExpression="SET published = :true",
                ExpressionAttributeValues={":true": _av(True)},
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger UpdateItem") from exc

    def record_rejection(self, at: datetime, key: str, fields: Mapping[str, Any]) -> bool:
        return self.record_command(rejected_pk(at), at, key, fields, ttl=REJECTED_TTL)

    def record_failure(self, at: datetime, key: str, fields: Mapping[str, Any]) -> None:
        """Note one failed attempt under FAILED#<day> (repeating it rewrites the same item)."""
        try:
            self.client.put_item(**self._failure_put(at, key, fields))
        except Exception as exc:
            raise aws.aws_error(exc, "ledger PutItem") from exc

    def _failure_put(self, at: datetime, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        stamp = iso(at)
        item = {name: _av(value) for name, value in fields.items() if value is not None}
        item.update(
            {
                "pk": _av(failed_pk(at)),
                "sk": _av(f"{stamp}#{key}"),
                "at": _av(stamp),
                "command_key": _av(key),
                "expires_at": _av(int((at + FAILED_TTL).timestamp())),
            }
        )
        return {"TableName": self.table_name, "Item": item}
