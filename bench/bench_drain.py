"""Drain in the field: queued commands per action against the emulator's enforced QPS, with the provider
answering after 0, 150 and 400 ms (jittered ±20 %), through the real machinery (BRIEF §5; issue 12).

The machinery, wired from template.yaml by the local stack's own pieces (no second copy of the wiring):
- moto on 127.0.0.1 holding the template's queues (with redrive), ledger and idempotency tables, bus and the
  provider secrets (`livectl_cli.local.resources`): three moto_server processes, started through
  `livectl_cli.local.moto_server` (moto hot spots mended): SQS, EventBridge and Secrets Manager; the ledger table
  (`AWS_ENDPOINT_URL_DYNAMODB`); the idempotency table (`harness.TableRouter` sends its requests there);
  BENCH_DRAIN_MOTO=thread puts one `ThreadedMotoServer` in this process instead;
- the provider emulator in a process of its own (`livectl emulator`, `harness.EmulatorProcess`), as the
  providers are in the field, enforcing each action's documented QPS per account (sliding 1 s window, the
  provider's own throttling codes), its round trip set per level through its admin API (latency_ms, jitter_ms);
  BENCH_DRAIN_EMULATOR=thread runs it in this process instead, beside the containers (the earlier harness: its
  arrival stamps then wait for a GIL the containers hold);
- each action function's module imported as the local stack imports it (its `ACTION` and `SETTINGS`, read from
  the template's environment, MAX_CONCURRENCY included), and `livectl.control.service.handle_event` run by
  MaximumConcurrency (from the template) simulated Lambda containers: one thread and one `control.Container`
  each, fed by the local stack's `SqsPoller` (batches from the real moto queue; the succeeded records deleted,
  failures back after 1 s). Fresh containers per level.

Per level and action: N commands (BENCH_DRAIN_SECONDS x QPS, default 20 s worth: 1,000 StopPullRecordTask,
400 per TRTC action, 200 per 10-QPS action; BENCH_DRAIN_COMMANDS=N fixes N for all), one distinct emulator task
each, created before the clock starts. Figures:
- achieved rate = commands applied / (last invocation's end - pollers started), as a ratio of the documented
  QPS (bar >= 0.95);
- throttling answers caused by livectl = emulator-enforced throttles (no injected fault) / provider calls
  (bar < 1 %); the peak calls in any 1 s window (the emulator's rule) is printed beside it;
- per command: Lambda billed ms (invocation wall time / commands applied), ms waited for a limiter slot or a
  backoff (summed over the records, which run concurrently), AWS calls (botocore hook, by
  operation), and the cost per million commands (bench/field.py's price list);
- the harness: CPU seconds per wall second of each moto process, of the emulator and of this process (the
  containers and their pollers), from /proc/<pid>/stat, so a lane capped by moto says so; this process's CPU
  per command is the most a Lambda container spends on one (the pollers' SQS calls are in it too), to size its
  memory (vCPU share) for the in-flight count.
BENCH_DRAIN_LATENCIES: comma-separated ms (default "0,150,400"); BENCH_DRAIN_JITTER: fraction (default 0.2).
BENCH_DRAIN_MODE: "sequential" (one action at a time, default: AWS calls are attributed per action) or
"concurrent" (the six at once; their limits are independent, the 2 CPUs are not).
BENCH_DRAIN_ACTIONS: comma-separated subset of action names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "ap-southeast-1"
BAR_RATE = ">= 0.95"
BAR_THROTTLE = "< 0.01"
FIXED_N = int(os.environ["BENCH_DRAIN_COMMANDS"]) if os.environ.get("BENCH_DRAIN_COMMANDS") else None
SECONDS = float(os.environ.get("BENCH_DRAIN_SECONDS", "20"))
LATENCIES = [float(x) for x in os.environ.get("BENCH_DRAIN_LATENCIES", "0,150,400").split(",") if x.strip()]
JITTER = float(os.environ.get("BENCH_DRAIN_JITTER", "0.2"))
FIELD_LATENCY = 150.0  # the level whose per-command figures price a command
MODE = os.environ.get("BENCH_DRAIN_MODE", "sequential")
# Experiment on the limiter's window (Settings.window_margin, env RATE_WINDOW_MARGIN): unset = the shipped margin.
MARGIN = os.environ.get("BENCH_DRAIN_MARGIN")
# Likewise the limiter's pacing (Settings.rate_pacing, env RATE_PACING; "0" = a window's grants at once).
PACING = os.environ.get("BENCH_DRAIN_PACING")
# BENCH_PROFILE: "1" (every lane) or action names: py-spy's profile of each process while the lane runs.
PROFILE = os.environ.get("BENCH_PROFILE", "")
MOTO = os.environ.get("BENCH_DRAIN_MOTO", "process")  # "process" (moto_server) or "thread" (ThreadedMotoServer)
EMULATOR = os.environ.get("BENCH_DRAIN_EMULATOR", "process")  # "process" (livectl emulator) or "thread"
# The processes beside this one whose CPU each lane reports, in `Bench.drain`'s order.
HARNESS_NAMES = ["moto", "moto ledger", "moto idempotency"] if MOTO == "process" else []
HARNESS_NAMES += ["emulator"] if EMULATOR == "process" else []
FAILED_VISIBILITY = 1  # seconds before a failed record is delivered again (the template says 6 × timeout)
TRTC_PARAMS = {"SdkAppId": 1400000001, "Region": "ap-guangzhou"}

# What each action needs from the emulator: the task kind/status it acts on, and its params.
TASKS: dict[str, tuple[str, str | None, Callable[[str], dict[str, Any]]]] = {
    "StopPullRecordTask": ("pull_record", None, lambda t: {"TaskId": t}),
    "GetPullRecordTask": ("pull_record", None, lambda t: {"TaskID": t}),
    "RestartPullToPushTask": ("pull_to_push", "停用", lambda t: {"TaskId": t}),
    "StopPullToPushTask": ("pull_to_push", None, lambda t: {"TaskId": t}),
    "DeleteCloudRecording": ("cloud_recording", None, lambda t: {**TRTC_PARAMS, "TaskId": t}),
    "StopPublishCdnStream": ("cdn_publish", None, lambda t: {**TRTC_PARAMS, "TaskId": t}),
}


for _path in (ROOT / "layers" / "livectl", ROOT / "cli", ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from drain_report import describe, field_rows, machine_ceiling  # noqa: E402
from harness import (  # noqa: E402
    EmulatorProcess,
    MotoProcess,
    TableRouter,
    environment,
    load_average,
    max_in_any_second,
    quiet,
)


@dataclasses.dataclass
class Lane:
    """One action: its function, queue, simulated containers and what they did."""

    action: str
    qps: int
    settings: Any
    spec: Any
    source: Any
    queue_url: str
    n: int = 0
    latency_ms: float = 0.0
    done_ids: set[str] = dataclasses.field(default_factory=set)  # messages whose record succeeded
    copies: int = 0  # records of a message already done: SQS delivers at least once
    retried: int = 0
    invocations: int = 0
    handler_seconds: float = 0.0  # inside handle_event, all containers
    # Waiting for a limiter slot or a retry backoff, summed over records: records of a batch run concurrently,
    # so this is each command's own wait, not a share of the invocation's wall time (it can exceed it).
    slept: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    pollers: list[Any] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def applied(self) -> int:
        """Distinct commands applied: a copy SQS delivered twice counts once."""
        return len(self.done_ids)

    @property
    def done(self) -> bool:
        return self.applied >= self.n

    def fresh(self, latency_ms: float) -> Lane:
        """The same action with new containers and counters, for the next level."""
        n = FIXED_N or max(10, round(SECONDS * self.qps))
        return Lane(self.action, self.qps, self.settings, self.spec, self.source, self.queue_url, n, latency_ms)


class Bench:
    def __init__(self) -> None:
        self.moto: Any = None
        self.moto_procs: list[MotoProcess] = []
        self.endpoint = ""
        self.dynamodb_endpoint = ""
        self.emulator: Any = None
        self.sqs: Any = None
        self.lanes: dict[str, Lane] = {}
        from field import AwsCallCounter

        self.counter = AwsCallCounter()

    # -- set-up: moto + template resources + emulator + the action functions ------------------------------------
    def start(self) -> None:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        from livectl import aws, runtime
        from livectl.providers.catalogue import ACTIONS
        from livectl_cli.emulator import Emulator
        from livectl_cli.local import resources
        from livectl_cli.local.cfn import Template
        from livectl_cli.local.functions import discover, import_handler

        if MOTO == "process":
            # DynamoDB (4 of a command's 5 AWS calls) gets a moto_server per table: in AWS every service and
            # table scales on its own, while one moto_server is one GIL-bound core shared by all of them.
            self.moto_procs = [MotoProcess(), MotoProcess(), MotoProcess()]
            endpoint, self.dynamodb_endpoint, idempotency = (m.endpoint for m in self.moto_procs)
        else:
            from livectl_cli.local import moto_fixes

            moto_fixes.install()
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
        self.endpoint = endpoint
        self.emulator = EmulatorProcess() if EMULATOR == "process" else Emulator("127.0.0.1", 0, 0).start()
        os.environ.update(
            {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint or endpoint}
        )
        runtime.reset()

        template = Template.load(ROOT / "template.yaml", region=REGION, aws_endpoint=endpoint)
        specs = discover(template)
        if MOTO == "process":  # before any client is made: CreateTable goes to its table's process too
            tables = {
                s.environment["IDEMPOTENCY_TABLE"] for s in specs.values() if "IDEMPOTENCY_TABLE" in s.environment
            }
            TableRouter(dict.fromkeys(tables, idempotency)).install()
        made: Any = boto3.client
        self.sqs = made("sqs", region_name=REGION, endpoint_url=endpoint, config=Config(max_pool_connections=32))
        clients = {name: aws.client(name) for name in ("dynamodb", "events", "scheduler", "secretsmanager")}
        clients["sqs"] = self.sqs
        # The template's queues, tables, bus and secrets (no schedule groups or events tap: nothing reads them).
        created = resources.Created()
        resources.create_queues(template, clients["sqs"], created)
        resources.create_tables(template, clients["dynamodb"], created)
        resources.create_buses(template, clients["events"], created)
        secrets = resources.secret_values([s.environment for s in specs.values()], template)
        resources.create_secrets(secrets, clients["secretsmanager"], created)

        wanted = [a for a in os.environ.get("BENCH_DRAIN_ACTIONS", ",".join(TASKS)).split(",") if a]
        extra = {
            "LIVECTL_VOLCENGINE_ENDPOINT": self.emulator.url,
            "LIVECTL_TRTC_ENDPOINT": self.emulator.url,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        for spec in specs.values():
            if "MAX_CONCURRENCY" not in spec.environment or not spec.sqs_sources:
                continue
            import_handler(spec, extra)
            module = sys.modules[f"livectl_local_fn_{spec.logical_id}"]
            if module.ACTION not in wanted:
                continue
            source = spec.sqs_sources[0]
            settings = module.SETTINGS
            if MARGIN:
                settings = dataclasses.replace(settings, window_margin=float(MARGIN))
            if PACING:
                settings = dataclasses.replace(settings, rate_pacing=float(PACING))
            url = created.queue_url_for_arn(source.queue_arn)
            assert url is not None
            self.lanes[module.ACTION] = Lane(module.ACTION, ACTIONS[module.ACTION].qps, settings, spec, source, url)
        # From here on, every new boto3 client is counted: the handlers' (made lazily on their first command),
        # not the bench's own (made above: the pollers' SQS client stands for Lambda's event source mapping).
        self.counter.install()
        runtime.reset()

    def stop(self) -> None:
        from livectl import runtime

        for lane in self.lanes.values():
            for poller in lane.pollers:
                poller.stop()
        if self.emulator:
            self.emulator.stop()
        if self.moto:
            self.moto.stop()
        for proc in self.moto_procs:
            proc.stop()
        for lane in self.lanes.values():
            sys.modules.pop(f"livectl_local_fn_{lane.spec.logical_id}", None)
        runtime.reset()

    # -- one lane ---------------------------------------------------------------------------------------------
    def fill(self, lane: Lane) -> None:
        kind, status, params = TASKS[lane.action]
        level = f"{lane.latency_ms:g}ms"
        # Task ids and command ids carry the level: each level's tasks are new to the ledger and the idempotency table.
        task_ids = [f"{level}-{lane.action}-{i}" for i in range(lane.n)]
        specs = [{"kind": kind, "task_id": t, **({"status": status} if status else {})} for t in task_ids]
        if isinstance(self.emulator, EmulatorProcess):
            self.emulator.add_tasks(specs)
        else:
            for spec in specs:
                self.emulator.core.add_task(spec)
        bodies = [{"action": lane.action, "params": params(t), "id": t} for t in task_ids]
        for start in range(0, lane.n, 10):
            entries = [{"Id": str(j), "MessageBody": json.dumps(b)} for j, b in enumerate(bodies[start : start + 10])]
            self.sqs.send_message_batch(QueueUrl=lane.queue_url, Entries=entries)

    def launch(self, lane: Lane) -> None:
        """MaximumConcurrency simulated containers, each a one-thread SqsPoller around its own Container."""
        from livectl.control import service as control
        from livectl_cli.local.functions import LocalFunction
        from livectl_cli.local.poller import SqsPoller

        containers = lane.source.maximum_concurrency or lane.settings.max_concurrency
        one = dataclasses.replace(lane.source, maximum_concurrency=1)

        def sleep(seconds: float) -> None:
            time.sleep(seconds)
            with lane.lock:
                lane.slept += seconds

        for _ in range(containers):
            box = control.Container(lane.settings, sleep=sleep)

            def handler(event: dict[str, Any], context: Any, box: Any = box) -> dict[str, Any]:
                began = time.perf_counter()
                answer = control.handle_event(event, context, lane.action, lane.settings, container=box)
                failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures") or []}
                succeeded = [r["messageId"] for r in event["Records"] if r["messageId"] not in failed]
                with lane.lock:
                    lane.handler_seconds += time.perf_counter() - began
                    fresh = set(succeeded) - lane.done_ids
                    lane.done_ids |= fresh
                    lane.copies += len(succeeded) - len(fresh)
                    lane.retried += len(failed)
                    lane.invocations += 1
                    lane.finished = time.time()
                return answer

            function = LocalFunction(lane.spec, handler, REGION)
            poller = SqsPoller(
                function, one, lane.queue_url, self.sqs, region=REGION, failed_visibility=FAILED_VISIBILITY
            )
            lane.pollers.append(poller)
        lane.started = time.time()
        for poller in lane.pollers:
            poller.start()

    def wait(self, lanes: list[Lane], timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not all(lane.done for lane in lanes):
            time.sleep(0.05)
        for lane in lanes:
            for poller in lane.pollers:
                poller.stop()
            lane.pollers.clear()

    def measure(self, lane: Lane) -> dict[str, Any]:
        from livectl.errors import Throttled, classify
        from livectl.providers.catalogue import ACTIONS

        provider = ACTIONS[lane.action].provider
        calls = self.emulator.calls(lane.action)
        throttled = [
            c
            for c in calls
            if c["fault"] is None
            and c["error_code"]
            and issubclass(classify(provider, c["error_code"], c["http_status"]), Throttled)
        ]
        times = sorted(c["time"] for c in calls)
        elapsed = max(lane.finished - lane.started, 1e-9)
        return {
            "action": lane.action,
            "latency_ms": lane.latency_ms,
            "n": lane.n,
            "invocations": lane.invocations,
            "billed_ms": lane.handler_seconds * 1000 / max(1, lane.applied),
            "memory": lane.spec.memory,
            "qps": lane.qps,
            "containers": len(lane.pollers) or (lane.source.maximum_concurrency or lane.settings.max_concurrency),
            "applied": lane.applied,
            "copies": lane.copies,
            "retried": lane.retried,
            "seconds": elapsed,
            "rate": lane.applied / elapsed,
            "calls": len(calls),
            "throttled": len(throttled),
            "errors": sum(1 for c in calls if c["error_code"]),
            "peak": max_in_any_second(times),
            "limiter": limiter_of(lane),
            "waited_ms": lane.slept * 1000 / max(1, lane.applied),
            "provider_rate": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        }

    def drain(self, actions: list[str], latency_ms: float) -> list[dict[str, Any]]:
        from field import cpu_seconds, since

        self.emulator.reset()
        self.emulator.configure(latency_ms=latency_ms, jitter_ms=latency_ms * JITTER)
        lanes = [self.lanes[a].fresh(latency_ms) for a in actions]
        for lane in lanes:
            self.fill(lane)
        timeout = 60 + 3 * max(lane.n / lane.qps for lane in lanes)
        # The moto processes (SQS etc., ledger, idempotency), the emulator's when apart, then this process (None).
        pids: list[int | None] = [p.pid for p in self.moto_procs]
        if isinstance(self.emulator, EmulatorProcess):
            pids.append(self.emulator.pid)
        cpu_before = [cpu_seconds(pid) for pid in [*pids, None]]
        calls_before = self.counter.snapshot()
        profile = None
        if PROFILE and (PROFILE == "1" or set(actions) & set(PROFILE.split(","))):
            from profile_cpu import Profile

            named = dict(zip([*HARNESS_NAMES, "containers"], [*pids, os.getpid()], strict=True))
            profile = Profile({k: v for k, v in named.items() if v is not None}).start()
        began = time.monotonic()
        with quiet():  # Powertools JSON logs and EMF are still formatted and written, to /dev/null
            for lane in lanes:
                self.launch(lane)
            self.wait(lanes, timeout)
        wall = time.monotonic() - began
        cpu = [(cpu_seconds(pid) - b) / wall for pid, b in zip([*pids, None], cpu_before, strict=True)]
        aws_calls = since(calls_before, self.counter.snapshot())
        if profile is not None:
            print(f"    {latency_ms:>4g} ms {', '.join(actions)}:", flush=True)
            for line in profile.report():
                print(f"{'':>12}{line}", flush=True)
        out = []
        for lane in lanes:
            figures = self.measure(lane)
            figures["containers"] = lane.source.maximum_concurrency or lane.settings.max_concurrency
            figures["aws"] = aws_calls if len(lanes) == 1 else None  # attributed only one lane at a time
            figures["cpu"] = cpu  # as `pids`, then this process
            figures["harness"] = HARNESS_NAMES
            figures["cpu_ms"] = cpu[-1] * wall * 1000 / max(1, lane.applied)  # this process's CPU per command
            figures["load"] = load_average()
            print(describe(figures), flush=True)  # as each lane ends: a full run takes a while
            out.append(figures)
        return out


AWS_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "livectl",
    "POWERTOOLS_METRICS_NAMESPACE": "livectl",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def measure_all(mode: str = MODE) -> list[dict[str, Any]]:
    import logging
    import warnings

    drop = (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
    )
    with environment(AWS_ENV, drop), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Dimension .* has already been added")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        bench = Bench()
        try:
            bench.start()
            actions = list(bench.lanes)
            out: list[dict[str, Any]] = []
            for latency in LATENCIES:
                if mode == "concurrent":
                    out += bench.drain(actions, latency)
                else:
                    out += [figures for action in actions for figures in bench.drain([action], latency)]
            return out
        finally:
            bench.stop()
            os.environ.pop("AWS_ENDPOINT_URL", None)
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)


def limiter_of(lane: Lane) -> str:
    """What each container's limiter allows, as the shipped code builds it from the lane's settings."""
    from livectl.providers.ratelimit import per_container_share

    share = per_container_share(lane.qps, lane.settings.max_concurrency)
    window = 1 + lane.settings.window_margin
    pacing = lane.settings.rate_pacing * window / share
    return f"{share} calls per {window:g} s, {pacing * 1000:.0f} ms apart"


def run() -> list[dict[str, Any]]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    where = (
        "moto_server in three processes of their own (SQS, EventBridge, Secrets Manager; ledger; idempotency)"
        if MOTO == "process"
        else "ThreadedMotoServer in this process"
    )
    size = f"{FIXED_N} commands" if FIXED_N else f"{SECONDS:g} s worth of commands at QPS"
    print(f"    drain: {size} per action and level, levels {LATENCIES} ms ±{JITTER:.0%}, mode {MODE}, {cpus} CPU(s)")
    apart = "in a process of its own (livectl emulator)" if EMULATOR == "process" else "in this process"
    print(f"    emulator {apart}, {where}; load average {load_average()}")
    if MARGIN:
        print(f"    EXPERIMENT: limiter window margin overridden ({MARGIN} s instead of the shipped one)")
    rows: list[dict[str, Any]] = []
    for f in measure_all():
        name = f"{f['action']} (QPS {f['qps']}, C={f['containers']}) @{f['latency_ms']:g} ms"
        done = f["applied"] >= f["n"]
        moto = max(f["cpu"][: 3 if MOTO == "process" else 0], default=0.0)
        rows.append(
            {
                "name": f"{name}: rate / QPS",
                "ours": f["rate"],
                "theirs": float(f["qps"]),
                "unit": f"cmd/s (moto CPU {moto:.0%}, harness ceiling {machine_ceiling(f) / f['qps']:.2f} of QPS, "
                f"load {f['load']})",
                "ratio": f["rate"] / f["qps"] if done else 0.0,  # an unfinished drain fails the bar
                "bar": BAR_RATE,
            }
        )
        rows.append(
            {
                "metric": f"{name}: throttling answers / provider calls",
                "value": f["throttled"] / max(1, f["calls"]),
                "unit": f"{f['throttled']}/{f['calls']}, peak {f['peak']}/s, load {f['load']}",
                "bar": BAR_THROTTLE,
            }
        )
        if f["latency_ms"] == FIELD_LATENCY or len(LATENCIES) == 1:
            rows += field_rows(f, name)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
