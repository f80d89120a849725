"""Fault injection and redrive: nothing lost, nothing twice (tools.faults, also `make faults`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.faults import ALL_FAULTS, run
from tools.redrive import plan, redrive
from tools.standins import ACCEPTING_FAULTS

# A small run of `make faults` (tools/faults.py): 120 alerts, 30% of requests failing with every fault kind, a
# 45-second outage of resets and a 30-second brown-out (every request accepted, answered past the read time-out).
SMALL = {"n": 120, "outages": ((0.2, 45.0, "reset"), (0.6, 30.0, "slow-2xx")), "scale": 40.0}


def test_faults_lose_nothing_and_slack_is_posted_at_most_once_per_receive() -> None:
    summary = run(**SMALL, say=lambda line: None)  # type: ignore[arg-type]
    by = {r.destination: r for r in summary.reports}
    line = summary.line()
    assert line["lost"] == 0 and line["alerts"] == 120
    assert set(line) == {"alerts", "lost", "dead_lettered", "duplicates_pagerduty", "duplicates_slack",
                         "accepted_then_lost", "slack_app_missing", "duplicates_slack_app"}  # fmt: skip
    assert line["dead_lettered"] == sum(r.dead_lettered for r in by.values())
    for report in by.values():
        assert report.max_receives == 5, report  # the template's maxReceiveCount
        assert report.delivered_after_redrive == 120 and report.redrive_failures == 0, report
        assert report.accepted_then_lost <= report.dead_lettered, report
        assert report.receives <= 120 * report.max_receives, report  # no message received more than 5 times
        assert set(report.faults) >= set(ALL_FAULTS), report.faults  # every kind injected, the outages too
        assert {"outage-reset", "outage-slow-2xx"} <= set(report.faults), report.faults
    # PagerDuty sends again at once when an answer is lost (dedup_key makes it harmless): it shows, and is counted.
    assert by["pagerduty"].duplicates > 0
    # Slack: never re-posted within an invocation, so at most once per receive of its message (5, then the DLQ).
    assert by["slack"].most_posts <= by["slack"].max_receives, by["slack"]
    assert line["duplicates_slack"] == by["slack"].duplicates_after_redrive
    # dev's critical topic also routes to a Slack app route (a thread parent per alert on the Web API stand-in):
    # its refusals injected too, every alert posted there once, and the run healed as a whole.
    [app] = summary.apps
    assert app.route == "alerting/dev/slack-app", app
    assert (app.delivered_after_redrive, app.duplicates_after_redrive) == (120, 0), app
    assert {"500", "503", "429", "internal_error"} <= set(app.faults), app
    assert (line["slack_app_missing"], line["duplicates_slack_app"]) == (0, 0)
    assert summary.healed


def test_faults_a_fault_free_run_delivers_every_alert_to_the_webhook_and_the_app_route_once() -> None:
    summary = run(30, rate=0.0, outages=(), destinations=("slack",), say=lambda line: None)
    [slack], [app] = summary.reports, summary.apps
    assert (slack.delivered, slack.duplicates, slack.dead_lettered, slack.item_failures) == (30, 0, 0, 0), slack
    assert (app.delivered, app.duplicates_after_redrive, app.faults) == (30, 0, {}), app
    assert summary.healed


def test_an_alert_that_never_goes_is_received_five_times_then_dead_lettered_and_redriven_once() -> None:
    """Slack unreachable for the whole run: each message is received maxReceiveCount times (every record named in
    batchItemFailures), then SQS moves it to the forwarder's dead-letter queue with its body; the redrive moves it
    back and it is posted once."""
    summary = run(
        10, rate=0.0, outages=((0.0, 3600.0, "reset"),), destinations=("slack",), say=lambda line: None
    )  # fmt: skip
    [slack] = summary.reports
    [app] = summary.apps  # healthy: each alert's parent posted once, its later receives and the redrive add none
    assert (app.delivered, app.delivered_after_redrive, app.duplicates_after_redrive) == (10, 10, 0), app
    assert (slack.delivered, slack.dead_lettered, slack.lost) == (0, 10, 0), slack
    assert slack.receives == 10 * slack.max_receives == slack.item_failures, slack
    assert slack.invocation_errors == 0, slack
    assert (slack.delivered_after_redrive, slack.duplicates_after_redrive, slack.redrive_failures) == (10, 0, 0)
    assert summary.line()["dead_lettered"] == 10


def test_without_the_protection_the_accepted_faults_duplicate() -> None:
    """The fault injection is real: with idempotency off and Slack re-posting a POST whose answer was lost, the
    faults after which the request was accepted make duplicates at both destinations, and a brown-out longer than
    a message's five receives posts one Slack alert more often than once per receive."""
    summary = run(
        60, outages=((0.2, 300.0, "slow-2xx"),), scale=40.0, faults=ACCEPTING_FAULTS, protect=False,
        say=lambda line: None,
    )  # fmt: skip
    by = {r.destination: r for r in summary.reports}
    assert by["pagerduty"].duplicates > 0 and by["slack"].duplicates > 0
    assert by["slack"].most_posts > by["slack"].max_receives, by["slack"]
    assert summary.line()["lost"] == 0


def test_redrive_plans_each_kind_of_message() -> None:
    on_failure = {"requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:prod-slack-forwarder:$LATEST"},
                  "requestPayload": {"Records": []}}  # fmt: skip
    notification = {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:prod-critical",
                    "Message": "{}", "Timestamp": "t"}  # fmt: skip
    subscribers = {"arn:aws:sns:us-east-1:1:prod-critical": ["prod-pagerduty-forwarder", "prod-slack-forwarder"]}.get

    def lookup(topic: str) -> list[str]:
        return subscribers(topic) or []

    assert plan({"Body": json.dumps(on_failure)}, lookup) == ("invoke", [("prod-slack-forwarder", {"Records": []})])
    kind, invocations = plan({"Body": json.dumps(notification)}, lookup)
    assert kind == "invoke"
    assert [name for name, _ in invocations] == ["prod-pagerduty-forwarder", "prod-slack-forwarder"]
    assert invocations[0][1]["Records"][0]["Sns"]["MessageId"] == "m"
    assert plan({"Body": "Hello", "MessageAttributes": {"reason": {"StringValue": "not JSON"}}}, lookup)[0] == "refused"
    assert plan({"Body": "??"}, lookup)[0] == "unknown"


def test_redrive_dry_run_changes_nothing_and_failures_are_kept(aws: Any) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    record = {"requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}, "requestPayload": {"x": 1}}
    for _ in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record))
    sqs.send_message(
        QueueUrl=queue, MessageBody="bad", MessageAttributes={"reason": {"DataType": "String", "StringValue": "r"}}
    )
    called: list[str] = []
    counts = redrive(
        sqs, queue, lambda f, e: called.append(f), lambda t: [], dry_run=True, say=lambda line: None, wait_seconds=0
    )
    assert (counts.would_redeliver, counts.refused_kept, called) == (3, 1, [])

    def failing(function: str, event: dict[str, Any]) -> None:
        raise RuntimeError("still broken")

    counts = redrive(sqs, queue, failing, lambda t: [], say=lambda line: None, wait_seconds=0)
    assert (counts.failed, counts.redelivered) == (3, 0)
    counts = redrive(sqs, queue, lambda f, e: called.append(f), lambda t: [], say=lambda line: None, wait_seconds=0)
    assert (counts.redelivered, counts.refused_kept, called) == (3, 1, ["f", "f", "f"])
    left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "1"  # the refused payload stays


@pytest.mark.parametrize("argv", [["--env", "no-such-env"]])
def test_redrive_cli_refuses_an_unknown_environment_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.redrive import main

    assert main(argv) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
