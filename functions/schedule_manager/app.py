"""Schedule manager: create, move, cancel and list one-time auto-stops, and run the cost guard's requests.

Triggered by the ScheduleRequestQueue (SQS batch, partial failures) or invoked directly (e.g. `{"list": true}`),
in which case the result is returned. The logic lives in `livectl.schedules.service`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from livectl.schedules.service import ScheduleService, ScheduleSettings, build_schedule_service

SETTINGS = ScheduleSettings.from_env(os.environ)  # names only, read once per container

logger = Logger()
metrics = Metrics()


def service() -> ScheduleService:
    return build_schedule_service(SETTINGS, metrics=metrics, logger=logger)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> Mapping[str, object]:
    return service().handle(event, context)
