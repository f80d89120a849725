"""The key, the topics, the secrets and the dead-letter queue that everything else hangs on."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# Secrets are created holding this placeholder (no real value is ever in a template); the forwarders refuse it
# with "secret ... has no routing_key / webhook_url" until the team puts the real value in (README).
PLACEHOLDER = '{"placeholder": "put the PagerDuty routing key or the Slack webhook URL here"}'


class AlertingCore(Construct):
    """A customer managed key CloudWatch and EventBridge can use, the four topics plus two health topics encrypted
    with it (TLS only), the destination secrets, and the dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        account: str,
        topic_names: dict[str, str],
        secret_names: list[str],
        alertmanager_publisher_role_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        source_account = {"StringEquals": {"aws:SourceAccount": account}}

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{env_name}-alerting",
            description=f"{env_name}: alerting topics, dead-letter queue and destination secrets",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms and EventBridge rules publish to the encrypted topics; SNS writes undeliverable
        # messages to the encrypted dead-letter queue. CDK adds none of this by itself.
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com"):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].capitalize()}ToUseTheKey",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" is this key
                    conditions=source_account,
                )
            )

        if alertmanager_publisher_role_arn:
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowAlertmanagerPublisherToUseTheKey",
                    principals=[iam.ArnPrincipal(alertmanager_publisher_role_arn)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                )
            )

        self.topics: dict[str, sns.Topic] = {}
        for topic, name in topic_names.items():
            self.topics[topic] = sns.Topic(
                self,
                f"Topic{_pascal(topic)}",
                topic_name=name,
                display_name=f"{env_name} {topic} alerts",
                master_key=self.key,
                enforce_ssl=True,
            )
            self._allow_publishers(self.topics[topic], account, alertmanager_publisher_role_arn)

        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue", f"{env_name}-alerting-dlq", self.key)
        # Payloads a forwarder refused (bad input): kept apart from failed deliveries, so that the dead-letter
        # queue's alarm means "not delivered" and this queue's alarm means "someone sends what we cannot read".
        self.rejected_queue = encrypted_queue(self, "RejectedQueue", f"{env_name}-alerting-rejected", self.key)

        # Exactly once to people (Powertools idempotency) and the delivery ledger drills read.
        self.idempotency_table = encrypted_table(
            self, "IdempotencyTable", f"{env_name}-alerting-idempotency", self.key, partition="id", ttl="expiration"
        )
        self.ledger_table = encrypted_table(
            self,
            "LedgerTable",
            f"{env_name}-alerting-ledger",
            self.key,
            partition="alert",
            sort="entry",
            ttl="expires_at",
            removal=RemovalPolicy.RETAIN,
        )

        self.secrets: dict[str, secretsmanager.Secret] = {}
        for index, name in enumerate(sorted(set(secret_names))):
            self.secrets[name] = secretsmanager.Secret(
                self,
                f"Secret{index}",
                secret_name=name,
                description=f"{env_name} alerting destination: put the real value in (see README)",
                encryption_key=self.key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=PLACEHOLDER, generate_string_key="unset", password_length=8
                ),
                removal_policy=RemovalPolicy.RETAIN,
            )

    def _allow_publishers(self, topic: sns.Topic, account: str, alertmanager_role: str | None) -> None:
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAndEventBridgePublish",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        if alertmanager_role:
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AlertmanagerPublish",
                    principals=[iam.ArnPrincipal(alertmanager_role)],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                )
            )


def encrypted_queue(scope: Construct, construct_id: str, name: str, key: kms.IKey) -> sqs.Queue:
    """A queue that keeps what it holds for 14 days, encrypted with the alerting key, TLS only, retained."""
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=name,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=Duration.hours(1),
        retention_period=Duration.days(14),
        enforce_ssl=True,
        removal_policy=RemovalPolicy.RETAIN,
    )


def encrypted_table(
    scope: Construct,
    construct_id: str,
    name: str,
    key: kms.IKey,
    *,
    partition: str,
    ttl: str,
    sort: str | None = None,
    removal: RemovalPolicy = RemovalPolicy.DESTROY,
) -> dynamodb.TableV2:
    """An on-demand table encrypted with the alerting key, with point-in-time recovery and items expiring by TTL."""
    return dynamodb.TableV2(
        scope,
        construct_id,
        table_name=name,
        partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING) if sort else None,
        time_to_live_attribute=ttl,
        billing=dynamodb.Billing.on_demand(),
        encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=removal,
    )


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))
