"""Provider clients: build the exact signed request, send it on one `requests.Session` per process, and
turn both providers' answers into a result or one of livectl's error classes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from livectl import __version__, runtime
from livectl.errors import LivectlError, Throttled, TransientProviderError, provider_error
from livectl.providers import wire as departure  # `ready` names its prepared request `wire`
from livectl.providers.catalogue import TRTC, VOLCENGINE, Action, region_param, serialize_body
from livectl.providers.signing import Credentials, sign_tc3, sign_volcengine

if TYPE_CHECKING:  # requests costs ~60-150 ms to import; only the send path needs it
    import requests

DEFAULT_ENDPOINTS: dict[str, str] = {
    VOLCENGINE: "https://live.volcengineapi.com",
    TRTC: "https://trtc.tencentcloudapi.com",
}
VOLCENGINE_REGION = "cn-north-1"
USER_AGENT = f"livectl/{__version__}"
DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8"),
        }


@dataclass(frozen=True)
class ReadyRequest:
    """A call signed and prepared by the session, with the session's settings for sending it: all that is left
    is the HTTP exchange. Its signature carries the instant it was signed at."""

    action: Action
    wire: requests.PreparedRequest
    settings: dict[str, Any]  # the session's proxies, TLS verification and stream flag for this URL


@dataclass(frozen=True)
class ProviderResponse:
    action: str
    provider: str
    request_id: str | None
    result: dict[str, Any]


def prepare_request(
    action: Action,
    params: Mapping[str, Any],
    credentials: Credentials,
    now: datetime,
    endpoint: str | None = None,
    volcengine_region: str = VOLCENGINE_REGION,
) -> PreparedRequest:
    """The signed request, byte for byte what `send` puts on the wire. `params` must be validated."""
    base = (endpoint or DEFAULT_ENDPOINTS[action.provider]).rstrip("/")
    host = urlsplit(base).netloc
    headers = {"Host": host, "Content-Type": "application/json", "User-Agent": USER_AGENT}
    body = serialize_body(action, params)
    if action.provider == VOLCENGINE:
        query = {"Action": action.name, "Version": action.version}
        signed = sign_volcengine(
            method="POST",
            host=host,
            path="/",
            query=query,
            headers=headers,
            body=body,
            credentials=credentials,
            region=volcengine_region,
            service=action.service,
            now=now,
        )
        return PreparedRequest("POST", f"{base}/?{urlencode(query)}", signed, body)
    signed = sign_tc3(
        method="POST",
        host=host,
        path="/",
        query={},
        headers=headers,
        body=body,
        credentials=credentials,
        service=action.service,
        action=action.name,
        version=action.version,
        region=region_param(action, params),
        now=now,
    )
    return PreparedRequest("POST", f"{base}/", signed, body)


_session: requests.Session | None = None


def http_session() -> requests.Session:
    """The process's one Session: connection reuse across warm invocations."""
    global _session
    if _session is None:
        import requests

        _session = requests.Session()
        _session.headers["User-Agent"] = USER_AGENT
    return _session


def _forget_session() -> None:
    global _session
    _session = None


runtime.on_reset("provider http session", _forget_session)


def pooled_session(connections: int) -> requests.Session:
    """A Session of its own whose pool keeps `connections` connections per host (requests keeps 10 by default):
    a container with that many calls in flight reuses every connection instead of paying a new handshake."""
    import requests

    from livectl.providers.wire import stamping_adapter

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT  # set once: a shared session's attributes are never changed per call
    adapter = stamping_adapter(connections)  # its connections tell the limiter when a request leaves (`wire`)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def parse_response(action: Action, status: int, headers: Mapping[str, str], content: bytes) -> ProviderResponse:
    """Both shapes: Volcengine `ResponseMetadata.Error` at any status (CommonErr comes with 200), Tencent
    `Response.Error` at 200. Anything unparseable is transient: a truncated body may succeed next time."""
    try:
        doc = json.loads(content)
    except (ValueError, RecursionError):  # bad UTF-8 or JSON (both ValueErrors), or nested deeper than it parses
        doc = None
    if not isinstance(doc, dict):
        cls: type[LivectlError] = Throttled if status == 429 else TransientProviderError
        raise cls(
            f"{action.name}: unreadable answer (HTTP {status}, {len(content)} bytes)",
            code="MalformedResponse" if status < 400 else f"HTTP{status}",
            provider=action.provider,
            http_status=status,
            retry_after=_retry_after(headers),
        )
    if action.provider == VOLCENGINE:
        meta = doc.get("ResponseMetadata")
        meta = meta if isinstance(meta, dict) else {}
        request_id = meta.get("RequestId")
        error = meta.get("Error")
        result = doc.get("Result")
    else:
        body = doc.get("Response")
        body = body if isinstance(body, dict) else {}
        request_id = body.get("RequestId")
        error = body.get("Error")
        result = {k: v for k, v in body.items() if k not in ("Error", "RequestId")}
    if isinstance(error, dict):
        raise provider_error(
            action.provider,
            str(error.get("Code") or f"HTTP{status}"),
            str(error.get("Message") or ""),
            request_id=request_id,
            http_status=status,
            retry_after=_retry_after(headers),
        )
    if status != 200:
        raise provider_error(
            action.provider,
            f"HTTP{status}",
            f"{action.name}: HTTP {status} without an error body",
            request_id=request_id,
            http_status=status,
            retry_after=_retry_after(headers),
        )
    return ProviderResponse(
        action=action.name,
        provider=action.provider,
        request_id=request_id,
        result=result if isinstance(result, dict) else {},
    )


class ProviderClient:
    """Signs and sends one action call. Endpoints are configuration (the emulator and tests use that)."""

    def __init__(
        self,
        endpoints: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.endpoints = {**DEFAULT_ENDPOINTS, **{k: v for k, v in (endpoints or {}).items() if v}}
        self.timeout = timeout
        self._session = session

    @property
    def session(self) -> requests.Session:
        return self._session or http_session()

    def prepare(
        self, action: Action, params: Mapping[str, Any], credentials: Credentials, now: datetime
    ) -> PreparedRequest:
        return prepare_request(action, params, credentials, now, self.endpoints[action.provider])

    def ready(self, action: Action, params: Mapping[str, Any], credentials: Credentials, now: datetime) -> ReadyRequest:
        """Everything a call does before the wire: serialise, sign, and let the session prepare the request and
        read its environment settings (proxies, TLS), as `Session.request` would. Done before the limiter's grant,
        so that after it only `send` remains and the provider sees the call arrive right after the grant."""
        import requests

        prepared = self.prepare(action, params, credentials, now)
        session = self.session
        wire = session.prepare_request(
            requests.Request(prepared.method, prepared.url, headers=prepared.headers, data=prepared.body)
        )
        settings: dict[str, Any] = dict(session.merge_environment_settings(wire.url, {}, None, None, None))
        return ReadyRequest(action, wire, settings)

    def send(
        self,
        ready: ReadyRequest,
        timeout: tuple[float, float] | None = None,
        on_wire: Callable[[], None] | None = None,
    ) -> ProviderResponse:
        """Put a ready request on the wire and read the answer: one HTTP exchange, nothing signed or built.
        `on_wire` runs as the request begins to write, on a session from `pooled_session` (`wire`)."""
        import requests

        action = ready.action
        departure.arm(on_wire)
        try:
            resp = self.session.send(
                ready.wire, timeout=timeout or self.timeout, allow_redirects=True, **ready.settings
            )
            content = resp.content
        except requests.Timeout as exc:
            raise TransientProviderError(
                f"{action.name}: no answer within the timeout", code="Timeout", provider=action.provider
            ) from exc
        except requests.RequestException as exc:
            raise TransientProviderError(
                f"{action.name}: connection failed ({type(exc).__name__})",
                code="ConnectionError",
                provider=action.provider,
            ) from exc
        finally:
            departure.disarm()  # a hook the request never fired (no stamping session) must not fire for another
        return parse_response(action, resp.status_code, resp.headers, content)

    def call(
        self,
        action: Action,
        params: Mapping[str, Any],
        credentials: Credentials,
        now: datetime,
        timeout: tuple[float, float] | None = None,
    ) -> ProviderResponse:
        """Sign and send at once (the CLI, tests): `ready` then `send`."""
        return self.send(self.ready(action, params, credentials, now), timeout=timeout)
