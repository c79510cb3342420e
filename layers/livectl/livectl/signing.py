"""Request signers for Volcengine OpenAPI (HMAC-SHA256) and Tencent Cloud API 3.0 (TC3-HMAC-SHA256).

Pure functions: every input, including the time, is a parameter. The derived signing key is cached per
(secret, date, region, service), so a warm container derives it once a day and pays one HMAC per request.
The rules that make the output byte-identical with the official SDKs are spelled out in
shared/notes/providers.md sections 1 and 2; the differential tests hold us to them.
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
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Credentials:
    """An access key pair. The secret and token never appear in repr(), so they never reach a log line."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


def _hmac_hex(key: bytes, msg: str) -> str:
    # hmac.digest is the one-shot C path: about twice as fast as hmac.new(...).hexdigest() for short messages
    return hmac.digest(key, msg.encode("utf-8"), "sha256").hex()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _epoch_seconds(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return math.floor(now.timestamp())


# Formatting a date costs more than the HMAC it feeds; a warm container formats each second (and day) once.
@lru_cache(maxsize=8)
def _x_date(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


@lru_cache(maxsize=8)
def _tc3_date(epoch_day: int) -> str:
    return datetime.fromtimestamp(epoch_day * 86400, tz=UTC).strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------------------------------------
# Volcengine
# ---------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def volcengine_signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC(SK, date), region), service), "request"); the raw secret, no prefix."""
    k_date = _hmac(secret_key.encode("utf-8"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, "request")


# The SDK's rule, case-sensitive on the spelling: exactly these three names, or an upper-case "X-" prefix.
_VOLC_SIGNED_NAMES = frozenset({"Content-Type", "Content-Md5", "Host"})


def _volc_canonical_query(query: Mapping[str, str]) -> str:
    return _canonical_query(tuple(query.items()))


@lru_cache(maxsize=256)
def _canonical_query(items: tuple[tuple[str, str], ...]) -> str:
    return "&".join(f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(items))


@lru_cache(maxsize=64)
def _canonical_uri(path: str) -> str:
    return quote(path or "/").replace("%2F", "/")


def _strip_default_port(host: str) -> str:
    if host.endswith(":80"):
        return host[:-3]
    if host.endswith(":443"):
        return host[:-4]
    return host


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
    """Return (credential scope, SignedHeaders, hex signature) over exactly `canonical_headers`.

    `canonical_headers` maps lower-case names to the values as signed (the host without a default port).
    A verifier passes the headers a request's `SignedHeaders` names; `sign_volcengine` passes the SDK's set.
    """
    names = sorted(canonical_headers)
    canonical = "".join(f"{n}:{canonical_headers[n]}\n" for n in names)
    signed_headers = ";".join(names)
    canonical_request = (
        f"{method.upper()}\n{_canonical_uri(path)}\n{_volc_canonical_query(query)}\n"
        f"{canonical}\n{signed_headers}\n{body_sha256}"
    )
    date = x_date[:8]
    scope = f"{date}/{region}/{service}/request"
    string_to_sign = f"{VOLC_ALGORITHM}\n{x_date}\n{scope}\n{_sha256_hex(canonical_request.encode('utf-8'))}"
    key = volcengine_signing_key(secret_key, date, region, service)
    return scope, signed_headers, _hmac_hex(key, string_to_sign)


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
    whether they are signed, as in the SDK).
    """
    x_date = _x_date(_epoch_seconds(now))
    out = dict(headers)
    out["X-Date"] = x_date
    out["X-Content-Sha256"] = _sha256_hex(body)
    if credentials.session_token:
        out["X-Security-Token"] = credentials.session_token

    signed: dict[str, str] = {}
    for name, value in out.items():
        # the SDK's rule, inlined: this loop runs for every header of every request
        if name.startswith("X-") or name in _VOLC_SIGNED_NAMES:
            lower = name.lower()
            signed[lower] = _strip_default_port(value) if lower == "host" else value
    scope, signed_headers, signature = volcengine_signature(
        method=method,
        path=path,
        query=query,
        canonical_headers=signed,
        body_sha256=out["X-Content-Sha256"],
        x_date=x_date,
        secret_key=credentials.secret_key,
        region=region,
        service=service,
    )
    out["Authorization"] = (
        f"{VOLC_ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


# ---------------------------------------------------------------------------------------------------------
# Tencent Cloud TC3
# ---------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC("TC3" + SK, date), service), "tc3_request"); no region in the scope."""
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    return _hmac(k_service, "tc3_request")


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
    """Return (credential scope, hex signature) for the SDK's header set `content-type;host`."""
    scope, _, signature = tc3_signature_over(
        method=method,
        path=path,
        query=query,
        canonical_headers={"content-type": content_type, "host": host},
        body_sha256=_sha256_hex(body),
        secret_key=secret_key,
        service=service,
        timestamp=timestamp,
    )
    return scope, signature


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
    """Return (credential scope, SignedHeaders, hex signature) over exactly `canonical_headers`.

    `canonical_headers` maps lower-case names to canonical values. A verifier passes the headers a request's
    `SignedHeaders` names (the SDK signs `content-type;host`, the docs' examples add `x-tc-action`).
    """
    date = _tc3_date(timestamp // 86400)
    names = sorted(canonical_headers)
    signed_headers = ";".join(names)
    canonical = "".join(f"{n}:{canonical_headers[n]}\n" for n in names)
    canonical_request = f"{method.upper()}\n{path or '/'}\n{query}\n{canonical}\n{signed_headers}\n{body_sha256}"
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = f"{TC3_ALGORITHM}\n{timestamp}\n{scope}\n{_sha256_hex(canonical_request.encode('utf-8'))}"
    key = tc3_signing_key(secret_key, date, service)
    return scope, signed_headers, _hmac_hex(key, string_to_sign)


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
    """Return the request's headers with the X-TC-* common parameters and Authorization added.

    Signs `content-type;host` like tencentcloud-sdk-python; `X-TC-Token` is sent but, as in the SDK, not signed.
    """
    timestamp = _epoch_seconds(now)
    out = dict(headers)
    out.setdefault("Content-Type", "application/json")
    out["Host"] = host
    out["X-TC-Action"] = action
    out["X-TC-Timestamp"] = str(timestamp)
    out["X-TC-Version"] = version
    if region:
        out["X-TC-Region"] = region
    if credentials.session_token:
        out["X-TC-Token"] = credentials.session_token
    query_string = "" if method.upper() == "POST" else _volc_canonical_query(query)
    scope, signature = tc3_signature(
        method=method,
        path=path,
        query=query_string,
        content_type=out["Content-Type"],
        host=host,
        body=body,
        secret_key=credentials.secret_key,
        service=service,
        timestamp=timestamp,
    )
    out["Authorization"] = (
        f"{TC3_ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    return out


def trtc_callback_sign(key: str, body: bytes) -> str:
    """TRTC callback `Sign`: base64(HMAC-SHA256(key, raw body)); the body is never re-serialised."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")
