"""moto in a process of its own: `python -m livectl_cli.local.moto_server -H HOST -p PORT` (moto_server's
arguments), with moto's hot spots mended (`moto_fixes`) and no per-request log line, and `MotoProcess`, which
starts one on a free port and stops it.

Why a process: moto serves every request under one GIL. In the stack's own process it competes with the
handlers, pollers and emulator for that GIL (`livectl local` at 150 ms: ~80 CPU ms per command in one process,
a ceiling of ~11 commands/s); in processes of their own, AWS's stand-in and the functions use separate cores,
as they do in AWS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def reset(endpoint: str) -> None:
    """Empty every backend of the moto server at `endpoint` (moto's own reset API)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - local
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own moto server
        pass


def end_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then wait for the child to be gone (SIGKILL after 10 s). A child that already ended is left as is."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class MotoProcess:
    """A moto server in a child process on `host` and `port` (0: a free one); `endpoint` is its URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        port = port or free_port(host)
        env = dict(os.environ)
        cli_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (cli_root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "livectl_cli.local.moto_server", "-H", host, "-p", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://{host}:{port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_up(self, timeout: float = 30.0) -> MotoProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode} before answering")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):  # noqa: S310 - ours, local
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server at {self.endpoint} did not answer within {timeout:g} s")

    def reset(self) -> None:
        reset(self.endpoint)

    def stop(self) -> None:
        end_process(self.proc)


def start_all(ports: list[int], host: str = "127.0.0.1") -> list[MotoProcess]:
    """A moto server per port (0: a free one), started together (each takes ~1 s to import moto)."""
    started = [MotoProcess(host, port) for port in ports]
    try:
        return [m.wait_up() for m in started]
    except BaseException:
        for m in started:
            m.stop()
        raise


def main(argv: list[str]) -> None:
    from moto.server import main as moto_main
    from werkzeug.serving import WSGIRequestHandler

    from livectl_cli.local import moto_fixes

    moto_fixes.install()
    # One log line per request, formatted and written under load, is ~9 % of a moto process's CPU.
    WSGIRequestHandler.log_request = lambda *args, **kwargs: None  # type: ignore[method-assign]
    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
