"""Each step of the signers against the intermediate values shared/notes/providers.md prints (1.3 and 2.3): the
canonical request and the string to sign, as the official SDKs produced them with the clock frozen. The final
signatures are in test_signing_vectors.py; these pin down where a wrong signature went wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from livectl.providers import signing
from livectl.providers.signing import TC3_ALGORITHM, VOLC_ALGORITHM

pytestmark = pytest.mark.unit

AT = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
VOLC_SECRET = "ZXhhbXBsZVNlY3JldEtleUZvclRlc3Rpbmc="
TC3_SECRET = "exampleSecretKey0000000000000000"

VOLC_BODY = b'{"TaskId": "f831f3b0********1aa4dcf7621"}'
VOLC_BODY_SHA256 = "e20763ab9b21a30fbaa0043cea06666bac14105e4c270ee50ccab690a0e7e0a3"
VOLC_CANONICAL_REQUEST = """POST
/
Action=StopPullRecordTask&Version=2023-01-01
content-type:application/json
host:live.volcengineapi.com
x-content-sha256:e20763ab9b21a30fbaa0043cea06666bac14105e4c270ee50ccab690a0e7e0a3
x-date:20240601T120000Z

content-type;host;x-content-sha256;x-date
e20763ab9b21a30fbaa0043cea06666bac14105e4c270ee50ccab690a0e7e0a3"""
VOLC_STRING_TO_SIGN = """HMAC-SHA256
20240601T120000Z
20240601/cn-north-1/live/request
7e89323af37a99637bcaf469188e9aa300e768fdbe5b00945100a4d9b725020c"""

TC3_BODY = b'{"SdkAppId": 1400188366, "TaskId": "-m9-bVVU7gzdSqvsV***Y+QMYNee2QE."}'
TC3_CANONICAL_REQUEST = """POST
/

content-type:application/json
host:trtc.tencentcloudapi.com

content-type;host
d7f87c7670ea93241eec900aa2c9fab5ec5721bc9f93b2f2592826f14f054fcf"""
TC3_STRING_TO_SIGN = """TC3-HMAC-SHA256
1717243200
2024-06-01/trtc/tc3_request
2fe18eb2dd5c9c4386fe653c69958f105fdf1e71b0826ae04771f8deec936754"""


def test_volcengine_steps_match_the_notes():
    x_date = signing.volcengine_x_date(AT)
    headers = signing.volcengine_headers_to_sign(
        {
            "Host": "live.volcengineapi.com:443",  # a default port is not signed
            "Content-Type": "application/json",
            "User-Agent": "livectl",  # not X-, not one of the three names: not signed
            "X-Date": x_date,
            "X-Content-Sha256": signing.sha256_hex(VOLC_BODY),
        }
    )
    canonical = signing.canonical_request(
        "POST",
        signing.volcengine_canonical_uri("/"),
        signing.canonical_query({"Version": "2023-01-01", "Action": "StopPullRecordTask"}),
        headers,
        signing.sha256_hex(VOLC_BODY),
    )
    scope = signing.volcengine_scope(x_date[:8], "cn-north-1", "live")
    to_sign = signing.string_to_sign(VOLC_ALGORITHM, x_date, scope, canonical)
    key = signing.volcengine_signing_key(VOLC_SECRET, x_date[:8], "cn-north-1", "live")

    assert x_date == "20240601T120000Z"
    assert signing.sha256_hex(VOLC_BODY) == VOLC_BODY_SHA256
    assert canonical == VOLC_CANONICAL_REQUEST
    assert to_sign == VOLC_STRING_TO_SIGN
    assert signing.hmac_sha256(VOLC_SECRET.encode(), "20240601").hex().startswith("25ef7d70")  # kDate
    assert (key.hex()[:8], key.hex()[-4:]) == ("2cd475ba", "f1d7")
    assert signing.signature(key, to_sign) == "ef0ca0f91dc3f9daf9acb6a7a870b0402343ff9c61808e3c82f5fa632281bba5"


def test_tc3_steps_match_the_notes():
    timestamp = signing.epoch_seconds(AT)
    date = signing.tc3_date(timestamp)
    canonical = signing.canonical_request(
        "POST",
        "/",
        "",
        {"content-type": "application/json", "host": "trtc.tencentcloudapi.com"},
        signing.sha256_hex(TC3_BODY),
    )
    scope = signing.tc3_scope(date, "trtc")
    to_sign = signing.string_to_sign(TC3_ALGORITHM, str(timestamp), scope, canonical)
    key = signing.tc3_signing_key(TC3_SECRET, date, "trtc")

    assert (timestamp, date) == (1717243200, "2024-06-01")
    assert canonical == TC3_CANONICAL_REQUEST
    assert to_sign == TC3_STRING_TO_SIGN
    assert signing.signature(key, to_sign) == "6696cac8e48a9f9c9b49ab95b0389050e0b0776a0bbcd00e6beebe282bfd6055"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ""),
        ({"b": "2", "a": "1"}, "a=1&b=2"),  # sorted by key
        ({"k": "a b/c~d_e.f-g"}, "k=a%20b%2Fc~d_e.f-g"),  # RFC 3986: space %20, "/" encoded, -_.~ kept
        ({"名": "值"}, "%E5%90%8D=%E5%80%BC"),  # UTF-8, then percent-encoded
    ],
)
def test_canonical_query(query, expected):
    assert signing.canonical_query(query) == expected


@pytest.mark.parametrize(
    ("headers", "chosen"),
    [
        ({"Host": "h:80"}, {"host": "h"}),
        ({"Host": "h:8443"}, {"host": "h:8443"}),
        ({"content-type": "a", "x-custom": "b", "Content-MD5": "c"}, {}),  # the SDK's test is case-sensitive
        ({"Content-Type": "a", "Content-Md5": "c", "X-Custom": "b", "Accept": "d"},
         {"content-type": "a", "content-md5": "c", "x-custom": "b"}),
    ],
)  # fmt: skip
def test_volcengine_headers_to_sign(headers, chosen):
    assert signing.volcengine_headers_to_sign(headers) == chosen


def test_authorization_layout():
    assert signing.authorization("ALG", "AK", "d/s/r", "a;b", "ff") == (
        "ALG Credential=AK/d/s/r, SignedHeaders=a;b, Signature=ff"
    )
