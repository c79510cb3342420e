"""`make bench`: run every bench/bench_*.py module and print one table of ratios measured in this run.

A bench module exposes `run() -> list[dict]`; each row has
  name   what was measured
  ours   livectl's figure          theirs  the reference's figure (same machine, same run)
  unit   of both figures           ratio   ours / theirs
  bar    the brief's bar on the ratio, as ">= 1" or "<= 0.5" (or "" for information only)
A row may add `identical`: False (ours and the reference did not produce the same bytes) makes it a MISS
whatever its ratio.
A module measuring an absolute figure (no reference to compare with) may instead give `metric` and `value`;
its bar then applies to the value (e.g. "< 50" ms).
Usage: bench/run.py [module ...] [--json PATH]   (module names without `bench_`, e.g. `signing drain localdrain`).
Each module runs in a Python process of its own, so that none inherits what another left behind.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import operator
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def discover(filters: list[str]) -> list[Path]:
    """Every bench/bench_*.py, or those named by `filters` (whole names: `drain` is not `localdrain`)."""
    modules = sorted(HERE.glob("bench_*.py"))
    if filters:
        known = {m.stem.removeprefix("bench_") for m in modules}
        unknown = sorted(set(filters) - known)
        if unknown:
            raise SystemExit(f"no bench module {', '.join(unknown)} (modules: {', '.join(sorted(known))})")
        modules = [m for m in modules if m.stem.removeprefix("bench_") in filters]
    return modules


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def verdict(figure: float | None, bar: str) -> str:
    if not bar or figure is None:
        return ""
    op, _, number = bar.partition(" ")
    check = OPS.get(op)
    if check is None:
        return "?"
    return "ok" if check(figure, float(number)) else "MISS"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def normalise(module: str, row: dict[str, Any]) -> dict[str, Any]:
    """Ratio rows as documented above; `metric`/`value` rows keep their figure in `ours` with no ratio."""
    out = {"module": module, **row}
    out.setdefault("name", row.get("metric", "?"))
    if "value" in row and "ours" not in row:
        out["ours"] = row["value"]
    figure = out.get("ratio") if out.get("ratio") is not None else row.get("value")
    out["verdict"] = verdict(figure if isinstance(figure, int | float) else None, out.get("bar", ""))
    if row.get("identical") is False:
        out["verdict"] = "MISS"
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = ["module", "name", "ours/value", "theirs", "unit", "ratio", "bar", ""]
    lines = [
        [
            r["module"],
            r["name"],
            fmt(r.get("ours")),
            fmt(r.get("theirs")),
            r.get("unit", ""),
            f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "",
            r.get("bar", ""),
            r["verdict"],
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def run_apart(path: Path) -> list[dict[str, Any]]:
    """The module's `run()` in a Python process of its own: what one bench leaves behind (the process
    environment, moto's process-wide backends, cached clients, threads) cannot reach the next one."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.json"
        done = subprocess.run([sys.executable, __file__, "--module", str(path), "--rows", str(out)], check=False)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"exited with {done.returncode} (its output is above)")
        rows: list[dict[str, Any]] = json.loads(out.read_text())
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("filters", nargs="*", help="only these modules (names without bench_)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--module", type=Path, help=argparse.SUPPRESS)  # run_apart's child: this module only
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)  # ... writing its rows here
    args = parser.parse_args(argv)
    if args.module:
        args.rows.write_text(json.dumps(load(args.module).run(), default=str))
        return 0

    rows: list[dict[str, Any]] = []
    failures = 0
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"livectl bench: python {platform.python_version()} on {platform.machine()}, {when}")
    for path in discover(args.filters):
        started = time.perf_counter()
        print(f"  running {path.stem} ...", flush=True)
        try:
            produced = run_apart(path)
        except Exception as exc:  # one broken module must not hide the others' figures
            failures += 1
            print(f"  {path.stem} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        rows += [normalise(path.stem.removeprefix("bench_"), row) for row in produced]
        print(f"  {path.stem} done in {time.perf_counter() - started:.1f} s", flush=True)

    print()
    print(table(rows))
    misses = [r for r in rows if r["verdict"] == "MISS"]
    print(f"\n{len(rows)} rows, {len(misses)} below their bar, {failures} module(s) failed")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
