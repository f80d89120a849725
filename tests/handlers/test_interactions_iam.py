"""The IAM statements kept beside the issue-11 code (interactions.*_policy_statements) are enough for what moto can
check per resource (DynamoDB tables and Secrets Manager secrets): each endpoint and the worker run as a user holding
only them, with moto enforcing IAM (tools.world.iam_enforced); one DynamoDB action less is refused and named.
SQS and the CloudWatch mute rules are checked by moto against "*" only, so their scoping is proved by the wiring's
synthesized-policy tests, not here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alertlib.audit_log import AuditRecord, DynamoAuditLog
from alertlib.endpoint import DynamoRateLimiter
from alertlib.interactions import (
    PagerDutyWebhooks,
    SlackInteractions,
    action_worker_policy_statements,
    pagerduty_webhooks_policy_statements,
    slack_interactions_policy_statements,
)
from alertlib.pagerduty_webhooks import DynamoWebhookDedup, WebhookSecrets, pagerduty_signature
from alertlib.slack_actions import Authoriser
from alertlib.slack_signature import DynamoReplayGuard, SigningSecrets
from tests.unit.interactions_helpers import SIGNING_SECRET, click, create_audit_table, create_state_table, form
from tests.unit.interactions_helpers import signed_event as slack_event
from tests.unit.test_pagerduty_webhooks import webhook
from tools.world import iam_enforced

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:dev-actions"
WEBHOOK_SECRET = "pd-webhook-secret-0123456789abcdef"


def session_with(iam: Any, name: str, statements: list[dict[str, Any]]) -> boto3.Session:
    """A session of a new IAM user holding only `statements`."""
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1"
    )


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        create_state_table(dynamodb, "dev-interactions")
        create_audit_table(dynamodb, "dev-action-audit")
        arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
        yield {
            "iam": boto3.client("iam", region_name="us-east-1"),
            "replay": arn + "dev-interactions",
            "audit": arn + "dev-action-audit",
            "signing": secrets.create_secret(
                Name="dev/slack-signing", SecretString=json.dumps({"signing_secret": SIGNING_SECRET})
            )["ARN"],
            "webhook": secrets.create_secret(
                Name="dev/pagerduty-webhook", SecretString=json.dumps({"secrets": [WEBHOOK_SECRET]})
            )["ARN"],
        }


def slack_endpoint(session: boto3.Session, jobs: list[Any]) -> SlackInteractions:
    dynamodb, secrets = session.client("dynamodb"), session.client("secretsmanager")
    return SlackInteractions(
        secrets=lambda: SigningSecrets.from_secret(
            secrets.get_secret_value(SecretId="dev/slack-signing")["SecretString"]
        ),
        guard=DynamoReplayGuard("dev-interactions", dynamodb),
        authoriser=Authoriser(user_ids=frozenset({"W111"})),
        handoff=jobs.append,
        limiter=DynamoRateLimiter("dev-interactions", 20, client=dynamodb),
    )


def test_interactions_iam_slack_endpoint_statements_are_enough(world: dict[str, Any]) -> None:
    statements = slack_interactions_policy_statements(
        signing_secret_arn=world["signing"], replay_table_arn=world["replay"], queue_arn=QUEUE_ARN
    )
    jobs: list[Any] = []
    endpoint = slack_endpoint(session_with(world["iam"], "slack", statements), jobs)
    with iam_enforced() as denials:
        answer = endpoint.handle(slack_event(form(click()), timestamp=int(time.time())))
    assert denials == [] and answer.status == 200 and len(jobs) == 1


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"])
def test_interactions_iam_slack_endpoint_one_action_less_is_refused(world: dict[str, Any], action: str) -> None:
    statements = slack_interactions_policy_statements(
        signing_secret_arn=world["signing"], replay_table_arn=world["replay"], queue_arn=QUEUE_ARN
    )
    for statement in statements:
        statement["Action"] = [a for a in statement["Action"] if a != action] or ["none:Nothing"]
    endpoint = slack_endpoint(session_with(world["iam"], "slack", statements), [])
    with iam_enforced() as denials, pytest.raises(Exception, match="AccessDenied"):
        endpoint.handle(slack_event(form(click()), timestamp=int(time.time())))
    assert {d.action for d in denials} == {action}


def test_interactions_iam_pagerduty_endpoint_statements_are_enough(world: dict[str, Any]) -> None:
    statements = pagerduty_webhooks_policy_statements(
        webhook_secret_arn=world["webhook"], replay_table_arn=world["replay"], queue_arn=QUEUE_ARN
    )
    session = session_with(world["iam"], "pagerduty", statements)
    secrets = session.client("secretsmanager")
    calls: list[Any] = []

    def handoff(job: Any) -> None:
        calls.append(job)
        if len(calls) == 1:
            raise RuntimeError("queue down")  # the delivery's id is released (DeleteItem), the retry goes through

    endpoint = PagerDutyWebhooks(
        secrets=lambda: WebhookSecrets.from_secret(
            secrets.get_secret_value(SecretId="dev/pagerduty-webhook")["SecretString"]
        ),
        dedup=DynamoWebhookDedup("dev-interactions", session.client("dynamodb")),
        handoff=handoff,
    )
    raw = json.dumps(webhook()).encode()
    event = {
        "requestContext": {"http": {"method": "POST"}},
        "headers": {"X-PagerDuty-Signature": pagerduty_signature(WEBHOOK_SECRET, raw), "X-Webhook-Id": "w-1"},
        "body": raw.decode(),
    }
    with iam_enforced() as denials:
        with pytest.raises(RuntimeError):
            endpoint.handle(event)
        assert endpoint.handle(event).status == 202
    assert denials == []


def test_interactions_iam_worker_audit_and_claims_are_enough(world: dict[str, Any]) -> None:
    statements = action_worker_policy_statements(
        queue_arn=QUEUE_ARN, audit_table_arn=world["audit"], replay_table_arn=world["replay"],
        secret_arns=[world["webhook"]],
    )  # fmt: skip
    session = session_with(world["iam"], "worker", statements)
    dynamodb = session.client("dynamodb")
    claims = DynamoReplayGuard("dev-interactions", dynamodb, prefix="action#")
    with iam_enforced() as denials:
        assert DynamoAuditLog("dev-action-audit", dynamodb).record(
            AuditRecord(at=datetime.now(UTC), thread_key="k", action="alert.ack", result="ok", user_id="W111")
        )
        assert claims.first_use("W111#1.2#alert.ack#k", time.time())
        claims.forget("W111#1.2#alert.ack#k")
        session.client("secretsmanager").get_secret_value(SecretId="dev/pagerduty-webhook")
    assert denials == []
    with iam_enforced() as denials:
        assert not DynamoAuditLog("dev-other-table", dynamodb).record(
            AuditRecord(at=datetime.now(UTC), thread_key="k", action="alert.ack", result="ok", user_id="W111")
        )
    assert [d.action for d in denials] == ["dynamodb:PutItem"]
