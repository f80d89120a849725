"""alertlib.slo_burn under moto: the window alarm as dev's synthesized template defines it, a metric history with
known bad and total counts, and the numbers a page then shows (the burn seen, the budget left), in Slack and
PagerDuty alike; a CloudWatch that fails or has no time leaves the alert as it was, counted; the IAM statements kept
beside the code are enough."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from alertlib.models import AlertGroup, Status
from alertlib.observability import Counters
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.slo_burn import SLO_QUERY_FAILED, SloQueries, enrich_slo, slo_query_policy_statements
from infra.config import load_config
from infra.constructs.slo_alarms import plan_pairs
from infra.slo import alarm_description
from tests.unit.helpers import alarm, group_of
from tools.world import iam_enforced, synthesize

REGION = "eu-west-1"
ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 3, 8, 0, 30, tzinfo=UTC)
SLO = next(s for s in load_config("dev").slos if s.name == "api-availability")  # 99.9 %, 30 days, bad = target + elb
PAIR = plan_pairs("dev", SLO)[0]  # 1h/5m, page
BALANCER = [{"Name": "LoadBalancer", "Value": "app/dev-web/50dc6c495c0c9188"}]


def window_alarms() -> dict[str, dict[str, Any]]:
    """Dev's SLO window alarms as synthesized (derived from infra, not copied): name -> CloudFormation properties."""
    return {
        r["Properties"]["AlarmName"]: r["Properties"]
        for template in synthesize("dev").values()
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "-slo-" in str(r["Properties"].get("AlarmName"))
    }


@pytest.fixture(scope="module")
def synthesized() -> dict[str, dict[str, Any]]:
    return window_alarms()


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch, synthesized: dict[str, dict[str, Any]]) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("cloudwatch", region_name=REGION)
        for name in (PAIR.long.name, PAIR.short.name):
            p = synthesized[name]
            keys = ("AlarmName", "AlarmDescription", "ActionsEnabled", "Metrics", "EvaluationPeriods",
                    "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData")  # fmt: skip
            client.put_metric_alarm(**{k: p[k] for k in keys if k in p})
        yield client


def put(client: Any, metric: str, value: float, at: datetime) -> None:
    client.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[{"MetricName": metric, "Dimensions": BALANCER, "Value": value, "Timestamp": at, "Unit": "Count"}],
    )


def history(client: Any) -> None:
    """The last hour: 10,000 requests, 100 + 44 answered with a 5xx (1.44 %: 14.4x a 99.9 % SLO's budget). Earlier
    in the 30 days: 190,000 requests and 6 errors more. The period: 150 bad of 200,000 (0.075 %): 25 % budget left."""
    for minutes, total, target, elb in ((50, 6000, 60, 24), (10, 4000, 40, 20)):
        at = NOW - timedelta(minutes=minutes)
        put(client, "RequestCount", total, at)
        put(client, "HTTPCode_Target_5XX_Count", target, at)
        put(client, "HTTPCode_ELB_5XX_Count", elb, at)
    for days, total, target in ((20, 100_000, 4), (3, 90_000, 2)):
        at = NOW - timedelta(days=days)
        put(client, "RequestCount", total, at)
        put(client, "HTTPCode_Target_5XX_Count", target, at)
    put(client, "RequestCount", 1_000_000, NOW - timedelta(days=31))  # before the period: not counted


def composite(state: str = "ALARM") -> AlertGroup:
    """The page: CloudWatch's notification of the pair's composite alarm (no values in it)."""
    event = alarm(
        name=PAIR.composite,
        state=state,
        description=alarm_description(SLO, PAIR.pair),
        arn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{PAIR.composite}",
        Region="EU (Ireland)",
        Trigger=None,
        AlarmRule=PAIR.rule,
        reason="arn:aws:cloudwatch:eu-west-1:123456789012:alarm:x transitioned to ALARM",
    )
    group = group_of(event)
    assert group.alerts[0].slo is not None
    return group


def test_slo_burn_moto_fills_the_burn_seen_and_the_budget_left(cloudwatch: Any) -> None:
    history(cloudwatch)
    counters = Counters("slack")
    group = enrich_slo(composite(), SloQueries(lambda _: cloudwatch, environment="dev"), now=NOW, counters=counters)
    slo = group.alerts[0].slo
    assert slo is not None
    assert (slo.observed_burn_rate, slo.budget_left) == (14.4, 25.0)
    assert not counters.counts


def test_slo_burn_moto_the_resolve_says_the_budget_left_too(cloudwatch: Any) -> None:
    history(cloudwatch)
    group = enrich_slo(composite("OK"), SloQueries(lambda _: cloudwatch, environment="dev"), now=NOW)
    assert group.status is Status.RESOLVED
    slo = group.alerts[0].slo
    assert slo is not None and slo.budget_left == 25.0


def test_slo_burn_moto_slack_and_pagerduty_show_the_numbers(cloudwatch: Any) -> None:
    history(cloudwatch)
    group = enrich_slo(composite(), SloQueries(lambda _: cloudwatch, environment="dev"), now=NOW)
    slack = json.dumps(render_slack(group, now=NOW))
    assert "burning 14.4x (alerts at 14.4x)" in slack
    assert "25 % of the error budget left" in slack
    [event] = render_pagerduty(group)
    detail = event["payload"]["custom_details"]["slo"]
    assert (detail["burn_rate"], detail["error_budget_left"]) == ("14.4x", "25 %")


def test_slo_burn_moto_no_traffic_in_the_window_is_no_number(cloudwatch: Any) -> None:
    counters = Counters("pagerduty")
    group = enrich_slo(composite(), SloQueries(lambda _: cloudwatch, environment="dev"), now=NOW, counters=counters)
    assert group.alerts[0].slo == composite().alerts[0].slo
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1


def test_slo_burn_moto_a_failing_cloudwatch_leaves_the_alert_and_counts(cloudwatch: Any) -> None:
    history(cloudwatch)
    stubbed = boto3.client("cloudwatch", region_name=REGION)
    counters = Counters("slack")
    before = composite()
    with Stubber(stubbed) as stub:
        stub.add_client_error("describe_alarms", "Throttling", http_status_code=400)
        group = enrich_slo(before, SloQueries(lambda _: stubbed), now=NOW, counters=counters)
    assert group == before
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1


def test_slo_burn_moto_a_window_alarm_of_another_slo_is_not_read(cloudwatch: Any) -> None:
    history(cloudwatch)
    other = next(s for s in load_config("dev").slos if s.name == "api-latency")
    cloudwatch.put_metric_alarm(
        AlarmName=PAIR.long.name, AlarmDescription=alarm_description(other, PAIR.pair), Metrics=[
            {"Id": "ratio", "Expression": "1", "ReturnData": True}], EvaluationPeriods=1, Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold")  # fmt: skip
    counters = Counters("slack")
    group = enrich_slo(composite(), SloQueries(lambda _: cloudwatch), now=NOW, counters=counters)
    assert group.alerts[0].slo == composite().alerts[0].slo
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1


def test_slo_burn_moto_iam_statements_are_enough(cloudwatch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """DescribeAlarms is checked on the alarm it names (the harness checks it on "*" otherwise) and GetMetricData on
    "*": with only the statements, the numbers are read and nothing is refused."""
    history(cloudwatch)
    import tools.world

    resource_of = tools.world._resource

    def described(response: Any) -> str:
        if response._get_action() == "DescribeAlarms":
            names = response._get_param("AlarmNames") or []
            if len(names) == 1:
                return f"arn:aws:cloudwatch:{response.region}:{response.current_account}:alarm:{names[0]}"
        return str(resource_of(response))

    monkeypatch.setattr(tools.world, "_resource", described)
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="forwarder")
    document = {"Version": "2012-10-17", "Statement": slo_query_policy_statements(REGION, ACCOUNT, "dev")}
    iam.put_user_policy(UserName="forwarder", PolicyName="slo", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="forwarder")["AccessKey"]
    client = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"])  # fmt: skip
    with iam_enforced() as denials:
        group = enrich_slo(composite(), SloQueries(lambda _: client, environment="dev"), now=NOW)
    assert denials == []
    slo = group.alerts[0].slo
    assert slo is not None and (slo.observed_burn_rate, slo.budget_left) == (14.4, 25.0)
    document["Statement"] = [{"Effect": "Allow", "Action": ["cloudwatch:GetMetricData"], "Resource": ["*"]}]
    iam.put_user_policy(UserName="forwarder", PolicyName="slo", PolicyDocument=json.dumps(document))
    with iam_enforced() as denials:
        enrich_slo(composite(), SloQueries(lambda _: client), now=NOW)
    assert [d.action for d in denials] == ["cloudwatch:DescribeAlarms"]  # the grant is needed, and enough


def test_slo_burn_moto_every_dev_window_alarm_is_read_and_evaluated(synthesized: dict[str, dict[str, Any]]) -> None:
    """Each long window alarm synthesized for dev (availability, latency, a 28-day period) reads as a WindowAlarm,
    and its compared expression is evaluated here, not left to a CloudWatch that moto does not have."""
    from alertlib.models import Slo
    from alertlib.slo_burn import evaluate, window_alarm

    read = 0
    for slo in load_config("dev").slos:
        for pair in plan_pairs("dev", slo):
            found = window_alarm(synthesized[pair.long.name], Slo(name=slo.name))
            assert found.period_days == slo.period_days
            values: dict[str, float | None] = {
                str(q["Id"]): 1000.0 if str(q["Id"]).startswith("total") else 1.0 for q in found.metrics
            }
            ratio = evaluate(found.ratio, values, found.expressions)
            assert ratio is not None and 0 <= ratio <= 1
            read += 1
    assert read >= 8
