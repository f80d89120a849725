"""Alarms on the pipeline itself, routed so that a broken forwarder is never reported only through itself.

Metrics, dimensions and statistics as AWS documents them:
- Lambda: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html (Errors, Throttles;
  FunctionName; Sum)
- function URLs: https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html (Url5xxCount; FunctionName; Sum)
- SNS: https://docs.aws.amazon.com/sns/latest/dg/sns-monitoring-using-cloudwatch.html
  (NumberOfNotificationsFailedToRedriveToDlq; TopicName; Sum)
- EventBridge: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html (FailedInvocations;
  RuleName, the default bus; Sum; sent only when not zero)
- SQS: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
  (ApproximateAgeOfOldestMessage, ApproximateNumberOfMessagesVisible; QueueName; Maximum)
- the forwarders' own counts (`functions/alertlib/observability.py` `Counters`: one EMF document per source):
  namespace AlertForwarding, dimensions `service` (the function's name, POWERTOOLS_SERVICE_NAME), `source` and
  `destination`; an alarm cannot SEARCH, so each reads one metric per source, summed by metric math. The on-call
  endpoints' (`alertlib.function_url.answer`): dimension `service` only.

What each new failure count does (the one unforgivable failure is silence):
- `RecheckFailed` (PagerDuty forwarder: a suppressed composite could no longer be looked at; a page may be lost)
  pages, through both health topics;
- `ThreadStoreFailed`, `ParentUpdateFailed` (the Slack message went, its thread or parent did not) and
  `ActionUnchecked` (a click refused: a Slack user group could not be read) open a ticket (`ticket_topic`);
- `GraphFailed`, `SloQueryFailed` (an extra missing from a message that went; a time-out now and then is expected)
  open a ticket only when persistent (`PERSISTENT` in an hour);
- `ThreadParentLost` (someone deleted a parent; the forwarder posted a new one), `RechecksScheduled`,
  `RechecksForwarded`: the dashboard only.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.forwarders import MAX_RECEIVE_COUNT, Forwarder

MINUTE = Duration.minutes(1)
QUEUE_AGE_SECONDS = 300  # an alert that waited 5 minutes is late enough to page about
AT_LEAST_ONE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
FIVE_MINUTES = Duration.minutes(5)
HOUR = Duration.hours(1)
PERSISTENT = 3  # graphs or SLO numbers missing from 3 messages in an hour: not one slow answer
FORWARDER_NAMESPACE = "AlertForwarding"
# alertlib.models.Source's values (tests/infra/test_self_monitoring_metrics.py proves the pair): the `source`
# dimension of every count below; "unknown" is only ever counted for payloads that were not read.
SOURCES = ("cloudwatch", "eventbridge", "cloudwatch-lambda", "alertmanager")


class SelfMonitoring(Construct):
    """Each forwarder's failures go to its health topic, which the *other* forwarder and e-mail read; failures of
    what both depend on (the dead-letter queue, the endpoint, SNS redrives, EventBridge rules) go to both."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        forwarders: dict[str, Forwarder],
        health_topics: dict[str, sns.ITopic],
        dead_letter_queue: sqs.IQueue,
        rejected_queue: sqs.IQueue,
        runbook_base_url: str,
        endpoint: lambda_.IFunction | None = None,
        redrive_topics: dict[str, sns.ITopic] | None = None,
        rule_names: dict[str, str] | None = None,
        auditor: lambda_.IFunction | None = None,
        ticket_topic: sns.ITopic | None = None,
        threads: bool = False,
        oncall_slack_service: str | None = None,
    ) -> None:
        """`redrive_topics`: topic key -> topic, for every topic with a subscription that has a redrive policy;
        `rule_names`: topic key -> this project's EventBridge rule publishing to it; `ticket_topic`: where what
        degrades a message that still went is said (a ticket, not a page); `threads`: the Slack forwarder keeps
        threads (an app route); `oncall_slack_service`: the Slack endpoint's service name, when it exists."""
        super().__init__(scope, construct_id)
        self.env_name = env_name
        self.base = runbook_base_url.rstrip("/")
        self.alarms: list[cloudwatch.Alarm] = []
        both = list(health_topics.values())
        for destination, forwarder in forwarders.items():
            own = [health_topics[destination]]
            function = forwarder.function
            for metric, kind, meaning in (
                ("Errors", "forwarder-errors", "invocations failed as a whole (a crash or a time-out)"),
                ("Throttles", "forwarder-throttles", "invocations were throttled; alerts wait in its queue"),
            ):
                self._alarm(
                    f"{destination}{metric}",
                    f"forwarder-{destination}-{metric}",
                    f"The {destination} forwarder: {meaning}. Reported through the other forwarder and e-mail.",
                    kind,
                    function.metric(metric, statistic="Sum", period=MINUTE),
                    own,
                )
            self._alarm(
                f"{destination}QueueAge",
                f"forwarder-{destination}-queue-ApproximateAgeOfOldestMessage",
                f"Alerts have waited more than {QUEUE_AGE_SECONDS // 60} minutes in the {destination} forwarder's "
                "queue: it is stuck, failing, or far behind. Reported through the other forwarder and e-mail.",
                "forwarder-queue-age",
                forwarder.queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=MINUTE),
                own,
                threshold=QUEUE_AGE_SECONDS,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
            self._alarm(
                f"{destination}DeadLetters",
                f"forwarder-{destination}-dead-letter-queue-NotEmpty",
                f"Alerts the {destination} forwarder failed to deliver {MAX_RECEIVE_COUNT} times are parked in its "
                "dead-letter queue: look, fix, redrive (python -m tools.redrive). Reported through the other "
                "forwarder and e-mail.",
                "forwarder-queue-dead-letters",
                forwarder.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=MINUTE
                ),
                own,
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
        self._alarm(
            "DeadLetterQueueNotEmpty",
            "forwarder-dead-letter-queue-NotEmpty",
            "Alerts that were not delivered are parked in the dead-letter queue: look, fix, redrive.",
            "forwarder-dead-letter-queue",
            dead_letter_queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=MINUTE),
            both,
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "PayloadsRejected",
            "forwarder-rejected-payloads",
            "A forwarder refused a payload it cannot read (kept in the rejected queue with the reason): a sender "
            "is misconfigured and its alerts do not arrive.",
            "forwarder-rejected-payloads",
            rejected_queue.metric_number_of_messages_sent(statistic="Sum", period=Duration.minutes(5)),
            both,
        )
        if endpoint is not None:
            for metric, kind, meaning in (
                ("Errors", "endpoint-errors", "invocations crashed or timed out; Alertmanager's pushes get a 5xx"),
                (
                    "Throttles",
                    "endpoint-throttles",
                    "requests were refused at its reserved concurrency (a flood, or a real burst)",
                ),
                ("Url5xxCount", "endpoint-5xx", "the function URL answered 5xx: Alertmanager retries, then drops"),
            ):
                self._alarm(
                    f"Endpoint{metric}",
                    f"endpoint-{metric}",
                    f"The Alertmanager endpoint: {meaning}. Alertmanager alerts may not arrive.",
                    kind,
                    endpoint.metric(metric, statistic="Sum", period=MINUTE),
                    both,
                )
        for topic, sns_topic in sorted((redrive_topics or {}).items()):
            self._alarm(
                f"RedriveFailed{_pascal(topic)}",
                f"sns-{topic}-NumberOfNotificationsFailedToRedriveToDlq",
                f"SNS could neither deliver messages of the {topic} topic to a subscriber nor keep them in the "
                "dead-letter queue: those alerts are lost.",
                "sns-redrive-failures",
                sns_topic.metric("NumberOfNotificationsFailedToRedriveToDlq", statistic="Sum", period=MINUTE),
                both,
            )
        for topic, rule in sorted((rule_names or {}).items()):
            self._alarm(
                f"RuleFailed{_pascal(topic)}",
                f"eventbridge-{rule.removeprefix(f'{env_name}-')}-FailedInvocations",
                f"EventBridge could not publish alarm state changes to the {topic} topic (rule {rule}): teams' "
                "alarms do not arrive.",
                "eventbridge-failed-invocations",
                cloudwatch.Metric(
                    namespace="AWS/Events",
                    metric_name="FailedInvocations",
                    dimensions_map={"RuleName": rule},
                    statistic="Sum",
                    period=MINUTE,
                ),
                both,
            )

        if auditor is not None:  # the detector of dead alarms must not be dead itself
            self._alarm(
                "AuditorErrors",
                "dead-alarm-auditor-Errors",
                "The dead-alarm auditor failed: alarms that cannot fire are not being found.",
                "dead-alarm-auditor-errors",
                auditor.metric("Errors", statistic="Sum", period=MINUTE),
                both,
            )

        self._forwarder_counts(forwarders, both, ticket_topic, threads=threads)
        if oncall_slack_service is not None and ticket_topic is not None:
            self._alarm(
                "ActionUnchecked",
                "oncall-slack-ActionUnchecked",
                "The Slack endpoint refused a click because a Slack user group (oncall.slack_actors) could not be "
                "read: members of that group cannot act from Slack.",
                "oncall-action-unchecked",
                cloudwatch.Metric(
                    namespace=FORWARDER_NAMESPACE,
                    metric_name="ActionUnchecked",
                    dimensions_map={"service": oncall_slack_service},
                    statistic="Sum",
                    period=FIVE_MINUTES,
                ),
                [ticket_topic],
            )

    def _forwarder_counts(
        self,
        forwarders: dict[str, Forwarder],
        both: list[sns.ITopic],
        ticket_topic: sns.ITopic | None,
        *,
        threads: bool,
    ) -> None:
        """Alarms on the failure counts the forwarders publish (see the module's docstring for what each does)."""
        if "pagerduty" in forwarders:
            self._alarm(
                "RecheckFailed",
                "forwarder-pagerduty-RecheckFailed",
                "The PagerDuty forwarder could no longer look at a suppressed composite alarm (still suppressed after "
                "the last look, or CloudWatch did not answer): if its suppression ended, its page was never sent.",
                "forwarder-recheck-failed",
                forwarder_count("RecheckFailed", self.env_name, "pagerduty", MINUTE),
                both,
            )
        if ticket_topic is None:
            return
        if threads and "slack" in forwarders:
            for metric, kind, meaning in (
                (
                    "ThreadStoreFailed",
                    "slack-thread-store-failed",
                    "the thread table failed: alerts went into the channel unthreaded, and on-call buttons cannot "
                    "find their thread",
                ),
                (
                    "ParentUpdateFailed",
                    "slack-parent-update-failed",
                    "Slack refused to edit a thread's parent: the reply went, the parent shows an old state",
                ),
            ):
                self._alarm(
                    metric,
                    f"forwarder-slack-{metric}",
                    f"The Slack forwarder: {meaning}. The messages themselves went.",
                    kind,
                    forwarder_count(metric, self.env_name, "slack", FIVE_MINUTES),
                    [ticket_topic],
                )
            self._alarm(
                "GraphFailed",
                "forwarder-slack-GraphFailed",
                f"The Slack forwarder drew no graph for {PERSISTENT} or more alerts in an hour (GetMetricWidgetImage "
                "refused, throttled or too slow). The messages themselves went.",
                "slack-graph-failed",
                forwarder_count("GraphFailed", self.env_name, "slack", HOUR),
                [ticket_topic],
                threshold=PERSISTENT,
            )
        if forwarders:
            self._alarm(
                "SloQueryFailed",
                "forwarder-SloQueryFailed",
                f"The forwarders could not read an SLO alert's burn rate and budget left for {PERSISTENT} or more "
                "alerts in an hour (GetMetricData or DescribeAlarms refused or too slow). The alerts went without "
                "those numbers.",
                "slo-query-failed",
                forwarder_count("SloQueryFailed", self.env_name, sorted(forwarders), HOUR),
                [ticket_topic],
                threshold=PERSISTENT,
            )

    def _alarm(  # noqa: PLR0917 - one alarm, everything it needs
        self,
        construct_id: str,
        name: str,
        meaning: str,
        kind: str,
        metric: cloudwatch.IMetric,
        topics: list[sns.ITopic],
        *,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator = AT_LEAST_ONE,
    ) -> cloudwatch.Alarm:
        alarm = event_alarm(
            self,
            construct_id,
            name=f"{self.env_name}-{name}",
            description=f"{meaning}\nrunbook: {self.base}/{kind}.md",
            metric=metric,
            topics=topics,
            threshold=threshold,
            comparison=comparison,
        )
        self.alarms.append(alarm)
        return alarm


def forwarder_count(
    metric: str, env_name: str, destinations: str | list[str], period: Duration
) -> cloudwatch.MathExpression:
    """A forwarder count summed over sources (and destinations): one metric per (destination, source) with the
    dimensions `Counters.flush` publishes, each gap filled with 0 so that the sum never waits for every source."""
    chosen = [destinations] if isinstance(destinations, str) else destinations
    metrics: dict[str, cloudwatch.IMetric] = {
        f"{destination[0]}{index}": cloudwatch.Metric(
            namespace=FORWARDER_NAMESPACE,
            metric_name=metric,
            dimensions_map={
                "destination": destination,
                "service": f"{env_name}-{destination}-forwarder",
                "source": source,
            },
            statistic="Sum",
            period=period,
        )
        for destination in chosen
        for index, source in enumerate(SOURCES)
    }
    # METRICS(): every metric of the alarm (not its expression); FILL(…, 0) and SUM over an array, as documented.
    return cloudwatch.MathExpression(
        expression="SUM(FILL(METRICS(), 0))", using_metrics=metrics, label=f"{metric} (all sources)", period=period
    )


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))


def event_alarm(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    description: str,
    metric: cloudwatch.IMetric,
    topics: Sequence[sns.ITopic],
    threshold: float = 1,
    comparison: cloudwatch.ComparisonOperator = AT_LEAST_ONE,
) -> cloudwatch.Alarm:
    """An alarm on a count published only when something happens: 1 of 1 datapoints, missing data not breaching,
    alarm and OK actions on `topics` (the pipeline's own health alarms and the on-call ones alike)."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_name=name,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison_operator=comparison,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    for topic in topics:
        alarm.add_alarm_action(actions.SnsAction(topic))
        alarm.add_ok_action(actions.SnsAction(topic))
    return alarm
