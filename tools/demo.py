"""`make demo`: the sample payloads through the real forwarders, against local PagerDuty and Slack stand-ins.

No AWS account: moto's server stands in for Secrets Manager, and two real HTTP servers on 127.0.0.1 stand in for
PagerDuty's Events API and a Slack webhook, checking each body against the documented limits. Each sample goes
through both handlers exactly as Lambda would call them (firing, then resolved), and a summary shows what each
destination received.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import environ, moto_server
from tools.standins import StandIn

EVENTS = Path(__file__).resolve().parent.parent / "tests" / "events"
TOPIC = "arn:aws:sns:us-east-1:123456789012:demo-critical"
ROUTING_KEY = "d3m0d3m0d3m0d3m0d3m0d3m0d3m0d3m0"


@dataclass(frozen=True)
class Step:
    title: str
    event: dict[str, Any]


def _sns(message: dict[str, Any], message_id: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC}:demo",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": TOPIC,
                    "Message": json.dumps(message),
                    "Timestamp": "2026-11-22T03:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def steps() -> list[Step]:
    """The samples, each firing and then resolved, in the shapes they reach the forwarders."""
    result: list[Step] = []
    for name in (
        "lambda-sns-cloudwatch-metric-alarm-single-metric__aws-lambda-go.json",
        "lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json",
    ):
        event = load(name)
        message = json.loads(event["Records"][0]["Sns"]["Message"])
        message["AlarmArn"] = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{Path(name).stem.split('__')[0]}"
        message["AlarmName"] = Path(name).stem.split("__")[0]
        message["Region"] = "US East (N. Virginia)"
        result.append(Step(f"CloudWatch via SNS: {message['AlarmName']} ALARM", _sns(message, f"{name}-alarm")))
        resolved = {**message, "NewStateValue": "OK", "OldStateValue": "ALARM", "NewStateReason": "Back to normal."}
        result.append(Step(f"CloudWatch via SNS: {message['AlarmName']} OK", _sns(resolved, f"{name}-ok")))
    recorded = load("cloudwatch-alarm-sns-message-body-metric-alarm__aws-recorded-localstack-snapshot.json")
    result.append(Step("CloudWatch via SNS (recorded against AWS)", _sns(recorded, "recorded-alarm")))
    single = load("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    result.append(Step("EventBridge: ServerCpuTooHigh ALARM", single))
    ok = copy.deepcopy(single)
    ok["id"] += "-ok"
    ok["detail"]["state"], ok["detail"]["previousState"] = (
        {**single["detail"]["previousState"], "timestamp": "2019-10-02T17:24:40.989+0000"},
        single["detail"]["state"],
    )
    result.append(Step("EventBridge: ServerCpuTooHigh OK", ok))
    result.append(
        Step(
            "EventBridge composite (actions suppressed)",
            load("eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"),
        )
    )
    result.append(
        Step(
            "Alertmanager via SNS: Fire firing",
            _sns(load("alertmanager-webhook-v4-firing__alertmanager-bot.json"), "am-firing"),
        )
    )
    result.append(
        Step(
            "Alertmanager via SNS: Fire resolved",
            _sns(load("alertmanager-webhook-v4-resolved__alertmanager-bot.json"), "am-resolved"),
        )
    )
    result.append(
        Step("Not an alert: plain SNS message (refused)", load("lambda-sns-envelope-generic__aws-lambda-go.json"))
    )
    return result


def _describe_pagerduty(body: dict[str, Any]) -> str:
    if body.get("event_action") == "resolve":
        return f"resolve  key={body['dedup_key'][:48]}"
    payload = body.get("payload", {})
    return f"trigger  [{payload.get('severity')}] {payload.get('summary', '')[:110]}"


def _describe_slack(body: dict[str, Any]) -> str:
    header = next((b["text"]["text"] for b in body.get("blocks", []) if b.get("type") == "header"), "")
    buttons = [e["text"]["text"] for b in body.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]
    return f"{header[:80]}" + (f"  buttons: {', '.join(buttons)}" if buttons else "")


def main() -> int:
    logging.disable(logging.CRITICAL)
    with StandIn("pagerduty") as pagerduty, StandIn("slack") as slack:
        secrets = {"demo/pagerduty": ROUTING_KEY, "demo/slack": slack.url}
        with moto_server(secrets) as aws:
            routes = {"demo-critical": {"severity": "critical"}, "default": {"severity": "error"}}
            settings = {
                **aws,
                "PAGERDUTY_EVENTS_URL": pagerduty.url,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "AlertForwardingDemo",
            }
            with environ(settings):
                import pagerduty_forwarder
                import slack_forwarder
                from alertlib.forward import Forwarder

                failures = 0
                for module, secret in ((pagerduty_forwarder, "demo/pagerduty"), (slack_forwarder, "demo/slack")):
                    wired = {k: {**v, "secret": secret} for k, v in routes.items()}
                    with environ({"ROUTES": json.dumps(wired)}):
                        module.forwarder = None  # type: ignore[attr-defined]
                        for step in steps():
                            with redirect_stdout(StringIO()):  # the handlers' JSON logs and metrics
                                try:
                                    module.handler(step.event, _Context())
                                except Exception as exc:  # noqa: BLE001 - shown, not hidden
                                    failures += 1
                                    print(f"  ! {module.__name__}: {step.title}: {exc}", file=sys.stderr)
                        assert isinstance(module.forwarder, Forwarder)  # type: ignore[attr-defined]

    print("What PagerDuty received")
    for record in pagerduty.received:
        mark = "ok " if record.answered == 202 else f"{record.answered}"
        print(f"  {mark} {_describe_pagerduty(record.body)}")
    print("\nWhat Slack received")
    for record in slack.received:
        mark = "ok " if record.answered == 200 else f"{record.answered}"
        print(f"  {mark} {_describe_slack(record.body)}")
    problems = [p for r in pagerduty.received + slack.received for p in r.problems]
    print(
        f"\n{len(steps())} payloads through both forwarders: PagerDuty accepted {len(pagerduty.accepted())}, "
        f"Slack accepted {len(slack.accepted())}; the plain-text SNS message was refused and not forwarded."
    )
    if problems or failures:
        print(f"demo: {failures} failed invocations, contract problems: {problems}", file=sys.stderr)
        return 1
    return 0


class _Context:
    function_name = "demo-forwarder"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:demo-forwarder"
    aws_request_id = "demo"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


if __name__ == "__main__":
    sys.exit(main())
