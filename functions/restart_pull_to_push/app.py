"""RestartPullToPushTask function: an SQS batch of commands, or one command from EventBridge Scheduler."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from livectl.control.service import Settings, handle_event

ACTION = "RestartPullToPushTask"
SETTINGS = Settings.from_env(os.environ)  # names only, read once per container

logger = Logger()  # metrics: handle_event flushes each invocation's own


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_event(event, context, ACTION, SETTINGS)
