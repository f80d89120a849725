"""The Alertmanager webhook endpoint behind a Lambda function URL: authenticated, rate-limited, published by
severity to the same topics the forwarders read (alertlib.endpoint; the boundary is alertlib.function_url)."""

from __future__ import annotations

import os

from alertlib.deliver import powertools_secret
from alertlib.endpoint import Credentials, DynamoRateLimiter, Endpoint, EndpointSettings, SnsPublisher
from alertlib.function_url import function_url_handler, lazily
from alertlib.observability import logger

__all__ = ["build", "endpoint", "handler", "logger"]

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


# Settings, secrets, SNS or DynamoDB failing: a 500, which Alertmanager retries.
handler = function_url_handler(lazily(globals(), "endpoint", build), failed="endpoint failed")
