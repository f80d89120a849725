"""Slack forwarder: SNS (or EventBridge, CloudWatch, Alertmanager) in, one Block Kit message per group out: through
an incoming webhook, or, for a route named in SLACK_APPS, into the alert's thread through the Slack Web API
(SLACK_API_URL), the threads kept in THREAD_TABLE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from alertlib.observability import logger, traced
from alertlib.settings import Settings

if TYPE_CHECKING:
    from alertlib.slack_app import SlackAppSender

forwarder: Forwarder | None = None  # built on the first invocation, kept for the container's life


def slack_apps(settings: Settings) -> SlackAppSender | None:
    """The Slack app routes' sender (SlackApi at SLACK_API_URL, ThreadStore on THREAD_TABLE, the graph client);
    None, and nothing of it imported, where SLACK_APPS names none (webhooks only: the cold start stays as it was)."""
    if not settings.slack_apps:
        return None
    from alertlib.slack_app import SlackAppSender

    return SlackAppSender.from_settings(settings)


@logger.inject_lambda_context(clear_state=True)
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global forwarder
    if forwarder is None:
        forwarder = Forwarder.from_env(Destination.SLACK, app=slack_apps)
    return forwarder.run(event, context)
