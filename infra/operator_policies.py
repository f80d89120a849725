"""The least privilege each operator tool needs, as IAM policy documents the alerting stack outputs.

One function per tool, beside the calls it makes (`tools/<tool>.py`); `POLICIES` names the stack output of each.
Adding a tool's policy is one function and one line in `POLICIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Statement = dict[str, Any]
Document = dict[str, Any]


@dataclass(frozen=True)
class Resources:
    """What the tools act on, as ARNs (CloudFormation tokens at synth time)."""

    env_name: str
    partition: str
    region: str
    account: str
    key_arn: str
    ledger_table_arn: str
    dead_letter_queue_arn: str
    topic_arns: list[str]  # every topic a forwarder subscribes to
    forwarder_arns: list[str]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    @property
    def alarms(self) -> str:
        """Every alarm of the environment: all are named `<env>-...`."""
        return self.arn("cloudwatch", f"alarm:{self.env_name}-*")

    def key_via(self, service: str) -> Statement:
        """Decrypt with the alerting key only when `service` asks on the caller's behalf (reading its data)."""
        return {
            "Sid": f"DecryptThrough{service.capitalize()}",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": self.key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"{service}.{self.region}.amazonaws.com"}},
        }


def drill_policy(r: Resources) -> Document:
    """`tools.drill`: Drill.alarms (DescribeAlarms by the `<env>-` prefix), Drill._set (SetAlarmState), Drill._wait
    (the ledger's Ledger.deliveries: Query; the table is encrypted with the alerting key)."""
    return _document(
        # DescribeAlarms is a List action asked with a name prefix; granted on every alarm it can list, so that
        # a prefix query is never refused for an ARN pattern. It reads configuration only.
        {"Sid": "ListAlarms", "Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": "*"},
        {"Sid": "SetAlarmStates", "Effect": "Allow", "Action": "cloudwatch:SetAlarmState", "Resource": r.alarms},
        {"Sid": "ReadLedger", "Effect": "Allow", "Action": "dynamodb:Query", "Resource": r.ledger_table_arn},
        r.key_via("dynamodb"),
    )


def redrive_policy(r: Resources) -> Document:
    """`tools.redrive`: main (GetQueueUrl), redrive (ReceiveMessage, DeleteMessage), _release
    (ChangeMessageVisibility) on the dead-letter queue, encrypted with the alerting key; lambda_invoker
    (InvokeFunction on the forwarders); sns_subscribers (ListSubscriptionsByTopic on the topics they read)."""
    return _document(
        {
            "Sid": "WorkTheDeadLetterQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
            ],
            "Resource": r.dead_letter_queue_arn,
        },
        r.key_via("sqs"),
        {"Sid": "InvokeForwarders", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": r.forwarder_arns},
        {
            "Sid": "FindSubscribers",
            "Effect": "Allow",
            "Action": "sns:ListSubscriptionsByTopic",
            "Resource": r.topic_arns,
        },
    )


def audit_policy(r: Resources) -> Document:
    """`tools.audit`: CloudWatchReader.alarms (DescribeAlarms by the `<env>-` prefix) and .silent (GetMetricData).
    Read-only: it neither publishes nor remembers. Neither action takes a resource narrower than "*"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/permissions-reference-cw.html)."""
    del r  # nothing of the environment's own is touched
    return _document(
        {
            "Sid": "ReadAlarmsAndMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"],
            "Resource": "*",
        },
    )


# Stack output name -> the tool's policy.
POLICIES: dict[str, Callable[[Resources], Document]] = {
    "DrillPolicy": drill_policy,
    "RedrivePolicy": redrive_policy,
    "AuditPolicy": audit_policy,
}


def _document(*statements: Statement) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}
