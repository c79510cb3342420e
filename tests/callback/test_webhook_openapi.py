"""The webhook against its OpenAPI document (docs/webhook.openapi.yaml), over real HTTP.

schemathesis generates requests from the document (bodies that fit the schema and bodies that do not, headers with
and without a valid SdkAppId) and sends them through the local front door (`HttpAdapter`) to the real handler, with
moto behind it. Each response must be declared by the document (status, content type, JSON body), never a 5xx, and
must be the one the document predicts:

- signed runs: the hook signs the exact bytes sent (tab-indented as TRTC sends them), so requests get past
  verification: a body the request schema accepts is recorded (200; 401 `replay` only when its CallbackTs is outside
  the window), and a body it refuses is a 400 (`malformed` or `too_long`);
- unsigned runs: whatever else the request holds, a request without a valid `Sign` is a 401.

A hypothesis property pins the request schema to the parser: for any document, the schema accepts it exactly when
`verify` parses it. `make fuzz` runs all of these longer (LIVECTL_FUZZ_FUZZ_SCALE) and prints the figures.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook.callbacks import DEFAULT_MAX_BYTES, DEFAULT_WINDOW_SECONDS, Callback, Rejection
from livectl.webhook.verify import verify
from livectl_cli.http_adapter import HttpAdapter
from tests.callback.conftest import APP_ID, FUZZ_SCALE, KEY, cjson, report
from tests.callback.test_callback_fuzz import NOW_MS, callback_docs

pytestmark = [pytest.mark.aws, pytest.mark.filterwarnings("ignore::UserWarning")]

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "webhook.openapi.yaml"
WINDOW_MS = DEFAULT_WINDOW_SECONDS * 1000
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much]

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# Excluded checks, each for a reason that is not the handler's to fix:
# - positive_data_acceptance wants 2xx for every schema-valid body; a valid body outside the replay window is a 401
#   by design, and `expected_answer` below checks the exact status instead.
# - unsupported_method wants 405 for other methods; the route is `POST /trtc/callback` only, so API Gateway (and the
#   local front door) answers 404 before the function runs.
EXCLUDED_CHECKS = [openapi_checks.positive_data_acceptance, openapi_checks.unsupported_method]
# The signed run replaces the generated Sign and SdkAppId with valid ones, so a case generated to break a header is
# no longer negative when sent: `expected_answer` judges the request on the wire instead.
SIGNED_EXCLUDED_CHECKS = [
    *EXCLUDED_CHECKS,
    openapi_checks.negative_data_rejection,
    openapi_checks.missing_required_header,
]


def _document() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def request_validator() -> Any:
    """The document's request body schema as a validator (the schema subset used is draft-07 compatible)."""
    root = {"$ref": "#/components/schemas/Callback", "components": _document()["components"]}
    return fastjsonschema.compile(root)


def schema_accepts(validate: Any, doc: Any) -> bool:
    try:
        validate(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


VALIDATOR = request_validator()


# ---------------------------------------------------------------------------------------------------------------
# Figures (printed by `make fuzz`)
# ---------------------------------------------------------------------------------------------------------------
FIGURES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def print_figures(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    if FIGURES:
        statuses = {int(k.split()[1]): v for k, v in sorted(FIGURES.items()) if k.startswith("status ")}
        reasons = {k.split()[1]: v for k, v in sorted(FIGURES.items()) if k.startswith("reason ")}
        server_errors = sum(v for status, v in statuses.items() if status >= 500)
        report(
            pytestconfig,
            f"webhook fuzz (schemathesis, HTTP): {FIGURES['requests']} requests ({FIGURES['signed']} signed, "
            f"{FIGURES['unsigned']} unsigned), 5xx: {server_errors}, by status {statuses}",
        )
        report(pytestconfig, f"  by reason {reasons}")
        report(pytestconfig, f"  unsigned answered 401: {FIGURES['unsigned 401']} of {FIGURES['unsigned POST']}")


def _count(signed: bool, status: int, body: bytes) -> None:
    FIGURES["requests"] += 1
    FIGURES["signed" if signed else "unsigned"] += 1
    FIGURES[f"status {status}"] += 1
    try:
        reason = json.loads(body).get("error", "ok" if status == 200 else "front_door")
    except (ValueError, AttributeError):
        reason = "not_json"
    FIGURES[f"reason {reason}"] += 1


# ---------------------------------------------------------------------------------------------------------------
# The front door, the handler and moto
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def webhook(app: Any, clock: Any) -> Iterator[str]:
    clock.set_ms(NOW_MS)
    with HttpAdapter({"POST /trtc/callback": app.handler}) as adapter:
        yield adapter.url


def wire_body(case: Any) -> bytes:
    """The bytes to send for a generated body, serialised the way TRTC does (tabs). Most valid bodies get a
    CallbackTs inside the replay window, so they reach the ledger; the rest exercise the window."""
    body = case.body
    if isinstance(body, dict) and case.meta.generation.mode is GenerationMode.POSITIVE:
        ts = body.get("CallbackTs")
        if isinstance(ts, int) and not isinstance(ts, bool) and ts % 5:
            body = {**body, "CallbackTs": NOW_MS + ts % (2 * WINDOW_MS + 1) - WINDOW_MS}
    if isinstance(body, dict | list | str | int | float | bool) or body is None:
        return cjson(body)  # type: ignore[arg-type]
    return b""  # no body generated


def expected_answer(request: Any, validate: Any) -> tuple[int, set[str]]:
    """What the document says the request actually sent gets: (status, allowed `error` words).

    Worked out from the bytes and headers on the wire, since schemathesis's coverage phase may drop a header or
    change the method after the hook signed the body."""
    if request.method != "POST":
        return 404, {"front_door"}  # no route: API Gateway answers before the function (not part of the document)
    raw = request.body or b""
    raw = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(raw) > DEFAULT_MAX_BYTES:
        return 413, {"too_large"}
    sign = request.headers.get("Sign")
    if not sign or not sign.strip():
        return 401, {"missing_sign"}
    app_id = request.headers.get("SdkAppId", "").strip()
    if not (app_id.isascii() and app_id.isdigit() and len(app_id) < 19 and int(app_id) == APP_ID):
        return 401, {"sdk_app_id"}
    if sign.strip() != trtc_callback_sign(KEY, raw):
        return 401, {"bad_sign"}
    try:
        doc = json.loads(raw)
    except ValueError:
        return 400, {"malformed"}
    if not schema_accepts(validate, doc):
        return 400, {"malformed", "too_long"}
    if abs(NOW_MS - int(doc["CallbackTs"])) > WINDOW_MS:
        return 401, {"replay"}
    return 200, {"ok"}


def check_answer(case: Any, response: Any, *, signed: bool, headers: dict[str, str] | None = None) -> None:
    _count(signed, response.status_code, response.content)
    status, reasons = expected_answer(response.request, VALIDATOR)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    word = answer.get("error", "ok") if status != 404 else "front_door"
    assert (response.status_code, word) in {(status, r) for r in reasons}, (response.request.body, answer)
    if status != 404:
        excluded = SIGNED_EXCLUDED_CHECKS if signed else EXCLUDED_CHECKS
        case.validate_response(response, excluded_checks=excluded, headers=headers)


@schema.parametrize()
@settings(max_examples=60 * FUZZ_SCALE, deadline=None, suppress_health_check=HEALTH)
def test_signed_requests_get_the_documented_answer(case: Any, webhook: str) -> None:
    raw = wire_body(case)
    headers = {"Sign": trtc_callback_sign(KEY, raw), "SdkAppId": str(APP_ID), "Content-Type": "application/json"}
    response = case.call(base_url=webhook, data=raw, headers=headers)
    check_answer(case, response, signed=True, headers=headers)


@schema.parametrize()
@settings(max_examples=40 * FUZZ_SCALE, deadline=None, suppress_health_check=HEALTH)
def test_unsigned_requests_are_401(case: Any, webhook: str) -> None:
    """The generated `Sign` (any string, or none) never verifies: 401, whatever the SdkAppId and the body."""
    response = case.call(base_url=webhook)
    check_answer(case, response, signed=False)
    if response.request.method == "POST":
        FIGURES["unsigned POST"] += 1
        FIGURES["unsigned 401"] += response.status_code == 401
    assert response.status_code == 401 or response.request.method != "POST", response.text


# ---------------------------------------------------------------------------------------------------------------
# The request schema and the parser agree
# ---------------------------------------------------------------------------------------------------------------
NOW = datetime.fromtimestamp(NOW_MS / 1000, UTC)


@settings(max_examples=1500 * FUZZ_SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(callback_docs())
def test_request_schema_accepts_exactly_what_verify_parses(doc: Any) -> None:
    """Signed and inside the window, a body is parsed iff the document's schema accepts it; else 400."""
    if isinstance(doc, dict) and isinstance(doc.get("CallbackTs"), int) and not isinstance(doc["CallbackTs"], bool):
        doc = {**doc, "CallbackTs": NOW_MS}
    raw = cjson(doc)
    result = verify({"sign": trtc_callback_sign(KEY, raw), "sdkappid": str(APP_ID)}, raw, [KEY], [APP_ID], NOW)
    accepted = schema_accepts(VALIDATOR, json.loads(raw))
    if accepted:
        late = abs(NOW_MS - json.loads(raw)["CallbackTs"]) > WINDOW_MS
        assert isinstance(result, Rejection if late else Callback), (doc, result)
        assert late is False or (result.status, result.reason) == (401, "replay")  # type: ignore[union-attr]
    else:
        assert isinstance(result, Rejection) and result.status == 400, (doc, result)
        assert result.reason in {"malformed", "too_long"}


@pytest.mark.parametrize(
    ("doc", "accepted"),
    [
        ({"EventGroupId": 3, "EventType": 311, "CallbackTs": 1, "EventInfo": {"TaskId": "t", "Payload": {}}}, True),
        ({"EventGroupId": 1, "EventType": 101, "CallbackTs": 1, "EventInfo": {"RoomId": 7}}, True),
        ({"EventGroupId": 3, "EventType": 311, "CallbackTs": 1, "EventInfo": {"Payload": {}}}, False),
        ({"EventGroupId": 4, "EventType": 401, "CallbackTs": 1, "EventInfo": {"TaskId": "t", "Payload": 1}}, False),
        ({"EventGroupId": 3, "EventType": 311, "CallbackTs": "1", "EventInfo": {}}, False),
        ({"EventGroupId": 1, "EventType": 1, "CallbackTs": 1, "EventInfo": {"UserId": "u" * 257}}, False),
    ],
)
def test_request_schema_examples(doc: dict[str, Any], accepted: bool) -> None:
    """The property above is not vacuous: the schema refuses what it should."""
    assert schema_accepts(VALIDATOR, doc) is accepted


def test_document_example_is_accepted_and_every_error_word_is_declared() -> None:
    document = _document()
    operation = document["paths"]["/trtc/callback"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["example"]
    assert schema_accepts(VALIDATOR, example)
    text = OPENAPI.read_text(encoding="utf-8")
    for word in ("malformed", "too_long", "bad_body", "bad_encoding", "missing_sign", "sdk_app_id", "bad_sign"):
        assert word in text, word
    assert {"200", "400", "401", "408", "411", "413", "500", "503"} <= set(operation["responses"])
