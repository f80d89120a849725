"""Dead-alarm auditor: daily and after each deploy, the environment's alarms that cannot fire, reported once."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.audit import Auditor
from alertlib.observability import logger, metrics, traced

auditor: Auditor | None = None  # built on the first invocation (settings validated once), kept for the container


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global auditor
    if auditor is None:
        auditor = Auditor.from_env(os.environ)  # ConfigurationError names the missing variable
    logger.set_correlation_id(str(event.get("id") or "") or None)
    logger.info("audit started", extra={"trigger": trigger(event)})
    # AuditError raises: Lambda retries the invocation. ListMetrics stops a minute before the invocation's deadline.
    outcome = auditor.run(datetime.now(UTC), seconds_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="AlarmsAudited", unit=MetricUnit.Count, value=outcome.alarms)
    metrics.add_metric(name="DeadAlarms", unit=MetricUnit.Count, value=outcome.dead)
    metrics.add_metric(name="DeadAlarmsReported", unit=MetricUnit.Count, value=outcome.reported)
    metrics.add_metric(name="DeadAlarmsRecovered", unit=MetricUnit.Count, value=outcome.recovered)
    logger.info("audit done", extra=outcome.as_dict())
    return outcome.as_dict()


def trigger(event: Any) -> str:
    """`schedule`, `deploy of prod-alerting (UPDATE_COMPLETE)`, or `manual`."""
    if not isinstance(event, dict):
        return "manual"
    if event.get("source") == "aws.cloudformation":
        detail = event.get("detail")
        detail = detail if isinstance(detail, dict) else {}
        stack = str(detail.get("stack-id") or "").split("/")
        details = detail.get("status-details")
        status = details.get("status") if isinstance(details, dict) else None
        return f"deploy of {stack[1] if len(stack) > 1 else '?'} ({status})"
    if event.get("detail-type") == "Scheduled Event":
        return "schedule"
    return "manual"
