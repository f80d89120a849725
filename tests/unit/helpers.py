"""Building normal forms from payloads in tests, through the same `prepare` the forwarders use."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from alertlib.errors import MalformedInput
from alertlib.forward import prepare
from alertlib.models import AlertGroup
from alertlib.parse import split_event
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.settings import Settings
from alertlib.text import encode_json
from tests.conftest import NOW
from tools.standins import pagerduty_problems, slack_problems

# Per payload, measured around parse -> normalise -> redact -> render (both destinations), not around the checks.
# A 256 KB payload takes well under a second on a 2-core machine; 2 s leaves room for a loaded CI runner, and a
# quadratic stage (8K/16K/32K characters -> 0.13/0.51/2.0 s) is far past it at 200 KB.
BUDGET_SECONDS = 2.0
BUDGET_BYTES = 256 * 1024  # the budget is per 256 KB of payload: a linear stage passes at any size, a quadratic fails


def budget_for(size: int) -> float:
    """The time budget of a payload of `size` bytes."""
    return BUDGET_SECONDS * max(1.0, size / BUDGET_BYTES)


MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C1|general>")
PLANTED_ADDRESSES = ("alice.smith@example.com", "_ops@example.org", "bob%40example.com", "user@[10.0.0.1]")
_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_UNSAFE_IN_URL = re.compile(r"[|<>\s]")

Rendered = tuple[AlertGroup, list[list[dict[str, Any]]], dict[str, Any]]


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


def render_all(event: Any, budget: float | None = None) -> tuple[Rendered, float]:
    """Parse, normalise, redact and render an event for both destinations (PagerDuty per group and per alert),
    within `budget` seconds (by default `budget_for` the event's size); raises `MalformedInput` for a refused
    payload, like the forwarders."""
    if budget is None:
        budget = budget_for(len(json.dumps(event)))
    start = time.perf_counter()
    try:
        group = group_of(event)
    except MalformedInput:
        refused = time.perf_counter() - start  # a refusal is held to the same budget
        assert refused < budget, f"refused in {refused:.2f} s (budget {budget} s)"
        raise
    pagerduty = [render_pagerduty(group, per_alert=per_alert) for per_alert in (False, True)]
    slack = render_slack(group, now=NOW, max_listed=40)
    elapsed = time.perf_counter() - start
    assert elapsed < budget, f"took {elapsed:.2f} s (budget {budget} s)"
    return (group, pagerduty, slack), elapsed


def assert_sendable(rendered: Rendered) -> None:
    """Every documented PagerDuty and Slack limit holds, no link shows one target and opens another, nothing pings
    in Slack, and no planted e-mail address reaches either destination."""
    _, pagerduty, slack = rendered
    for events in pagerduty:
        for event in events:
            body = {**event, "routing_key": "k" * 32}
            assert pagerduty_problems(body, len(encode_json(body))) == []
            for link in event.get("links", []):
                assert not _UNSAFE_IN_URL.search(link["href"]), f"PagerDuty link {link['href'][:200]!r}"
    assert slack_problems(slack) == []
    blocks = [*slack.get("blocks", []), *(b for a in slack.get("attachments", []) for b in a.get("blocks", []))]
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            url = element.get("url", "")
            assert not _UNSAFE_IN_URL.search(url), f"button url {url[:200]!r}"
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                _assert_honest_mrkdwn(item["text"])
    for mention in MENTIONS:  # Slack pings on these; PagerDuty shows them as text
        assert mention not in json.dumps(slack, ensure_ascii=False), mention
    sent = json.dumps([pagerduty, slack], ensure_ascii=False)
    for address in PLANTED_ADDRESSES:
        assert address not in sent, f"{address} reached a destination"


def _assert_honest_mrkdwn(text: str) -> None:
    for token in _SLACK_TOKEN.findall(text):
        if token.startswith("!date^"):
            continue
        target, _, shown = token.partition("|")
        assert target.startswith(("http://", "https://")), f"mrkdwn token <{token[:200]}>"
        assert "|" not in shown and not _UNSAFE_IN_URL.search(target), f"spoofable link <{token[:200]}>"
