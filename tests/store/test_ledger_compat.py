"""The one ledger codec (`livectl.store.codec`) and items written by the first one.

Until issue 11 the ledger wrote every nested value as JSON text in an `S` (`old_av` below, copied from the old
`livectl.ledger._av`) and read only scalars back (`old_plain`, the old `_plain`). Items in that form stay in the
table for up to 90 days (COMMAND_TTL), so the new adapter and the CLI's reader must read them as the old code
did, with the one nested field the ledger writes (`params`) read back as the data it was written from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl import aws, runtime
from livectl.bounds import clip_json
from livectl.store import codec, table
from livectl.store.ledger import COMMAND_TTL, Entry, Ledger
from tests.tables import create_ledger_table

pytestmark = pytest.mark.aws

REGION = "ap-southeast-1"
LEDGER = "compat-ledger"
T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------------------
# The first codec, verbatim: the fixture writer and what the old code read.
# ------------------------------------------------------------------------------------------------------------
def old_av(value: Any) -> dict[str, Any]:
    """A DynamoDB attribute value. Nested data is stored as JSON text (floats and empty maps need no care)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    return {"S": json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)}


def old_plain(item: Mapping[str, Any]) -> dict[str, Any]:
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


def old_item(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: old_av(value) for name, value in fields.items() if value is not None}


def as_written(old_read: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """What the old code read, with `params` as the value it was written from."""
    return {**old_read, **({"params": fields["params"]} if "params" in fields else {})}


# ------------------------------------------------------------------------------------------------------------
# Items in the old form, one per kind of writer
# ------------------------------------------------------------------------------------------------------------
TASK_PK = table.task_pk("volcengine", "rec-1")
STAMP = table.iso(T0)
CLIPPED = clip_json({"TaskId": "x" * 5000})  # params too long to keep: stored as clipped JSON text
assert isinstance(CLIPPED, str)


def command_fields(key: str, params: Any, **more: Any) -> dict[str, Any]:
    return {
        "pk": TASK_PK,
        "sk": table.command_sk(STAMP, key),
        "at": STAMP,
        "expires_at": int((T0 + COMMAND_TTL).timestamp()),
        "published": True,
        "action": "StopPullRecordTask",
        "account": "default",
        "command_key": key,
        "params": params,
        **more,
    }


OLD_ITEMS: list[dict[str, Any]] = [
    {
        "pk": TASK_PK,
        "sk": table.STATE_SK,
        "updated_at": STAMP,
        "state": "stopped",
        "kind": "pull_record",
        "provider": "volcengine",
        "task_id": "rec-1",
        "provider_status": "停用",
        "last_outcome": "done",
        "receive_count": 3,
    },
    command_fields("k-applied", {"TaskId": "rec-1"}, outcome="done", state="stopped", lateness_ms=12),
    command_fields("k-unicode", {"TaskId": "录制-1 ✓", "GroupName": ""}, outcome="failed", reason="拒绝"),
    command_fields("k-clipped", CLIPPED, outcome="failed"),
    command_fields("k-stale", {"TaskId": "rec-1"}, outcome="stale", not_after=STAMP),
    {
        "pk": TASK_PK,
        "sk": table.command_sk(STAMP, "schedule:abc"),
        "at": STAMP,
        "published": False,
        "kind": "schedule",
        "outcome": "created",
        "schedule": "stop-pullrec-0123456789abcdef",
    },
]


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    runtime.reset()
    with mock_aws():
        client = aws.client("dynamodb")
        create_ledger_table(client, LEDGER)
        yield client
    runtime.reset()


def put_old(ddb: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    item = old_item(fields)
    ddb.put_item(TableName=LEDGER, Item=item)
    return item


def test_items_in_the_old_form_read_as_the_old_code_read_them(ddb: Any) -> None:
    from livectl_cli.commands.task import ledger_items

    expected = {}
    for fields in OLD_ITEMS:
        expected[fields["sk"]] = as_written(old_plain(put_old(ddb, fields)), fields)
    ledger = Ledger(LEDGER, ddb)

    assert ledger.get_state("volcengine", "rec-1") == expected[table.STATE_SK]
    history = {i["sk"]: i for i in ledger.history("volcengine", "rec-1")}
    assert history == {sk: item for sk, item in expected.items() if sk.startswith("CMD#")}
    assert {i["sk"]: i for i in ledger_items(LEDGER, "volcengine", "rec-1")} == expected  # `livectl task`
    assert history[table.command_sk(STAMP, "k-applied")]["params"] == {"TaskId": "rec-1"}
    assert history[table.command_sk(STAMP, "k-clipped")]["params"] == CLIPPED  # a string in both forms


def test_rejections_and_failures_in_the_old_form_read_as_before(ddb: Any) -> None:
    rejected = {
        "pk": table.rejected_pk(T0),
        "sk": table.command_sk(STAMP, "m-1"),
        "at": STAMP,
        "published": True,
        "action": "StopPullRecordTask",
        "outcome": "rejected",
        "field": "params.TaskID",
        "reason": "params.TaskID is not a parameter",
        "body_sha256": "ab" * 32,
    }
    failure = {
        "pk": table.failed_pk(T0),
        "sk": f"{STAMP}#k-1",
        "at": STAMP,
        "command_key": "k-1",
        "outcome": "retrying",
        "error_code": "ServiceUnavailable",
        "receive_count": 2,
    }
    old_rejected, old_failure = old_plain(put_old(ddb, rejected)), old_plain(put_old(ddb, failure))
    ledger = Ledger(LEDGER, ddb)
    assert ledger.rejected(T0.date().isoformat()) == [old_rejected]
    assert ledger.failures(T0.date().isoformat()) == [old_failure]


params_values = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(st.text(max_size=40), st.integers(-(10**15), 10**15), st.booleans()),
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=params_values)
def test_any_params_written_in_the_old_form_read_back_as_written(ddb: Any, params: dict[str, Any]) -> None:
    ddb.put_item(TableName=LEDGER, Item=old_item(command_fields("k-any", params)))
    [item] = Ledger(LEDGER, ddb).history("volcengine", "rec-1")
    assert item["params"] == params


def test_the_new_form_stores_nested_values_as_maps_and_reads_them_back(ddb: Any) -> None:
    class Bus:
        def __init__(self) -> None:
            self.sent: list[tuple[str, Mapping[str, Any]]] = []

        def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
            self.sent.append((detail_type, detail))

    ledger, bus = Ledger(LEDGER, ddb), Bus()
    params = {"TaskId": "rec-2", "GroupName": "g"}
    entry = Entry(table.task_pk("volcengine", "rec-2"), T0, "k-new", {"params": params}, "Task Stopped", {"a": 1})
    assert ledger.record_and_publish(entry, bus, now=T0)
    assert not ledger.record_and_publish(entry, bus, now=T0)  # published once
    assert bus.sent == [("Task Stopped", {"a": 1})]
    [raw] = ddb.query(
        TableName=LEDGER,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": table.task_pk("volcengine", "rec-2")}},
    )["Items"]
    assert raw["params"] == {"M": {"TaskId": {"S": "rec-2"}, "GroupName": {"S": "g"}}}
    assert ledger.history("volcengine", "rec-2")[0]["params"] == params


def test_expiry_stays_a_number_the_ttl_reads(ddb: Any) -> None:
    entry = Entry(TASK_PK, T0, "k-ttl", {}, "Task Stopped", {}, ttl=timedelta(days=1))
    Ledger(LEDGER, ddb).record_command(entry.pk, entry.at, entry.key, entry.fields, ttl=entry.ttl, now=T0)
    [raw] = ddb.scan(TableName=LEDGER)["Items"]
    assert raw["expires_at"] == {"N": str(int((T0 + timedelta(days=1)).timestamp()))}


# ------------------------------------------------------------------------------------------------------------
# The codec on its own
# ------------------------------------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(-(10**37), 10**37),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f == 0 or 1e-120 < abs(f) < 1e120),
)
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=30), numbers)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_codec_round_trips_maps_lists_floats_unicode_and_empty_maps(value: Any) -> None:
    assert codec.from_av(codec.to_av(value)) == value
    assert codec.from_item(codec.to_item({"v": value})) == {"v": value}


@pytest.mark.parametrize("value", [{}, [], {"a": {}}, [{}], 1.5, -0.25, "", "录制 ✓ \U0001f600"])
def test_codec_edge_values(value: Any) -> None:
    assert codec.from_av(codec.to_av(value)) == value


@pytest.mark.parametrize("value", [4.918745422014871e16, 1e20, -(2.0**60), 10**20, 2**63 + 1])
def test_large_numbers_read_back_as_the_same_number(value: Any) -> None:
    """A float past 2**53 is whole; its repr has an exponent, and reading it as int(Decimal(repr)) gave a
    different number (4.918745422014871e16 came back as 49187454220148710)."""
    read = codec.from_av(codec.to_av(value))
    assert read == value and type(read) is type(value)


def test_a_whole_float_reads_back_as_an_int_and_json_can_dump_every_number() -> None:
    read = codec.from_av(codec.to_av({"a": 2.0, "b": 0.1, "c": 10**20}))
    assert read == {"a": 2, "b": 0.1, "c": 10**20}
    assert type(read["a"]) is int and type(read["b"]) is float
    json.dumps(read)
