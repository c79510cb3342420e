"""Where a task's files live, and reading them back: STATE's inline `files` map up to a bound, then one FILE# item
per file (docs/webhook.md). `store.py` writes them; the final event and the tests read the whole list here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from livectl.store.table import query, task_pk
from livectl.webhook.effects import FileRecord

FILE_SK_PREFIX = "FILE#"
# STATE's share of files: 64 x (1 KB record + its name as the map key), with store.MAX_INLINE_ERRORS errors of at
# most ~3 KB, stays under ~180 KB, leaving room for the commands' fields within DynamoDB's 400 KB item limit.
MAX_INLINE_FILES = 64
INLINE_FILE_BYTES = 1024
_OWN_FIELDS = frozenset({"pk", "sk", "callback_id", "received_at"})  # a FILE# item's fields that are not the record


def file_sk(name: str) -> str:
    """A file's own item: the name is hashed, since a sort key holds at most 1,024 bytes."""
    return FILE_SK_PREFIX + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def inline_bytes(record: FileRecord) -> int:
    """What a record costs STATE: its JSON and its name again as the map key (DynamoDB counts both)."""
    return len(json.dumps(record.as_dict(), ensure_ascii=False).encode("utf-8", "surrogatepass")) + len(
        record.name.encode("utf-8", "surrogatepass")
    )


def fits_inline(records: Sequence[FileRecord]) -> bool:
    return len(records) <= MAX_INLINE_FILES and all(inline_bytes(r) <= INLINE_FILE_BYTES for r in records)


def files_not_held(state: Mapping[str, Any], records: Sequence[FileRecord]) -> int:
    """How many of these files the STATE does not hold yet (the entries a SET would add)."""
    return len({r.name for r in records} - set(inline_files(state)))


def inline_files(state: Mapping[str, Any]) -> dict[str, Any]:
    files = state.get("files")
    return files if isinstance(files, dict) else {}


def merge_files(inline: Mapping[str, Any], overflow: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Inline records, then the out-of-line ones over them (always newer: see store.py's docstring)."""
    merged: dict[str, dict[str, Any]] = {str(k): dict(v) for k, v in inline.items() if isinstance(v, Mapping)}
    for record in overflow:
        merged[str(record.get("name", ""))] = dict(record)
    return [merged[k] for k in sorted(merged)]


def overflow_files(client: Any, table_name: str, task_id: str) -> list[dict[str, Any]]:
    """The task's out-of-line file records (its FILE# items)."""
    items = query(client, table_name, task_pk("trtc", task_id), FILE_SK_PREFIX)
    return [{k: v for k, v in item.items() if k not in _OWN_FIELDS} for item in items]


def task_files(client: Any, table_name: str, state: Mapping[str, Any], task_id: str) -> list[dict[str, Any]]:
    """Every file recorded for the task whose STATE is `state`: inline, then the FILE# items (newer) over them."""
    inline = inline_files(state)
    if not state.get("files_overflow"):
        return [inline[k] for k in sorted(inline)]
    return merge_files(inline, overflow_files(client, table_name, task_id))
