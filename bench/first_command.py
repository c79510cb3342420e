"""Cold start as a user feels it: init plus the first command's handler time, in a fresh process per sample.

Used by bench_coldstart.py. The functions run from the compiled build exactly as the import-only figure does
(python3.12 -S, bytecode, PYTHONPATH = function + layer + site-packages), against a local stack started in the
bench process (moto for AWS, with the template's resources and secrets; the emulator answering at 0 ms). boto3,
the provider clients, the secrets and the idempotency store are built lazily on the first command, so this is
what a first request pays. Each sample is a new task (a new command id), so none is answered from a record.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

TRTC = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}
# logical id → (action, emulator kind, status, params for a task id)
ACTIONS: dict[str, tuple[str, str, str | None, Any]] = {
    "StopPullRecordFunction": ("StopPullRecordTask", "pull_record", None, lambda t: {"TaskId": t}),
    "GetPullRecordFunction": ("GetPullRecordTask", "pull_record", None, lambda t: {"TaskID": t}),
    "RestartPullToPushFunction": ("RestartPullToPushTask", "pull_to_push", "停用", lambda t: {"TaskId": t}),
    "StopPullToPushFunction": ("StopPullToPushTask", "pull_to_push", None, lambda t: {"TaskId": t}),
    "DeleteCloudRecordingFunction": ("DeleteCloudRecording", "cloud_recording", None, lambda t: {**TRTC, "TaskId": t}),
    "StopCdnPublishFunction": ("StopPublishCdnStream", "cdn_publish", None, lambda t: {**TRTC, "TaskId": t}),
}

_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()

class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    invoked_function_arn = {arn!r}
    memory_limit_in_mb = {memory}
    aws_request_id = "cold-1"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "cold"
    def get_remaining_time_in_millis(self):
        return max(0, int((t1 + {timeout} - time.perf_counter()) * 1000))

event = json.loads(sys.stdin.read())
result = app.{attr}(event, Context())
t2 = time.perf_counter()
sys.stderr.write(json.dumps({{"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000,
                              "result": str(result)[:160]}}) + "\\n")
"""


def _event(stack: Any, logical: str) -> dict[str, Any] | None:
    """A fresh first command for `logical`, its task created in the emulator; None if it has no sample."""
    task = f"cold-{uuid.uuid4().hex[:12]}"
    if logical in ACTIONS:
        action, kind, status, params = ACTIONS[logical]
        stack.emulator.add_task(kind, task, **({"status": status} if status else {}))
        return {"action": action, "params": params(task), "id": task}  # a Scheduler invocation: the command
    if logical == "ScheduleManagerFunction":
        return {"action": "StopPullRecordTask", "params": {"TaskId": task}, "after": "2h"}
    if logical == "TrtcCallbackFunction":
        from tests.callback.make_events import cjson, signed

        now = int(time.time() * 1000)
        info = {"RoomId": "8888", "EventTs": now // 1000, "EventMsTs": now, "UserId": "bot", "TaskId": task}
        info["Payload"] = {"Status": 0}
        return signed(cjson({"EventGroupId": 3, "EventType": 301, "CallbackTs": now, "EventInfo": info}))
    return None


def measure(
    stack: Any, interpreter: str, code: Path, layer: Path, site: str, base_env: dict[str, str], samples: int
) -> dict[str, Any] | None:
    """Median import and first-command ms for one built function over `samples` fresh processes."""
    spec = stack.specs.get(code.name)
    if spec is None:
        return None
    env = {
        **base_env,
        **spec.environment,
        **stack.environment,  # moto endpoint, fake credentials, region, the emulator as both providers
        "PYTHONPATH": ":".join([str(code), str(layer), site]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": stack.environment["AWS_DEFAULT_REGION"],
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "POWERTOOLS_METRICS_NAMESPACE": spec.environment.get("POWERTOOLS_METRICS_NAMESPACE", "livectl"),
    }
    script = _SCRIPT.format(
        name=spec.name,
        arn=spec.arn,
        memory=spec.memory,
        timeout=spec.timeout,
        attr=spec.handler.rsplit(".", 1)[1],
    )
    imports, firsts, result = [], [], ""
    for _ in range(samples):
        event = _event(stack, code.name)
        if event is None:
            return None
        out = subprocess.run(
            [interpreter, "-S", "-c", script],
            input=json.dumps(event),
            capture_output=True,
            text=True,
            env=env,
            cwd=code,
            timeout=120,
        )
        lines = [line for line in out.stderr.splitlines() if line.startswith('{"import_ms"')]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"{code.name}: first command failed: {out.stderr.strip().splitlines()[-1:]}")
        doc = json.loads(lines[-1])
        imports.append(doc["import_ms"])
        firsts.append(doc["first_ms"])
        result = doc["result"]
    return {"import_ms": statistics.median(imports), "first_ms": statistics.median(firsts), "result": result}
