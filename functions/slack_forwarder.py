"""Slack forwarder: SNS (or EventBridge, CloudWatch, Alertmanager) in, one Block Kit message per group out: through
an incoming webhook, or, for a route named in SLACK_APPS, into the alert's thread through the Slack Web API
(SLACK_API_URL), the threads kept in THREAD_TABLE."""

from __future__ import annotations

from typing import Any

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from alertlib.observability import logger, traced
from alertlib.slack_app import SlackAppSender

forwarder: Forwarder | None = None  # built on the first invocation, kept for the container's life


@logger.inject_lambda_context(clear_state=True)
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global forwarder
    if forwarder is None:
        forwarder = Forwarder.from_env(Destination.SLACK, app=SlackAppSender.from_settings)
    return forwarder.run(event, context)
