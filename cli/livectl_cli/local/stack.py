"""LocalStack: the whole livectl stack on 127.0.0.1, wired from template.yaml, in this process (moto and the emulator
in child processes of their own with `LocalConfig.moto_processes` / `emulator_process`).

    stack = LocalStack(LocalConfig(moto_port=0, webhook_port=0, emulator_port=0)).start()
    ... stack.outputs["StopPullRecordQueueUrl"], stack.webhook_url, stack.emulator_url ...
    stack.stop()

start() sets the process environment the way a deployed function sees it (AWS_ENDPOINT_URL → moto, fake
credentials, region, provider endpoints → the emulator) and stop() restores it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import ExitStack
from typing import Any

from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY
from livectl_cli.http_adapter import HttpAdapter
from livectl_cli.local import resources
from livectl_cli.local.cfn import Template
from livectl_cli.local.clock import SchedulerClock
from livectl_cli.local.config import LocalConfig, find_template
from livectl_cli.local.env_patch import EnvPatch
from livectl_cli.local.functions import FunctionSpec, LocalFunction, discover, http_entry, import_handler
from livectl_cli.local.handler_output import without_metric_documents
from livectl_cli.local.metrics import TAP, CloudWatchForwarder, QueueMetricsPublisher
from livectl_cli.local.poller import SqsPoller

STACK_NAME = "livectl-local"
REGION = "ap-southeast-1"

# What a local process needs in its environment to talk to the local stack (printed by `livectl local`).
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# What each of `moto_processes` serves, in order (LocalConfig.moto_processes).
MOTO_PROCESS_ROLES = ("AWS", "DynamoDB", "idempotency")


class LocalStack:
    def __init__(self, config: LocalConfig | None = None) -> None:
        self.config = config or LocalConfig()
        self.template_path = self.config.template or find_template()
        self.moto: Any = None
        # LocalConfig.moto_processes: AWS's stand-in, then DynamoDB's, then the idempotency tables'
        self.moto_processes: list[Any] = []
        self.table_router: Any = None  # sends the idempotency tables' requests to their moto process
        self.emulator: Any = None
        self.webhook: HttpAdapter | None = None
        self.template: Template | None = None
        self.specs: dict[str, FunctionSpec] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[SqsPoller] = []
        self.skipped: list[str] = []
        self._webhook_serving = False
        self.clock: SchedulerClock | None = None
        self.created: resources.Created | None = None
        self.aws_endpoint = ""
        self.dynamodb_endpoint = ""
        self.idempotency_endpoint = ""
        self.emulator_url = ""
        self.outputs: dict[str, Any] = {}
        self._env = EnvPatch()  # what start() set in os.environ, undone by stop()
        self._quiet = ExitStack()  # quiet mode's stdout filter and the EMF tap, undone on stop
        self.queue_metrics: QueueMetricsPublisher | None = None
        self._log_lock = threading.Lock()
        self.started_at = 0.0

    # -- logging ----------------------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        with self._log_lock:
            if self.config.log:
                self.config.log(f"{stamp} {line}")

    @property
    def environment(self) -> dict[str, str]:
        """What another process exports to use this stack with boto3 or the livectl CLI."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            **self._dynamodb_env(),
            "AWS_DEFAULT_REGION": REGION,
            **FAKE_CREDENTIALS,
            "LIVECTL_VOLCENGINE_ENDPOINT": self.emulator_url,
            "LIVECTL_TRTC_ENDPOINT": self.emulator_url,
            "LIVECTL_LOCAL_URL": self.aws_endpoint,
        }

    @property
    def webhook_url(self) -> str:
        assert self.webhook is not None
        for spec in self.specs.values():
            for route in spec.http_routes:
                return self.webhook.url + route.path
        return self.webhook.url

    # -- start / stop -------------------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        self.started_at = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from livectl import aws

        cfg = self.config
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        if cfg.quiet_handlers:
            self._quiet_down()
        self._start_moto()
        # The webhook port is bound first: the emulator needs the callback URL before it starts.
        self.webhook = HttpAdapter({}, host=cfg.host, port=cfg.webhook_port)
        self.template = Template.load(
            self.template_path,
            stack_name=STACK_NAME,
            region=REGION,
            parameters=cfg.parameters,
            aws_endpoint=self.aws_endpoint,
            webhook_url=self.webhook.url,
        )
        self.specs = discover(self.template)
        self._route_idempotency_tables()
        self._start_emulator()
        self._env.set({"LIVECTL_VOLCENGINE_ENDPOINT": self.emulator_url, "LIVECTL_TRTC_ENDPOINT": self.emulator_url})

        clients = {name: aws.client(name) for name in ("dynamodb", "events", "scheduler", "secretsmanager")}
        clients["cloudwatch"] = self._pooled_client("cloudwatch")
        self._quiet.callback(
            TAP.add(CloudWatchForwarder(clients["cloudwatch"], self.log), also_print=not cfg.quiet_handlers)
        )
        clients["sqs"] = self._pooled_client("sqs")  # shared by every poller thread
        envs = [spec.environment for spec in self.specs.values()]
        self.created = resources.create_all(self.template, clients, envs)
        self._load_functions()
        self._make_pollers(clients["sqs"])
        self.clock = SchedulerClock(
            clients["scheduler"],
            clients["sqs"],
            self.created.schedule_groups.values(),
            queue_url_for_arn=self.created.queue_url_for_arn,
            functions_by_arn={f.spec.arn: f for f in self.functions.values()},
            interval=cfg.clock_interval,
            log=self.log,
        )
        self.queue_metrics = QueueMetricsPublisher(
            clients["sqs"], clients["cloudwatch"], self.created.queues, interval=cfg.queue_metrics_interval
        )
        self.outputs = self.template.outputs()
        if self.webhook.routes:
            self.outputs["WebhookUrl"] = self.webhook_url
        self.webhook.start()
        self._webhook_serving = True
        for poller in self.pollers:
            poller.start()
        self.clock.start()
        self.queue_metrics.start()

    def _quiet_down(self) -> None:
        import warnings

        # Powertools' own warnings ("No application metrics to publish", "Dimension ... has already been
        # added") describe the handlers' metrics, which quiet mode does not show.
        warnings.filterwarnings("ignore", module=r"aws_lambda_powertools(\.|$)")
        # Handlers' plain `logging` warnings would reach stderr through logging.lastResort; the one-line
        # invocation log already says what failed.
        if not logging.getLogger().handlers:
            logging.getLogger().addHandler(logging.NullHandler())
        self._quiet.enter_context(without_metric_documents())

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        from livectl import runtime
        from livectl_cli.local import moto_fixes
        from livectl_cli.local.moto_server import start_all

        cfg = self.config
        if cfg.aws_endpoint:
            self.aws_endpoint = cfg.aws_endpoint.rstrip("/")
        elif cfg.moto_processes:
            # The other services; DynamoDB; the idempotency tables (`_route_idempotency_tables`)
            self.moto_processes = start_all([cfg.moto_port, 0, 0], cfg.host)
            self.aws_endpoint, self.dynamodb_endpoint, self.idempotency_endpoint = (
                m.endpoint for m in self.moto_processes
            )
        else:
            moto_fixes.install()  # the ledger's transactions from concurrent batches; deep queues
            self.moto = ThreadedMotoServer(ip_address=cfg.host, port=cfg.moto_port, verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            self.aws_endpoint = f"http://{host}:{port}"
        self._reset_moto()  # moto's backends are process-wide: start from nothing
        self._env.drop("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE")
        self._env.drop("AWS_ENDPOINT_URL_DYNAMODB")
        self._env.set({"AWS_ENDPOINT_URL": self.aws_endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION})
        self._env.set(self._dynamodb_env())
        self._env.set(FAKE_CREDENTIALS)
        # Metrics stay on: their EMF documents go to moto's CloudWatch (printed too with --verbose), as Lambda's
        # log agent sends them in AWS, so `livectl status` reads the same metrics here as deployed.
        self._env.drop("POWERTOOLS_METRICS_DISABLED")
        # Clients made before (another stack, a test's moto) point at endpoints that may be gone: boto3's, and
        # the ones inside Powertools' parameter providers that fetch the secrets.
        runtime.reset()

    def _dynamodb_env(self) -> dict[str, str]:
        """boto3's per-service endpoint variable, when DynamoDB is served apart from the other services."""
        return {"AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint} if self.dynamodb_endpoint else {}

    def _load_functions(self) -> None:
        """Import each function's handler (one whose code does not exist yet is skipped) and route its HTTP events."""
        assert self.webhook is not None
        for logical, spec in list(self.specs.items()):
            if not spec.module_file.is_file():
                self.skipped.append(logical)
                self.log(f"{logical}: {spec.module_file} does not exist yet; not started")
                del self.specs[logical]
                continue
            handler = import_handler(spec, self._local_env(spec))
            self.functions[logical] = LocalFunction(spec, handler, REGION)
        for spec in self.specs.values():
            for route in spec.http_routes:
                path = route.path.rstrip("/") or "/"
                self.webhook.routes[(route.method, path)] = http_entry(self.functions[spec.logical_id], route, self.log)

    def _make_pollers(self, sqs: Any) -> None:
        """One poller per SQS event source, as Lambda's event source mappings."""
        assert self.created is not None
        for spec in self.specs.values():
            for source in spec.sqs_sources:
                url = self.created.queue_url_for_arn(source.queue_arn)
                if url is None:
                    raise RuntimeError(
                        f"{spec.logical_id}: event source queue {source.queue_arn} is not in the template"
                    )
                poller = SqsPoller(
                    self.functions[spec.logical_id],
                    source,
                    url,
                    sqs,
                    region=REGION,
                    poll_interval=self.config.poll_interval,
                    failed_visibility=self.config.failed_visibility,
                    log=self.log,
                    queue_label=self._logical_for_arn(source.queue_arn),
                )
                self.pollers.append(poller)

    def _reset_moto(self) -> None:
        from livectl_cli.local.moto_server import reset

        for endpoint in (self.aws_endpoint, self.dynamodb_endpoint, self.idempotency_endpoint):
            if endpoint:
                reset(endpoint)

    def _route_idempotency_tables(self) -> None:
        """With moto in processes of its own, the idempotency tables live in a third (`table_router`)."""
        from livectl_cli.local.table_router import route_idempotency_tables

        if self.idempotency_endpoint:
            self.table_router = route_idempotency_tables(self.specs.values(), self.idempotency_endpoint)

    def _pooled_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        make: Any = boto3.client
        pool = 8 + 2 * sum(
            len(s.sqs_sources) * (s.sqs_sources[0].maximum_concurrency or 2)
            for s in self.specs.values()
            if s.sqs_sources
        )
        return make(
            service, region_name=REGION, endpoint_url=self.aws_endpoint, config=Config(max_pool_connections=pool)
        )

    def _logical_for_arn(self, arn: str) -> str:
        assert self.template is not None
        return self.template.arn_to_logical().get(arn, arn.rsplit(":", 1)[-1])

    def _local_env(self, spec: FunctionSpec) -> dict[str, str]:
        env = {"AWS_ENDPOINT_URL": self.aws_endpoint, **self._dynamodb_env()}
        for key in ("LIVECTL_VOLCENGINE_ENDPOINT", "LIVECTL_TRTC_ENDPOINT"):
            if key in spec.environment:
                env[key] = self.emulator_url
        if self.config.quiet_handlers:
            env["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        return env

    def _start_emulator(self) -> None:
        from livectl_cli.emulator import Emulator

        cfg = self.config
        if cfg.emulator_url:
            self.emulator_url = cfg.emulator_url.rstrip("/")
            self._configure_emulator()
            return
        kwargs: dict[str, Any] = {"callback_url": self.webhook_url, "callback_key": LOCAL_CALLBACK_KEY}
        if cfg.callback_retry_interval is not None:
            kwargs["callback_retry_interval"] = cfg.callback_retry_interval
        if cfg.emulator_process:
            self._start_emulator_process(kwargs)
            return
        if cfg.emulator_latency:
            kwargs["latency"] = cfg.emulator_latency
        self.emulator = Emulator(cfg.host, cfg.emulator_port, cfg.seed, **kwargs)
        self.emulator.start()
        self.emulator_url = str(getattr(self.emulator, "url", "") or f"http://{cfg.host}:{self.emulator.port}")

    def _start_emulator_process(self, kwargs: dict[str, Any]) -> None:
        """`livectl emulator` as a child; the latency goes through its admin API, as for a given emulator_url."""
        from livectl_cli.emulator.process import EmulatorProcess

        cfg = self.config
        self.emulator = EmulatorProcess(cfg.host, cfg.emulator_port, cfg.seed, **kwargs).wait_up()
        self.emulator_url = self.emulator.url
        self._configure_emulator()

    def _configure_emulator(self) -> None:
        """The running emulator's callbacks go to this stack's webhook (its admin API, docs/emulator.md)."""
        from livectl_cli.emulator.process import EmulatorClient

        doc: dict[str, Any] = {"callback_url": self.webhook_url, "callback_key": LOCAL_CALLBACK_KEY}
        doc.update(self.config.emulator_latency or {})
        EmulatorClient(self.emulator_url, timeout=10).configure(**doc)

    def stop(self) -> None:
        if self.queue_metrics:
            self.queue_metrics.stop()
            self.queue_metrics = None
        if self.clock:
            self.clock.stop()
        for poller in self.pollers:
            poller._stop.set()
        for poller in self.pollers:
            poller.stop()
        if self.webhook:
            try:
                if self._webhook_serving:
                    self.webhook.stop()
                else:  # bound but never served: shutdown() would wait forever
                    self.webhook.server.server_close()
            except Exception as exc:
                print(f"webhook stop: {exc}", file=sys.stderr)
        if self.emulator:
            self.emulator.stop()
        if self.moto or (self.config.aws_endpoint and self.aws_endpoint):
            self._reset_moto()
        if self.moto:
            self.moto.stop()
        for process in self.moto_processes:
            process.stop()
        self.moto_processes.clear()
        if self.table_router is not None:
            self.table_router.uninstall()
            self.table_router = None
        self._env.restore()
        self._quiet.close()
        try:
            from livectl import runtime

            runtime.reset()
        except ImportError:
            pass
        for logical in self.functions:
            sys.modules.pop(f"livectl_local_fn_{logical}", None)
        self.clock, self.pollers, self.webhook, self.emulator, self.moto = None, [], None, None, None
        self._webhook_serving = False

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state for the CLI ------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What `livectl local` writes to .livectl-local.json for the operator commands."""
        assert self.created is not None
        return {
            "aws_endpoint": self.aws_endpoint,
            "dynamodb_endpoint": self.dynamodb_endpoint or None,
            "idempotency_endpoint": self.idempotency_endpoint or None,
            "region": REGION,
            "emulator_url": self.emulator_url,
            "webhook_url": self.webhook_url,
            "events_tap_url": self.created.events_tap_url,
            "outputs": self.outputs,
            "pid": os.getpid(),
        }
