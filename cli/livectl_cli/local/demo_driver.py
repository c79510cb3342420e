"""What the demo's scenario and checks stand on: the running stack, the CLI it drives, the events seen on the bus,
and reads of the ledger and the emulator. `Check` is one expectation and whether it held."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from livectl_cli.local.stack import LocalStack

# The CLI's entry point, `livectl_cli.main.main`: passed in, since the CLI is what starts the demo.
Cli = Callable[[Sequence[str]], int]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


class DemoDriver:
    def __init__(self, stack: LocalStack, out: Callable[[str], None], cli: Cli, deadline: float) -> None:
        from livectl import aws

        self.stack = stack
        self.deadline = deadline
        self.out = out
        self.run_cli = cli
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_events, name="demo-events", daemon=True)
        self.sqs = aws.client("sqs")
        self.dynamodb = aws.client("dynamodb")
        self.scheduler = aws.client("scheduler")

    def _read_events(self) -> None:
        assert self.stack.created is not None
        url = self.stack.created.events_tap_url
        while not self._stop.is_set():
            try:
                answer = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            except Exception:
                if self._stop.is_set():
                    return
                time.sleep(0.2)
                continue
            for message in answer.get("Messages", []):
                self.events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not answer.get("Messages"):
                self._stop.wait(0.1)

    def start_reading_events(self) -> None:
        self._reader.start()

    def stop_reading_events(self) -> None:
        self._stop.set()
        self._reader.join(2)

    def cli(self, *argv: str) -> int:
        """Run one `livectl` command the way an operator would, echoing it and its output."""
        self.out(f"$ livectl {' '.join(_quote(a) for a in argv)}")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = self.run_cli(list(argv))
        for line in buffer.getvalue().splitlines():
            self.out(f"  {line}")
        return code

    def events_of(self, detail_type: str, task_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("detail-type") == detail_type and (task_id is None or e["detail"].get("task_id") == task_id)
        ]

    def ledger(self, provider: str, task_id: str) -> list[dict[str, Any]]:
        from livectl_cli.commands.task import ledger_items

        return ledger_items(self.stack.outputs["LedgerTableName"], provider, task_id)

    def state(self, provider: str, task_id: str) -> dict[str, Any]:
        return next((i for i in self.ledger(provider, task_id) if i.get("sk") == "STATE"), {})

    def emulator_status(self, kind: str, task_id: str) -> str:
        task = self.stack.emulator.task(kind, task_id)
        return str(task["status"]) if task else "?"

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        self.out(f"  (gave up waiting for {what})")
        return False


def _quote(arg: str) -> str:
    return f"'{arg}'" if any(ch in arg for ch in ' {}"') else arg
