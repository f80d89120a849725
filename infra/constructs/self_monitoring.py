"""Alarms on the forwarders themselves, routed so that a broken forwarder is never reported only through itself."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.forwarders import Forwarder


class SelfMonitoring(Construct):
    """Errors and throttles of each forwarder go to its health topic, which the *other* forwarder and e-mail read;
    a non-empty dead-letter queue goes to both health topics."""

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
    ) -> None:
        super().__init__(scope, construct_id)
        base = runbook_base_url.rstrip("/")
        self.alarms: list[cloudwatch.Alarm] = []
        for destination, forwarder in forwarders.items():
            topic = health_topics[destination]
            for metric, kind, meaning in (
                ("Errors", "forwarder-errors", "deliveries failed after their retries, or the function crashed"),
                ("Throttles", "forwarder-throttles", "invocations were throttled; alerts wait or are dropped"),
            ):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{destination}{metric}",
                    alarm_name=f"{env_name}-forwarder-{destination}-{metric}",
                    alarm_description=(
                        f"The {destination} forwarder: {meaning}. Reported through the other forwarder and e-mail."
                        f"\nrunbook: {base}/{kind}.md"
                    ),
                    metric=forwarder.function.metric(metric, statistic="Sum", period=Duration.minutes(1)),
                    threshold=1,
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(actions.SnsAction(topic))
                alarm.add_ok_action(actions.SnsAction(topic))
                self.alarms.append(alarm)
        queue_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterQueueNotEmpty",
            alarm_name=f"{env_name}-forwarder-dead-letter-queue-NotEmpty",
            alarm_description=(
                "Alerts that were not delivered are parked in the dead-letter queue: look, fix, redrive."
                f"\nrunbook: {base}/forwarder-dead-letter-queue.md"
            ),
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=Duration.minutes(1)
            ),
            threshold=0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        rejected_alarm = cloudwatch.Alarm(
            self,
            "PayloadsRejected",
            alarm_name=f"{env_name}-forwarder-rejected-payloads",
            alarm_description=(
                "A forwarder refused a payload it cannot read (kept in the rejected queue with the reason): a sender "
                f"is misconfigured and its alerts do not arrive.\nrunbook: {base}/forwarder-rejected-payloads.md"
            ),
            metric=rejected_queue.metric_number_of_messages_sent(statistic="Sum", period=Duration.minutes(5)),
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for topic in health_topics.values():
            for alarm in (queue_alarm, rejected_alarm):
                alarm.add_alarm_action(actions.SnsAction(topic))
                alarm.add_ok_action(actions.SnsAction(topic))
        self.alarms.extend([queue_alarm, rejected_alarm])
