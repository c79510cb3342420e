"""livectl.runtime: every piece of process-wide state is forgotten by the one `reset()`, and a function's service
is built once per settings."""

from __future__ import annotations

import pytest

from livectl import aws, command, runtime
from livectl.control import container as control_container
from livectl.control.service import Settings, build_control_service

pytestmark = pytest.mark.unit

SETTINGS = Settings(ledger_table="ledger", event_bus="bus", idempotency_table="idempotency")


def test_one_reset_forgets_every_kind_of_process_state(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")
    client = aws.client("dynamodb")
    box = control_container.container_for(SETTINGS)
    command.schema_validator()
    DEFAULT_PROVIDERS["secrets"] = object()  # a provider bound to an endpoint that may be gone (cba906c)
    service = build_control_service(SETTINGS, "StopPullRecordTask")

    runtime.reset()

    assert aws.client("dynamodb") is not client
    assert control_container.container_for(SETTINGS) is not box
    assert command._validator is None
    assert "secrets" not in DEFAULT_PROVIDERS
    assert build_control_service(SETTINGS, "StopPullRecordTask") is not service
    runtime.reset()


def test_a_service_is_built_once_per_settings() -> None:
    first = build_control_service(SETTINGS, "StopPullRecordTask")
    assert build_control_service(SETTINGS, "StopPullRecordTask") is first
    assert build_control_service(SETTINGS, "DeleteCloudRecording") is not first  # another function's service
    other = Settings(ledger_table="other", event_bus="bus", idempotency_table="idempotency")
    assert build_control_service(other, "StopPullRecordTask").settings == other  # new settings: built again
    runtime.reset()


def test_the_layer_imports_flow_one_way() -> None:
    """No module of the layer imports (even lazily, even for types) a module that imports it back."""
    import ast
    from pathlib import Path

    root = Path(command.__file__).parent
    modules = {".".join(p.relative_to(root.parent).with_suffix("").parts): p for p in root.rglob("*.py")}
    modules = {name.removesuffix(".__init__"): path for name, path in modules.items()}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("livectl"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    edges[name].add(target if target in modules else node.module)
    edges = {
        name: {t for t in targets if t in modules and modules[t].name != "__init__.py"}
        for name, targets in edges.items()
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(t == goal or (t not in seen and reaches(t, goal, seen | {t})) for t in edges[start])

    circles = sorted(name for name in edges if reaches(name, name, {name}))
    assert circles == []
