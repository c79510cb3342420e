"""Fixtures: the template source and its offline SAM transform (see transformed.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.transformed import load_source, transform


@pytest.fixture(scope="session")
def source() -> dict[str, Any]:
    return load_source()


@pytest.fixture(scope="session")
def cfn(source: dict[str, Any]) -> dict[str, Any]:
    return transform(source)


@pytest.fixture(scope="session")
def defaults(source: dict[str, Any]) -> dict[str, Any]:
    return {name: p.get("Default") for name, p in source["Parameters"].items()}
