"""The ledger's write rules and the credentials adapter, against moto over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from livectl import runtime
from livectl.errors import AwsServiceError, PermanentProviderError
from livectl.providers import credentials
from livectl.store.ledger import COMMAND_TTL, PUBLISH_IN_PROGRESS, PUBLISH_LEASE, Ledger
from livectl.store.table import task_pk
from tests.control.support import DEMO_SECRET, LEDGER

pytestmark = pytest.mark.aws

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_state_moves_forward_only(stack):
    ledger = Ledger(LEDGER)
    assert ledger.update_state("volcengine", "t1", T0, {"state": "running", "provider_status": "生效中"})
    assert ledger.update_state("volcengine", "t1", T0 + timedelta(seconds=5), {"state": "stopped"})
    # an older answer arriving late does not rewind the state
    assert not ledger.update_state("volcengine", "t1", T0 + timedelta(seconds=1), {"state": "running"})
    state = ledger.get_state("volcengine", "t1")
    assert state["state"] == "stopped"
    assert state["provider_status"] == "生效中"
    assert state["updated_at"] == "2026-11-21T10:00:05.000000+00:00"


def test_same_update_twice_is_harmless_and_none_removes(stack):
    ledger = Ledger(LEDGER)
    fields = {"state": "pending", "last_error_code": "InternalError"}
    assert ledger.update_state("trtc", "t2", T0, fields)
    assert ledger.update_state("trtc", "t2", T0, fields)
    assert ledger.update_state("trtc", "t2", T0 + timedelta(seconds=1), {"state": "stopped", "last_error_code": None})
    state = ledger.get_state("trtc", "t2")
    assert state["state"] == "stopped" and "last_error_code" not in state


def test_keep_state_does_not_overwrite_a_settled_state(stack):
    ledger = Ledger(LEDGER)
    ledger.update_state("trtc", "t3", T0, {"state": "stopped"})
    ledger.update_state("trtc", "t3", T0 + timedelta(seconds=1), {"state": "pending", "x": 1}, keep_state=True)
    assert ledger.get_state("trtc", "t3")["state"] == "stopped"
    ledger.update_state("trtc", "t4", T0, {"state": "pending"}, keep_state=True)
    assert ledger.get_state("trtc", "t4")["state"] == "pending"


def test_command_item_written_once_then_published_once(stack):
    ledger = Ledger(LEDGER)
    pk = task_pk("volcengine", "t5")
    fields = {"action": "StopPullRecordTask", "outcome": "done", "params": {"TaskId": "t5"}, "provider_calls": 1}
    assert ledger.record_command(pk, T0, "k1", fields, ttl=COMMAND_TTL, now=T0)
    # another copy while the first writer's lease runs: it may be publishing right now, the copy is handed back
    with pytest.raises(AwsServiceError) as held:
        ledger.record_command(pk, T0, "k1", fields, ttl=COMMAND_TTL, now=T0 + PUBLISH_LEASE - timedelta(seconds=1))
    assert held.value.retryable and held.value.code == PUBLISH_IN_PROGRESS
    # after the lease the first writer has published or died: a redelivery before the event went out publishes
    assert ledger.record_command(pk, T0, "k1", fields, ttl=COMMAND_TTL, now=T0 + PUBLISH_LEASE)
    ledger.mark_published(pk, T0, "k1")
    # a redelivery after: nothing to do, whenever it comes
    for later in (timedelta(seconds=1), 2 * PUBLISH_LEASE):
        assert not ledger.record_command(pk, T0, "k1", fields, ttl=COMMAND_TTL, now=T0 + later)
    [item] = ledger.history("volcengine", "t5")
    assert item["published"] is True
    assert item["provider_calls"] == 1
    assert item["params"] == {"TaskId": "t5"}  # a map now (issue 11), no longer JSON text
    assert item["expires_at"] == int((T0 + COMMAND_TTL).timestamp())


def test_rejections_are_filed_by_day(stack):
    ledger = Ledger(LEDGER)
    assert ledger.record_rejection(T0, "m1", {"field": "params.TaskId", "reason": "required"})
    [item] = ledger.rejected("2026-11-21")
    assert item["field"] == "params.TaskId"


def test_missing_table_is_an_aws_error_by_code(stack):
    with pytest.raises(PermanentProviderError) as err:
        Ledger("no-such-table").get_state("trtc", "x")
    assert err.value.code == "ResourceNotFoundException"


def test_credentials_from_secrets_manager(stack):
    creds = credentials.load_credentials("volcengine", "default")
    assert creds.access_key == "AKLTDEMO"
    assert creds.secret_key == DEMO_SECRET
    assert DEMO_SECRET not in repr(creds)


def test_missing_secret_is_permanent_and_names_the_account(stack):
    with pytest.raises(PermanentProviderError) as err:
        credentials.load_credentials("trtc", "nobody")
    assert err.value.code == "CredentialsNotFound"
    assert "'nobody'" in err.value.message and "livectl/trtc/nobody" in err.value.message
    assert err.value.field == "account"


@pytest.mark.parametrize(
    "value", ['{"access_key": "AK"}', '"just a string"', "not json at all", '{"access_key": "", "secret_key": "x"}']
)
def test_malformed_secret_is_permanent_and_never_echoed(stack, value):
    stack.client("secretsmanager").create_secret(Name="livectl/trtc/broken", SecretString=value)
    with pytest.raises(PermanentProviderError) as err:
        credentials.load_credentials("trtc", "broken")
    assert err.value.code == "CredentialsMalformed"
    assert value not in str(err.value) and "just a string" not in str(err.value)


def test_secrets_are_cached(stack, monkeypatch):
    credentials.load_credentials("volcengine", "default")
    # the secret changes in Secrets Manager; within max_age the cached value is used
    stack.client("secretsmanager").put_secret_value(
        SecretId="livectl/volcengine/default", SecretString=json.dumps({"access_key": "AK2", "secret_key": "s"})
    )
    assert credentials.load_credentials("volcengine", "default").access_key == "AKLTDEMO"
    runtime.reset()
    assert credentials.load_credentials("volcengine", "default").access_key == "AK2"


def test_unreachable_secrets_manager_is_retryable(stack, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    runtime.reset()
    with pytest.raises(AwsServiceError):
        credentials.load_credentials("volcengine", "default")
