"""StopPullRecordTask function: an SQS batch of commands, or one command from EventBridge Scheduler."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from livectl.control.service import Settings, build_control_service

ACTION = "StopPullRecordTask"
SETTINGS = Settings.from_env(os.environ)  # names only, read once per container

logger = Logger()  # metrics: the service counts into each invocation's own set and flushes it


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return build_control_service(SETTINGS, ACTION).handle(event, context)
