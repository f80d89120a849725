"""The dead-alarm audit with fake CloudWatch and DynamoDB clients: reasons, batching, once-only, the message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alertlib.audit import (
    MAX_QUERIES,
    MAX_SNS_BYTES,
    AuditMemory,
    AuditSettings,
    CloudWatchReader,
    Finding,
    Remembered,
    alarm_info,
    audit_alarms,
    format_age,
    plan_report,
    report_body,
)
from alertlib.errors import ConfigurationError
from alertlib.forward import prepare
from alertlib.models import Severity, Source, Status
from alertlib.parse import Envelope
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.settings import Settings

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def metric_alarm(name: str, *, state: str = "OK", since: datetime = NOW - 10 * DAY, **metric: Any) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:eu-central-1:123456789012:alarm:{name}",
        "StateValue": state,
        "StateUpdatedTimestamp": since,
        "Namespace": metric.get("namespace", "AWS/RDS"),
        "MetricName": metric.get("metric", "CPUUtilization"),
        "Dimensions": [{"Name": k, "Value": v} for k, v in metric.get("dims", {"DBInstanceIdentifier": name}).items()],
        "Statistic": "Average",
        "Period": 60,
    }


class FakeCloudWatch:
    """DescribeAlarms pages of 100; GetMetricData answers data for every metric but those named `silent`;
    ListMetrics lists every metric asked about but those named `unlisted`."""

    def __init__(
        self,
        alarms: list[dict[str, Any]],
        silent: set[str] = frozenset(),  # type: ignore[assignment]
        unlisted: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        self._alarms = alarms
        self.silent = silent
        self.unlisted = unlisted
        self.metric_calls: list[dict[str, Any]] = []
        self.describe_calls: list[dict[str, Any]] = []
        self.list_calls: list[dict[str, Any]] = []

    def list_metrics(self, **kwargs: Any) -> dict[str, Any]:
        self.list_calls.append(kwargs)
        dimensions = [{"Name": d["Name"], "Value": d["Value"]} for d in kwargs.get("Dimensions", [])]
        key = ",".join(d["Value"] for d in dimensions) or kwargs["MetricName"]
        if key in self.unlisted:
            return {"Metrics": []}
        metric = {"Namespace": kwargs["Namespace"], "MetricName": kwargs["MetricName"], "Dimensions": dimensions}
        return {"Metrics": [metric]}

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_alarms"
        fake = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                fake.describe_calls.append(kwargs)
                found = [a for a in fake._alarms if a["AlarmName"].startswith(kwargs["AlarmNamePrefix"])]
                for offset in range(0, len(found), 100):
                    yield {"MetricAlarms": found[offset : offset + 100]}

        return Paginator()

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        queries = kwargs["MetricDataQueries"]
        assert len(queries) <= MAX_QUERIES
        assert len({q["Id"] for q in queries}) == len(queries)
        self.metric_calls.append(kwargs)
        results = []
        for query in queries:
            metric = query["MetricStat"]["Metric"]
            key = ",".join(d["Value"] for d in metric["Dimensions"]) or metric["MetricName"]
            values = [] if key in self.silent else [1.0]
            results.append({"Id": query["Id"], "Values": values, "Timestamps": [], "StatusCode": "Complete"})
        return {"MetricDataResults": results}


def test_audit_reason_stuck_in_insufficient_data_without_datapoints() -> None:
    alarm = metric_alarm(
        "prod-elasticache-sessions-ReplicationLag",
        state="INSUFFICIENT_DATA",
        since=NOW - 3 * DAY,
        namespace="AWS/ElastiCache",
        metric="ReplicationLag",
        dims={"CacheClusterId": "sessions-001"},
    )
    fake = FakeCloudWatch([alarm], silent={"sessions-001"})
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    assert [f.reason for f in audit.findings] == [
        "in INSUFFICIENT_DATA for 3 days: no datapoints for AWS/ElastiCache ReplicationLag "
        "CacheClusterId=sessions-001 in 1 day"
    ]


def test_audit_reasons_of_each_kind_and_none_for_the_healthy() -> None:
    alarms = [
        metric_alarm("prod-healthy"),
        metric_alarm("prod-young", state="INSUFFICIENT_DATA", since=NOW - timedelta(hours=2)),
        metric_alarm("prod-stuck-with-data", state="INSUFFICIENT_DATA", since=NOW - 2 * DAY),
        metric_alarm("prod-ok-but-silent", since=NOW - 12 * DAY),
        metric_alarm("prod-lambda-idle", namespace="AWS/Lambda", metric="Errors", dims={"FunctionName": "idle"}),
        metric_alarm("other-silent"),
    ]
    fake = FakeCloudWatch(alarms, silent={"prod-ok-but-silent", "idle", "other-silent"})
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    reasons = {f.alarm: f.reason for f in audit.findings}
    assert reasons == {
        "prod-stuck-with-data": "in INSUFFICIENT_DATA for 2 days: its metric has datapoints; check the alarm's "
        "statistic, period and unit",
        "prod-ok-but-silent": "in OK for 12 days: no datapoints for AWS/RDS CPUUtilization "
        "DBInstanceIdentifier=prod-ok-but-silent in 1 day",
    }
    assert audit.alarms == 5
    queried = [q["MetricStat"]["Metric"]["Namespace"] for call in fake.metric_calls for q in call["MetricDataQueries"]]
    assert "AWS/Lambda" not in queried  # sparse: no datapoint for a day is normal for an idle function


def test_audit_metric_math_checks_each_metric_it_reads() -> None:
    raw = {
        "AlarmName": "prod-math",
        "AlarmArn": "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:prod-math",
        "StateValue": "OK",
        "StateUpdatedTimestamp": NOW - 5 * DAY,
        "Metrics": [
            {"Id": "e1", "Expression": "m1 / m2 * 100", "ReturnData": True},
            *[
                {
                    "Id": i,
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/SQS", "MetricName": n, "Dimensions": [{"Name": "Q", "Value": v}]},
                        "Period": 300,
                        "Stat": "Sum",
                    },
                    "ReturnData": False,
                }
                for i, n, v in (("m1", "A", "q-gone"), ("m2", "B", "q-here"))
            ],
        ],
    }
    info = alarm_info(raw, NOW)
    assert [(m.name, m.stat, m.period) for m in info.metrics] == [("A", "Sum", 300), ("B", "Sum", 300)]
    fake = FakeCloudWatch([raw], silent={"q-gone"})
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW, sparse=frozenset())
    assert [f.reason for f in audit.findings] == ["in OK for 5 days: no datapoints for AWS/SQS A Q=q-gone in 1 day"]


def test_audit_is_linear_and_batched_at_scale() -> None:
    alarms = [metric_alarm(f"scale-rds-{i:04d}") for i in range(1900)]
    fake = FakeCloudWatch(alarms, silent={f"scale-rds-{i:04d}" for i in range(0, 1900, 100)})
    audit = audit_alarms(CloudWatchReader(fake), prefix="scale-", dead_after=DAY, now=NOW)
    assert len(fake.metric_calls) == 4  # 1,900 metrics, 500 a call
    assert len(fake.describe_calls) == 1
    assert len(audit.findings) == 19
    call = fake.metric_calls[0]
    assert call["EndTime"] - call["StartTime"] == DAY
    assert call["MetricDataQueries"][0]["MetricStat"]["Period"] == 3600


def test_audit_same_metric_asked_once() -> None:
    alarms = [metric_alarm(f"prod-a{i}", dims={"DBInstanceIdentifier": "shared"}) for i in range(3)]
    fake = FakeCloudWatch(alarms)
    audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    assert sum(len(c["MetricDataQueries"]) for c in fake.metric_calls) == 1


def finding(name: str, reason: str = "in INSUFFICIENT_DATA for 3 days") -> Finding:
    return Finding(alarm=name, arn=f"arn:aws:cloudwatch:eu-central-1:1:alarm:{name}", state="INSUFFICIENT_DATA",
                   since=NOW - 3 * DAY, reason=reason)  # fmt: skip


def remembered(name: str, reported: datetime = NOW - DAY) -> Remembered:
    return Remembered(alarm=name, reason="r", since=NOW - 3 * DAY, reported_at=reported,
                      expires_at=reported + timedelta(days=30))  # fmt: skip


def test_audit_plan_new_still_recovered_and_reminded_after_expiry() -> None:
    memory = {
        "prod-still": remembered("prod-still"),
        "prod-fixed": remembered("prod-fixed"),
        "prod-old": remembered("prod-old", reported=NOW - timedelta(days=31)),
    }
    report = plan_report([finding("prod-new"), finding("prod-still"), finding("prod-old")], memory, NOW)
    assert [f.alarm for f in report.new] == ["prod-new", "prod-old"]
    assert [f.alarm for f in report.still] == ["prod-still"]
    assert [r.alarm for r in report.recovered] == ["prod-fixed"]
    assert plan_report([finding("prod-still")], {"prod-still": remembered("prod-still")}, NOW).changed is False


def forwarded(body: dict[str, Any]) -> Any:
    envelope = Envelope(message_id="m-1", body=json.dumps(body),
                        topic_arn="arn:aws:sns:eu-central-1:123456789012:prod-infrastructure")  # fmt: skip
    return prepare(envelope, Settings(), NOW)


def test_audit_message_renders_through_the_forwarders() -> None:
    report = plan_report([finding("prod-rds-db-CPUUtilization")], {}, NOW)
    body = report_body(report, environment="prod", now=NOW, region="eu-central-1", account="123456789012",
                       runbook_url="https://runbooks.example.com/dead-alarm.md")  # fmt: skip
    group = forwarded(body)
    assert group.source is Source.ALERTMANAGER
    assert group.status is Status.FIRING
    assert group.title == "Dead alarm: prod-rds-db-CPUUtilization"
    assert group.severity is Severity.WARNING
    slack = render_slack(group, now=NOW)
    text = json.dumps(slack)
    assert "Dead alarm: prod-rds-db-CPUUtilization" in slack["blocks"][0]["text"]["text"]
    assert "in INSUFFICIENT_DATA for 3 days" in text
    assert "cannot fire" in text
    assert "https://runbooks.example.com/dead-alarm.md" in text
    (event,) = render_pagerduty(group)
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["summary"].startswith("[FIRING:1] Dead alarm: prod-rds-db-CPUUtilization: in INSUFF")


def test_audit_message_resolves_only_when_none_is_dead() -> None:
    fixed_only = report_body(plan_report([], {"prod-a": remembered("prod-a")}, NOW), environment="prod", now=NOW)
    assert forwarded(fixed_only).status is Status.RESOLVED
    assert render_pagerduty(forwarded(fixed_only))[0]["event_action"] == "resolve"
    memory = {"prod-a": remembered("prod-a"), "prod-b": remembered("prod-b")}
    one_fixed = report_body(plan_report([finding("prod-b")], memory, NOW), environment="prod", now=NOW)
    group = forwarded(one_fixed)
    assert group.status is Status.FIRING
    assert [(a.title, a.status) for a in group.alerts] == [
        ("Dead alarm: prod-a", Status.RESOLVED),
        ("Dead alarm: prod-b", Status.FIRING),
    ]
    assert group.title == "Dead alarms in prod"
    assert render_pagerduty(group)[0]["event_action"] == "trigger"  # the group's incident stays open


def test_audit_message_is_bounded_and_counts_the_rest() -> None:
    long = "x" * 5000
    findings = [finding(f"scale-rds-{i:04d}-" + "y" * 200, reason=long) for i in range(1900)]
    body = report_body(plan_report(findings, {}, NOW), environment="scale", now=NOW)
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(encoded) < MAX_SNS_BYTES
    assert len(body["alerts"]) + body["truncatedAlerts"] == 1900
    group = forwarded(body)
    assert group.truncated_alerts == body["truncatedAlerts"]
    assert render_slack(group, now=NOW)["attachments"][0]["blocks"]


def test_audit_settings_name_the_missing_variable() -> None:
    env = {"ALARM_PREFIX": "prod-", "DEAD_AFTER_HOURS": "24", "TOPIC_ARN": "arn:aws:sns:x:1:t", "AUDIT_TABLE": "t"}
    assert AuditSettings.from_env(env).dead_after == DAY
    assert AuditSettings.from_env(env).environment == "prod"
    for name in env:
        with pytest.raises(ConfigurationError, match=name):
            AuditSettings.from_env({k: v for k, v in env.items() if k != name})
    with pytest.raises(ConfigurationError, match="DEAD_AFTER_HOURS"):
        AuditSettings.from_env({**env, "DEAD_AFTER_HOURS": "0"})


class FakeTable:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.unprocessed_once = True

    def scan(self, **kwargs: Any) -> dict[str, Any]:
        return {"Items": list(self.items.values())}

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        ((table, requests),) = kwargs["RequestItems"].items()
        assert len(requests) <= 25
        if self.unprocessed_once:  # DynamoDB may leave some unprocessed: they are sent again
            self.unprocessed_once = False
            return {"UnprocessedItems": {table: requests}}
        for request in requests:
            if "PutRequest" in request:
                item = request["PutRequest"]["Item"]
                self.items[item["alarm"]["S"]] = item
            else:
                self.items.pop(request["DeleteRequest"]["Key"]["alarm"]["S"], None)
        return {"UnprocessedItems": {}}


def test_audit_memory_writes_in_batches_and_recalls() -> None:
    table = FakeTable()
    memory = AuditMemory("prod-alerting-audit", client=table)
    memory.write([finding(f"prod-{i}") for i in range(60)], [], NOW)
    memory.write([], ["prod-0", "prod-1"], NOW)
    recalled = memory.recall()
    assert len(recalled) == 58
    assert recalled["prod-5"].since == NOW - 3 * DAY
    assert recalled["prod-5"].expires_at == NOW + timedelta(days=30)


def test_audit_format_age() -> None:
    assert [format_age(timedelta(seconds=s)) for s in (59, 3600, 86400, 90000, 3 * 86400)] == [
        "0 min",
        "1 h",
        "1 day",
        "25 h",
        "3 days",
    ]


def test_audit_leaves_out_alarms_of_another_environment_with_the_same_prefix() -> None:
    ours = {**metric_alarm("prod-rds-a-CPUUtilization"), "AlarmActions": ["arn:aws:sns:eu-central-1:1:prod-critical"]}
    theirs = {
        **metric_alarm("prod-eu-rds-b-CPUUtilization"),
        "OKActions": ["arn:aws:sns:eu-central-1:1:prod-eu-critical"],
    }
    team = {**metric_alarm("prod-payments-latency"), "AlarmActions": ["arn:aws:sns:eu-central-1:1:payments-oncall"]}
    fake = FakeCloudWatch([ours, theirs, team], silent={"prod-rds-a-CPUUtilization", "prod-eu-rds-b-CPUUtilization",
                                                       "prod-payments-latency"})  # fmt: skip
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    assert [f.alarm for f in audit.findings] == ["prod-rds-a-CPUUtilization"]


def test_audit_an_alarm_firing_because_its_metric_stopped_is_not_dead() -> None:
    down = {**metric_alarm("prod-ecs-web-api-RunningTaskCount", state="ALARM"), "TreatMissingData": "breaching"}
    fake = FakeCloudWatch([down], silent={"prod-ecs-web-api-RunningTaskCount"})
    assert audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW).findings == ()


@pytest.mark.parametrize("env", ["dev", "prod", "scale"])
def test_audit_environment_topics_are_the_topics_the_config_names(env: str) -> None:
    from alertlib.audit import ENVIRONMENT_TOPICS
    from infra.config import DESTINATIONS, load_config

    config = load_config(env)
    named = {config.topic_name(t) for t in config.topics} | {config.health_topic_name(d) for d in DESTINATIONS}
    assert named == {f"{env}-{topic}" for topic in ENVIRONMENT_TOPICS}
