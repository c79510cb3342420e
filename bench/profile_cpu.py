"""Where the CPU of each process of a bench goes while a lane runs: py-spy (from PyPI, in requirements-dev)
samples the thread holding the GIL (`--gil`, so waiting threads do not count) of each named process, and
`Profile.report()` gives each process's samples by kind of work. This is the profile behind "the harness capped
this lane": a lane whose moto processes spend their samples in moto's request handling while the containers'
threads wait on those requests was capped by the stand-in for AWS, not by livectl.

Kinds: `moto <Handler.method>` for each AWS operation moto served; `moto: request dispatch` (werkzeug, Flask,
moto's routing and serialisation around the operations); `livectl: handlers` (livectl.control, the functions'
code: validation, signing, ledger and event calls as botocore builds them); `livectl: other` (the rest of
the layer); `local stack: poller / clock`; `emulator`; `botocore (other)`; `other`.

Used by the drain and burst benches when BENCH_PROFILE=1; `python bench/profile_cpu.py PID SECONDS` profiles
one process by hand.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

RATE = 50  # samples per second per process: enough for shares to the percent over a 10 s lane


def py_spy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def kind_of(frames: list[str]) -> str:
    joined = ";".join(frames)
    if "moto" in joined and "call_action" in joined:
        for i, frame in enumerate(frames):
            if "BaseResponse.call_action" in frame and i + 1 < len(frames):
                name = frames[i + 1].split(" (")[0]
                if "DynamoHandler.call_action" in name or "_wrapper" in name:  # moto's decorators around DynamoDB
                    inner = [f for f in frames[i + 1 :] if f.startswith("DynamoHandler.") and "call_action" not in f]
                    name = inner[0].split(" (")[0] if inner else name
                return f"moto {name}"
    if any(word in joined for word in ("moto/", "werkzeug/", "flask/")):
        return "moto: request dispatch"
    if "livectl/control" in joined:
        return "livectl: handlers"
    if "livectl/" in joined:
        return "livectl: other"
    if "livectl_cli/local/poller" in joined or "livectl_cli/local/clock" in joined:
        return "local stack: poller / clock"
    if "livectl_cli/emulator" in joined:
        return "emulator"
    if "botocore" in joined:
        return "botocore (other)"
    return "other"


def shares(raw: str) -> tuple[int, list[tuple[str, float]]]:
    """py-spy's raw (collapsed) stacks → (samples, [(kind, share)] by share)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[kind_of(stack.split(";"))] += int(n)
    total = sum(counts.values())
    return total, [(kind, count / total) for kind, count in counts.most_common()] if total else []


class Profile:
    """py-spy on each named process from `start()` until `report()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.folder = Path(tempfile.mkdtemp(prefix="livectl-profile-"))
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> Profile:
        spy = py_spy()
        if spy is None:
            print("    (no py-spy on this machine: pip install py-spy for the profile)")
            return self
        for name, pid in self.pids.items():
            out = self.folder / f"{pid}.txt"
            command = [spy, "record", "--gil", "--nonblocking", "-r", str(RATE), "-d", "3600", "-f", "raw"]
            self.running[name] = subprocess.Popen(
                [*command, "-o", str(out), "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        return self

    def report(self, top: int = 6) -> list[str]:
        """One line per process: its samples (with the GIL held) and the largest kinds of work."""
        lines = []
        for name, proc in self.running.items():
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            path = self.folder / f"{self.pids[name]}.txt"
            total, kinds = shares(path.read_text() if path.exists() else "")
            found = ", ".join(f"{kind} {share:.0%}" for kind, share in kinds[:top]) or "no samples"
            lines.append(f"profile {name} ({total} samples at {RATE}/s with the GIL held): {found}")
        shutil.rmtree(self.folder, ignore_errors=True)
        return lines


if __name__ == "__main__":
    import time

    profile = Profile({"process": int(sys.argv[1])}).start()
    time.sleep(float(sys.argv[2]))
    print("\n".join(profile.report(top=12)))
