"""Slack interactivity behind a Lambda function URL: verify, parse, authorise, hand the click to the action queue,
answer 200 within Slack's 3 seconds (alertlib.interactions)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.deliver import powertools_secret
from alertlib.endpoint import DynamoRateLimiter
from alertlib.errors import ConfigurationError
from alertlib.interactions import HttpAnswer, SlackInteractions, SqsHandoff
from alertlib.observability import logger, metrics, traced
from alertlib.slack_actions import Authoriser
from alertlib.slack_signature import DynamoReplayGuard, SigningSecrets

endpoint: SlackInteractions | None = None
INTERNAL = HttpAnswer(500, {"error": "internal"}, "EndpointFailed")


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def build() -> SlackInteractions:
    secret = _env("SLACK_SIGNING_SECRET")
    return SlackInteractions(
        secrets=lambda: SigningSecrets.from_secret(powertools_secret(secret)),
        guard=DynamoReplayGuard(_env("REPLAY_TABLE")),
        # User groups need usergroups.users.list: the wiring passes the Slack Web API client's call here.
        authoriser=Authoriser.from_config(os.environ.get("SLACK_ACTORS") or "{}"),
        handoff=SqsHandoff(_env("ACTION_QUEUE_URL")),
        limiter=DynamoRateLimiter(_env("REPLAY_TABLE"), int(os.environ.get("ACTIONS_PER_USER_PER_MINUTE") or 20)),
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
    except Exception:  # noqa: BLE001 - the boundary: never a stack trace to Slack, always a log line
        logger.exception("slack interactions failed")
        answer = INTERNAL
    metrics.add_metric(name=answer.outcome or "EndpointFailed", unit=MetricUnit.Count, value=1)
    logger.info("answered", extra={"status": answer.status, "reason": answer.reason})
    return answer.as_lambda()
