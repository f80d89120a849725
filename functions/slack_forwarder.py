"""Slack forwarder: SNS (or EventBridge, CloudWatch, Alertmanager) in, one Block Kit message per group out."""

from __future__ import annotations

from typing import Any

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from alertlib.observability import logger, traced

forwarder: Forwarder | None = None  # built on the first invocation, kept for the container's life


@logger.inject_lambda_context(clear_state=True)
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global forwarder
    if forwarder is None:
        forwarder = Forwarder.from_env(Destination.SLACK)
    return forwarder.run(event, context)
