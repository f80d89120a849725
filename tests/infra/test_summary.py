"""The deploy summary counts what the synthesized templates deploy, names who reads each topic and prices it from
the one price table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import __version__, pricing
from infra.alarm_specs import plan_alarms
from infra.summary import environments, estimate, main, render, summarize
from tests.infra.conftest import Synthesized


@pytest.fixture(scope="module")
def assembly(dev: Synthesized) -> Path:
    return Path(dev.app.synth().directory)


def _cost(lines: list[Any], item: str) -> float:
    return next(line.usd for line in lines if line.item == item)


def test_summary_counts_every_alarm_the_templates_hold(dev: Synthesized, assembly: Path) -> None:
    summary = summarize("dev", environments(assembly)["dev"])
    alarms = [a for t in dev.templates.values() for a in t.find_resources("AWS::CloudWatch::Alarm").values()]
    composites = sum(len(t.find_resources("AWS::CloudWatch::CompositeAlarm")) for t in dev.templates.values())
    assert summary.alarm_count == len(alarms) + composites
    assert summary.composite_alarms == composites
    # A metric-math alarm is billed for each metric it reads.
    metrics = sum(sum(1 for q in a["Properties"].get("Metrics", []) if "MetricStat" in q) or 1 for a in alarms)
    assert summary.standard_alarm_metrics + summary.high_resolution_alarm_metrics == metrics
    specs = plan_alarms(dev.config)
    for service in ("rds", "elasticache", "ecs"):
        assert sum(summary.alarms[service].values()) == sum(1 for s in specs if s.service == service)
    assert summary.alarms["rds"]["rds-replica-lag"] == sum(1 for s in specs if s.kind == "rds-replica-lag")
    assert summary.alarms["pipeline"]["forwarder-errors"] == 2
    assert [s.name for s in summary.stacks] == sorted(dev.templates, key=list(dev.templates).index)
    assert (summary.account, summary.region) == (dev.config.account, dev.config.region)


def test_summary_topics_name_the_destinations_that_read_them(assembly: Path) -> None:
    summary = summarize("dev", environments(assembly)["dev"])
    topics = {t.name: t for t in summary.topics}
    assert set(topics["dev-critical"].destinations) == {
        "pagerduty alerting/dev/pagerduty",
        "slack alerting/dev/slack-alerts",
        "slack alerting/dev/slack-app",  # a Slack app route: one thread per alert
    }
    assert topics["dev-warning"].destinations == ("slack alerting/dev/slack-alerts",)
    # A forwarder's health topic is read by the other forwarder (and e-mail), never by itself.
    assert not any(d.startswith("pagerduty") for d in topics["dev-pagerduty-forwarder-health"].destinations)
    assert "pagerduty alerting/dev/pagerduty" in topics["dev-slack-forwarder-health"].destinations
    assert any(d.startswith("e-mail oncall-dev@example.com") for d in topics["dev-infrastructure"].destinations)
    assert topics["dev-critical"].alarms > 0


def test_summary_lists_every_secret_to_fill_in_with_its_shape(dev: Synthesized, assembly: Path) -> None:
    summary = summarize("dev", environments(assembly)["dev"])
    secrets = {s.name: s.value for s in summary.secrets}
    assert set(dev.config.secret_names()) <= set(secrets)
    assert "routing_key" in secrets["alerting/dev/pagerduty"]
    assert "webhook_url" in secrets["alerting/dev/slack-alerts"]
    assert "bearer_tokens" in secrets["alerting/dev/alertmanager-endpoint"]


def test_summary_cost_comes_from_the_price_table(assembly: Path) -> None:
    summary = summarize("dev", environments(assembly)["dev"])
    lines = estimate(summary, alerts_per_month=0)
    prices = pricing.PRICES
    alarms = summary.standard_alarm_metrics * prices["alarm_standard"].usd
    assert _cost(lines, "CloudWatch alarms, standard") == pytest.approx(alarms)
    composites = summary.composite_alarms * prices["alarm_composite"].usd
    assert _cost(lines, "CloudWatch composite alarms") == pytest.approx(composites)
    assert _cost(lines, "KMS keys and requests") == pytest.approx(prices["kms_key"].usd)
    assert _cost(lines, "Secrets Manager") == pytest.approx(len(summary.secrets) * prices["secret"].usd)
    assert _cost(lines, "DynamoDB on demand") == 0  # nothing is written when no alert comes
    busy = estimate(summary, alerts_per_month=1_000_000)
    assert _cost(busy, "DynamoDB on demand") > 0
    text = render(summary, lines, 0)
    assert pricing.PRICES_AS_OF in text and "ESTIMATE" in text
    assert (
        text.splitlines()[0]
        == f"== dev (account {summary.account}, {summary.region}; alert-forwarding-for-aws {__version__})"
    )


def _assembly(tmp_path: Path, resources: dict[str, Any]) -> Path:
    (tmp_path / "x-alerting.template.json").write_text(json.dumps({"Resources": resources}))
    manifest = {
        "artifacts": {
            "x-alerting": {
                "type": "aws:cloudformation:stack",
                "environment": "aws://123456789012/eu-west-1",
                "properties": {"templateFile": "x-alerting.template.json"},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_summary_prices_high_resolution_metric_math_and_composite_alarms(tmp_path: Path) -> None:
    metric = {"Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent", "Dimensions": []}
    resources = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "x-slo"}},
        "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardName": "x-slos"}},
        "Burn": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": "x-slo-checkout-burn-fast",
                "AlarmDescription": "burn\nrunbook: https://example.com/slo-burn-rate.md",
                "Metrics": [
                    {"Id": "a", "MetricStat": {"Metric": metric, "Period": 10, "Stat": "Sum"}},
                    {"Id": "b", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}},
                    {"Id": "e", "Expression": "a/b"},
                ],
                "AlarmActions": [{"Ref": "Topic"}],
            },
        },
        "Both": {
            "Type": "AWS::CloudWatch::CompositeAlarm",
            "Properties": {"AlarmName": "x-slo-checkout", "AlarmRule": "ALARM(x)", "AlarmActions": [{"Ref": "Topic"}]},
        },
    }
    summary = summarize("x", environments(_assembly(tmp_path, resources))["x"])
    assert (summary.high_resolution_alarm_metrics, summary.standard_alarm_metrics, summary.composite_alarms) == (
        1,
        1,
        1,
    )
    assert summary.alarms["pipeline"]["slo-burn-rate"] == 1
    lines = estimate(summary, alerts_per_month=0)
    assert _cost(lines, "CloudWatch alarms, high resolution") == pytest.approx(0.30)
    assert _cost(lines, "CloudWatch composite alarms") == pytest.approx(0.50)
    assert _cost(lines, "CloudWatch dashboards") == pytest.approx(3.00)
    # The topic has no subscription: the summary says so rather than listing it as fine.
    assert summary.topics[0].destinations == ()
    assert "NOBODY" in render(summary, lines, 0)


def test_summary_main_unknown_environment_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assembly = _assembly(tmp_path, {})
    assert main([str(assembly), "--env", "prod"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no environment 'prod' (found: x)" in err
    assert main([str(tmp_path / "missing")]) == 1
