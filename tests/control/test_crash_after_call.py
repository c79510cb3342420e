"""A crash between the provider's answer and the idempotency record's completion, for every action.

The crash is a simulated Lambda timeout: `save_success` raises a BaseException (nothing in livectl or Powertools
catches it), so the record stays INPROGRESS, the ledger and the bus see nothing, and the message comes back.
Powertools documents this gap (powertools-lambda-python #8049): once the in-progress record's expiry (the
invocation's deadline) has passed, the redelivery runs the provider call again. livectl makes that second run
harmless: a repeated stop is refused by the provider and settled as already done, a repeated restart is
settled as already done by the confirm query, a repeated query only reads. One EFFECTIVE mutation per command.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from livectl.control import service as control
from tests.control.support import FUNCTIONS, FakeContext, sqs_record
from tests.control.test_actions import AFTER, FAST, KIND, PROVIDER, add_task

pytestmark = [pytest.mark.aws, pytest.mark.emulator]

TRTC = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}
PARAMS = {
    "StopPullRecordTask": lambda t: {"TaskId": t},
    "GetPullRecordTask": lambda t: {"TaskID": t},
    "RestartPullToPushTask": lambda t: {"TaskId": t},
    "StopPullToPushTask": lambda t: {"TaskId": t},
    "DeleteCloudRecording": lambda t: {**TRTC, "TaskId": t},
    "StopPublishCdnStream": lambda t: {**TRTC, "TaskId": t},
}
MUTATES = {
    "StopPullRecordTask",
    "RestartPullToPushTask",
    "StopPullToPushTask",
    "DeleteCloudRecording",
    "StopPublishCdnStream",
}


class SimulatedTimeout(BaseException):
    """Lambda ending the invocation: not an Exception, so no handler of ours or Powertools' sees it."""


def expire_in_progress(stack: Any) -> None:
    """The fake clock passes the crashed invocation's deadline: its INPROGRESS record's expiry is now past."""
    ddb = stack.client("dynamodb")
    for item in stack.idempotency_items():
        assert item["status"]["S"] == "INPROGRESS"
        ddb.update_item(
            TableName=stack.settings.idempotency_table,
            Key={"id": item["id"]},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": {"N": "1"}},
        )


@pytest.mark.parametrize("action", sorted(FUNCTIONS))
def test_crash_after_the_provider_answered_ends_right_with_one_effective_mutation(action, stack, emu, monkeypatch):
    task = f"crash-{KIND[action]}"
    add_task(emu, action, task)
    container = control.Container(stack.settings, policy=FAST)
    body = json.dumps({"action": action, "params": PARAMS[action](task), "id": f"cmd-{task}"})
    record = sqs_record(body, message_id="first")
    original = BasePersistenceLayer.save_success

    def timeout_once(self: Any, *args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(BasePersistenceLayer, "save_success", original)
        raise SimulatedTimeout

    monkeypatch.setattr(BasePersistenceLayer, "save_success", timeout_once)
    with pytest.raises(SimulatedTimeout):
        control.handle_event({"Records": [record]}, FakeContext(), action, stack.settings, container=container)
    assert [c["error_code"] for c in emu.calls(action)] == [None]  # the provider did it
    status, state, detail_type = AFTER[action]
    assert stack.events() == []  # nothing after the call ran

    expire_in_progress(stack)
    again = {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}
    answer = control.handle_event({"Records": [again]}, FakeContext(), action, stack.settings, container=container)

    assert answer == {"batchItemFailures": []}
    assert emu.task(KIND[action], task)["status"] == status
    assert stack.ledger().get_state(PROVIDER[action], task)["state"] == state
    events = stack.events(detail_type)
    assert len(events) == 1
    effective = [c for c in emu.calls(action) if c["error_code"] is None]
    if action in MUTATES:
        assert len(effective) == 1, emu.calls()  # the second run was refused and settled as already done
        assert events[0]["detail"]["outcome"] == "already_done"
    assert [i["status"]["S"] for i in stack.idempotency_items()] == ["COMPLETED"]
