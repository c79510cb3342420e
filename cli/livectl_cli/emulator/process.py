"""The emulator in a process of its own, and the admin API as an object.

- `EmulatorClient(url)`: the admin API (docs/emulator.md) with the names and answers of `Emulator`'s in-process
  conveniences (`calls`, `task`, `tasks`, `add_task`, `configure`, `callback_log`, `wait_callbacks`, ...), so
  code written against an `Emulator` works unchanged against one it reaches over HTTP.
- `EmulatorProcess`: `livectl emulator` (the command's own code path) started as a child process on a free port,
  that client for it, and `stop()`, which ends it and waits for it.

Why a process: the emulator stamps each call's arrival and counts calls per second as the providers do. In the
local stack's process it shares one GIL with the pollers, the clock and every simulated container: under load
its HTTP threads ran late, stamped arrivals in bunches, and its rate check answered "throttled" to bursts
livectl had not sent (`livectl local` at 150 ms: 6 of 406 DeleteCloudRecording calls, 1.5 %).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY

BULK = 500  # tasks per POST /_emulator/tasks


class AdminError(ValueError):
    """The admin API refused: `status` is the HTTP status, the text the emulator's own error."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class EmulatorClient:
    """An emulator's admin API at `url` (one it did not start: `livectl emulator`, or `EmulatorProcess`)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def admin(
        self, method: str, route: str, doc: Any = None, query: dict[str, Any] | None = None, timeout: float = 0
    ) -> Any:
        """One admin call; its JSON answer. A 4xx/5xx answer raises `AdminError` with the emulator's own error."""
        url = f"{self.url}/_emulator/{route}"
        given = {k: v for k, v in (query or {}).items() if v is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        body = json.dumps(doc).encode() if doc is not None else None
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - a local emulator
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:  # noqa: S310 - see above
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise AdminError(f"emulator {method} /_emulator/{route}: HTTP {exc.code} {detail}", exc.code) from None

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.admin("GET", "health")
        return answer

    def reset(self) -> None:
        self.admin("POST", "reset")

    def add_task(self, kind: str, task_id: str, **spec: Any) -> dict[str, Any]:
        created: dict[str, Any] = self.admin("POST", "tasks", {"kind": kind, "task_id": task_id, **spec})
        return created

    def add_tasks(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        created: list[dict[str, Any]] = []
        for start in range(0, len(specs), BULK):
            created += self.admin("POST", "tasks", specs[start : start + BULK])
        return created

    def tasks(self, kind: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.admin("GET", "tasks", query={"kind": kind})
        return found

    def task(self, kind: str, task_id: str) -> dict[str, Any] | None:
        route = f"tasks/{urllib.parse.quote(kind, safe='')}/{urllib.parse.quote(task_id, safe='')}"
        try:
            found: dict[str, Any] = self.admin("GET", route)
        except AdminError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def calls(self, action: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.admin("GET", "calls", query={"action": action, "since": since or None})
        return found

    def set_faults(self, doc: object) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.admin("POST", "faults", doc)
        return rules

    def configure(self, **config: Any) -> dict[str, Any]:
        """Change what is given (none: nothing) and answer the whole configuration, as `Emulator.configure`."""
        answer: dict[str, Any] = self.admin("POST", "config", config)
        return answer

    def add_account(self, provider: str, access_key: str, secret_key: str) -> None:
        self.admin("POST", "accounts", {"provider": provider, "access_key": access_key, "secret_key": secret_key})

    def callback_log(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.admin("GET", "callbacks")
        return found

    def wait_callbacks(self, timeout: float = 30.0) -> bool:
        """Whether nothing is queued or in flight, waiting up to `timeout` (the admin API waits on our behalf)."""
        if timeout > 0:
            self.admin("GET", "callbacks", query={"wait": f"{timeout:g}"}, timeout=timeout + self.timeout)
        return self.health()["callbacks_pending"] == 0


def _python_path() -> str:
    """This checkout's packages first, so the child runs the code this process runs."""
    import livectl

    cli_root = Path(__file__).resolve().parents[2]
    layer_root = Path(livectl.__file__).resolve().parents[1]
    return os.pathsep.join(p for p in (str(cli_root), str(layer_root), os.environ.get("PYTHONPATH", "")) if p)


class EmulatorProcess(EmulatorClient):
    """`livectl emulator` in a child process on `host`:`port` (0: a free one); `wait_up()`, then the admin API."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        callback_url: str | None = None,
        callback_key: str | None = LOCAL_CALLBACK_KEY,
        callback_retry_interval: float | None = None,
    ) -> None:
        from livectl_cli.local.moto_server import free_port

        port = port or free_port(host)
        command = [sys.executable, "-m", "livectl_cli.main", "emulator", "--host", host, "--port", str(port)]
        command += ["--seed", str(seed), "--callback-key", callback_key or ""]
        if callback_url:
            command += ["--callback-url", callback_url]
        if callback_retry_interval is not None:
            command += ["--callback-retry-interval", str(callback_retry_interval)]
        # Its stderr to a file, not a pipe: nobody reads a pipe while it runs, and a full one would block it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own command
            command,
            env={**os.environ, "PYTHONPATH": _python_path()},
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            # Out of the terminal's process group: Ctrl-C reaches the parent, which stops its pollers before it
            # stops this child (in the group, the child died first and in-flight provider calls failed).
            start_new_session=True,
        )
        super().__init__(f"http://{host}:{port}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_up(self, timeout: float = 30.0) -> EmulatorProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self._said()
                self.stop()
                raise RuntimeError(f"livectl emulator exited with {self.proc.returncode} before answering: {said}")
            try:
                serving = self.admin("GET", "health", timeout=1).get("pid")
            except (OSError, ValueError):
                serving = None
            # Another emulator already on the port would answer too; ours fails to bind and exits (above).
            if serving == self.proc.pid:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"livectl emulator at {self.url} did not answer within {timeout:g} s")

    def _said(self) -> str:
        """The last line the child wrote to stderr (`livectl: cannot listen on ...`)."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "(nothing on stderr)"

    def stop(self) -> None:
        """SIGTERM (it closes its connections and callback worker), then wait for it to be gone."""
        from livectl_cli.local.moto_server import end_process

        end_process(self.proc)
        self._stderr.close()
