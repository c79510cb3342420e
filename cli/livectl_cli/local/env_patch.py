"""Changes to os.environ that are undone together: the local stack sets what a deployed function sees (endpoints,
fake credentials, region) and restores the caller's values on stop; the benches do the same around a run."""

from __future__ import annotations

import os
from collections.abc import Mapping


class EnvPatch:
    """`set` and `drop` remember each variable's first value; `restore` (or leaving the `with`) puts them back."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def drop(self, *keys: str) -> None:
        for key in keys:
            self._saved.setdefault(key, os.environ.get(key))
            os.environ.pop(key, None)

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()

    def __enter__(self) -> EnvPatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
