"""Every alarm of every shipped environment watches a metric AWS publishes, with the dimensions AWS gives it."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import load_config
from infra.metric_catalogue import CATALOGUE, FACTS, CheckContext, check_alarm, check_metric, fact
from tests.infra.conftest import synthesized


@pytest.mark.parametrize("env", ["dev", "prod", "scale"])
def test_metric_catalogue_every_synthesized_alarm_watches_a_published_metric(env: str) -> None:
    world = synthesized(env)
    problems: list[str] = []
    checked = 0
    for template in world.templates.values():
        body = template.to_json()
        context = CheckContext.from_template(world.config, body)
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
            problems += check_alarm(alarm["Properties"], context)
            checked += 1
    assert checked > 0
    assert problems == [], "\n".join(problems[:20])


def test_metric_catalogue_redis_alarms_use_member_ids() -> None:
    world = synthesized("prod")
    dimensions = [
        {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]}
        for template in world.templates.values()
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/ElastiCache"
    ]
    clusters = {d["CacheClusterId"] for d in dimensions}
    assert {"sessions-001", "sessions-002", "sessions-003", "rate-limits-001", "page-cache"} == clusters
    lag = {d["CacheClusterId"] for d, a in zip(dimensions, dimensions, strict=True) if "CacheNodeId" not in a}
    assert "sessions" not in lag


CONFIG = load_config("prod")
CONTEXT = CheckContext.from_template(
    CONFIG,
    {
        "Resources": {
            "PagerDutyForwarder": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "forwarder-fn"}},
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "AlarmStateRule": {"Type": "AWS::Events::Rule", "Properties": {"Name": "prod-alarm-state"}},
        }
    },
)


LB = "app/web/0123abcd"
TG = "targetgroup/web/4567ef01"


def _alarm(namespace: str, metric: str, statistic: str = "Average", **dimensions: Any) -> dict[str, Any]:
    return {
        "AlarmName": "x",
        "Namespace": namespace,
        "MetricName": metric,
        "Statistic": statistic,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }


@pytest.mark.parametrize(
    ("alarm", "problem"),
    [
        (  # the old shape: a replication group's id with node 0002
            _alarm("AWS/ElastiCache", "CPUUtilization", CacheClusterId="sessions", CacheNodeId="0002"),
            "CacheClusterId 'sessions' is a replication group; AWS publishes per member (sessions-001",
        ),
        (
            _alarm("AWS/ElastiCache", "CurrConnections", CacheClusterId="sessions-002", CacheNodeId="0002"),
            "CacheNodeId '0002' is no node of sessions-002 (nodes: 0001)",
        ),
        (
            _alarm("AWS/ElastiCache", "ReplicationLag", CacheClusterId="sessions-001"),
            "ReplicationLag is published by replicas only; sessions-001 is a primary",
        ),
        (
            _alarm("AWS/ElastiCache", "ReplicationLag", CacheClusterId="sessions"),
            "CacheClusterId 'sessions' is a replication group",
        ),
        (
            _alarm("AWS/ElastiCache", "EngineCPUUtilization", CacheClusterId="page-cache"),
            "EngineCPUUtilization is published by Redis OSS / Valkey only; page-cache is memcached",
        ),
        (
            _alarm("AWS/ElastiCache", "Evictions", "Sum", CacheClusterId="sessions-001", ShardId="0001"),
            "AWS/ElastiCache Evictions is published with dimensions {CacheClusterId} | "
            "{CacheClusterId, CacheNodeId}, not {CacheClusterId, ShardId}",
        ),
        (
            _alarm("AWS/RDS", "EngineCPUUtilization", DBInstanceIdentifier="orders-db"),
            "AWS/RDS publishes no metric 'EngineCPUUtilization' (it is in AWS/ElastiCache)",
        ),
        (_alarm("AWS/Kafka", "CPUUtilization"), "namespace 'AWS/Kafka' is not in the metric catalogue"),
        (
            _alarm("AWS/RDS", "CPUUtilization", "Sum", DBInstanceIdentifier="orders-db"),
            "CPUUtilization (Percent) with statistic 'Sum' means nothing",
        ),
        (
            _alarm("AWS/RDS", "CPUUtilization", DBInstanceIdentifier="orders"),
            "DBInstanceIdentifier 'orders' is no RDS instance of the environment",
        ),
        (
            _alarm("AWS/RDS", "ReplicaLag", "Maximum", DBInstanceIdentifier="orders-db"),
            "ReplicaLag is published by read replicas only; orders-db is not one",
        ),
        (
            _alarm("AWS/RDS", "FreeStorageSpace", "Minimum", DBInstanceIdentifier="billing-aurora-1"),
            "FreeStorageSpace is not published by Aurora",
        ),
        (
            _alarm("ECS/ContainerInsights", "RunningTaskCount", ClusterName="web", ServiceName="nope"),
            "ServiceName 'nope' is no service of ECS cluster 'web'",
        ),
        (
            _alarm("AWS/Lambda", "Errors", "Sum", FunctionName={"Ref": "SomeOtherFunction"}),
            "FunctionName {'Ref': 'SomeOtherFunction'} is no function of this template",
        ),
        (
            _alarm("AWS/Lambda", "Url5xxCount", "Sum", Resource="forwarder-fn"),
            "AWS/Lambda Url5xxCount is published with dimensions",
        ),
        (
            _alarm("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq", "Sum", TopicName="dev-critical"),
            "TopicName 'dev-critical' is no topic of the environment",
        ),
        (
            _alarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", QueueName="elsewhere"),
            "QueueName 'elsewhere' is no queue of this template",
        ),
        (
            _alarm("AWS/Events", "FailedInvocations", "Sum", RuleName="someone-elses-rule"),
            "RuleName 'someone-elses-rule' is no EventBridge rule of this template",
        ),
        (  # the load balancer's own 5xx are never per target group
            _alarm("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", LoadBalancer=LB, TargetGroup=TG),
            "HTTPCode_ELB_5XX_Count is published with dimensions {LoadBalancer} | {AvailabilityZone, LoadBalancer}, "
            "not {LoadBalancer, TargetGroup} (the load balancer's own responses have no target group",
        ),
        (
            _alarm("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", TargetGroup=TG),
            "HTTPCode_Target_5XX_Count is published with dimensions",
        ),
        (
            _alarm("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", LoadBalancer=LB),
            "host counts are per target group",
        ),
        (
            _alarm("AWS/ApplicationELB", "RequestCount", "Sum", LoadBalancer=f"arn:aws:elasticloadbalancing:x:{LB}"),
            "LoadBalancer 'arn:aws:elasticloadbalancing:x:app/web/0123abcd' is not what CloudWatch publishes",
        ),
        (
            _alarm("AWS/ApplicationELB", "RequestCount", "Sum", LoadBalancer="net/edge/0123abcd"),
            "LoadBalancer 'net/edge/0123abcd' is not an Application Load Balancer: its metrics are in AWS/NetworkELB",
        ),
        (
            _alarm("AWS/ApiGateway", "5XXError", "Sum", ApiId="a1b2c3", Stage="prod"),
            "an HTTP API (ApiId) publishes 5xx and 4xx instead",
        ),
        (
            _alarm("AWS/ApiGateway", "4xx", "Sum", ApiName="billing", Stage="prod"),
            "a REST API (ApiName) publishes 5XXError and 4XXError instead",
        ),
        (
            _alarm("AWS/ApiGateway", "Count", "Sum", ApiName="billing", ApiId="a1b2c3"),
            "AWS/ApiGateway Count is published with dimensions",
        ),
        (
            {"AlarmName": "x", "Metrics": [{"Id": "e", "Expression": "1"}]},
            "a metric-math alarm that reads no metric",
        ),
        (
            {
                "AlarmName": "x",
                "Metrics": [
                    {"Id": "e", "Expression": "MAX(METRICS())", "ReturnData": True},
                    {
                        "Id": "m1",
                        "ReturnData": False,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/ElastiCache",
                                "MetricName": "ReplicationLag",
                                "Dimensions": [{"Name": "CacheClusterId", "Value": "sessions"}],
                            },
                            "Period": 60,
                            "Stat": "Average",
                        },
                    },
                ],
            },
            "m1: CacheClusterId 'sessions' is a replication group",
        ),
    ],
)
def test_metric_catalogue_refuses_metrics_aws_does_not_publish(alarm: dict[str, Any], problem: str) -> None:
    problems = check_alarm(alarm, CONTEXT)
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("x: ") for p in problems)


@pytest.mark.parametrize(
    "alarm",
    [
        _alarm("AWS/ElastiCache", "ReplicationLag", CacheClusterId="sessions-003"),
        _alarm("AWS/ElastiCache", "CPUUtilization", CacheClusterId="page-cache", CacheNodeId="0002"),
        _alarm("AWS/ElastiCache", "Evictions", "Sum", CacheClusterId="page-cache"),
        _alarm("AWS/RDS", "ReadLatency", "p90", DBInstanceIdentifier="orders-db"),
        _alarm("AWS/RDS", "ReplicaLag", "Maximum", DBInstanceIdentifier="orders-db-replica-1"),
        _alarm("AWS/Lambda", "Errors", "Sum", FunctionName={"Ref": "PagerDutyForwarder"}),
        _alarm("AWS/Lambda", "DestinationDeliveryFailures", "Sum", FunctionName="forwarder-fn"),
        _alarm("AWS/Lambda", "AsyncEventsDropped", "Sum", FunctionName={"Ref": "PagerDutyForwarder"}),
        _alarm("AWS/Lambda", "Url5xxCount", "Sum", FunctionName="forwarder-fn"),
        _alarm("AWS/Lambda", "Url5xxCount", "Sum", FunctionName="forwarder-fn", Resource="forwarder-fn:$LATEST"),
        _alarm("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq", "Sum", TopicName="prod-critical"),
        _alarm("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq", "Sum", TopicName="prod-slack-forwarder-health"),
        _alarm("AWS/Events", "FailedInvocations", "Sum", RuleName="prod-alarm-state"),
        _alarm(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            QueueName={"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]},
        ),
        _alarm("AWS/SQS", "NumberOfMessagesSent", "Sum", QueueName={"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}),
        _alarm("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", LoadBalancer=LB),
        _alarm("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", AvailabilityZone="eu-west-1a", LoadBalancer=LB),
        _alarm("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", LoadBalancer=LB, TargetGroup=TG),
        _alarm("AWS/ApplicationELB", "RequestCount", "Sum", AvailabilityZone="eu-west-1a", LoadBalancer=LB),
        _alarm("AWS/ApplicationELB", "TargetResponseTime", "p99", LoadBalancer=LB, TargetGroup=TG),
        _alarm("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", LoadBalancer=LB, TargetGroup=TG),
        _alarm(
            "AWS/ApplicationELB", "RequestCount", "Sum", LoadBalancer={"Fn::GetAtt": ["Alb", "LoadBalancerFullName"]}
        ),
        _alarm("AWS/ApiGateway", "5XXError", "Sum", ApiName="billing", Stage="prod"),
        _alarm("AWS/ApiGateway", "Count", "Sum", ApiName="billing"),
        _alarm("AWS/ApiGateway", "5xx", "Sum", ApiId="a1b2c3", Stage="$default"),
        _alarm("AWS/ApiGateway", "Count", "Sum", ApiId="a1b2c3", Route="GET /pets", Stage="$default"),
        _alarm("AWS/ApiGateway", "Latency", "p99", ApiId="a1b2c3", Method="GET", Resource="/pets", Stage="$default"),
    ],
)
def test_metric_catalogue_accepts_what_aws_publishes(alarm: dict[str, Any]) -> None:
    assert check_alarm(alarm, CONTEXT) == []


def test_metric_catalogue_every_fact_has_its_aws_page_and_a_known_dimension_set() -> None:
    assert len(CATALOGUE) == len(FACTS)  # no metric twice in a namespace
    for known in FACTS:
        assert known.doc.startswith("https://docs.aws.amazon.com/"), known
        assert known.dimension_sets and known.unit and known.statistics, known
    replication = fact("AWS/ElastiCache", "ReplicationLag")
    assert replication is not None and replication.publishers == "replicas only"


def test_metric_catalogue_check_metric_without_resources_checks_what_aws_publishes_not_whose_it_is() -> None:
    """A config is checked before any template exists: its SLOs may watch a function or a load balancer defined
    elsewhere, so names are not compared with the template's; what AWS publishes and how it writes values are."""
    lambda_errors = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "someone-elses-function"}],
    }
    assert check_metric(lambda_errors, "Sum", CONTEXT, resources=False) == []
    assert check_metric(lambda_errors, "Sum", CONTEXT) == [
        "FunctionName 'someone-elses-function' is no function of this template"
    ]
    arn = {
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "RequestCount",
        "Dimensions": [{"Name": "LoadBalancer", "Value": f"arn:aws:elasticloadbalancing:x:{LB}"}],
    }
    [problem] = check_metric(arn, "Sum", CONTEXT, "bad: ", resources=False)
    assert problem.startswith("bad: LoadBalancer 'arn:aws:") and problem.endswith("app/<name>/<id>")
    assert check_metric({**arn, "Dimensions": []}, "Average", CONTEXT, resources=False) == [
        "AWS/ApplicationELB RequestCount is published with dimensions {LoadBalancer} | {AvailabilityZone, "
        "LoadBalancer} | {LoadBalancer, TargetGroup} | {AvailabilityZone, LoadBalancer, TargetGroup}, not {}"
    ]


def test_metric_catalogue_what_the_load_balancer_answers_itself_has_no_target_group() -> None:
    known = fact("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count")
    assert known is not None and all("TargetGroup" not in s for s in known.dimension_sets)
    for known in FACTS:
        if known.namespace == "AWS/ApplicationELB":
            assert frozenset({"TargetGroup"}) not in known.dimension_sets, known.name


def test_metric_catalogue_rest_and_http_apis_have_their_own_dimensions() -> None:
    rest = {"5XXError", "4XXError"}
    http = {"5xx", "4xx"}
    for known in FACTS:
        if known.namespace != "AWS/ApiGateway":
            continue
        keys = {key for s in known.dimension_sets for key in s}
        if known.name in rest:
            assert "ApiId" not in keys and "ApiName" in keys, known.name
        if known.name in http:
            assert "ApiName" not in keys and "ApiId" in keys, known.name
        assert all(not ({"ApiId", "ApiName"} <= s) for s in known.dimension_sets), known.name
