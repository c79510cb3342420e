"""Cold import time of the layer's provider part against the official SDK clients it replaces.

Each sample is a fresh interpreter started with `-S` (no site-packages) and `-B` whose sys.path holds only a
temporary copy of the packages the statement imports (found by importing it once and reading
`sys.modules`). Two copies:
- "bytecode": every copied package compiled with compileall (this machine exports PYTHONDONTWRITEBYTECODE=1,
  so the case must be made explicitly), what `sam build` ships;
- "no bytecode": the same files without any __pycache__, what a zip without .pyc costs on a read-only /var/task.
The stdlib's own bytecode is present in both cases. Figure: median of N in-process import times (ms).
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "livectl"
SAMPLES = int(os.environ.get("LIVECTL_BENCH_IMPORT_SAMPLES", "9"))
BAR = "<= 0.5"

STATEMENTS = {
    "livectl": "import livectl.providers.clients, livectl.providers.catalogue, livectl.providers.signing",
    "volcengine": "from volcengine.live.v20230101.live_service import LiveService",
    "tencentcloud": "from tencentcloud.trtc.v20190722 import trtc_client",
}

_FIND_ROOTS = """
import json, sys
{stmt}
roots = set()
for mod in list(sys.modules.values()):
    f = getattr(mod, "__file__", None) or ""
    for base in sys.argv[1:]:
        if f.startswith(base + "/"):
            roots.add(f[len(base) + 1:].split("/")[0])
print(json.dumps(sorted(roots)))
"""

_TIME_IMPORT = """
import sys, time
sys.path.insert(0, {path!r})
t = time.perf_counter()
{stmt}
print((time.perf_counter() - t) * 1000.0)
"""


def _site_packages() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def import_roots(stmt: str) -> list[tuple[Path, str]]:
    """(directory, top-level name) of every non-stdlib module the statement loads."""
    bases = [str(LAYER), _site_packages()]
    out = subprocess.run(
        [sys.executable, "-c", _FIND_ROOTS.format(stmt=stmt), *bases],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(LAYER)},
    )
    roots = []
    for name in json.loads(out.stdout):
        if name.startswith("__editable__"):
            continue
        base = LAYER if (LAYER / name).exists() else Path(_site_packages())
        roots.append((base, name))
    return roots


def build_tree(dest: Path, roots: list[tuple[Path, str]], bytecode: bool) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    for base, name in roots:
        src = base / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / name)
    for info in Path(_site_packages()).glob("*.dist-info"):  # importlib.metadata lookups keep working
        shutil.copytree(info, dest / info.name, dirs_exist_ok=True)
    if bytecode:
        compileall.compile_dir(dest, quiet=1, workers=1)


def median_ms(path: Path, stmt: str, samples: int = SAMPLES) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    times = []
    for _ in range(samples):
        out = subprocess.run(
            [sys.executable, "-S", "-B", "-c", _TIME_IMPORT.format(path=str(path), stmt=stmt)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="livectl-bench-imports-") as tmp:
        trees: dict[tuple[str, bool], Path] = {}
        for key, stmt in STATEMENTS.items():
            roots = import_roots(stmt)
            for bytecode in (True, False):
                dest = Path(tmp) / f"{key}-{'pyc' if bytecode else 'nopyc'}"
                dest.mkdir()
                build_tree(dest, roots, bytecode)
                trees[key, bytecode] = dest
        for bytecode in (True, False):
            mode = "bytecode" if bytecode else "no bytecode"
            ours = median_ms(trees["livectl", bytecode], STATEMENTS["livectl"])
            for sdk, label in (("volcengine", "volcengine LiveService"), ("tencentcloud", "tencentcloud trtc_client")):
                theirs = median_ms(trees[sdk, bytecode], STATEMENTS[sdk])
                rows.append(
                    {
                        "name": f"import, {mode}: livectl provider part vs {label}",
                        "ours": ours,
                        "theirs": theirs,
                        "unit": "ms",
                        "ratio": ours / theirs,
                        "bar": BAR,
                    }
                )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
