"""Our TC3 signer against tencentcloud-sdk-python (common + trtc, test-only oracles), time frozen.

Two levels, 2,000 generated cases each:
- the signature: `tc3_signature` vs the SDK's `_get_tc3_signature`, which builds the canonical request and
  string to sign from the request it is given and signs it with `Sign.sign_tc3` (unicode/empty/large bodies,
  content types, hosts, secrets, services, timestamps);
- the whole request: our `prepare_request` vs `TrtcClient._build_req_with_tc3_signature` on the SDK's own
  model serialisation (`DeleteCloudRecordingRequest._serialize()`), the exact step `TrtcClient.call` runs
  before it sends. Time is frozen as providers.md 2.5 says (`abstract_client.time`).
Timestamps are drawn around midnight UTC and in the 00:00-08:00 CST band.
"""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.sign import Sign
from tencentcloud.trtc.v20190722 import models, trtc_client

from livectl.providers.catalogue import ACTIONS, TRTC, validate_params
from livectl.providers.clients import prepare_request
from livectl.providers.signing import Credentials, tc3_signature
from tests.strategies import param_text

pytestmark = pytest.mark.differential

DIFFERENTIAL = settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))]
DAY0 = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
days = st.integers(min_value=0, max_value=365 * 40)

timestamps = st.one_of(
    # 23:59:57 .. 00:00:02 UTC: the date in the scope flips
    st.builds(lambda d, o: DAY0 + d * 86400 + o, days, st.integers(min_value=-3, max_value=2)),
    # 00:00-08:00 CST = 16:00-24:00 UTC on the previous UTC date
    st.builds(lambda d, o: DAY0 + d * 86400 + o, days, st.integers(min_value=-8 * 3600, max_value=-1)),
    st.integers(min_value=DAY0, max_value=DAY0 + 40 * 365 * 86400),
)
unicode_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
bodies = st.one_of(
    st.just(b""),
    unicode_text.map(lambda s: s.encode("utf-8")),
    st.binary(max_size=512),
    st.builds(lambda chunk, n: chunk * n, st.binary(min_size=1, max_size=32), st.integers(2_000, 40_000)),
)
host_names = st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?\Z")
hosts = st.builds(
    lambda name, port: name if port is None else f"{name}:{port}",
    st.one_of(st.sampled_from(["trtc.tencentcloudapi.com", "trtc.intl.tencentcloudapi.com"]), host_names),
    st.one_of(st.none(), st.sampled_from([443, 8900]), st.integers(1, 65535)),
)
# The SDK's Credential refuses keys with leading/trailing whitespace; anything else (unicode included) goes.
secrets = st.one_of(
    st.text(min_size=1, max_size=60).filter(lambda s: s.strip() == s and s),
    st.just("exampleSecretKey0000000000000000"),
)
secret_ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
tokens = st.one_of(st.none(), st.just(""), st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1))


def _sdk_client(secret_id: str, secret_key: str, token: str | None, region: str | None, host: str):
    profile = ClientProfile()
    profile.httpProfile.endpoint = host
    cred = credential.Credential(secret_id, secret_key, token)
    return trtc_client.TrtcClient(cred, region, profile)


# --------------------------------------------------------------------------------------------------------
# 1. the signature over arbitrary bodies
# --------------------------------------------------------------------------------------------------------
@DIFFERENTIAL
@given(
    body=bodies,
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]),
    host=hosts,
    secret_key=secrets,
    service=st.sampled_from(["trtc", "cvm", "live"]),
    ts=timestamps,
)
def test_signature_matches_sdk_sign_tc3(body, content_type, host, secret_key, service, ts):
    scope, ours = tc3_signature(
        method="POST",
        path="/",
        query="",
        content_type=content_type,
        host=host,
        body=body,
        secret_key=secret_key,
        service=service,
        timestamp=ts,
    )
    client = _sdk_client("AKID", secret_key, None, "ap-guangzhou", host)
    req = RequestInternal(host, "POST", "/", header={"Content-Type": content_type, "Host": host})
    req.header["X-TC-Timestamp"] = str(ts)
    req.data = body
    date = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")  # the SDK: utcfromtimestamp(ts)
    with mock.patch.object(Sign, "sign_tc3", wraps=Sign.sign_tc3) as spy:
        theirs = client._get_tc3_signature({}, req, date, service, secret_key)
    spy.assert_called_once()
    assert ours == theirs
    assert scope == f"{date}/{service}/tc3_request"


# --------------------------------------------------------------------------------------------------------
# 2. the whole request, as TrtcClient builds it
# --------------------------------------------------------------------------------------------------------
TRTC_ACTIONS = sorted(name for name, a in ACTIONS.items() if a.provider == TRTC)
MODELS = {
    "DeleteCloudRecording": models.DeleteCloudRecordingRequest,
    "StopPublishCdnStream": models.StopPublishCdnStreamRequest,
}


@st.composite
def trtc_calls(draw):
    action = ACTIONS[draw(st.sampled_from(TRTC_ACTIONS))]
    region_param = next(p for p in action.params if p.name == "Region")
    return action, {
        "SdkAppId": draw(st.integers(min_value=1, max_value=2**53)),
        "TaskId": draw(param_text(max_size=120)),
        "Region": draw(st.sampled_from(region_param.choices)),
    }


@DIFFERENTIAL
@given(
    call=trtc_calls(),
    host=hosts,
    secret_id=secret_ids,
    secret_key=secrets,
    token=tokens,
    ts=timestamps,
    zone=st.sampled_from(ZONES),
)
def test_prepare_request_matches_trtc_client(call, host, secret_id, secret_key, token, ts, zone):
    action, params = call
    params = validate_params(action, params)
    at = datetime.fromtimestamp(ts, tz=zone)
    ours = prepare_request(action, params, Credentials(secret_id, secret_key, token), at, endpoint=f"https://{host}")

    model = MODELS[action.name]()
    model.SdkAppId = params["SdkAppId"]
    model.TaskId = params["TaskId"]
    client = _sdk_client(secret_id, secret_key, token, params["Region"], host)
    req = RequestInternal(host, "POST", "/", header={})
    with mock.patch.object(abstract_client, "time", types.SimpleNamespace(time=lambda: float(ts))):
        client._build_req_with_tc3_signature(action.name, model._serialize(), req)

    assert ours.body == req.data.encode("utf-8")
    assert ours.url == f"https://{host}/"
    assert ours.headers["Authorization"] == req.header["Authorization"]
    for name in ("Content-Type", "Host", "X-TC-Action", "X-TC-Timestamp", "X-TC-Version", "X-TC-Region"):
        assert ours.headers[name] == req.header[name], name
    assert ours.headers.get("X-TC-Token") == req.header.get("X-TC-Token")
