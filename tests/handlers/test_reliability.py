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


def test_pagerduty_answer_lost_falls_back_saying_it_may_have_paged(
    build: Callable[..., Forwarder], pagerduty: StandIn, slack: StandIn
) -> None:
    """A lost answer is not a refusal: the notice says the page may have gone, and asks for a check, not a page."""
    pagerduty.then(*[Answer(delay=1.5)] * 10)  # every attempt accepted, answered after the client stopped waiting
    forwarder = build(Destination.PAGERDUTY, fallback_slack_secret=SLACK_SECRET)
    forwarder.deliverer.read_timeout = 0.5
    forwarder.deliverer.retries = 1
    with pytest.raises(DeliveriesFailedError, match="may have been delivered"):
        forwarder.run(sns_event(alarm()), FakeContext())
    [message] = slack.accepted()
    text = json.dumps(message.body)
    assert "answer to this alert was lost" in text and "may or may not have been taken" in text
    assert "Nobody may have been paged" not in text


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
    fields = [f["text"] for b in slack.accepted()[1].body["attachments"][0]["blocks"] for f in b.get("fields", [])]
    assert "*Lasted*\n45m 0s" in fields  # 02:55 (the ALARM) to 03:40


# -- what comes back from PagerDuty and Slack: clipped, never the secret ------------------------------------------


def _every_form(secret: str) -> list[str]:
    from urllib.parse import quote, urlsplit

    forms = [secret, secret.replace("/", "\\/"), quote(secret, safe="")]
    if "://" in secret:
        path = urlsplit(secret).path
        forms += [path, path.rsplit("/", 1)[-1]]
    return forms


def _megabyte_echo(secret: str, json_answer: bool) -> str:
    """A 1 MB answer that repeats the secret, in its plain, JSON-escaped and percent-encoded forms, all through."""
    from urllib.parse import quote

    echo = f"bad request for {secret} \n\t({quote(secret, safe='')}) "
    text = (echo * (1_050_000 // len(echo) + 1))[:1_050_000]
    if json_answer:
        return json.dumps({"status": "invalid event", "message": text[:200_000], "errors": [text, secret, text]})
    return text


@pytest.mark.parametrize("json_answer", [True, False])
def test_a_pagerduty_answer_echoing_the_routing_key_is_clipped_and_scrubbed(
    build: Callable[..., Forwarder],
    pagerduty: StandIn,
    slack: StandIn,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    json_answer: bool,
) -> None:
    from tests.conftest import ROUTING_KEY

    caplog.set_level("DEBUG")
    pagerduty.then(Answer(status=400, body=_megabyte_echo(ROUTING_KEY, json_answer)))
    forwarder = build(Destination.PAGERDUTY, fallback_slack_secret=SLACK_SECRET)
    with pytest.raises(DeliveriesFailedError) as caught:
        forwarder.run(sns_event(alarm()), FakeContext())
    message = str(caught.value)
    assert "HTTP 400" in message and "bad request for" in message
    [notice] = slack.accepted()  # the fallback notice carries the reason, scrubbed
    out = capsys.readouterr()
    for where in (message, json.dumps(notice.body), out.out + out.err + caplog.text):
        assert ROUTING_KEY not in where and ROUTING_KEY[:12] not in where
    assert len(message) < 500 and "\n" not in message


def test_a_slack_answer_echoing_the_webhook_is_clipped_and_scrubbed(
    build: Callable[..., Forwarder], slack: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.then(Answer(status=400, body=_megabyte_echo(slack.url, json_answer=False)))
    with pytest.raises(DeliveriesFailedError) as caught:
        build(Destination.SLACK).run(sns_event(alarm()), FakeContext())
    message = str(caught.value)
    assert "HTTP 400" in message and "bad request for" in message
    out = capsys.readouterr()
    for where in (message, out.out + out.err):
        for form in _every_form(slack.url):
            assert form not in where, form
    assert len(message) < 500 and "\n" not in message


def test_a_secret_cut_by_the_end_of_what_is_read_leaves_no_part_of_it() -> None:
    from alertlib.deliver import ANSWER_WINDOW, clean_answer

    key = "fa17fa17fa17fa17fa17fa17fa17fa17"
    for cut in range(1, len(key)):
        text = " " * (ANSWER_WINDOW - cut) + key + " after"
        assert key[:cut] not in clean_answer(text, (key,)) or cut < 4


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com:99999999/services/T000/B000/XXXXXXXXXXXXXXXX",
        "http://[::1/services/T000/B000/XXXXXXXXXXXXXXXX",
        "https://" + "a" * 64 + ".slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
        "https://hooks..slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
        "https://hooks.slack.com:-1/services/T000/B000/XXXXXXXXXXXXXXXX",
        "http:///services/T000/B000/XXXXXXXXXXXXXXXX",
        "https://ho\u2100ks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
        "https://ho oks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
    ],
)
def test_a_malformed_webhook_url_is_a_permanent_delivery_error_without_the_url(url: str) -> None:
    from alertlib.deliver import Deadline
    from alertlib.errors import PermanentDeliveryError

    def secret_source(name: str, *, force_fetch: bool = False) -> str:
        return json.dumps({"webhook_url": url})

    deliverer = Deliverer(pagerduty_url="https://events.pagerduty.com/v2/enqueue", secret_source=secret_source)
    with pytest.raises(PermanentDeliveryError) as caught:
        deliverer.send_slack({"text": "x"}, "alerting/test/slack", Deadline(5))
    assert "malformed" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for part in ("XXXXXXXXXXXXXXXX", "/services/", "slack.com", "::1"):
        assert part not in str(caught.value)


@pytest.mark.parametrize("url", ["https://a..b/v2/enqueue", "ftp://events.example/v2", "events.example/v2"])
def test_a_malformed_pagerduty_url_is_a_permanent_delivery_error_without_the_url(url: str) -> None:
    from alertlib.deliver import Deadline
    from alertlib.errors import PermanentDeliveryError

    def secret_source(name: str, *, force_fetch: bool = False) -> str:
        return json.dumps({"routing_key": "k" * 32, "events_url": url})

    deliverer = Deliverer(pagerduty_url="https://events.pagerduty.com/v2/enqueue", secret_source=secret_source)
    with pytest.raises(PermanentDeliveryError) as caught:
        deliverer.send_pagerduty({"event_action": "trigger"}, "alerting/test/pagerduty", Deadline(5))
    assert "malformed" in str(caught.value) and "events.example" not in str(caught.value)
    assert "a..b" not in str(caught.value)


# -- a lost answer: PagerDuty sends again at once, Slack once per Lambda attempt ----------------------------------


def test_a_slack_post_whose_answer_was_lost_is_not_posted_again_in_the_invocation(
    build: Callable[..., Forwarder], slack: StandIn
) -> None:
    slack.then(Answer(delay=1.5))  # accepted, answered after the client stopped waiting
    forwarder = build(Destination.SLACK)
    forwarder.deliverer.read_timeout = 0.5
    with pytest.raises(DeliveriesFailedError, match="may have been delivered"):
        forwarder.run(sns_event(alarm()), FakeContext())
    assert len(slack.received) == 1
    forwarder.run(sns_event(alarm()), FakeContext())  # Lambda's retry posts it once more: the bounded duplicate
    assert len(slack.received) == 2


def test_a_connection_refused_is_retried_for_slack_as_nothing_was_sent(
    build: Callable[..., Forwarder], slack: StandIn
) -> None:
    from alertlib.deliver import Deadline
    from alertlib.errors import TransientDeliveryError
    from tools.localaws import free_port

    def secret_source(name: str, *, force_fetch: bool = False) -> str:
        return f"http://127.0.0.1:{free_port()}/services/T000/B000/XXXXXXXXXXXXXXXX"

    deliverer = Deliverer(pagerduty_url="http://127.0.0.1:9/", secret_source=secret_source, retries=2,
                          backoff_factor=0.01, connect_timeout=0.5, read_timeout=1.0)  # fmt: skip
    with pytest.raises(TransientDeliveryError, match="nothing was sent") as caught:
        deliverer.send_slack({"text": "x"}, "alerting/test/slack", Deadline(5))
    assert not caught.value.maybe_delivered
    assert "XXXXXXXX" not in str(caught.value)
