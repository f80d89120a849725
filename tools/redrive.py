"""Re-deliver what sits in a dead-letter queue: `python -m tools.redrive --env NAME [--forwarder DEST] [--dry-run]`.

A forwarder's own dead-letter queue (`--forwarder slack|pagerduty`, `<env>-<dest>-forwarder-dlq`) holds what its
queue gave up on after 5 receives: SQS's own redrive (StartMessageMoveTask) moves it all back to the forwarder's
queue, which its redrive allow policy alone permits, and the event source mapping delivers it again.

The core dead-letter queue (`<env>-alerting-dlq`, the default) holds three kinds of message, each handled as what
it is:
- SNS subscription redrives (an SNS notification SNS could not deliver): sent again, as SNS would, to every
  forwarder queue subscribed to its topic (or invoked as a Lambda SNS event on a function subscribed directly);
  idempotency keeps the forwarders that already delivered from posting twice;
- Lambda's on-failure records (`requestContext`, `requestPayload`, from before the forwarders read queues): the
  original event is invoked again on the function that failed, synchronously;
- payloads a forwarder refused (message attribute `reason`): bad input, not retried; counted and kept.
A message is deleted only after its re-delivery succeeded. Progress and counts are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path

# (function name or queue ARN, event or SNS notification); raises when the invocation or the send failed
Invoke = Callable[[str, dict[str, Any]], None]


@dataclass
class Counts:
    seen: int = 0
    redelivered: int = 0
    failed: int = 0
    refused_kept: int = 0
    unknown_kept: int = 0
    would_redeliver: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [
            f"{self.seen} messages",
            f"{self.redelivered} re-delivered and deleted",
            f"{self.failed} failed (kept)",
        ]
        parts += [f"{self.refused_kept} refused payloads (kept)", f"{self.unknown_kept} unrecognised (kept)"]
        if self.would_redeliver:
            parts.append(f"{self.would_redeliver} would be re-delivered (dry run)")
        return ", ".join(parts)


def plan(
    message: dict[str, Any], subscribers: Callable[[str], list[str]]
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """What to do with one queue message: ("invoke", [(function, event), ...]), ("refused", []) or ("unknown", [])."""
    attributes = message.get("MessageAttributes") or {}
    if "reason" in attributes:
        return "refused", []
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        return "unknown", []
    if isinstance(body, dict) and isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
        function = str(body["requestContext"].get("functionArn") or "")
        name = function.split(":function:", 1)[-1].split(":", 1)[0]
        return ("invoke", [(name, body["requestPayload"])]) if name else ("unknown", [])
    if isinstance(body, dict) and body.get("Type") == "Notification" and body.get("TopicArn"):
        from tools.serve import sns_event

        targets = subscribers(str(body["TopicArn"]))
        return "invoke", [(t, body if _is_queue(t) else sns_event(body)) for t in targets]
    return "unknown", []


def redrive(
    sqs: Any,
    queue_url: str,
    invoke: Invoke,
    subscribers: Callable[[str], list[str]],
    *,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
    wait_seconds: int = 1,
) -> Counts:
    counts = Counts()
    kept: list[dict[str, Any]] = []  # invisible until the run ends, so they cannot hide the ones not yet seen
    empty = 0
    try:
        while empty < 2:  # a receive can come back empty while messages remain: ask twice
            answer = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=900,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            batch = answer.get("Messages", [])
            empty = 0 if batch else empty + 1
            for message in batch:
                _handle(message, sqs, queue_url, invoke, subscribers, dry_run, say, counts, kept)
    finally:
        for message in kept:
            _release(sqs, queue_url, message)
    say(counts.line())
    return counts


def _handle(  # noqa: PLR0917 - one message's fate, with everything it needs
    message: dict[str, Any],
    sqs: Any,
    queue_url: str,
    invoke: Invoke,
    subscribers: Callable[[str], list[str]],
    dry_run: bool,
    say: Callable[[str], None],
    counts: Counts,
    kept: list[dict[str, Any]],
) -> None:
    counts.seen += 1
    kind, invocations = plan(message, subscribers)
    if kind != "invoke" or not invocations:
        if kind == "refused":
            counts.refused_kept += 1
        else:
            counts.unknown_kept += 1
        kept.append(message)
        return
    if dry_run:
        counts.would_redeliver += 1
        say(f"would re-deliver {message['MessageId']} to {', '.join(f for f, _ in invocations)}")
        kept.append(message)
        return
    try:
        for function, event in invocations:
            invoke(function, event)
    except Exception as exc:  # noqa: BLE001 - counted and kept; the next message is tried
        counts.failed += 1
        counts.failures.append(f"{message['MessageId']}: {str(exc)[:200]}")
        say(f"failed {message['MessageId']}: {str(exc)[:200]}")
        kept.append(message)
        return
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    counts.redelivered += 1
    if counts.redelivered % 50 == 0:
        say(f"... {counts.redelivered} re-delivered")


def _release(sqs: Any, queue_url: str, message: dict[str, Any]) -> None:
    """Make a kept message visible again at once (for the next run, or another reader)."""
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def _is_queue(target: str) -> bool:
    return target.startswith("arn:") and ":sqs:" in target


def lambda_invoker(client: Any, sqs: Any | None = None) -> Invoke:
    """Invoke a function synchronously; or, for a queue ARN, send the SNS notification to it as SNS does (raw
    delivery off: the body is the notification JSON)."""

    def invoke(target: str, event: dict[str, Any]) -> None:
        if _is_queue(target):
            assert sqs is not None, "a queue target needs an SQS client"
            name, account = target.rsplit(":", 1)[-1], target.split(":")[4]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
            return
        answer = client.invoke(FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(event))
        if answer.get("FunctionError"):
            payload = answer["Payload"].read().decode(errors="replace")
            raise RuntimeError(f"{target}: {payload[:300]}")

    return invoke


def sns_subscribers(client: Any) -> Callable[[str], list[str]]:
    """A topic's forwarder subscribers: function names (Lambda subscriptions) and queue ARNs (SQS subscriptions)."""
    cache: dict[str, list[str]] = {}

    def subscribers(topic_arn: str) -> list[str]:
        if topic_arn not in cache:
            found: list[str] = []
            for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
                for subscription in page["Subscriptions"]:
                    if subscription["Protocol"] == "lambda":
                        found.append(subscription["Endpoint"].split(":function:", 1)[-1].split(":", 1)[0])
                    elif subscription["Protocol"] == "sqs":
                        found.append(subscription["Endpoint"])
            cache[topic_arn] = found
        return cache[topic_arn]

    return subscribers


@dataclass
class Moved:
    waiting: int  # messages in the dead-letter queue when the move started
    status: str  # the move task's status: COMPLETED, FAILED, CANCELLED, RUNNING (still, when we stopped waiting)
    moved: int
    failure: str | None = None

    def line(self) -> str:
        failure = f" ({self.failure})" if self.failure else ""
        return f"{self.waiting} messages waiting; move {self.status}{failure}: {self.moved} moved back"


def move_back(
    sqs: Any,
    dead_letter_url: str,
    *,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
    start: Callable[..., dict[str, Any]] | None = None,
    tasks: Callable[..., dict[str, Any]] | None = None,
    timeout: float = 900.0,
    poll_seconds: float = 2.0,
) -> Moved:
    """SQS's own redrive of a forwarder's dead-letter queue: StartMessageMoveTask with no destination moves every
    message back to its source queue (the only one its redrive allow policy names); then ListMessageMoveTasks
    until the task ends. `start` and `tasks` default to the client's (a local world stands them in)."""
    import time

    attributes = sqs.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
    )["Attributes"]
    arn, waiting = attributes["QueueArn"], int(attributes.get("ApproximateNumberOfMessages", 0))
    if dry_run or not waiting:
        moved = Moved(waiting, "NOT STARTED", 0)
        say(f"{moved.line()}{' (dry run)' if dry_run else ''}")
        return moved
    (start or sqs.start_message_move_task)(SourceArn=arn)
    deadline = time.monotonic() + timeout
    while True:
        [task, *_] = (tasks or sqs.list_message_move_tasks)(SourceArn=arn, MaxResults=1)["Results"]
        if task["Status"] != "RUNNING" or time.monotonic() >= deadline:
            break
        say(f"... {task.get('ApproximateNumberOfMessagesMoved', 0)} moved")
        time.sleep(poll_seconds)
    moved = Moved(
        waiting, task["Status"], int(task.get("ApproximateNumberOfMessagesMoved", 0)), task.get("FailureReason")
    )
    say(moved.line())
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.redrive", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="the environment (its queue is <env>-alerting-dlq)")
    parser.add_argument(
        "--forwarder",
        choices=("pagerduty", "slack"),
        help="move the forwarder's own dead-letter queue (<env>-<forwarder>-forwarder-dlq) back to its queue",
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be re-delivered; change nothing")
    args = parser.parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.config import ConfigError, load_config

    try:
        config = load_config(args.env)
        session = boto3.Session(region_name=config.region)
        sqs = session.client("sqs")
        if args.forwarder:
            url = sqs.get_queue_url(QueueName=f"{config.name}-{args.forwarder}-forwarder-dlq")["QueueUrl"]
            moved = move_back(sqs, url, dry_run=args.dry_run)
            return 0 if moved.status in ("COMPLETED", "NOT STARTED") else 1
        queue_url = sqs.get_queue_url(QueueName=f"{config.name}-alerting-dlq")["QueueUrl"]
        counts = redrive(
            sqs,
            queue_url,
            lambda_invoker(session.client("lambda"), sqs),
            sns_subscribers(session.client("sns")),
            dry_run=args.dry_run,
        )
    except ConfigError as exc:
        print(f"redrive: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"redrive: AWS said: {exc}", file=sys.stderr)
        return 2
    return 1 if counts.failed else 0


if __name__ == "__main__":
    sys.exit(main())
