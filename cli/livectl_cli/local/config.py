"""What a local stack is started with (`LocalConfig`), and where its template is found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def find_template(start: Path | None = None) -> Path:
    """template.yaml in the current folder or a parent (the repository root)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "template.yaml"
        if candidate.is_file():
            return candidate
    # Installed in develop mode from the repository: cli/livectl_cli/local/config.py → repo root.
    candidate = Path(__file__).resolve().parents[3] / "template.yaml"
    return candidate


@dataclass
class LocalConfig:
    template: Path | None = None
    host: str = "127.0.0.1"
    moto_port: int = 0
    emulator_port: int = 8900
    webhook_port: int = 3000
    seed: int = 7
    poll_interval: float = 0.2
    clock_interval: float = 0.5
    # Seconds a failed record stays invisible before its next delivery. None = the queue's VisibilityTimeout
    # (what Lambda does); the demo and tests shorten it so redrive happens in seconds, not minutes.
    failed_visibility: int | None = None
    callback_retry_interval: float | None = None  # the emulator's TRTC callback retry interval (None = its default)
    quiet_handlers: bool = True  # handler JSON logs at ERROR and EMF documents not printed (still put to CloudWatch)
    queue_metrics_interval: float = 5.0  # how often the AWS/SQS metrics (depth, in flight, oldest age) are put
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    # The emulator's round trip per provider, in its admin shape ({"latency_ms", "jitter_ms", "latency": {...}}).
    emulator_latency: dict[str, Any] | None = None
    # A running emulator (`livectl emulator`) instead of one in this process, which then has none (`emulator` is
    # None): its callbacks and `emulator_latency` are set through its admin API. Benches: arrival stamps off our GIL.
    emulator_url: str | None = None
    # Likewise a running moto server (e.g. livectl_cli.local.moto_server) instead of a ThreadedMotoServer here: reset
    # on start and stop. A bench uses it to take moto's CPU off the stack's GIL.
    aws_endpoint: str | None = None
    # moto in three processes of its own (the other services; DynamoDB; the idempotency tables) instead of a
    # ThreadedMotoServer here, so
    # that AWS's stand-in does not share the functions' GIL: what `livectl local` starts (--moto-in-process
    # for one process). Tests and the demo keep one process, which starts faster.
    moto_processes: bool = False
    # The emulator as `livectl emulator` in a child process of its own (`stack.emulator` is then an
    # `EmulatorProcess`: the same methods over its admin API), so that its arrival stamps and per-second rate
    # check do not wait for the stack's GIL: what `livectl local` starts (--emulator-in-process to keep it here).
    emulator_process: bool = False
    log: Callable[[str], None] | None = None
