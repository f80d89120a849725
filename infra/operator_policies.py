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
    forwarder_queue_arns: list[str]
    forwarder_dead_letter_queue_arns: list[str]

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
    """`tools.drill`: Drill.alarms (DescribeAlarms by the names in the synthesized templates, metric and composite),
    Drill._set (SetAlarmState), Drill._wait
    (the ledger's Ledger.deliveries: Query; the table is encrypted with the alerting key)."""
    return _document(
        # DescribeAlarms is a List action (asked with alarm names); granted on every alarm it can list, so that a
        # query is never refused for an ARN pattern. It reads configuration only.
        {"Sid": "ListAlarms", "Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": "*"},
        {"Sid": "SetAlarmStates", "Effect": "Allow", "Action": "cloudwatch:SetAlarmState", "Resource": r.alarms},
        {"Sid": "ReadLedger", "Effect": "Allow", "Action": "dynamodb:Query", "Resource": r.ledger_table_arn},
        r.key_via("dynamodb"),
    )


def redrive_policy(r: Resources) -> Document:
    """`tools.redrive`: the core dead-letter queue's messages: main (GetQueueUrl), redrive (ReceiveMessage,
    DeleteMessage), _release (ChangeMessageVisibility), lambda_invoker (InvokeFunction on the forwarders),
    sns_subscribers (ListSubscriptionsByTopic on the topics they read), lambda_invoker sending an SNS notification
    back to a forwarder queue (GetQueueUrl, SendMessage); a forwarder's dead-letter queue: move_back
    (GetQueueUrl, StartMessageMoveTask, ListMessageMoveTasks; SQS moves the messages with the caller's permissions:
    ReceiveMessage, DeleteMessage, GetQueueAttributes on the dead-letter queue, SendMessage on its source queue).
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html
    All the queues are encrypted with the alerting key."""
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
        {
            "Sid": "MoveForwarderDeadLettersBack",
            "Effect": "Allow",
            "Action": [
                "sqs:GetQueueUrl",
                "sqs:StartMessageMoveTask",
                "sqs:ListMessageMoveTasks",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            "Resource": r.forwarder_dead_letter_queue_arns,
        },
        {
            "Sid": "SendToForwarderQueues",
            "Effect": "Allow",
            "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"],
            "Resource": r.forwarder_queue_arns,
        },
        r.key_via("sqs"),
        {
            "Sid": "EncryptThroughSqs",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": r.key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{r.region}.amazonaws.com"}},
        },
        {"Sid": "InvokeForwarders", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": r.forwarder_arns},
        {
            "Sid": "FindSubscribers",
            "Effect": "Allow",
            "Action": "sns:ListSubscriptionsByTopic",
            "Resource": r.topic_arns,
        },
    )


def audit_policy(r: Resources) -> Document:
    """`tools.audit`: CloudWatchReader.alarms (DescribeAlarms by the `<env>-` prefix), .silent (GetMetricData) and
    .listed (ListMetrics). Read-only: it neither publishes nor remembers. No action takes a resource narrower than "*"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/permissions-reference-cw.html)."""
    del r  # nothing of the environment's own is touched
    return _document(
        {
            "Sid": "ReadAlarmsAndMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics"],
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
