"""The emulator's child process ends with the stack (`LocalConfig.emulator_process`). A module of its own: a second
stack started beside another in this process would reset the moto backends that one's pollers use."""

from __future__ import annotations

import pytest
import requests

from livectl_cli.local.stack import LocalConfig, LocalStack
from tests.local.conftest import FAST

pytestmark = [pytest.mark.aws, pytest.mark.emulator, pytest.mark.slow]


def test_stopping_the_stack_ends_the_emulator_process() -> None:
    local = LocalStack(LocalConfig(**{**FAST, "emulator_process": True})).start()
    emulator, url = local.emulator, local.emulator_url
    assert emulator.proc.poll() is None
    local.stop()
    assert emulator.proc.returncode is not None and local.emulator is None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator/health", timeout=5)
