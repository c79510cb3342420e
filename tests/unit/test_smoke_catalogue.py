import pytest

from livectl.catalogue import ACTIONS, get_action, validate_params
from livectl.errors import InvalidCommand

pytestmark = pytest.mark.unit


def test_five_actions_with_documented_qps():
    assert {name: a.qps for name, a in ACTIONS.items()} == {
        "StopPullRecordTask": 50,
        "GetPullRecordTask": 10,
        "RestartPullToPushTask": 10,
        "DeleteCloudRecording": 20,
        "StopPublishCdnStream": 20,
    }


def test_get_pull_record_wants_capital_d():
    with pytest.raises(InvalidCommand) as err:
        validate_params(get_action("GetPullRecordTask"), {"TaskId": "x"})
    assert err.value.field == "params.TaskId"
    assert "TaskID" in err.value.message
