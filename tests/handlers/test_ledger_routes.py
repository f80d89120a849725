"""The delivery ledger names the route (the secret's name) of each delivery, so that a drill waits for every route
of a topic: a Slack webhook and a Slack app route on one topic are two deliveries, not one."""

from __future__ import annotations

from typing import Any

from alertlib.deliver import Deliverer, Destination
from alertlib.forward import Forwarder
from alertlib.models import Severity
from alertlib.reliability import Ledger
from alertlib.settings import Route, Settings
from tests.conftest import SLACK_SECRET, FakeContext, sns_event
from tests.unit.helpers import alarm
from tools.standins import StandIn

LEDGER = "ledger"
SECOND = "alerting/test/slack-2"


def _ledger_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=LEDGER,
        KeySchema=[{"AttributeName": "alert", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "alert", "AttributeType": "S"},
            {"AttributeName": "entry", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_ledger_records_the_route_of_each_delivery(secrets: Any, slack: StandIn, pagerduty: StandIn) -> None:
    import boto3

    _ledger_table(boto3.client("dynamodb", region_name="us-east-1"))
    with StandIn("slack") as second:
        secrets.create_secret(Name=SECOND, SecretString=second.url)
        forwarder = Forwarder(
            destination=Destination.SLACK,
            settings=Settings(
                routes={"prod-critical": Route(Severity.CRITICAL, (SLACK_SECRET, SECOND))}, ledger_table=LEDGER
            ),
            deliverer=Deliverer(pagerduty_url=pagerduty.url, retries=1, backoff_factor=0.01, read_timeout=2.0),
        )
        body = alarm()
        forwarder.run(sns_event(body), FakeContext())
        assert len(slack.accepted()) == 1 and len(second.accepted()) == 1
    rows = Ledger(LEDGER).deliveries(body["AlarmArn"], since=0)
    assert sorted((r["state"], r["destination"], r["route"]) for r in rows) == [
        ("firing", "slack", SLACK_SECRET),
        ("firing", "slack", SECOND),
    ]


def test_ledger_keeps_two_routes_delivered_in_the_same_millisecond_apart(aws: Any) -> None:
    from datetime import UTC, datetime

    import boto3

    from alertlib.normalise import normalise
    from alertlib.parse import parse_message, split_event

    _ledger_table(boto3.client("dynamodb", region_name="us-east-1"))
    [envelope] = split_event(sns_event(alarm()))
    group = normalise(parse_message(envelope), envelope, Settings.from_env(), datetime.now(UTC))
    ledger = Ledger(LEDGER)
    ledger.record(group, Destination.SLACK, 1_800_000_000.0, route=SLACK_SECRET)
    ledger.record_many([group], Destination.SLACK, 1_800_000_000.0, route=SECOND)
    ledger.record(group, Destination.SLACK, 1_800_000_000.0)  # a forwarder that names no route: still read
    assert sorted(str(r["route"]) for r in ledger.deliveries(group.dedup_key, since=0)) == sorted(
        [SLACK_SECRET, SECOND, "None"]
    )
