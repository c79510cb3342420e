"""Authentication like the real thing: valid calls pass, a wrong secret, an unknown key, a tampered body and an
old timestamp are refused with the provider's own code — for livectl's client, for raw requests and for the
official SDKs pointed at the emulator."""

from __future__ import annotations

import hashlib
import json
import types
from datetime import UTC, datetime, timedelta

import pytest
import requests

from livectl.errors import PermanentProviderError
from livectl.providers.catalogue import ACTIONS
from livectl.providers.signing import Credentials, tc3_signature_over
from tests.emulator.helpers import trtc_error, volc_error

pytestmark = pytest.mark.emulator

STOP_REC = ACTIONS["StopPullRecordTask"]
GET_REC = ACTIONS["GetPullRecordTask"]
DELETE_REC = ACTIONS["DeleteCloudRecording"]
TRTC_PARAMS = {"SdkAppId": 1400000001, "TaskId": "cr-1", "Region": "ap-guangzhou"}


def now() -> datetime:
    return datetime.now(UTC)


# ---- livectl's own clients -----------------------------------------------------------------------------------
def test_livectl_client_valid_calls_succeed(emulator, livectl_client, volc_credentials, trtc_credentials):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    got = livectl_client.call(GET_REC, {"TaskID": "rec-1"}, volc_credentials, now())
    assert got.result["Status"] == "生效中"
    assert len(got.request_id) == 33 and got.request_id[:2] == "20"
    done = livectl_client.call(DELETE_REC, TRTC_PARAMS, trtc_credentials, now())
    assert done.result == {"TaskId": "cr-1"}
    calls = emulator.calls()
    assert [(c["account"], c["signature_valid"], c["error_code"]) for c in calls] == [
        ("AKLTDEMO", True, None),
        ("AKIDDEMO", True, None),
    ]


@pytest.mark.parametrize(
    ("action", "params", "creds", "code", "status"),
    [
        (STOP_REC, {"TaskId": "rec-1"}, Credentials("AKLTDEMO", "wrong"), "SignatureDoesNotMatch", 401),
        (STOP_REC, {"TaskId": "rec-1"}, Credentials("AKLTNOBODY", "demo-secret"), "InvalidAccessKey", 401),
        (DELETE_REC, TRTC_PARAMS, Credentials("AKIDDEMO", "wrong"), "AuthFailure.SignatureFailure", 200),
        (DELETE_REC, TRTC_PARAMS, Credentials("AKIDNOBODY", "demo-secret"), "AuthFailure.SecretIdNotFound", 200),
    ],
)
def test_wrong_credentials_are_refused_with_the_provider_code(
    emulator, livectl_client, action, params, creds, code, status
):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    with pytest.raises(PermanentProviderError) as err:
        livectl_client.call(action, params, creds, now())
    assert err.value.code == code
    assert err.value.http_status == status
    assert emulator.tasks()[0]["status"] in ("生效中", "InProgress")  # nothing changed
    (call,) = emulator.calls()
    assert call["error_code"] == code
    assert call["account"] == creds.access_key
    assert call["signature_valid"] is (False if "Signature" in code else None)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_more_than_five_minutes_off_are_refused(
    emulator, livectl_client, volc_credentials, trtc_credentials, skew
):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    with pytest.raises(PermanentProviderError) as err:
        livectl_client.call(STOP_REC, {"TaskId": "rec-1"}, volc_credentials, now() + skew)
    assert (err.value.code, err.value.http_status) == ("InvalidTimestamp", 400)
    with pytest.raises(PermanentProviderError) as err:
        livectl_client.call(DELETE_REC, TRTC_PARAMS, trtc_credentials, now() + skew)
    assert err.value.code == "AuthFailure.SignatureExpire"
    # the signature itself was fine: the log says so, the refusal is about time only
    assert [c["signature_valid"] for c in emulator.calls()] == [True, True]
    assert {t["status"] for t in emulator.tasks()} == {"生效中", "InProgress"}


def test_timestamps_within_five_minutes_pass(
    emulator, emulator_clock, livectl_client, volc_credentials, trtc_credentials
):
    t0 = emulator_clock.freeze()
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    at = datetime.fromtimestamp(t0, UTC) - timedelta(seconds=299)
    livectl_client.call(GET_REC, {"TaskID": "rec-1"}, volc_credentials, at)
    livectl_client.call(DELETE_REC, TRTC_PARAMS, trtc_credentials, at)
    assert [c["error_code"] for c in emulator.calls()] == [None, None]


def test_a_body_changed_after_signing_is_refused(emulator, raw):
    emulator.add_task("pull_record", "rec-1")
    signed = raw.volc("StopPullRecordTask", {"TaskId": "rec-1"})
    assert signed.status_code == 200
    emulator.add_task("pull_record", "rec-1")
    prepared = raw.volc("StopPullRecordTask", {"TaskId": "rec-2"}).request
    tampered = raw.session.post(prepared.url, headers=dict(prepared.headers), data=b'{"TaskId": "rec-1"}', timeout=5)
    assert volc_error(tampered) == (401, "SignatureDoesNotMatch")
    assert emulator.task("pull_record", "rec-1")["status"] == "生效中"


def test_missing_authorization_is_refused(emulator, raw):
    resp = raw.session.post(f"{emulator.url}/?Action=StopPullRecordTask&Version=2023-01-01", data=b"{}", timeout=5)
    assert volc_error(resp) == (400, "MissingRequestInfo")
    resp = raw.session.post(
        f"{emulator.url}/",
        headers={
            "X-TC-Action": "DeleteCloudRecording",
            "X-TC-Version": "2019-07-22",
            "Content-Type": "application/json",
        },
        data=b"{}",
        timeout=5,
    )
    assert trtc_error(resp) == "AuthFailure.InvalidAuthorization"


def test_tc3_with_the_docs_header_set_is_verified_over_what_signed_headers_names(emulator, raw):
    """The docs' examples sign content-type;host;x-tc-action with a charset; the server follows SignedHeaders."""
    emulator.add_task("cloud_recording", "cr-1")
    body = json.dumps({"SdkAppId": 1400000001, "TaskId": "cr-1"}).encode()
    ts = int(now().timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Host": raw.host,
        "X-TC-Action": "DeleteCloudRecording",
        "X-TC-Version": "2019-07-22",
        "X-TC-Timestamp": str(ts),
        "X-TC-Region": "ap-guangzhou",
    }

    def authorization(secret: str) -> str:
        scope, signed, sig = tc3_signature_over(
            method="POST",
            path="/",
            query="",
            canonical_headers={
                "content-type": headers["Content-Type"],
                "host": raw.host,
                "x-tc-action": "deletecloudrecording",
            },
            body_sha256=hashlib.sha256(body).hexdigest(),
            secret_key=secret,
            service="trtc",
            timestamp=ts,
        )
        return f"TC3-HMAC-SHA256 Credential=AKIDDEMO/{scope}, SignedHeaders={signed}, Signature={sig}"

    bad = raw.session.post(emulator.url, headers={**headers, "Authorization": authorization("nope")}, data=body)
    assert trtc_error(bad) == "AuthFailure.SignatureFailure"
    good = raw.session.post(emulator.url, headers={**headers, "Authorization": authorization("demo-secret")}, data=body)
    assert trtc_error(good) is None
    assert good.json()["Response"]["TaskId"] == "cr-1"


def test_accounts_added_through_the_admin_api_authenticate(emulator, raw, livectl_client):
    assert raw.admin_post("accounts", {"provider": "volcengine", "access_key": "AKLTSECOND", "secret_key": "s2"}).ok
    assert {"provider": "volcengine", "access_key": "AKLTSECOND"} in raw.admin_get("accounts")
    emulator.add_task("pull_record", "rec-1")
    livectl_client.call(STOP_REC, {"TaskId": "rec-1"}, Credentials("AKLTSECOND", "s2"), now())
    assert emulator.calls()[-1]["account"] == "AKLTSECOND"
    assert raw.admin_post("accounts", {"provider": "aws", "access_key": "x", "secret_key": "y"}).status_code == 400


# ---- the official SDKs, pointed at the emulator ------------------------------------------------------------------
@pytest.fixture
def trtc_sdk(emulator):
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    def make(secret: str = "demo-secret", secret_id: str = "AKIDDEMO", region: str = "ap-guangzhou"):  # noqa: S107
        http = HttpProfile(protocol="http", endpoint=emulator.url.split("://", 1)[1], reqTimeout=10)
        cred = credential.Credential(secret_id, secret)
        return trtc_client.TrtcClient(cred, region, ClientProfile(httpProfile=http))

    return types.SimpleNamespace(make=make, models=models)


def _trtc_request(models, cls_name: str, task_id: str):
    req = getattr(models, f"{cls_name}Request")()
    req.SdkAppId = 1400000001
    req.TaskId = task_id
    return req


def test_tencentcloud_sdk_calls_succeed(emulator, trtc_sdk):
    emulator.add_task("cloud_recording", "cr-1")
    emulator.add_task("cdn_publish", "relay-1")
    client = trtc_sdk.make()
    resp = client.DeleteCloudRecording(_trtc_request(trtc_sdk.models, "DeleteCloudRecording", "cr-1"))
    assert resp.TaskId == "cr-1" and len(resp.RequestId) == 36
    resp = client.StopPublishCdnStream(_trtc_request(trtc_sdk.models, "StopPublishCdnStream", "relay-1"))
    assert resp.TaskId == "relay-1"
    assert [t["status"] for t in emulator.tasks()] == ["Exited", "IDLE"]
    assert all(c["signature_valid"] for c in emulator.calls())


def test_tencentcloud_sdk_sees_the_provider_errors(emulator, trtc_sdk, monkeypatch):
    from tencentcloud.common import abstract_client
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    emulator.add_task("cloud_recording", "cr-1")
    req = _trtc_request(trtc_sdk.models, "DeleteCloudRecording", "cr-1")
    with pytest.raises(TencentCloudSDKException) as err:
        trtc_sdk.make(secret="wrong").DeleteCloudRecording(req)
    assert err.value.get_code() == "AuthFailure.SignatureFailure"
    with pytest.raises(TencentCloudSDKException) as err:
        trtc_sdk.make(secret_id="AKIDNOBODY").DeleteCloudRecording(req)
    assert err.value.get_code() == "AuthFailure.SecretIdNotFound"
    old = int(now().timestamp()) - 3600
    monkeypatch.setattr(abstract_client, "time", types.SimpleNamespace(time=lambda: old))
    with pytest.raises(TencentCloudSDKException) as err:
        trtc_sdk.make().DeleteCloudRecording(req)
    assert err.value.get_code() == "AuthFailure.SignatureExpire"
    assert emulator.task("cloud_recording", "cr-1")["status"] == "InProgress"


@pytest.fixture
def live_sdk(emulator, monkeypatch):
    """volcengine's LiveService against the emulator. Its ServiceInfo is a shared global and env vars override
    explicit keys, so: no VOLC_* in the environment, no session token left by an earlier test (the differential
    tests sign with generated ones), and the global is restored afterwards."""
    for name in ("VOLC_ACCESSKEY", "VOLC_SECRETKEY", "VOLC_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    from volcengine.ApiInfo import ApiInfo
    from volcengine.live.v20230101.live_service import LiveService

    made = []

    def make(ak: str = "AKLTDEMO", sk: str = "demo-secret"):
        svc = LiveService()
        info = svc.service_info
        creds = info.credentials
        made.append((info, info.host, info.scheme, creds.ak, creds.sk, creds.session_token))
        svc.set_host(emulator.url.split("://", 1)[1])
        svc.set_scheme("http")
        svc.set_ak(ak)
        svc.set_sk(sk)
        svc.set_session_token("")
        # The SDK predates RestartPullToPushTask; describe it on this instance only.
        svc.api_info = dict(svc.api_info)
        svc.api_info["RestartPullToPushTask"] = ApiInfo(
            "POST", "/", {"Action": "RestartPullToPushTask", "Version": "2023-01-01"}, {}, {}
        )
        return svc

    yield make
    for info, host, scheme, ak, sk, token in reversed(made):
        info.host, info.scheme = host, scheme
        info.credentials.ak, info.credentials.sk, info.credentials.session_token = ak, sk, token


def _sdk_error(exc: Exception) -> dict:
    text = exc.args[0]
    return json.loads(text.decode() if isinstance(text, bytes) else text)["ResponseMetadata"]["Error"]


def test_volcengine_sdk_calls_succeed(emulator, live_sdk):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("pull_to_push", "relay-1", status="停用")
    emulator.add_task("pull_to_push", "relay-2", status="生效中")
    svc = live_sdk()
    got = svc.get_pull_record_task({"TaskID": "rec-1"})
    assert got["Result"]["Status"] == "生效中"
    assert got["ResponseMetadata"]["Action"] == "GetPullRecordTask"
    assert got["ResponseMetadata"]["Service"] == "live"
    stopped = svc.stop_pull_record_task({"TaskId": "rec-1"})
    assert "Error" not in stopped["ResponseMetadata"]
    restarted = json.loads(svc.json("RestartPullToPushTask", {}, json.dumps({"TaskId": "relay-1"})))
    assert restarted["ResponseMetadata"]["Action"] == "RestartPullToPushTask"
    relay_stopped = svc.stop_pull_to_push_task({"TaskId": "relay-2"})  # in the SDK's own table
    assert relay_stopped["ResponseMetadata"]["Action"] == "StopPullToPushTask"
    assert emulator.task("pull_to_push", "relay-2")["status"] == "停用"
    assert emulator.task("pull_record", "rec-1")["status"] == "停用"
    assert emulator.task("pull_to_push", "relay-1")["status"] == "生效中"
    assert all(c["signature_valid"] for c in emulator.calls())


def test_volcengine_sdk_sees_the_provider_errors(emulator, live_sdk, monkeypatch):
    from volcengine.auth.SignerV4 import SignerV4

    emulator.add_task("pull_record", "rec-1")
    with pytest.raises(Exception) as err:
        live_sdk(sk="wrong").stop_pull_record_task({"TaskId": "rec-1"})
    assert _sdk_error(err.value)["Code"] == "SignatureDoesNotMatch"
    assert _sdk_error(err.value)["CodeN"] == 100010
    with pytest.raises(Exception) as err:
        live_sdk(ak="AKLTNOBODY").stop_pull_record_task({"TaskId": "rec-1"})
    assert _sdk_error(err.value)["Code"] == "InvalidAccessKey"
    stale = (now() - timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(SignerV4, "get_current_format_date", staticmethod(lambda: stale))
    with pytest.raises(Exception) as err:
        live_sdk().stop_pull_record_task({"TaskId": "rec-1"})
    assert _sdk_error(err.value)["Code"] == "InvalidTimestamp"
    assert emulator.task("pull_record", "rec-1")["status"] == "生效中"


def test_sdk_and_livectl_share_one_port(emulator, live_sdk, trtc_sdk, livectl_client, volc_credentials):
    emulator.add_task("pull_record", "rec-1")
    emulator.add_task("cloud_recording", "cr-1")
    live_sdk().get_pull_record_task({"TaskID": "rec-1"})
    trtc_sdk.make().DeleteCloudRecording(_trtc_request(trtc_sdk.models, "DeleteCloudRecording", "cr-1"))
    livectl_client.call(STOP_REC, {"TaskId": "rec-1"}, volc_credentials, now())
    assert [(c["provider"], c["action"]) for c in emulator.calls()] == [
        ("volcengine", "GetPullRecordTask"),
        ("trtc", "DeleteCloudRecording"),
        ("volcengine", "StopPullRecordTask"),
    ]
    assert requests.get(f"{emulator.url}/_emulator/health", timeout=5).json()["ok"] is True
