"""Drain: 1,000 queued commands per action against the emulator's enforced QPS (BRIEF §5).

The real machinery, wired from template.yaml by the local stack's own pieces (no second copy of the wiring):
- moto on 127.0.0.1 holding the template's queues (with redrive), ledger and idempotency tables, bus and the
  provider secrets (`livectl_cli.local.resources`): by default two moto_server processes, DynamoDB apart
  (`AWS_ENDPOINT_URL_DYNAMODB`), started through `moto_server_bench.py` (one moto hot spot mended);
  BENCH_DRAIN_MOTO=thread puts one `ThreadedMotoServer` in this process instead;
- the provider emulator in-process, enforcing each action's documented QPS per account (sliding 1 s window,
  the provider's own throttling codes);
- each action function's module imported as the local stack imports it (its `ACTION` and `SETTINGS`, read from
  the template's environment, MAX_CONCURRENCY included), and `livectl.control.handle_event` run by
  MaximumConcurrency simulated Lambda containers: one thread and one `control.Container` (own rate limiter,
  own HTTP session) each, fed by the local stack's `SqsPoller` (batches of 10 from the real moto queue; the
  succeeded records deleted, failures back after 1 s).

Per action: N commands (env BENCH_DRAIN_COMMANDS, default 1000), one distinct emulator task each, created
before the clock starts. Figures:
- achieved rate = commands applied / (last invocation's end - pollers started), as a ratio of the documented
  QPS (bar >= 0.95);
- throttling answers caused by livectl = emulator-enforced throttles (no injected fault) / provider calls
  (bar < 1 %); the peak calls in any 1 s window (the emulator's rule) is shown beside it;
- provider calls per command.
BENCH_DRAIN_MODE: "concurrent" (the six actions at once; their limits are independent), "sequential" (one
action at a time), default "sequential" (see the module's notes in run() output).
BENCH_DRAIN_ACTIONS: comma-separated subset of action names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "ap-southeast-1"
BAR_RATE = ">= 0.95"
BAR_THROTTLE = "< 0.01"
N = int(os.environ.get("BENCH_DRAIN_COMMANDS", "1000"))
MODE = os.environ.get("BENCH_DRAIN_MODE", "sequential")
# Experiment on the limiter's window (Settings.window_margin, env RATE_WINDOW_MARGIN): unset = the shipped margin.
MARGIN = os.environ.get("BENCH_DRAIN_MARGIN")
MOTO = os.environ.get("BENCH_DRAIN_MOTO", "process")  # "process" (moto_server) or "thread" (ThreadedMotoServer)
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


for _path in (ROOT / "layers" / "livectl", ROOT / "cli", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@contextlib.contextmanager
def environment(values: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in (*values, *drop)}
    for k in drop:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclasses.dataclass
class Lane:
    """One action: its function, queue, simulated containers and what they did."""

    action: str
    qps: int
    settings: Any
    spec: Any
    source: Any
    queue_url: str
    applied: int = 0
    retried: int = 0
    invocations: int = 0
    handler_seconds: float = 0.0  # inside handle_event, all containers
    slept: float = 0.0  # of which waiting for a token (or a retry backoff)
    started: float = 0.0
    finished: float = 0.0
    pollers: list[Any] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def done(self) -> bool:
        return self.applied >= N


class Bench:
    def __init__(self) -> None:
        self.moto: Any = None
        self.moto_procs: list[Any] = []
        self.endpoint = ""
        self.dynamodb_endpoint = ""
        self.emulator: Any = None
        self.sqs: Any = None
        self.lanes: dict[str, Lane] = {}

    # -- set-up: moto + template resources + emulator + the action functions ------------------------------------
    def start(self) -> None:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        from livectl import aws, control, credentials
        from livectl.catalogue import ACTIONS
        from livectl_cli.emulator import Emulator
        from livectl_cli.local import resources
        from livectl_cli.local.cfn import Template
        from livectl_cli.local.functions import discover, import_handler

        if MOTO == "process":
            endpoint = self._moto_process()
            # DynamoDB (5 of a command's 6 AWS calls) gets a moto_server of its own: in AWS every service
            # scales on its own, while one moto_server is one GIL-bound core shared by all of them.
            self.dynamodb_endpoint = self._moto_process()
            self._reset_moto(self.dynamodb_endpoint)
        else:
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
        self.endpoint = endpoint
        self._reset_moto(endpoint)
        self.emulator = Emulator("127.0.0.1", 0, 0).start()
        os.environ.update(
            {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint or endpoint}
        )
        aws.reset_clients()
        credentials.reset()
        control.reset()

        template = Template.load(ROOT / "template.yaml", region=REGION, aws_endpoint=endpoint)
        specs = discover(template)
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
            url = created.queue_url_for_arn(source.queue_arn)
            assert url is not None
            self.lanes[module.ACTION] = Lane(module.ACTION, ACTIONS[module.ACTION].qps, settings, spec, source, url)

    def _moto_process(self) -> str:
        """moto_server in a process of its own: on this machine it stands in for AWS, so it must not share
        this process's GIL with the containers being measured."""
        import socket
        import subprocess
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = Path(__file__).with_name("moto_server_bench.py")  # moto_server, one hot spot mended
        self.moto_procs.append(
            subprocess.Popen(
                [sys.executable, str(server), "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310 - local
                    return endpoint
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start")

    @staticmethod
    def _reset_moto(endpoint: str) -> None:
        import urllib.request

        request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - local
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own moto server on 127.0.0.1
            pass

    def stop(self) -> None:
        from livectl import aws, control, credentials

        for lane in self.lanes.values():
            for poller in lane.pollers:
                poller.stop()
        if self.emulator:
            self.emulator.stop()
        if self.moto:
            self._reset_moto(self.endpoint)
            self.moto.stop()
        for proc in self.moto_procs:
            proc.terminate()
            proc.wait(10)
        for lane in self.lanes.values():
            sys.modules.pop(f"livectl_local_fn_{lane.spec.logical_id}", None)
        aws.reset_clients()
        credentials.reset()
        control.reset()

    # -- one lane ---------------------------------------------------------------------------------------------
    def fill(self, lane: Lane) -> None:
        kind, status, params = TASKS[lane.action]
        for i in range(N):
            task_id = f"drain-{lane.action}-{i}"
            spec = {"status": status} if status else {}
            self.emulator.add_task(kind, task_id, **spec)
        bodies = [
            {"action": lane.action, "params": params(f"drain-{lane.action}-{i}"), "id": f"drain-{lane.action}-{i}"}
            for i in range(N)
        ]
        for start in range(0, N, 10):
            entries = [{"Id": str(j), "MessageBody": json.dumps(b)} for j, b in enumerate(bodies[start : start + 10])]
            self.sqs.send_message_batch(QueueUrl=lane.queue_url, Entries=entries)

    def launch(self, lane: Lane) -> None:
        """MaximumConcurrency simulated containers, each a one-thread SqsPoller around its own Container."""
        from livectl import control
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
                failed = len(answer.get("batchItemFailures") or [])
                with lane.lock:
                    lane.handler_seconds += time.perf_counter() - began
                    lane.applied += len(event["Records"]) - failed
                    lane.retried += failed
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
        from livectl.catalogue import ACTIONS
        from livectl.errors import Throttled, classify

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
            "qps": lane.qps,
            "containers": len(lane.pollers) or (lane.source.maximum_concurrency or lane.settings.max_concurrency),
            "applied": lane.applied,
            "retried": lane.retried,
            "seconds": elapsed,
            "rate": lane.applied / elapsed,
            "calls": len(calls),
            "throttled": len(throttled),
            "errors": sum(1 for c in calls if c["error_code"]),
            "peak": max_in_any_second(times),
            "limiter": limiter_of(lane),
            "busy_ms": (lane.handler_seconds - lane.slept) * 1000 / max(1, lane.applied),
            "provider_rate": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        }

    def drain(self, actions: list[str]) -> list[dict[str, Any]]:
        lanes = [self.lanes[a] for a in actions]
        for lane in lanes:
            self.fill(lane)
        timeout = 60 + 3 * max(N / lane.qps for lane in lanes)
        with quiet():  # Powertools JSON logs and EMF are still formatted and written, to /dev/null
            containers = {lane.action: lane.source.maximum_concurrency for lane in lanes}
            for lane in lanes:
                self.launch(lane)
            self.wait(lanes, timeout)
        out = []
        for lane in lanes:
            figures = self.measure(lane)
            figures["containers"] = containers[lane.action] or lane.settings.max_concurrency
            out.append(figures)
        return out


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """stdout (EMF) and every logging handler writing to stdout or stderr → /dev/null for the duration."""
    import logging

    loggers = [
        logging.getLogger(),
        *(v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    handlers = [
        h
        for lg in loggers
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.stderr, sys.__stdout__)
    ]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        saved = [(h, h.setStream(sink)) for h in handlers]
        try:
            yield
        finally:
            for h, stream in saved:
                h.setStream(stream)


def max_in_any_second(times: list[float]) -> int:
    """The most calls in any window (t - 1 s, t], the emulator's own rule."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


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
            if mode == "concurrent":
                return bench.drain(actions)
            return [figures for action in actions for figures in bench.drain([action])]
        finally:
            bench.stop()
            os.environ.pop("AWS_ENDPOINT_URL", None)
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)


def limiter_of(lane: Lane) -> str:
    """What each container's limiter allows, as the shipped code builds it from the lane's settings."""
    from livectl.ratelimit import per_container_share

    share = per_container_share(lane.qps, lane.settings.max_concurrency)
    return f"{share} calls per {1 + lane.settings.window_margin:g} s"


def run() -> list[dict[str, Any]]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    where = (
        "moto_server in two processes of their own (DynamoDB; SQS, EventBridge, Secrets Manager)"
        if MOTO == "process"
        else "ThreadedMotoServer in this process"
    )
    print(f"    drain: {N} commands per action, mode {MODE}, {cpus} CPU(s), emulator in this process, {where}")
    if MARGIN:
        print(f"    EXPERIMENT: limiter window margin overridden ({MARGIN} s instead of the shipped one)")
    rows: list[dict[str, Any]] = []
    for f in measure_all():
        print(
            f"    {f['action']:<22} QPS {f['qps']:>2} x{f['containers']} containers: {f['applied']} applied in "
            f"{f['seconds']:.1f} s = {f['rate']:.2f}/s (provider saw {f['provider_rate']:.2f}/s, peak "
            f"{f['peak']}/s); calls {f['calls']}, errors {f['errors']}, throttled {f['throttled']}, "
            f"retried records {f['retried']}, limiter {f['limiter']} per container; handler busy (not waiting "
            f"for a token) {f['busy_ms']:.1f} ms/command, so the containers alone could do "
            f"{f['containers'] * 1000 / max(f['busy_ms'], 1e-9):.1f}/s"
        )
        name = f"{f['action']} (QPS {f['qps']}, C={f['containers']})"
        rows.append(
            {
                "name": f"{name}: achieved rate / documented QPS",
                "ours": f["rate"],
                "theirs": float(f["qps"]),
                "unit": "cmd/s",
                "ratio": f["rate"] / f["qps"] if f["applied"] >= N else 0.0,  # an unfinished drain fails the bar
                "bar": BAR_RATE,
            }
        )
        rows.append(
            {
                "name": f"{name}: throttling answers / provider calls",
                "metric": f"{name}: throttling answers / provider calls (peak {f['peak']}/s)",
                "value": f["throttled"] / max(1, f["calls"]),
                "unit": f"{f['throttled']}/{f['calls']}",
                "bar": BAR_THROTTLE,
            }
        )
        rows.append(
            {
                "name": f"{name}: provider calls per command",
                "metric": f"{name}: provider calls per command",
                "value": f["calls"] / max(1, f["applied"]),
                "unit": "calls/cmd",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
