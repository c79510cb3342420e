"""What every documented callback means and writes, pinned to the output of the webhook before issue 11's cut.

`golden/effects.json` holds `effects_of` for every documented body (tests/fixtures/trtc-callbacks/, events/) and
for variants of each (every Status and LeaveCode the interpretation distinguishes, and edge cases of the payload);
it was written by the if/elif interpretation (`_recording_effects`, commit 0403dfc) that the effects table replaced.
`golden/ledger.json` holds the DynamoDB items, attribute values as written, and the events that the documented
bodies produce when the receiver records them one after another.

    .venv/bin/python -m tests.callback.test_webhook_golden     # rewrites both (only when a change is meant)
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livectl.events import EventPublisher
from livectl.webhook.callbacks import RECORDING_EVENTS, RELAY_EVENTS, Callback, CallbackConfig, Rejection, parse
from livectl.webhook.effects import EFFECTS, effects_of
from livectl.webhook.service import CallbackService
from livectl.webhook.store import CallbackStore
from tests.callback.conftest import APP_ID, BUS, TABLE, Aws, callback

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "trtc-callbacks"
GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = datetime(2025, 11, 21, 8, 0, 0, tzinfo=UTC)
T0 = 1763712000000

STATUS_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    *((f"Status={s!r}", {"Status": s}) for s in (0, 1, 2, 3, "1")),
    ("no Status", {}),
    *((f"LeaveCode={c!r}", {"LeaveCode": c}) for c in (0, 1, 99, 7)),
]
LONG = "x" * 600
EDGE_CASES: list[tuple[int, dict[str, Any]]] = [
    (304, {"FileList": "only.m3u8"}),
    (304, {"FileList": ["a.m3u8", "", 7, None, "a.m3u8"]}),
    (307, {"FileName": ""}),
    (307, {"FileName": LONG}),
    (308, {"Code": LONG, "Message": LONG}),
    (308, {}),
    (309, {}),
    (309, {"Url": LONG}),
    (310, {"Status": 0, "FileList": ["b.mp4"], "FileMessage": ["junk", {"FileName": ""}, {"FileName": "a.mp4"}]}),
    (310, {"Status": 0, "FileMessage": [{"FileName": "a.mp4", "FileUrl": "u", "Size": "12"}]}),
    (311, {"Status": 0, "TencentVod": {"FileId": "9"}}),
    (311, {"Status": 0, "CacheFile": "c.mp4", "VideoUrl": "https://v", "FileSize": 5}),
    (311, {"Status": 0, "TencentVod": {}}),
    (311, {"Status": 2, "Errmsg": LONG, "TencentVod": {"CacheFile": LONG}}),
    (401, {"Status": 9, "Url": LONG, "ErrorCode": "7", "ErrorMsg": "m"}),
    (401, {}),
    (399, {"Status": 1}),
]


def documented_bodies() -> Iterator[tuple[str, bytes]]:
    for path in sorted(FIXTURES.glob("*.json")):
        yield f"fixtures/{path.name}", path.read_bytes()
    for path in sorted((ROOT / "events").glob("trtc_callback_*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode("utf-8")
        yield f"events/{path.name}", raw


def documented_callbacks() -> Iterator[tuple[str, Callback]]:
    for name, raw in documented_bodies():
        parsed = parse(raw, APP_ID)
        if isinstance(parsed, Callback):
            yield name, parsed


def variant(cb: Callback, changes: dict[str, Any]) -> Callback:
    payload = {k: v for k, v in cb.payload.items() if k not in ("Status", "LeaveCode")}
    return dataclasses.replace(cb, payload={**payload, **changes})


def effects_cases() -> dict[str, dict[str, Any]]:
    """Every case's `effects_of`, as plain data (one entry per distinct event type and payload)."""
    cases: dict[str, Callback] = {}
    seen: set[str] = set()

    def add(name: str, cb: Callback) -> None:
        identity = json.dumps([cb.group, cb.event_type, cb.task_id, cb.order_ms, cb.payload], sort_keys=True)
        if identity not in seen:
            seen.add(identity)
            cases[name] = cb

    for name, cb in documented_callbacks():
        add(name, cb)
        for label, changes in STATUS_VARIANTS:
            add(f"{name} {label}", variant(cb, changes))
    for index, (event_type, payload) in enumerate(EDGE_CASES):
        parsed = parse(callback(event_type, payload, at_ms=T0), APP_ID)
        assert isinstance(parsed, Callback), parsed
        add(f"edge {index} {event_type}", parsed)
    first = next(iter(cases.values()))
    add("no TaskId", dataclasses.replace(first, task_id=None))  # a room event's shape: no task to change
    return {name: dataclasses.asdict(effects_of(cb)) for name, cb in cases.items()}


def ledger_run(moto_aws: Aws) -> dict[str, Any]:
    """The documented bodies recorded in order: every item as written (bodies as their sha256) and every event."""
    service = CallbackService(CallbackStore(TABLE, moto_aws.dynamodb), EventPublisher(BUS), CallbackConfig.local)
    answers: dict[str, Any] = {}
    for name, raw in documented_bodies():
        parsed = parse(raw, APP_ID)
        if isinstance(parsed, Rejection):
            answers[name] = parsed.body()
            continue
        reply = service.accept(parsed, NOW)
        answers[name] = [reply.status, reply.metric]
    pages = moto_aws.dynamodb.get_paginator("scan").paginate(TableName=TABLE)
    items = [dict(item) for page in pages for item in page["Items"]]
    for item in items:
        if "body" in item:
            item["body"] = {"sha256": hashlib.sha256(item["body"]["S"].encode("utf-8")).hexdigest()}
    items.sort(key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    events = [{"detail-type": e["detail-type"], "detail": e["detail"]} for e in moto_aws.published()]
    return {"answers": answers, "items": items, "events": events}


def read_golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def write_golden(name: str, value: dict[str, Any]) -> None:
    """One line per case (or per item and event), so that a change shows as the lines it changes."""

    def dumps(inner: Any) -> str:
        return json.dumps(inner, sort_keys=True, ensure_ascii=False)

    def lines(inner: Any) -> str:
        if isinstance(inner, list):
            return "[\n  " + ",\n  ".join(dumps(v) for v in inner) + "\n ]"
        return dumps(inner)

    body = ",\n".join(f" {dumps(k)}: {lines(value[k])}" for k in sorted(value))
    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / name).write_text("{\n" + body + "\n}\n", encoding="utf-8")


@pytest.mark.unit
def test_the_effects_table_gives_what_the_if_elif_gave_for_every_documented_callback_and_variant():
    golden = read_golden("effects.json")
    current = effects_cases()
    assert sorted(current) == sorted(golden)
    for name, effects in current.items():
        assert json.loads(json.dumps(effects)) == golden[name], name


@pytest.mark.unit
def test_the_effects_table_has_one_row_per_named_event_type():
    assert sorted(EFFECTS) == sorted({**RECORDING_EVENTS, **RELAY_EVENTS})


@pytest.mark.aws
def test_documented_callbacks_write_the_same_ledger_items_and_events(moto_aws):
    golden = read_golden("ledger.json")
    current = json.loads(json.dumps(ledger_run(moto_aws)))
    assert current["answers"] == golden["answers"]
    assert current["events"] == golden["events"]
    assert len(current["items"]) == len(golden["items"])
    for item, expected in zip(current["items"], golden["items"], strict=True):
        assert item == expected, (item["pk"], item["sk"])


def main() -> None:
    from moto import mock_aws

    from livectl import aws
    from tests.callback.conftest import aws_environment

    write_golden("effects.json", effects_cases())
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        aws_environment(monkeypatch)
        aws.reset_clients()
        write_golden("ledger.json", ledger_run(Aws()))
        aws.reset_clients()


if __name__ == "__main__":
    main()
