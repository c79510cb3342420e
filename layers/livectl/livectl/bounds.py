"""Bounds on what livectl repeats from its input into ledger items, events and logs.

A rejection echoes the offending input (an unknown key as `field`, a bad value inside `reason`), and a failure
echoes the provider's message. Unbounded, one 240 KB body makes a ledger item past DynamoDB's 400 KB item limit
and an event past EventBridge's 256 KB entry limit: the outcome cannot be recorded, the message is retried for
nothing and lands in the DLQ with no reason. So every echoed string goes through `clip` (a byte budget, cut on
a character boundary, with a note of how much was cut) and structured input through `clip_json`.

Budgets, in UTF-8 bytes: a field name or id 256, a reason 1 KiB, params 4 KiB. Valid input fits them
(ids are at most 128 ASCII characters, parameters at most 256 characters each), so only bad input is cut, and a
rejection item stays a few KiB whatever arrived.
"""

from __future__ import annotations

import json
from typing import Any

NAME_BYTES = 256  # field names, ids, task ids echoed from input
TEXT_BYTES = 1024  # reasons: ours (quoting input) or a provider's message
PARAMS_BYTES = 4096  # a command's params as stored with its outcome


def clip(text: str | None, limit: int = TEXT_BYTES) -> str | None:
    """`text` as valid UTF-8 of at most `limit` bytes. Longer text is cut on a character boundary and ends
    with `…[+N bytes]`; lone surrogates (JSON allows `"\\ud800"`, UTF-8 does not) become `\\ud800`."""
    if text is None:
        return None
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return data.decode("utf-8")
    marker = f"…[+{len(data)} bytes]"  # the total, an upper bound of what was cut, keeps the arithmetic simple
    keep = limit - len(marker.encode("utf-8"))
    if keep <= 0:  # no room for the note
        return data[:limit].decode("utf-8", "ignore")
    return data[:keep].decode("utf-8", "ignore") + marker


def clip_json(value: Any, limit: int = PARAMS_BYTES) -> Any:
    """`value` itself if its JSON fits `limit` bytes, else its JSON text clipped to `limit` (a string)."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):  # too deep, or keys JSON cannot hold
        return f"<{type(value).__name__} that is not JSON>"
    clipped = clip(text, limit)
    return value if clipped == text else clipped


def shown(value: object, limit: int = TEXT_BYTES // 2) -> str:
    """`repr(value)` for a message, bounded; never raises (an int of 5,000 digits has no repr)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return clip(text, limit) or ""
