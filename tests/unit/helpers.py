"""Building normal forms from payloads in tests, through the same `prepare` the forwarders use."""

from __future__ import annotations

from typing import Any

from alertlib.forward import prepare
from alertlib.models import AlertGroup
from alertlib.parse import split_event
from alertlib.settings import Settings
from tests.conftest import NOW


def group_of(event: Any, settings: Settings | None = None) -> AlertGroup:
    envelopes = split_event(event)
    assert len(envelopes) == 1
    return prepare(envelopes[0], settings or Settings(), NOW)


def alarm(
    *,
    name: str = "prod-rds-orders-db-CPUUtilization",
    state: str = "ALARM",
    arn: str | None = None,
    description: str | None = "CPU above 90%.\nrunbook: https://runbooks.example.com/rds-cpu",
    reason: str = "Threshold Crossed: 5 datapoints [97.5 (22/11/26 02:55:00)] were greater than the threshold (90.0).",
    tags: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """A CloudWatch metric alarm notification as CloudWatch publishes it to SNS."""
    body: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-20T10:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": reason,
        "StateChangeTime": "2026-11-22T02:55:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": arn or f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "OKActions": ["arn:aws:sns:us-east-1:123456789012:prod-critical"],
        "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:prod-critical"],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/RDS",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": "orders-db", "name": "DBInstanceIdentifier"}],
            "Period": 60,
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 5,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 90.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    if tags is not None:
        body["AlarmTags"] = tags
    body.update(extra)
    return body


def alertmanager(n: int = 1, *, status: str = "firing", **extra: Any) -> dict[str, Any]:
    """A webhook v4 body of `n` alerts."""
    alerts = [
        {
            "status": status,
            "labels": {"alertname": "HighLatency", "severity": "critical", "instance": f"api-{i}:9090", "job": "api"},
            "annotations": {
                "summary": f"p99 latency above 2s on api-{i}",
                "description": "Requests are slow.",
                "runbook_url": "https://runbooks.example.com/high-latency",
                "dashboard_url": "https://grafana.example.com/d/api",
            },
            "startsAt": "2026-11-22T02:50:00Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-22T03:10:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
            "fingerprint": f"{i:016x}",
        }
        for i in range(n)
    ]
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}/{severity=~"critical"}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "web\\.hook",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical", "job": "api"},
        "commonAnnotations": {"description": "Requests are slow."},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": alerts,
    }
    body.update(extra)
    return body
