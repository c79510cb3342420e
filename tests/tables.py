"""DynamoDB tables the tests create in moto, keyed as template.yaml keys them."""

from __future__ import annotations

from typing import Any


def create_ledger_table(client: Any, name: str) -> None:
    """A table keyed (pk, sk), both strings, on demand: the ledger's shape (LedgerTable in template.yaml)."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
