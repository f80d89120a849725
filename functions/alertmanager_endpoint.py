"""The Alertmanager webhook endpoint behind a Lambda function URL: authenticated, rate-limited, published by
severity to the same topics the forwarders read."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.deliver import powertools_secret
from alertlib.endpoint import Credentials, DynamoRateLimiter, Endpoint, EndpointSettings, SnsPublisher
from alertlib.errors import ForwardingError
from alertlib.observability import logger, metrics, traced

endpoint: Endpoint | None = None


def build() -> Endpoint:
    settings = EndpointSettings.from_env(os.environ)
    secret = settings.auth_secret or ""
    return Endpoint(
        settings=settings,
        credentials=lambda: Credentials.from_secret(powertools_secret(secret)),
        limiter=DynamoRateLimiter(settings.rate_limit_table or "", settings.rate_limit_per_minute),
        publish=SnsPublisher(),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global endpoint
    try:
        if endpoint is None:
            endpoint = build()
        response = endpoint.handle(event)
    except ForwardingError as exc:  # settings, secrets, SNS or DynamoDB: Alertmanager retries a 500
        logger.error("endpoint failed", extra={"reason": str(exc)})
        metrics.add_metric(name="EndpointFailed", unit=MetricUnit.Count, value=1)
        return {"statusCode": 500, "headers": {"Content-Type": "application/json"}, "body": '{"error": "internal"}'}
    except Exception:  # noqa: BLE001 - the boundary: never a stack trace to the sender, always a log line
        logger.exception("endpoint crashed")
        metrics.add_metric(name="EndpointFailed", unit=MetricUnit.Count, value=1)
        return {"statusCode": 500, "headers": {"Content-Type": "application/json"}, "body": '{"error": "internal"}'}
    outcome = {202: "AlertsAccepted", 401: "AuthFailed", 429: "RateLimited"}.get(response.status, "PayloadRejected")
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info("answered", extra={"status": response.status, "reason": response.body.get("error")})
    return response.as_lambda()
