"""`make faults`: 1,000 alerts through both forwarders while PagerDuty and Slack fail 30% of requests.

The AWS side is dev's, built from its synthesized templates (`tools.world`): the forwarders' settings are their
template environment (routes, tables, queues), their secrets and dead-letter queue are the template's. Two
differences, both for counting: the forwarders run in this process with short HTTP time-outs (1,000 alerts in a
couple of minutes), and without the PagerDuty forwarder's Slack fallback (its notices would count as Slack
deliveries; the fallback is tested in tests/handlers).

The stand-ins answer 500, 503, 429 with Retry-After, too slowly, or reset the connection, at random. Each alert is
invoked as Lambda invokes an SNS subscriber asynchronously: a failed invocation is retried twice, then the event
goes to the dead-letter queue (as Lambda's on-failure record). Every alert must end delivered exactly once or in
the queue; after a redrive against healthy stand-ins every alert is delivered, none twice. Prints the counts.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import environ, moto_server
from tools.redrive import redrive
from tools.standins import Chaos, StandIn

ROUTING_KEY = "fa17fa17fa17fa17fa17fa17fa17fa17"
ENV = "dev"
ACCOUNT, REGION = "111111111111", "eu-west-1"  # config/dev.json
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{ENV}-critical"
LAMBDA_ATTEMPTS = 3  # the first invocation and Lambda's two retries


@dataclass
class DestinationReport:
    destination: str
    alerts: int
    delivered: int = 0  # distinct alerts accepted before the redrive
    dead_lettered: int = 0
    duplicates: int = 0
    invocations: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    redelivered: int = 0
    delivered_after_redrive: int = 0
    duplicates_after_redrive: int = 0

    @property
    def accounted(self) -> bool:
        return self.delivered + self.dead_lettered == self.alerts and self.duplicates == 0

    @property
    def healed(self) -> bool:
        return self.delivered_after_redrive == self.alerts and self.duplicates_after_redrive == 0


def alarm_event(index: int) -> dict[str, Any]:
    name = f"faults-rds-db{index:04d}-CPUUtilization"
    message = {
        "AlarmName": name,
        "AlarmDescription": "Fault injection.",
        "AWSAccountId": ACCOUNT,
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 5 datapoints [97.5 (22/11/26 02:55:00)] were over the threshold.",
        "StateChangeTime": "2026-11-22T02:55:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/RDS",
            "Statistic": "AVERAGE",
            "Period": 60,
            "EvaluationPeriods": 5,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 90.0,
            "Dimensions": [{"name": "DBInstanceIdentifier", "value": f"db{index:04d}"}],
        },
    }
    record = {
        "Type": "Notification",
        "MessageId": f"fault-{index:05d}",
        "TopicArn": TOPIC,
        "Subject": "ALARM",
        "Message": json.dumps(message),
        "Timestamp": "2026-11-22T02:55:01.000Z",
        "MessageAttributes": {},
    }
    return {
        "Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": f"{TOPIC}:x", "Sns": record}
        ]
    }


class _Context:
    function_name = "faults"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:faults"
    aws_request_id = "faults"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 20_000


def _alert_of(destination: str, body: dict[str, Any]) -> str:
    if destination == "pagerduty":
        return str(body["dedup_key"])
    return str(body["text"]).split("] ", 2)[-1].split(":", 1)[0]  # "[ALARM] [CRITICAL] <name>: ..."


def run(
    n: int = 1000,
    *,
    rate: float = 0.3,
    seed: int = 7,
    say: Callable[[str], None] = print,
    faults: tuple[str, ...] = ("500", "503", "429", "timeout", "reset"),
    retries: int = 1,
) -> list[DestinationReport]:
    import logging

    logging.disable(logging.CRITICAL)
    pagerduty, slack = StandIn("pagerduty").start(), StandIn("slack").start()
    try:
        overrides = {"MOTO_ACCOUNT_ID": ACCOUNT, "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_METRICS_DISABLED": "true"}
        with moto_server() as aws, environ({**aws, **overrides}):
            return _run(
                n, rate=rate, seed=seed, say=say, pagerduty=pagerduty, slack=slack, faults=faults, retries=retries
            )
    finally:
        pagerduty.stop()
        slack.stop()
        logging.disable(logging.NOTSET)


def _run(
    n: int,
    *,
    rate: float,
    seed: int,
    say: Callable[[str], None],
    pagerduty: StandIn,
    slack: StandIn,
    faults: tuple[str, ...],
    retries: int,
) -> list[DestinationReport]:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from alertlib.deliver import Deliverer, Destination
    from alertlib.forward import Forwarder
    from alertlib.settings import Settings
    from infra.config import load_config
    from tools.world import build_world, synthesize

    parameters.clear_caches()  # type: ignore[no-untyped-call]
    parameters.base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
    boto3.DEFAULT_SESSION = None
    config = load_config(ENV)
    secret_values = {
        name: json.dumps({"routing_key": ROUTING_KEY, "events_url": pagerduty.url})
        for name in (r.pagerduty for r in config.topics.values())
        if name
    }
    secret_values.update(
        {name: json.dumps({"webhook_url": slack.url}) for r in config.topics.values() for name in r.slack}
    )
    world = build_world(
        ENV, synthesize(ENV), boto3.Session(region_name=REGION).client, account=ACCOUNT, region=REGION,
        secret_values=secret_values,
    )  # fmt: skip
    sqs = boto3.client("sqs")
    queue = world.queues[f"{ENV}-alerting-dlq"]
    stand_ins = {"pagerduty": pagerduty, "slack": slack}
    forwarders: dict[str, Forwarder] = {}
    for destination in ("pagerduty", "slack"):
        environment = world.functions[f"{ENV}-{destination}-forwarder"].environment
        forwarders[destination] = Forwarder(
            destination=Destination(destination),
            settings=replace(Settings.from_env(environment), fallback_slack_secret=None),
            deliverer=Deliverer(
                pagerduty_url=pagerduty.url, connect_timeout=1.0, read_timeout=0.3, retries=retries, backoff_factor=0.05
            ),
        )
        stand_ins[destination].chaos = Chaos(rate=rate, seed=seed + len(destination), slow=0.4, faults=faults)
    reports = {d: DestinationReport(destination=d, alerts=n) for d in forwarders}
    events = [alarm_event(i) for i in range(n)]

    def invoke_async(destination: str) -> None:
        """Lambda's asynchronous invocation: two retries, then the on-failure destination."""
        forwarder, report = forwarders[destination], reports[destination]
        for index, event in enumerate(events):
            for attempt in range(LAMBDA_ATTEMPTS):
                report.invocations += 1
                try:
                    forwarder.run(event, _Context())
                    break
                except Exception as exc:  # noqa: BLE001 - the invocation failed; Lambda retries, then dead-letters
                    if attempt == LAMBDA_ATTEMPTS - 1:
                        record = {
                            "version": "1.0",
                            "requestContext": {
                                "requestId": f"{destination}-{index}",
                                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ENV}-{destination}"
                                "-forwarder:$LATEST",
                                "condition": "RetriesExhausted",
                                "approximateInvokeCount": LAMBDA_ATTEMPTS,
                            },
                            "requestPayload": event,
                            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                            "responsePayload": {"errorMessage": str(exc)[:500]},
                        }
                        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record))
                        report.dead_lettered += 1
            if (index + 1) % 250 == 0:
                say(f"  {destination}: {index + 1}/{n} alerts invoked")

    started = time.monotonic()
    threads = [threading.Thread(target=invoke_async, args=(d,)) for d in forwarders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for destination, report in reports.items():
        accepted = Counter(_alert_of(destination, r.body) for r in stand_ins[destination].accepted())
        report.delivered = len(accepted)
        report.duplicates = sum(count - 1 for count in accepted.values())
        report.faults = dict(stand_ins[destination].chaos.counts)  # type: ignore[union-attr]
        stand_ins[destination].chaos = None  # healthy from here on
    say(f"  first pass took {time.monotonic() - started:.0f} s")

    def invoke(function: str, event: dict[str, Any]) -> None:
        forwarders[function.removeprefix(f"{ENV}-").removesuffix("-forwarder")].run(event, _Context())

    counts = redrive(sqs, queue, invoke, lambda topic: [], say=lambda line: say(f"  redrive: {line}"))
    for destination, report in reports.items():
        accepted = Counter(_alert_of(destination, r.body) for r in stand_ins[destination].accepted())
        report.delivered_after_redrive = len(accepted)
        report.duplicates_after_redrive = sum(count - 1 for count in accepted.values())
    for report in reports.values():
        report.redelivered = counts.redelivered if len(reports) == 1 else report.dead_lettered - counts.failed
    return list(reports.values())


def main() -> int:
    print("Fault injection: 1,000 alerts through each forwarder, 30% of requests failing at random")
    reports = run(say=lambda line: print(line, flush=True))
    ok = True
    print(
        f"\n{'destination':<11} {'alerts':>6} {'invocations':>11} {'delivered':>9} {'dead-lettered':>13} "
        f"{'duplicates':>10} {'after redrive':>13} {'duplicates':>10}  faults injected"
    )
    for r in reports:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(r.faults.items()))
        print(
            f"{r.destination:<11} {r.alerts:>6} {r.invocations:>11} {r.delivered:>9} {r.dead_lettered:>13} "
            f"{r.duplicates:>10} {r.delivered_after_redrive:>13} {r.duplicates_after_redrive:>10}  {faults}"
        )
        ok = ok and r.accounted and r.healed
    print(
        "every alert delivered exactly once or dead-lettered, and all delivered after the redrive" if ok else "FAILED"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
