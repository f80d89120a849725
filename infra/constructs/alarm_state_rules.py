"""Teams' own CloudWatch alarms (not created by this project) to a topic, through EventBridge alarm state changes."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
ALARM_STATE_CHANGE = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}


class AlarmStateRules(Construct):
    """`<env>-alarm-state-<topic>`: one rule per topic on the default event bus, matching the state changes of the
    alarms whose names start with one of the topic's prefixes, with the topic as its only target. The forwarders
    read the EventBridge event as they read a CloudWatch notification. The topic policy and the key policy let
    EventBridge publish (`AlertingCore`); an alarm on each rule's FailedInvocations says when they do not."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        prefixes: dict[str, list[str]],
        topics: dict[str, sns.ITopic],
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.CfnRule] = {}
        for topic, names in sorted(prefixes.items()):
            if not names:
                continue
            # L1, so that CDK adds no topic policy of its own (its SnsTopic target grants every rule, unscoped).
            self.rules[topic] = events.CfnRule(
                self,
                "".join(part.capitalize() for part in topic.split("-")),
                name=f"{env_name}-alarm-state-{topic}",
                description=f"{env_name}: teams' alarms {', '.join(names)}* to the {topic} topic"[:512],
                state="ENABLED",
                event_pattern={**ALARM_STATE_CHANGE, "detail": {"alarmName": [{"prefix": name} for name in names]}},
                targets=[events.CfnRule.TargetProperty(id="Topic", arn=topics[topic].topic_arn)],
            )

    def rule_names(self) -> dict[str, str]:
        """Topic key -> rule name (the `RuleName` dimension of the rule's AWS/Events metrics)."""
        return {topic: str(rule.name) for topic, rule in self.rules.items()}
