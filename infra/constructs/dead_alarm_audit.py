"""The dead-alarm auditor: daily and once after each deploy, the environment's alarms that cannot fire, reported once
through the infrastructure topic. Its role may read alarms and metrics (and list which metrics exist), publish to that
topic, use the key and its own table; nothing else."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

import infra.code_policies  # noqa: F401 - puts functions/ on the path: the statements live beside the code
from infra.constructs.alerting_core import AlertingCore, encrypted_table
from infra.constructs.forwarders import own_function

DEPLOY_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
SCHEDULE = events.Schedule.cron(minute="0", hour="7")  # daily, 07:00 UTC: read in working hours in Europe and US


def audit_statements(*, topic_arn: str, key_arn: str, table_arn: str) -> list[iam.PolicyStatement]:
    """Exactly what `alertlib.audit.Auditor.run` calls: the statements kept beside that code
    (`alertlib.audit.audit_policy_statements`), as CDK statements with their Sids; never a copy of them here."""
    from alertlib.audit import audit_policy_statements  # noqa: PLC0415 - on the path once infra.code_policies is

    return [
        iam.PolicyStatement(sid=document["Sid"], actions=list(document["Action"]), resources=list(document["Resource"]))
        for document in audit_policy_statements(topic_arn=topic_arn, table_arn=table_arn, key_arn=key_arn)
    ]


class DeadAlarmAudit(Construct):
    """`<env>-dead-alarm-auditor`: one run at a time (reserved concurrency 1, so two runs never report the same
    alarm twice), its table `<env>-alerting-audit`, a daily schedule and a rule on the environment's deploys."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        core: AlertingCore,
        code: lambda_.Code,
        topic: sns.ITopic,
        dead_after_hours: int,
        runbook_base_url: str,
        log_retention_days: int,
        one_at_a_time: bool = True,
    ) -> None:
        """`one_at_a_time: False` in an account whose concurrency limit is too low to reserve any (Lambda keeps 100
        executions unreserved): a deploy's several stack events may then run audits side by side, and an alarm
        found dead by two of them is reported twice."""
        super().__init__(scope, construct_id)
        name = f"{env_name}-dead-alarm-auditor"
        self.table = encrypted_table(self, "Memory", f"{env_name}-alerting-audit", core.key, partition="alarm",
                                     ttl="expires_at")  # fmt: skip
        own = own_function(
            self,
            name=name,
            description=f"{env_name}: alarms that cannot fire, reported once to the infrastructure topic",
            role_description=f"{name}: logs, read alarms and metrics, its table, publish to the infrastructure "
            "topic; nothing else",
            handler="dead_alarm_auditor.handler",
            code=code,
            memory_mb=512,
            timeout_seconds=300,
            log_retention_days=log_retention_days,
            statements=audit_statements(
                topic_arn=topic.topic_arn, key_arn=core.key.key_arn, table_arn=self.table.table_arn
            ),
            environment={
                "ALARM_PREFIX": f"{env_name}-",
                "DEAD_AFTER_HOURS": str(dead_after_hours),
                "TOPIC_ARN": topic.topic_arn,
                "AUDIT_TABLE": self.table.table_name,
                "RUNBOOK_URL": f"{runbook_base_url.rstrip('/')}/dead-alarm.md",
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "AlertForwarding",
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
        )
        self.function, self.role = own.function, own.role
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="cloudwatch:DescribeAlarms, cloudwatch:GetMetricData and cloudwatch:ListMetrics take only the * "
                "resource (CloudWatch permissions reference); every other statement names its resource.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5",
                reason="Log streams are created at run time inside the function's own log group (the ARN ends in :*).",
            ),
        )
        function_resource = self.function.node.default_child
        assert isinstance(function_resource, lambda_.CfnFunction)
        if one_at_a_time:
            function_resource.reserved_concurrent_executions = 1  # a second run waits (EventBridge retries it)

        target = targets.LambdaFunction(self.function, retry_attempts=4, max_event_age=Duration.hours(6))
        self.schedule = events.Rule(
            self, "Daily", rule_name=f"{name}-daily", schedule=SCHEDULE, targets=[target],
            description=f"{env_name}: the daily dead-alarm audit",
        )  # fmt: skip
        stack = Stack.of(self)
        stack_arns = f"arn:{stack.partition}:cloudformation:{stack.region}:{stack.account}:stack/{env_name}-"
        self.after_deploy = events.Rule(
            self,
            "AfterDeploy",
            rule_name=f"{name}-after-deploy",
            description=f"{env_name}: audit once each stack of the environment is created or updated",
            event_pattern=events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["CloudFormation Stack Status Change"],
                detail={
                    "stack-id": [{"prefix": stack_arns}],
                    "status-details": {"status": list(DEPLOY_STATUSES)},
                },
            ),
            targets=[target],
        )
