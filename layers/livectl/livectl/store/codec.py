"""The one codec between plain data and DynamoDB attribute values, for every item of the ledger table.

boto3's own `TypeSerializer`/`TypeDeserializer` do the work, so maps and lists round-trip as maps and lists.
Around them, two conventions of the ledger: a float is written as a number (boto3 accepts only `Decimal`), and a
number reads back as an `int` when it is written as a whole number (`3`, `3.0`), else a `float` (boto3 gives
`Decimal`, which `json` cannot dump). A float past 2**53 is whole but written with an exponent (`4.9E+16`): it reads
back as that float, not as an int the float never was.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any


@cache
def _serializers() -> tuple[Any, Any]:
    # boto3 costs ~100 ms to import; a function's init must not pay it before its first ledger call.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _to_storable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _to_storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_storable(v) for v in value]
    if isinstance(value, int | str | bytes | Decimal):
        return value
    return str(value)


def _to_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        whole = isinstance(exponent, int) and exponent <= 0 and value == value.to_integral_value()
        return int(value) if whole else float(value)
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    if isinstance(value, set):
        return {_to_plain(v) for v in value}
    return value


def to_av(value: Any) -> dict[str, Any]:
    """One attribute value (str, int, float, bool, None, maps and lists of them; anything else as its text)."""
    result: dict[str, Any] = _serializers()[0].serialize(_to_storable(value))
    return result


def from_av(value: Mapping[str, Any]) -> Any:
    return _to_plain(_serializers()[1].deserialize(dict(value)))


def to_item(fields: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: to_av(value) for name, value in fields.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: from_av(value) for name, value in item.items()}
