"""Fault injection and redrive: nothing lost, nothing twice (tools.faults, also `make faults`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.faults import run
from tools.redrive import plan, redrive


def test_1000_alerts_with_30_percent_of_requests_failing() -> None:
    lines: list[str] = []
    reports = run(1000, rate=0.3, say=lines.append)
    for report in reports:
        assert report.alerts == 1000
        assert report.delivered + report.dead_lettered == 1000, report
        assert report.duplicates == 0, report
        assert report.delivered_after_redrive == 1000, report
        assert report.duplicates_after_redrive == 0, report
        assert set(report.faults) == {"500", "503", "429", "timeout", "reset"}
        assert sum(report.faults.values()) > 250  # about 30% of the requests really failed


def test_heavy_failures_go_to_the_dead_letter_queue_and_the_redrive_heals_them() -> None:
    reports = run(150, rate=0.7, faults=("500", "503", "reset"), retries=0, say=lambda line: None)
    for report in reports:
        assert report.dead_lettered > 10, report
        assert report.delivered + report.dead_lettered == 150
        assert report.duplicates == report.duplicates_after_redrive == 0
        assert report.delivered_after_redrive == 150


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
    counts = redrive(sqs, queue, lambda f, e: called.append(f), lambda t: [], dry_run=True, say=lambda line: None)
    assert (counts.would_redeliver, counts.refused_kept, called) == (3, 1, [])

    def failing(function: str, event: dict[str, Any]) -> None:
        raise RuntimeError("still broken")

    counts = redrive(sqs, queue, failing, lambda t: [], say=lambda line: None)
    assert (counts.failed, counts.redelivered) == (3, 0)
    counts = redrive(sqs, queue, lambda f, e: called.append(f), lambda t: [], say=lambda line: None)
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
