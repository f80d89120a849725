"""`make demo`: the whole path on one machine, with the sample alarms and alerts, firing and then resolved.

It starts the local pipeline (`tools.serve`: moto's server as AWS, the Alertmanager endpoint, both forwarders,
PagerDuty and Slack stand-ins on 127.0.0.1), publishes the sample CloudWatch alarms and EventBridge events to the
topics as CloudWatch and EventBridge would, posts the sample Alertmanager groups to the endpoint as Alertmanager
would, then shows what PagerDuty and Slack received. Then one alert's Slack thread, from the trigger to the resolve
(tools.demo_thread: the graph, Acknowledge and Mute clicked in Slack, PagerDuty's reassignment, the parent edited at
each step). No AWS account is needed.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.demo_thread import ThreadDemo
from tools.localaws import free_port
from tools.oncall_local import DEMO_APP, demo_config
from tools.serve import LocalPipeline

EVENTS = Path(__file__).resolve().parent.parent / "tests" / "events"


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def cloudwatch_alarms(account: str, region: str) -> list[tuple[str, dict[str, Any]]]:
    """The SNS-message samples as this environment's CloudWatch would publish them: ALARM, then OK."""
    steps = []
    for name in (
        "lambda-sns-cloudwatch-metric-alarm-single-metric__aws-lambda-go.json",
        "lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json",
    ):
        message = json.loads(load(name)["Records"][0]["Sns"]["Message"])
        alarm = name.split("__")[0].replace("lambda-sns-", "")
        message.update(
            AlarmName=alarm,
            AlarmArn=f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}",
            AWSAccountId=account,
            AlarmDescription=f"{message['AlarmDescription']}\nrunbook: https://runbooks.example.com/{alarm}",
        )
        steps.append(("critical", message))
        steps.append(("critical", {**message, "NewStateValue": "OK", "OldStateValue": "ALARM",
                                   "NewStateReason": "Threshold Crossed: back under the threshold."}))  # fmt: skip
    recorded = load("cloudwatch-alarm-sns-message-body-metric-alarm__aws-recorded-localstack-snapshot.json")
    steps.append(("warning", recorded))
    return steps


def eventbridge_events() -> list[tuple[str, dict[str, Any]]]:
    single = load("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    resolved = copy.deepcopy(single)
    resolved["id"] += "-ok"
    resolved["detail"]["state"], resolved["detail"]["previousState"] = (
        {**single["detail"]["previousState"], "timestamp": "2019-10-02T17:24:40.989+0000"},
        single["detail"]["state"],
    )
    composite = load("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json")
    return [("warning", single), ("warning", resolved), ("infrastructure", composite)]


def post(url: str, token: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def describe_pagerduty(body: dict[str, Any]) -> str:
    if body.get("event_action") == "resolve":
        return f"resolve  dedup_key={body['dedup_key'][:60]}"
    payload = body.get("payload", {})
    return f"trigger  [{payload.get('severity')}] {payload.get('summary', '')[:100]}"


def describe_slack(body: dict[str, Any]) -> str:
    blocks = [*body.get("blocks", []), *(b for a in body.get("attachments", []) for b in a.get("blocks", []))]
    header = next((b["text"]["text"] for b in blocks if b.get("type") == "header"), "")
    buttons = [e["text"]["text"] for b in blocks if b.get("type") == "actions" for e in b["elements"]]
    return header[:70] + (f"   [{' | '.join(buttons)}]" if buttons else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    from infra.config import load_config

    print("Starting the local pipeline (moto as AWS, the endpoint, both forwarders, PagerDuty and Slack stand-ins)")
    dev = load_config("dev")
    config = demo_config(dev)
    if config is not dev:
        print(f"  (dev names no Slack app route on a paging topic: the demo adds {DEMO_APP.format(env='dev')} to them)")
    say = lambda line: print("  " + line, flush=True)  # noqa: E731
    with LocalPipeline(env="dev", port=free_port(), say=say, given_config=config) as pipeline:
        config = pipeline.config
        print(f"Alertmanager endpoint {pipeline.url}\n")
        print("CloudWatch alarms, EventBridge events and Alertmanager groups, firing then resolved:")
        for topic, message in cloudwatch_alarms(config.account, config.region) + eventbridge_events():
            pipeline.publish(topic, message)
            pipeline.wait_idle()
        for name in ("alertmanager-webhook-v4-firing__alertmanager-bot.json",
                     "alertmanager-webhook-v4-resolved__alertmanager-bot.json"):  # fmt: skip
            assert post(pipeline.url, pipeline.webhook_token or "", load(name)) == 202
            pipeline.wait_idle()
        pipeline.publish("critical", "Hello from SNS!")  # Alertmanager's default plain-text message: refused
        pipeline.wait_idle()
        pagerduty, slack = pipeline.pagerduty, pipeline.slack
        assert pagerduty is not None
        assert slack is not None
        print("\nWhat PagerDuty received:")
        for record in pagerduty.received:
            print(f"  {record.answered} {describe_pagerduty(record.body)}")
        print("\nWhat Slack received:")
        for record in slack.received:
            print(f"  {record.answered} {describe_slack(record.body)}")
        problems = [p for r in pagerduty.received + slack.received for p in r.problems]
        failed = [d for d in pipeline.deliveries if d.outcome.startswith("failed")]
        print(
            f"\n{len(pagerduty.accepted())} PagerDuty events and {len(slack.accepted())} Slack messages accepted; "
            f"{_kept_refusals(pipeline)} refused and kept in the rejected queue (the plain-text message, once per "
            f"forwarder), {len(failed)} failed."
        )
        if problems or failed or not pagerduty.accepted() or not slack.accepted():
            print(f"demo: contract problems {problems}, failures {[d.outcome for d in failed]}", file=sys.stderr)
            return 1
        print(
            "\nOne alert's Slack thread (a Slack app route: the parent edited at each step, the replies in its thread):"
        )
        thread_problems = ThreadDemo(pipeline, say=lambda line: print(line, flush=True)).run()
        if thread_problems:
            print(f"demo: thread problems {thread_problems}", file=sys.stderr)
            return 1
    return 0


def _kept_refusals(pipeline: LocalPipeline) -> int:
    """Refused records are kept in the rejected queue with their reason (the forwarders' SQS answers name only
    failures, so the queue is where refusals are counted)."""
    sqs = pipeline.admin("sqs")
    urls = [url for name, url in pipeline.world.queues.items() if name.endswith("-rejected")]
    return sum(
        int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        for url in urls
    )


if __name__ == "__main__":
    sys.exit(main())
