"""CloudWatch alarms from the catalogue: alarm and OK actions on every one, so every page resolves."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.alarm_specs import AlarmSpec

_EXTENDED = ("p", "tm", "wm", "tc", "ts", "pr", "iqm")


class Alarms(Construct):
    """One `AWS::CloudWatch::Alarm` per spec, written as L1: at 500 resources a stack, L2 metric objects cost
    synth time for nothing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: list[AlarmSpec],
        topic_arns: dict[str, str],
        runbook_base_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.CfnAlarm] = []
        for spec in specs:
            actions = [topic_arns[spec.topic]]
            extended = spec.statistic.lower().startswith(_EXTENDED) and spec.statistic[1:2].isdigit()
            self.alarms.append(
                cloudwatch.CfnAlarm(
                    self,
                    spec.name,
                    alarm_name=spec.name,
                    alarm_description=spec.description(runbook_base_url),
                    namespace=spec.namespace,
                    metric_name=spec.metric,
                    dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name=k, value=v) for k, v in spec.dimensions],
                    statistic=None if extended else spec.statistic,
                    extended_statistic=spec.statistic if extended else None,
                    period=spec.period,
                    evaluation_periods=spec.evaluation_periods,
                    datapoints_to_alarm=spec.datapoints_to_alarm,
                    threshold=spec.threshold,
                    comparison_operator=spec.comparison,
                    treat_missing_data=spec.treat_missing_data,
                    actions_enabled=True,
                    alarm_actions=actions,
                    ok_actions=actions,
                )
            )
