"""The fast paths under `prepare_request` and `ProviderClient.call`, held to the general code they stand in for
over many generated inputs (bench/bench_signing.py says why they exist):

- `_dumps_flat` (serialize_body) against `json.dumps` with default settings;
- `_KeyedHmac` (pre-keyed hash states) against `hmac.new`;
- `_load_json` (parse_response) against `json.loads`: same value, or the same error;
- `prepare_request`'s TC3 entry (`tc3_headers` with the head cached per action) against `sign_tc3`, and its
  Volcengine headers against `sign_volcengine` with a plain query dict;
- `tc3_signature` (cached head) against `tc3_signature_over` on the same two headers;
- the request/response records stay frozen dataclasses with their generated eq and repr.
The differential tests hold all of them to the official SDKs as well.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livectl.providers.catalogue import (
    ACTIONS,
    TRTC,
    VOLCENGINE,
    _dumps_flat,
    body_params,
    serialize_body,
    validate_params,
)
from livectl.providers.clients import USER_AGENT, PreparedRequest, ProviderResponse, _load_json, prepare_request
from livectl.providers.signing import (
    Credentials,
    _KeyedHmac,
    sign_tc3,
    sign_volcengine,
    tc3_signature,
    tc3_signature_over,
)
from tests.strategies import param_text

pytestmark = pytest.mark.unit

MANY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# every code point, lone surrogates included: json.dumps escapes them, so must we
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=30)
utf8_text = st.text(max_size=30)  # what can be signed: no lone surrogates


class Colour(enum.IntEnum):
    RED = 1


class Tagged(str):
    pass


flat_values = st.one_of(
    any_text,
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
)
other_values = st.one_of(
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(Colour.RED),
    any_text.map(Tagged),
)


# --------------------------------------------------------------------------------------------------------
# JSON body
# --------------------------------------------------------------------------------------------------------
@MANY
@given(
    params=st.dictionaries(any_text, st.one_of(flat_values, other_values), max_size=5),
    missing=st.lists(any_text, max_size=2),
)
def test_dumps_flat_is_json_dumps(params, missing):
    names = tuple(params) + tuple(n for n in missing if n not in params)
    body = {n: params[n] for n in names if n in params}
    text = _dumps_flat(names, params)
    if all(type(v) in (str, int, bool, type(None)) for v in body.values()):
        assert text == json.dumps(body)
    else:
        assert text is None  # left to json.dumps


@MANY
@given(params=st.dictionaries(any_text, flat_values, max_size=5))
def test_dumps_flat_covers_every_flat_body(params):
    assert _dumps_flat(tuple(params), params) == json.dumps(params)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_serialize_body_matches_json_dumps_for_every_action(name):
    action = ACTIONS[name]
    params = {p.name: (1400188366 if p.type is int else 'tâsk-\u00e9\U0001f600"\\/') for p in action.params}
    params["Region"] = next((p.choices[0] for p in action.params if p.choices), "x")
    params = validate_params(action, {k: v for k, v in params.items() if k in action.param_names})
    assert serialize_body(action, params) == json.dumps(body_params(action, params)).encode("utf-8")


# --------------------------------------------------------------------------------------------------------
# HMAC
# --------------------------------------------------------------------------------------------------------
@MANY
@given(key=st.binary(max_size=200), msg=utf8_text)
def test_keyed_hmac_is_hmac_sha256(key, msg):
    keyed = _KeyedHmac(key)
    expected = hmac.new(key, msg.encode("utf-8"), hashlib.sha256).hexdigest()
    assert keyed.hexdigest(msg) == expected
    assert keyed.hexdigest(msg) == expected  # the primed states are copied, never consumed


# --------------------------------------------------------------------------------------------------------
# JSON answers
# --------------------------------------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def answers(draw):
    doc = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    doc = draw(st.sampled_from(["", " ", "\n", "\t "])) + doc + draw(st.sampled_from(["", " ", "\r\n", "x", "}"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"]))
    try:
        return doc.encode(encoding)
    except UnicodeEncodeError:  # a lone surrogate with ensure_ascii=False
        return doc.encode(encoding, "surrogatepass")


def _outcome(fn, content):
    try:
        return "ok", repr(fn(content))
    except Exception as exc:  # the class of the error is what is compared
        return "error", type(exc)


@MANY
@given(content=st.one_of(answers(), st.binary(max_size=60)))
def test_load_json_is_json_loads(content):
    assert _outcome(_load_json, content) == _outcome(json.loads, content)


# --------------------------------------------------------------------------------------------------------
# prepare_request against the public signers
# --------------------------------------------------------------------------------------------------------
hosts = st.builds(
    lambda name, port: name if port is None else f"{name}:{port}",
    st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?\Z"),
    st.one_of(st.none(), st.sampled_from([80, 443, 8443])),
)
secrets = st.text(min_size=1, max_size=40)
tokens = st.one_of(st.none(), st.just(""), st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1))
instants = st.integers(min_value=946684800, max_value=2208988800).map(lambda t: datetime.fromtimestamp(t, tz=UTC))
task_ids = param_text(max_size=60)


@MANY
@given(
    name=st.sampled_from(sorted(n for n, a in ACTIONS.items() if a.provider == TRTC)),
    app_id=st.integers(min_value=1, max_value=2**53),
    task_id=task_ids,
    data=st.data(),
    host=hosts,
    secret=secrets,
    token=tokens,
    at=instants,
)
def test_prepare_request_tc3_is_sign_tc3(name, app_id, task_id, data, host, secret, token, at):
    action = ACTIONS[name]
    region = data.draw(st.sampled_from(next(p.choices for p in action.params if p.name == "Region")))
    params = validate_params(action, {"SdkAppId": app_id, "TaskId": task_id, "Region": region})
    creds = Credentials("AKID", secret, token)
    ours = prepare_request(action, params, creds, at, endpoint=f"https://{host}")
    general = sign_tc3(
        method="POST",
        host=host,
        path="/",
        query={},
        headers={"Host": host, "Content-Type": "application/json", "User-Agent": USER_AGENT},
        body=serialize_body(action, params),
        credentials=creds,
        service=action.service,
        action=action.name,
        version=action.version,
        region=region,
        now=at,
    )
    assert list(ours.headers.items()) == list(general.items())


@MANY
@given(
    name=st.sampled_from(sorted(n for n, a in ACTIONS.items() if a.provider == VOLCENGINE)),
    task_id=task_ids,
    host=hosts,
    secret=secrets,
    token=tokens,
    at=instants,
    region=st.sampled_from(["cn-north-1", "ap-singapore-1"]),
)
def test_prepare_request_volcengine_is_sign_volcengine(name, task_id, host, secret, token, at, region):
    action = ACTIONS[name]
    params = validate_params(action, {action.task_id_param: task_id})
    creds = Credentials("AKLT", secret, token)
    ours = prepare_request(action, params, creds, at, endpoint=f"https://{host}", volcengine_region=region)
    general = sign_volcengine(
        method="POST",
        host=host,
        path="/",
        query={"Action": action.name, "Version": action.version},
        headers={"Host": host, "Content-Type": "application/json", "User-Agent": USER_AGENT},
        body=serialize_body(action, params),
        credentials=creds,
        region=region,
        service=action.service,
        now=at,
    )
    assert list(ours.headers.items()) == list(general.items())


@MANY
@given(
    method=st.sampled_from(["POST", "get", "Put"]),
    path=st.one_of(st.just(""), st.just("/"), utf8_text.map(lambda s: "/" + s)),
    query=utf8_text,
    content_type=st.sampled_from(["application/json", "text/plain; charset=utf-8", ""]),
    host=utf8_text,
    body=st.binary(max_size=100),
    secret=secrets,
    service=st.sampled_from(["trtc", "cvm"]),
    timestamp=st.integers(min_value=0, max_value=4102444800),
)
def test_tc3_signature_is_tc3_signature_over(method, path, query, content_type, host, body, secret, service, timestamp):
    common = {"method": method, "path": path, "query": query, "secret_key": secret, "service": service}
    scope, signature = tc3_signature(content_type=content_type, host=host, body=body, timestamp=timestamp, **common)
    assert (scope, "content-type;host", signature) == tc3_signature_over(
        canonical_headers={"host": host, "content-type": content_type},
        body_sha256=hashlib.sha256(body).hexdigest(),
        timestamp=timestamp,
        **common,
    )


# --------------------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------------------
def test_records_stay_frozen_dataclasses():
    req = PreparedRequest("POST", "https://h/", {"Host": "h"}, b"{}")
    resp = ProviderResponse(action="A", provider="trtc", request_id="r", result={"k": 1})
    for record, field in ((req, "url"), (resp, "result")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
        assert dataclasses.replace(record) == record
    assert req == PreparedRequest("POST", "https://h/", {"Host": "h"}, b"{}")
    assert req != PreparedRequest("POST", "https://h/", {"Host": "h"}, b"[]")
    assert repr(resp) == "ProviderResponse(action='A', provider='trtc', request_id='r', result={'k': 1})"
    assert dataclasses.asdict(req) == {"method": "POST", "url": "https://h/", "headers": {"Host": "h"}, "body": b"{}"}
    assert req.as_dict()["body"] == "{}"
