"""PagerDuty webhooks v3 behind a Lambda function URL: verify, dedupe by X-Webhook-Id, parse the incident event,
hand it to the action queue, answer 2xx within PagerDuty's 5 seconds (alertlib.interactions)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.deliver import powertools_secret
from alertlib.errors import ConfigurationError
from alertlib.interactions import HttpAnswer, PagerDutyWebhooks, SqsHandoff
from alertlib.observability import logger, metrics, traced
from alertlib.pagerduty_webhooks import DynamoWebhookDedup, WebhookSecrets

endpoint: PagerDutyWebhooks | None = None
INTERNAL = HttpAnswer(500, {"error": "internal"}, "EndpointFailed")


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def build() -> PagerDutyWebhooks:
    secret = _env("PAGERDUTY_WEBHOOK_SECRET")
    return PagerDutyWebhooks(
        secrets=lambda: WebhookSecrets.from_secret(powertools_secret(secret)),
        dedup=DynamoWebhookDedup(_env("REPLAY_TABLE")),
        handoff=SqsHandoff(_env("ACTION_QUEUE_URL")),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global endpoint
    try:
        if endpoint is None:
            endpoint = build()
        answer = endpoint.handle(event)
    except Exception:  # noqa: BLE001 - the boundary: PagerDuty retries a 500
        logger.exception("pagerduty webhooks failed")
        answer = INTERNAL
    metrics.add_metric(name=answer.outcome or "EndpointFailed", unit=MetricUnit.Count, value=1)
    logger.info("answered", extra={"status": answer.status, "reason": answer.reason})
    return answer.as_lambda()
