"""One forwarder Lambda per destination: subscribed to its topics, least privilege, dead-lettered on failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.constructs.alerting_core import AlertingCore, use_alerting_key

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest Python runtime aws-cdk-lib 2.275 knows
ARCHITECTURE = lambda_.Architecture.ARM_64
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(6)


@dataclass(frozen=True)
class ForwarderSettings:
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    tracing: bool
    environment: dict[str, str]  # everything but ROUTES; secret names only, never a secret's value


class Forwarder(Construct):
    """`<env>-<destination>-forwarder`: its own role, log group, routes (topic -> severity and secret names),
    SNS subscriptions with a redrive policy, and Lambda's on-failure destination, both to the dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        destination: str,
        core: AlertingCore,
        code: lambda_.Code,
        routes: dict[str, dict[str, object]],
        topics: list[sns.ITopic],
        settings: ForwarderSettings,
        fallback_slack_secret: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        name = f"{env_name}-{destination}-forwarder"
        secret_names = {str(s) for route in routes.values() for s in route["secrets"]}  # type: ignore[attr-defined]
        if fallback_slack_secret:
            secret_names.add(fallback_slack_secret)
        secrets = [core.secrets[s] for s in sorted(secret_names)]

        statements = forwarder_statements(core, secrets)
        environment = {
            **settings.environment,
            "ROUTES": json.dumps(routes, sort_keys=True, separators=(",", ":")),
            "REJECTED_QUEUE_URL": core.rejected_queue.queue_url,
            "IDEMPOTENCY_TABLE": core.idempotency_table.table_name,
            "LEDGER_TABLE": core.ledger_table.table_name,
            **({"FALLBACK_SLACK_SECRET": fallback_slack_secret} if fallback_slack_secret else {}),
            "POWERTOOLS_SERVICE_NAME": name,
            "POWERTOOLS_TRACE_DISABLED": "false" if settings.tracing else "true",
        }
        own = own_function(
            self,
            name=name,
            description=f"{env_name}: alarms and alerts to {destination}",
            role_description=f"{name}: logs, its secrets, the alerting key and the dead-letter queue; nothing else",
            handler=f"{destination}_forwarder.handler",
            code=code,
            memory_mb=settings.memory_mb,
            timeout_seconds=settings.timeout_seconds,
            log_retention_days=settings.log_retention_days,
            statements=statements,
            environment=environment,
            tracing=settings.tracing,
        )
        self.function, self.role, self.log_group, policy = own.function, own.role, own.log_group, own.policy
        # Written as L1 so that CDK grants nothing broader than the statements above (its own grant for an
        # encrypted queue would add kms:GenerateDataKey* and kms:ReEncrypt*).
        invoke_config = lambda_.CfnEventInvokeConfig(
            self,
            "AsyncInvoke",
            function_name=self.function.function_name,
            qualifier="$LATEST",
            maximum_retry_attempts=RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=core.dead_letter_queue.queue_arn)
            ),
        )
        invoke_config.node.add_dependency(policy)  # Lambda checks the role may send to the queue
        for topic in topics:
            topic.add_subscription(
                subscriptions.LambdaSubscription(self.function, dead_letter_queue=core.dead_letter_queue)
            )


def forwarder_statements(core: AlertingCore, secrets: Sequence[secretsmanager.ISecret]) -> list[iam.PolicyStatement]:
    """Exactly the AWS calls a forwarder makes, each beside the code path that makes it (functions/alertlib/)."""
    return [
        # deliver.powertools_secret: GetSecretValue, cached 5 minutes, fetched again after a 401/403/404/410.
        iam.PolicyStatement(
            sid="ReadOwnSecrets",
            actions=["secretsmanager:GetSecretValue"],
            resources=[secret.secret_arn for secret in secrets],
        ),
        # The secrets, tables and queues are encrypted with the alerting key: Decrypt to read them, GenerateDataKey
        # to write the tables and send to the queues (the SDK calls reach KMS through those services).
        use_alerting_key(core.key.key_arn),
        # reliability.OncePerMessage: Powertools' DynamoDBPersistenceLayer puts (conditionally), gets, updates and
        # deletes its records.
        iam.PolicyStatement(
            sid="SendEachMessageOnce",
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            resources=[core.idempotency_table.table_arn],
        ),
        # reliability.Ledger: record() puts a delivery; deliveries() queries an alert's deliveries for every
        # CloudWatch OK (forward.Forwarder._against_ledger).
        iam.PolicyStatement(
            sid="RecordDeliveries",
            actions=["dynamodb:PutItem", "dynamodb:Query"],
            resources=[core.ledger_table.table_arn],
        ),
        # forward.SqsParker sends refused payloads to the rejected queue; Lambda's on-failure destination sends
        # failed events to the dead-letter queue with the function's role (Forwarder's AsyncInvoke below).
        iam.PolicyStatement(
            sid="KeepFailuresAndRefusals",
            actions=["sqs:SendMessage"],
            resources=[core.dead_letter_queue.queue_arn, core.rejected_queue.queue_arn],
        ),
    ]


@dataclass(frozen=True)
class OwnFunction:
    function: lambda_.Function
    role: iam.Role
    policy: iam.Policy
    log_group: logs.LogGroup


def own_function(
    scope: Construct,
    *,
    name: str,
    description: str,
    role_description: str,
    handler: str,
    code: lambda_.Code,
    memory_mb: int,
    timeout_seconds: int,
    log_retention_days: int,
    statements: list[iam.PolicyStatement],
    environment: dict[str, str],
    tracing: bool = False,
    reserved_concurrency: int | None = None,
) -> OwnFunction:
    """A function of this project: its own log group with a retention, its own role holding exactly
    `statements` (plus writing its logs, and X-Ray when tracing), the newest Python on arm64."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/aws/lambda/{name}",
        retention=retention(log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        "Role",
        role_name=name,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    own = [
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        )
    ]
    if tracing:
        own.append(
            iam.PolicyStatement(
                sid="WriteTraces",
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],  # X-Ray has no resource-level permissions
            )
        )
    policy = iam.Policy(scope, "Policy", statements=[own[0], *statements, *own[1:]])
    policy.attach_to_role(role)
    function = lambda_.Function(
        scope,
        "Function",
        function_name=name,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=code,
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_seconds),
        role=role,
        log_group=log_group,
        environment=environment,
        tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
        reserved_concurrent_executions=reserved_concurrency,
    )
    # CDK adds DependsOn the role, which the function's GetAtt already implies (cfn-lint W3005).
    function_resource = function.node.default_child
    assert isinstance(function_resource, lambda_.CfnFunction)
    function_resource.add_deletion_override("DependsOn")
    return OwnFunction(function=function, role=role, policy=policy, log_group=log_group)


_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION[days])  # type: ignore[no-any-return]
