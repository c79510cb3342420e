"""Request signers for Volcengine OpenAPI (HMAC-SHA256) and Tencent Cloud API 3.0 (TC3-HMAC-SHA256).

Pure functions: every input, including the time, is a parameter. The derived signing key is cached per
(secret, date, region, service), so a warm container derives it once a day and pays one HMAC per request
(over pre-keyed hash states, see _KeyedHmac). The public signers and `tc3_headers`, the entry
`prepare_request` uses, share the canonical-request layout (`_request_head`) and signing steps
(`_volc_sign`, `_tc3_sign`); only the parts that cannot change between calls are cached, never a signature.
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


_BLOCK_SIZE = 64  # SHA-256's block size: HMAC pads (or first hashes) the key to it
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class _KeyedHmac:
    """HMAC-SHA256 under one fixed key, RFC 2104 spelled out: two SHA-256 states that have already absorbed
    the padded key are copied per message.

    Why: `hmac.digest` / `hmac.new` set up a fresh OpenSSL HMAC context on every call (~1.8 µs); copying two
    primed states costs ~0.7 µs, and a warm container signs a whole day's requests with one derived key.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK_SIZE:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK_SIZE, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def hexdigest(self, msg: str) -> str:
        inner = self._inner.copy()
        inner.update(msg.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@lru_cache(maxsize=64)
def _keyed_hmac(key: bytes) -> _KeyedHmac:
    """One primed HMAC per derived signing key (the key caches below hand back the same key all day)."""
    return _KeyedHmac(key)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def epoch_seconds(now: datetime) -> int:
    """Whole seconds since the epoch (floored); refuses a naive `now`, whose instant is unknown."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return math.floor(now.timestamp())


# Formatting a date costs more than the HMAC it feeds; a warm container formats each second (and day) once.
@lru_cache(maxsize=8)
def _x_date(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


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


def _request_head(method: str, path: str, query: str, canonical_headers: Mapping[str, str]) -> tuple[str, str]:
    """(the canonical request up to the payload hash that ends it, SignedHeaders): the layout both providers
    share. `path` and `query` come canonical; `canonical_headers` maps lower-case names to signed values."""
    names = sorted(canonical_headers)
    signed_headers = ";".join(names)
    lines = "".join([f"{n}:{canonical_headers[n]}\n" for n in names])
    return f"{method.upper()}\n{path}\n{query}\n{lines}\n{signed_headers}\n", signed_headers


def _volc_sign(canonical_request: str, x_date: str, secret_key: str, region: str, service: str) -> tuple[str, str]:
    """(credential scope, hex signature) over a complete canonical request."""
    date = x_date[:8]
    scope = f"{date}/{region}/{service}/request"
    digest = _sha256_hex(canonical_request.encode("utf-8"))
    key = volcengine_signing_key(secret_key, date, region, service)
    return scope, _keyed_hmac(key).hexdigest(f"{VOLC_ALGORITHM}\n{x_date}\n{scope}\n{digest}")


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
    head, signed_headers = _request_head(method, _canonical_uri(path), _volc_canonical_query(query), canonical_headers)
    scope, signature = _volc_sign(head + body_sha256, x_date, secret_key, region, service)
    return scope, signed_headers, signature


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
    x_date = _x_date(epoch_seconds(now))
    body_sha256 = _sha256_hex(body)
    out = dict(headers)
    out["X-Date"] = x_date
    out["X-Content-Sha256"] = body_sha256
    if credentials.session_token:
        out["X-Security-Token"] = credentials.session_token

    signed: dict[str, str] = {}
    for name, value in out.items():
        # the SDK's rule, inlined: this loop runs for every header of every request
        if name.startswith("X-") or name in _VOLC_SIGNED_NAMES:
            lower = name.lower()
            signed[lower] = _strip_default_port(value) if lower == "host" else value
    # what volcengine_signature does, without its keyword-argument hop: this runs once per provider call
    head, signed_headers = _request_head(method, _canonical_uri(path), _volc_canonical_query(query), signed)
    scope, signature = _volc_sign(head + body_sha256, x_date, credentials.secret_key, region, service)
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


def _tc3_sign(canonical_request: str, secret_key: str, service: str, timestamp: int) -> tuple[str, str]:
    """(credential scope, hex signature) over a complete canonical request."""
    date = _tc3_date(timestamp // 86400)
    scope = f"{date}/{service}/tc3_request"
    digest = _sha256_hex(canonical_request.encode("utf-8"))
    key = tc3_signing_key(secret_key, date, service)
    return scope, _keyed_hmac(key).hexdigest(f"{TC3_ALGORITHM}\n{timestamp}\n{scope}\n{digest}")


@lru_cache(maxsize=64)
def tc3_request_head(method: str, path: str, query: str, content_type: str, host: str) -> str:
    """The canonical request up to its payload hash, for the SDK's signed headers `content-type;host`.

    Nothing in it changes between calls of an action at an endpoint, so a warm container builds it once.
    """
    return _request_head(method, path or "/", query, {"content-type": content_type, "host": host})[0]


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
    head = tc3_request_head(method, path, query, content_type, host)
    return _tc3_sign(head + _sha256_hex(body), secret_key, service, timestamp)


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
    head, signed_headers = _request_head(method, path or "/", query, canonical_headers)
    scope, signature = _tc3_sign(head + body_sha256, secret_key, service, timestamp)
    return scope, signed_headers, signature


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
    out = dict(headers)
    content_type = out.setdefault("Content-Type", "application/json")
    out["Host"] = host
    query_string = "" if method.upper() == "POST" else _volc_canonical_query(query)
    head = tc3_request_head(method, path, query_string, content_type, host)
    return tc3_headers(out, head, body, credentials, service, action, version, region, epoch_seconds(now))


def tc3_headers(
    headers: Mapping[str, str],
    head: str,
    body: bytes,
    credentials: Credentials,
    service: str,
    action: str,
    version: str,
    region: str | None,
    timestamp: int,
) -> dict[str, str]:
    """`sign_tc3` from the point where `headers` hold Host and Content-Type as sent and `head` is their
    `tc3_request_head`. `prepare_request` enters here with both cached per action: it runs on every provider
    call, and skipping sign_tc3's header copy and look-ups saves ~0.5 µs of ~6."""
    scope, signature = _tc3_sign(head + _sha256_hex(body), credentials.secret_key, service, timestamp)
    out = dict(headers)
    out["X-TC-Action"] = action
    out["X-TC-Timestamp"] = str(timestamp)
    out["X-TC-Version"] = version
    if region:
        out["X-TC-Region"] = region
    if credentials.session_token:
        out["X-TC-Token"] = credentials.session_token
    out["Authorization"] = (
        f"{TC3_ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    return out


def trtc_callback_sign(key: str, body: bytes) -> str:
    """TRTC callback `Sign`: base64(HMAC-SHA256(key, raw body)); the body is never re-serialised."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")
