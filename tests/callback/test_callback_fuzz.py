"""Hypothesis: thousands of generated requests through the real handler (moto behind it) never yield a 5xx or
an exception, whatever the headers, the encoding, or the JSON inside a correctly signed body."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl.providers.signing import trtc_callback_sign
from tests.callback.conftest import APP_ID, FUZZ_SCALE, KEY, report

pytestmark = [pytest.mark.aws, pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

NOW_MS = 1763712000000
FUZZ = settings(
    max_examples=700 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "Status",
        "LeaveCode",
        "FileList",
        "FileMessage",
        "FileName",
        "TencentVod",
        "FileId",
        "VideoUrl",
        "CacheFile",
        "Url",
        "ErrorCode",
        "ErrorMsg",
        "Code",
        "Message",
        "Errmsg",
        "StartTimeStamp",
        "EndTimeStamp",
        "UserId",
        "FileSize",
    ]
)
payloads = st.dictionaries(
    field_names | st.text(max_size=8), json_values | st.lists(json_values, max_size=3), max_size=6
)
file_messages = st.lists(
    st.fixed_dictionaries(
        {"FileName": st.text(max_size=20) | scalars},
        optional={"StartTimeStamp": scalars, "EndTimeStamp": scalars, "UserId": scalars, "MediaId": scalars},
    ),
    max_size=3,
)
event_types = st.sampled_from([301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 401, 0, 999]) | st.integers()


@st.composite
def callback_docs(draw: Any) -> Any:
    """Mostly-plausible callback documents with arbitrary holes and types."""
    event_type = draw(event_types)
    payload = draw(payloads)
    if draw(st.booleans()):
        payload["FileMessage"] = draw(file_messages)
    if draw(st.booleans()):
        payload["TencentVod"] = draw(st.dictionaries(field_names, json_values, max_size=5))
    info: dict[str, Any] = {
        "RoomId": draw(scalars),
        "TaskId": draw(st.text(max_size=40) | scalars),
        "UserId": draw(scalars),
        "Payload": payload if draw(st.integers(0, 9)) else draw(json_values),
    }
    for name in ("EventMsTs", "EventTsMs", "EventTs"):
        if draw(st.booleans()):
            info[name] = draw(st.integers(NOW_MS - 10**7, NOW_MS + 10**7) | scalars)
    doc: dict[str, Any] = {
        "EventGroupId": draw(st.sampled_from([3, 4, 1, 8])) if draw(st.integers(0, 9)) else draw(scalars),
        "EventType": event_type,
        "CallbackTs": draw(st.integers(NOW_MS - 200_000, NOW_MS + 200_000))
        if draw(st.integers(0, 9))
        else draw(st.integers(NOW_MS - 400_000, NOW_MS + 400_000) | scalars),
        "EventInfo": info if draw(st.integers(0, 9)) else draw(json_values),
    }
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)  # not even an object
    return doc


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["signed_json", "signed_json", "signed_bytes", "random"]))
    if kind == "random":
        body = draw(st.binary(max_size=300))
    elif kind == "signed_bytes":
        body = draw(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
    else:
        indent = draw(st.sampled_from([None, "\t", 2]))
        body = json.dumps(draw(callback_docs()), indent=indent, ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass"
        )
    headers: dict[str, Any] = draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
    if kind != "random" or draw(st.booleans()):
        sign_name = draw(st.sampled_from(["sign", "Sign", "SIGN"]))
        headers[sign_name] = trtc_callback_sign(KEY, body) if kind != "random" else draw(st.text(max_size=50))
        headers[draw(st.sampled_from(["sdkappid", "SdkAppId"]))] = (
            str(APP_ID) if draw(st.integers(0, 9)) else draw(st.text(max_size=12) | st.integers().map(str))
        )
    b64 = draw(st.booleans())
    if b64:
        text: Any = base64.b64encode(body).decode("ascii")
        if draw(st.integers(0, 9)) == 0:
            text = draw(st.text(max_size=40))  # corrupt base64
    else:
        try:
            text = body.decode("utf-8")  # what API Gateway passes for a UTF-8 JSON body
        except UnicodeDecodeError:
            text = body.decode("utf-8", "surrogateescape") if draw(st.booleans()) else body.decode("latin-1")
    event: dict[str, Any] = {
        "version": "2.0",
        "headers": headers,
        "requestContext": {"http": {"method": draw(st.sampled_from(["POST"] * 8 + ["GET", "post"])), "path": "/x"}},
        "body": text,
        "isBase64Encoded": b64,
    }
    if draw(st.integers(0, 29)) == 0:
        event[draw(st.sampled_from(["body", "headers", "requestContext", "isBase64Encoded"]))] = draw(json_values)
    return event


def test_fuzzed_requests_never_5xx_and_never_raise(app, clock, moto_aws, pytestconfig):
    clock.set_ms(NOW_MS)
    seen: dict[int, int] = {}
    reasons: dict[str, int] = {}

    @FUZZ
    @given(requests())
    def run(event: dict[str, Any]) -> None:
        answer = app.handler(event, None)
        status = answer["statusCode"]
        assert status < 500, (status, answer["body"])
        seen[status] = seen.get(status, 0) + 1
        reason = json.loads(answer["body"]).get("error", "ok")
        reasons[reason] = reasons.get(reason, 0) + 1

    run()
    total = sum(seen.values())
    report(pytestconfig, f"handler fuzz (hypothesis): {total} events, 5xx: 0, by status {dict(sorted(seen.items()))}")
    report(pytestconfig, f"  by reason {dict(sorted(reasons.items()))}")
    assert total >= 700 * FUZZ_SCALE and {200, 400, 401}.issubset(seen)


def test_fuzzed_headers_and_bodies_never_raise_in_verify(pytestconfig):
    """The pure verifier on its own: arbitrary inputs (1,500; `make fuzz` 30,000), always a Callback or a Rejection."""
    from datetime import UTC, datetime

    from livectl.webhook.callbacks import Callback, Rejection
    from livectl.webhook.verify import verify

    now = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    count = 0

    @settings(max_examples=1500 * FUZZ_SCALE, deadline=None)
    @given(st.dictionaries(st.text(max_size=10), st.text(max_size=60), max_size=4), st.binary(max_size=400))
    def run(headers: dict[str, str], body: bytes) -> None:
        nonlocal count
        headers = {**headers, "sign": trtc_callback_sign(KEY, body), "sdkappid": str(APP_ID)} if count % 2 else headers
        count += 1
        result = verify(headers, body, [KEY, "other"], [APP_ID], now)
        assert isinstance(result, Callback | Rejection)
        if isinstance(result, Rejection):
            assert result.status in (400, 401, 413)

    run()
    report(pytestconfig, f"verify fuzz (hypothesis): {count} header/body pairs, every one a Callback or a Rejection")
    assert count >= 1500 * FUZZ_SCALE
