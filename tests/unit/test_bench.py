"""tools.bench's configurations: the webhook path alone, derived from the shipped environment."""

from __future__ import annotations

import json

from tools.bench import webhook_only

SHIPPED = {
    "ROUTES": json.dumps(
        {
            "dev-critical": {"secrets": ["alerting/dev/slack-alerts", "alerting/dev/slack-app"], "severity": "crit"},
            "dev-warning": {"secrets": ["alerting/dev/slack-alerts"], "severity": "warning"},
        }
    ),
    "SLACK_APPS": json.dumps({"alerting/dev/slack-app": {"to_channel": ["refired"]}}),
    "THREAD_TABLE": "dev-threads",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
    "IDEMPOTENCY_TABLE": "dev-idempotency",
    "BENCH_CHANNELS": "slack#alerting/dev/slack-alerts,slack#alerting/dev/slack-app",
}


def test_webhook_only_drops_the_app_routes_and_what_only_they_read() -> None:
    webhook = webhook_only(SHIPPED)
    routes = json.loads(webhook["ROUTES"])
    assert routes["dev-critical"]["secrets"] == ["alerting/dev/slack-alerts"]
    assert routes["dev-warning"] == {"secrets": ["alerting/dev/slack-alerts"], "severity": "warning"}
    assert not {"SLACK_APPS", "THREAD_TABLE", "SLACK_API_URL"} & set(webhook)
    assert webhook["BENCH_CHANNELS"] == "slack#alerting/dev/slack-alerts"
    assert webhook["IDEMPOTENCY_TABLE"] == "dev-idempotency"  # the rest of the shipped environment stays
    assert json.loads(SHIPPED["ROUTES"])["dev-critical"]["secrets"][1] == "alerting/dev/slack-app"  # not modified


def test_webhook_only_of_a_config_without_app_routes_is_the_same_environment() -> None:
    plain = {k: v for k, v in SHIPPED.items() if k not in ("SLACK_APPS", "THREAD_TABLE", "SLACK_API_URL")}
    plain["ROUTES"] = json.dumps({"dev-warning": {"secrets": ["alerting/dev/slack-alerts"]}})
    plain["BENCH_CHANNELS"] = "slack#alerting/dev/slack-alerts"
    assert {k: (json.loads(v) if k == "ROUTES" else v) for k, v in webhook_only(plain).items()} == {
        k: (json.loads(v) if k == "ROUTES" else v) for k, v in plain.items()
    }
