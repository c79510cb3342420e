"""The command contract: the published JSON Schema, field-level errors, the idempotency key, staleness."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl.command import derived_key, load_schema, parse_command
from livectl.errors import InvalidCommand
from livectl.providers.catalogue import ACTIONS
from tests.control.support import FUNCTIONS, load_event
from tests.strategies import param_text

pytestmark = pytest.mark.unit

VALID = {
    "StopPullRecordTask": {"TaskId": "t-1"},
    "GetPullRecordTask": {"TaskID": "t-1"},
    "RestartPullToPushTask": {"TaskId": "t-1", "GroupName": "g"},
    "StopPullToPushTask": {"TaskId": "t-1", "GroupName": "g"},
    "DeleteCloudRecording": {"SdkAppId": 1400000001, "TaskId": "t-1", "Region": "ap-beijing"},
    "StopPublishCdnStream": {"SdkAppId": 1400000001, "TaskId": "t-1", "Region": "ap-hongkong"},
}


def rejected(body: object, expected_action: str | None = None) -> InvalidCommand:
    with pytest.raises(InvalidCommand) as err:
        parse_command(body if isinstance(body, str) else json.dumps(body), expected_action)
    return err.value


def test_schema_is_valid_draft7_and_lists_exactly_the_catalogue_actions():
    schema = load_schema()
    fastjsonschema.compile(schema)  # raises on an invalid schema
    assert sorted(schema["properties"]["action"]["enum"]) == sorted(ACTIONS)
    branches = {b["if"]["properties"]["action"]["const"] for b in schema["allOf"]}
    assert branches == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_schema_params_match_the_catalogue(action):
    """The published schema and the catalogue say the same about each action's parameters."""
    schema = load_schema()
    branch = next(b for b in schema["allOf"] if b["if"]["properties"]["action"]["const"] == action)
    ref = branch["then"]["properties"]["params"]["$ref"].split("/")[-1]
    definition = schema["definitions"][ref]
    spec = ACTIONS[action]
    assert set(definition["properties"]) == set(spec.param_names)
    assert set(definition["required"]) == {p.name for p in spec.params if p.required}
    for p in spec.params:
        if p.choices:
            assert tuple(definition["properties"][p.name]["enum"]) == p.choices


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_valid_commands_parse(action):
    cmd = parse_command(json.dumps({"action": action, "params": VALID[action]}))
    assert cmd.name == action
    assert cmd.account == "default"
    assert cmd.task_id == "t-1"
    assert cmd.id is None and cmd.not_after is None
    assert cmd.key == derived_key(action, "default", VALID[action])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"params": {"TaskId": "x"}}, "action", "required"),
        ({"action": "StopPullRecordTask"}, "params", "required"),
        ({"action": "StopTheWorld", "params": {}}, "action", "StopPullRecordTask"),
        ({"action": "GetPullRecordTask", "params": {"TaskId": "x"}}, "params.TaskId", "did you mean TaskID"),
        ({"action": "StopPullRecordTask", "params": {}}, "params.TaskId", "required"),
        ({"action": "StopPullRecordTask", "params": {"TaskId": "  "}}, "params.TaskId", "empty"),
        ({"action": "StopPullRecordTask", "params": {"TaskId": 7}}, "params.TaskId", "string"),
        (
            {"action": "DeleteCloudRecording", "params": {"SdkAppId": "1400", "TaskId": "x", "Region": "ap-beijing"}},
            "params.SdkAppId",
            "integer",
        ),
        (
            {"action": "DeleteCloudRecording", "params": {"SdkAppId": True, "TaskId": "x", "Region": "ap-beijing"}},
            "params.SdkAppId",
            "integer",
        ),
        (
            {"action": "StopPublishCdnStream", "params": {"SdkAppId": 1, "TaskId": "x", "Region": "ap-beijing"}},
            "params.Region",
            "ap-hongkong",
        ),
        ({"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "extra": 1}, "extra", "contract"),
        ({"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "id": ""}, "id", ""),
        ({"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "account": "a/b"}, "account", "pattern"),
        ({"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "not_after": "tomorrow"}, "not_after", "RFC 3339"),
        (
            {"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "scheduled_at": "at six"},
            "scheduled_at",
            "RFC 3339",
        ),
        (
            {"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "scheduled_at": "2026-11-21T18:05:00"},
            "scheduled_at",
            "offset",
        ),
        (
            {"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "not_after": "2026-11-21T18:05:00"},
            "not_after",
            "offset",
        ),
    ],
)
def test_invalid_commands_name_the_field(body, field, words):
    err = rejected(body)
    assert err.field == field
    assert words in err.message


def test_not_json_and_not_an_object():
    assert rejected("{not json").field == "command"
    assert rejected("[1, 2]").field == "command"
    assert rejected("x" * 70_000).field == "command"


def test_command_for_another_queue_is_rejected():
    err = rejected({"action": "GetPullRecordTask", "params": {"TaskID": "x"}}, "StopPullRecordTask")
    assert err.field == "action"
    assert "StopPullRecordTask" in err.message


def test_id_is_the_key_when_given():
    cmd = parse_command(json.dumps({"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "id": "abc-1"}))
    assert cmd.key == "abc-1"
    assert cmd.fingerprint == derived_key("StopPullRecordTask", "default", {"TaskId": "x"})


def test_derived_key_ignores_order_and_whitespace_but_not_content():
    a = parse_command(
        '{"action":"DeleteCloudRecording","params":{"SdkAppId":1,"TaskId":"x","Region":"ap-beijing"}}'
    ).key
    b = parse_command(
        '{ "params": {"Region": "ap-beijing", "TaskId": "x", "SdkAppId": 1},  "action": "DeleteCloudRecording"}'
    ).key
    c = parse_command(
        '{"action":"DeleteCloudRecording","params":{"SdkAppId":1,"TaskId":"x","Region":"ap-beijing"},"account":"b"}'
    ).key
    assert a == b != c


@settings(max_examples=200, deadline=None)
@given(
    task_id=param_text(max_size=40),
    account=st.from_regex(r"[a-z0-9_.-]{1,20}", fullmatch=True),
)
def test_key_is_a_function_of_action_account_params(task_id, account):
    body = {"action": "StopPullRecordTask", "params": {"TaskId": task_id}, "account": account}
    first = parse_command(json.dumps(body))
    again = parse_command(json.dumps(body, ensure_ascii=False, indent=2))
    assert first.key == again.key
    assert len(first.key) == 64
    other = parse_command(json.dumps({**body, "params": {"TaskId": task_id + "x"}}))
    assert other.key != first.key


def test_stale_is_strictly_after_not_after():
    cmd = parse_command(
        json.dumps(
            {"action": "StopPullRecordTask", "params": {"TaskId": "x"}, "not_after": "2026-11-21T18:05:00+08:00"}
        )
    )
    deadline = datetime(2026, 11, 21, 10, 5, tzinfo=UTC)
    assert cmd.not_after == deadline
    assert not cmd.is_stale(deadline)
    assert not cmd.is_stale(deadline - timedelta(hours=1))
    assert cmd.is_stale(deadline + timedelta(seconds=1))
    assert cmd.is_stale(datetime(2026, 11, 21, 18, 6, tzinfo=timezone(timedelta(hours=8))))


def test_wire_form_round_trips():
    body = {
        "action": "StopPublishCdnStream",
        "params": {"SdkAppId": 1400000001, "TaskId": "x", "Region": "ap-singapore"},
        "id": "k",
        "account": "second",
        "not_after": "2026-11-21T18:05:00+08:00",
    }
    cmd = parse_command(json.dumps(body))
    assert parse_command(json.dumps(cmd.as_dict())) == cmd


@pytest.mark.parametrize("action", sorted(FUNCTIONS))
def test_sample_events_are_valid_commands(action):
    name = FUNCTIONS[action]
    scheduled = parse_command(load_event(f"{name}.scheduler.json"), action)
    assert scheduled.not_after is not None and scheduled.id
    for record in load_event(f"{name}.sqs.json")["Records"]:
        assert parse_command(record["body"], action).name == action
