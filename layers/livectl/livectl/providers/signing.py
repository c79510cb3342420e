"""Request signers for Volcengine OpenAPI (HMAC-SHA256) and Tencent Cloud API 3.0 (TC3-HMAC-SHA256), and the
TRTC callback `Sign`.

One function per step of each provider's algorithm, in the order shared/notes/providers.md (1.2 and 2.2) gives
them, in the manner of botocore's SigV4Auth: canonical request -> string to sign -> signing key -> signature ->
Authorization header. Both providers took the V4 layout from AWS, so the first two steps are shared; they differ
in the date format, the credential scope, the key derivation and which headers they sign.

Pure functions: every input, the time included, is a parameter. The one cache is the derived signing key: it
depends only on (secret, date, region, service), so a warm container derives it once a UTC day. The rules that
make the output byte-identical with the official SDKs are in the notes; the differential tests hold us to them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

VOLC_ALGORITHM = "HMAC-SHA256"
TC3_ALGORITHM = "TC3-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    """An access key pair. The secret and token never appear in repr(), so they never reach a log line."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def epoch_seconds(now: datetime) -> int:
    """Whole seconds since the epoch (floored); refuses a naive `now`, whose instant is unknown."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return math.floor(now.timestamp())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


# ---------------------------------------------------------------------------------------------------------
# The steps both providers share (the AWS V4 layout)
# ---------------------------------------------------------------------------------------------------------


def canonical_query(query: Mapping[str, str]) -> str:
    """Sorted by raw key (the Volcengine SDK's order), each key and value percent-encoded as RFC 3986."""
    return "&".join(f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(query.items()))


def canonical_headers(headers: Mapping[str, str]) -> str:
    """`name:value\\n` per header, sorted; `headers` maps lower-case names to the values as signed."""
    return "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))


def signed_headers(headers: Mapping[str, str]) -> str:
    return ";".join(sorted(headers))


def canonical_request(method: str, uri: str, query: str, headers: Mapping[str, str], payload_sha256: str) -> str:
    """`uri` and `query` come canonical. The canonical headers end in a newline, so a blank line follows them."""
    return "\n".join([method.upper(), uri, query, canonical_headers(headers), signed_headers(headers), payload_sha256])


def string_to_sign(algorithm: str, timestamp: str, scope: str, canonical: str) -> str:
    return "\n".join([algorithm, timestamp, scope, sha256_hex(canonical.encode("utf-8"))])


def signature(signing_key: bytes, to_sign: str) -> str:
    return hmac_sha256(signing_key, to_sign).hex()


def authorization(algorithm: str, access_key: str, scope: str, signed: str, sig: str) -> str:
    return f"{algorithm} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={sig}"


# ---------------------------------------------------------------------------------------------------------
# Volcengine (providers.md 1.2)
# ---------------------------------------------------------------------------------------------------------

# The SDK's rule, case-sensitive on the spelling: exactly these three names, or an upper-case "X-" prefix.
_VOLC_SIGNED_NAMES = frozenset({"Content-Type", "Content-Md5", "Host"})


def volcengine_x_date(now: datetime) -> str:
    """Step 1: UTC, `%Y%m%dT%H%M%SZ`; its first eight characters are the date of the scope."""
    return datetime.fromtimestamp(epoch_seconds(now), tz=UTC).strftime("%Y%m%dT%H%M%SZ")


def volcengine_headers_to_sign(headers: Mapping[str, str]) -> dict[str, str]:
    """Step 4: lower-case name -> value for the headers the SDK signs; the host without a default port."""
    chosen = {}
    for name, value in headers.items():
        if name.startswith("X-") or name in _VOLC_SIGNED_NAMES:
            chosen[name.lower()] = value
    if "host" in chosen:
        chosen["host"] = strip_default_port(chosen["host"])
    return chosen


def strip_default_port(host: str) -> str:
    for port in (":80", ":443"):
        if host.endswith(port):
            return host.removesuffix(port)
    return host


def volcengine_canonical_uri(path: str) -> str:
    """Step 8, as the SDK quotes it: every character but the slashes percent-encoded."""
    return quote(path or "/").replace("%2F", "/")


def volcengine_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/request"


@lru_cache(maxsize=64)
def volcengine_signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """Step 12: kSigning = HMAC(HMAC(HMAC(HMAC(SK, date), region), service), "request"); the raw secret."""
    k_date = hmac_sha256(secret_key.encode("utf-8"), date)
    k_region = hmac_sha256(k_date, region)
    k_service = hmac_sha256(k_region, service)
    return hmac_sha256(k_service, "request")


def volcengine_signature(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    canonical_headers: Mapping[str, str],
    body_sha256: str,
    x_date: str,
    secret_key: str,
    region: str,
    service: str,
) -> tuple[str, str, str]:
    """Steps 5-13: (credential scope, SignedHeaders, hex signature) over exactly `canonical_headers`.

    `canonical_headers` maps lower-case names to the values as signed. A verifier passes the headers a request's
    `SignedHeaders` names; `sign_volcengine` passes `volcengine_headers_to_sign` of the request's headers.
    """
    date = x_date[:8]
    scope = volcengine_scope(date, region, service)
    uri = volcengine_canonical_uri(path)
    request = canonical_request(method, uri, canonical_query(query), canonical_headers, body_sha256)
    to_sign = string_to_sign(VOLC_ALGORITHM, x_date, scope, request)
    key = volcengine_signing_key(secret_key, date, region, service)
    return scope, signed_headers(canonical_headers), signature(key, to_sign)


def sign_volcengine(
    *,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """Return the request's headers with X-Date, X-Content-Sha256, X-Security-Token and Authorization added.

    `headers` must already hold `Host` and `Content-Type` as they will be sent (their spelling decides
    whether they are signed, as in the SDK). `host` is in the signature through that `Host` header.
    """
    x_date = volcengine_x_date(now)
    body_sha256 = sha256_hex(body)
    out = dict(headers)
    out["X-Date"] = x_date
    out["X-Content-Sha256"] = body_sha256
    if credentials.session_token:
        out["X-Security-Token"] = credentials.session_token
    scope, signed, sig = volcengine_signature(
        method=method,
        path=path,
        query=query,
        canonical_headers=volcengine_headers_to_sign(out),
        body_sha256=body_sha256,
        x_date=x_date,
        secret_key=credentials.secret_key,
        region=region,
        service=service,
    )
    out["Authorization"] = authorization(VOLC_ALGORITHM, credentials.access_key, scope, signed, sig)
    return out


# ---------------------------------------------------------------------------------------------------------
# Tencent Cloud TC3 (providers.md 2.2)
# ---------------------------------------------------------------------------------------------------------


def tc3_date(timestamp: int) -> str:
    """Step 1: the UTC date of the timestamp (not Beijing's: they differ between 00:00 and 08:00 CST)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def tc3_scope(date: str, service: str) -> str:
    return f"{date}/{service}/tc3_request"


@lru_cache(maxsize=64)
def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Step 7: kSigning = HMAC(HMAC(HMAC("TC3" + SK, date), service), "tc3_request"); no region in the scope."""
    k_date = hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    k_service = hmac_sha256(k_date, service)
    return hmac_sha256(k_service, "tc3_request")


def tc3_signature_over(
    *,
    method: str,
    path: str,
    query: str,
    canonical_headers: Mapping[str, str],
    body_sha256: str,
    secret_key: str,
    service: str,
    timestamp: int,
) -> tuple[str, str, str]:
    """Steps 3-7: (credential scope, SignedHeaders, hex signature) over exactly `canonical_headers`.

    `canonical_headers` maps lower-case names to canonical values. A verifier passes the headers a request's
    `SignedHeaders` names (the SDK signs `content-type;host`, the docs' examples add `x-tc-action`).
    """
    date = tc3_date(timestamp)
    scope = tc3_scope(date, service)
    request = canonical_request(method, path or "/", query, canonical_headers, body_sha256)
    to_sign = string_to_sign(TC3_ALGORITHM, str(timestamp), scope, request)
    key = tc3_signing_key(secret_key, date, service)
    return scope, signed_headers(canonical_headers), signature(key, to_sign)


def tc3_signature(
    *,
    method: str,
    path: str,
    query: str,
    content_type: str,
    host: str,
    body: bytes,
    secret_key: str,
    service: str,
    timestamp: int,
) -> tuple[str, str]:
    """(credential scope, hex signature) over the SDK's signed headers, `content-type;host`."""
    scope, _, sig = tc3_signature_over(
        method=method,
        path=path,
        query=query,
        canonical_headers={"content-type": content_type, "host": host},
        body_sha256=sha256_hex(body),
        secret_key=secret_key,
        service=service,
        timestamp=timestamp,
    )
    return scope, sig


def sign_tc3(
    *,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    service: str,
    action: str,
    version: str,
    region: str | None,
    now: datetime,
) -> dict[str, str]:
    """Return the request's headers with Host, the X-TC-* common parameters and Authorization added.

    Signs `content-type;host` like tencentcloud-sdk-python; `X-TC-Token` is sent but, as in the SDK, not signed.
    """
    timestamp = epoch_seconds(now)
    out = dict(headers)
    content_type = out.setdefault("Content-Type", "application/json")
    out["Host"] = host
    scope, sig = tc3_signature(
        method=method,
        path=path,
        query="" if method.upper() == "POST" else canonical_query(query),
        content_type=content_type,
        host=host,
        body=body,
        secret_key=credentials.secret_key,
        service=service,
        timestamp=timestamp,
    )
    out["X-TC-Action"] = action
    out["X-TC-Timestamp"] = str(timestamp)
    out["X-TC-Version"] = version
    if region:
        out["X-TC-Region"] = region
    if credentials.session_token:
        out["X-TC-Token"] = credentials.session_token
    out["Authorization"] = authorization(TC3_ALGORITHM, credentials.access_key, scope, "content-type;host", sig)
    return out


def trtc_callback_sign(key: str, body: bytes) -> str:
    """TRTC callback `Sign`: base64(HMAC-SHA256(key, raw body)); the body is never re-serialised."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")
