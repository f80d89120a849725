"""PagerDuty webhooks v3 behind a Lambda function URL: verify, dedupe by the event's id, parse the incident event,
hand it to the action queue, answer 2xx within PagerDuty's 5 seconds (alertlib.interactions; the boundary is
alertlib.function_url)."""

from __future__ import annotations

from alertlib.deliver import powertools_secret
from alertlib.function_url import function_url_handler, lazily, required_env
from alertlib.interactions import PagerDutyWebhooks, SqsHandoff
from alertlib.pagerduty_webhooks import DynamoWebhookDedup, WebhookSecrets

endpoint: PagerDutyWebhooks | None = None


def build() -> PagerDutyWebhooks:
    secret = required_env("PAGERDUTY_WEBHOOK_SECRET")
    return PagerDutyWebhooks(
        secrets=lambda: WebhookSecrets.from_secret(powertools_secret(secret)),
        dedup=DynamoWebhookDedup(required_env("REPLAY_TABLE")),
        handoff=SqsHandoff(required_env("ACTION_QUEUE_URL")),
    )


# A failure (a setting, the webhook secret, the table, the queue): a 500, which PagerDuty retries.
handler = function_url_handler(lazily(globals(), "endpoint", build), failed="pagerduty webhooks failed")
