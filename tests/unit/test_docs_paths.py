"""Every file the README and docs/*.md name in backticks exists, so a rename that leaves the docs behind fails here.

What counts as a path: a token with a file extension (`cli/livectl_cli/main.py`, `core.py`), a folder
(`functions/`), or a token whose first part is a top-level entry of the repository (`layers/livectl`). It is
looked up from the repository root and from where the docs also write paths from: the layer (`livectl/...`), the
CLI (`livectl_cli/...`) and docs/; a bare file name anywhere in the repository. A pytest id
(`tests/x.py::test_y`) also needs its test. Not paths: secret names (`livectl/trtc/default`), placeholders
(`<provider>`), URL paths, commands with spaces, and what .gitignore names (`.livectl-local.json`, written at run
time).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BASES = [ROOT, ROOT / "layers" / "livectl", ROOT / "cli", ROOT / "docs"]
SKIPPED_FOLDERS = {".git", ".aws-sam", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis"}
TICKED = re.compile(r"`([^`\n]+)`")
EXTENSION = re.compile(r"\.(py|md|ya?ml|json|jsonl|toml|txt|cfg|ini|sh|csv)$")


def ignored_names() -> list[str]:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def is_path(token: str, top_level: set[str]) -> bool:
    # "../" names the workspace beside the clone (../shared): not part of the repository, so not checked here.
    if any(ch in token for ch in " <>$=,()") or token.startswith(("/", "-", "http", "../")):
        return False
    if ":" in token.replace("::", ""):  # an IAM action, a URL
        return False
    name = token.split("::")[0]
    return bool(EXTENSION.search(name)) or name.endswith("/") or (name.split("/")[0] in top_level and "/" in name)


def exists(token: str, repo_files: list[Path]) -> bool:
    name, _, test = token.partition("::")
    if "/" not in name.rstrip("/"):  # a bare file name: anywhere in the repository
        found = [p for p in repo_files if p.name == name.rstrip("/")] or [
            p for base in BASES if (p := base / name).exists()
        ]
    else:
        found = [p for base in BASES for p in (base.glob(name) if "*" in name else [base / name]) if p.exists()]
    if not found or not test:
        return bool(found)
    return any(re.search(rf"def {re.escape(test.split('[')[0])}\b", p.read_text(encoding="utf-8")) for p in found)


def named_paths() -> list[tuple[str, str]]:
    top_level = {p.name for p in ROOT.iterdir()}
    ignored = ignored_names()
    found = set()
    for doc in DOCS:
        for match in TICKED.finditer(doc.read_text(encoding="utf-8")):
            token = match.group(1).strip()
            if is_path(token, top_level) and not any(fnmatch.fnmatch(Path(token).name, i) for i in ignored):
                found.add((doc.name, token))
    return sorted(found)


@functools.cache
def repository_files() -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith(".venv")]
        found += [Path(folder) / name for name in names]
    return found


def test_every_path_the_docs_name_exists() -> None:
    named = named_paths()
    assert len(named) > 30  # the docs do name files: a broken extraction would find none and pass
    files = repository_files()
    missing = [f"{doc}: `{token}`" for doc, token in named if not exists(token, files)]
    assert not missing, "the docs name paths that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("cli/livectl_cli/main.py", True),
        ("livectl/errors.py", True),  # from the layer
        ("functions/", True),
        ("core.py", True),  # a bare name, found under cli/livectl_cli/emulator/
        ("tests/unit/test_docs_paths.py::test_every_path_the_docs_name_exists", True),
        ("tests/local/test_demo.py", False),  # the name README.md once gave test_local_demo.py
        ("cli/livectl_cli/operator_commands.py", False),
        ("tests/unit/test_docs_paths.py::test_that_was_renamed", False),
    ],
)
def test_the_check_tells_present_from_missing(token: str, expected: bool) -> None:
    assert exists(token, repository_files()) is expected


@pytest.mark.parametrize(
    "token",
    [
        "livectl/trtc/default",
        "livectl-callback/trtc",
        "livectl/<provider>/*",
        "scheduler:CreateSchedule/X",
        "../shared/BRIEF.md",  # beside the clone, not in it: a clean clone elsewhere must pass
    ],
)
def test_names_that_are_not_paths_are_left_alone(token: str) -> None:
    assert not is_path(token, {p.name for p in ROOT.iterdir()})
