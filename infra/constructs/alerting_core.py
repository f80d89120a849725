"""The key, the topics, the secrets and the dead-letter queue that everything else hangs on."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import AlertmanagerPublisher

# Secrets are created holding this placeholder (no real value is ever in a template); the forwarders refuse it
# with "secret ... has no routing_key / webhook_url" until the team puts the real value in (README).
PLACEHOLDER = '{"placeholder": "put the PagerDuty routing key or the Slack webhook URL here"}'


KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey*"]


def use_alerting_key(key_arn: str) -> iam.PolicyStatement:
    """What a role of this project needs of the alerting key to read and write what it encrypts (secrets, tables,
    queues, topics): Decrypt and GenerateDataKey, through those services."""
    return iam.PolicyStatement(
        sid="UseAlertingKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key_arn]
    )


class AlertingCore(Construct):
    """A customer managed key CloudWatch, EventBridge and SNS can use as each documents, the four topics plus two
    health topics encrypted with it (TLS only), the destination secrets, the dead-letter and rejected queues, the
    tables, and (when configured) the role an Alertmanager assumes to publish with `sns_configs`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        account: str,
        topic_names: dict[str, str],
        alert_topics: list[str],
        redrive_topics: list[str],
        secret_names: list[str],
        publisher: AlertmanagerPublisher | None,
    ) -> None:
        """`alert_topics`: the keys of `topic_names` senders publish to (the publisher role's); `redrive_topics`: the
        keys of the topics whose subscriptions redrive undeliverable messages to the dead-letter queue."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Built from the names, not referenced: the topics are encrypted with this key, so a Ref to them from the
        # key policy would be a circular dependency.
        topic_arns = {
            key: stack.format_arn(service="sns", resource=name, arn_format=ArnFormat.NO_RESOURCE_NAME)
            for key, name in topic_names.items()
        }
        self.publisher_role = publisher_role(self, env_name, publisher) if publisher else None

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{env_name}-alerting",
            description=f"{env_name}: alerting topics, dead-letter queue and destination secrets",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CDK adds none of the grants below by itself. In a key policy, resource "*" is this key.
        # CloudWatch alarm actions publish to the encrypted topics. CloudWatch supports aws:SourceAccount.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudwatchToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=KEY_USE,
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        # EventBridge rules publish to the encrypted topics. The SNS page above says EventBridge does not support
        # aws:SourceAccount / aws:SourceArn / aws:SourceOrgID in the key policy (the KMS request does not carry
        # them: a condition would deny every delivery), so this grant has none; the topic policy scopes the rules.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventsToUseTheKey",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=KEY_USE,
                resources=["*"],
            )
        )
        # SNS delivers these topics' messages to the forwarders' encrypted queues and writes what a subscription
        # could not deliver to the encrypted dead-letter queue, for these topics only (aws:SourceArn is the topic, as
        # the SQS page's example for SNS and other event sources shows):
        # https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services
        if redrive_topics:
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowSnsToUseTheKey",
                    principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                    actions=KEY_USE,
                    resources=["*"],
                    conditions={"ArnEquals": {"aws:SourceArn": [topic_arns[t] for t in redrive_topics]}},
                )
            )
        # The publisher role this stack creates is in the key's own account: its IAM policy (below) is enough, as the
        # key policy lets the account's IAM policies grant use (the default statement). Naming a role created in the
        # same deploy in a key or topic policy can fail it ("invalid principal": IAM is eventually consistent).
        # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
        if self.publisher_role:
            # What an Alertmanager's sns_configs calls: Publish, which on an encrypted topic takes GenerateDataKey
            # and Decrypt on the key. https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
            iam.Policy(
                self,
                "AlertmanagerPublisherPolicy",
                roles=[self.publisher_role],
                statements=[
                    iam.PolicyStatement(
                        sid="PublishToAlertTopics",
                        actions=["sns:Publish"],
                        resources=[topic_arns[t] for t in alert_topics],
                    ),
                    use_alerting_key(self.key.key_arn),
                ],
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
            self._allow_publishers(self.topics[topic], stack, account)

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
        # The forwarders' pacing: per channel (one webhook or routing key), its send slot and buffered records.
        self.pacer_table = encrypted_table(
            self, "PacerTable", f"{env_name}-pacer", self.key, partition="channel", sort="item", ttl="expires_at"
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

    def _allow_publishers(self, topic: sns.Topic, stack: Stack, account: str) -> None:
        # CloudWatch alarms of this account. https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        # EventBridge rules of this account (the teams' and this project's own): EventBridge documents its target
        # grants with aws:SourceArn, the rule's ARN. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgePublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"ArnLike": {"aws:SourceArn": stack.format_arn(service="events", resource="rule/*")}},
            )
        )


def publisher_role(scope: Construct, env_name: str, publisher: AlertmanagerPublisher) -> iam.Role:
    """`<env>-alertmanager-publisher`, without its permissions (`AlertingCore` adds them: publish to the alert
    topics and use the key for it, nothing else).

    Trusted principals are matched on `aws:PrincipalArn` under their account's root, not named as principals: a
    trust policy naming a role that does not exist fails the deploy (MalformedPolicyDocument), and one naming a
    role that was deleted and recreated silently stops matching it; a condition is a string and does neither.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
    """
    principals: list[iam.IPrincipal] = []
    for trusted in publisher.trusted_accounts:
        arns = [a for a in publisher.trusted_principal_arns if f":{trusted}:" in a]
        if any(a.endswith(":root") for a in arns):  # the whole account: its IAM policies decide who may assume
            principals.append(iam.AccountPrincipal(trusted))
        else:  # aws:PrincipalArn of a role session is the role's ARN, path included
            principals.append(iam.AccountPrincipal(trusted).with_conditions({"ArnLike": {"aws:PrincipalArn": arns}}))
    if publisher.eks_pod_identity:
        # https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html
        principals.append(iam.ServicePrincipal("pods.eks.amazonaws.com").with_session_tags())
    role = iam.Role(
        scope,
        "AlertmanagerPublisher",
        role_name=f"{env_name}-alertmanager-publisher",
        description=f"{env_name}: an Alertmanager publishing with sns_configs (SigV4); sns:Publish on the alert topics",
        assumed_by=iam.CompositePrincipal(*principals),
        max_session_duration=Duration.hours(1),
    )
    return role


def encrypted_queue(
    scope: Construct,
    construct_id: str,
    name: str,
    key: kms.IKey,
    *,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
    redrive_allow_policy: sqs.RedriveAllowPolicy | None = None,
) -> sqs.Queue:
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
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
        redrive_allow_policy=redrive_allow_policy,
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
