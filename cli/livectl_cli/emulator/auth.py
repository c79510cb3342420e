"""Signature verification the way the providers' gateways do it: recompute over the headers the request's
`SignedHeaders` names, with livectl's own signing primitives (no second signer), and answer with the
provider's codes. Precedence: malformed or missing auth, unknown key, clock skew, then signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from livectl.providers.signing import (
    TC3_ALGORITHM,
    VOLC_ALGORITHM,
    strip_default_port,
    tc3_signature_over,
    volcengine_signature,
)

MAX_SKEW_SECONDS = 300.0

_AUTH = re.compile(
    r"^(?P<alg>\S+)\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class Verdict:
    """`account` is the access key the request names (even if unknown); `error` is (code, message) or None."""

    account: str | None
    signature_valid: bool | None
    error: tuple[str, str] | None = None
    region: str | None = None


HeaderGetter = Callable[[str], "str | None"]


def _collect(signed: str, header: HeaderGetter, canon: Callable[[str, str], str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for name in signed.split(";"):
        value = header(name)
        if not name or value is None:
            return None
        out[name.lower()] = canon(name.lower(), value.strip())
    return out


def verify_volcengine(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    header: HeaderGetter,
    body: bytes,
    secrets: Mapping[str, str],
    now: float,
    service: str,
) -> Verdict:
    auth = header("Authorization")
    if not auth:
        return Verdict(None, None, ("MissingRequestInfo", "The request is missing the Authorization header."))
    m = _AUTH.match(auth)
    parts = m.group("cred").split("/") if m else []
    if not m or m.group("alg") != VOLC_ALGORITHM or len(parts) != 5 or parts[4] != "request":
        return Verdict(None, None, ("MissingRequestInfo", "The Authorization header is malformed."))
    access_key, date, region, scope_service, _ = parts
    secret = secrets.get(access_key)
    if secret is None:
        return Verdict(access_key, None, ("InvalidAccessKey", f"The access key {access_key} does not exist."), region)
    x_date = header("X-Date") or ""
    try:
        signed_at = datetime.strptime(x_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return Verdict(access_key, False, ("InvalidTimestamp", f"X-Date {x_date!r} is not a valid time."), region)
    canonical = _collect(m.group("signed"), header, lambda n, v: strip_default_port(v) if n == "host" else v)
    valid = False
    if canonical is not None and date == x_date[:8] and scope_service == service:
        _, _, expected = volcengine_signature(
            method=method,
            path=path,
            query=query,
            canonical_headers=canonical,
            body_sha256=hashlib.sha256(body).hexdigest(),
            x_date=x_date,
            secret_key=secret,
            region=region,
            service=scope_service,
        )
        valid = hmac.compare_digest(expected, m.group("sig").lower())
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        return Verdict(
            access_key,
            valid,
            ("InvalidTimestamp", f"X-Date {x_date} is more than 5 minutes away from the server time."),
            region,
        )
    if not valid:
        return Verdict(
            access_key,
            False,
            ("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."),
            region,
        )
    return Verdict(access_key, True, None, region)


def verify_tc3(
    *,
    method: str,
    path: str,
    query: str,
    header: HeaderGetter,
    body: bytes,
    secrets: Mapping[str, str],
    now: float,
    service: str,
) -> Verdict:
    auth = header("Authorization")
    if not auth:
        return Verdict(None, None, ("AuthFailure.InvalidAuthorization", "The Authorization header is missing."))
    m = _AUTH.match(auth)
    parts = m.group("cred").split("/") if m else []
    if not m or m.group("alg") != TC3_ALGORITHM or len(parts) != 4 or parts[3] != "tc3_request":
        return Verdict(None, None, ("AuthFailure.InvalidAuthorization", "The Authorization header is malformed."))
    secret_id, date, scope_service, _ = parts
    secret = secrets.get(secret_id)
    if secret is None:
        return Verdict(secret_id, None, ("AuthFailure.SecretIdNotFound", f"The SecretId {secret_id} is not found."))
    raw_ts = header("X-TC-Timestamp") or ""
    if not raw_ts.isdigit():
        return Verdict(secret_id, False, ("MissingParameter", "The request is missing a valid X-TC-Timestamp."))
    timestamp = int(raw_ts)
    canonical = _collect(m.group("signed"), header, lambda n, v: v if n in ("content-type", "host") else v.lower())
    valid = False
    expected_date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    if canonical is not None and "content-type" in canonical and date == expected_date and scope_service == service:
        _, _, expected = tc3_signature_over(
            method=method,
            path=path,
            query=query,
            canonical_headers=canonical,
            body_sha256=hashlib.sha256(body).hexdigest(),
            secret_key=secret,
            service=scope_service,
            timestamp=timestamp,
        )
        valid = hmac.compare_digest(expected, m.group("sig").lower())
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        return Verdict(
            secret_id,
            valid,
            ("AuthFailure.SignatureExpire", "Signature expired: the timestamp is more than 5 minutes off."),
        )
    if not valid:
        return Verdict(
            secret_id,
            False,
            ("AuthFailure.SignatureFailure", "The provided credentials could not be validated."),
        )
    return Verdict(secret_id, True, None)
