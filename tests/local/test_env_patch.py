"""EnvPatch: what the local stack and the benches set in os.environ comes back as it was, the first value of each
variable remembered however often it was changed."""

from __future__ import annotations

import os

import pytest

from livectl_cli.local.env_patch import EnvPatch

pytestmark = [pytest.mark.unit]


def test_set_and_drop_are_undone_to_each_variables_first_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVECTL_T_KEPT", "mine")
    monkeypatch.setenv("LIVECTL_T_DROPPED", "also mine")
    monkeypatch.delenv("LIVECTL_T_NEW", raising=False)
    with EnvPatch() as env:
        env.set({"LIVECTL_T_KEPT": "stack", "LIVECTL_T_NEW": "stack"})
        env.set({"LIVECTL_T_KEPT": "again"})  # a second change: the first value is still the one restored
        env.drop("LIVECTL_T_DROPPED", "LIVECTL_T_ABSENT")
        assert (os.environ["LIVECTL_T_KEPT"], os.environ["LIVECTL_T_NEW"]) == ("again", "stack")
        assert "LIVECTL_T_DROPPED" not in os.environ
    assert os.environ["LIVECTL_T_KEPT"] == "mine" and os.environ["LIVECTL_T_DROPPED"] == "also mine"
    assert "LIVECTL_T_NEW" not in os.environ and "LIVECTL_T_ABSENT" not in os.environ
