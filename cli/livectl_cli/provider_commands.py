"""`livectl sign` and `livectl call`: build (and send) one signed provider request."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from livectl.errors import LivectlError
from livectl.providers.catalogue import ACTIONS, TRTC, VOLCENGINE, get_action, validate_params
from livectl.providers.clients import DEFAULT_ENDPOINTS, VOLCENGINE_REGION, ProviderClient, prepare_request
from livectl.providers.operations import perform
from livectl.providers.retry import RetryPolicy
from livectl.providers.signing import Credentials
from livectl_cli.common import CliError, HelpFormatter, emit_json, json_object, parse_time, positive_number, utc_now

ENDPOINT_ENV = {VOLCENGINE: "LIVECTL_VOLCENGINE_ENDPOINT", TRTC: "LIVECTL_TRTC_ENDPOINT"}
CREDENTIAL_ENV = {
    VOLCENGINE: ("VOLC_ACCESSKEY", "VOLC_SECRETKEY", "VOLC_SESSION_TOKEN"),
    TRTC: ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN"),
}

SIGN_EPILOG = """\
examples:
  livectl sign volcengine StopPullRecordTask --params '{"TaskId": "f831f3b0"}' --at 2024-06-01T12:00:00Z
  livectl sign trtc DeleteCloudRecording --params '{"SdkAppId": 1400188366, "TaskId": "xx"}' --region ap-guangzhou

Credentials come from --access-key/--secret-key or from VOLC_ACCESSKEY/VOLC_SECRETKEY[/VOLC_SESSION_TOKEN]
and TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY[/TENCENTCLOUD_SESSION_TOKEN]. The endpoint defaults to
$LIVECTL_VOLCENGINE_ENDPOINT / $LIVECTL_TRTC_ENDPOINT, then to the provider's public endpoint.
"""

CALL_EPILOG = """\
example (against the emulator started with `livectl emulator`):
  VOLC_ACCESSKEY=AKLTDEMO VOLC_SECRETKEY=demo-secret \\
    livectl call volcengine GetPullRecordTask --params '{"TaskID": "demo-rec-1"}' --endpoint http://127.0.0.1:8900

Prints the parsed result as JSON; on error prints the error class, the provider's code and request id, and
exits 1.
"""


def _add_common(p: argparse.ArgumentParser, with_at: bool) -> None:
    p.add_argument("provider", choices=[VOLCENGINE, TRTC], help="volcengine or trtc")
    p.add_argument("action", choices=sorted(ACTIONS), metavar="ACTION", help=", ".join(sorted(ACTIONS)))
    p.add_argument("--params", required=True, help="the action's parameters as a JSON object")
    if with_at:
        p.add_argument("--at", help="RFC 3339 signing time (default: now)")
    p.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8900")
    p.add_argument("--region", help="TRTC: the Region parameter; Volcengine: the signing region")
    p.add_argument("--access-key", help="access key id / SecretId (default: from the environment)")
    p.add_argument("--secret-key", help="secret key (default: from the environment)")
    p.add_argument("--session-token", help="STS session token (optional)")


def register(sub: Any) -> None:
    sign = sub.add_parser(
        "sign",
        help="print the exact signed request as JSON",
        description="Print the exact request livectl would send: method, url, headers and body.",
        epilog=SIGN_EPILOG,
        formatter_class=HelpFormatter,
    )
    _add_common(sign, with_at=True)
    sign.set_defaults(handler=run_sign)
    call = sub.add_parser(
        "call",
        help="send one signed request and print the parsed result",
        description="Sign and send one provider call (with livectl's retry loop), print the result.",
        epilog=CALL_EPILOG,
        formatter_class=HelpFormatter,
    )
    _add_common(call, with_at=False)
    call.add_argument("--timeout", type=positive_number, default=30.0, help="overall seconds budget (default 30)")
    call.set_defaults(handler=run_call)


def credentials_from(args: argparse.Namespace, provider: str) -> Credentials:
    ak_env, sk_env, token_env = CREDENTIAL_ENV[provider]
    ak = args.access_key or os.environ.get(ak_env)
    sk = args.secret_key or os.environ.get(sk_env)
    if not ak or not sk:
        raise CliError(f"no credentials: pass --access-key/--secret-key or set {ak_env} and {sk_env}")
    return Credentials(ak, sk, args.session_token or os.environ.get(token_env) or None)


def _resolve(args: argparse.Namespace) -> tuple[Any, dict[str, Any], str]:
    action = get_action(args.action)
    if action.provider != args.provider:
        raise CliError(f"{action.name} is a {action.provider} action, not {args.provider}")
    raw = json_object(args.params)
    if action.provider == TRTC and args.region and "Region" not in raw:
        raw["Region"] = args.region
    try:
        params = validate_params(action, raw)
    except LivectlError as exc:
        raise CliError(f"invalid command: {exc.message}") from exc
    endpoint = args.endpoint or os.environ.get(ENDPOINT_ENV[action.provider]) or DEFAULT_ENDPOINTS[action.provider]
    return action, params, endpoint


def run_sign(args: argparse.Namespace) -> int:
    action, params, endpoint = _resolve(args)
    now = parse_time(args.at, "--at") if args.at is not None else utc_now()
    region = args.region if (args.region and action.provider == VOLCENGINE) else VOLCENGINE_REGION
    prepared = prepare_request(
        action, params, credentials_from(args, action.provider), now, endpoint, volcengine_region=region
    )
    emit_json(prepared.as_dict(), indent=2)
    return 0


def run_call(args: argparse.Namespace) -> int:
    import time

    action, params, endpoint = _resolve(args)
    client = ProviderClient({action.provider: endpoint})
    try:
        outcome = perform(
            action,
            params,
            credentials_from(args, action.provider),
            client,
            deadline=time.monotonic() + args.timeout,
            policy=RetryPolicy(attempts=3),
        )
    except LivectlError as exc:
        emit_json(exc.as_dict(), file=sys.stderr)
        return 1
    emit_json(
        {
            "action": outcome.action,
            "status": outcome.status,
            "request_id": outcome.request_id,
            "result": outcome.result,
            "provider_calls": outcome.provider_calls,
            **({"error_code": outcome.error_code} if outcome.error_code else {}),
        },
        indent=2,
    )
    return 0
