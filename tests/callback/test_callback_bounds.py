"""What a retry cannot fix is a 4xx, and what is recorded stays bounded (issue 10, items 5 and 9).

- Required fields of the documented body, missing or of the wrong type: 400 `malformed` naming the field, nothing
  stored; every documented TRTC example (tests/fixtures/trtc-callbacks/) is still accepted.
- Identifiers beyond sane bounds: 400 `too_long` naming the field.
- Any number of files, of any documented size: never a 5xx, every file recorded and read back, the task's STATE
  item under a fixed bound, and the final event sets `all_uploaded`.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl import aws
from livectl.providers.signing import trtc_callback_sign
from livectl.store.table import STATE_SK, task_pk
from livectl.webhook.callbacks import Rejection
from livectl.webhook.task_files import task_files
from livectl.webhook.verify import verify
from tests.callback.conftest import APP_ID, KEY, TABLE, callback, make_event

pytestmark = pytest.mark.aws

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trtc-callbacks"
T0 = 1763712000000
# The STATE item's fixed bound for what callbacks write (DynamoDB's limit is 400 KB; commands share the item).
STATE_BOUND_BYTES = 200 * 1024


def call(app: Any, clock: Any, raw: bytes, now_ms: int) -> tuple[int, dict[str, Any]]:
    clock.set_ms(now_ms)
    answer = app.handler(make_event(raw), None)
    return answer["statusCode"], json.loads(answer["body"])


def av_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's item-size rule for one attribute value (UTF-8 strings, ~1 byte per 2 digits, 3 bytes per map)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return len(inner) // 2 + 2
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + av_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(av_bytes(v) + 1 for v in inner)
    return 1


def state_item_bytes(moto_aws: Any, task_id: str) -> int:
    key = {"pk": {"S": task_pk("trtc", task_id)}, "sk": {"S": STATE_SK}}
    item = moto_aws.dynamodb.get_item(TableName=TABLE, Key=key)
    return sum(len(k.encode("utf-8")) + av_bytes(v) for k, v in item.get("Item", {}).items())


def recorded_files(moto_aws: Any, task_id: str) -> list[dict[str, Any]]:
    return task_files(moto_aws.dynamodb, TABLE, moto_aws.state(task_id) or {}, task_id)


# -- item 9: required fields ------------------------------------------------------------------------------------
def _doc() -> dict[str, Any]:
    return json.loads(callback(311, {"Status": 0, "TencentVod": {"FileId": "1"}}, task="t-req", at_ms=T0))


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    target = doc
    for name in parents:
        target = target[name]
    if value is _MISSING:
        del target[last]
    else:
        target[last] = value
    return doc


_MISSING = object()
_NOT_INTEGERS = [_MISSING, None, "3", "", 3.5, True, [3], {"n": 3}]
_NOT_OBJECTS = [_MISSING, None, "x", 1, [], [{"TaskId": "t"}], True]
_REQUIRED_CASES = [
    *((name, bad) for name in ("EventGroupId", "EventType", "CallbackTs") for bad in _NOT_INTEGERS),
    *(("EventInfo", bad) for bad in _NOT_OBJECTS),
    *(("EventInfo.TaskId", bad) for bad in [_MISSING, None, "", True, 1.5, ["t"], {"id": "t"}]),
    *(("EventInfo.Payload", bad) for bad in _NOT_OBJECTS),
]


def _case_id(field: str, bad: Any) -> str:
    return f"{field}={'missing' if bad is _MISSING else repr(bad)}"


@pytest.mark.parametrize(("field", "bad"), _REQUIRED_CASES, ids=[_case_id(f, b) for f, b in _REQUIRED_CASES])
def test_a_required_field_missing_or_mistyped_is_400_naming_it(field, bad):
    raw = json.dumps(_set(_doc(), field, bad), indent="\t").encode()
    headers = {"sign": trtc_callback_sign(KEY, raw), "sdkappid": str(APP_ID)}
    result = verify(headers, raw, [KEY], [APP_ID], datetime.fromtimestamp(T0 / 1000, UTC))
    assert isinstance(result, Rejection), result
    assert (result.status, result.reason, result.field) == (400, "malformed", field)
    assert field in result.message and result.body()["field"] == field


def test_through_the_handler_each_mistyped_required_field_stores_and_publishes_nothing(app, clock, moto_aws):
    for field, bad in _REQUIRED_CASES:
        status, answer = call(app, clock, json.dumps(_set(_doc(), field, bad)).encode(), T0)
        assert (status, answer["error"], answer["field"]) == (400, "malformed", field), _case_id(field, bad)
    assert moto_aws.items() == [] and moto_aws.published() == []


@pytest.mark.parametrize("group", [3, 4, 8])
def test_task_groups_need_a_task_id_and_payload_but_room_events_do_not(app, clock, moto_aws, group):
    event_type = {3: 301, 4: 401, 8: 801}[group]
    no_task = json.loads(callback(event_type, {"Status": 0}, at_ms=T0, group=group))
    del no_task["EventInfo"]["TaskId"]
    status, answer = call(app, clock, json.dumps(no_task).encode(), T0)
    assert (status, answer.get("field")) == (400, "EventInfo.TaskId")
    room = json.loads(callback(103, {}, at_ms=T0, group=1))
    del room["EventInfo"]["TaskId"], room["EventInfo"]["Payload"]  # room events carry neither
    assert call(app, clock, json.dumps(room).encode(), T0)[0] == 200


def _is_callback(path: Path) -> bool:
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:
        return False  # documented text that is not JSON; a body like it is 400 by design
    return isinstance(doc, dict) and "EventInfo" in doc


DOCUMENTED = sorted(p for p in FIXTURES.glob("*.json") if _is_callback(p))


def test_every_documented_trtc_example_is_still_accepted(app, clock, moto_aws):
    assert len(DOCUMENTED) >= 45  # every fixture that is valid JSON as documented
    for path in DOCUMENTED:
        raw = path.read_bytes()  # byte for byte as documented; the clock is set to its CallbackTs
        status, answer = call(app, clock, raw, int(json.loads(raw)["CallbackTs"]))
        assert (status, answer) == (200, {"code": 0}), path.name
    assert moto_aws.callback_items()


# -- item 5: identifiers beyond sane bounds ---------------------------------------------------------------------
def test_an_identifier_beyond_256_characters_is_400_naming_it(app, clock, moto_aws):
    for name, length in itertools.product(("TaskId", "UserId", "RoomId"), (257, 2100)):
        doc = json.loads(callback(302, {"LeaveCode": 0}, task="t-ids", at_ms=T0))
        doc["EventInfo"][name] = "界" * length  # 3 bytes each in UTF-8: 2,100 of them are 6.3 KB of key
        status, answer = call(app, clock, json.dumps(doc, ensure_ascii=False).encode(), T0)
        assert (status, answer["error"], answer["field"]) == (400, "too_long", f"EventInfo.{name}"), (name, length)
    assert moto_aws.items() == [] and moto_aws.published() == []
    for name in ("TaskId", "UserId", "RoomId"):  # exactly at the bound is accepted
        doc = json.loads(callback(302, {"LeaveCode": 0}, task="t-ids", at_ms=T0))
        doc["EventInfo"][name] = "界" * 256
        assert call(app, clock, json.dumps(doc, ensure_ascii=False).encode(), T0)[0] == 200, name


def test_repro_a_2100_character_task_id_is_400_not_500(app, clock, moto_aws):
    raw = callback(301, {"Status": 0}, task="T" * 2100, at_ms=T0)
    status, answer = call(app, clock, raw, T0)
    assert (status, answer["error"], answer["field"]) == (400, "too_long", "EventInfo.TaskId")
    assert moto_aws.items() == []


def _vod_commit(task: str, index: int, url_chars: int, name_chars: int = 40) -> bytes:
    name = f"{index:04d}_" + "n" * max(0, name_chars - 5)
    vod = {
        "Status": 0,
        "TencentVod": {
            "UserId": "host",
            "TrackType": "audio_video",
            "MediaId": "main",
            "FileId": f"52858907996173{index:05d}",
            "VideoUrl": "https://vod.example.com/" + "u" * url_chars,
            "CacheFile": name,
            "StartTimeStamp": T0 + index,
            "EndTimeStamp": T0 + index + 1,
        },
    }
    return callback(311, vod, task=task, at_ms=T0 + 10 * index)


def callback_ledger_actions() -> set[str]:
    """The DynamoDB actions template.yaml grants the callback function (moto does not enforce IAM)."""
    text = (Path(__file__).resolve().parents[2] / "template.yaml").read_text(encoding="utf-8")
    section = text[text.index("  TrtcCallbackFunction:") :]
    actions = re.search(r"Sid: Ledger.*?Action: \[([^\]]*)\]", section, re.S)
    assert actions is not None
    return {a.strip().removeprefix("dynamodb:") for a in actions.group(1).split(",")}


def test_repro_nine_commits_with_60_kb_urls_then_312_are_all_recorded(app, clock, moto_aws):
    task = "t-long-urls"
    operations: list[str] = []
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    for i in range(9):
        assert call(app, clock, _vod_commit(task, i, 60_000), T0 + 10 * i) == (200, {"code": 0}), i
    assert call(app, clock, callback(312, {"Status": 0}, task=task, at_ms=T0 + 500), T0 + 500) == (200, {"code": 0})
    files = recorded_files(moto_aws, task)
    assert len(files) == 9 and all(len(f["url"]) == 60_024 for f in files)  # whole, not clipped
    state = moto_aws.state(task)
    assert state["all_uploaded"] is True and state["files_overflow"] is True
    assert state_item_bytes(moto_aws, task) < STATE_BOUND_BYTES
    (uploaded,) = [e for e in moto_aws.published() if e["detail-type"] == "Recording Uploaded"]
    assert uploaded["detail"]["file_count"] == 9 and uploaded["detail"]["files_truncated"] is True
    assert [f["name"] for f in uploaded["detail"]["files"]] == [f["name"] for f in files][
        : len(uploaded["detail"]["files"])
    ]
    assert {"BatchWriteItem", "Query"} <= set(operations) <= callback_ledger_actions()


# -- item 5: the class -------------------------------------------------------------------------------------------
_task_ids = (f"t-bounds-{n}" for n in itertools.count())
url_lengths = st.sampled_from([0, 30, 400, 3_000, 20_000, 60_000])
name_lengths = st.sampled_from([6, 40, 300, 1_500])


@st.composite
def recordings(draw: Any) -> list[tuple[str, Any]]:
    """A recording's callbacks: VOD commits (one file each), COS file lists and MP4 stops (many files each),
    upload errors with long messages; names may repeat (a later record of a file replaces the earlier one)."""
    steps: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["311", "311", "304", "310", "308", "311_failed"]))
        if kind == "311":
            steps.append((kind, (draw(st.integers(0, 90)), draw(url_lengths), draw(name_lengths))))
        elif kind in ("304", "310"):
            first, count = draw(st.integers(0, 90)), draw(st.integers(1, 70))
            steps.append((kind, (first, count, draw(st.sampled_from([0, 40, 600])))))
        else:
            steps.append((kind, draw(st.sampled_from([10, 5_000, 50_000]))))
    return steps


def _file_name(index: int, name_chars: int = 6) -> str:
    return f"{index:04d}_" + "n" * max(0, name_chars - 5)


def _step_body(task: str, at: int, kind: str, spec: Any) -> tuple[bytes, dict[str, str]]:
    """The signed body for one step and the files (name -> url) it records."""
    if kind == "311":
        index, url_chars, name_chars = spec
        url = "https://vod.example.com/" + "u" * url_chars
        name = _file_name(index, name_chars)
        vod = {"Status": 0, "TencentVod": {"FileId": str(index), "VideoUrl": url, "CacheFile": name}}
        return callback(311, vod, task=task, at_ms=at), {name: url}
    if kind in ("304", "310"):
        first, count, url_chars = spec
        names = [_file_name(i) for i in range(first, first + count)]
        if kind == "304":
            return callback(304, {"FileList": names}, task=task, at_ms=at), {n: "" for n in names}
        urls = {n: "https://cos.example.com/" + "c" * url_chars for n in names}
        messages = [{"FileName": n, "Url": u} for n, u in urls.items()]
        return callback(310, {"Status": 0, "FileMessage": messages}, task=task, at_ms=at), urls
    text = "e" * spec
    if kind == "308":
        return callback(308, {"Code": "InternalError", "Message": text}, task=task, at_ms=at), {}
    return callback(
        311, {"Status": 1, "Errmsg": text, "TencentVod": {"CacheFile": text[:900]}}, task=task, at_ms=at
    ), {}


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=recordings(), final=st.sampled_from(["312", "305"]))
def test_any_number_and_size_of_files_is_recorded_whole_within_a_bounded_state(app, clock, moto_aws, steps, final):
    task = next(_task_ids)
    expected: dict[str, str] = {}
    for i, (kind, spec) in enumerate(steps):
        raw, files = _step_body(task, T0 + 10 * i, kind, spec)
        status, answer = call(app, clock, raw, T0 + 10 * i)
        assert (status, answer) == (200, {"code": 0}), (kind, answer)
        expected.update(files)  # a later record of a file replaces the earlier one (a 304 lists names only)
    last = T0 + 10 * len(steps)
    assert call(app, clock, callback(int(final), {"Status": 0}, task=task, at_ms=last), last) == (200, {"code": 0})
    recorded = {f["name"]: f.get("url", "") for f in recorded_files(moto_aws, task)}
    assert recorded == expected
    state = moto_aws.state(task)
    assert state["all_uploaded"] is True
    assert state_item_bytes(moto_aws, task) < STATE_BOUND_BYTES
    uploaded = [e for e in moto_aws.published() if e["detail-type"] == "Recording Uploaded"][-1]["detail"]
    assert uploaded["file_count"] == len(expected) and uploaded["task_id"] == task
