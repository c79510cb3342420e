"""Golden vectors from shared/notes/providers.md (1.3, 2.3) and the TRTC callback `Sign` vectors, through our
own request path (`prepare_request`), plus the per-day signing-key cache.

The vectors were produced by the official SDKs with the clock frozen; the differential tests in
tests/differential hold us to the SDKs on thousands of generated cases. These are the plain, readable anchors.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from livectl.providers.catalogue import get_action, validate_params
from livectl.providers.clients import prepare_request
from livectl.providers.signing import (
    Credentials,
    sign_tc3,
    sign_volcengine,
    tc3_signing_key,
    trtc_callback_sign,
    volcengine_signing_key,
)

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trtc-callbacks"
AT = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))

VOLC = Credentials("AKLTexampleAccessKeyId0000000000", "ZXhhbXBsZVNlY3JldEtleUZvclRlc3Rpbmc=")
# The STS token the notes' STS vectors were made with; the Signature prefix/suffix are the notes' (1.3).
VOLC_STS = Credentials(VOLC.access_key, VOLC.secret_key, "STS2eyJleGFtcGxlIjoidG9rZW4ifQ==")
TC = Credentials("AKIDexampleSecretId000000000000000000", "exampleSecretKey0000000000000000")

VOLC_VECTORS = [
    (
        "StopPullRecordTask",
        {"TaskId": "f831f3b0********1aa4dcf7621"},
        b'{"TaskId": "f831f3b0********1aa4dcf7621"}',
        "e20763ab",
        "e0a3",
        "ef0ca0f91dc3f9daf9acb6a7a870b0402343ff9c61808e3c82f5fa632281bba5",
    ),
    (
        "GetPullRecordTask",
        {"TaskID": "5b903f78c7f5ae*******01f6fe2eea"},
        b'{"TaskID": "5b903f78c7f5ae*******01f6fe2eea"}',
        "53df2c12",
        "7ac",
        "c00bef0c7859fa844662c484b627534afd77d960d046700cbaec856323ac7fbd",
    ),
    (
        "RestartPullToPushTask",
        {"TaskId": "8fde6aa0281d********9a6e242365"},
        b'{"TaskId": "8fde6aa0281d********9a6e242365"}',
        "4bfd7ea4",
        "811",
        "1fdb1228812c0634dba3cac499a06bba1500aff8f73f3bfd878cd3a53eed14ee",
    ),
]

TC3_VECTORS = [
    (
        "DeleteCloudRecording",
        {"SdkAppId": 1400188366, "TaskId": "-m9-bVVU7gzdSqvsV***Y+QMYNee2QE.", "Region": "ap-guangzhou"},
        b'{"SdkAppId": 1400188366, "TaskId": "-m9-bVVU7gzdSqvsV***Y+QMYNee2QE."}',
        "d7f87c76",
        "4fcf",
        "6696cac8e48a9f9c9b49ab95b0389050e0b0776a0bbcd00e6beebe282bfd6055",
    ),
    (
        "StopPublishCdnStream",
        {
            "SdkAppId": 1400188366,
            "TaskId": "-m97l2ZU7kOlV5cTRMoU6yoGp2nDYkzbJ13EC4K-4pycoZXVv+XVrNoUXQ8++8Z2PwUlAQ..",
            "Region": "ap-guangzhou",
        },
        b'{"SdkAppId": 1400188366, "TaskId": '
        b'"-m97l2ZU7kOlV5cTRMoU6yoGp2nDYkzbJ13EC4K-4pycoZXVv+XVrNoUXQ8++8Z2PwUlAQ.."}',
        "fe9b8973",
        "b3aa",
        "3f2150619c602226c4c60de2325c96deeada9b1e27b16e5f05043c95a17f22a2",
    ),
]


def _auth_parts(authorization: str) -> dict[str, str]:
    algorithm, rest = authorization.split(" ", 1)
    parts = dict(p.split("=", 1) for p in rest.split(", "))
    parts["algorithm"] = algorithm
    return parts


# ---------------------------------------------------------------------------------------------------------
# Volcengine (providers.md 1.3)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "params", "body", "sha_head", "sha_tail", "signature"), VOLC_VECTORS)
def test_volcengine_vector(action, params, body, sha_head, sha_tail, signature):
    act = get_action(action)
    req = prepare_request(act, validate_params(act, params), VOLC, AT)
    assert req.method == "POST"
    assert req.url == f"https://live.volcengineapi.com/?Action={action}&Version=2023-01-01"
    assert req.body == body
    assert req.headers["X-Date"] == "20240601T120000Z"
    assert req.headers["X-Content-Sha256"] == hashlib.sha256(body).hexdigest()
    assert req.headers["X-Content-Sha256"].startswith(sha_head)
    assert req.headers["X-Content-Sha256"].endswith(sha_tail)
    assert "X-Security-Token" not in req.headers
    assert req.headers["Authorization"] == (
        "HMAC-SHA256 Credential=AKLTexampleAccessKeyId0000000000/20240601/cn-north-1/live/request, "
        f"SignedHeaders=content-type;host;x-content-sha256;x-date, Signature={signature}"
    )


def test_volcengine_sts_vector():
    act = get_action("StopPullRecordTask")
    req = prepare_request(act, {"TaskId": "f831f3b0********1aa4dcf7621"}, VOLC_STS, AT)
    parts = _auth_parts(req.headers["Authorization"])
    assert req.headers["X-Security-Token"] == VOLC_STS.session_token
    assert parts["SignedHeaders"] == "content-type;host;x-content-sha256;x-date;x-security-token"
    assert parts["Signature"].startswith("3e37ab6b")
    assert parts["Signature"].endswith("6078")
    assert parts["Signature"] == "3e37ab6b48bd43c763533378e926e1889ce06c2f2f87c0c48f50f50357ea6078"


def test_volcengine_signing_key_matches_notes():
    # kDate = 25ef7d70…5e8f and kSigning = 2cd475ba…f1d7 (providers.md 1.3): raw secret, no prefix.
    key = volcengine_signing_key(VOLC.secret_key, "20240601", "cn-north-1", "live").hex()
    assert key.startswith("2cd475ba")
    assert key.endswith("f1d7")


def test_volcengine_time_zone_of_now_does_not_matter():
    """20:00 CST on 1 June is 12:00 UTC: same X-Date, same signature (the SDK signs in UTC)."""
    act = get_action("StopPullRecordTask")
    params = {"TaskId": "f831f3b0********1aa4dcf7621"}
    in_cst = prepare_request(act, params, VOLC, AT.astimezone(CST))
    assert in_cst.headers == prepare_request(act, params, VOLC, AT).headers


def test_naive_now_is_refused():
    act = get_action("StopPullRecordTask")
    with pytest.raises(ValueError, match="timezone-aware"):
        prepare_request(act, {"TaskId": "x"}, VOLC, datetime(2024, 6, 1, 12))


def test_volcengine_default_port_is_not_signed():
    common = {
        "method": "POST",
        "path": "/",
        "query": {"Action": "StopPullRecordTask", "Version": "2023-01-01"},
        "body": b"{}",
        "credentials": VOLC,
        "region": "cn-north-1",
        "service": "live",
        "now": AT,
    }
    plain = sign_volcengine(host="h.example", headers={"Host": "h.example"}, **common)
    port443 = sign_volcengine(host="h.example:443", headers={"Host": "h.example:443"}, **common)
    port8443 = sign_volcengine(host="h.example:8443", headers={"Host": "h.example:8443"}, **common)
    assert plain["Authorization"] == port443["Authorization"]
    assert plain["Authorization"] != port8443["Authorization"]


# ---------------------------------------------------------------------------------------------------------
# Tencent TC3 (providers.md 2.3)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "params", "body", "sha_head", "sha_tail", "signature"), TC3_VECTORS)
def test_tc3_vector(action, params, body, sha_head, sha_tail, signature):
    act = get_action(action)
    req = prepare_request(act, validate_params(act, params), TC, AT)
    assert req.url == "https://trtc.tencentcloudapi.com/"
    assert req.body == body
    digest = hashlib.sha256(body).hexdigest()
    assert digest.startswith(sha_head)
    assert digest.endswith(sha_tail)
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Host"] == "trtc.tencentcloudapi.com"
    assert req.headers["X-TC-Action"] == action
    assert req.headers["X-TC-Timestamp"] == "1717243200"
    assert req.headers["X-TC-Version"] == "2019-07-22"
    assert req.headers["X-TC-Region"] == "ap-guangzhou"
    assert req.headers["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDexampleSecretId000000000000000000/2024-06-01/trtc/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


@pytest.mark.parametrize(("action", "params", "body", "sha_head", "sha_tail", "signature"), TC3_VECTORS)
def test_tc3_token_is_sent_but_not_signed(action, params, body, sha_head, sha_tail, signature):
    act = get_action(action)
    with_token = Credentials(TC.access_key, TC.secret_key, "temporary-token")
    req = prepare_request(act, validate_params(act, params), with_token, AT)
    assert req.headers["X-TC-Token"] == "temporary-token"
    assert _auth_parts(req.headers["Authorization"])["Signature"] == signature


def test_tc3_date_is_utc_between_midnight_and_eight_cst():
    """02:30 CST on 2 June is 18:30 UTC on 1 June: the credential scope says 2024-06-01."""
    at = datetime(2024, 6, 2, 2, 30, tzinfo=CST)
    headers = sign_tc3(
        method="POST",
        host="trtc.tencentcloudapi.com",
        path="/",
        query={},
        headers={},
        body=b"{}",
        credentials=TC,
        service="trtc",
        action="DeleteCloudRecording",
        version="2019-07-22",
        region="ap-guangzhou",
        now=at,
    )
    assert "/2024-06-01/trtc/tc3_request," in headers["Authorization"]
    assert headers["X-TC-Timestamp"] == str(int(at.timestamp()))


# ---------------------------------------------------------------------------------------------------------
# TRTC callback Sign (fixtures/trtc-callbacks/sign-test-vectors.json)
# ---------------------------------------------------------------------------------------------------------

CALLBACK_VECTORS = json.loads((FIXTURES / "sign-test-vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", CALLBACK_VECTORS, ids=[v["name"] for v in CALLBACK_VECTORS])
def test_callback_body_files_are_the_vectors_bodies(vector):
    raw = (FIXTURES / vector["body_file"]).read_bytes()
    assert raw == vector["body"].encode("utf-8")
    assert len(raw) == vector["body_bytes"]
    assert hashlib.sha256(raw).hexdigest() == vector["body_sha256"]


@pytest.mark.parametrize(
    "vector",
    [v for v in CALLBACK_VECTORS if v["key"] and v["expected_sign"]],
    ids=[v["name"] for v in CALLBACK_VECTORS if v["key"] and v["expected_sign"]],
)
def test_callback_sign_vector(vector):
    raw = (FIXTURES / vector["body_file"]).read_bytes()
    assert trtc_callback_sign(vector["key"], raw) == vector["expected_sign"]


def test_callback_sign_is_over_raw_bytes_not_reserialised_json():
    vector = next(v for v in CALLBACK_VECTORS if v["expected_sign"] == "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=")
    raw = vector["body"].encode("utf-8")
    reserialised = json.dumps(json.loads(raw)).encode("utf-8")
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode("utf-8")
    assert trtc_callback_sign(vector["key"], raw) == vector["expected_sign"]
    assert trtc_callback_sign(vector["key"], reserialised) != vector["expected_sign"]
    assert trtc_callback_sign(vector["key"], compact) != vector["expected_sign"]
    assert trtc_callback_sign("wrongkey", raw) != vector["expected_sign"]


# ---------------------------------------------------------------------------------------------------------
# Derived-key cache: one derivation per (secret, date, region, service)
# ---------------------------------------------------------------------------------------------------------


def _sign_volc_at(at: datetime, creds: Credentials = VOLC, region: str = "cn-north-1") -> None:
    sign_volcengine(
        method="POST",
        host="live.volcengineapi.com",
        path="/",
        query={"Action": "StopPullRecordTask", "Version": "2023-01-01"},
        headers={"Host": "live.volcengineapi.com", "Content-Type": "application/json"},
        body=b"{}",
        credentials=creds,
        region=region,
        service="live",
        now=at,
    )


def _sign_tc_at(at: datetime, creds: Credentials = TC) -> None:
    sign_tc3(
        method="POST",
        host="trtc.tencentcloudapi.com",
        path="/",
        query={},
        headers={},
        body=b"{}",
        credentials=creds,
        service="trtc",
        action="DeleteCloudRecording",
        version="2019-07-22",
        region="ap-guangzhou",
        now=at,
    )


def test_volcengine_key_derived_once_per_day():
    volcengine_signing_key.cache_clear()
    day = datetime(2024, 6, 1, 0, 0, 0, tzinfo=UTC)
    for i in range(500):
        _sign_volc_at(day + timedelta(seconds=i * 170))  # spread over the whole UTC day
    info = volcengine_signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 499)
    _sign_volc_at(day + timedelta(days=1))  # 00:00:00 UTC the next day: a new scope, a new key
    _sign_volc_at(day + timedelta(days=1, hours=5))
    info = volcengine_signing_key.cache_info()
    assert (info.misses, info.hits) == (2, 500)


def test_volcengine_key_cache_is_per_secret_and_region():
    volcengine_signing_key.cache_clear()
    other = Credentials("AK2", "another-secret")
    for _ in range(3):
        _sign_volc_at(AT)
        _sign_volc_at(AT, creds=other)
        _sign_volc_at(AT, region="ap-singapore-1")
    info = volcengine_signing_key.cache_info()
    assert (info.misses, info.hits) == (3, 6)


def test_tc3_key_derived_once_per_utc_day():
    tc3_signing_key.cache_clear()
    # 23:59:59 UTC then 00:00:00 UTC: two dates; the CST band 00:00-08:00 stays on the UTC date.
    _sign_tc_at(datetime(2024, 6, 1, 23, 59, 59, tzinfo=UTC))
    _sign_tc_at(datetime(2024, 6, 2, 7, 59, 59, tzinfo=CST))  # = 23:59:59 UTC on 1 June
    _sign_tc_at(datetime(2024, 6, 2, 0, 0, 0, tzinfo=UTC))
    _sign_tc_at(datetime(2024, 6, 2, 8, 0, 0, tzinfo=CST))  # = 00:00:00 UTC on 2 June
    info = tc3_signing_key.cache_info()
    assert (info.misses, info.hits) == (2, 2)
