"""moto world for the issue-11 interaction handler tests: secrets, the state and audit tables, the action queue."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from alertlib.deliver import Deadline
from alertlib.interactions import ThreadNote
from tests.unit.interactions_helpers import SIGNING_SECRET, create_audit_table, create_state_table

SIGNING_SECRET_NAME = "alerting/test/slack-signing"
WEBHOOK_SECRET_NAME = "alerting/test/pagerduty-webhook"
WEBHOOK_SECRET = "pd-webhook-secret-0123456789abcdef"


@dataclass
class World:
    secrets: Any
    dynamodb: Any
    sqs: Any
    queue_url: str
    state_table: str
    audit_table: str

    def jobs(self) -> list[dict[str, Any]]:
        """Every job on the queue (received and deleted)."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def sqs_event(self, *jobs: Any, receives: int = 1) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": f"m-{index}",
                    "body": job if isinstance(job, str) else json.dumps(job),
                    "attributes": {"ApproximateReceiveCount": str(receives)},
                    "eventSource": "aws:sqs",
                }
                for index, job in enumerate(jobs)
            ]
        }


def make_world(secrets: Any) -> World:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    secrets.create_secret(Name=SIGNING_SECRET_NAME, SecretString=json.dumps({"signing_secret": SIGNING_SECRET}))
    secrets.create_secret(Name=WEBHOOK_SECRET_NAME, SecretString=json.dumps({"secrets": [WEBHOOK_SECRET]}))
    return World(
        secrets=secrets,
        dynamodb=dynamodb,
        sqs=sqs,
        queue_url=sqs.create_queue(QueueName="actions")["QueueUrl"],
        state_table=create_state_table(dynamodb),
        audit_table=create_audit_table(dynamodb),
    )


@dataclass
class Recorder:
    """Stands in for the thread poster and the response_url: records what would be posted."""

    notes: list[ThreadNote] = field(default_factory=list)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def post(self, note: ThreadNote, deadline: Deadline) -> None:
        self.notes.append(note)

    def respond(self, url: str, body: dict[str, Any], deadline: Deadline) -> None:
        self.responses.append((url, body))
