"""On-call in Slack (issue 11): the Slack interactivity and PagerDuty webhook endpoints (function URLs), the action
queue and its worker, their tables and secrets, and the alarms that say when any of it fails.

    Slack click ──> <env>-slack-interactions ──┐                          ┌─> PagerDuty acknowledge
                                               ├─> <env>-oncall-actions ──┤   Alertmanager silence
    PagerDuty ───> <env>-pagerduty-webhooks ───┘   (DLQ after 3 tries)    │   CloudWatch mute rule
                                                   <env>-action-worker ───┴─> the Slack thread, the audit table

Each function's role holds exactly the statements its code keeps beside itself (`infra/code_policies.py`), plus
the alerting key its secrets and queue are encrypted with and its own log group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.code_policies import (
    action_worker_policy_statements,
    mute_policy_statements,
    pagerduty_webhooks_policy_statements,
    slack_interactions_policy_statements,
    statements,
    thread_policy_statements,
    usergroup_app,
    usergroups_policy_statements,
)
from infra.config import OnCall
from infra.constructs.alerting_core import AlertingCore, encrypted_queue, encrypted_table, use_alerting_key
from infra.constructs.forwarders import own_function
from infra.constructs.self_monitoring import event_alarm

# A job is tried this many times (the worker's MAX_RECEIVES: its last try posts the failure in the thread), then
# kept in the dead-letter queue, which an alarm watches.
ACTION_MAX_RECEIVES = 3
ACTION_BATCH_SIZE = 10
ACTION_MAX_CONCURRENCY = 2  # the event source mapping's least
ENDPOINT_TIMEOUT_SECONDS = 10  # Slack waits 3 s and PagerDuty 5 s; a cold start reads a secret and the table
ENDPOINT_MEMORY_MB = 512  # more memory is more CPU: a shorter cold start inside Slack's 3 seconds
WORKER_MEMORY_MB = 512
AUTH_FAILURES = 3  # in 5 minutes: a rotated signing secret refuses every click; a lone scanner's POST does not page
MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
METRICS_NAMESPACE = "AlertForwarding"

# What each secret holds; the stack creates it holding a placeholder the handlers refuse (a 500, metric
# EndpointFailed, alarmed), never a value in a template.
SECRET_SHAPES = {
    "slack_signing_secret": '{"signing_secret": "<the Slack app\'s Signing Secret>"}',
    "pagerduty_webhook_secret": '{"secrets": ["<the webhook subscription\'s secret>"]}',
    "pagerduty_rest_secret": '{"api_token": "<a read-only PagerDuty REST API key>"}',
    "alertmanager_secret": '{"url": "https://…", "basic_auth": {"username": "…", "password": "…"}} or '
    '{"bearer_token": "…"} or {"sigv4": {"region": "…"}}',
}


def thread_table(scope: Construct, env_name: str, core: AlertingCore) -> dynamodb.TableV2:
    """`<env>-slack-threads`: where each alert's parent message is, per channel (alert x channel -> ts, TTL)."""
    return encrypted_table(
        scope, "ThreadTable", f"{env_name}-slack-threads", core.key, partition="alert", sort="channel", ttl="expires_at"
    )


@dataclass(frozen=True)
class OnCallSettings:
    """What the functions are told (environment variables: names of secrets and tables, never a secret)."""

    slack_apps: Mapping[str, Mapping[str, Sequence[str]]]  # SLACK_APPS: app route secret -> {"to_channel": [...]}
    pagerduty_secrets: Mapping[str, str]  # PAGERDUTY_SECRETS: a thread's routing (its topic) -> routing-key secret
    pagerduty_events_url: str
    log_retention_days: int
    worker_timeout_seconds: int
    runbook_base_url: str


class OnCallEndpoints(Construct):
    """`<env>-slack-interactions` and `<env>-pagerduty-webhooks` (function URLs, auth by signature, reserved
    concurrency), the queue `<env>-oncall-actions` with its dead-letter queue, `<env>-action-worker`, the tables
    `<env>-oncall-state` (replayed signatures, rate counts, job claims) and `<env>-oncall-audit` (who did what)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        oncall: OnCall,
        core: AlertingCore,
        code: lambda_.Code,
        threads: dynamodb.ITableV2,
        settings: OnCallSettings,
        health_topics: Sequence[sns.ITopic],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.env_name = env_name
        self.replay_table = encrypted_table(
            self, "StateTable", f"{env_name}-oncall-state", core.key, partition="pk", ttl="expires_at"
        )
        self.audit_table = encrypted_table(
            self,
            "AuditTable",
            f"{env_name}-oncall-audit",
            core.key,
            partition="pk",
            sort="sk",
            ttl="expires_at",
            removal=RemovalPolicy.RETAIN,  # who acknowledged, silenced and muted what: kept past a stack deletion
        )
        self.secrets: dict[str, secretsmanager.Secret] = {}
        # config field -> the secret's name (a literal: `Secret.secret_name` would be a token parsed from its ARN)
        self.secret_names = {
            field: name
            for field, name in (
                ("slack_signing_secret", oncall.slack_signing_secret),
                ("pagerduty_webhook_secret", oncall.pagerduty_webhook_secret),
                ("pagerduty_rest_secret", oncall.pagerduty_rest_secret),
                ("alertmanager_secret", oncall.alertmanager_secret),
            )
            if name
        }
        for index, (field, name) in enumerate(self.secret_names.items()):
            self.secrets[field] = secretsmanager.Secret(
                self,
                f"Secret{index}",
                secret_name=name,
                description=f"{env_name} on-call: {SECRET_SHAPES[field]} (README)",
                encryption_key=core.key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps({"placeholder": f"put {SECRET_SHAPES[field]} here"}),
                    generate_string_key="unset",
                    password_length=8,
                ),
                removal_policy=RemovalPolicy.RETAIN,
            )

        worker_name = f"{env_name}-action-worker"
        queue_name = f"{env_name}-oncall-actions"
        # Built from the name, not referenced (the queue's redrive policy names the dead-letter queue), as the
        # forwarders' queues do.
        queue_arn = stack.format_arn(service="sqs", resource=queue_name, arn_format=ArnFormat.NO_RESOURCE_NAME)
        self.dead_letter_queue = encrypted_queue(
            self,
            "ActionDeadLetterQueue",
            f"{queue_name}-dlq",
            core.key,
            redrive_allow_policy=sqs.RedriveAllowPolicy(
                redrive_permission=sqs.RedrivePermission.BY_QUEUE,
                source_queues=[sqs.Queue.from_queue_arn(self, "ActionSourceQueue", queue_arn)],
            ),
        )
        self.queue = encrypted_queue(
            self,
            "ActionQueue",
            queue_name,
            core.key,
            visibility_timeout=Duration.seconds(6 * settings.worker_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=ACTION_MAX_RECEIVES, queue=self.dead_letter_queue),
        )
        slack_apps = _json(settings.slack_apps)
        common = {"POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE, "POWERTOOLS_TRACE_DISABLED": "true",
                  "POWERTOOLS_LOG_LEVEL": "INFO"}  # fmt: skip
        replay = {"REPLAY_TABLE": self.replay_table.table_name}
        key = use_alerting_key(core.key.key_arn)  # the secrets and the queue are encrypted with it

        # -- Slack interactivity -----------------------------------------------------------------------------------
        signing = self.secrets["slack_signing_secret"]
        slack_name = f"{env_name}-slack-interactions"
        # Members of the user groups slack_actors names are read with one app route's bot token (the same one
        # slack_api.usergroup_app picks at run time).
        reader = usergroup_app(settings.slack_apps) if oncall.slack_actors.usergroups else None
        usergroup_reads = (
            statements("ReadUsergroups", usergroups_policy_statements(app_secret_arn=core.secrets[reader].secret_arn))
            if reader
            else []
        )
        self.slack_function = own_function(
            Construct(self, "Slack"),
            name=slack_name,
            description=f"{env_name}: Slack button clicks in (signed), action jobs out",
            role_description=f"{slack_name}: logs, its signing secret, the state table, send to the action queue",
            handler="slack_interactions.handler",
            code=code,
            memory_mb=ENDPOINT_MEMORY_MB,
            timeout_seconds=ENDPOINT_TIMEOUT_SECONDS,
            log_retention_days=settings.log_retention_days,
            statements=[
                *statements(
                    "SlackInteractions",
                    slack_interactions_policy_statements(
                        signing_secret_arn=signing.secret_arn,
                        replay_table_arn=self.replay_table.table_arn,
                        queue_arn=self.queue.queue_arn,
                    ),
                ),
                *usergroup_reads,
                key,
            ],
            environment={
                "SLACK_SIGNING_SECRET": oncall.slack_signing_secret,
                "ACTION_QUEUE_URL": self.queue.queue_url,
                "SLACK_ACTORS": _json(oncall.slack_actors.model_dump()),
                "SLACK_APPS": slack_apps,
                "POWERTOOLS_SERVICE_NAME": slack_name,
                **replay,
                **common,
            },
            reserved_concurrency=oncall.slack_reserved_concurrency,
        ).function
        # Authentication is the function's own (Slack's request signature), as for the Alertmanager endpoint.
        self.slack_url = self.slack_function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)

        # -- PagerDuty webhooks -----------------------------------------------------------------------------------
        self.pagerduty_function: lambda_.Function | None = None
        self.pagerduty_url: lambda_.FunctionUrl | None = None
        webhook = self.secrets.get("pagerduty_webhook_secret")
        if webhook is not None:
            pagerduty_name = f"{env_name}-pagerduty-webhooks"
            self.pagerduty_function = own_function(
                Construct(self, "PagerDuty"),
                name=pagerduty_name,
                description=f"{env_name}: PagerDuty incident webhooks in (signed), thread jobs out",
                role_description=f"{pagerduty_name}: logs, its webhook secret, the state table, send to the action "
                "queue",
                handler="pagerduty_webhooks.handler",
                code=code,
                memory_mb=ENDPOINT_MEMORY_MB,
                timeout_seconds=ENDPOINT_TIMEOUT_SECONDS,
                log_retention_days=settings.log_retention_days,
                statements=[
                    *statements(
                        "PagerDutyWebhooks",
                        pagerduty_webhooks_policy_statements(
                            webhook_secret_arn=webhook.secret_arn,
                            replay_table_arn=self.replay_table.table_arn,
                            queue_arn=self.queue.queue_arn,
                        ),
                    ),
                    key,
                ],
                environment={
                    "PAGERDUTY_WEBHOOK_SECRET": self.secret_names["pagerduty_webhook_secret"],
                    "ACTION_QUEUE_URL": self.queue.queue_url,
                    "POWERTOOLS_SERVICE_NAME": pagerduty_name,
                    **replay,
                    **common,
                },
                reserved_concurrency=oncall.pagerduty_reserved_concurrency,
            ).function
            self.pagerduty_url = self.pagerduty_function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)

        # -- the worker -------------------------------------------------------------------------------------------
        read = [
            *(core.secrets[name] for name in sorted(set(settings.pagerduty_secrets.values()))),
            *(core.secrets[name] for name in sorted(settings.slack_apps)),
            *(self.secrets[f] for f in ("pagerduty_rest_secret", "alertmanager_secret") if f in self.secrets),
        ]
        worker_statements = [
            *statements(
                "ActionWorker",
                action_worker_policy_statements(
                    queue_arn=self.queue.queue_arn,
                    audit_table_arn=self.audit_table.table_arn,
                    replay_table_arn=self.replay_table.table_arn,
                    secret_arns=[s.secret_arn for s in read],
                    amp_workspace_arn=oncall.amp_workspace_arn,
                ),
            ),
            *statements("Threads", thread_policy_statements(threads.table_arn)),
            *statements(
                "MuteAlarms",
                mute_policy_statements(
                    partition=stack.partition, region=stack.region, account=stack.account, environment=env_name
                ),
            ),
            key,
        ]
        optional = {
            "ALERTMANAGER_SECRET": oncall.alertmanager_secret,
            "ALERTMANAGER_URL": oncall.alertmanager_url,
            "PAGERDUTY_REST_SECRET": oncall.pagerduty_rest_secret,
        }
        worker = own_function(
            Construct(self, "Worker"),
            name=worker_name,
            description=f"{env_name}: runs on-call actions (acknowledge, silence, mute) and updates the threads",
            role_description=f"{worker_name}: logs, its queue, the on-call tables and secrets, mute rules of "
            f"{env_name}-* alarms",
            handler="action_worker.handler",
            code=code,
            memory_mb=WORKER_MEMORY_MB,
            timeout_seconds=settings.worker_timeout_seconds,
            log_retention_days=settings.log_retention_days,
            statements=worker_statements,
            environment={
                "ENVIRONMENT": env_name,
                "AUDIT_TABLE": self.audit_table.table_name,
                "THREAD_TABLE": threads.table_name,
                "SLACK_APPS": slack_apps,
                "PAGERDUTY_SECRETS": _json(settings.pagerduty_secrets),
                "PAGERDUTY_EVENTS_URL": settings.pagerduty_events_url,
                "MAX_RECEIVES": str(ACTION_MAX_RECEIVES),
                "POWERTOOLS_SERVICE_NAME": worker_name,
                **{k: v for k, v in optional.items() if v},
                **replay,
                **common,
            },
        )
        self.worker = worker.function
        # The L2 mapping grants nothing (SqsEventSource would add CDK's own, broader grant), as for the forwarders.
        mapping = lambda_.EventSourceMapping(
            self,
            "ActionMapping",
            target=self.worker,
            event_source_arn=self.queue.queue_arn,
            batch_size=ACTION_BATCH_SIZE,
            max_batching_window=Duration.seconds(0),
            max_concurrency=ACTION_MAX_CONCURRENCY,
            report_batch_item_failures=True,
        )
        mapping.node.add_dependency(worker.policy)  # Lambda checks the role may receive from the queue

        self.alarms: list[cloudwatch.Alarm] = []
        self._base = settings.runbook_base_url.rstrip("/")
        self._monitor(list(health_topics))

        CfnOutput(
            stack,
            "SlackInteractivityUrl",
            value=f"{self.slack_url.url}slack/interactions",
            description="The Slack app's Interactivity Request URL",
        )
        if self.pagerduty_url is not None:
            CfnOutput(
                stack,
                "PagerDutyWebhookUrl",
                value=f"{self.pagerduty_url.url}pagerduty/webhooks",
                description="The URL of the PagerDuty webhook subscription (incident.acknowledged, .resolved, "
                ".reassigned, .escalated)",
            )
        CfnOutput(stack, "ActionQueueUrl", value=self.queue.queue_url)
        CfnOutput(stack, "ActionDeadLetterQueueUrl", value=self.dead_letter_queue.queue_url)
        CfnOutput(stack, "OnCallAuditTable", value=self.audit_table.table_name)
        CfnOutput(stack, "OnCallSecretNames", value=", ".join(self.secret_names.values()))

    @property
    def functions(self) -> list[lambda_.Function]:
        return [f for f in (self.slack_function, self.pagerduty_function, self.worker) if f is not None]

    def _monitor(self, topics: list[sns.ITopic]) -> None:
        """Alarms on what the handlers count (namespace AlertForwarding, dimension `service`: Powertools' default,
        the function's name) and on the functions and the dead-letter queue, to both health topics (each read by
        the other forwarder and by e-mail), as the Alertmanager endpoint's."""
        endpoints = [("slack", "Slack", f"{self.env_name}-slack-interactions")]
        if self.pagerduty_function is not None:
            endpoints.append(("pagerduty", "PagerDuty", f"{self.env_name}-pagerduty-webhooks"))
        for short, shown, service in endpoints:
            self._alarm(
                f"{shown}AuthFailed",
                f"oncall-{short}-AuthFailed",
                f"The {shown} endpoint refused {AUTH_FAILURES} or more requests in 5 minutes for their signature: "
                "a rotated or wrong secret refuses every genuine one.",
                "oncall-auth-failed",
                self._metric("AuthFailed", service, FIVE_MINUTES),
                topics,
                threshold=AUTH_FAILURES,
            )
            self._alarm(
                f"{shown}EndpointFailed",
                f"oncall-{short}-EndpointFailed",
                f"The {shown} endpoint answered 500 (its secret unreadable or a placeholder, its table or the action "
                "queue failing): on-call actions do not happen.",
                "oncall-endpoint-failed",
                self._metric("EndpointFailed", service, MINUTE),
                topics,
            )
        if self.pagerduty_function is not None:
            self._alarm(
                "PagerDutyWebhookUnreadable",
                "oncall-pagerduty-WebhookUnreadable",
                "PagerDuty sent a signed webhook this project cannot read (its format changed?): acknowledgements made "
                "in PagerDuty stop showing in Slack.",
                "oncall-webhook-unreadable",
                self._metric("WebhookUnreadable", f"{self.env_name}-pagerduty-webhooks", FIVE_MINUTES),
                topics,
            )
        self._alarm(
            "ActionFailed",
            "oncall-ActionFailed",
            "An on-call action (acknowledge, silence, mute, a PagerDuty update of a thread) failed; it is tried "
            f"{ACTION_MAX_RECEIVES} times, the last failure said in the thread.",
            "oncall-action-failed",
            self._metric("ActionFailed", f"{self.env_name}-action-worker", FIVE_MINUTES),
            topics,
        )
        self._alarm(
            "ActionDeadLetters",
            "oncall-actions-dead-letter-queue-NotEmpty",
            f"On-call jobs failed {ACTION_MAX_RECEIVES} times are parked in the action dead-letter queue: look, fix, "
            "redrive.",
            "oncall-action-dead-letters",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=MINUTE),
            topics,
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        functions = [("SlackInteractions", "slack-interactions", self.slack_function)]
        if self.pagerduty_function is not None:
            functions.append(("PagerDutyWebhooks", "pagerduty-webhooks", self.pagerduty_function))
        functions.append(("ActionWorker", "action-worker", self.worker))
        for construct_id, short, function in functions:
            self._alarm(
                f"{construct_id}Errors",
                f"oncall-{short}-Errors",
                f"{self.env_name}-{short}: invocations crashed or timed out (outside the handler's own answer).",
                "oncall-errors",
                function.metric("Errors", statistic="Sum", period=MINUTE),
                topics,
            )

    @staticmethod
    def _metric(name: str, service: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": service},
            statistic="Sum",
            period=period,
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
        comparison: cloudwatch.ComparisonOperator = AT_LEAST,
    ) -> None:
        """`<env>-<name>`, as the pipeline's own health alarms are (`self_monitoring.event_alarm`)."""
        self.alarms.append(
            event_alarm(
                self,
                construct_id,
                name=f"{self.env_name}-{name}",
                description=f"{meaning}\nrunbook: {self._base}/{kind}.md",
                metric=metric,
                topics=topics,
                threshold=threshold,
                comparison=comparison,
            )
        )


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
