"""The environment's alerting stack: key, topics, secrets, queue, both forwarders and their self-monitoring."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Aws, CfnOutput, Stack, Validations
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.bundling import function_code
from infra.config import DESTINATIONS, EnvironmentConfig, TopicName
from infra.constructs.alarm_state_rules import AlarmStateRules
from infra.constructs.alerting_core import AlertingCore
from infra.constructs.dead_alarm_audit import DeadAlarmAudit
from infra.constructs.endpoint import AlertmanagerEndpoint
from infra.constructs.forwarders import ARCHITECTURE, RUNTIME, Forwarder, ForwarderSettings
from infra.constructs.oncall import OnCallEndpoints, OnCallSettings, thread_table
from infra.constructs.self_monitoring import SelfMonitoring
from infra.operator_policies import POLICIES, Resources


class AlertingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names: dict[str, str] = {topic: config.topic_name(topic) for topic in config.topics}
        health = {d: config.health_topic_name(d) for d in DESTINATIONS}
        # Every topic a forwarder subscribes to: each of those subscriptions redrives to the dead-letter queue.
        redriven = sorted({t for d in DESTINATIONS for t in config.forwarder_routes(d)[1]})
        self.core = AlertingCore(
            self,
            "Core",
            env_name=config.name,
            account=config.account,
            topic_names={**names, **{f"health-{d}": name for d, name in health.items()}},
            alert_topics=list(names),
            redrive_topics=redriven,
            secret_names=config.secret_names(),
            publisher=config.alertmanager_publisher,
        )
        topics = self.core.topics
        health_topics: dict[str, sns.ITopic] = {d: topics[f"health-{d}"] for d in DESTINATIONS}

        # E-mail: each topic's own addresses; the health topics reach the infrastructure topic's addresses.
        for name, routing in config.topics.items():
            for address in routing.emails:
                topics[name].add_subscription(subscriptions.EmailSubscription(address))
        for health_topic in health_topics.values():
            for address in config.topics["infrastructure"].emails:
                health_topic.add_subscription(subscriptions.EmailSubscription(address))

        settings = ForwarderSettings(
            memory_mb=config.forwarders.memory_mb,
            timeout_seconds=config.forwarders.timeout_seconds,
            log_retention_days=config.forwarders.log_retention_days,
            tracing=config.forwarders.tracing,
            environment={
                "INSUFFICIENT_DATA": config.forwarders.insufficient_data,
                "PAGERDUTY_GROUPING": config.forwarders.pagerduty_grouping,
                "PAGERDUTY_EVENTS_URL": config.forwarders.pagerduty_events_url,
                "REDACT_PATTERNS": _json(config.forwarders.redact_patterns),
                "POWERTOOLS_METRICS_NAMESPACE": "AlertForwarding",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        code = function_code(RUNTIME, ARCHITECTURE)
        # Slack app routes keep one thread per alert (alert x channel -> the parent's ts); the action worker reads it.
        slack_apps = config.slack_apps_environment()
        self.threads = thread_table(self, config.name, self.core) if slack_apps else None
        self.forwarders: dict[str, Forwarder] = {}
        for destination in DESTINATIONS:
            routes, subscribed = config.forwarder_routes(destination)
            if not routes:
                continue
            self.forwarders[destination] = Forwarder(
                self,
                f"{destination.capitalize()}Forwarder",
                env_name=config.name,
                destination=destination,
                core=self.core,
                code=code,
                routes=routes,
                topics=[topics[t] for t in subscribed],
                settings=settings,
                fallback_slack_secret=config.fallback_slack_secret() if destination == "pagerduty" else None,
                account_aliases=config.account_aliases,
                oncall_slack_group=config.forwarders.oncall_slack_group,
                slack_apps=slack_apps if destination == "slack" else None,
                threads=self.threads if destination == "slack" else None,
                paged_routes=sorted(config.forwarder_routes("pagerduty")[0]) if destination == "slack" else (),
                actions=config.oncall is not None,
            )
            Validations.of(self.forwarders[destination]).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5",
                    reason="Log streams are created at run time inside the function's own log group (the ARN ends "
                    "in :*); X-Ray, when tracing is on, and GetMetricWidgetImage (the Slack app route's graphs) have "
                    "no resource-level permissions. No action has a wildcard.",
                ),
            )
            _acknowledge_finding(
                self.forwarders[destination],
                "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:GetMetricData (an SLO alert's burn rate and budget left), GetMetricWidgetImage (the "
                "Slack app route's graphs) have no resource-level permissions, and DescribeAlarms (read-only) answers "
                "composite alarms only to * (the PagerDuty forwarder's second look at a suppressed composite; the "
                "SLO window alarm read).",
            )
            if destination == "slack" and slack_apps:
                _acknowledge_finding(
                    self.forwarders[destination],
                    "AwsSolutions-IAM5[Resource::*]",
                    "cloudwatch:GetMetricWidgetImage (the Slack app route's graphs) has no resource-level "
                    "permissions: its only resource is *.",
                )
            Validations.of(self.forwarders[destination].dead_letter_queue).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SQS3",
                    reason="This queue is the forwarder queue's dead-letter queue; an alarm watches it.",
                ),
            )
        self.endpoint = AlertmanagerEndpoint(
            self,
            "AlertmanagerEndpoint",
            env_name=config.name,
            core=self.core,
            code=code,
            topics={name: topics[name] for name in config.topics},
            log_retention_days=config.forwarders.log_retention_days,
            reserved_concurrency=config.endpoint.reserved_concurrency,
        )
        self.oncall = self._oncall(config, code, list(health_topics.values()))
        # Teams' own alarms, by name prefix, through EventBridge (the project's alarms use their actions).
        self.alarm_state_rules = AlarmStateRules(
            self,
            "AlarmStateRules",
            env_name=config.name,
            prefixes={topic: list(prefixes) for topic, prefixes in config.eventbridge_alarms.items()},
            topics={name: topics[name] for name in config.topics},
        )
        Validations.of(self.endpoint).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5",
                reason="Log streams are created at run time inside the function's own log group (the ARN ends in :*).",
            ),
        )
        Validations.of(self.endpoint.auth_secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="Bearer tokens and HMAC keys are shared with the Alertmanager operators; they are rotated by "
                "adding the new one beside the old (two may be active), not by a Secrets Manager rotation Lambda.",
            ),
        )
        # Dead-alarm detection: alarms that cannot fire, reported once to the infrastructure topic.
        self.audit = DeadAlarmAudit(
            self,
            "DeadAlarmAudit",
            env_name=config.name,
            core=self.core,
            code=code,
            topic=topics["infrastructure"],
            dead_after_hours=config.dead_alarm_after_hours,
            runbook_base_url=config.runbook_base_url,
            log_retention_days=config.forwarders.log_retention_days,
            # Where no concurrency can be reserved (the endpoint's cap is off), the auditor reserves none either.
            one_at_a_time=config.endpoint.reserved_concurrency is not None,
        )
        SelfMonitoring(
            self,
            "SelfMonitoring",
            env_name=config.name,
            forwarders=self.forwarders,
            health_topics=health_topics,
            dead_letter_queue=self.core.dead_letter_queue,
            rejected_queue=self.core.rejected_queue,
            runbook_base_url=config.runbook_base_url,
            endpoint=self.endpoint.function,
            redrive_topics={t: topics[t] for t in redriven},
            rule_names=self.alarm_state_rules.rule_names(),
            auditor=self.audit.function,
            # A ticket, not a page: the warning topic (Slack, no PagerDuty), else the infrastructure topic's readers.
            ticket_topic=topics["warning" if _read(config, "warning") else "infrastructure"],
            threads=self.threads is not None,
            oncall_slack_service=f"{config.name}-slack-interactions" if self.oncall is not None else None,
        )
        Validations.of(self.core.dead_letter_queue).acknowledge(
            Acknowledgment(id="AwsSolutions-SQS3", reason="This queue is the dead-letter queue; an alarm watches it."),
        )
        Validations.of(self.core.rejected_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue keeps refused payloads for a person to read; nothing consumes it to fail again.",
            ),
        )
        for secret in self.core.secrets.values():
            Validations.of(secret).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SMG4",
                    reason="PagerDuty routing keys and Slack webhook URLs are issued by those services; Secrets "
                    "Manager cannot rotate them. Teams replace them by hand (README).",
                ),
            )

        for key, sns_topic in topics.items():
            CfnOutput(self, f"TopicArn{_pascal(key)}", value=sns_topic.topic_arn, description=f"{key} topic")
        CfnOutput(self, "DeadLetterQueueUrl", value=self.core.dead_letter_queue.queue_url)
        CfnOutput(self, "RejectedQueueUrl", value=self.core.rejected_queue.queue_url)
        CfnOutput(self, "KeyArn", value=self.core.key.key_arn)
        for destination, forwarder in self.forwarders.items():
            CfnOutput(self, f"{destination.capitalize()}ForwarderName", value=forwarder.function.function_name)
            CfnOutput(self, f"{destination.capitalize()}ForwarderQueueUrl", value=forwarder.queue.queue_url)
            CfnOutput(
                self,
                f"{destination.capitalize()}ForwarderDeadLetterQueueUrl",
                value=forwarder.dead_letter_queue.queue_url,
            )
        CfnOutput(self, "SecretNames", value=", ".join(config.secret_names()) or "-")
        if self.core.publisher_role:
            CfnOutput(
                self,
                "AlertmanagerPublisherRoleArn",
                value=self.core.publisher_role.role_arn,
                description="The role an Alertmanager assumes to publish with sns_configs (sigv4.role_arn)",
            )
        # The least privilege of each operator tool (infra/operator_policies.py), to attach to whoever runs it.
        resources = Resources(
            env_name=config.name,
            partition=Aws.PARTITION,
            region=self.region,
            account=self.account,
            key_arn=self.core.key.key_arn,
            ledger_table_arn=self.core.ledger_table.table_arn,
            dead_letter_queue_arn=self.core.dead_letter_queue.queue_arn,
            topic_arns=[topics[t].topic_arn for t in redriven],
            forwarder_arns=[f.function.function_arn for f in self.forwarders.values()],
            forwarder_queue_arns=[f.queue.queue_arn for f in self.forwarders.values()],
            forwarder_dead_letter_queue_arns=[f.dead_letter_queue.queue_arn for f in self.forwarders.values()],
        )
        for output, policy in POLICIES.items():
            CfnOutput(self, output, value=self.to_json_string(policy(resources)), description=f"IAM policy: {output}")

    def _oncall(self, config: EnvironmentConfig, code: Any, health_topics: list[sns.ITopic]) -> OnCallEndpoints | None:
        """The on-call endpoints, queue and worker, when the config has an `oncall` section."""
        if config.oncall is None or self.threads is None:
            return None
        pagerduty_routes, _ = config.forwarder_routes("pagerduty")
        oncall = OnCallEndpoints(
            self,
            "OnCall",
            env_name=config.name,
            oncall=config.oncall,
            core=self.core,
            code=code,
            threads=self.threads,
            settings=OnCallSettings(
                slack_apps=config.slack_apps_environment(),
                # A thread's routing is the route (topic) its alert came by: the routing-key secret to acknowledge.
                pagerduty_secrets={route: str(r["secrets"][0]) for route, r in pagerduty_routes.items()},  # type: ignore[index]
                pagerduty_events_url=config.forwarders.pagerduty_events_url,
                log_retention_days=config.forwarders.log_retention_days,
                worker_timeout_seconds=config.forwarders.timeout_seconds,
                runbook_base_url=config.runbook_base_url,
            ),
            health_topics=health_topics,
        )
        Validations.of(oncall).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5",
                reason="Log streams are created at run time inside each function's own log group (the ARN ends in "
                ":*); the worker's mute rules are this environment's own (alarm-mute-rule:<env>-mute-*) on its "
                "alarms (alarm:<env>-*), as PutAlarmMuteRule is authorised on the rule and on each alarm it mutes.",
            ),
        )
        for resource in ("alarm-mute-rule:" + config.name + "-mute-*", "alarm:" + config.name + "-*"):
            arn = f"arn:<AWS::Partition>:cloudwatch:{config.region}:{config.account}:{resource}"
            _acknowledge_finding(
                oncall,
                f"AwsSolutions-IAM5[Resource::{arn}]",
                "Mute rules are this environment's own (<env>-mute-*), on its own alarms (<env>-*): "
                "PutAlarmMuteRule is authorised on the rule and on each alarm it mutes.",
            )
        Validations.of(oncall.dead_letter_queue).acknowledge(
            Acknowledgment(id="AwsSolutions-SQS3", reason="The action queue's dead-letter queue; an alarm watches it.")
        )
        for secret in oncall.secrets.values():
            Validations.of(secret).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SMG4",
                    reason="Slack's signing secret, PagerDuty's webhook secret and API key and the Alertmanager "
                    "credentials are issued by those services; Secrets Manager cannot rotate them (README).",
                ),
            )
        return oncall


def _acknowledge_finding(scope: Construct, finding: str, reason: str) -> None:
    """A granular cdk-nag finding (`AwsSolutions-IAM5[Resource::…]`), acknowledged under both the names it is
    reported by: `cdk synth`'s validation prefixes the pack's name, `validate_scope` (tests) does not."""
    for name in (finding, f"AwsSolutions::{finding}"):
        Validations.of(scope).acknowledge(Acknowledgment(id=name, reason=reason))


def _read(config: EnvironmentConfig, topic: TopicName) -> bool:
    """Whether anybody reads `topic` (a forwarder route or an e-mail address)."""
    routing = config.topics[topic]
    return bool(routing.pagerduty or routing.slack or routing.emails)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))
