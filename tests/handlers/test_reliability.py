"""Exactly once to people (Powertools idempotency under moto), the delivery ledger, the Slack fallback."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from alertlib.deliver import Deliverer, Destination
from alertlib.forward import DeliveriesFailedError, Forwarder
from alertlib.models import Severity
from alertlib.reliability import Ledger
from alertlib.settings import Route, Settings
from tests.conftest import PAGERDUTY_SECRET, SLACK_SECRET, FakeContext, sns_event
from tests.unit.helpers import alarm, alertmanager
from tools.standins import Answer, StandIn

IDEMPOTENCY = "idempotency"
LEDGER = "ledger"


@pytest.fixture
def tables(secrets: Any) -> Any:
    import boto3

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=IDEMPOTENCY,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName=LEDGER,
        KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "alert", "AttributeType": "S"},
            {"AttributeName": "entry", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


@pytest.fixture
def build(tables: Any, pagerduty: StandIn) -> Callable[..., Forwarder]:
    def make(destination: Destination, secrets: tuple[str, ...] | None = None, **settings: Any) -> Forwarder:
        names = secrets or ((PAGERDUTY_SECRET,) if destination is Destination.PAGERDUTY else (SLACK_SECRET,))
        return Forwarder(
            destination=destination,
            settings=Settings(
                routes={"prod-critical": Route(Severity.CRITICAL, names)},
                idempotency_table=IDEMPOTENCY,
                ledger_table=LEDGER,
                **settings,
            ),
            deliverer=Deliverer(pagerduty_url=pagerduty.url, retries=1, backoff_factor=0.01, read_timeout=2.0),
        )

    return make


def test_same_event_three_times_posts_once_per_destination(
    build: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn
) -> None:
    event = sns_event(alarm(), alertmanager(3))
    for destination in (Destination.PAGERDUTY, Destination.SLACK):
        forwarder = build(destination)
        for _ in range(3):
            forwarder.run(event, FakeContext())
    assert len(pagerduty.accepted()) == 2
    assert len(slack.accepted()) == 2


def test_a_fresh_container_still_posts_once(build: Callable[..., Forwarder], slack: StandIn) -> None:
    event = sns_event(alarm())
    build(Destination.SLACK).run(event, FakeContext())
    build(Destination.SLACK).run(event, FakeContext())  # a new container: only DynamoDB remembers
    assert len(slack.accepted()) == 1


def test_a_retry_after_a_partial_failure_sends_only_what_did_not_go(
    build: Callable[..., Forwarder], secrets: Any, slack: StandIn
) -> None:
    with StandIn("slack") as second:
        secrets.create_secret(Name="alerting/test/slack-2", SecretString=second.url)
        forwarder = build(Destination.SLACK, secrets=(SLACK_SECRET, "alerting/test/slack-2"))
        second.then(Answer(status=404, body="channel_not_found"))
        event = sns_event(alarm())
        with pytest.raises(DeliveriesFailedError):
            forwarder.run(event, FakeContext())
        forwarder.run(event, FakeContext())  # Lambda's retry
        assert len(slack.accepted()) == 1
        assert len(second.accepted()) == 1


def test_the_ledger_records_every_delivery(build: Callable[..., Forwarder], tables: Any) -> None:
    body = alarm()
    build(Destination.PAGERDUTY).run(sns_event(body), FakeContext())
    build(Destination.SLACK).run(sns_event(body), FakeContext())
    resolved = sns_event(alarm(state="OK"))
    resolved["Records"][0]["Sns"]["MessageId"] = "ok-message"
    build(Destination.PAGERDUTY).run(resolved, FakeContext())
    rows = Ledger(LEDGER).deliveries(body["AlarmArn"], since=0)
    assert [(r["state"], r["destination"]) for r in rows] == [
        ("firing", "pagerduty"),
        ("firing", "slack"),
        ("resolved", "pagerduty"),
    ]
    assert all(r["seconds_to_deliver"] is not None and r["seconds_to_deliver"] > 0 for r in rows)
    [item] = tables.query(
        TableName=LEDGER,
        KeyConditionExpression="alert = :a AND begins_with(entry, :e)",
        ExpressionAttributeValues={":a": {"S": body["AlarmArn"]}, ":e": {"S": "resolved#"}},
    )["Items"]
    assert int(item["expires_at"]["N"]) > float(item["delivered_at"]["N"])


def test_pagerduty_failing_falls_back_to_slack_and_the_event_still_fails(
    build: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn
) -> None:
    pagerduty.then(*[Answer(status=503)] * 10)
    forwarder = build(Destination.PAGERDUTY, fallback_slack_secret=SLACK_SECRET)
    with pytest.raises(DeliveriesFailedError, match="HTTP 503"):
        forwarder.run(sns_event(alarm()), FakeContext())
    [message] = slack.accepted()
    assert message.body["blocks"][0]["text"]["text"].startswith("\u26a0\ufe0f PagerDuty delivery failed")
    assert "page the on-call by hand" in json.dumps(message.body)
    assert "prod-rds-orders-db-CPUUtilization" in message.body["text"]
    with pytest.raises(DeliveriesFailedError):
        forwarder.run(sns_event(alarm()), FakeContext())  # Lambda's retry: the fallback is not repeated
    assert len(slack.accepted()) == 1


def test_a_new_alarm_going_ok_sends_nothing(
    build: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn
) -> None:
    # Every alarm a deploy creates goes INSUFFICIENT_DATA -> OK, and CloudWatch runs its OK actions.
    new_alarm_ok = sns_event(alarm(state="OK", OldStateValue="INSUFFICIENT_DATA"))
    for destination in (Destination.PAGERDUTY, Destination.SLACK):
        assert build(destination).run(new_alarm_ok, FakeContext())["ignored"] == 1
    assert pagerduty.received == slack.received == []


def test_an_ok_after_a_page_resolves_and_says_how_long_it_lasted(
    build: Callable[..., Forwarder], slack: StandIn
) -> None:
    forwarder = build(Destination.SLACK)
    forwarder.run(sns_event(alarm(state="ALARM")), FakeContext())
    resolved = sns_event(alarm(state="OK", StateChangeTime="2026-11-22T03:40:00.000+0000"))
    resolved["Records"][0]["Sns"]["MessageId"] = "ok"
    forwarder.run(resolved, FakeContext())
    fields = [f["text"] for b in slack.accepted()[1].body["blocks"] for f in b.get("fields", [])]
    assert "*Lasted*\n45m 0s" in fields  # 02:55 (the ALARM) to 03:40
