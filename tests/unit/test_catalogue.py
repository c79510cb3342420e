"""The five actions' parameter validation (every error names its field), bodies as the SDKs send them, and
GetPullRecordTask's Chinese status. Region lists are read from the seed pages, not copied from the code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl.command import parse_command
from livectl.errors import InvalidCommand
from livectl.providers.catalogue import (
    ACTIONS,
    CONFIRM_QUERIES,
    TRTC,
    VOLCENGINE,
    PullRecordStatus,
    body_params,
    get_action,
    provider_action,
    region_param,
    serialize_body,
    task_id_of,
    validate_params,
)
from livectl.providers.operations import Outcome

pytestmark = pytest.mark.unit

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"


def _seed_regions(action: str) -> tuple[str, ...]:
    for path in SEEDS.glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        if f"The value used for this API: {action}." in text:
            match = re.search(r"This API only supports: ([a-z0-9, -]+)\.", text)
            assert match, f"{path.name}: no region list"
            return tuple(r.strip() for r in match.group(1).split(","))
    raise AssertionError(f"no seed for {action}")


VALID = {
    "StopPullRecordTask": {"TaskId": "f831f3b0********1aa4dcf7621"},
    "GetPullRecordTask": {"TaskID": "5b903f78c7f5ae*******01f6fe2eea"},
    "RestartPullToPushTask": {"TaskId": "8fde6aa0281d********9a6e242365"},
    "StopPullToPushTask": {"TaskId": "8fde6aa0281d********9a6e242365", "GroupName": "default"},
    "DeleteCloudRecording": {"SdkAppId": 1400188366, "TaskId": "xx", "Region": "ap-guangzhou"},
    "StopPublishCdnStream": {"SdkAppId": 1400188366, "TaskId": "-m97l2ZU7k..", "Region": "ap-singapore"},
}
ALL = sorted(ACTIONS)


def _invalid(action: str, params: object) -> InvalidCommand:
    with pytest.raises(InvalidCommand) as err:
        validate_params(get_action(action), params)
    return err.value


def test_the_six_actions():
    assert set(VALID) == set(ACTIONS)
    assert {n: (a.provider, a.version, a.service, a.qps) for n, a in ACTIONS.items()} == {
        "StopPullRecordTask": (VOLCENGINE, "2023-01-01", "live", 50),
        "GetPullRecordTask": (VOLCENGINE, "2023-01-01", "live", 10),
        "RestartPullToPushTask": (VOLCENGINE, "2023-01-01", "live", 10),
        "StopPullToPushTask": (VOLCENGINE, "2023-01-01", "live", 10),
        "DeleteCloudRecording": (TRTC, "2019-07-22", "trtc", 20),
        "StopPublishCdnStream": (TRTC, "2019-07-22", "trtc", 20),
    }
    assert [a for a in ALL if not ACTIONS[a].is_mutation] == ["GetPullRecordTask"]


@pytest.mark.parametrize("action", ALL)
def test_valid_params_pass_in_provider_order(action):
    params = dict(reversed(list(VALID[action].items())))
    out = validate_params(get_action(action), params)
    assert out == VALID[action]
    assert list(out) == [p.name for p in get_action(action).params if p.name in out]


@pytest.mark.parametrize("action", ALL)
def test_missing_required_field_is_named(action):
    for p in get_action(action).params:
        if not p.required:
            continue
        params = {k: v for k, v in VALID[action].items() if k != p.name}
        err = _invalid(action, params)
        assert err.field == f"params.{p.name}"
        assert p.name in err.message
        # None counts as missing
        assert _invalid(action, {**VALID[action], p.name: None}).field == f"params.{p.name}"


@pytest.mark.parametrize("action", ALL)
def test_unknown_field_is_named(action):
    err = _invalid(action, {**VALID[action], "Bogus": "x"})
    assert err.field == "params.Bogus"
    assert action in err.message


@pytest.mark.parametrize("action", ALL)
@pytest.mark.parametrize("bad", [123, 1.5, True, ["a"], {"a": 1}])
def test_mistyped_string_field_is_named(action, bad):
    act = get_action(action)
    for p in act.params:
        if p.type is str and p.choices is None:
            err = _invalid(action, {**VALID[action], p.name: bad})
            assert err.field == f"params.{p.name}"
            assert "string" in err.message


@pytest.mark.parametrize("action", ALL)
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_string_is_refused(action, blank):
    act = get_action(action)
    err = _invalid(action, {**VALID[action], act.task_id_param: blank})
    assert err.field == f"params.{act.task_id_param}"


def test_overlong_string_is_refused():
    err = _invalid("StopPullRecordTask", {"TaskId": "x" * 257})
    assert err.field == "params.TaskId"
    assert validate_params(get_action("StopPullRecordTask"), {"TaskId": "x" * 256})["TaskId"] == "x" * 256


@pytest.mark.parametrize("action", ["DeleteCloudRecording", "StopPublishCdnStream"])
@pytest.mark.parametrize("bad", [True, False, "1400188366", 1400188366.0, None, 0, -5, [1]])
def test_sdk_app_id_is_a_positive_int_not_bool_or_str(action, bad):
    err = _invalid(action, {**VALID[action], "SdkAppId": bad})
    assert err.field == "params.SdkAppId"


@pytest.mark.parametrize("action", ["DeleteCloudRecording", "StopPublishCdnStream"])
def test_region_from_each_apis_documented_list(action):
    documented = _seed_regions(action)
    assert get_action(action).params[-1].choices == documented
    for region in documented:
        out = validate_params(get_action(action), {**VALID[action], "Region": region})
        assert region_param(get_action(action), out) == region
    others = {"ap-beijing", "ap-guangzhou", "ap-hongkong", "ap-mumbai", "ap-shanghai", "ap-singapore", "ap-tokyo"}
    for region in [*sorted(others - set(documented)), "AP-GUANGZHOU", "", "guangzhou"]:
        err = _invalid(action, {**VALID[action], "Region": region})
        assert err.field == "params.Region", region
    assert _invalid(action, {**VALID[action], "Region": 7}).field == "params.Region"


def test_region_lists_differ_between_the_two_trtc_apis():
    assert "ap-hongkong" in _seed_regions("StopPublishCdnStream")
    assert "ap-hongkong" not in _seed_regions("DeleteCloudRecording")
    assert validate_params(
        get_action("StopPublishCdnStream"), {**VALID["StopPublishCdnStream"], "Region": "ap-hongkong"}
    )
    assert _invalid("DeleteCloudRecording", {**VALID["DeleteCloudRecording"], "Region": "ap-hongkong"})


@pytest.mark.parametrize("relay_action", ["RestartPullToPushTask", "StopPullToPushTask"])
def test_group_name_is_optional(relay_action):
    act = get_action(relay_action)
    assert validate_params(act, {"TaskId": "t"}) == {"TaskId": "t"}
    assert validate_params(act, {"TaskId": "t", "GroupName": None}) == {"TaskId": "t"}
    assert validate_params(act, {"GroupName": "g", "TaskId": "t"}) == {"TaskId": "t", "GroupName": "g"}
    assert _invalid(relay_action, {"TaskId": "t", "GroupName": 3}).field == "params.GroupName"
    assert _invalid("StopPullRecordTask", {"TaskId": "t", "GroupName": "g"}).field == "params.GroupName"


def test_task_id_spelling_per_action():
    # GetPullRecordTask takes TaskID (capital D); the others TaskId. The wrong one is named, with a hint.
    err = _invalid("GetPullRecordTask", {"TaskId": "x"})
    assert err.field == "params.TaskId"
    assert "did you mean TaskID?" in err.message
    err = _invalid("StopPullRecordTask", {"TaskID": "x"})
    assert err.field == "params.TaskID"
    assert "did you mean TaskId?" in err.message
    for name in ALL:
        expected = "TaskID" if name == "GetPullRecordTask" else "TaskId"
        assert get_action(name).task_id_param == expected
        assert task_id_of(get_action(name), VALID[name]) == VALID[name][expected]


@pytest.mark.parametrize("params", [None, [], "TaskId=x", 3, ("TaskId", "x")])
def test_params_must_be_an_object(params):
    assert _invalid("StopPullRecordTask", params).field == "params"


@pytest.mark.parametrize("name", [None, "", "stoppullrecordtask", "StopPullRecordTask ", 5, "CreatePullRecordTask"])
def test_unknown_action_is_named(name):
    with pytest.raises(InvalidCommand) as err:
        get_action(name)
    assert err.value.field == "action"


# --------------------------------------------------------------------------------------------------------
# bodies
# --------------------------------------------------------------------------------------------------------
def test_bodies_are_what_the_sdks_send():
    # Region is a common parameter (X-TC-Region header), never in the body; json.dumps defaults, ASCII escapes
    assert serialize_body(get_action("DeleteCloudRecording"), VALID["DeleteCloudRecording"]) == (
        b'{"SdkAppId": 1400188366, "TaskId": "xx"}'
    )
    assert body_params(get_action("StopPublishCdnStream"), VALID["StopPublishCdnStream"]) == {
        "SdkAppId": 1400188366,
        "TaskId": "-m97l2ZU7k..",
    }
    assert serialize_body(get_action("GetPullRecordTask"), {"TaskID": "任务"}) == b'{"TaskID": "\\u4efb\\u52a1"}'
    body = serialize_body(get_action("RestartPullToPushTask"), {"TaskId": "t", "GroupName": "g"})
    assert json.loads(body) == {"TaskId": "t", "GroupName": "g"}
    assert region_param(get_action("StopPullRecordTask"), VALID["StopPullRecordTask"]) is None


# --------------------------------------------------------------------------------------------------------
# GetPullRecordTask's Status
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "member", "final"),
    [
        ("未开始", PullRecordStatus.NOT_STARTED, False),
        ("生效中", PullRecordStatus.ACTIVE, False),
        ("停用", PullRecordStatus.STOPPED, True),
        ("已结束", PullRecordStatus.ENDED, True),
    ],
)
def test_pull_record_status_values(raw, member, final):
    assert PullRecordStatus.parse(raw) is member
    assert member.is_final is final


@pytest.mark.parametrize("raw", [None, "", "Stopped", "停用 ", "暂停中", "?"])
def test_unknown_status_keeps_raw_text(raw):
    assert PullRecordStatus.parse(raw) is PullRecordStatus.UNKNOWN
    assert not PullRecordStatus.parse(raw).is_final
    outcome = Outcome("GetPullRecordTask", "t", "done", "r", {"Status": raw}, 1, 1, task_status=raw)
    assert outcome.task_status == raw  # the ledger keeps the provider's own words
    assert outcome.pull_record_status is (None if raw is None else PullRecordStatus.UNKNOWN)


def test_confirm_rule_for_stop_pull_record():
    stop = get_action("StopPullRecordTask")
    assert stop.confirm_with == "GetPullRecordTask"
    assert stop.confirm_codes == {"InvalidParam"}
    assert stop.confirm_statuses == {"停用", "已结束"}
    for name in ("DeleteCloudRecording", "StopPublishCdnStream"):
        assert get_action(name).already_done_codes == {"FailedOperation.TaskNotExist", "FailedOperation.TaskFinished"}


def test_confirm_queries_are_reads_of_the_same_kind_and_never_commands():
    """A confirm query has no queue and no function: a command cannot name it, and it changes nothing."""
    assert set(CONFIRM_QUERIES).isdisjoint(ACTIONS)
    for action in ACTIONS.values():
        if action.confirm_with is None:
            continue
        query = provider_action(action.confirm_with)
        assert (query.provider, query.kind, query.is_mutation) == (action.provider, action.kind, False)
        assert action.confirm_statuses and action.confirm_codes
    for name in CONFIRM_QUERIES:
        with pytest.raises(InvalidCommand):
            get_action(name)
        with pytest.raises(InvalidCommand) as err:
            parse_command({"action": name, "params": {}})
        assert err.value.field == "action"


def test_list_query_parameters():
    query = CONFIRM_QUERIES["ListPullToPushTaskV2"]
    assert (query.qps, query.verb) == (15, "list")  # docs 6469/1327383: 15 requests per second per user
    ok = validate_params(query, {"GroupNames": ["east"], "Page": 2, "Size": 500})
    assert serialize_body(query, ok) == b'{"GroupNames": ["east"], "Page": 2, "Size": 500}'
    for bad, field in [
        ({"Size": 501}, "params.Size"),
        ({"GroupNames": "east"}, "params.GroupNames"),
        ({"GroupNames": [""]}, "params.GroupNames"),
        ({"GroupNames": [1]}, "params.GroupNames"),
    ]:
        with pytest.raises(InvalidCommand) as err:
            validate_params(query, bad)
        assert err.value.field == field


# -- control characters in parameters (issue 10 item 8) -----------------------------------------------------
# Any character of these classes, somewhere in a text parameter, is refused with the field named: C0/C1
# controls (ESC, newline...), DEL, line/paragraph separators, bidi marks/embeddings/overrides/isolates, lone
# surrogates. Drawn from the Unicode categories, not from the implementation's own list.
def _forbidden_char() -> st.SearchStrategy[str]:
    import unicodedata

    bidi = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    return st.one_of(
        st.characters(categories=["Cc", "Zl", "Zp", "Cs"]),
        st.sampled_from(bidi),
    ).filter(lambda c: unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") or c in bidi)


TEXT_PARAMS = [(a.name, p.name) for a in ACTIONS.values() for p in a.params if p.type is str and p.choices is None]


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(TEXT_PARAMS),
    head=st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=20),
    bad=_forbidden_char(),
    tail=st.text(max_size=20),
)
def test_a_text_parameter_with_a_control_or_bidi_character_is_refused_naming_the_field(
    where: tuple[str, str], head: str, bad: str, tail: str
) -> None:
    from livectl.command import parse_command

    action_name, param = where
    action = get_action(action_name)
    params: dict[str, object] = {"TaskId": "t", "TaskID": "t", "SdkAppId": 1400000001}
    params = {p.name: params.get(p.name, "t") for p in action.params if p.required}
    if "Region" in params:
        params["Region"] = next(p for p in action.params if p.name == "Region").choices[0]  # type: ignore[index]
    params[param] = head + bad + tail
    with pytest.raises(InvalidCommand) as caught:
        parse_command({"action": action_name, "params": params})
    assert caught.value.field == f"params.{param}"
    assert bad not in caught.value.message  # the message names the code point; it never echoes the character


@pytest.mark.parametrize("text", ["f831f3b0-aa", "生效中 task", "rec_9.x~", "emoji 🎥 ok", "a\u00e9b"])
def test_printable_text_parameters_still_pass(text: str) -> None:
    assert validate_params(get_action("StopPullRecordTask"), {"TaskId": text}) == {"TaskId": text}


def test_the_schema_refuses_the_same_characters_as_the_catalogue() -> None:
    from livectl.command import load_schema
    from livectl.providers.catalogue import FORBIDDEN_CHARS

    assert load_schema()["definitions"]["Text"]["not"] == {"pattern": f"[{FORBIDDEN_CHARS}]"}
