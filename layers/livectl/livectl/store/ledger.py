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

Published once, also when two copies of one command run at the same moment (two containers, one batch): the writer
of a command item stamps a publishing lease on it (`publishing_until`, epoch ms: when its invocation is over at the
latest). A copy that meets the item unpublished under a live lease is handed back (`PublishInProgress`, retryable):
by its next receive the first copy has published, or died, and then its lease is over and the copy publishes. A
writer whose publish fails lifts its lease before it raises, so its own redelivery need not wait for it.

Values go through `livectl.store.codec` (nested values as maps and lists); reads go through
`livectl.store.table.read_item`, which also reads items written by the first codec (nested values as JSON text).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from livectl import aws
from livectl.errors import AwsServiceError
from livectl.store.codec import to_av
from livectl.store.table import (
    CONDITION_FAILED,
    STATE_SK,
    command_sk,
    failed_pk,
    iso,
    query,
    read_item,
    rejected_pk,
    task_pk,
)

COMMAND_TTL = timedelta(days=90)
# How long a writer may still be publishing a command's event when it cannot say (no invocation deadline): twice
# the functions' 30 s timeout (template.yaml Globals), by when a writer has published or been stopped.
PUBLISH_LEASE = timedelta(seconds=60)
PUBLISH_IN_PROGRESS = "PublishInProgress"  # the AwsServiceError code of a copy handed back under a live lease
REJECTED_TTL = timedelta(days=30)
FAILED_TTL = timedelta(days=30)  # outlives a DLQ's 14-day retention: a dead-lettered command's reason is still there


class Publisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One command item and the outcome event it announces. With `state`, the task's STATE update (and a
    failure's FAILED#<day> item) ride in the same transaction as the command item."""

    pk: str
    at: datetime
    key: str
    fields: Mapping[str, Any]
    detail_type: str
    detail: Mapping[str, Any]
    ttl: timedelta = COMMAND_TTL
    state: Mapping[str, Any] | None = None
    keep_state: bool = False
    failure: Mapping[str, Any] | None = None

    @classmethod
    def rejection(cls, at: datetime, key: str, fields: Mapping[str, Any], detail: Mapping[str, Any]) -> Entry:
        """A command refused before a task id could be trusted: kept under REJECTED#<day>, `Command Rejected`."""
        return cls(rejected_pk(at), at, key, fields, "Command Rejected", detail, ttl=REJECTED_TTL)


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _replay_owes(old: Mapping[str, Any] | None) -> bool:
    """A command item's condition failed: published (a replay: False, nothing owed) or leased by a live writer (hand
    the record back: by its next receive that writer has published, or its lease is over)."""
    if old is None or old.get("published", {}).get("BOOL", True):
        return False
    raise AwsServiceError(
        "another copy of this command is publishing its outcome; handed back to the queue",
        code=PUBLISH_IN_PROGRESS,
        provider="aws",
    )


def _values(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_av(value) for name, value in fields.items() if value is not None}


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
                Key={"pk": to_av(task_pk(provider, task_id)), "sk": to_av(STATE_SK)},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger GetItem") from exc
        item = answer.get("Item")
        return read_item(item) if item else None

    def history(self, provider: str, task_id: str) -> list[dict[str, Any]]:
        """The task's command items, oldest first."""
        return query(self.client, self.table_name, task_pk(provider, task_id), "CMD#")

    def rejected(self, day: str) -> list[dict[str, Any]]:
        """Rejected commands of one UTC day (`yyyy-mm-dd`)."""
        return query(self.client, self.table_name, f"REJECTED#{day}", "CMD#")

    def failures(self, day: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Failed attempts of one UTC day (`yyyy-mm-dd`), newest first (at most `limit`)."""
        return query(self.client, self.table_name, f"FAILED#{day}", newest_first=True, limit=limit)

    # -- writes -----------------------------------------------------------------------------------------

    def update_state(
        self, provider: str, task_id: str, at: datetime, fields: Mapping[str, Any], *, keep_state: bool = False
    ) -> bool:
        """Set `fields` on the task's STATE item unless a newer update already landed. Returns whether it did.

        A field given as None is removed. `keep_state=True` writes `state` only if the item has none yet (notes
        about a failed attempt must not overwrite a settled state).
        """
        try:
            self.client.update_item(**self._state_update(task_pk(provider, task_id), at, fields, keep_state))
        except Exception as exc:
            if aws.error_code(exc) == CONDITION_FAILED:
                return False  # a newer update is already there: this one is old news
            raise aws.aws_error(exc, "ledger UpdateItem") from exc
        return True

    def _state_update(self, pk: str, at: datetime, fields: Mapping[str, Any], keep_state: bool) -> dict[str, Any]:
        names: dict[str, str] = {"#updated_at": "updated_at"}
        values: dict[str, Any] = {":at": to_av(iso(at))}
        sets = ["#updated_at = :at"]
        removes: list[str] = []
        for i, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
                continue
            values[f":v{i}"] = to_av(value)
            if name == "state" and keep_state:
                sets.append(f"#f{i} = if_not_exists(#f{i}, :v{i})")
            else:
                sets.append(f"#f{i} = :v{i}")
        return {
            "TableName": self.table_name,
            "Key": {"pk": to_av(pk), "sk": to_av(STATE_SK)},
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": "attribute_not_exists(#updated_at) OR #updated_at <= :at",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def record_and_publish(
        self, entry: Entry, publisher: Publisher, *, now: datetime, lease: timedelta = PUBLISH_LEASE
    ) -> bool:
        """Command item (with the STATE update, if any, in one transaction) under a publishing lease until
        `now + lease`, then the event, then the `published` mark: a replay publishes at most once more (only if the
        previous attempt died between the event and the mark). Returns False when the item was already published
        (a redelivered duplicate): nothing is sent. Raises `PublishInProgress` (retryable) while another copy holds
        the lease."""
        until = now + lease
        if entry.state is None:
            owed = self.record_command(entry.pk, entry.at, entry.key, entry.fields, ttl=entry.ttl, now=now, until=until)
        else:
            owed = self.settle(entry, now=now, until=until)
        if owed:
            try:
                publisher.publish(entry.detail_type, entry.detail)
            except BaseException:
                self._lift_lease(entry.pk, entry.at, entry.key)
                raise
            self.mark_published(entry.pk, entry.at, entry.key)
        return owed

    def settle(self, entry: Entry, *, now: datetime, until: datetime) -> bool:
        """The STATE update and the command item in ONE TransactWriteItems (one call instead of two; both or
        neither). Returns whether the command's event must still be published, as `record_command` does.
        `failure` (a failed command's FAILED#<day> fields) rides in the same transaction, unconditionally.

        The transaction is cancelled if either condition fails: the command item is there, published or leased (a
        replay: its STATE write went in with it the first time) or a newer STATE (this outcome is old news for the
        state, but its command item and event are still owed: written on their own).
        """
        assert entry.state is not None
        items: list[dict[str, Any]] = [
            {"Update": self._state_update(entry.pk, entry.at, entry.state, entry.keep_state)},
            {"Put": self._command_put(entry.pk, entry.at, entry.key, entry.fields, entry.ttl, now, until)},
        ]
        if entry.failure is not None:
            items.append({"Put": self._failure_put(entry.at, entry.key, entry.failure)})
        try:
            self.client.transact_write_items(TransactItems=items)
        except Exception as exc:
            if aws.error_code(exc) != "TransactionCanceledException":
                raise aws.aws_error(exc, "ledger TransactWriteItems") from exc
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            codes = [reason.get("Code") for reason in reasons]
            if len(codes) == len(items) and codes[1] == "ConditionalCheckFailed":
                return _replay_owes(reasons[1].get("Item"))
            if len(codes) == len(items) and codes[0] == "ConditionalCheckFailed":
                if entry.failure is not None:
                    self.record_failure(entry.at, entry.key, entry.failure)
                return self.record_command(
                    entry.pk, entry.at, entry.key, entry.fields, ttl=entry.ttl, now=now, until=until
                )
            raise aws.aws_error(exc, "ledger TransactWriteItems") from exc  # a conflict: retryable
        return True

    def record_command(
        self,
        pk: str,
        at: datetime,
        key: str,
        fields: Mapping[str, Any],
        *,
        ttl: timedelta,
        now: datetime,
        until: datetime | None = None,
    ) -> bool:
        """Write one command item, leased until `until` (default `now + PUBLISH_LEASE`). Returns False if the same
        item exists and its event was already published (a redelivery after a crash): the caller then skips
        publishing. Raises `PublishInProgress` if it exists unpublished under another writer's live lease."""
        put = self._command_put(pk, at, key, fields, ttl, now, until or now + PUBLISH_LEASE)
        try:
            self.client.put_item(**put)
        except Exception as exc:
            if aws.error_code(exc) == CONDITION_FAILED:
                return _replay_owes(getattr(exc, "response", {}).get("Item"))
            raise aws.aws_error(exc, "ledger PutItem") from exc
        return True

    def _command_put(
        self, pk: str, at: datetime, key: str, fields: Mapping[str, Any], ttl: timedelta, now: datetime, until: datetime
    ) -> dict[str, Any]:
        stamp = iso(at)
        item = _values(fields)
        item.update(
            _values(
                {
                    "pk": pk,
                    "sk": command_sk(stamp, key),
                    "at": stamp,
                    "expires_at": int((at + ttl).timestamp()),
                    "published": False,
                    "publishing_until": _epoch_ms(until),
                }
            )
        )
        return {
            "TableName": self.table_name,
            "Item": item,
            # Items written before the lease existed have none: unpublished, they are owed as before.
            "ConditionExpression": "attribute_not_exists(pk) OR (published = :false AND "
            "(attribute_not_exists(publishing_until) OR publishing_until <= :now))",
            "ExpressionAttributeValues": {":false": to_av(False), ":now": to_av(_epoch_ms(now))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def mark_published(self, pk: str, at: datetime, key: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": to_av(pk), "sk": to_av(command_sk(iso(at), key))},
                UpdateExpression="SET published = :true REMOVE publishing_until",
                ExpressionAttributeValues={":true": to_av(True)},
            )
        except Exception as exc:
            raise aws.aws_error(exc, "ledger UpdateItem") from exc

    def _lift_lease(self, pk: str, at: datetime, key: str) -> None:
        """Best effort after a failed publish: the redelivery publishes at once instead of after the lease. If this
        fails too, the lease simply runs out."""
        with contextlib.suppress(Exception):  # the lease's own end is the fallback
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": to_av(pk), "sk": to_av(command_sk(iso(at), key))},
                UpdateExpression="REMOVE publishing_until",
                ConditionExpression="published = :false",
                ExpressionAttributeValues={":false": to_av(False)},
            )

    def record_rejection(self, at: datetime, key: str, fields: Mapping[str, Any]) -> bool:
        return self.record_command(rejected_pk(at), at, key, fields, ttl=REJECTED_TTL, now=at)

    def record_failure(self, at: datetime, key: str, fields: Mapping[str, Any]) -> None:
        """Note one failed attempt under FAILED#<day> (repeating it rewrites the same item)."""
        try:
            self.client.put_item(**self._failure_put(at, key, fields))
        except Exception as exc:
            raise aws.aws_error(exc, "ledger PutItem") from exc

    def _failure_put(self, at: datetime, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        stamp = iso(at)
        item = _values(fields)
        item.update(
            _values(
                {
                    "pk": failed_pk(at),
                    "sk": f"{stamp}#{key}",
                    "at": stamp,
                    "command_key": key,
                    "expires_at": int((at + FAILED_TTL).timestamp()),
                }
            )
        )
        return {"TableName": self.table_name, "Item": item}
