"""Cold start as built (BRIEF §5): each function's whole init with python3.12 and bytecode, and the layer's size.

Input: `make build`'s output (`.aws-sam/build/<Function>/` and `.aws-sam/build/LivectlLayer/python/`); built by
this module with `make build` if absent (offline, python3.12 from pyenv). The build is copied to a temporary
folder and compiled there by the 3.12 interpreter (`compileall --invalidation-mode unchecked-hash`, what
`make build` ships).

Per function: a fresh python3.12 process with `-S` (no site module) whose path is exactly what Lambda gives:
PYTHONPATH = the function's folder + the layer's python/ + the 3.12 venv's site-packages (standing in for the
runtime's boto3), the template's environment for that function (names only) and AWS_DEFAULT_REGION. Figure:
in-process time to import the handler module (its whole module-level init), median of N samples (env
BENCH_COLDSTART_SAMPLES, default 9); bar 250 ms. A module the init loads from site-packages that the Lambda
runtime does not provide (anything but boto3 and its dependencies) fails the row: the layer would be missing it.

Cold start as a user feels it (issue 12): `import app` defers boto3, the provider clients, the secrets and the
idempotency store to the first command, so the import-only figure is not what a first request waits for. Per
function, in a fresh process from the same build: init plus the first command's handler time (bench/
first_command.py: a local stack in this process, moto for AWS, the emulator answering at 0 ms), median of
BENCH_COLDSTART_FIRST_SAMPLES (default 3), beside that process's import-only time. Information only (no bar):
on Lambda the init runs at full CPU and the first command at the memory size's share of it.
BENCH_COLDSTART_FIRST=0 skips it.

Layer: the compiled layer folder zipped (deflate) as `sam deploy` would, MB = 2^20 bytes, bar 5; and the count of
official SDK packages (volcengine*, tencentcloud*) inside, bar 0.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LAYER = "LivectlLayer"
SAMPLES = int(os.environ.get("BENCH_COLDSTART_SAMPLES", "9"))
FIRST_SAMPLES = int(os.environ.get("BENCH_COLDSTART_FIRST_SAMPLES", "3"))
FIRST = os.environ.get("BENCH_COLDSTART_FIRST", "1") != "0"
BAR_INIT = "<= 250"
BAR_ZIP = "<= 5"
REGION = "ap-southeast-1"
# What the python3.12 Lambda runtime puts on the path besides the function and its layers.
RUNTIME_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"})
SDK_PREFIXES = ("volcengine", "tencentcloud")

_INIT = """
import sys, time
t = time.perf_counter()
import {module}
ms = (time.perf_counter() - t) * 1000.0
import json
site = {site!r}
roots = sorted({{(getattr(m, "__file__", None) or "")[len(site) + 1:].split("/")[0]
                for m in list(sys.modules.values())
                if (getattr(m, "__file__", None) or "").startswith(site + "/")}})
print(json.dumps({{"ms": ms, "site_roots": roots}}))
"""


def python312() -> str:
    """The 3.12 interpreter, found the way the Makefile finds it (pyenv first, then PATH)."""
    candidates: list[Path] = []
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
        candidates += sorted(Path(root, "versions").glob("3.12*/bin/python3.12"), reverse=True)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = shutil.which("python3.12")
    if found:
        candidates.append(Path(found))
    if sys.version_info[:2] == (3, 12):
        candidates.append(Path(sys.executable))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise RuntimeError("no python3.12 interpreter (pyenv or PATH): the Lambda runtime's version is needed")


def venv_site_packages(interpreter: str) -> str:
    """site-packages of the 3.12 venv that holds boto3 (this project's .venv when it is 3.12)."""
    venv = ROOT / ".venv" / "lib" / "python3.12" / "site-packages"
    if (venv / "boto3").is_dir():
        return str(venv)
    if sys.version_info[:2] == (3, 12):
        return str(sysconfig.get_paths()["purelib"])
    raise RuntimeError("no python3.12 site-packages with boto3 (.venv/lib/python3.12/site-packages)")


def ensure_build() -> str:
    if (BUILD / LAYER / "python").is_dir():
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime((BUILD / LAYER).stat().st_mtime))
        return f"existing build of {stamp}"
    subprocess.run(["make", "build"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return "built now with make build"


def functions(build: Path) -> dict[str, Path]:
    """Logical id → built code folder, for every function the build holds."""
    return {p.name: p for p in sorted(build.iterdir()) if p.is_dir() and p.name != LAYER and (p / "app.py").is_file()}


def template_environment() -> dict[str, dict[str, str]]:
    """Each function's environment from template.yaml (resolved to local resource names: names only)."""
    sys.path[:0] = [p for p in (str(ROOT / "cli"), str(ROOT / "layers" / "livectl")) if p not in sys.path]
    from livectl_cli.local.cfn import Template
    from livectl_cli.local.functions import discover

    specs = discover(Template.load(ROOT / "template.yaml", region=REGION))
    return {logical: dict(spec.environment) for logical, spec in specs.items()}


def compile_copy(interpreter: str, dest: Path) -> None:
    shutil.copytree(BUILD, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=True)
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(dest)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def init_ms(interpreter: str, code: Path, layer: Path, site: str, env: dict[str, str]) -> tuple[float, list[str]]:
    base = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "HOME", "TZ") if k in os.environ}
    full = {
        **base,
        **env,
        "PYTHONPATH": os.pathsep.join([str(code), str(layer), site]),
        "PYTHONDONTWRITEBYTECODE": "1",  # read the shipped bytecode, write none
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": code.name,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    }
    times, roots = [], []
    for _ in range(SAMPLES):
        out = subprocess.run(
            [interpreter, "-S", "-c", _INIT.format(module="app", site=site)],
            capture_output=True,
            text=True,
            env=full,
            cwd=code,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{code.name}: init failed: {out.stderr.strip().splitlines()[-1:]}")
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(float(doc["ms"]))
        roots = doc["site_roots"]
    return statistics.median(times), roots


def zip_mb(folder: Path, dest: Path) -> float:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder))
    return dest.stat().st_size / 2**20


def sdk_packages(layer_python: Path) -> list[str]:
    return sorted(
        str(p.relative_to(layer_python))
        for p in layer_python.rglob("*")
        if p.name.lower().replace("-", "_").startswith(SDK_PREFIXES)
    )


def first_commands(interpreter: str, built: Path, layer: Path, site: str) -> list[dict[str, Any]]:
    for path in (ROOT, ROOT / "bench"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from first_command import measure

    from livectl_cli.local.stack import LocalConfig, LocalStack

    base = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "HOME", "TZ") if k in os.environ}
    rows: list[dict[str, Any]] = []
    stack = LocalStack(LocalConfig(moto_port=0, emulator_port=0, webhook_port=0)).start()
    try:
        stack.emulator.configure(callback_url=None)
        print(f"    first command: fresh process each, local stack (moto, emulator at 0 ms), median of {FIRST_SAMPLES}")
        for logical, code in functions(built).items():
            found = measure(stack, interpreter, code, layer, site, base, FIRST_SAMPLES)
            if found is None:
                continue
            total = found["import_ms"] + found["first_ms"]
            print(
                f"    {logical:<27} init {found['import_ms']:6.1f} ms + first command {found['first_ms']:6.1f} ms "
                f"= {total:6.1f} ms  ({found['result'][:70]})"
            )
            rows.append(
                {
                    "name": f"{logical}: init + first command vs import only",
                    "ours": total,
                    "theirs": found["import_ms"],
                    "unit": "ms",
                    "ratio": total / max(found["import_ms"], 1e-9),
                }
            )
    finally:
        stack.stop()
    return rows


def run() -> list[dict[str, Any]]:
    how = ensure_build()
    interpreter = python312()
    site = venv_site_packages(interpreter)
    envs = template_environment()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="livectl-bench-coldstart-") as tmp:
        built = Path(tmp) / "build"
        compile_copy(interpreter, built)
        layer = built / LAYER / "python"
        version = subprocess.run([interpreter, "-V"], capture_output=True, text=True).stdout.strip()
        print(f"    coldstart: {how}; {version} -S, bytecode (unchecked-hash), median of {SAMPLES}")
        for logical, code in functions(built).items():
            ms, roots = init_ms(interpreter, code, layer, site, envs.get(logical, {}))
            foreign = [r for r in roots if r.split(".")[0].removesuffix(".py") not in RUNTIME_PACKAGES]
            print(f"    {logical:<27} init {ms:6.1f} ms; from the runtime's site-packages: {', '.join(roots) or '-'}")
            rows.append(
                {
                    "name": f"{logical}: init as built (import app)",
                    "metric": f"{logical}: init as built, ms (median)",
                    "value": ms if not foreign else float("inf"),
                    "unit": "ms" if not foreign else f"ms; NOT IN LAYER: {', '.join(foreign)}",
                    "bar": BAR_INIT,
                }
            )
        if FIRST:
            rows += first_commands(interpreter, built, layer, site)
        mb = zip_mb(built / LAYER, Path(tmp) / "layer.zip")
        found = sdk_packages(layer)
        print(f"    layer zip {mb:.2f} MB; official SDK paths inside: {found or 'none'}")
        rows.append({"metric": "layer zip size (with bytecode), MB", "value": mb, "unit": "MB", "bar": BAR_ZIP})
        rows.append(
            {
                "metric": "official SDK packages in the layer (volcengine*, tencentcloud*)",
                "value": len(found),
                "unit": ", ".join(found[:3]) or "none",
                "bar": "<= 0",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
