"""ListPullToPushTaskV2, the query livectl settles an ambiguous restart refusal with: signed like every
Volcengine call, limited to its documented 15 QPS, subject to faults, and paged as the docs describe
(`Result.List` + `Pagination{PageCur, PageSize, PageTotal, TotalCount}`)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from livectl.providers.catalogue import CONFIRM_QUERIES
from livectl.providers.signing import Credentials
from tests.emulator.helpers import volc_error

pytestmark = pytest.mark.emulator

LIST = "ListPullToPushTaskV2"


def listed(resp) -> tuple[list[tuple[str, str]], dict]:
    assert resp.status_code == 200, resp.text
    result = resp.json()["Result"]
    return [(item["TaskId"], item["Status"]) for item in result["List"]], result["Pagination"]


def test_lists_relays_with_their_status_a_page_at_a_time(emulator, raw):
    emulator.add_task("pull_to_push", "relay-1")
    emulator.add_task("pull_to_push", "relay-2", status="停用")
    emulator.add_task("pull_record", "not-a-relay")
    emulator.add_task("pull_to_push", "relay-3", status="未开始")
    first, pagination = listed(raw.volc(LIST, {"Page": 1, "Size": 2}))
    assert first == [("relay-1", "生效中"), ("relay-2", "停用")]
    assert pagination == {"PageCur": 1, "PageSize": 2, "PageTotal": 2, "TotalCount": 3}
    second, pagination = listed(raw.volc(LIST, {"Page": 2, "Size": 2}))
    assert second == [("relay-3", "未开始")]
    assert pagination["PageCur"] == 2
    everything, pagination = listed(raw.volc(LIST, {}))  # Page 1, Size 20 by default
    assert [t for t, _ in everything] == ["relay-1", "relay-2", "relay-3"] and pagination["PageSize"] == 20


def test_filters_by_group_and_title(emulator, raw):
    emulator.add_task("pull_to_push", "a", group_name="east", title="Concert Main")
    emulator.add_task("pull_to_push", "b", group_name="west", title="concert backup")
    emulator.add_task("pull_to_push", "c", title="talk")  # no group: the default group
    assert [t for t, _ in listed(raw.volc(LIST, {"GroupNames": ["west"]}))[0]] == ["b"]
    assert [t for t, _ in listed(raw.volc(LIST, {"GroupNames": ["default", "east"]}))[0]] == ["a", "c"]
    assert [t for t, _ in listed(raw.volc(LIST, {"Title": "CONCERT"}))[0]] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Size": 501}, (400, "InvalidParam")),  # the documented maximum is 500
        ({"Page": 0}, (400, "InvalidParam")),
        ({"Page": "1"}, (400, "InvalidParam.BindError")),
        ({"GroupNames": "east"}, (400, "InvalidParam.BindError")),
    ],
)
def test_bad_paging_parameters_are_refused(emulator, raw, body, expected):
    assert volc_error(raw.volc(LIST, body)) == expected


def test_a_wrong_signature_is_refused(emulator, raw):
    resp = raw.volc(LIST, {}, credentials=Credentials("AKLTDEMO", "not-the-secret"))
    assert volc_error(resp) == (401, "SignatureDoesNotMatch")


def test_limited_to_its_documented_qps(emulator, emulator_clock, raw):
    t0 = emulator_clock.freeze()
    assert CONFIRM_QUERIES[LIST].qps == 15
    codes: Counter = Counter()
    for _ in range(20):
        resp = raw.volc(LIST, {}, now=datetime.fromtimestamp(t0, UTC))
        codes[(resp.status_code, resp.json()["ResponseMetadata"].get("Error", {}).get("Code"))] += 1
    assert codes == {(200, None): 15, (429, "FlowLimitExceeded"): 5}


def test_faults_can_target_it(emulator, raw):
    emulator.set_faults({"kinds": ["http_502"], "actions": [LIST], "count": 1})
    assert volc_error(raw.volc(LIST, {})) == (502, "InternalServiceError")
    assert raw.volc(LIST, {}).status_code == 200
    assert [c["fault"] for c in emulator.calls()] == ["http_502", None]
