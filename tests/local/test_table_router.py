"""The table router: which table a DynamoDB request names, and that clients made while it is installed (and only
those) send a routed table's requests to that table's moto process."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from livectl_cli.local.table_router import TableRouter

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize(
    ("body", "table"),
    [
        ({"TableName": "Idem", "Item": {}}, "Idem"),
        (
            {"TransactItems": [{"Put": {"TableName": "Ledger", "Item": {}}}, {"Update": {"TableName": "Ledger"}}]},
            "Ledger",
        ),
        ({"RequestItems": {"Idem": []}}, "Idem"),
        ({}, None),
        (None, None),
    ],
)
def test_the_table_each_request_names(body: Any, table: str | None) -> None:
    assert TableRouter.table_of(json.dumps(body).encode() if body is not None else b"not json") == table


def test_a_routed_tables_request_goes_to_its_process_only() -> None:
    router = TableRouter({"Idem": "http://127.0.0.1:9002"})
    routed = SimpleNamespace(url="http://127.0.0.1:9001/", body=json.dumps({"TableName": "Idem"}).encode())
    other = SimpleNamespace(url="http://127.0.0.1:9001/", body=json.dumps({"TableName": "Ledger"}).encode())
    router._route(routed)
    router._route(other)
    assert (routed.url, other.url) == ("http://127.0.0.1:9002/", "http://127.0.0.1:9001/")


class Sent(Exception):
    """Raised by the last before-send handler: the URL a request would have gone to, and no network."""


def sent_to(table: str) -> str:
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9001",
        region_name="ap-southeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def capture(request: Any, **_: Any) -> None:
        raise Sent(request.url)

    client.meta.events.register("before-send.dynamodb", capture)  # after the session's handlers, the router's
    with pytest.raises(Sent) as sent:
        client.describe_table(TableName=table)
    return str(sent.value)


def test_clients_made_while_installed_route_and_none_after_uninstall() -> None:
    router = TableRouter({"Idem": "http://127.0.0.1:9002"}).install()
    try:
        routed, other = sent_to("Idem"), sent_to("Ledger")
    finally:
        router.uninstall()
    after = sent_to("Idem")
    assert routed.startswith("http://127.0.0.1:9002/")
    assert other.startswith("http://127.0.0.1:9001/") and after.startswith("http://127.0.0.1:9001/")
