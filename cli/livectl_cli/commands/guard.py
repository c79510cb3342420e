"""`livectl guard`: the cost guard's policy per TRTC SdkAppId, and one task's guard.

    livectl guard show 1400000001
    livectl guard set 1400000001 --max-recording 4h --region ap-singapore
    livectl guard extend TASK_ID --by 2h
    livectl guard off TASK_ID

Policies are SSM parameters under the stack's `GuardParameterPath` output (defaults: the `GuardDefaults` output);
`extend` and `off` run the schedule manager's own code (`livectl.guard.manager`) against the stack, like
`schedule-stop` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from livectl_cli.common import CliError, add_command, emit, emit_json, utc_now
from livectl_cli.targets import add_target_arguments, aws_call, guard_policies, resolve_target, schedule_deps

GUARD_EPILOG = """\
examples:
  livectl guard show 1400000001                        # the effective policy, and where it comes from
  livectl guard set 1400000001 --max-recording 4h      # an override for one app (merged into its parameter)
  livectl guard set 1400000001 --enabled false         # no guard for this app
  livectl guard extend TASK_ID --by 2h                 # move one task's guard later
  livectl guard off TASK_ID                            # cancel one task's guard
A policy change applies to recordings and relays that start afterwards (the schedule manager caches policies
for GuardPolicyMaxAge seconds); armed guards keep their time unless extended.
"""
NO_GUARD = "this stack has no cost guard (no GuardParameterPath output): deploy the current template.yaml"


def _policies(args: argparse.Namespace) -> Any:
    policies = guard_policies(resolve_target(args))
    if policies is None:
        raise CliError(NO_GUARD)
    return policies


def _app_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise CliError(f"SDKAPPID must be a positive integer, got {text!r}")
    return int(text)


def run_show(args: argparse.Namespace) -> int:
    policies = _policies(args)
    app = _app_id(args.sdk_app_id)
    override = aws_call("read guard policy", lambda: policies.override(app))
    policy = aws_call("read guard policy", lambda: policies.for_app(app))
    doc = {"sdk_app_id": app, **policy.as_dict(), "override": override, "parameter": f"{policies.path}{app}"}
    if args.json:
        emit_json(doc, indent=2)
        return 0
    emit(f"guard policy for SdkAppId {app} ({'override ' + doc['parameter'] if override else 'stack defaults'})")
    for name in ("enabled", "region", "account", "max_recording", "max_relay"):
        mark = "  (override)" if override and name in override else ""
        emit(f"  {name:<14}{str(doc[name]).lower() if name == 'enabled' else doc[name]}{mark}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    policies = _policies(args)
    app = _app_id(args.sdk_app_id)
    fields = {
        name: value
        for name, value in (
            ("enabled", args.enabled),
            ("region", args.region_name),
            ("account", args.account),
            ("max_recording", args.max_recording),
            ("max_relay", args.max_relay),
        )
        if value is not None
    }
    if not fields:
        raise CliError("nothing to set: give --enabled, --guard-region, --account, --max-recording or --max-relay")
    policy = aws_call("write guard policy", lambda: policies.put(app, fields))
    emit(f"guard policy for SdkAppId {app}: " + ", ".join(f"{k}={v}" for k, v in policy.as_dict().items()))
    return 0


def _task_request(args: argparse.Namespace, doc: dict[str, Any]) -> dict[str, Any]:
    from livectl.guard.manager import handle_guard_request

    deps = schedule_deps(resolve_target(args))
    if deps.guard is None:
        raise CliError(NO_GUARD)
    result: dict[str, Any] = aws_call("guard request", lambda: handle_guard_request(doc, deps, utc_now()))
    return result


def run_extend(args: argparse.Namespace) -> int:
    result = _task_request(args, {"guard": "extend", "task_id": args.task_id, "by": args.by})
    emit(f"extended the guard of {args.task_id}: {result['action']} now at {result['at']} ({result['schedule']})")
    return 0


def run_off(args: argparse.Namespace) -> int:
    result = _task_request(args, {"guard": "off", "task_id": args.task_id})
    emit(f"guard of {args.task_id} is off: {result['schedule']} cancelled")
    return 0


def register(sub: Any) -> None:
    guard = add_command(
        sub,
        "guard",
        summary="the cost guard: policy per SdkAppId, and one task's guard",
        description="The cost guard stops a TRTC recording or relay that outlives its app's maximum duration.",
        epilog=GUARD_EPILOG,
    )
    verbs = guard.add_subparsers(dest="guard_command", metavar="COMMAND", required=True)
    show = add_command(verbs, "show", summary="the effective policy of one SdkAppId", handler=run_show)
    show.add_argument("sdk_app_id", metavar="SDKAPPID")
    show.add_argument("--json", action="store_true", help="print JSON")
    put = add_command(verbs, "set", summary="override settings for one SdkAppId", handler=run_set)
    put.add_argument("sdk_app_id", metavar="SDKAPPID")
    put.add_argument("--enabled", choices=["true", "false"], help="guard this app's recordings and relays")
    put.add_argument("--guard-region", dest="region_name", help="Region for this app's stop commands")
    put.add_argument("--account", help="provider account whose credentials sign the stops")
    put.add_argument("--max-recording", help="maximum recording duration, e.g. 12h, 90m")
    put.add_argument("--max-relay", help="maximum relay duration, e.g. 6h")
    extend = add_command(verbs, "extend", summary="move one task's guard later", handler=run_extend)
    extend.add_argument("task_id", metavar="TASK_ID")
    extend.add_argument("--by", required=True, help="duration, e.g. 2h, 30m")
    off = add_command(verbs, "off", summary="cancel one task's guard", handler=run_off)
    off.add_argument("task_id", metavar="TASK_ID")
    for parser in (show, put, extend, off):
        add_target_arguments(parser)
