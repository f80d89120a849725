"""The environment's dashboard `<env>-alerting`: per SLO, attainment over its period, error budget remaining, burn
rate per window and its alarms; then the pipeline's own health (alerts received, delivered, failed, refused, the
dead-letter queues' depth, how long alerts wait before delivery, the PagerDuty forwarder's second looks at suppressed
composites, and what degraded a message that still went: threads, parents, graphs, SLO numbers, unchecked clicks).

Metrics as they are published:
- the forwarders' own (`functions/alertlib/observability.py`): namespace `AlertForwarding` (the stack sets
  `POWERTOOLS_METRICS_NAMESPACE`), dimensions `service` (`<env>-<destination>-forwarder`, Powertools' default
  dimension from `POWERTOOLS_SERVICE_NAME`), `source` and `destination`; summed over sources with `SEARCH`;
- SQS `ApproximateNumberOfMessagesVisible` / `ApproximateAgeOfOldestMessage` / `NumberOfMessagesSent` (`QueueName`);
- Lambda `Duration` (`FunctionName`).
The queues and functions are named by the project (`infra/constructs/forwarders.py`, `alerting_core.py`), so this
stack names them without importing anything from the alerting stack.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.constructs.slo_alarms import PairAlarms, plan_pairs, ratio_expression
from infra.slo import SloDefinition, duration

FORWARDER_NAMESPACE = "AlertForwarding"
FORWARDER_DIMENSIONS = ("destination", "service", "source")
FORWARDER_OUTCOMES = (
    ("AlertsReceived", "received"),
    ("AlertsDelivered", "delivered"),
    ("DeliveryFailed", "failed"),
    ("PayloadRejected", "refused"),
)
# The PagerDuty forwarder's second looks at suppressed composite alarms (alertlib.recheck).
RECHECK_OUTCOMES = (
    ("RechecksScheduled", "looked at again later"),
    ("RechecksForwarded", "suppression ended: paged"),
    ("RecheckFailed", "could no longer look (a page may be lost)"),
)
# What degraded a message that went (alertlib.slack_app, graph, slo_burn): (metric, label, the forwarders counting).
DEGRADED_OUTCOMES = (
    ("ThreadStoreFailed", "thread table failed (posted unthreaded)", ("slack",)),
    ("ThreadParentLost", "parent gone (posted a new one)", ("slack",)),
    ("ParentUpdateFailed", "parent not edited", ("slack",)),
    ("GraphFailed", "no graph", ("slack",)),
    ("SloQueryFailed", "no SLO numbers", ("pagerduty", "slack")),
)
FIVE_MINUTES = Duration.minutes(5)


def dashboard_name(env_name: str) -> str:
    return f"{env_name}-alerting"


def dashboard_url(env_name: str, region: str, partition: str = "aws") -> str:
    host = "console.amazonaws.cn" if partition == "aws-cn" else "console.aws.amazon.com"
    if partition == "aws-us-gov":
        host = "console.amazonaws-us-gov.com"
    return f"https://{region}.{host}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard_name(env_name)}"


def error_ratio(slo: SloDefinition, prefix: str, period: Duration) -> tuple[str, dict[str, cloudwatch.IMetric]]:
    """The SLO's error ratio as metric math over ids prefixed `prefix` (ids are unique within a widget): the
    alarms' expression (`slo_alarms.ratio_expression`), with its metrics."""
    math = slo.cloudwatch_error_ratio()
    expression = ratio_expression(slo, prefix)  # the alarms' own expression
    metrics: dict[str, cloudwatch.IMetric] = {
        f"{prefix}{metric_id}": cloudwatch.Metric(
            namespace=stat.namespace,
            metric_name=stat.metric,
            dimensions_map=dict(sorted(stat.dimensions.items())),
            statistic=stat.statistic,
            period=period,
        )
        for metric_id, stat in math.metrics.items()
    }
    return expression, metrics


def slo_rows(scope: Construct, env_name: str, slo: SloDefinition, alarm_arn: str) -> list[list[cloudwatch.IWidget]]:
    """One row per SLO: attainment and budget left over the period, burn rate now per window, the pairs' alarms."""
    budget = slo.error_budget
    # Single values take their whole time range (setPeriodToTimeRange): the metrics' own period does not matter.
    ratio, metrics = error_ratio(slo, "p_", FIVE_MINUTES)
    header = cloudwatch.TextWidget(
        markdown=f"## SLO {slo.name}\n{slo.service}, team {slo.team}: objective {slo.objective:g}% over "
        f"{slo.period_days} days (error budget {budget:.4%}). [Runbook]({slo.runbook_url})",
        width=24,
        height=2,
    )
    over_period = f"-P{slo.period_days}D"
    attainment = cloudwatch.SingleValueWidget(
        title=f"{slo.name}: attainment, last {slo.period_days} days (%)",
        metrics=[
            cloudwatch.MathExpression(expression=f"100 * (1 - {ratio})", using_metrics=metrics, label="attainment")
        ],
        start=over_period,
        set_period_to_time_range=True,
        full_precision=True,
        width=6,
        height=4,
    )
    remaining = cloudwatch.SingleValueWidget(
        title=f"{slo.name}: error budget remaining, last {slo.period_days} days (%)",
        metrics=[
            cloudwatch.MathExpression(
                expression=f"100 * (1 - ({ratio}) / {budget!r})", using_metrics=metrics, label="budget remaining"
            )
        ],
        start=over_period,
        set_period_to_time_range=True,
        width=6,
        height=4,
    )
    spans = sorted({w for pair in slo.alert_windows for w in (pair.long_minutes, pair.short_minutes)})
    burn_now: list[cloudwatch.IWidget] = []
    for span in spans:
        expression, used = error_ratio(slo, f"w{span}_", FIVE_MINUTES)
        burn_now.append(
            cloudwatch.SingleValueWidget(
                title=f"{slo.name}: burn rate over the last {duration(span)}",
                metrics=[
                    cloudwatch.MathExpression(
                        expression=f"({expression}) / {budget!r}", using_metrics=used, label=f"burn {duration(span)}"
                    )
                ],
                start=f"-PT{span}M",
                set_period_to_time_range=True,
                width=3,
                height=4,
            )
        )
    graph_ratio, graph_metrics = error_ratio(slo, "g_", FIVE_MINUTES)
    burn_graph = cloudwatch.GraphWidget(
        title=f"{slo.name}: burn rate (5-minute periods); lines: each pair's threshold",
        left=[
            cloudwatch.MathExpression(
                expression=f"({graph_ratio}) / {budget!r}", using_metrics=graph_metrics, label="burn rate"
            )
        ],
        left_annotations=[
            cloudwatch.HorizontalAnnotation(value=pair.burn_rate, label=f"{pair.label} {pair.action}")
            for pair in slo.alert_windows
        ],
        width=12,
        height=6,
    )
    pairs: list[PairAlarms] = plan_pairs(env_name, slo)
    alarms = cloudwatch.AlarmStatusWidget(
        title=f"{slo.name}: burn-rate alarms (the composites notify)",
        alarms=[
            cloudwatch.Alarm.from_alarm_arn(scope, f"{pair.composite}-ref", f"{alarm_arn}{pair.composite}")
            for pair in pairs
        ],
        width=12,
        height=6,
    )
    return [[header], [attainment, remaining], burn_now, [burn_graph, alarms]]


def pipeline_rows(env_name: str, destinations: list[str], *, endpoint: bool = True) -> list[list[cloudwatch.IWidget]]:
    """The pipeline's own health: outcomes per forwarder, dead letters, and how long alerts wait."""
    header = cloudwatch.TextWidget(
        markdown=f"## The alerting pipeline ({env_name})\nOutcomes the forwarders count (namespace "
        f"`{FORWARDER_NAMESPACE}`), dead letters, and how long alerts wait before delivery.",
        width=24,
        height=2,
    )
    widgets: list[cloudwatch.IWidget] = []
    for destination in destinations:
        service = f"{env_name}-{destination}-forwarder"
        lines = [forwarder_sum(metric, service, label) for metric, label in FORWARDER_OUTCOMES]
        widgets.append(
            cloudwatch.GraphWidget(
                title=f"Alerts through the {destination} forwarder (per 5 minutes)",
                left=lines,
                width=12,
                height=6,
            )
        )
    if "pagerduty" in destinations:
        service = f"{env_name}-pagerduty-forwarder"
        widgets.append(
            cloudwatch.GraphWidget(
                title="Suppressed composite alarms looked at again by the PagerDuty forwarder (per 5 minutes)",
                left=[forwarder_sum(metric, service, label) for metric, label in RECHECK_OUTCOMES],
                width=12,
                height=6,
            )
        )
    degraded = [
        forwarder_sum(metric, f"{env_name}-{d}-forwarder", f"{d}: {label}" if len(counting) > 1 else label)
        for metric, label, counting in DEGRADED_OUTCOMES
        for d in counting
        if d in destinations
    ]
    # The Slack endpoint's count (alertlib.function_url.answer: dimension `service` only); empty without on-call.
    unchecked = (
        f'SEARCH(\'{{{FORWARDER_NAMESPACE},service}} MetricName="ActionUnchecked" '
        f"service=\"{env_name}-slack-interactions\"', 'Sum', 300)"
    )
    degraded.append(
        cloudwatch.MathExpression(
            expression=f"SUM({unchecked})", using_metrics={}, label="clicks refused unchecked", period=FIVE_MINUTES
        )
    )
    widgets.append(
        cloudwatch.GraphWidget(
            title="Delivered, but degraded: threads, parents, graphs, SLO numbers, clicks (per 5 minutes)",
            left=degraded,
            width=12,
            height=6,
        )
    )
    queues = [f"{env_name}-alerting-dlq"] + [f"{env_name}-{d}-forwarder-dlq" for d in destinations]
    widgets.append(
        cloudwatch.GraphWidget(
            title="Dead-letter queues: alerts waiting for a person (redrive: python -m tools.redrive)",
            left=[
                cloudwatch.Metric(
                    namespace="AWS/SQS",
                    metric_name="ApproximateNumberOfMessagesVisible",
                    dimensions_map={"QueueName": queue},
                    statistic="Maximum",
                    period=FIVE_MINUTES,
                    label=queue,
                )
                for queue in queues
            ]
            + [
                cloudwatch.Metric(
                    namespace="AWS/SQS",
                    metric_name="NumberOfMessagesSent",
                    dimensions_map={"QueueName": f"{env_name}-alerting-rejected"},
                    statistic="Sum",
                    period=FIVE_MINUTES,
                    label="refused payloads kept (rejected queue)",
                )
            ],
            width=12,
            height=6,
        )
    )
    widgets.append(
        cloudwatch.GraphWidget(
            title="Delivery latency: oldest alert waiting in each forwarder's queue (s), forwarder p99 duration (ms)",
            left=[
                cloudwatch.Metric(
                    namespace="AWS/SQS",
                    metric_name="ApproximateAgeOfOldestMessage",
                    dimensions_map={"QueueName": f"{env_name}-{d}-forwarder-queue"},
                    statistic="Maximum",
                    period=FIVE_MINUTES,
                    label=f"{d}: oldest waiting (s)",
                )
                for d in destinations
            ],
            right=[
                cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name="Duration",
                    dimensions_map={"FunctionName": f"{env_name}-{d}-forwarder"},
                    statistic="p99",
                    period=FIVE_MINUTES,
                    label=f"{d}: p99 duration (ms)",
                )
                for d in destinations
            ],
            left_annotations=[cloudwatch.HorizontalAnnotation(value=300, label="queue-age alarm (300 s)")],
            width=12,
            height=6,
        )
    )
    if endpoint:
        widgets.append(
            cloudwatch.GraphWidget(
                title="Alertmanager endpoint: requests and refusals",
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/Lambda",
                        metric_name=metric,
                        dimensions_map={"FunctionName": f"{env_name}-alertmanager-endpoint"},
                        statistic="Sum",
                        period=FIVE_MINUTES,
                        label=label,
                    )
                    for metric, label in (
                        ("UrlRequestCount", "requests"),
                        ("Url4xxCount", "refused (4xx)"),
                        ("Url5xxCount", "failed (5xx)"),
                    )
                ],
                width=12,
                height=6,
            )
        )
    return [[header], widgets]


def forwarder_sum(metric: str, service: str, label: str) -> cloudwatch.MathExpression:
    """One forwarder's count of `metric`, summed over the sources it is published with (`SEARCH`)."""
    search = (
        f'SEARCH(\'{{{FORWARDER_NAMESPACE},{",".join(FORWARDER_DIMENSIONS)}}} MetricName="{metric}" '
        f"service=\"{service}\"', 'Sum', 300)"
    )
    return cloudwatch.MathExpression(expression=f"SUM({search})", using_metrics={}, label=label, period=FIVE_MINUTES)


class AlertingDashboard(Construct):
    """`<env>-alerting`: the SLO rows first (what customers feel), then the pipeline."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        dashboard_name: str,
        slos: list[SloDefinition],
        destinations: list[str],
        pipeline: bool,
        alarm_arn_prefix: str,
    ) -> None:
        """`alarm_arn_prefix`: `arn:<partition>:cloudwatch:<region>:<account>:alarm:`."""
        super().__init__(scope, construct_id)
        rows: list[list[cloudwatch.IWidget]] = []
        for slo in slos:
            rows.extend(slo_rows(self, env_name, slo, alarm_arn_prefix))
        if pipeline:
            rows.extend(pipeline_rows(env_name, destinations))
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.hours(24),
            widgets=rows,
        )
        # cfn-lint's us-east-1 schema of AWS::CloudWatch::Dashboard has no Tags (eu-west-1's has): a dashboard costs
        # nothing to tag for, and a deploy must not hang on a property a region may not know.
        cfn = self.dashboard.node.default_child
        assert isinstance(cfn, cloudwatch.CfnDashboard)
        cfn.add_property_deletion_override("Tags")
