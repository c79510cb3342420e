"""The command contract (BRIEF §3): parse and validate one command, derive its idempotency key.

The same JSON arrives as an SQS message body and as a one-time schedule's input. The JSON Schema published
beside this module (`command.schema.json`) is the contract; it is enforced first, then the catalogue's
`validate_params` gives the field-level message (and the parameters in the provider's order).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from livectl import runtime
from livectl.errors import InvalidCommand
from livectl.providers.catalogue import Action, get_action, task_id_of, validate_params

SCHEMA_FILE = "command.schema.json"
DEFAULT_ACCOUNT = "default"
MAX_BODY_BYTES = 64 * 1024  # UTF-8 bytes of an SQS body

_validator: Callable[[Any], Any] | None = None


def load_schema() -> dict[str, Any]:
    from importlib import resources  # pulls in pathlib: only when the schema is first needed

    text = resources.files("livectl").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_validator() -> Callable[[Any], Any]:
    """The compiled schema (fastjsonschema), built once per process on first use."""
    global _validator
    if _validator is None:
        import fastjsonschema

        _validator = fastjsonschema.compile(load_schema())
    return _validator


def _forget_validator() -> None:
    global _validator
    _validator = None


runtime.on_reset("command validator", _forget_validator)


@dataclass(frozen=True)
class Command:
    action: Action
    params: dict[str, Any]
    account: str
    id: str | None
    not_after: datetime | None
    key: str
    scheduled_at: datetime | None = None  # an auto-stop's firing time: lateness is measured from it
    via: str | None = None  # "guard": armed by the cost guard (livectl.guard.policy), carried into outcome events

    @property
    def name(self) -> str:
        return self.action.name

    @property
    def provider(self) -> str:
        return self.action.provider

    @property
    def task_id(self) -> str:
        return task_id_of(self.action, self.params)

    @property
    def fingerprint(self) -> str:
        """What the command asks for, independent of its id: the same id with another fingerprint is misuse."""
        return derived_key(self.action.name, self.account, self.params)

    def is_stale(self, now: datetime) -> bool:
        return self.not_after is not None and now > self.not_after

    def as_dict(self) -> dict[str, Any]:
        """The wire form (what a producer sends)."""
        out: dict[str, Any] = {"action": self.action.name, "params": dict(self.params), "account": self.account}
        if self.id is not None:
            out["id"] = self.id
        if self.not_after is not None:
            out["not_after"] = self.not_after.isoformat()
        if self.scheduled_at is not None:
            out["scheduled_at"] = self.scheduled_at.isoformat()
        if self.via is not None:
            out["via"] = self.via
        return out


def derived_key(action: str, account: str, params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of (action, account, params): key order and whitespace do not matter."""
    canonical = json.dumps([action, account, dict(params)], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _schema_error(exc: Exception) -> InvalidCommand:
    """fastjsonschema names the failing place as `data.params.TaskId`; turn that into our field name."""
    path = str(getattr(exc, "name", "") or "data")
    where = path[len("data") :].lstrip(".")
    rule = getattr(exc, "rule", None)
    value = getattr(exc, "value", None)
    definition = getattr(exc, "rule_definition", None)
    prefix = f"{where}." if where else ""
    if rule == "required" and isinstance(value, dict) and isinstance(definition, list):
        missing = [name for name in definition if name not in value]
        if missing:
            field = prefix + str(missing[0])
            return InvalidCommand(f"{field} is required", field=field)
    if rule == "additionalProperties" and isinstance(value, dict):
        known = set(getattr(exc, "definition", {}).get("properties", {}))
        extra = sorted(str(k) for k in value if k not in known)
        if extra:
            field = prefix + extra[0]
            return InvalidCommand(f"{field} is not part of the command contract", field=field)
    if rule == "format" and where in ("not_after", "scheduled_at"):
        return InvalidCommand(f"{where} must be an RFC 3339 time with an offset, got {value!r}", field=where)
    message = str(getattr(exc, "message", "") or exc)
    # fastjsonschema says "data.x must be ..."; say it from the command's point of view.
    if message.startswith("data."):
        message = message[len("data.") :]
    elif message.startswith("data "):
        message = "command " + message[len("data ") :]
    return InvalidCommand(message, field=where or "command")


def parse_not_after(value: str, field: str = "not_after") -> datetime:
    """An RFC 3339 time with an offset (`not_after`, `scheduled_at`)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidCommand(f"{field} must be an RFC 3339 time, got {value!r}", field=field) from exc
    if parsed.tzinfo is None:
        raise InvalidCommand(f"{field} must carry a UTC offset, got {value!r}", field=field)
    return parsed


def decode(body: str | bytes | Mapping[str, Any]) -> Any:
    """An SQS body (text) or a Scheduler input (already an object) as a JSON value."""
    if isinstance(body, Mapping):
        return dict(body)
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:  # bytes, as the message says: 60,000 emoji are 240,000 bytes, not 60,000
        raise InvalidCommand(f"command is {size} bytes, larger than {MAX_BODY_BYTES} bytes", field="command")
    try:
        return json.loads(body)
    except RecursionError:  # [[[[... nested deeper than the parser's stack: a clear refusal, not a crash
        raise InvalidCommand("command is nested too deeply to be a command", field="command") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCommand("command is not valid JSON", field="command") from exc


def parse_command(body: str | bytes | Mapping[str, Any], expected_action: str | None = None) -> Command:
    """Validate one command; raise InvalidCommand naming the field. No network, no clock."""
    import fastjsonschema

    doc = decode(body)
    try:
        schema_validator()(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        error = _schema_error(exc)
        # Under params, the catalogue explains better (e.g. "did you mean TaskID?").
        if isinstance(doc, dict) and isinstance(doc.get("params"), dict) and (error.field or "").startswith("params"):
            validate_params(get_action(doc.get("action")), doc.get("params"))
        raise error from None
    action = get_action(doc["action"])
    if expected_action is not None and action.name != expected_action:
        raise InvalidCommand(
            f"action {action.name} was sent to the {expected_action} function; send it to its own queue",
            field="action",
        )
    params = validate_params(action, doc["params"])
    account = doc.get("account", DEFAULT_ACCOUNT)
    not_after = parse_not_after(doc["not_after"]) if "not_after" in doc else None
    scheduled_at = parse_not_after(doc["scheduled_at"], "scheduled_at") if "scheduled_at" in doc else None
    command_id = doc.get("id")
    key = command_id if command_id is not None else derived_key(action.name, account, params)
    return Command(
        action=action,
        params=params,
        account=account,
        id=command_id,
        not_after=not_after,
        key=key,
        scheduled_at=scheduled_at,
        via=doc.get("via"),
    )
