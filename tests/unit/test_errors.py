"""Every provider error code we can name maps to exactly one livectl error class, by code alone.

The codes come from the five seed pages (parsed here, so a code added to a seed fails this test until the
table in livectl.errors knows it) and from the common throttling / auth / transient / already-done codes of
shared/notes/providers.md 4.2. The expected class is derived independently: Volcengine's from the HTTP status
column of the seed (200 CommonErr "retry advised", 429, 5xx, other 4xx), Tencent's from the documented code
family.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from livectl.errors import (
    ERROR_CLASSES,
    TENCENT_CODES,
    TENCENT_FAMILIES,
    VOLCENGINE_CODES,
    VOLCENGINE_FAMILIES,
    AlreadyDone,
    LivectlError,
    PermanentProviderError,
    Throttled,
    TransientProviderError,
    classify,
    provider_error,
)
from livectl.providers.catalogue import get_action
from livectl.providers.clients import parse_response

pytestmark = pytest.mark.unit

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
CODE = r"[A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*"


def _seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def _seed_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}


def _volcengine_pipe_table(text: str) -> list[tuple[int, str, str]]:
    """Rows of `状态码 | 错误码 | 错误信息 | 说明 |` tables: (status, code, message)."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("状态码 | 错误码"):
            inside = True
            continue
        if inside and line.startswith("---"):
            continue
        if inside:
            cells = [c.strip() for c in line.split(" | ")]
            if len(cells) < 3 or not cells[0].isdigit():
                inside = False
                continue
            rows.append((int(cells[0]), cells[1], cells[2]))
    return rows


def _volcengine_squashed_table(text: str, known: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """Seed 001 lost its cell separators (`400InvalidParam.BindErrorRequest parameter error…`), so a code and
    its message cannot be split by pattern. Each row must be rebuilt exactly as status + code + message from the
    other Volcengine seeds' tables; a row that cannot (a new code) fails the test, by name."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("状态码错误码"):
            inside = True
            continue
        if not inside:
            continue
        if not re.match(r"^\d{3}[A-Z]", line):
            if rows:
                break
            continue
        matches = [(s, c, m) for s, c, m in known if line.startswith(f"{s}{c}{m}")]
        matches = [r for r in matches if not any(o[1].startswith(r[1] + ".") for o in matches)]
        assert len(matches) == 1, f"seed 001: cannot read error row {line[:60]!r}: a code the tables do not know?"
        rows.append(matches[0])
    assert rows, "seed 001: error table not found"
    return rows


def _tencent_codes(text: str) -> list[str]:
    """Seed 003 (`Error Code | Description |` pipe table) and 004 (indented `Code Description` lines)."""
    codes, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Error Code | Description") or line == "Error Code Description":
            inside = True
            continue
        if not inside or line.startswith("---"):
            continue
        first = line.split(" | ")[0] if " | " in line else line.split(" ")[0]
        # codes are CamelCase with at least two capitals (AuthFailure, InvalidParameter.OutOfRange)
        if not re.fullmatch(r"[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*", first):
            if codes:
                inside = False
            continue
        codes.append(first)
    return codes


def volcengine_seed_rows() -> list[tuple[int, str, str]]:
    piped = _volcengine_pipe_table(_seed("000")) + _volcengine_pipe_table(_seed("002"))
    squashed = _volcengine_squashed_table(_seed("001"), sorted(set(piped), key=lambda r: -len(r[1])))
    return piped + squashed


def tencent_seed_codes() -> list[str]:
    return _tencent_codes(_seed("003")) + _tencent_codes(_seed("004"))


VOLC_ROWS = sorted(set(volcengine_seed_rows()))
TC_CODES = sorted(set(tencent_seed_codes()))


def test_seed_tables_were_read():
    """Guards against a parser that silently reads nothing: every status-led line of the Volcengine pages is a
    row we read, and the Tencent tables hold what the two pages list today."""
    for prefix in ("000", "002"):
        lines = [ln for ln in _seed(prefix).splitlines() if re.match(r"^\d{3} \| ", ln)]
        assert len(_volcengine_pipe_table(_seed(prefix))) == len(lines) >= 11
    squashed = [ln for ln in _seed("001").splitlines() if re.match(r"^\d{3}[A-Z]", ln)]
    assert len(_volcengine_squashed_table(_seed("001"), VOLC_ROWS)) == len(squashed) == 11
    assert (len(_tencent_codes(_seed("003"))), len(_tencent_codes(_seed("004")))) == (13, 9)
    assert len(_seed_texts()) == 5


def _volc_expected(status: int) -> type[LivectlError]:
    if status == 200:  # CommonErr: "未分类错误。建议重试" (unclassified, retry advised)
        return TransientProviderError
    if status == 429:
        return Throttled
    if status >= 500:
        return TransientProviderError
    return PermanentProviderError


def _tc_expected(code: str) -> type[LivectlError]:
    if code.startswith("InternalError"):
        return TransientProviderError
    if code.startswith(("AuthFailure", "InvalidParameter", "MissingParameter", "ResourceNotFound", "FailedOperation")):
        return PermanentProviderError
    raise AssertionError(f"no expectation for seed code {code}")


@pytest.mark.parametrize(("status", "code", "message"), VOLC_ROWS, ids=[f"{s}-{c}" for s, c, _ in VOLC_ROWS])
def test_volcengine_seed_code(status, code, message):
    assert code in VOLCENGINE_CODES, f"{code} (seed error table) is missing from VOLCENGINE_CODES"
    assert VOLCENGINE_CODES[code] is _volc_expected(status)
    assert classify("volcengine", code) is VOLCENGINE_CODES[code]
    # the HTTP status never overrides a known code
    for other in (200, 400, 429, 500, 503):
        assert classify("volcengine", code, other) is VOLCENGINE_CODES[code]


@pytest.mark.parametrize("code", TC_CODES)
def test_tencent_seed_code(code):
    assert code in TENCENT_CODES, f"{code} (seed error table) is missing from TENCENT_CODES"
    assert TENCENT_CODES[code] is _tc_expected(code)
    assert classify("trtc", code, 200) is TENCENT_CODES[code]


# providers.md 4.2: the common throttling, auth, transient and already-done codes
NOTES_VOLCENGINE = {
    "FlowLimitExceeded": Throttled,
    "AccountFlowLimitExceeded": Throttled,
    "RequestLimitExceeded": Throttled,
    "ServiceUnavailableTemp": TransientProviderError,
    "InternalServiceTimeout": TransientProviderError,
    "InternalError": TransientProviderError,
    "InternalServiceError": TransientProviderError,
    "FailToConnect": TransientProviderError,
    "CommonErr": TransientProviderError,
    "MissingParameter": PermanentProviderError,
    "MissingRequestInfo": PermanentProviderError,
    "InvalidTimestamp": PermanentProviderError,
    "InvalidActionOrVersion": PermanentProviderError,
    "InvalidAccessKey": PermanentProviderError,
    "SignatureDoesNotMatch": PermanentProviderError,
    "AccessDenied": PermanentProviderError,
    "InvalidParam": PermanentProviderError,
    "InvalidParam.BindError": PermanentProviderError,
    "RequestForbidden": PermanentProviderError,
}
NOTES_TENCENT = {
    "RequestLimitExceeded": Throttled,
    "RequestLimitExceeded.UinLimitExceeded": Throttled,
    "RequestLimitExceeded.IPLimitExceeded": Throttled,
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": Throttled,
    "FailedOperation.RestrictedFrequency": Throttled,
    "FailedOperation.RestrictedConcurrency": Throttled,
    "LimitExceeded.ConcurrencyLimit": Throttled,
    "InternalError": TransientProviderError,
    "ServiceUnavailable": TransientProviderError,
    "ResourceUnavailable": TransientProviderError,
    "AuthFailure.SignatureExpire": PermanentProviderError,
    "AuthFailure.SignatureFailure": PermanentProviderError,
    "AuthFailure.SecretIdNotFound": PermanentProviderError,
    "UnsupportedRegion": PermanentProviderError,
    "UnauthorizedOperation": PermanentProviderError,
    "FailedOperation.TaskNotExist": AlreadyDone,
    "FailedOperation.TaskFinished": AlreadyDone,
}


@pytest.mark.parametrize(("code", "expected"), NOTES_VOLCENGINE.items(), ids=list(NOTES_VOLCENGINE))
def test_volcengine_common_code(code, expected):
    assert VOLCENGINE_CODES.get(code) is expected


@pytest.mark.parametrize(("code", "expected"), NOTES_TENCENT.items(), ids=list(NOTES_TENCENT))
def test_tencent_common_code(code, expected):
    assert TENCENT_CODES.get(code) is expected


@pytest.mark.parametrize(
    ("provider", "table", "families"),
    [("volcengine", VOLCENGINE_CODES, VOLCENGINE_FAMILIES), ("trtc", TENCENT_CODES, TENCENT_FAMILIES)],
)
def test_each_code_has_exactly_one_class(provider, table, families):
    for code, cls in table.items():
        assert cls in ERROR_CLASSES, code
        # a listed code and the family it belongs to never disagree: one code, one class, whichever path
        for prefix, family_cls in families:
            if code.startswith(prefix):
                assert family_cls is cls, f"{provider} {code}: table says {cls.__name__}, family {prefix}*"
    # family fallback for a code nobody listed yet
    for prefix, family_cls in families:
        assert classify(provider, prefix + "SomethingNew") is family_cls


def test_every_trtc_sdk_error_code_classifies():
    """Q12: every code the TRTC SDK knows maps to one class; retry semantics follow the documented families."""
    from tencentcloud.trtc.v20190722 import errorcodes

    codes = {v for k, v in vars(errorcodes).items() if k.isupper() and isinstance(v, str)}
    assert len(codes) > 50
    for code in codes:
        cls = classify("trtc", code, 200)
        assert cls in ERROR_CLASSES, code
        if code.startswith(("AuthFailure", "InvalidParameter", "MissingParameter", "UnauthorizedOperation")):
            assert cls is PermanentProviderError, code
        if code.startswith(("InternalError", "RequestLimitExceeded")):
            assert cls.retryable, code


def test_unknown_codes_fall_back_on_status():
    assert classify("volcengine", "NeverSeenBefore", 429) is Throttled
    assert classify("volcengine", "NeverSeenBefore", 502) is TransientProviderError
    assert classify("volcengine", "NeverSeenBefore", 400) is PermanentProviderError
    assert classify("trtc", "NeverSeenBefore", 200) is PermanentProviderError
    assert classify("trtc", "NeverSeenBefore") is PermanentProviderError


# --------------------------------------------------------------------------------------------------------
# By code, never by message text
# --------------------------------------------------------------------------------------------------------
MISLEADING = [
    "RequestLimitExceeded: too many requests, please retry later",
    "FailedOperation.TaskNotExist task already stopped",
    "AuthFailure.SignatureFailure",
    "InternalError: an internal error occurred, please contact the administrator.",
    "",
]


@pytest.mark.parametrize("message", MISLEADING)
def test_message_text_never_changes_the_class(message):
    assert type(provider_error("trtc", "InvalidParameter.SdkAppId", message)) is PermanentProviderError
    assert type(provider_error("trtc", "InternalError", message)) is TransientProviderError
    assert type(provider_error("trtc", "FailedOperation.TaskFinished", message)) is AlreadyDone
    assert type(provider_error("volcengine", "FlowLimitExceeded", message, http_status=429)) is Throttled
    assert type(provider_error("volcengine", "InvalidParam", message, http_status=400)) is PermanentProviderError


@pytest.mark.parametrize("message", MISLEADING)
def test_parse_response_classifies_by_code_not_message(message):
    doc = {"Response": {"Error": {"Code": "MissingParameter.TaskId", "Message": message}, "RequestId": "r-1"}}
    body = json.dumps(doc).encode()
    with pytest.raises(LivectlError) as err:
        parse_response(get_action("DeleteCloudRecording"), 200, {}, body)
    assert type(err.value) is PermanentProviderError
    assert err.value.code == "MissingParameter.TaskId"
    assert err.value.request_id == "r-1"


def test_error_carries_code_message_and_request_id():
    err = provider_error("volcengine", "CommonErr", "未分类错误", request_id="req-9", http_status=200)
    assert isinstance(err, TransientProviderError) and err.retryable
    assert err.as_dict() == {
        "error": "TransientProviderError",
        "message": "未分类错误",
        "code": "CommonErr",
        "request_id": "req-9",
        "provider": "volcengine",
        "http_status": 200,
    }
    assert "code=CommonErr" in str(err) and "request_id=req-9" in str(err)
    # no message: the code stands in
    assert provider_error("trtc", "InternalError", "").message == "InternalError"


def test_retryable_flags():
    assert {c.__name__ for c in ERROR_CLASSES if c.retryable} == {
        "TransientProviderError",
        "Throttled",
        "AwsServiceError",
    }
