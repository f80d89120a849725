"""The forwarders end to end: moto's Secrets Manager, real local HTTP stand-ins for PagerDuty and Slack."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from alertlib.deliver import Destination
from alertlib.forward import DeliveriesFailedError, Forwarder
from tests.conftest import PAGERDUTY_SECRET, ROUTING_KEY, SLACK_SECRET, FakeContext, load_event, sns_event
from tests.unit.helpers import alarm, alertmanager
from tools.standins import Answer, StandIn

Make = Callable[..., Forwarder]


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None


def test_pagerduty_alarm_then_ok_trigger_and_resolve(
    make_forwarder: Make, pagerduty: StandIn, context: FakeContext
) -> None:
    forwarder = make_forwarder(Destination.PAGERDUTY)
    assert forwarder.run(sns_event(alarm(state="ALARM")), context)["delivered"] == 1
    assert forwarder.run(sns_event(alarm(state="OK")), context)["delivered"] == 1
    trigger, resolve = (r.body for r in pagerduty.received)
    assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert all(r.answered == 202 and not r.problems for r in pagerduty.received)


def test_slack_every_sample_is_accepted(make_forwarder: Make, slack: StandIn, context: FakeContext) -> None:
    forwarder = make_forwarder(Destination.SLACK)
    samples = [
        "lambda-sns-cloudwatch-metric-alarm-single-metric__aws-lambda-go.json",
        "lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json",
        "eventbridge-alarm-state-change-single-metric__aws-docs.json",
        "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json",
        "alertmanager-webhook-v4-firing__alertmanager-bot.json",
        "alertmanager-webhook-v4-resolved__alertmanager-bot.json",
    ]
    for sample in samples:
        assert forwarder.run(load_event(sample), context)["delivered"] == 1, sample
    assert len(slack.accepted()) == len(samples)
    assert all(not r.problems for r in slack.received)


def test_one_bad_record_never_stops_the_others(make_forwarder: Make, pagerduty: StandIn, context: FakeContext) -> None:
    event = sns_event(alarm(name="a"), "Hello from SNS!", alertmanager(2), {"alerts": []}, alarm(name="b"))
    outcome = make_forwarder(Destination.PAGERDUTY).run(event, context)
    assert (outcome["received"], outcome["delivered"], outcome["rejected"]) == (5, 3, 2)
    assert len(pagerduty.accepted()) == 3


def test_configuration_change_is_not_forwarded(make_forwarder: Make, pagerduty: StandIn, context: FakeContext) -> None:
    event = {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {}}
    outcome = make_forwarder(Destination.PAGERDUTY).run(event, context)
    assert outcome["ignored"] == 1
    assert pagerduty.received == []


def test_permanent_400_is_not_retried_and_fails_the_invocation(
    make_forwarder: Make, pagerduty: StandIn, context: FakeContext
) -> None:
    pagerduty.then(Answer(status=400, body=json.dumps({"status": "invalid event", "errors": ["bad summary"]})))
    with pytest.raises(DeliveriesFailedError, match="HTTP 400"):
        make_forwarder(Destination.PAGERDUTY).run(sns_event(alarm()), context)
    assert len(pagerduty.received) == 1


def test_429_honours_retry_after_then_delivers(make_forwarder: Make, slack: StandIn, context: FakeContext) -> None:
    slack.then(Answer(status=429, body="rate_limited", retry_after=1))
    started = time.monotonic()
    outcome = make_forwarder(Destination.SLACK).run(sns_event(alarm()), context)
    assert outcome["delivered"] == 1
    assert time.monotonic() - started >= 1.0
    assert [r.answered for r in slack.received] == [429, 200]


def test_5xx_are_retried_with_backoff(make_forwarder: Make, pagerduty: StandIn, context: FakeContext) -> None:
    pagerduty.then(Answer(status=500), Answer(status=502), Answer(status=503))
    assert make_forwarder(Destination.PAGERDUTY).run(sns_event(alarm()), context)["delivered"] == 1
    assert [r.answered for r in pagerduty.received] == [500, 502, 503, 202]


def test_persistent_5xx_fails_after_the_retries_without_leaking_the_url(
    make_forwarder: Make, slack: StandIn, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.then(*[Answer(status=500, body="rollup_error")] * 10)
    with pytest.raises(DeliveriesFailedError) as caught:
        make_forwarder(Destination.SLACK, retries=2).run(sns_event(alarm()), context)
    assert len(slack.received) == 3
    assert "HTTP 500" in str(caught.value)
    assert slack.url not in str(caught.value)
    out = capsys.readouterr()
    assert slack.url not in out.out + out.err
    assert "/services/" not in out.out + out.err


def test_slow_answer_times_out_and_is_retried(make_forwarder: Make, pagerduty: StandIn, context: FakeContext) -> None:
    pagerduty.then(Answer(delay=1.5))  # Slack is not sent again: test_reliability.py
    outcome = make_forwarder(Destination.PAGERDUTY, read_timeout=0.5).run(sns_event(alarm()), context)
    assert outcome["delivered"] == 1
    assert len(pagerduty.received) == 2


def test_connection_reset_is_retried(make_forwarder: Make, pagerduty: StandIn, context: FakeContext) -> None:
    pagerduty.then(Answer(reset=True))
    assert make_forwarder(Destination.PAGERDUTY).run(sns_event(alarm()), context)["delivered"] == 1
    assert len(pagerduty.received) == 2


def test_slack_body_other_than_ok_is_permanent(make_forwarder: Make, slack: StandIn, context: FakeContext) -> None:
    slack.then(Answer(status=200, body="no_service"))
    with pytest.raises(DeliveriesFailedError, match="no_service"):
        make_forwarder(Destination.SLACK).run(sns_event(alarm()), context)
    assert len(slack.received) == 1


@pytest.mark.parametrize(
    ("status", "body"), [(403, "action_prohibited"), (404, "channel_not_found"), (410, "channel_is_archived")]
)
def test_slack_gone_channel_is_permanent_and_not_sent_again(
    make_forwarder: Make, slack: StandIn, context: FakeContext, status: int, body: str
) -> None:
    slack.then(Answer(status=status, body=body), Answer(status=status, body=body))
    with pytest.raises(DeliveriesFailedError, match=body):
        make_forwarder(Destination.SLACK).run(sns_event(alarm()), context)
    assert len(slack.received) == 1


def test_a_rotated_secret_is_fetched_fresh_and_used_once(
    make_forwarder: Make, slack: StandIn, context: FakeContext, secrets: Any
) -> None:
    forwarder = make_forwarder(Destination.SLACK)
    forwarder.run(sns_event(alarm(name="warm-the-cache")), context)
    with StandIn("slack") as rotated:
        secrets.put_secret_value(SecretId=SLACK_SECRET, SecretString=rotated.url)
        slack.then(Answer(status=410, body="channel_is_archived"))
        assert forwarder.run(sns_event(alarm()), context)["delivered"] == 1
        assert len(rotated.accepted()) == 1


def test_retries_stop_at_the_lambda_deadline(make_forwarder: Make, slack: StandIn) -> None:
    slack.then(*[Answer(status=503, retry_after=2)] * 10)
    started = time.monotonic()
    with pytest.raises(DeliveriesFailedError, match="no time left"):
        make_forwarder(Destination.SLACK, retries=8).run(sns_event(alarm()), FakeContext(remaining_ms=5_000))
    assert time.monotonic() - started < 3.5


def test_long_retry_after_is_left_to_lambda(make_forwarder: Make, slack: StandIn, context: FakeContext) -> None:
    slack.then(Answer(status=429, retry_after=120))
    started = time.monotonic()
    with pytest.raises(DeliveriesFailedError, match="retry after 120s"):
        make_forwarder(Destination.SLACK).run(sns_event(alarm()), context)
    assert time.monotonic() - started < 2


def test_keep_alive_one_connection_for_many_deliveries(
    make_forwarder: Make, pagerduty: StandIn, context: FakeContext
) -> None:
    forwarder = make_forwarder(Destination.PAGERDUTY)
    for i in range(20):
        forwarder.run(sns_event(alarm(name=f"a{i}")), context)
    assert len(pagerduty.accepted()) == 20
    assert pagerduty.connections == 1


def test_secrets_never_in_logs_or_errors(
    make_forwarder: Make,
    pagerduty: StandIn,
    slack: StandIn,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pagerduty.then(Answer(status=400, body="{}"))
    slack.then(Answer(status=500), Answer(reset=True), Answer(status=404, body="channel_not_found"))
    slack.then(Answer(status=404, body="channel_not_found"))
    for destination in (Destination.PAGERDUTY, Destination.SLACK):
        with pytest.raises(DeliveriesFailedError) as caught:
            make_forwarder(destination).run(sns_event(alarm()), context)
        assert ROUTING_KEY not in str(caught.value) and slack.url not in str(caught.value)
    make_forwarder(Destination.PAGERDUTY).run(sns_event(alarm()), context)
    out = capsys.readouterr()
    logs = out.out + out.err + caplog.text
    assert ROUTING_KEY not in logs
    assert slack.url not in logs and "/services/T000" not in logs


def test_missing_secret_fails_the_invocation_so_it_is_kept(
    make_forwarder: Make, context: FakeContext, secrets: Any
) -> None:
    secrets.delete_secret(SecretId=SLACK_SECRET, ForceDeleteWithoutRecovery=True)
    with pytest.raises(DeliveriesFailedError, match="could not be read"):
        make_forwarder(Destination.SLACK).run(sns_event(alarm()), context)


def test_json_secret_with_routing_key(
    make_forwarder: Make, pagerduty: StandIn, context: FakeContext, secrets: Any
) -> None:
    secrets.put_secret_value(SecretId=PAGERDUTY_SECRET, SecretString=json.dumps({"routing_key": "f" * 32}))
    make_forwarder(Destination.PAGERDUTY).run(sns_event(alarm()), context)
    assert pagerduty.received[0].body["routing_key"] == "f" * 32


def test_metrics_by_source_and_destination(
    make_forwarder: Make, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    make_forwarder(Destination.SLACK).run(sns_event(alarm(), alertmanager(1), "junk"), context)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    seen = {
        (name, doc.get("source"), doc.get("destination")): sum(doc[name]) if isinstance(doc[name], list) else doc[name]
        for doc in documents
        for metric in doc["_aws"]["CloudWatchMetrics"]
        for name in (m["Name"] for m in metric["Metrics"])
    }
    assert seen[("AlertsDelivered", "cloudwatch", "slack")] == 1
    assert seen[("AlertsDelivered", "alertmanager", "slack")] == 1
    assert seen[("PayloadRejected", "unknown", "slack")] == 1


def test_sqs_batch_names_only_the_records_whose_delivery_failed(
    make_forwarder: Make, slack: StandIn, context: FakeContext
) -> None:
    from tests.unit.test_parse import sqs_event

    slack.then(Answer(status=404, body="channel_not_found"))
    event = sqs_event(alarm(name="refused"), alarm(name="taken"))
    event["Records"].append({**event["Records"][0], "messageId": "junk", "body": "Hello from SNS!"})
    answer = make_forwarder(Destination.SLACK).run(event, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert [r.answered for r in slack.received] == [404, 200]  # the junk record is refused, never failed
