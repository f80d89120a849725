"""The Lambda entry points as Lambda calls them: settings from the environment, secrets from Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

import pytest

import pagerduty_forwarder
import slack_forwarder
from alertlib.forward import DeliveriesFailedError
from tests.conftest import PAGERDUTY_SECRET, SLACK_SECRET, FakeContext, load_event, sns_event
from tests.unit.helpers import alarm
from tools.standins import StandIn


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, secrets: Any, pagerduty: StandIn) -> None:
    routes = {
        "prod-critical": {"severity": "critical", "secret": PAGERDUTY_SECRET},
        "default": {"severity": "error", "secret": PAGERDUTY_SECRET},
    }
    monkeypatch.setenv("ROUTES", json.dumps(routes))
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", pagerduty.url)
    monkeypatch.setattr(pagerduty_forwarder, "forwarder", None)
    monkeypatch.setattr(slack_forwarder, "forwarder", None)


def test_pagerduty_handler_from_environment(environment: None, pagerduty: StandIn) -> None:
    result = pagerduty_forwarder.handler(sns_event(alarm()), FakeContext())
    assert result["delivered"] == 1
    assert pagerduty.received[0].body["payload"]["severity"] == "critical"


def test_slack_handler_from_environment(environment: None, slack: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {"default": {"severity": "warning", "secret": SLACK_SECRET}}
    monkeypatch.setenv("ROUTES", json.dumps(routes))
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    assert slack_forwarder.handler(event, FakeContext())["delivered"] == 1
    assert slack.received[0].body["blocks"][0]["type"] == "header"


def test_handler_without_a_route_for_the_topic_fails_so_the_event_is_kept(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTES", json.dumps({"other": {"severity": "critical", "secret": "x"}}))
    with pytest.raises(DeliveriesFailedError, match="no pagerduty secret routed"):
        pagerduty_forwarder.handler(sns_event(alarm(), topic="arn:aws:sns:us-east-1:1:unknown"), FakeContext())


def test_rejected_payloads_are_parked_in_the_queue(
    environment: None, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    monkeypatch.setenv("REJECTED_QUEUE_URL", queue_url)
    result = pagerduty_forwarder.handler(sns_event("Hello from SNS!", alarm()), FakeContext())
    assert (result["rejected"], result["delivered"]) == (1, 1)
    [message] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == "Hello from SNS!"
    assert "not JSON" in message["MessageAttributes"]["reason"]["StringValue"]
    assert message["MessageAttributes"]["message_id"]["StringValue"] == "00000000-0000-0000-0000-000000000000"


def test_bad_settings_fail_fast_naming_the_variable(environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from alertlib.errors import ConfigurationError

    monkeypatch.setenv("INSUFFICIENT_DATA", "sometimes")
    with pytest.raises(ConfigurationError, match="INSUFFICIENT_DATA"):
        pagerduty_forwarder.handler(sns_event(alarm()), FakeContext())


def test_one_topic_to_two_slack_channels(
    environment: None, monkeypatch: pytest.MonkeyPatch, secrets: Any, slack: StandIn
) -> None:
    with StandIn("slack") as second:
        secrets.create_secret(Name="alerting/test/slack-2", SecretString=json.dumps({"webhook_url": second.url}))
        routes = {"prod-critical": {"severity": "critical", "secrets": [SLACK_SECRET, "alerting/test/slack-2"]}}
        monkeypatch.setenv("ROUTES", json.dumps(routes))
        assert slack_forwarder.handler(sns_event(alarm()), FakeContext())["delivered"] == 2
        assert len(slack.accepted()) == len(second.accepted()) == 1


def test_handlers_answer_an_sqs_batch_with_its_failed_records(
    environment: None, monkeypatch: pytest.MonkeyPatch, aws: Any, pagerduty: StandIn, slack: StandIn
) -> None:
    """As the event source mapping calls them: the SNS notification inside each SQS record, paced through the pacer
    table; the answer names only the records to receive again."""
    import boto3

    from tests.unit.test_parse import sqs_event

    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="pacer",
        KeySchema=[{"AttributeName": "channel", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "channel", "AttributeType": "S"},
            {"AttributeName": "item", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="queue")["QueueUrl"]
    monkeypatch.setenv("PACER_TABLE", "pacer")
    monkeypatch.setenv("QUEUE_URL", queue_url)
    assert pagerduty_forwarder.handler(sqs_event(alarm()), FakeContext()) == {"batchItemFailures": []}
    assert pagerduty.received[0].body["payload"]["severity"] == "critical"

    monkeypatch.setenv("ROUTES", json.dumps({"prod-critical": {"severity": "critical", "secret": SLACK_SECRET}}))
    event = sqs_event(alarm(name="a"), alarm(name="b"))
    body = json.loads(event["Records"][1]["body"])
    body["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:unrouted"
    event["Records"][1]["body"] = json.dumps(body)
    answer = slack_forwarder.handler(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert len(slack.accepted()) == 1
