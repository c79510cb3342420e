"""Issue 10 item 4: whatever a command echoes (an unknown key, a bad value, an id, a provider's message) its outcome
is recorded and published. Unbounded, a 240 KB body made a rejection item past DynamoDB's 400 KB limit
(`ValidationException`), so the message was retried 5 times and dead-lettered with no reason. Against moto, which
enforces both the item limit and the event entry limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl.bounds import clip
from livectl.command import MAX_BODY_BYTES, parse_command
from livectl.control import service as control
from livectl.errors import InvalidCommand, PermanentProviderError
from livectl.providers import operations
from tests.control.support import LEDGER, FakeContext, sqs_event

pytestmark = pytest.mark.aws

ITEM_LIMIT = 400 * 1024  # DynamoDB item
EVENT_LIMIT = 256 * 1024  # EventBridge PutEvents entry
EMOJI = "\U0001f600"
STOP = {"action": "StopPullRecordTask", "params": {"TaskId": "rec-1"}}
GET = {"action": "GetPullRecordTask", "params": {"TaskID": "rec-1"}}


def items(stack: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.client("dynamodb").scan(TableName=LEDGER)["Items"]
    return found


def size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def assert_recorded_within_limits(stack: Any, detail_type: str) -> list[dict[str, Any]]:
    stored = items(stack)
    assert stored and all(size(item) < ITEM_LIMIT for item in stored)
    assert all(item["published"] == {"BOOL": True} for item in stored if "published" in item)
    events = stack.events(detail_type)
    assert len(events) == 1 and size(events[0]["detail"]) < EVENT_LIMIT
    return events


# The class: huge keys, huge values, huge ids, multi-byte text, lone surrogates, deep nesting; as SQS bodies
# (text) and as direct Scheduler invocations (already an object, with no body cap in front of them).
HOSTILE = [
    pytest.param(json.dumps({**STOP, EMOJI * 60_000: 1}, ensure_ascii=False), "command", id="issue-240KB-body"),
    pytest.param({**STOP, EMOJI * 60_000: 1}, EMOJI, id="direct-60000-emoji-key"),
    pytest.param({**STOP, "id": "é" * 150_000}, "id", id="direct-huge-id"),
    pytest.param({**STOP, "params": {"TaskId": "x", "Extra" + "界" * 70_000: 1}}, "params.Extra", id="huge-param-name"),
    pytest.param(
        {"action": "DeleteCloudRecording", "params": {"SdkAppId": "9" * 300_000, "TaskId": "t", "Region": "ap-x"}},
        "params.SdkAppId",
        id="huge-param-value",
    ),
    pytest.param({**STOP, "not_after": EMOJI * 90_000}, "not_after", id="huge-not_after"),
    pytest.param({**STOP, "\ud800" * 50_000: 1}, "\\ud800", id="lone-surrogate-key"),
    pytest.param("[" * 30_000 + "]" * 30_000, "command", id="nested-beyond-the-parser"),
    pytest.param(json.dumps({**STOP, "id": "界" * 30_000}, ensure_ascii=False), "command", id="30K-chars-90KB-body"),
]


@pytest.mark.parametrize(("body", "field"), HOSTILE)
def test_hostile_commands_are_rejected_recorded_and_published_within_the_limits(stack, body, field):
    box = control.Container(stack.settings)
    if isinstance(body, str):
        answer = control.handle_event(
            sqs_event(body), FakeContext(), "StopPullRecordTask", stack.settings, container=box
        )
        assert answer == {"batchItemFailures": []}  # acknowledged: a retry cannot fix it
    else:
        answer = control.handle_event(body, FakeContext(), "StopPullRecordTask", stack.settings, container=box)
        assert answer["outcome"] == "rejected" and answer["field"].startswith(field)
    [event] = assert_recorded_within_limits(stack, "Command Rejected")
    assert event["detail"]["field"].startswith(field) and event["detail"]["reason"]
    [item] = stack.ledger().rejected(datetime.now(UTC).date().isoformat())
    assert item["field"] == event["detail"]["field"] and item["reason"] == event["detail"]["reason"]


@pytest.mark.unit
def test_the_body_cap_counts_utf8_bytes_not_characters():
    under = json.dumps({**STOP, "id": "x"}).encode()
    padding = MAX_BODY_BYTES - len(under) + 1  # one byte over, in 3-byte characters: a third as many characters
    body = json.dumps({**STOP, "id": "x", "pad": "界" * (padding // 3 + 1)}, ensure_ascii=False)
    assert len(body) < MAX_BODY_BYTES < len(body.encode("utf-8"))
    with pytest.raises(InvalidCommand, match="bytes") as err:
        parse_command(body)
    assert err.value.field == "command"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.text(min_size=1, max_size=40).map(lambda t: t * 4000),
    value=st.one_of(st.text(max_size=20).map(lambda t: t * 5000), st.integers(), st.none()),
)
def test_any_unknown_key_and_value_is_recorded_and_published(stack, key, value):
    box = control.Container(stack.settings)
    doc = {**STOP, "params": {"TaskId": "rec-1", key: value}}
    recorded, published = len(items(stack)), len(stack.events("Command Rejected"))
    answer = control.handle_event(doc, FakeContext(), "StopPullRecordTask", stack.settings, container=box)
    assert answer["outcome"] == "rejected" and answer["field"].startswith("params.")
    stored = items(stack)
    assert len(stored) == recorded + 1 and all(size(item) < ITEM_LIMIT for item in stored)
    events = stack.events("Command Rejected")
    assert len(events) == published + 1 and size(events[-1]["detail"]) < EVENT_LIMIT


# ---------------------------------------------------------------------------------------------------------------
# What the provider says is echoed too: its message, code, request id and status
# ---------------------------------------------------------------------------------------------------------------
def test_a_provider_refusal_with_a_huge_message_is_recorded_and_published(stack, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermanentProviderError("拒" * 200_000, code="Invalid" * 500, request_id="r" * 100_000)

    monkeypatch.setattr(operations, "perform", refuse)
    box = control.Container(stack.settings)
    answer = control.handle_event(GET, FakeContext(), "GetPullRecordTask", stack.settings, container=box)
    assert answer["outcome"] == "failed" and answer["reason"] == clip("拒" * 200_000)
    assert_recorded_within_limits(stack, "Task Status")
    state = stack.ledger().get_state("volcengine", "rec-1")
    assert state["last_error_reason"].startswith("拒") and state["last_error_reason"].endswith("bytes]")


def test_a_provider_answer_with_huge_texts_is_recorded_and_published(stack, monkeypatch):
    # 270 KB in all: the idempotency record that stores the outcome still fits 400 KB, the event would not fit 256 KB.
    def answer_hugely(*args: Any, **kwargs: Any) -> Any:
        return operations.Outcome(
            "GetPullRecordTask", "rec-1", "done", "q" * 90_000, {}, 1, 1, error_code="E" * 90_000,
            task_status="S" * 90_000,
        )  # fmt: skip

    monkeypatch.setattr(operations, "perform", answer_hugely)
    box = control.Container(stack.settings)
    answer = control.handle_event(GET, FakeContext(), "GetPullRecordTask", stack.settings, container=box)
    assert answer["outcome"] == "done" and len(answer["request_id"]) < 300
    assert_recorded_within_limits(stack, "Task Status")
