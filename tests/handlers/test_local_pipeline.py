"""tools.serve: the endpoint, SNS (moto), both forwarders and recorders for PagerDuty and Slack, on one machine."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import load_event
from tests.unit.helpers import alarm, alertmanager
from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn


@pytest.fixture
def recorders() -> Iterator[tuple[StandIn, StandIn]]:
    with StandIn("pagerduty") as pagerduty, StandIn("slack") as slack:
        yield pagerduty, slack


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def pipeline(recorders: tuple[StandIn, StandIn], said: list[str]) -> Iterator[LocalPipeline]:
    pagerduty, slack = recorders
    with LocalPipeline(
        port=free_port(),
        pagerduty_url=pagerduty.url,
        slack_url=slack.url,
        webhook_token="t0ken-local-pipeline",
        say=said.append,
    ) as running:
        yield running


def post(url: str, body: Any, token: str = "t0ken-local-pipeline") -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_alertmanager_post_reaches_the_given_urls(pipeline: LocalPipeline, recorders: tuple[StandIn, StandIn]) -> None:
    pagerduty, slack = recorders
    assert post(pipeline.url, alertmanager(2)) == 202
    assert pipeline.wait_idle()
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger"]
    assert len(slack.accepted()) == 1
    assert post(pipeline.url, alertmanager(2, status="resolved")) == 202
    assert pipeline.wait_idle()
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger", "resolve"]
    assert pagerduty.accepted()[0].body["dedup_key"] == pagerduty.accepted()[1].body["dedup_key"]
    # one record per forwarder and message, each through its own queue (the two mappings run side by side)
    assert sorted(d.destination for d in pipeline.deliveries) == ["pagerduty", "pagerduty", "slack", "slack"]
    assert {d.outcome for d in pipeline.deliveries} == {"delivered"}


def test_wrong_token_is_refused_and_nothing_is_sent(
    pipeline: LocalPipeline, recorders: tuple[StandIn, StandIn], said: list[str]
) -> None:
    assert post(pipeline.url, alertmanager(1), token="wrong-t0ken-0123456789") == 401
    assert post(pipeline.url, "{not json", token="t0ken-local-pipeline") == 400
    assert pipeline.wait_idle()
    assert recorders[0].received == [] and recorders[1].received == []
    # each refusal is said in one line, with the status and the endpoint's reason, and no credential
    assert [(r.method, r.path, r.status) for r in pipeline.refusals] == [
        ("POST", "/alertmanager", 401),
        ("POST", "/alertmanager", 400),
    ]
    assert pipeline.refusals[0].reason == "unauthorized"
    assert pipeline.refusals[1].reason  # the one-line reason the endpoint answered with
    refused = [line for line in said if " refused " in line]
    assert len(refused) == 2
    assert "POST /alertmanager from 127.0.0.1: 401 unauthorized" in refused[0]
    assert ": 400 " in refused[1]
    for secret in ("wrong-t0ken-0123456789", "t0ken-local-pipeline", str(pipeline.hmac_key), "{not json"):
        assert not any(secret in line for line in said), secret


def test_the_world_is_in_the_configs_account_and_region(pipeline: LocalPipeline, said: list[str]) -> None:
    config = pipeline.config
    assert pipeline.topic_arns
    for arn in [*pipeline.topic_arns.values(), *pipeline.world.topics.values()]:
        assert arn.startswith(f"arn:{config.partition}:sns:{config.region}:{config.account}:"), arn
    for topic in pipeline.sns.list_topics()["Topics"]:
        assert topic["TopicArn"].startswith(f"arn:{config.partition}:sns:{config.region}:{config.account}:")
    for url in pipeline.world.queues.values():
        arn = pipeline.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert arn.startswith(f"arn:{config.partition}:sqs:{config.region}:{config.account}:"), arn
    # the start says what it does while it takes its time
    assert any(f"account {config.account}, region {config.region}" in line for line in said)
    assert any(line.startswith("started in ") for line in said)


def test_cloudwatch_publish_goes_through_the_forwarders(
    pipeline: LocalPipeline, recorders: tuple[StandIn, StandIn]
) -> None:
    pipeline.publish("critical", alarm())
    pipeline.publish("warning", load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json"))
    assert pipeline.wait_idle()
    pagerduty, slack = recorders
    assert len(pagerduty.accepted()) == 1  # dev routes only critical to PagerDuty
    # both reach Slack (one webhook: two messages, or one digest when the second came within the pacing second)
    posted = json.dumps([r.body for r in slack.accepted()])
    assert 1 <= len(slack.accepted()) <= 2
    assert "prod-rds-orders-db-CPUUtilization" in posted and "ServerCpuTooHigh" in posted


# -- the event source mappings, emulated from the template, with a stub forwarder ------------------------------------

STUB = """
import json, os, time

def handler(event, context):
    path = os.environ["STUB_LOG"]
    started = time.time()
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    messages = [json.loads(b["Message"]) if b.get("Type") == "Notification" else b for b in bodies]
    if any(m.get("crash") for m in messages) and int(event["Records"][0]["attributes"]["ApproximateReceiveCount"]) < 2:
        raise RuntimeError("crash on the first receive")
    time.sleep(0.2)
    with open(path, "a") as log:
        log.write(json.dumps({"start": started, "end": time.time(), "records": [
            {"id": r["messageId"], "source": r["eventSource"], "arn": r["eventSourceARN"], "n": m.get("n"),
             "count": r["attributes"]["ApproximateReceiveCount"], "type": b.get("Type"), "topic": b.get("TopicArn")}
            for r, b, m in zip(event["Records"], bodies, messages)]}) + "\\n")
    failing = not os.path.exists(path + ".mended")
    return {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r, m in zip(event["Records"], messages) if m.get("fail") and failing]}
"""


@pytest.fixture
def stubbed(tmp_path: Any) -> Iterator[tuple[LocalPipeline, Any]]:
    """dev's templates, the forwarders' handler replaced by a stub that logs each batch it is invoked with."""
    from tools.world import synthesize

    (tmp_path / "stub_forwarder.py").write_text(STUB)
    log = tmp_path / "batches.jsonl"
    templates = synthesize("dev")
    for template in templates.values():
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function" and str(props.get("FunctionName")).endswith("-forwarder"):
                props["Handler"] = "stub_forwarder.handler"
                props["Environment"]["Variables"].update(
                    {"LOCAL_LAMBDA_STUB_PATH": str(tmp_path), "STUB_LOG": str(log)}
                )
    with LocalPipeline(
        port=free_port(), templates=templates, visibility_timeout=1, webhook_token="t0ken-local-pipeline",
        say=lambda _: None,
    ) as running:  # fmt: skip
        yield running, log


def _batches(log: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_mapping_invokes_with_sqs_batches_of_at_most_ten_two_at_a_time(stubbed: tuple[LocalPipeline, Any]) -> None:
    pipeline, log = stubbed
    for n in range(40):
        pipeline.publish("warning", {"n": n})  # warning: the Slack forwarder's queue only, in dev
    assert pipeline.wait_idle(60)
    batches = _batches(log)
    records = [r for b in batches for r in b["records"]]
    assert sorted(r["n"] for r in records) == list(range(40))  # each once, nothing left
    assert all(1 <= len(b["records"]) <= 10 for b in batches)
    assert any(len(b["records"]) > 1 for b in batches)  # batches grow while the previous ones run
    assert {(r["source"], r["arn"].rsplit(":", 1)[-1], r["type"]) for r in records} == {
        ("aws:sqs", "dev-slack-forwarder-queue", "Notification")
    }
    assert {r["topic"].rsplit(":", 1)[-1] for r in records} == {"dev-warning"}
    # MaximumConcurrency 2: at no instant do more than two batches run. (Counting every batch that overlaps a given
    # one is not that: B may overlap A, then C after A ended, with never three at once; under load it flaked.)
    edges = sorted([(b["start"], 1) for b in batches] + [(b["end"], -1) for b in batches], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, step in edges:  # an end before a start at the same instant
        running += step
        most = max(most, running)
    assert most <= 2
    assert pipeline.denials == []  # received and deleted with the function's own role


def test_mapping_leaves_reported_failures_until_the_dead_letter_queue_takes_them(
    stubbed: tuple[LocalPipeline, Any],
) -> None:
    pipeline, log = stubbed
    pipeline.publish("warning", {"n": 1, "fail": True})
    pipeline.publish("warning", {"n": 2})
    assert pipeline.wait_idle(60)  # the queue is empty: the failed record went to the forwarder's DLQ
    records = [r for b in _batches(log) for r in b["records"]]
    assert [r["n"] for r in records].count(2) == 1
    assert sorted(int(r["count"]) for r in records if r["n"] == 1) == [1, 2, 3, 4, 5]  # maxReceiveCount 5
    dlq = pipeline.world.queues["dev-slack-forwarder-dlq"]
    [parked] = pipeline.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(json.loads(parked["Body"])["Message"]) == {"n": 1, "fail": True}


def test_mapping_leaves_the_whole_batch_when_the_function_fails(stubbed: tuple[LocalPipeline, Any]) -> None:
    pipeline, log = stubbed
    pipeline.publish("warning", {"n": 1, "crash": True})
    assert pipeline.wait_idle(60)
    assert [r["n"] for b in _batches(log) for r in b["records"]] == [1]  # received again, then done
    errors = [i for i in pipeline.invocations if i.error]
    assert errors and "crash on the first receive" in str(errors[0].error)
    assert errors[0].left  # nothing was deleted after the error


def test_mapping_without_receive_permission_is_refused_by_iam(tmp_path: Any) -> None:
    from tools.world import synthesize

    templates = synthesize("dev")
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                document = resource["Properties"]["PolicyDocument"]
                document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "ReceiveFromOwnQueue"]
    with LocalPipeline(port=free_port(), templates=templates, say=lambda _: None) as pipeline:
        for _ in range(200):  # the mappings' pollers start on their own threads
            denied = {(d.action, d.resource.rsplit(":", 1)[-1]) for d in pipeline.denials}
            if len(denied) >= 2:
                break
            time.sleep(0.05)
    assert ("sqs:GetQueueAttributes", "dev-pagerduty-forwarder-queue") in denied
    assert ("sqs:GetQueueAttributes", "dev-slack-forwarder-queue") in denied


def test_redrive_moves_a_forwarder_dead_letter_queue_back_with_sqs_redrive(stubbed: tuple[LocalPipeline, Any]) -> None:
    from tools.redrive import move_back
    from tools.world import MessageMoves

    pipeline, log = stubbed
    pipeline.publish("warning", {"n": 7, "fail": True})
    assert pipeline.wait_idle(60)
    dlq = pipeline.world.queues["dev-slack-forwarder-dlq"]
    (log.parent / (log.name + ".mended")).write_text("")  # the cause is fixed
    lines: list[str] = []
    moves = MessageMoves(pipeline.sqs)
    moved = move_back(pipeline.sqs, dlq, say=lines.append, start=moves.start, tasks=moves.list)
    assert (moved.waiting, moved.status, moved.moved) == (1, "COMPLETED", 1)
    assert moves.tasks  # moved by the (stood-in) StartMessageMoveTask, back to the queue its redrive allows
    [task] = next(iter(moves.tasks.values()))
    assert task["DestinationArn"].endswith(":dev-slack-forwarder-queue")
    assert pipeline.wait_idle(60)
    records = [r for b in _batches(log) for r in b["records"] if r["n"] == 7]
    assert len(records) == 6 and records[-1]["count"] == "1"  # five failed receives, then once more after the move
    assert (
        pipeline.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
    assert move_back(pipeline.sqs, dlq, say=lines.append, start=moves.start, tasks=moves.list).status == "NOT STARTED"


# -- python -m tools.serve ------------------------------------------------------------------------------------------


def test_serve_default_port_is_not_alertmanagers() -> None:
    from tools.serve import DEFAULT_PORT

    assert DEFAULT_PORT not in (9093, 9094)  # Alertmanager's web and cluster ports: one beside it would die


def test_serve_help_describes_every_option_and_unknown_options_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tools.serve import main, parser

    options = [a for a in parser()._actions if a.option_strings and a.dest != "help"]
    assert {o.dest for o in options} == {"port", "env", "pagerduty_url", "slack_url", "webhook_token",
                                         "slack_signing_secret", "pagerduty_webhook_secret", "alertmanager_url",
                                         "slack_app"}  # fmt: skip
    assert all(o.help and len(o.help) > 30 for o in options)
    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    assert help_exit.value.code == 0
    shown = capsys.readouterr().out
    assert all(o.option_strings[0] in shown for o in options)
    assert "8099" in shown and "9094" in shown  # the default, and why not Alertmanager's port
    for wrong in (["--bogus"], ["--po", "8099"], ["--port", "99999"], ["--port", "x"]):
        with pytest.raises(SystemExit) as refused:
            main(wrong)
        assert refused.value.code == 2, wrong
        assert "error:" in capsys.readouterr().err


def test_serve_busy_port_and_unknown_environment_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from tools.serve import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"port {port}" in err and "--port" in err and "Traceback" not in err
    assert main(["--env", "no-such-env", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-env" in err and "Traceback" not in err
