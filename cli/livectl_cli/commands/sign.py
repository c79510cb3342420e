"""`livectl sign`: print the exact signed request livectl would send to a provider. `call` shares its arguments
(`add_request_arguments`) and how they become a request (`resolve_request`, `credentials_from`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from livectl.errors import LivectlError
from livectl.providers.catalogue import ACTIONS, TRTC, VOLCENGINE, get_action, validate_params
from livectl.providers.clients import DEFAULT_ENDPOINTS, VOLCENGINE_REGION, prepare_request
from livectl.providers.signing import Credentials
from livectl_cli.common import CliError, add_action_argument, add_command, emit_json, json_object, parse_time, utc_now

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


def add_request_arguments(p: argparse.ArgumentParser, with_at: bool) -> None:
    p.add_argument("provider", choices=[VOLCENGINE, TRTC], help="volcengine or trtc")
    add_action_argument(p, ACTIONS)
    p.add_argument("--params", required=True, help="the action's parameters as a JSON object")
    if with_at:
        p.add_argument("--at", help="RFC 3339 signing time (default: now)")
    p.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8900")
    p.add_argument("--region", help="TRTC: the Region parameter; Volcengine: the signing region")
    p.add_argument("--access-key", help="access key id / SecretId (default: from the environment)")
    p.add_argument("--secret-key", help="secret key (default: from the environment)")
    p.add_argument("--session-token", help="STS session token (optional)")


def credentials_from(args: argparse.Namespace, provider: str) -> Credentials:
    ak_env, sk_env, token_env = CREDENTIAL_ENV[provider]
    ak = args.access_key or os.environ.get(ak_env)
    sk = args.secret_key or os.environ.get(sk_env)
    if not ak or not sk:
        raise CliError(f"no credentials: pass --access-key/--secret-key or set {ak_env} and {sk_env}")
    return Credentials(ak, sk, args.session_token or os.environ.get(token_env) or None)


def resolve_request(args: argparse.Namespace) -> tuple[Any, dict[str, Any], str]:
    """The action, its validated parameters and the endpoint the arguments name."""
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
    action, params, endpoint = resolve_request(args)
    now = parse_time(args.at, "--at") if args.at is not None else utc_now()
    region = args.region if (args.region and action.provider == VOLCENGINE) else VOLCENGINE_REGION
    prepared = prepare_request(
        action, params, credentials_from(args, action.provider), now, endpoint, volcengine_region=region
    )
    emit_json(prepared.as_dict(), indent=2)
    return 0


def register(sub: Any) -> None:
    sign = add_command(
        sub,
        "sign",
        summary="print the exact signed request as JSON",
        description="Print the exact request livectl would send: method, url, headers and body.",
        epilog=SIGN_EPILOG,
        handler=run_sign,
    )
    add_request_arguments(sign, with_at=True)
