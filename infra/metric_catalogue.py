"""What AWS publishes, for each namespace the project alarms on, and a checker of synthesized alarms against it.

An alarm on a metric AWS never publishes (a wrong dimension, a replication group's id where a member's belongs, a
metric of another namespace) stays in INSUFFICIENT_DATA or OK forever: silence. The catalogue holds, per metric, the
dimension sets AWS publishes it with, its unit, which nodes publish it and the documentation page that says so;
`check_alarm` compares an `AWS::CloudWatch::Alarm`'s properties (a plain metric or a metric-math `Metrics` list)
with it, and, where the environment's configuration and the template tell, the dimension values too.

Facts only, taken from AWS's pages (each `doc`); what they do not settle is said in `note`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.config import DESTINATIONS, TOPICS, CacheCluster, EnvironmentConfig

Applies = Literal["all", "redis", "memcached", "instance", "aurora", "non-aurora"]
Publishers = Literal[
    "every node",
    "replicas only",
    "every instance",
    "read replicas only",
    "every service",
    "every function",
    "every queue",
    "every topic",
    "every rule",
    "every load balancer",
    "every API",
]

# Statistics that make sense for a level (a gauge) and for a count of events.
GAUGE = frozenset({"Average", "Minimum", "Maximum"})
COUNT = frozenset({"Sum", "Average", "Minimum", "Maximum", "SampleCount"})

_RDS_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html"
_RDS_DIMENSIONS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/dimensions.html"
_AURORA_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html"
_EC_HOST = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.HostLevel.html"
_EC_REDIS = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html"
_EC_MEMCACHED = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Memcached.html"
_ECS_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html"
_CI_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html"
_LAMBDA_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
_LAMBDA_URL_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html"
_SNS_DOC = "https://docs.aws.amazon.com/sns/latest/dg/sns-monitoring-using-cloudwatch.html"
_EVENTS_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html"
_ALB_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html"
_APIGW_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html"
_HTTP_API_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html"
_SQS_DOC = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"
)


@dataclass(frozen=True)
class MetricFact:
    namespace: str
    name: str
    dimension_sets: tuple[frozenset[str], ...]
    unit: str
    publishers: Publishers
    doc: str
    applies_to: Applies = "all"
    statistics: frozenset[str] = GAUGE
    percentiles: bool = False  # p90 and other extended statistics are meaningful
    note: str = ""
    hint: str = ""  # said when the dimensions are wrong: the mistake people make with this metric

    def allows(self, statistic: str) -> bool:
        return statistic in self.statistics or (self.percentiles and _extended(statistic))


def _dims(*sets: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(s) for s in sets)


_RDS_SETS = _dims(("DBInstanceIdentifier",), ("DBClusterIdentifier",), ("DBClusterIdentifier", "Role"),
                  ("DatabaseClass",), ("EngineName",), ())  # fmt: skip
_EC_SETS = _dims(("CacheClusterId",), ("CacheClusterId", "CacheNodeId"))
_LAMBDA_SETS = _dims(
    ("FunctionName",), ("FunctionName", "Resource"), ("FunctionName", "Resource", "ExecutedVersion"), ()
)
_ECS_SETS = _dims(("ClusterName",), ("ClusterName", "ServiceName"))


def _rds(name: str, unit: str, publishers: Publishers = "every instance", **kw: Any) -> MetricFact:
    return MetricFact("AWS/RDS", name, kw.pop("sets", _RDS_SETS), unit, publishers, kw.pop("doc", _RDS_DOC), **kw)


def _ec(name: str, unit: str, doc: str, applies_to: Applies, **kw: Any) -> MetricFact:
    publishers = kw.pop("publishers", "every node")
    return MetricFact("AWS/ElastiCache", name, _EC_SETS, unit, publishers, doc, applies_to, **kw)


def _lambda(name: str, unit: str = "Count", doc: str = _LAMBDA_DOC, **kw: Any) -> MetricFact:
    kw.setdefault("statistics", COUNT)
    return MetricFact("AWS/Lambda", name, _LAMBDA_SETS, unit, "every function", doc, **kw)


def _queue(name: str, unit: str = "Count", **kw: Any) -> MetricFact:
    kw.setdefault("statistics", COUNT)
    return MetricFact("AWS/SQS", name, _dims(("QueueName",)), unit, "every queue", _SQS_DOC, **kw)


def _rule(name: str) -> MetricFact:
    # RuleName alone: a rule of the default event bus; EventBusName and RuleName: a custom bus.
    sets = _dims(("RuleName",), ("EventBusName", "RuleName"))
    return MetricFact("AWS/Events", name, sets, "Count", "every rule", _EVENTS_DOC, statistics=COUNT)


# ALB (the page's per-metric "Dimensions"): what the load balancer answers itself (HTTPCode_ELB_*, rejected
# connections) has no target group: per load balancer, and per load balancer and zone. What targets answer is also per
# target group (always with its load balancer: TargetGroup alone is only RequestCountPerTarget and Lambda errors).
# Host counts are per target group only.
_ALB_BALANCER = _dims(("LoadBalancer",), ("AvailabilityZone", "LoadBalancer"))
_ALB_HOSTS = _dims(("LoadBalancer", "TargetGroup"), ("AvailabilityZone", "LoadBalancer", "TargetGroup"))
_ALB_TARGETS = _ALB_BALANCER + _ALB_HOSTS
# API Gateway: REST APIs by ApiName (5XXError, 4XXError), HTTP APIs by ApiId (5xx, 4xx); Count, Latency and
# IntegrationLatency by either. HTTP APIs' detailed (per route) metrics: the page says {ApiId, Stage, Route}; metrics
# observed in accounts carry {ApiId, Method, Resource, Stage} (the page's earlier wording): both are accepted.
_REST_SETS = _dims(("ApiName",), ("ApiName", "Stage"), ("ApiName", "Method", "Resource", "Stage"))
_HTTP_SETS = _dims(
    ("ApiId",), ("ApiId", "Stage"), ("ApiId", "Route", "Stage"), ("ApiId", "Method", "Resource", "Stage")
)
_ELB_HINT = "the load balancer's own responses have no target group: LoadBalancer, with or without AvailabilityZone"
_REST_HINT = "a REST API's metric, by ApiName; an HTTP API (ApiId) publishes 5xx and 4xx instead"
_HTTP_HINT = "an HTTP API's metric, by ApiId; a REST API (ApiName) publishes 5XXError and 4XXError instead"


def _alb(name: str, sets: tuple[frozenset[str], ...], unit: str = "Count", **kw: Any) -> MetricFact:
    kw.setdefault("statistics", COUNT)
    return MetricFact("AWS/ApplicationELB", name, sets, unit, "every load balancer", _ALB_DOC, **kw)


def _api(
    name: str, sets: tuple[frozenset[str], ...], unit: str = "Count", doc: str = _APIGW_DOC, **kw: Any
) -> MetricFact:
    kw.setdefault("statistics", COUNT)
    return MetricFact("AWS/ApiGateway", name, sets, unit, "every API", doc, **kw)


def _topic(name: str, unit: str = "Count", **kw: Any) -> MetricFact:
    kw.setdefault("statistics", COUNT)
    return MetricFact("AWS/SNS", name, _dims(("TopicName",)), unit, "every topic", _SNS_DOC, **kw)


FACTS: tuple[MetricFact, ...] = (
    # --- AWS/RDS: instances (RDS and Aurora); Aurora-only and non-Aurora metrics say so.
    _rds("CPUUtilization", "Percent"),
    _rds("DatabaseConnections", "Count"),
    _rds("FreeableMemory", "Bytes"),
    _rds("FreeStorageSpace", "Bytes", applies_to="non-aurora",
         note="Aurora storage grows by itself; Aurora instances report FreeLocalStorage"),
    _rds("ReadLatency", "Seconds", percentiles=True),
    _rds("WriteLatency", "Seconds", percentiles=True),
    _rds("ReplicaLag", "Seconds", "read replicas only", applies_to="non-aurora",
         note="-1 when replication is not active; Aurora replicas report AuroraReplicaLag"),
    _rds("FreeLocalStorage", "Bytes", applies_to="aurora", doc=_AURORA_DOC),
    _rds("AuroraReplicaLag", "Milliseconds", "read replicas only", applies_to="aurora", doc=_AURORA_DOC),
    _rds("EBSByteBalance%", "Percent", applies_to="non-aurora"),
    _rds("EBSIOBalance%", "Percent", applies_to="non-aurora"),
    # --- AWS/ElastiCache: host level (every engine), Redis OSS / Valkey, Memcached. Every metric is per node: a
    # replication group's member cluster (one node, 0001) or a Memcached node; per cluster as the aggregate.
    _ec("CPUUtilization", "Percent", _EC_HOST, "all"),
    _ec("FreeableMemory", "Bytes", _EC_HOST, "all"),
    _ec("SwapUsage", "Bytes", _EC_HOST, "all"),
    _ec("CurrConnections", "Count", _EC_REDIS, "all"),
    _ec("Evictions", "Count", _EC_REDIS, "all", statistics=COUNT),
    _ec("EngineCPUUtilization", "Percent", _EC_REDIS, "redis"),
    _ec("DatabaseMemoryUsagePercentage", "Percent", _EC_REDIS, "redis"),
    _ec("ReplicationLag", "Seconds", _EC_REDIS, "redis", publishers="replicas only",
        note="a primary publishes none: alarm replicas, expect roles to swap on failover"),
    _ec("CacheHits", "Count", _EC_REDIS, "all", statistics=COUNT),
    _ec("CacheMisses", "Count", _EC_REDIS, "all", statistics=COUNT),
    # --- AWS/ECS (service utilization) and ECS/ContainerInsights.
    MetricFact("AWS/ECS", "CPUUtilization", _ECS_SETS, "Percent", "every service", _ECS_DOC),
    MetricFact("AWS/ECS", "MemoryUtilization", _ECS_SETS, "Percent", "every service", _ECS_DOC),
    MetricFact("AWS/ECS", "CPUReservation", _dims(("ClusterName",)), "Percent", "every service", _ECS_DOC),
    MetricFact("AWS/ECS", "MemoryReservation", _dims(("ClusterName",)), "Percent", "every service", _ECS_DOC),
    MetricFact("ECS/ContainerInsights", "RunningTaskCount", _dims(("ClusterName", "ServiceName")), "Count",
               "every service", _CI_DOC, note="published only while Container Insights is on and a task runs"),
    MetricFact("ECS/ContainerInsights", "DesiredTaskCount", _dims(("ClusterName", "ServiceName")), "Count",
               "every service", _CI_DOC),
    # --- AWS/Lambda: invocation, asynchronous invocation, concurrency and function URL metrics.
    _lambda("Invocations"),
    _lambda("Errors"),
    _lambda("Throttles"),
    _lambda("DeadLetterErrors"),
    _lambda("DestinationDeliveryFailures"),
    _lambda("AsyncEventsReceived"),
    _lambda("AsyncEventsDropped"),
    _lambda("AsyncEventAge", "Milliseconds", statistics=GAUGE, percentiles=True),
    _lambda("Duration", "Milliseconds", statistics=GAUGE, percentiles=True),
    _lambda("ConcurrentExecutions", statistics=GAUGE),
    _lambda("UrlRequestCount", doc=_LAMBDA_URL_DOC),
    _lambda("Url4xxCount", doc=_LAMBDA_URL_DOC),
    _lambda("Url5xxCount", doc=_LAMBDA_URL_DOC),
    _lambda("UrlRequestLatency", "Milliseconds", doc=_LAMBDA_URL_DOC, statistics=GAUGE, percentiles=True),
    # --- AWS/SNS (topic metrics).
    _topic("NumberOfMessagesPublished"),
    _topic("NumberOfNotificationsDelivered"),
    _topic("NumberOfNotificationsFailed"),
    _topic("NumberOfNotificationsRedrivenToDlq"),
    _topic("NumberOfNotificationsFailedToRedriveToDlq"),
    _topic("PublishSize", "Bytes", statistics=GAUGE),
    # --- AWS/Events (rules; FailedInvocations and Invocations are sent only when not zero).
    _rule("Invocations"),
    _rule("FailedInvocations"),
    _rule("DeadLetterInvocations"),
    _rule("InvocationsFailedToBeSentToDlq"),
    _rule("InvocationsSentToDlq"),
    # --- AWS/ApplicationELB and AWS/ApiGateway: the SLIs of SLOs (requests, errors, latency).
    _alb("RequestCount", _ALB_TARGETS, note="requests a target was chosen for: not those the load balancer answers"),
    _alb("HTTPCode_Target_5XX_Count", _ALB_TARGETS, note="published only when not zero"),
    _alb("HTTPCode_ELB_5XX_Count", _ALB_BALANCER, note="published only when not zero", hint=_ELB_HINT),
    _alb("HTTPCode_Target_4XX_Count", _ALB_TARGETS, note="published only when not zero"),
    _alb("TargetResponseTime", _ALB_TARGETS, "Seconds", statistics=GAUGE | {"SampleCount"}, percentiles=True),
    _alb("HealthyHostCount", _ALB_HOSTS, statistics=GAUGE, hint="host counts are per target group"),
    _alb("UnHealthyHostCount", _ALB_HOSTS, statistics=GAUGE, hint="host counts are per target group"),
    _api("Count", _REST_SETS + _HTTP_SETS),
    _api("5XXError", _REST_SETS, hint=_REST_HINT),
    _api("4XXError", _REST_SETS, hint=_REST_HINT),
    _api("5xx", _HTTP_SETS, doc=_HTTP_API_DOC, hint=_HTTP_HINT),
    _api("4xx", _HTTP_SETS, doc=_HTTP_API_DOC, hint=_HTTP_HINT),
    _api("Latency", _REST_SETS + _HTTP_SETS, "Milliseconds", statistics=GAUGE | {"SampleCount"}, percentiles=True),
    _api("IntegrationLatency", _REST_SETS + _HTTP_SETS, "Milliseconds", statistics=GAUGE | {"SampleCount"},
         percentiles=True),
    # --- AWS/SQS.
    _queue("ApproximateNumberOfMessagesVisible", statistics=GAUGE),
    _queue("ApproximateNumberOfMessagesNotVisible", statistics=GAUGE),
    _queue("ApproximateAgeOfOldestMessage", "Seconds", statistics=GAUGE),
    _queue("NumberOfMessagesSent"),
    _queue("NumberOfMessagesReceived"),
    _queue("NumberOfMessagesDeleted"),
)  # fmt: skip

CATALOGUE: dict[tuple[str, str], MetricFact] = {(f.namespace, f.name): f for f in FACTS}
NAMESPACES = frozenset(f.namespace for f in FACTS)


def fact(namespace: str, name: str) -> MetricFact | None:
    return CATALOGUE.get((namespace, name))


@dataclass(frozen=True)
class CheckContext:
    """What dimension values may name: the environment's configured resources, and the template's own ones
    (by name, or by logical id when the value is a `Ref` / `Fn::GetAtt`)."""

    config: EnvironmentConfig
    functions: frozenset[str] = field(default_factory=frozenset)
    queues: frozenset[str] = field(default_factory=frozenset)
    topics: frozenset[str] = field(default_factory=frozenset)
    rules: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_template(cls, config: EnvironmentConfig, template: Mapping[str, Any]) -> CheckContext:
        keys = {
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Events::Rule": "Name",
        }
        names: dict[str, set[str]] = {kind: set() for kind in keys}
        for logical_id, resource in template.get("Resources", {}).items():
            kind = resource.get("Type")
            if kind in names:
                names[kind].add(logical_id)
                literal = resource.get("Properties", {}).get(keys[kind])
                if isinstance(literal, str):
                    names[kind].add(literal)
        topics = {config.topic_name(t) for t in TOPICS} | {config.health_topic_name(d) for d in DESTINATIONS}
        return cls(
            config=config,
            functions=frozenset(names["AWS::Lambda::Function"]),
            queues=frozenset(names["AWS::SQS::Queue"]),
            topics=frozenset(names["AWS::SNS::Topic"] | topics),
            rules=frozenset(names["AWS::Events::Rule"]),
        )


def check_alarm(alarm: Mapping[str, Any], context: CheckContext) -> list[str]:
    """The problems of one `AWS::CloudWatch::Alarm` (its `Properties`) against the catalogue; empty when fine."""
    name = alarm.get("AlarmName")
    label = name if isinstance(name, str) else "alarm"
    problems: list[str] = []
    if "Metrics" in alarm:
        stats = [q for q in alarm["Metrics"] if "MetricStat" in q]
        if not stats:
            problems.append("a metric-math alarm that reads no metric")
        for query in stats:
            stat = query["MetricStat"]
            metric = stat.get("Metric", {})
            problems += check_metric(metric, stat.get("Stat", ""), context, f"{query.get('Id', '?')}: ")
    else:
        statistic = alarm.get("Statistic") or alarm.get("ExtendedStatistic") or ""
        problems += check_metric(alarm, statistic, context, "")
    return [f"{label}: {p}" for p in problems]


def check_metric(
    metric: Mapping[str, Any], statistic: str, context: CheckContext, where: str = "", *, resources: bool = True
) -> list[str]:
    """The problems of one metric (`Namespace`, `MetricName`, `Dimensions` as CloudWatch spells them) read with
    `statistic`: a metric or dimension set AWS never publishes, a statistic that means nothing for it, a dimension
    value in a form AWS never uses (an ALB's ARN). With `resources`, dimension values must also name the
    environment's and the template's own resources (`context`); without it (a config checked before any template
    exists, whose SLOs may watch resources defined elsewhere) they are not compared."""
    namespace, name = metric.get("Namespace", ""), metric.get("MetricName", "")
    known = fact(namespace, name)
    if known is None and namespace not in NAMESPACES and not namespace.startswith("AWS/"):
        return []  # a team's own metric (an SLO's custom SLI): only its publisher knows it
    if known is None:
        if namespace not in NAMESPACES:
            return [f"{where}namespace {namespace!r} is not in the metric catalogue"]
        elsewhere = sorted(f.namespace for f in FACTS if f.name == name)
        hint = f" (it is in {', '.join(elsewhere)})" if elsewhere else ""
        return [f"{where}{namespace} publishes no metric {name!r}{hint}"]
    dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    problems: list[str] = []
    if frozenset(dimensions) not in known.dimension_sets:
        shown = " | ".join("{" + ", ".join(sorted(s)) + "}" for s in known.dimension_sets)
        hint = f" ({known.hint})" if known.hint else ""
        problems.append(
            f"{where}{namespace} {name} is published with dimensions {shown}, "
            f"not {{{', '.join(sorted(dimensions))}}}{hint}"
        )
    if statistic and not known.allows(statistic):
        allowed = ", ".join(sorted(known.statistics)) + (" or a percentile" if known.percentiles else "")
        problems.append(f"{where}{name} ({known.unit}) with statistic {statistic!r} means nothing; use {allowed}")
    problems += [where + p for p in _check_forms(known, dimensions)]
    if resources:
        problems += [where + p for p in _check_values(known, dimensions, context)]
    return problems


# How AWS writes an ALB's dimension values: the last part of the ARN, never the ARN.
_ALB_FORMS = {
    "LoadBalancer": (re.compile(r"^(app|net|gwy)/[^/\s]{1,32}/[0-9a-f]{1,32}$"), "app/<name>/<id>", "load balancer"),
    "TargetGroup": (
        re.compile(r"^targetgroup/[^/\s]{1,32}/[0-9a-f]{1,32}$"),
        "targetgroup/<name>/<id>",
        "target group",
    ),
}


def _check_forms(known: MetricFact, dims: Mapping[str, Any]) -> Iterator[str]:
    """Dimension values in a form AWS never publishes (literal strings only: a `Ref` is the template's business)."""
    if known.namespace != "AWS/ApplicationELB":
        return
    for key, (form, shape, what) in _ALB_FORMS.items():
        value = dims.get(key)
        if isinstance(value, str) and not form.match(value):
            yield (
                f"{key} {value[:80]!r} is not what CloudWatch publishes; it is the last part of the {what}'s ARN, "
                f"{shape}"
            )
        elif isinstance(value, str) and key == "LoadBalancer" and not value.startswith("app/"):
            other = "AWS/NetworkELB" if value.startswith("net/") else "AWS/GatewayELB"
            yield f"LoadBalancer {value[:80]!r} is not an Application Load Balancer: its metrics are in {other}"


def _check_values(known: MetricFact, dims: Mapping[str, Any], context: CheckContext) -> Iterator[str]:
    config = context.config
    if known.namespace == "AWS/RDS" and "DBInstanceIdentifier" in dims:
        yield from _check_rds(known, dims["DBInstanceIdentifier"], config)
    elif known.namespace == "AWS/ElastiCache" and "CacheClusterId" in dims:
        yield from _check_cache(known, dims, config)
    elif known.namespace in ("AWS/ECS", "ECS/ContainerInsights") and "ClusterName" in dims:
        clusters = {s.cluster for s in config.ecs}
        services = {(s.cluster, s.service) for s in config.ecs}
        if dims["ClusterName"] not in clusters:
            yield f"ClusterName {dims['ClusterName']!r} is no ECS cluster of the environment"
        elif "ServiceName" in dims and (dims["ClusterName"], dims["ServiceName"]) not in services:
            yield f"ServiceName {dims['ServiceName']!r} is no service of ECS cluster {dims['ClusterName']!r}"
    elif known.namespace == "AWS/Lambda":
        if "FunctionName" in dims and not _names(dims["FunctionName"], context.functions):
            yield f"FunctionName {_show(dims['FunctionName'])} is no function of this template"
        if "Resource" in dims and not _names(dims["Resource"], context.functions, qualified=True):
            yield f"Resource {_show(dims['Resource'])} is no function (or function:qualifier) of this template"
    elif known.namespace == "AWS/SNS" and "TopicName" in dims:
        if not _names(dims["TopicName"], context.topics):
            yield f"TopicName {_show(dims['TopicName'])} is no topic of the environment"
    elif known.namespace == "AWS/Events" and "RuleName" in dims and not _names(dims["RuleName"], context.rules):
        yield f"RuleName {_show(dims['RuleName'])} is no EventBridge rule of this template"
    elif known.namespace == "AWS/SQS" and "QueueName" in dims and not _names(dims["QueueName"], context.queues):
        yield f"QueueName {_show(dims['QueueName'])} is no queue of this template"


def _check_rds(known: MetricFact, instance: Any, config: EnvironmentConfig) -> Iterator[str]:
    db = next((r for r in config.rds if r.id == instance), None)
    if db is None:
        yield f"DBInstanceIdentifier {_show(instance)} is no RDS instance of the environment"
        return
    if known.applies_to == "aurora" and not db.aurora:
        yield f"{known.name} is published by Aurora only; {db.id} is {db.engine}"
    if known.applies_to == "non-aurora" and db.aurora:
        yield f"{known.name} is not published by Aurora; {db.id} is {db.engine}"
    if known.publishers == "read replicas only" and not db.replica:
        yield f"{known.name} is published by read replicas only; {db.id} is not one"


def _check_cache(known: MetricFact, dims: Mapping[str, Any], config: EnvironmentConfig) -> Iterator[str]:
    cluster_id, node_id = dims["CacheClusterId"], dims.get("CacheNodeId")
    found = _cache_member(config.elasticache, cluster_id)
    if found is None:
        group = next((c for c in config.elasticache if c.id == cluster_id and c.redis), None)
        if group is not None:
            yield (
                f"CacheClusterId {cluster_id!r} is a replication group; AWS publishes per member "
                f"({', '.join(group.cache_cluster_ids[:3])}{', …' if len(group.cache_cluster_ids) > 3 else ''})"
            )
        else:
            yield f"CacheClusterId {_show(cluster_id)} is no ElastiCache cluster or member of the environment"
        return
    cache, members = found
    if known.applies_to == "redis" and not cache.redis:
        yield f"{known.name} is published by Redis OSS / Valkey only; {cache.id} is {cache.engine}"
    if node_id is not None and node_id not in {m.node_id for m in members}:
        nodes = ", ".join(sorted({m.node_id for m in members}))
        yield f"CacheNodeId {_show(node_id)} is no node of {cluster_id} (nodes: {nodes})"
    if known.publishers == "replicas only" and not any(m.role == "replica" for m in members):
        role = members[0].role if cache.redis else "Memcached node"
        yield f"{known.name} is published by replicas only; {cluster_id} is a {role}"


def _cache_member(caches: list[CacheCluster], cluster_id: Any) -> tuple[CacheCluster, list[Any]] | None:
    for cache in caches:
        members = [m for m in cache.members if m.cluster_id == cluster_id]
        if members:
            return cache, members
    return None


def _names(value: Any, known: frozenset[str], *, qualified: bool = False) -> bool:
    """A literal name (or `name:qualifier`) in `known`, or intrinsics that refer only to resources in `known`."""
    if isinstance(value, str):
        return value in known or (qualified and value.split(":", 1)[0] in known)
    refs = list(_references(value))
    return bool(refs) and all(r in known for r in refs)


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                yield str(target)
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _extended(statistic: str) -> bool:
    head = statistic.rstrip("0123456789.()%:,")
    return head.lower() in ("p", "tm", "wm", "tc", "ts", "pr", "iqm") and statistic != head
