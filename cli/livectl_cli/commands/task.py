"""`livectl task`: a task's ledger entry (STATE) and history (commands applied, callbacks received). Everything
printed from the ledger goes through `emit`/`emit_json`, which escape what a terminal would act on."""

from __future__ import annotations

import argparse
import json
from typing import Any

from livectl_cli.common import CliError, add_command, emit, emit_json, lateness_text
from livectl_cli.targets import add_target_arguments, aws_call, bind, resolve_target

TASK_EPILOG = """\
example:
  livectl task f831f3b0                 # looks under both providers
  livectl task rec-9 --provider trtc --json
Shows the ledger's STATE item (state, provider status, last error, request id) and the task's history:
commands applied (CMD#...) and TRTC callbacks received (CB#...), oldest first. Commands refused before they
named a valid task are not under any task: see `livectl rejected`.
"""


def ledger_items(table: str, provider: str, task_id: str) -> list[dict[str, Any]]:
    """Every item of one task (STATE, CMD#, CB#...), consistently read, as plain values."""
    from livectl import aws
    from livectl.store.table import query, task_pk

    return query(aws.client("dynamodb"), table, task_pk(provider, task_id))


def run_task(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    table = target.output("LedgerTableName")
    providers = [args.provider] if args.provider else ["volcengine", "trtc"]
    found: dict[str, list[dict[str, Any]]] = {}
    for provider in providers:
        items = aws_call("ledger Query", bind(ledger_items, table, provider, args.task_id))
        if items:
            found[provider] = items
    if not found:
        raise CliError(
            f"task {args.task_id} is not in the ledger ({' or '.join(providers)}); "
            "a command refused as invalid is listed by `livectl rejected`"
        )
    if args.json:
        emit_json(found, indent=2)
        return 0
    for provider, items in found.items():
        _print_task(args.task_id, provider, items)
    return 0


def _print_task(task_id: str, provider: str, items: list[dict[str, Any]]) -> None:
    state = next((i for i in items if i.get("sk") == "STATE"), None)
    emit(f"task {task_id} ({provider})")
    if state:
        for key in sorted(k for k in state if k not in ("pk", "sk")):
            value = state[key]
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
            emit(f"  {key:<18} {text if len(text) <= 100 else text[:99] + '…'}")
    history = [i for i in items if i.get("sk") != "STATE"]
    if history:
        emit("  history:")
        for item in sorted(history, key=lambda i: str(i.get("at") or i.get("received_at") or i.get("sk"))):
            emit(f"    {history_line(item)}")


def history_line(item: dict[str, Any]) -> str:
    sk = str(item.get("sk", ""))
    skip = {"pk", "sk", "expires_at", "published"}
    if sk.startswith("CMD#"):
        at = sk.split("#")[1]
        fields = {k: v for k, v in item.items() if k not in skip and v not in (None, "")}
        order = ["action", "outcome", "kind", "error_code", "request_id", "schedule", "scheduled_for"]
        shown = [f"{k}={fields.pop(k)}" for k in order if k in fields]
        if isinstance(fields.get("lateness_ms"), int | float):
            shown.append(f"late={lateness_text(fields['lateness_ms'])} (from {fields.get('late_from', '?')})")
        return f"{at}  command  " + " ".join(shown)
    if sk.startswith("CB#"):
        order = ["event_type", "event_name", "status", "user_id", "room_id"]
        described = " ".join(f"{k}={item[k]}" for k in order if item.get(k) not in (None, ""))
        return f"{item.get('received_at', '?')}  callback {described}"
    return f"{sk}  " + json.dumps({k: v for k, v in item.items() if k not in skip}, ensure_ascii=False, default=str)


def register(sub: Any) -> None:
    task = add_command(
        sub,
        "task",
        summary="show a task's ledger entry and history",
        description="Show a task's current state and history from the ledger.",
        epilog=TASK_EPILOG,
        handler=run_task,
    )
    task.add_argument("task_id", metavar="TASK_ID")
    task.add_argument("--provider", choices=["volcengine", "trtc"], help="default: look under both")
    task.add_argument("--json", action="store_true", help="print the raw items as JSON")
    add_target_arguments(task)
