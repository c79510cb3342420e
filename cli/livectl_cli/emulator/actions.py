"""The six actions (and the relay list livectl settles with) on the emulator's tasks: how a call's parameters are
read and refused with each provider's own code, and what each call does to a task."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from livectl.errors import InvalidCommand
from livectl.providers.catalogue import TRTC, VOLCENGINE, Action, PullRecordStatus, validate_params
from livectl_cli.emulator.listing import pull_to_push_page
from livectl_cli.emulator.model import Task, pull_record_result
from livectl_cli.emulator.wire import CallError, Request


def read_params(req: Request, action: Action) -> dict[str, Any]:
    volc = action.provider == VOLCENGINE
    try:
        body = json.loads(req.body) if req.body else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CallError(
            "InvalidParam.BindError" if volc else "InvalidParameter",
            "Request parameter error, please check input data" if volc else "The request body is not JSON.",
        )
    # Unknown fields are ignored, as the gateways do; the catalogue's list decides what is read.
    known = {p.name: body[p.name] for p in action.params if p.in_body and p.name in body}
    if not volc:
        region = req.header("X-TC-Region")
        if region:
            known["Region"] = region
    try:
        return validate_params(action, known)
    except InvalidCommand as exc:
        raise param_error(action, known, exc) from None


def param_error(action: Action, params: Mapping[str, Any], exc: InvalidCommand) -> CallError:
    """Map the catalogue's verdict (which field, and how) to the provider's code."""
    name = (exc.field or "").removeprefix("params.")
    spec = next((p for p in action.params if p.name == name), None)
    value = params.get(name)
    missing = value is None
    mistyped = spec is not None and not missing and (isinstance(value, bool) or not isinstance(value, spec.type))
    if action.provider == VOLCENGINE:
        if mistyped:
            return CallError("InvalidParam.BindError", "Request parameter error, please check input data")
        return CallError("InvalidParam", f"{name}: {exc.message}")
    if missing:
        code = f"MissingParameter.{name}" if name in ("TaskId", "SdkAppId") else "MissingParameter"
        return CallError(code, f"The request is missing a required parameter `{name}`.")
    if name == "SdkAppId":
        return CallError("InvalidParameter.SdkAppId", "SdkAppId is incorrect.")
    if name == "Region":
        return CallError("InvalidParameter.OutOfRange", f"Region {value!r} is not supported by {action.name}.")
    return CallError("InvalidParameter", exc.message)


def transition(
    tasks: Mapping[tuple[str, str], Task],
    action: Action,
    params: Mapping[str, Any],
    now: float,
    trtc_stopped: Callable[[Task], None],
) -> dict[str, Any]:
    """Carry out one call on the emulator's tasks and return its result (`trtc_stopped`: a TRTC task just ended,
    so its callbacks are due)."""
    if action.name == "ListPullToPushTaskV2":
        return {"Result": pull_to_push_page(tasks.values(), params)}
    task_id = str(params[action.task_id_param])
    task = tasks.get((action.kind, task_id))
    if task is None:
        raise CallError("ResourceNotFound", f"The task {task_id} does not exist.")
    by = action.name
    if action.provider == TRTC:
        if params["SdkAppId"] != task.sdk_app_id:
            raise CallError("InvalidParameter.SdkAppId", "SdkAppId is incorrect.")
        if params["Region"] != task.region:
            raise CallError("ResourceNotFound", f"The task {task_id} does not exist in {params['Region']}.")
        ended = "Exited" if action.kind == "cloud_recording" else "IDLE"
        if task.status == ended:
            raise CallError("FailedOperation.TaskNotExist", f"The task {task_id} does not exist or has ended.")
        task.move(ended, now, by)
        trtc_stopped(task)
        return {"TaskId": task_id}
    if action.name == "GetPullRecordTask":
        return {"Result": pull_record_result(task)}
    if action.name == "StopPullRecordTask":
        if task.status not in (PullRecordStatus.NOT_STARTED.value, PullRecordStatus.ACTIVE.value):
            raise CallError("InvalidParam", f"The task {task_id} is {task.status}; only 未开始 or 生效中 can stop.")
        if task.status == PullRecordStatus.ACTIVE.value:
            task.end_time = now
        task.move(PullRecordStatus.STOPPED.value, now, by)
        return {}
    group = params.get("GroupName")
    if group is not None and task.group_name is not None and group != task.group_name:
        raise CallError("InvalidParam", f"The task {task_id} is not in group {group!r}.")
    if action.name == "StopPullToPushTask":
        if task.status not in (PullRecordStatus.NOT_STARTED.value, PullRecordStatus.ACTIVE.value):
            raise CallError("InvalidParam", f"The task {task_id} is {task.status}; only 未开始 or 生效中 can stop.")
        task.move(PullRecordStatus.STOPPED.value, now, by)
        return {}
    # RestartPullToPushTask
    if task.status != PullRecordStatus.STOPPED.value:
        raise CallError("InvalidParam", f"The task {task_id} is {task.status}; only 停用 tasks can restart.")
    task.move(PullRecordStatus.ACTIVE.value, now, by)
    return {}
