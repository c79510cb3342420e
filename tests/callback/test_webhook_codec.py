"""The webhook writes through the ledger's one codec (livectl.store.codec) since issue 11; its items must not change.

`old_to_av`/`old_from_av` are the webhook's own codec as it was (webhook/store.py at commit 0403dfc), kept here as
the oracle: for every value a callback writes (integers within `callbacks._MAX_INT`, text, booleans, None, and
maps and lists of them: file records, upload errors), the attribute value is the same, and both read it back as
the value written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl.store.codec import from_av, to_av

pytestmark = pytest.mark.unit


def old_to_av(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): old_to_av(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [old_to_av(v) for v in value]}
    return {"S": str(value)}


def old_from_av(value: Mapping[str, Any]) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        text = value["N"]
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if "BOOL" in value:
        return value["BOOL"]
    if "M" in value:
        return {k: old_from_av(v) for k, v in value["M"].items()}
    if "L" in value:
        return [old_from_av(v) for v in value["L"]]
    return None


written_scalars = st.none() | st.booleans() | st.integers(-(10**18) + 1, 10**18 - 1) | st.text()
written_values = st.recursive(
    written_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(deadline=None)  # the first example imports boto3 (the codec imports it lazily)
@given(written_values)
def test_every_value_a_callback_writes_has_the_same_attribute_value_and_reads_back_the_same(value):
    assert to_av(value) == old_to_av(value)
    assert from_av(old_to_av(value)) == old_from_av(old_to_av(value)) == value


def test_a_tuple_is_written_as_a_list_as_before():  # FileRecord tuples in Effects
    assert to_av((1, "a")) == old_to_av((1, "a")) == {"L": [{"N": "1"}, {"S": "a"}]}
