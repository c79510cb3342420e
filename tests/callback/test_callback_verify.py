"""Pure verification, parsing, dedupe and interpretation of TRTC callbacks (no AWS, no network)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook import verify as verify_module
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY, Callback, CallbackConfig, Rejection, parse
from livectl.webhook.effects import effects_of
from livectl.webhook.gateway import request_from_event
from livectl.webhook.verify import header, signature_matches, verify
from tests.callback.conftest import APP_ID, KEY, callback, callback_ts, load_event, make_event, raw_body

pytestmark = pytest.mark.unit

DOCS_KEY = "123654"
DOCS_SIGN = "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="
ALL_SAMPLES = [
    "301", "302", "303", "304", "305", "306", "307", "308", "309", "310", "311", "311_failed", "312", "401",
]  # fmt: skip


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def check(event: dict, keys=(KEY,), apps=(APP_ID,), now: datetime | None = None, window=300, max_bytes=65536):
    request = request_from_event(event, max_bytes)
    assert not isinstance(request, Rejection), request
    when = now or at_ms(callback_ts(event))
    return verify(request.headers, request.body, keys, apps, when, window, max_bytes)


# -- signature ----------------------------------------------------------------------------------------------
def test_docs_golden_vector_verifies_from_the_sample_event():
    event = load_event("docs_vector")
    body = raw_body(event)
    assert hashlib.sha256(body).hexdigest() == "4c4c52193bebe962a47d3736aec7a27e81fba536f3a8ecfa04ba306b0edcb2f6"
    assert b"\n\t" in body  # the docs' cJSON formatting survives the event file
    result = check(event, keys=(DOCS_KEY,))
    assert isinstance(result, Callback)
    assert (result.group, result.event_type, result.event_ms_ts) == (2, 204, 1664209748180)


def test_every_single_byte_mutation_of_the_golden_body_is_refused():
    body = raw_body(load_event("docs_vector"))
    accepted = 0
    for i in range(len(body)):
        mutated = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        accepted += signature_matches(DOCS_SIGN, mutated, [DOCS_KEY])
    assert len(body) == 207 and accepted == 0
    assert signature_matches(DOCS_SIGN, body, [DOCS_KEY])


def test_re_serialised_json_is_refused():
    event = load_event("305")
    body = raw_body(event)
    same_content = json.dumps(json.loads(body)).encode()
    assert json.loads(same_content) == json.loads(body)
    forged = make_event(same_content, sign=event["headers"]["sign"])
    result = check(forged, now=at_ms(callback_ts(event)))
    assert isinstance(result, Rejection) and (result.status, result.reason) == (401, "bad_sign")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"sdkappid": "1400000001"}, "missing_sign"),
        ({"sign": "", "sdkappid": "1400000001"}, "missing_sign"),
        ({"sign": "   ", "sdkappid": "1400000001"}, "missing_sign"),
        ({"sign": "AAAA", "sdkappid": "1400000001"}, "bad_sign"),
        ({"sign": "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=", "sdkappid": "1400000001"}, "bad_sign"),
        ({"sign": "ümlaut\udcff", "sdkappid": "1400000001"}, "bad_sign"),
        ({"sign": "x"}, "sdk_app_id"),
        ({"sign": "x", "sdkappid": "1400000002"}, "sdk_app_id"),
        ({"sign": "x", "sdkappid": "14e8"}, "sdk_app_id"),
        ({"sign": "x", "sdkappid": "99999999999999999999999"}, "sdk_app_id"),
    ],
)
def test_forged_or_missing_credentials_are_401(headers, reason):
    body = raw_body(load_event("305"))
    result = check(make_event(body, headers=headers), now=at_ms(json.loads(body)["CallbackTs"]))
    assert isinstance(result, Rejection)
    assert (result.status, result.reason) == (401, reason)
    assert "ümlaut" not in json.dumps(result.body())  # never echoes the Sign


def test_signed_with_another_key_is_refused():
    body = raw_body(load_event("305"))
    result = check(make_event(body, key="someone-elses-key"), now=at_ms(json.loads(body)["CallbackTs"]))
    assert isinstance(result, Rejection) and result.reason == "bad_sign"


def test_two_keys_during_rotation_both_accepted_and_the_removed_one_refused():
    body = raw_body(load_event("302"))
    now = at_ms(json.loads(body)["CallbackTs"])
    old, new = "oldKey1", "newKey2"
    for signer in (old, new):
        assert isinstance(check(make_event(body, key=signer), keys=(old, new), now=now), Callback)
    refused = check(make_event(body, key=old), keys=(new,), now=now)
    assert isinstance(refused, Rejection) and refused.reason == "bad_sign"


def test_compare_digest_runs_once_per_configured_key(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(verify_module.hmac, "compare_digest", spy)
    body = raw_body(load_event("302"))
    sign = trtc_callback_sign("k2", body)
    assert signature_matches(sign, body, ["k1", "k2", "k3"])  # no early exit on the match
    assert len(calls) == 3
    calls.clear()
    assert not signature_matches("forged", body, ["k1", "k2"])
    assert len(calls) == 2


# -- transport ------------------------------------------------------------------------------------------------
def test_base64_encoded_body_is_verified_after_decoding():
    event = load_event("base64")
    assert event["isBase64Encoded"] is True
    result = check(event)
    assert isinstance(result, Callback)
    assert result.task_id == "-m9-bVVU7id***K-m928oZWQndiborbEWH3zY-lIXlprc-gQvQE"
    assert (result.event_type, result.payload) == (305, {"Status": 0})


def test_invalid_base64_is_400():
    event = make_event(b"{}", b64=True)
    event["body"] = "not base64!!"
    result = request_from_event(event)
    assert isinstance(result, Rejection) and (result.status, result.reason) == (400, "bad_encoding")


@pytest.mark.parametrize(
    "names", [("sign", "sdkappid"), ("Sign", "SdkAppId"), ("SIGN", "SDKAPPID"), ("sIgN", "sdkAppID")]
)
def test_header_names_match_case_insensitively(names):
    body = raw_body(load_event("302"))
    headers = {names[0]: trtc_callback_sign(KEY, body), names[1]: str(APP_ID)}
    assert header(headers, "SIGN") == headers[names[0]]
    result = verify(headers, body, [KEY], [APP_ID], at_ms(json.loads(body)["CallbackTs"]))
    assert isinstance(result, Callback)


def test_header_case_sample_event():
    assert isinstance(check(load_event("header_case")), Callback)


def test_oversize_is_413_before_anything_else():
    big = b"{" + b" " * 70_000 + b"}"
    event = make_event(big, key=None, app_id=None)
    result = request_from_event(event, 65536)
    assert isinstance(result, Rejection) and result.status == 413
    b64 = request_from_event(make_event(big, b64=True), 65536)
    assert isinstance(b64, Rejection) and b64.status == 413
    # exactly at the cap passes the size check (and then fails on what it is)
    at_cap = b"x" * 65536
    assert isinstance(verify({}, at_cap, [KEY], [APP_ID], datetime.now(UTC)), Rejection)
    assert verify({}, at_cap, [KEY], [APP_ID], datetime.now(UTC)).status == 401  # type: ignore[union-attr]
    over = verify({}, at_cap + b"x", [KEY], [APP_ID], datetime.now(UTC))
    assert isinstance(over, Rejection) and over.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2, 3]",
        b"\xff\xfe garbage",
        b"[" * 50_000,
        b'{"EventGroupId": 3, "EventType": 301}',
        b'{"EventGroupId": "x", "EventType": 301, "CallbackTs": 1, "EventInfo": {}}',
        b'{"EventGroupId": 3, "EventType": 301, "CallbackTs": 1, "EventInfo": []}',
        b'{"EventGroupId": 3, "EventType": 301, "CallbackTs": true, "EventInfo": {}}',
    ],
)
def test_malformed_body_with_a_valid_signature_is_400(body):
    result = verify({"sign": trtc_callback_sign(KEY, body), "sdkappid": str(APP_ID)}, body, [KEY], [APP_ID], at_ms(1))
    assert isinstance(result, Rejection) and (result.status, result.reason) == (400, "malformed")


def test_malformed_body_without_a_valid_signature_is_401_not_400():
    result = verify({"sign": "forged", "sdkappid": str(APP_ID)}, b"not json", [KEY], [APP_ID], at_ms(1))
    assert isinstance(result, Rejection) and result.status == 401


# -- replay window -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("offset_ms", "accepted"),
    [
        (0, True),
        (300_000, True),  # exactly W late
        (-300_000, True),  # exactly W early (sender clock ahead)
        (300_001, False),
        (-300_001, False),
        (299_000, True),
        (301_000, False),
        (-301_000, False),
    ],
)
def test_replay_window_edges(offset_ms, accepted):
    event = load_event("302")
    now = at_ms(callback_ts(event) + offset_ms)
    result = check(event, now=now, window=300)
    assert isinstance(result, Callback) is accepted
    if not accepted:
        assert isinstance(result, Rejection) and (result.status, result.reason) == (401, "replay")


def test_window_is_configurable():
    event = load_event("302")
    now = at_ms(callback_ts(event)) + timedelta(seconds=30)
    assert isinstance(check(event, now=now, window=60), Callback)
    assert isinstance(check(event, now=now, window=10), Rejection)


# -- parsing and dedupe ---------------------------------------------------------------------------------------
def test_dedupe_key_ignores_callback_ts_but_not_the_event():
    a = callback(310, {"Status": 0, "FileList": ["a.mp4"]}, at_ms=1_000_000, callback_ts=1_000_100)
    b = callback(310, {"Status": 0, "FileList": ["a.mp4"]}, at_ms=1_000_000, callback_ts=1_010_100)  # a retry
    c = callback(310, {"Status": 0, "FileList": ["b.mp4"]}, at_ms=1_000_000)
    d = callback(310, {"FileList": ["a.mp4"], "Status": 0}, at_ms=1_000_000)  # same payload, other key order
    keys = [parse(x, APP_ID).dedupe_key for x in (a, b, c, d)]  # type: ignore[union-attr]
    assert keys[0] == keys[1] == keys[3] != keys[2]


def test_documented_inconsistencies_are_tolerated():
    # EventTs as a string, no EventMsTs (older docs), TaskId as a number (relay table), EventTsMs spelling
    body = (
        b'{"EventGroupId":3,"EventType":301,"CallbackTs":5,"EventInfo":{"RoomId":20015,"EventTs":"1622186275",'
        b'"TaskId":77,"Payload":{"Status":0}}}'
    )
    cb = parse(body, APP_ID)
    assert isinstance(cb, Callback)
    assert (cb.room_id, cb.task_id, cb.event_ts, cb.event_ms_ts, cb.order_ms) == (
        "20015",
        "77",
        1622186275,
        None,
        1622186275000,
    )
    relay = parse(raw_body(load_event("401")), APP_ID)
    assert isinstance(relay, Callback) and relay.event_ms_ts == 1763712005000
    # 305: `Status` in examples, `LeaveCode` in the newest table
    for field in ("Status", "LeaveCode"):
        cb305 = parse(callback(305, {field: 0}, at_ms=1), APP_ID)
        assert isinstance(cb305, Callback) and effects_of(cb305).all_uploaded


@pytest.mark.parametrize("field", ["TaskId", "RoomId", "UserId"])
@pytest.mark.parametrize(("number", "text"), [(77.0, "77"), (0.0, "0"), (-3.0, "-3"), (1e17, "100000000000000000")])
def test_an_integral_number_is_an_integer_in_every_id_field(field, number, text):
    """JSON has one number type: 77.0 is the integer 77 (as for EventGroupId, and as JSON Schema reads it), so an id
    field that takes an integer takes it spelt 77.0 too, as the same id. Found by the OpenAPI/parser property."""
    info = {"TaskId": "t", "Payload": {}, field: number}
    body = json.dumps({"EventGroupId": 3, "EventType": 301, "CallbackTs": 5, "EventInfo": info}).encode()
    cb = parse(body, APP_ID)
    assert isinstance(cb, Callback), cb
    assert {"TaskId": cb.task_id, "RoomId": cb.room_id, "UserId": cb.user_id}[field] == text


@pytest.mark.parametrize("number", [77.5, 1e18, float("inf"), float("nan")])
def test_a_fractional_or_huge_number_is_not_a_task_id(number):
    info = {"TaskId": number, "Payload": {}}
    body = json.dumps({"EventGroupId": 3, "EventType": 301, "CallbackTs": 5, "EventInfo": info}).encode()
    result = parse(body, APP_ID)
    assert isinstance(result, Rejection) and (result.status, result.field) == (400, "EventInfo.TaskId")


def test_config_from_secret():
    config = CallbackConfig.from_secret({"keys": ["keyAlpha", "keyBeta"], "sdk_app_ids": [1400000001, "1400000002"]})
    assert config.keys == ("keyAlpha", "keyBeta") and config.sdk_app_ids == {1400000001, 1400000002}
    assert "keyAlpha" not in repr(config) and "keyBeta" not in repr(config)
    assert CallbackConfig.local().keys == (LOCAL_CALLBACK_KEY,) and CallbackConfig.local().sdk_app_ids == {1400000001}
    bad_values = (
        None,
        [],
        {"keys": []},
        {"keys": [""], "sdk_app_ids": [1]},
        {"keys": ["keyGamma"], "sdk_app_ids": ["x"]},
    )
    for bad in bad_values:
        with pytest.raises(ValueError) as err:
            CallbackConfig.from_secret(bad)
        assert "keyGamma" not in str(err.value)  # the message names the field, never a key


# -- interpretation of every event type -----------------------------------------------------------------------
def effects(name: str):
    cb = check(load_event(name))
    assert isinstance(cb, Callback), cb
    return cb, effects_of(cb)


def test_every_sample_event_verifies_and_is_known():
    for name in ALL_SAMPLES:
        cb, eff = effects(name)
        assert cb.known and eff.touches_state, name


def test_recorder_start_and_stop():
    assert effects("301")[1].fields == {"recorder_status": "started"}
    stop = effects("302")[1]
    assert stop.fields["recorder_status"] == "stopped" and stop.fields["recorder_leave_code"] == 0
    assert not stop.all_uploaded and stop.upload_error is None


def test_cos_events():
    assert effects("303")[1].fields["upload_status"] == "uploading"
    info = effects("304")[1]
    assert [f.name for f in info.files] == ["1400000001_635055_recorder_635055.m3u8"] and info.storage == "cos"
    stop = effects("305")[1]
    assert stop.all_uploaded and stop.fields["upload_status"] == "uploaded"
    assert effects("306")[1].fields["last_failover_ms"] == 1763710200000
    assert effects("307")[1].fields["first_slice"].endswith(".m3u8")
    err = effects("308")[1]
    assert err.upload_error is not None and err.upload_error.code == "InvalidAccessKeyId"
    assert effects("309")[1].fields["image_download_error_url"].endswith("watermark.png")
    mp4 = effects("310")[1]
    assert mp4.all_uploaded and [f.name for f in mp4.files] == [
        "1400000001_635055_recorder_635055_main_1.mp4",
        "1400000001_635055_recorder_635055_main_2.mp4",
    ]
    assert mp4.files[0].start_ms == 1763708400001 and mp4.files[0].media_id == "main"


def test_cos_status_variants():
    lingering = effects_of(parse(callback(305, {"Status": 1}, at_ms=1), APP_ID))  # type: ignore[arg-type]
    assert not lingering.all_uploaded and lingering.upload_error is not None
    restored = effects_of(parse(callback(305, {"Status": 2}, at_ms=1), APP_ID))  # type: ignore[arg-type]
    assert restored.all_uploaded
    abnormal = effects_of(parse(callback(310, {"Status": 2, "FileList": []}, at_ms=1), APP_ID))  # type: ignore[arg-type]
    assert not abnormal.all_uploaded and abnormal.fields["upload_status"] == "failed"


def test_vod_events():
    _, commit = effects("311")
    (f,) = commit.files
    assert (f.file_id, f.url.startswith("https://"), f.name) == (
        "5285890799617342315",
        True,
        "1400000001_635055_host_1_main.mp4",
    )
    assert commit.storage == "vod" and not commit.all_uploaded
    failed = effects("311_failed")[1]
    assert (
        failed.files == ()
        and failed.upload_error is not None
        and failed.upload_error.message == "upload to vod timeout"
    )
    assert effects("312")[1].all_uploaded
    vod_abnormal = effects_of(parse(callback(312, {"Status": 1}, at_ms=1), APP_ID))  # type: ignore[arg-type]
    assert not vod_abnormal.all_uploaded and vod_abnormal.upload_error is not None


def test_relay_event():
    _, eff = effects("401")
    assert eff.relay is not None
    assert (eff.relay.status, eff.relay.status_name, eff.relay.url) == (
        2,
        "RUNNING",
        "rtmp://push.example.com/live/635055",
    )
    assert eff.kind == "cdn_publish"


def test_unknown_types_change_nothing_but_parse():
    for group, event_type in ((3, 399), (8, 801), (1, 101), (4, 402)):
        cb = parse(callback(event_type, {"Status": 1}, at_ms=5, group=group), APP_ID)
        assert isinstance(cb, Callback) and not cb.known and not effects_of(cb).touches_state


def test_request_from_event_reads_method_path_and_lowercases_headers():
    event = load_event("header_case")
    request = request_from_event(event)
    assert not isinstance(request, Rejection)
    assert (request.method, request.path) == ("POST", "/trtc/callback")
    assert set(request.headers) == {"content-type", "sign", "sdkappid"}
    assert request.body == raw_body(event)
    assert "body" not in repr(request)


def test_sign_is_standard_base64_of_hmac_sha256():
    body = b'{"a":1}'
    expected = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    assert trtc_callback_sign("k", body) == expected
