"""Provider clients: `parse_response` on both answer shapes, and real HTTP against a local `http.server`
(127.0.0.1, ephemeral port) for what only a socket shows: User-Agent, timeouts, dropped connections, the
shared Session, the bytes on the wire, endpoint override, and `operations.perform` end to end.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livectl import __version__
from livectl.errors import (
    AlreadyDone,
    LivectlError,
    PermanentProviderError,
    Throttled,
    TransientProviderError,
)
from livectl.providers.catalogue import get_action
from livectl.providers.clients import USER_AGENT, ProviderClient, http_session, parse_response
from livectl.providers.operations import perform
from livectl.providers.retry import RetryPolicy
from livectl.providers.signing import Credentials

pytestmark = pytest.mark.unit

STOP = get_action("StopPullRecordTask")
GET = get_action("GetPullRecordTask")
DELETE = get_action("DeleteCloudRecording")
CDN = get_action("StopPublishCdnStream")
VOLC_CREDS = Credentials("AKLTDEMO", "demo-secret")
TC_CREDS = Credentials("AKIDDEMO", "demo-secret")
AT = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def raises(action, status, body, headers=None) -> LivectlError:
    with pytest.raises(LivectlError) as err:
        parse_response(action, status, headers or {}, body if isinstance(body, bytes) else json.dumps(body).encode())
    return err.value


# --------------------------------------------------------------------------------------------------------
# parse_response
# --------------------------------------------------------------------------------------------------------
def volc_meta(action="GetPullRecordTask", error=None):
    meta = {"RequestId": "2024060112000001", "Action": action, "Version": "2023-01-01", "Service": "live"}
    if error:
        meta["Error"] = error
    return meta


def test_volcengine_success():
    body = {"ResponseMetadata": volc_meta(), "Result": {"TaskId": "t", "Status": "生效中"}}
    resp = parse_response(GET, 200, {}, json.dumps(body, ensure_ascii=False).encode())
    assert resp.request_id == "2024060112000001"
    assert resp.result == {"TaskId": "t", "Status": "生效中"}
    assert resp.provider == "volcengine"


def test_volcengine_success_without_result():
    resp = parse_response(STOP, 200, {}, json.dumps({"ResponseMetadata": volc_meta("StopPullRecordTask")}).encode())
    assert resp.result == {}


def test_volcengine_common_err_arrives_with_200():
    err = raises(STOP, 200, {"ResponseMetadata": volc_meta(error={"Code": "CommonErr", "Message": "未分类错误"})})
    assert type(err) is TransientProviderError
    assert (err.code, err.http_status, err.request_id) == ("CommonErr", 200, "2024060112000001")


def test_volcengine_429_flow_limit_with_retry_after():
    body = {"ResponseMetadata": volc_meta(error={"Code": "FlowLimitExceeded", "CodeN": 0, "Message": "flow"})}
    err = raises(STOP, 429, body, {"Retry-After": "2"})
    assert type(err) is Throttled
    assert err.retry_after == 2.0
    assert err.code == "FlowLimitExceeded"


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "InvalidParam", PermanentProviderError),
        (404, "ResourceNotFound", PermanentProviderError),
        (401, "SignatureDoesNotMatch", PermanentProviderError),
        (504, "InternalServiceTimeout", TransientProviderError),
        (429, "RequestLimitExceeded", Throttled),
    ],
)
def test_volcengine_errors_by_code(status, code, cls):
    err = raises(STOP, status, {"ResponseMetadata": volc_meta(error={"Code": code, "Message": "m"})})
    assert (type(err), err.code, err.http_status, err.provider) == (cls, code, status, "volcengine")


def test_tencent_success():
    body = {"Response": {"TaskId": "5df46eb2", "RequestId": "71993312"}}
    resp = parse_response(DELETE, 200, {}, json.dumps(body).encode())
    assert resp.request_id == "71993312"
    assert resp.result == {"TaskId": "5df46eb2"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("FailedOperation.TaskNotExist", AlreadyDone),
        ("RequestLimitExceeded", Throttled),
        ("InternalError.CRInternalError", TransientProviderError),
        ("AuthFailure.SignatureExpire", PermanentProviderError),
    ],
)
def test_tencent_errors_at_200(code, cls):
    err = raises(DELETE, 200, {"Response": {"Error": {"Code": code, "Message": "m"}, "RequestId": "r-2"}})
    assert (type(err), err.code, err.request_id, err.http_status) == (cls, code, "r-2", 200)


@pytest.mark.parametrize(
    ("action", "status", "body", "cls", "code"),
    [
        (STOP, 200, b'{"ResponseMetadata": {"RequestId": "x", "Err', TransientProviderError, "MalformedResponse"),
        (DELETE, 200, b'{"Response": {"TaskId": ', TransientProviderError, "MalformedResponse"),
        (DELETE, 200, b"<html>gateway</html>", TransientProviderError, "MalformedResponse"),
        (STOP, 200, b"", TransientProviderError, "MalformedResponse"),
        (STOP, 200, b"[1, 2]", TransientProviderError, "MalformedResponse"),
        (STOP, 200, b"\xff\xfe\x00garbage", TransientProviderError, "MalformedResponse"),
        (STOP, 200, b"[" * 100_000, TransientProviderError, "MalformedResponse"),  # deeper than the parser goes
        (DELETE, 200, b'{"Response": ' * 100_000, TransientProviderError, "MalformedResponse"),
        (STOP, 502, b"<html>Bad Gateway</html>", TransientProviderError, "HTTP502"),
        (STOP, 503, b"", TransientProviderError, "HTTP503"),
        (DELETE, 500, b"", TransientProviderError, "HTTP500"),
        (STOP, 429, b"", Throttled, "HTTP429"),
        (STOP, 500, b"{}", TransientProviderError, "HTTP500"),
        (STOP, 403, b"{}", PermanentProviderError, "HTTP403"),
    ],
)
def test_unreadable_or_bodiless_answers(action, status, body, cls, code):
    err = raises(action, status, body)
    assert (type(err), err.code, err.http_status) == (cls, code, status)


@settings(max_examples=300, deadline=None)
@given(
    action=st.sampled_from([STOP, GET, DELETE, CDN]),
    status=st.sampled_from([200, 400, 429, 500, 502, 503]),
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
            lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner)),
        ).map(lambda doc: json.dumps(doc).encode()),
        st.builds(lambda opener, depth: opener * depth, st.sampled_from([b"[", b'{"a": ']), st.integers(1, 200_000)),
    ),
)
def test_any_answer_is_a_result_or_a_livectl_error(action, status, body):
    """Whatever a provider (or a proxy in front of it) answers, the caller gets a result or one of livectl's
    errors: never a parser's own exception, which would escape the retry loop's classification."""
    try:
        answer = parse_response(action, status, {}, body)
    except LivectlError:
        return
    assert status == 200 and isinstance(answer.result, dict)  # only a 200 without an error is a result


def test_error_without_code_uses_status():
    err = raises(STOP, 503, {"ResponseMetadata": volc_meta(error={"Message": "?"})})
    assert (type(err), err.code) == (TransientProviderError, "HTTP503")


def test_unparseable_retry_after_is_ignored():
    err = raises(STOP, 429, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert type(err) is Throttled
    assert err.retry_after is None


# --------------------------------------------------------------------------------------------------------
# a tiny local provider
# --------------------------------------------------------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int


Reply = tuple  # ("json", status, doc[, headers]) | ("raw", status, bytes[, headers]) | ("drop",) | ("sleep", s, reply)


@dataclass
class LocalProvider:
    url: str
    seen: list[Seen] = field(default_factory=list)
    replies: deque = field(default_factory=deque)
    route: Callable[[Seen], Reply] | None = None


def _ok(seen: Seen) -> Reply:
    if "Action" in seen.query:
        return ("json", 200, {"ResponseMetadata": volc_meta(seen.query["Action"][0]), "Result": {}})
    return ("json", 200, {"Response": {"TaskId": "t", "RequestId": "r"}})


@pytest.fixture
def provider():
    state = LocalProvider(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            split = urlsplit(self.path)
            seen = Seen(
                "POST", split.path, parse_qs(split.query), dict(self.headers.items()), body, self.client_address[1]
            )
            state.seen.append(seen)
            reply = state.replies.popleft() if state.replies else (state.route or _ok)(seen)
            self._send(reply)

        def _send(self, reply):
            kind = reply[0]
            if kind == "drop":
                self.close_connection = True
                return
            if kind == "sleep":
                time.sleep(reply[1])
                return self._send(reply[2])
            status, payload = reply[1], reply[2]
            extra = reply[3] if len(reply) > 3 else {}
            data = json.dumps(payload, ensure_ascii=False).encode() if kind == "json" else payload
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def client_for(provider: LocalProvider, **kw) -> ProviderClient:
    return ProviderClient(endpoints={"volcengine": provider.url, "trtc": provider.url}, **kw)


def test_user_agent_names_livectl_and_version(provider):
    client_for(provider).call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT)
    client_for(provider).call(DELETE, {"SdkAppId": 1400000001, "TaskId": "t", "Region": "ap-guangzhou"}, TC_CREDS, AT)
    expected = f"livectl/{__version__}"
    assert [s.headers["User-Agent"] for s in provider.seen] == [expected, expected]
    assert expected == USER_AGENT


def test_endpoint_override_and_bytes_on_the_wire(provider):
    """What arrives is byte for byte what was signed, and it verifies with the official SDK's signer."""
    from volcengine.auth.SignerV4 import SignerV4
    from volcengine.auth.SignParam import SignParam
    from volcengine.Credentials import Credentials as VolcCredentials

    client = client_for(provider)
    params = {"TaskId": "任务-1 ünïcode"}
    expected = client.prepare(STOP, params, VOLC_CREDS, AT)
    client.call(STOP, params, VOLC_CREDS, AT)
    (seen,) = provider.seen
    host = provider.url.removeprefix("http://")
    assert seen.path == "/"
    assert seen.query == {"Action": ["StopPullRecordTask"], "Version": ["2023-01-01"]}
    assert seen.body == expected.body
    assert hashlib.sha256(seen.body).hexdigest() == seen.headers["X-Content-Sha256"]
    assert seen.headers["Host"] == host
    for name, value in expected.headers.items():
        assert seen.headers[name] == value, name

    param = SignParam()
    param.set_method("POST")
    param.set_host(host)
    param.set_path(seen.path)
    param.set_query({k: v[0] for k, v in seen.query.items()})
    param.set_header_list({"Host": seen.headers["Host"], "Content-Type": seen.headers["Content-Type"]})
    param.set_body(seen.body)
    param.set_date(datetime.strptime(seen.headers["X-Date"], "%Y%m%dT%H%M%SZ"))
    sdk = SignerV4.sign_only(param, VolcCredentials(VOLC_CREDS.access_key, VOLC_CREDS.secret_key, "live", "cn-north-1"))
    assert seen.headers["Authorization"] == sdk.authorization


def test_tc3_bytes_on_the_wire(provider):
    client = client_for(provider)
    params = {"SdkAppId": 1400000001, "TaskId": "cdn-任务", "Region": "ap-hongkong"}
    expected = client.prepare(CDN, params, TC_CREDS, AT)
    client.call(CDN, params, TC_CREDS, AT)
    (seen,) = provider.seen
    assert seen.body == expected.body == json.dumps({"SdkAppId": 1400000001, "TaskId": "cdn-任务"}).encode()
    for name in ("Authorization", "X-TC-Action", "X-TC-Timestamp", "X-TC-Region", "X-TC-Version", "Content-Type"):
        assert seen.headers[name] == expected.headers[name]
    assert seen.headers["X-TC-Region"] == "ap-hongkong"
    assert seen.headers["Host"] == provider.url.removeprefix("http://")


def test_one_session_per_process_and_connection_reused(provider):
    a, b = client_for(provider), client_for(provider)
    assert a.session is b.session is http_session()
    a.call(STOP, {"TaskId": "t1"}, VOLC_CREDS, AT)
    b.call(STOP, {"TaskId": "t2"}, VOLC_CREDS, AT)
    a.call(STOP, {"TaskId": "t3"}, VOLC_CREDS, AT)
    assert len({s.client_port for s in provider.seen}) == 1  # one TCP connection, kept alive


def test_read_timeout_is_honoured(provider):
    provider.replies.append(("sleep", 1.5, ("json", 200, {"Response": {}})))
    with pytest.raises(TransientProviderError) as err:
        client_for(provider, timeout=(1.0, 0.2)).call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT)
    assert err.value.code == "Timeout"
    assert err.value.retryable


def test_per_call_timeout_overrides_the_default(provider):
    provider.replies.append(("sleep", 1.5, ("json", 200, {"Response": {}})))
    with pytest.raises(TransientProviderError) as err:
        client_for(provider, timeout=(5.0, 30.0)).call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT, timeout=(1.0, 0.2))
    assert err.value.code == "Timeout"


def test_dropped_connection_is_transient(provider):
    provider.replies.append(("drop",))
    with pytest.raises(TransientProviderError) as err:
        client_for(provider).call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT)
    assert err.value.code == "ConnectionError"
    # and the next call gets through on a fresh connection
    assert client_for(provider).call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT).action == "StopPullRecordTask"


def test_connection_refused_is_transient():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nobody listens there
    client = ProviderClient(endpoints={"volcengine": f"http://127.0.0.1:{port}"})
    with pytest.raises(TransientProviderError) as err:
        client.call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT)
    assert err.value.code == "ConnectionError"


def test_truncated_body_over_http_is_transient(provider):
    provider.replies.append(("raw", 200, b'{"ResponseMetadata": {"Req'))
    with pytest.raises(TransientProviderError) as err:
        client_for(provider).call(STOP, {"TaskId": "t"}, VOLC_CREDS, AT)
    assert err.value.code == "MalformedResponse"


# --------------------------------------------------------------------------------------------------------
# operations.perform over real HTTP
# --------------------------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = time.monotonic()
        self.sleeps: list[float] = []
        self.nows = 0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s

    def now(self) -> datetime:
        self.nows += 1
        return AT + timedelta(seconds=self.t - int(self.t) + 7 * self.nows)


def run(provider, action, params, creds, clock=None, **kw):
    clock = clock or Clock()
    return perform(
        action,
        params,
        creds,
        client_for(provider),
        deadline=clock.t + 60,
        policy=kw.pop("policy", RetryPolicy(attempts=3, base=0.1, cap=1.0)),
        now=clock.now,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        **kw,
    )


@pytest.mark.parametrize("code", ["FailedOperation.TaskNotExist", "FailedOperation.TaskFinished"])
@pytest.mark.parametrize("action", [DELETE, CDN])
def test_trtc_already_done_codes(provider, action, code):
    provider.replies.append(("json", 200, {"Response": {"Error": {"Code": code, "Message": "x"}, "RequestId": "r-7"}}))
    region = action.params[-1].choices[0]
    outcome = run(provider, action, {"SdkAppId": 1400000001, "TaskId": "t-1", "Region": region}, TC_CREDS)
    assert (outcome.status, outcome.error_code, outcome.request_id) == ("already_done", code, "r-7")
    assert outcome.provider_calls == 1
    assert len(provider.seen) == 1


def _stop_then_get(status_text: str | None, get_reply: Reply | None = None):
    def route(seen: Seen) -> Reply:
        action = seen.query["Action"][0]
        if action == "StopPullRecordTask":
            return ("json", 400, {"ResponseMetadata": volc_meta(action, {"Code": "InvalidParam", "Message": "x"})})
        if get_reply is not None:
            return get_reply
        return (
            "json",
            200,
            {"ResponseMetadata": volc_meta(action), "Result": {"TaskId": "t-9", "Status": status_text}},
        )

    return route


@pytest.mark.parametrize("status_text", ["已结束", "停用"])
def test_stop_pull_record_invalid_param_settled_by_get(provider, status_text):
    provider.route = _stop_then_get(status_text)
    outcome = run(provider, STOP, {"TaskId": "t-9"}, VOLC_CREDS)
    assert (outcome.status, outcome.error_code, outcome.task_status) == ("already_done", "InvalidParam", status_text)
    assert [s.query["Action"][0] for s in provider.seen] == ["StopPullRecordTask", "GetPullRecordTask"]
    assert json.loads(provider.seen[1].body) == {"TaskID": "t-9"}  # capital D on the confirm call
    assert outcome.provider_calls == 2


@pytest.mark.parametrize("status_text", ["生效中", "未开始", "暂停中"])
def test_stop_pull_record_invalid_param_on_a_live_task_is_an_error(provider, status_text):
    provider.route = _stop_then_get(status_text)
    with pytest.raises(PermanentProviderError) as err:
        run(provider, STOP, {"TaskId": "t-9"}, VOLC_CREDS)
    assert err.value.code == "InvalidParam"
    assert len(provider.seen) == 2


def test_stop_pull_record_confirm_failure_keeps_the_refusal(provider):
    provider.route = _stop_then_get(
        None, ("json", 403, {"ResponseMetadata": volc_meta(error={"Code": "AccessDenied"})})
    )
    with pytest.raises(PermanentProviderError) as err:
        run(provider, STOP, {"TaskId": "t-9"}, VOLC_CREDS)
    assert err.value.code == "InvalidParam"


def test_other_refusals_are_not_confirmed(provider):
    provider.replies.append(("json", 404, {"ResponseMetadata": volc_meta(error={"Code": "ResourceNotFound"})}))
    with pytest.raises(PermanentProviderError):
        run(provider, STOP, {"TaskId": "t"}, VOLC_CREDS)
    assert len(provider.seen) == 1


def test_retries_resign_and_honour_retry_after(provider):
    provider.replies.extend(
        [
            ("raw", 502, b""),  # a gateway blip (a 503 says "unavailable": not retried in the invocation)
            ("json", 429, {"ResponseMetadata": volc_meta(error={"Code": "FlowLimitExceeded"})}, {"Retry-After": "3"}),
            ("json", 200, {"ResponseMetadata": volc_meta(error={"Code": "CommonErr", "Message": "retry"})}),
        ]
    )
    clock = Clock()
    outcome = run(provider, STOP, {"TaskId": "t"}, VOLC_CREDS, clock, policy=RetryPolicy(attempts=4, base=0.1, cap=1.0))
    assert (outcome.status, outcome.attempts) == ("done", 4)
    assert len(clock.sleeps) == 3
    assert clock.sleeps[1] >= 3.0  # Retry-After beats the jitter bound
    assert all(s <= 0.4 for i, s in enumerate(clock.sleeps) if i != 1)
    dates = [s.headers["X-Date"] for s in provider.seen]
    assert len(set(dates)) == 4
    assert len({s.headers["Authorization"] for s in provider.seen}) == 4


def test_get_pull_record_keeps_raw_status(provider):
    provider.replies.append(
        ("json", 200, {"ResponseMetadata": volc_meta(), "Result": {"TaskId": "t", "Status": "新的状态"}})
    )
    outcome = run(provider, GET, {"TaskID": "t"}, VOLC_CREDS)
    assert outcome.task_status == "新的状态"
    assert outcome.pull_record_status.name == "UNKNOWN"


def test_limiter_is_consulted_per_attempt(provider):
    from livectl.providers.ratelimit import WindowLimiter

    clock = Clock()
    limiter = WindowLimiter(1, 1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    provider.replies.append(("raw", 502, b""))
    outcome = run(provider, STOP, {"TaskId": "t"}, VOLC_CREDS, clock, limiter=limiter)
    assert outcome.attempts == 2
    # the retry waited for a slot (1 s at 1 per second), not only for the jitter (≤ 0.1 s)
    assert sum(clock.sleeps) >= 1.0 - 1e-9
