"""The Alertmanager webhook endpoint: a Lambda behind a function URL, its rate-limit table and auth secret."""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.alerting_core import AlertingCore, encrypted_table, use_alerting_key
from infra.constructs.forwarders import own_function

AUTH_PLACEHOLDER = '{"bearer_tokens": [], "hmac_keys": []}'


def endpoint_statements(
    core: AlertingCore, auth_secret: secretsmanager.ISecret, table: dynamodb.ITableV2, topics: Iterable[sns.ITopic]
) -> list[iam.PolicyStatement]:
    """Exactly the AWS calls the endpoint makes, each beside the code path that makes it (functions/alertlib/)."""
    return [
        # alertmanager_endpoint.build: Credentials.from_secret(powertools_secret(AUTH_SECRET)).
        iam.PolicyStatement(
            sid="ReadAuthSecret",
            actions=["secretsmanager:GetSecretValue"],
            resources=[auth_secret.secret_arn],
        ),
        # endpoint.DynamoRateLimiter: consume() updates a counter and refund() gives back what a failed publish
        # took (UpdateItem); first_use() puts a signature and forget() deletes it when nothing was published; after a
        # partial publish, each part that went is put and the retry takes it by a conditional delete.
        iam.PolicyStatement(
            sid="CountAndRememberInOwnTable",
            actions=["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            resources=[table.table_arn],
        ),
        # endpoint.SnsPublisher: Publish to the topic of the group's severity.
        iam.PolicyStatement(
            sid="PublishToAlertTopics",
            actions=["sns:Publish"],
            resources=[topic.topic_arn for topic in topics],
        ),
        # The secret, the table and the topics are encrypted with the alerting key.
        use_alerting_key(core.key.key_arn),
    ]


class AlertmanagerEndpoint(Construct):
    """`<env>-alertmanager-endpoint`: authenticates (bearer or HMAC), rate-limits in DynamoDB and publishes each
    body to the topic of its severity. Its role may do exactly that and nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        core: AlertingCore,
        code: lambda_.Code,
        topics: dict[str, sns.ITopic],
        log_retention_days: int,
        reserved_concurrency: int | None,
        rate_limit_per_minute: int = 100,
    ) -> None:
        """`reserved_concurrency`: the most executions the public URL can hold at once (None: no cap), so that a
        flood of requests is throttled here and cannot take the account's concurrency from the forwarders."""
        super().__init__(scope, construct_id)
        name = f"{env_name}-alertmanager-endpoint"
        self.table = encrypted_table(
            self, "RateLimits", f"{env_name}-alertmanager-endpoint", core.key, partition="pk", ttl="expires_at"
        )
        self.auth_secret_name = f"alerting/{env_name}/alertmanager-endpoint"
        self.auth_secret = secretsmanager.Secret(
            self,
            "AuthSecret",
            secret_name=self.auth_secret_name,
            description=f"{env_name}: bearer tokens and HMAC keys the Alertmanager endpoint accepts (two of each "
            "may be active during a rotation)",
            encryption_key=core.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=AUTH_PLACEHOLDER, generate_string_key="unset", password_length=8
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        statements = endpoint_statements(core, self.auth_secret, self.table, topics.values())
        self.function = own_function(
            self,
            name=name,
            description=f"{env_name}: Alertmanager webhook in, SNS out",
            role_description=f"{name}: logs, its auth secret, its table, publish to the alert topics; nothing else",
            handler="alertmanager_endpoint.handler",
            code=code,
            memory_mb=512,
            timeout_seconds=15,
            log_retention_days=log_retention_days,
            statements=statements,
            reserved_concurrency=reserved_concurrency,
            environment={
                "TOPIC_ARNS": json.dumps({k: t.topic_arn for k, t in topics.items()}, sort_keys=True),
                "AUTH_SECRET": self.auth_secret_name,
                "RATE_LIMIT_TABLE": self.table.table_name,
                "RATE_LIMIT_PER_MINUTE": str(rate_limit_per_minute),
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "AlertForwarding",
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
        ).function
        # Authentication is the function's own (bearer token or HMAC signature): Alertmanager cannot sign SigV4.
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        CfnOutput(scope, "AlertmanagerEndpointUrl", value=f"{self.url.url}alertmanager")
        CfnOutput(scope, "AlertmanagerEndpointAuthSecret", value=self.auth_secret_name)
        # What an Alertmanager using sns_configs (SigV4) needs: publish to the topics, use the key.
        publisher = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": [t.topic_arn for t in topics.values()]},
                {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": core.key.key_arn},
            ],
        }
        CfnOutput(
            scope,
            "AlertmanagerPublisherPolicy",
            value=Stack.of(self).to_json_string(publisher),
            description="IAM policy for an Alertmanager that publishes with sns_configs",
        )
