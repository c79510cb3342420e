"""Whether a request is a genuine, fresh TRTC callback: SdkAppId allowed, signature, replay window.

Facts used here are in shared/notes/trtc-callbacks.md and providers.md section 3:

- `Sign = base64(HMAC-SHA256(key, raw body))` over the body exactly as received (the docs' own example contains
  tabs and newlines, so re-serialised JSON never verifies). Header names are matched case-insensitively.
- The signature carries no timestamp, so freshness comes from the body's `CallbackTs` (ms, covered by `Sign`).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook.callbacks import DEFAULT_MAX_BYTES, DEFAULT_WINDOW_SECONDS, Callback, Rejection, parse

SIGN_HEADER = "sign"
SDK_APP_ID_HEADER = "sdkappid"


def signature_matches(sign: str, raw_body: bytes, keys: Iterable[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit, so timing says nothing)."""
    given = sign.strip().encode("utf-8", "replace")
    matched = False
    for key in keys:
        expected = trtc_callback_sign(key, raw_body).encode("ascii")
        if hmac.compare_digest(expected, given):
            matched = True
    return matched


def verify(
    headers: Mapping[str, str],
    raw_body: bytes,
    keys: Iterable[str],
    allowed_app_ids: Iterable[int],
    now: datetime,
    window: float = DEFAULT_WINDOW_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Callback | Rejection:
    """Verify and parse one callback, cheapest checks first; JSON is parsed only after the signature holds.

    413 oversize; 401 missing/garbled Sign, SdkAppId not allowed, wrong signature, `CallbackTs` outside
    now ± window (a replay); 400 a correctly signed body that is not a callback.
    """
    if len(raw_body) > max_bytes:
        return Rejection(413, "too_large", f"body is larger than {max_bytes} bytes")
    sign = header(headers, SIGN_HEADER)
    if not sign or not sign.strip():
        return Rejection(401, "missing_sign", "Sign header is required")
    app_text = (header(headers, SDK_APP_ID_HEADER) or "").strip()
    app_id = int(app_text) if app_text.isascii() and app_text.isdigit() and len(app_text) < 19 else None
    if app_id is None or app_id not in set(allowed_app_ids):
        return Rejection(401, "sdk_app_id", "SdkAppId is missing or not allowed")
    if not signature_matches(sign, raw_body, keys):
        return Rejection(401, "bad_sign", "signature does not match")
    parsed = parse(raw_body, app_id)
    if isinstance(parsed, Rejection):
        return parsed
    now_ms = int(now.timestamp() * 1000)
    if abs(now_ms - parsed.callback_ts) > int(window * 1000):
        return Rejection(401, "replay", "CallbackTs is outside the accepted window")
    return parsed


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Header value by case-insensitive name (HTTP API lower-cases names; other front doors may not)."""
    wanted = name.lower()
    value = headers.get(wanted)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None
