"""The PagerDuty summary of every alarm kind the project's catalogue creates (prod's config), as CloudWatch sends
them: firing just past the threshold and without data. Each starts with the alarm's name and the environment,
reads its value with a unit (never in scientific notation), and keeps within PagerDuty's 1024 characters (issue 13)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from alertlib.render_pagerduty import MAX_SUMMARY, render_pagerduty
from alertlib.settings import Settings
from alertlib.units import metric_unit
from infra.alarm_specs import AlarmSpec, plan_alarms
from infra.config import load_config
from tests.conftest import sns_event
from tests.unit.helpers import group_of

CONFIG = load_config("prod")
ALIASES = {CONFIG.account: CONFIG.name}
KINDS = {spec.kind: spec for spec in plan_alarms(CONFIG)}  # one alarm of each kind
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")
UNIT = re.compile(r"\d ?(%|(B|KiB|MiB|GiB|TiB|µs|ms|s|min|h|d|bit|kbit|Mbit|Gbit)\b)|\d/s")


def _notification(spec: AlarmSpec, state: str) -> dict[str, Any]:
    above = spec.comparison.startswith("GreaterThan")
    value = spec.threshold * (1.25 if above else 0.75) if spec.threshold else (1.0 if above else 0.0)
    words = "greater than" if above else "less than"
    reason = (
        f"Threshold Crossed: {spec.datapoints_to_alarm} datapoints [{value!r} (22/11/26 02:54:00)] were {words} the "
        f"threshold ({spec.threshold!r})."
        if state == "ALARM"
        else "Insufficient Data: 3 datapoints were unknown."
    )
    return {
        "AlarmName": spec.name,
        "AlarmDescription": spec.description(CONFIG.runbook_base_url),
        "AWSAccountId": CONFIG.account,
        "NewStateValue": state,
        "NewStateReason": reason,
        "StateChangeTime": "2026-11-22T02:55:00.000+0000",
        "Region": CONFIG.region,
        "AlarmArn": f"arn:aws:cloudwatch:{CONFIG.region}:{CONFIG.account}:alarm:{spec.name}",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": spec.metric,
            "Namespace": spec.namespace,
            "StatisticType": "Statistic",
            "Statistic": spec.statistic.upper(),
            "Unit": None,
            "Dimensions": [{"name": k, "value": v} for k, v in spec.dimensions],
            "Period": spec.period,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "ComparisonOperator": spec.comparison,
            "Threshold": spec.threshold,
            "TreatMissingData": spec.treat_missing_data,
        },
    }


def _summary(spec: AlarmSpec, state: str) -> tuple[str, Any]:
    group = group_of(sns_event(_notification(spec, state)), Settings(account_aliases=ALIASES))
    [event] = render_pagerduty(group)
    summary: str = event["payload"]["summary"]
    return summary, group.alerts[0].metric


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_render_pagerduty_catalogue_firing_summary(kind: str) -> None:
    spec = KINDS[kind]
    summary, metric = _summary(spec, "ALARM")
    assert summary.startswith(f"{spec.name} ({CONFIG.name} {CONFIG.region}): "), summary
    assert len(summary) <= MAX_SUMMARY
    assert not SCIENTIFIC.search(summary), summary
    assert "ALARM" not in summary
    if metric is not None and metric_unit(metric) not in (None, "Count", "None"):
        assert UNIT.search(summary), summary


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_render_pagerduty_catalogue_no_data_summary(kind: str) -> None:
    spec = KINDS[kind]
    summary, _ = _summary(spec, "INSUFFICIENT_DATA")
    assert summary.startswith(f"{spec.name} ({CONFIG.name} {CONFIG.region}): "), summary
    assert "no data" in summary.lower(), summary
    assert len(summary) <= MAX_SUMMARY


def test_render_pagerduty_catalogue_is_not_empty() -> None:
    assert len(KINDS) >= 10, json.dumps(sorted(KINDS))
