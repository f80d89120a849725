"""One forwarder Lambda per destination: its topics -> its own queue -> the function, least privilege, with its
own dead-letter queue for what it could not deliver."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.code_policies import (
    graph_policy_statements,
    recheck_policy_statements,
    slo_query_policy_statements,
    statements,
    thread_policy_statements,
)
from infra.constructs.alerting_core import AlertingCore, encrypted_queue, use_alerting_key

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest Python runtime aws-cdk-lib 2.275 knows
ARCHITECTURE = lambda_.Architecture.ARM_64
# The event source mapping (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html): a batch of
# at most 10, sent at once (window 0: a lone alarm is not held back; during a storm batches grow by themselves while
# the previous one is being delivered), at most 2 invocations per forwarder at once, partial batch answers.
BATCH_SIZE = 10
BATCHING_WINDOW = Duration.seconds(0)
MAX_CONCURRENCY = 2
# AWS: a queue's visibility timeout at least 6 x the function's timeout, so that a message in a running invocation
# (or one a throttled poller holds) is not received a second time.
VISIBILITY_PER_TIMEOUT = 6
# Received and not deleted this many times (each a failed invocation or a record the function reported failed,
# then the visibility timeout): moved to the forwarder's own dead-letter queue.
MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class ForwarderSettings:
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    tracing: bool
    environment: dict[str, str]  # everything but ROUTES; secret names only, never a secret's value


def message_environment(
    scope: Construct, env_name: str, account_aliases: Mapping[str, str], oncall_slack_group: str | None
) -> dict[str, str]:
    """What messages name (read once by `alertlib.settings`): the environment, account aliases (the environment's
    own account reads as its name unless an alias says otherwise) and the on-call Slack user group, when set."""
    aliases = dict(account_aliases)
    account = Stack.of(scope).account
    if not Token.is_unresolved(account):
        aliases.setdefault(account, env_name)
    environment = {
        "ENVIRONMENT_NAME": env_name,
        "ACCOUNT_ALIASES": json.dumps(aliases, sort_keys=True, separators=(",", ":")),
    }
    if oncall_slack_group:
        environment["ONCALL_SLACK_GROUP"] = oncall_slack_group
    return environment


class Forwarder(Construct):
    """`<env>-<destination>-forwarder`: its own role, log group, routes (topic -> severity and secret names), its
    queue `<env>-<destination>-forwarder-queue` that its topics deliver to (an SNS delivery failure redrives to the
    core dead-letter queue), the event source mapping from that queue, and the queue's own dead-letter queue
    `<env>-<destination>-forwarder-dlq`, which SQS's redrive (StartMessageMoveTask) empties back into it."""

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
        account_aliases: Mapping[str, str] | None = None,
        oncall_slack_group: str | None = None,
        slack_apps: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        threads: dynamodb.ITableV2 | None = None,
        paged_routes: Sequence[str] = (),
        actions: bool = True,
    ) -> None:
        """`slack_apps` (SLACK_APPS: Slack app route secret -> {"to_channel": [...]}) and `threads` (the thread
        table) for the Slack forwarder when a route is a Slack app: it keeps one thread per alert and draws graphs."""
        super().__init__(scope, construct_id)
        if bool(slack_apps) != (threads is not None):
            raise ValueError("slack_apps and threads go together")
        name = f"{env_name}-{destination}-forwarder"
        secret_names = {str(s) for route in routes.values() for s in route["secrets"]}  # type: ignore[attr-defined]
        if fallback_slack_secret:
            secret_names.add(fallback_slack_secret)
        secrets = [core.secrets[s] for s in sorted(secret_names)]

        queue_name = f"{name}-queue"
        # Built from the name, not referenced: the queue's redrive policy names the dead-letter queue, so a reference
        # back from the dead-letter queue's redrive allow policy would be a circular dependency.
        queue_arn = Stack.of(self).format_arn(service="sqs", resource=queue_name, arn_format=ArnFormat.NO_RESOURCE_NAME)
        self.dead_letter_queue = encrypted_queue(
            self,
            "DeadLetterQueue",
            f"{name}-dlq",
            core.key,
            redrive_allow_policy=sqs.RedriveAllowPolicy(
                redrive_permission=sqs.RedrivePermission.BY_QUEUE,
                source_queues=[sqs.Queue.from_queue_arn(self, "SourceQueue", queue_arn)],
            ),
        )
        self.queue = encrypted_queue(
            self,
            "Queue",
            queue_name,
            core.key,
            visibility_timeout=Duration.seconds(VISIBILITY_PER_TIMEOUT * settings.timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letter_queue),
        )

        granted = forwarder_statements(core, secrets, self.queue)
        stack = Stack.of(self)
        # alertlib.slo_burn.SloQueries: an SLO alert's burn rate and budget left, read from its window alarm.
        slo_reads = slo_query_policy_statements(stack.region, stack.account, env_name, partition=stack.partition)
        granted += statements("ReadSloNumbers", slo_reads)
        if destination == "pagerduty":
            # alertlib.recheck.Rechecker: a composite alarm suppressed for a while, looked at again.
            granted += statements("LookAgain", recheck_policy_statements())
        app_environment: dict[str, str] = {}
        if slack_apps and threads is not None:
            # alertlib.threads.ThreadStore on the thread table; alertlib.graph.render_graph (GetMetricWidgetImage).
            granted += statements("KeepThreads", thread_policy_statements(threads.table_arn))
            granted += statements("DrawGraphs", graph_policy_statements())
            app_environment = {
                "SLACK_APPS": json.dumps(slack_apps, sort_keys=True, separators=(",", ":")),
                "THREAD_TABLE": threads.table_name,
                # The topics that also page: only their parents offer Acknowledge.
                "PAGED_ROUTES": json.dumps(sorted(paged_routes), separators=(",", ":")),
                # Without the on-call endpoints nothing answers a click: the parents offer no buttons.
                "SLACK_ACTIONS": "on" if actions else "off",
            }
        environment = {
            **settings.environment,
            "ROUTES": json.dumps(routes, sort_keys=True, separators=(",", ":")),
            "REJECTED_QUEUE_URL": core.rejected_queue.queue_url,
            "IDEMPOTENCY_TABLE": core.idempotency_table.table_name,
            "LEDGER_TABLE": core.ledger_table.table_name,
            "PACER_TABLE": core.pacer_table.table_name,
            "QUEUE_URL": self.queue.queue_url,
            **({"FALLBACK_SLACK_SECRET": fallback_slack_secret} if fallback_slack_secret else {}),
            **app_environment,
            **message_environment(self, env_name, account_aliases or {}, oncall_slack_group),
            "POWERTOOLS_SERVICE_NAME": name,
            "POWERTOOLS_TRACE_DISABLED": "false" if settings.tracing else "true",
        }
        own = own_function(
            self,
            name=name,
            description=f"{env_name}: alarms and alerts to {destination}",
            role_description=f"{name}: logs, its secrets, the alerting key, its queue and tables; nothing else",
            handler=f"{destination}_forwarder.handler",
            code=code,
            memory_mb=settings.memory_mb,
            timeout_seconds=settings.timeout_seconds,
            log_retention_days=settings.log_retention_days,
            statements=granted,
            environment=environment,
            tracing=settings.tracing,
        )
        self.function, self.role, self.log_group, policy = own.function, own.role, own.log_group, own.policy
        # The L2 mapping grants nothing (SqsEventSource would add CDK's own grant on the queue and its key, broader
        # than ReceiveFromOwnQueue and UseAlertingKey).
        mapping = lambda_.EventSourceMapping(
            self,
            "QueueMapping",
            target=self.function,
            event_source_arn=self.queue.queue_arn,
            batch_size=BATCH_SIZE,
            max_batching_window=BATCHING_WINDOW,
            max_concurrency=MAX_CONCURRENCY,
            report_batch_item_failures=True,
        )
        mapping.node.add_dependency(policy)  # Lambda checks the role may receive from the queue
        # SNS may send to the queue only for these topics. The key policy lets SNS use the key for them
        # (AlertingCore's AllowSnsToUseTheKey).
        # https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TopicsSend",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": [topic.topic_arn for topic in topics]}},
            )
        )
        for topic in topics:
            # Raw message delivery off: the body is SNS's notification JSON (TopicArn, MessageId, Subject, ...).
            sns.Subscription(
                self,
                f"Subscription{topic.node.id}",
                topic=topic,
                endpoint=self.queue.queue_arn,
                protocol=sns.SubscriptionProtocol.SQS,
                raw_message_delivery=False,
                dead_letter_queue=core.dead_letter_queue,
            )


def forwarder_statements(
    core: AlertingCore, secrets: Sequence[secretsmanager.ISecret], queue: sqs.IQueue
) -> list[iam.PolicyStatement]:
    """Exactly the AWS calls a forwarder makes, each beside the code path that makes it (functions/alertlib/), and
    those its event source mapping makes with its role."""
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
        # reliability.Ledger: record() puts a delivery, record_many() a flush's (BatchWriteItem); deliveries() queries
        # an alert's deliveries for every CloudWatch OK (forward.Forwarder._against_ledger).
        iam.PolicyStatement(
            sid="RecordDeliveries",
            actions=["dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:Query"],
            resources=[core.ledger_table.table_arn],
        ),
        # Pacing (alertlib.pacing.Pacer): the channel's slot (GetItem, conditional UpdateItem), the ordering guard
        # (conditional UpdateItem), buffered records, members and storms (TransactWriteItems of Put, Update and
        # Delete items, each authorised as its own action, as AWS does; Query to read them, GetItem a storm).
        iam.PolicyStatement(
            sid="PaceDeliveries",
            actions=[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
            ],
            resources=[core.pacer_table.table_arn],
        ),
        # Pacing: a flush is scheduled by sending its record to the forwarder's own queue (DelaySeconds), and a
        # flush that could not send is retried sooner (ChangeMessageVisibility).
        iam.PolicyStatement(
            sid="ScheduleOwnFlushes",
            actions=["sqs:SendMessage", "sqs:ChangeMessageVisibility"],
            resources=[queue.queue_arn],
        ),
        # The event source mapping polls the queue with the function's role.
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions
        iam.PolicyStatement(
            sid="ReceiveFromOwnQueue",
            actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            resources=[queue.queue_arn],
        ),
        # forward.SqsParker sends refused payloads to the rejected queue.
        iam.PolicyStatement(
            sid="KeepRefusals",
            actions=["sqs:SendMessage"],
            resources=[core.rejected_queue.queue_arn],
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
