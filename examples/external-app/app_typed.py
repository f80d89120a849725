#!/usr/bin/env python3
"""The same from a typed configuration object instead of a file (`cdk synth --app "python3 app_typed.py"`):
the model validates it as it validates a file, and `check` adds what load_config checks beyond the types."""

from __future__ import annotations

from aws_cdk import App

from infra.app_builder import build
from infra.config import EcsService, EnvironmentConfig, RdsInstance, TopicRouting
from infra.config_checks import check

slack = TopicRouting(slack=["alerting/shop/slack-alerts"])
config = EnvironmentConfig(
    name="shop",
    account="123456789012",
    region="eu-west-1",
    runbook_base_url="https://github.com/example-org/alert-forwarding/blob/main/docs/runbooks",
    topics={
        "critical": TopicRouting(pagerduty="alerting/shop/pagerduty", slack=["alerting/shop/slack-alerts"]),
        "warning": slack,
        "slo": slack,
        "infrastructure": slack,
    },
    rds=[RdsInstance(id="orders-db", allocated_storage_gib=100, max_connections=400, memory_gib=8)],
    ecs=[EcsService(cluster="web", service="api")],
)
# The checks a config file gets beyond its types (override keys that name no alarm, unknown regions and statistics,
# topics that reach nobody): load_config runs them for a file; a typed object asks for them.
if (mistake := check(config)) is not None:
    raise SystemExit(f"error: {mistake}")
app = App()
build(app, config)
app.synth()
