"""The whole path on one machine, no AWS account: `python -m tools.serve [--port 9094] [--env dev] ...`.

On 127.0.0.1 it starts moto's server as AWS (SNS topics, Secrets Manager, DynamoDB) seeded from the
environment's config; the Alertmanager endpoint at `http://127.0.0.1:PORT/alertmanager`, handled by the same
code as the Lambda; the forwarders, invoked with a Lambda SNS event for every message published to a topic they
subscribe to (moto delivers each publish to this server over HTTP, as SNS would to a subscription); and local
PagerDuty and Slack stand-ins, or the URLs given. It prints a line per delivery and runs until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import queue
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import environ, moto_server
from tools.standins import StandIn

DEFAULT_PORT = 9094
ROUTING_KEY = "10ca1pipe11ne0000000000000000000"  # 32 characters, as PagerDuty's


@dataclass
class Delivery:
    """One forwarder invocation for one published message, as the pipeline printed it."""

    at: float
    destination: str
    topic: str
    title: str
    status: str
    outcome: str  # delivered | refused | failed: <reason>


@dataclass
class LocalPipeline:
    env: str = "dev"
    port: int = DEFAULT_PORT
    pagerduty_url: str | None = None
    slack_url: str | None = None
    webhook_token: str | None = None
    hmac_key: str | None = None
    say: Callable[[str], None] = print
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.webhook_token = self.webhook_token or secrets.token_urlsafe(24)
        self.hmac_key = self.hmac_key or secrets.token_urlsafe(24)
        self._stack = ExitStack()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self.pagerduty: StandIn | None = None
        self.slack: StandIn | None = None

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> LocalPipeline:
        from infra.config import load_config

        logging.disable(logging.WARNING)  # the handlers' JSON logs stay quiet; this prints its own lines
        self.config = load_config(self.env)
        if self.pagerduty_url is None:
            self.pagerduty = self._stack.enter_context(StandIn("pagerduty"))
            self.pagerduty_url = self.pagerduty.url
        if self.slack_url is None:
            self.slack = self._stack.enter_context(StandIn("slack"))
            self.slack_url = self.slack.url
        seeded = self._secrets()
        aws = self._stack.enter_context(moto_server(seeded))
        self._stack.enter_context(
            environ(
                {
                    **aws,
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    "POWERTOOLS_METRICS_NAMESPACE": "AlertForwardingLocal",
                    "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF documents on the console
                }
            )
        )
        self._reset_powertools()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="pipeline-http", daemon=True).start()
        self._stack.callback(self.server.server_close)
        self._stack.callback(self.server.shutdown)
        self._seed_aws()
        self._wire_handlers()
        self._worker = threading.Thread(target=self._work, name="pipeline-forwarders", daemon=True)
        self._worker.start()
        self._stack.callback(self._stop_worker)
        return self

    def stop(self) -> None:
        self._stack.close()
        logging.disable(logging.NOTSET)

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alertmanager"

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every published message went through the forwarders (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.05)
        return False

    def publish(self, topic: str, message: Any, subject: str | None = None) -> str:
        """Publish to one of the environment's topics, as CloudWatch or EventBridge would."""
        kwargs: dict[str, Any] = {"TopicArn": self.topic_arns[topic], "Message": _text(message)}
        if subject:
            kwargs["Subject"] = subject
        return str(self.sns.publish(**kwargs)["MessageId"])

    # -- seeding ---------------------------------------------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        seeded: dict[str, str] = {}
        for routing in self.config.topics.values():
            if routing.pagerduty:
                seeded[routing.pagerduty] = json.dumps({"routing_key": ROUTING_KEY, "events_url": self.pagerduty_url})
            for name in routing.slack:
                seeded[name] = json.dumps({"webhook_url": self.slack_url})
        seeded[self.auth_secret] = json.dumps({"bearer_tokens": [self.webhook_token], "hmac_keys": [self.hmac_key]})
        return seeded

    @property
    def auth_secret(self) -> str:
        return f"alerting/{self.config.name}/alertmanager-endpoint"

    @property
    def table(self) -> str:
        return f"{self.config.name}-alertmanager-endpoint"

    @property
    def ledger_table(self) -> str:
        return f"{self.config.name}-alerting-ledger"

    @property
    def idempotency_table(self) -> str:
        return f"{self.config.name}-alerting-idempotency"

    def _seed_aws(self) -> None:
        import boto3

        self.sns = boto3.client("sns")
        self.cloudwatch = boto3.client("cloudwatch")
        dynamodb = boto3.client("dynamodb")
        for table, keys in (
            (self.table, [("pk", "HASH")]),
            (self.idempotency_table, [("id", "HASH")]),
            (self.ledger_table, [("alert", "HASH"), ("entry", "RANGE")]),
        ):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        # The topics and health topics, each delivered to this server as SNS delivers to an HTTP subscription.
        self.topic_arns: dict[str, str] = {}
        names: dict[str, str] = {topic: self.config.topic_name(topic) for topic in self.config.topics}
        names.update({f"health-{d}": self.config.health_topic_name(d) for d in ("pagerduty", "slack")})
        for key, name in names.items():
            arn = str(self.sns.create_topic(Name=name)["TopicArn"])
            self.topic_arns[key] = arn
            self.sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=f"http://127.0.0.1:{self.port}/sns/{name}")
        self._seed_alarms()

    def _seed_alarms(self) -> None:
        """The environment's alarms, as its stacks create them, in moto's CloudWatch (drills find them there)."""
        from infra.alarm_specs import plan_alarms

        for spec in plan_alarms(self.config):
            statistic = (
                {"ExtendedStatistic": spec.statistic}
                if spec.statistic.startswith("p")
                else {"Statistic": spec.statistic}
            )
            self.cloudwatch.put_metric_alarm(
                AlarmName=spec.name,
                AlarmDescription=spec.description(self.config.runbook_base_url),
                Namespace=spec.namespace,
                MetricName=spec.metric,
                Dimensions=[{"Name": k, "Value": v} for k, v in spec.dimensions],
                Period=spec.period,
                EvaluationPeriods=spec.evaluation_periods,
                DatapointsToAlarm=spec.datapoints_to_alarm,
                Threshold=spec.threshold,
                ComparisonOperator=spec.comparison,
                TreatMissingData=spec.treat_missing_data,
                AlarmActions=[self.topic_arns[spec.topic]],
                OKActions=[self.topic_arns[spec.topic]],
                **statistic,
            )
        # The forwarders' own alarms (infra/constructs/self_monitoring.py): each to its health topic.
        base = self.config.runbook_base_url.rstrip("/")
        for destination in ("pagerduty", "slack"):
            for metric, kind in (("Errors", "forwarder-errors"), ("Throttles", "forwarder-throttles")):
                topic = [self.topic_arns[f"health-{destination}"]]
                self.cloudwatch.put_metric_alarm(
                    AlarmName=f"{self.config.name}-forwarder-{destination}-{metric}",
                    AlarmDescription=f"The {destination} forwarder: {metric}.\nrunbook: {base}/{kind}.md",
                    Namespace="AWS/Lambda",
                    MetricName=metric,
                    Dimensions=[{"Name": "FunctionName", "Value": f"{self.config.name}-{destination}-forwarder"}],
                    Statistic="Sum",
                    Period=60,
                    EvaluationPeriods=1,
                    Threshold=1,
                    ComparisonOperator="GreaterThanOrEqualToThreshold",
                    TreatMissingData="notBreaching",
                    AlarmActions=topic,
                    OKActions=topic,
                )

    def emulate_alarm_action(self, alarm_name: str) -> int:
        """moto's set_alarm_state runs no action: publish what CloudWatch would, from the alarm's own definition,
        to the topics of its new state. Returns how many topics were published to."""
        [alarm] = self.cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
        state = alarm["StateValue"]
        topics = {"ALARM": alarm.get("AlarmActions"), "OK": alarm.get("OKActions")}.get(state) or []
        message = cloudwatch_notification(alarm, self.config.region)
        for topic_arn in topics:
            self.sns.publish(TopicArn=topic_arn, Message=json.dumps(message), Subject=f'{state}: "{alarm_name}"'[:99])
        return len(topics)

    def _wire_handlers(self) -> None:
        import alertmanager_endpoint

        import pagerduty_forwarder
        import slack_forwarder
        from alertlib.deliver import Deliverer, Destination, powertools_secret
        from alertlib.endpoint import Credentials, DynamoRateLimiter, Endpoint, EndpointSettings, SnsPublisher
        from alertlib.forward import Forwarder
        from alertlib.settings import Settings, parse_routes

        self.forwarders: dict[str, Any] = {}
        for destination, module in (("pagerduty", pagerduty_forwarder), ("slack", slack_forwarder)):
            raw_routes, _ = self.config.forwarder_routes(destination)
            routes = parse_routes(json.dumps(raw_routes))
            settings = Settings(
                routes=routes,
                insufficient_data=self.config.forwarders.insufficient_data,
                pagerduty_grouping=self.config.forwarders.pagerduty_grouping,
                redact_patterns=tuple(re.compile(p) for p in self.config.forwarders.redact_patterns),
                idempotency_table=self.idempotency_table,
                ledger_table=self.ledger_table,
                fallback_slack_secret=self.config.fallback_slack_secret() if destination == "pagerduty" else None,
            )
            forwarder = Forwarder(
                destination=Destination(destination),
                settings=settings,
                deliverer=Deliverer(pagerduty_url=self.pagerduty_url or "", retries=2, backoff_factor=0.2),
            )
            module.forwarder = forwarder  # type: ignore[attr-defined]
            self.forwarders[destination] = (module, set(routes))
        secret = self.auth_secret
        alert_topics = {k: v for k, v in self.topic_arns.items() if not k.startswith("health-")}
        alertmanager_endpoint.endpoint = Endpoint(
            settings=EndpointSettings(topic_arns=alert_topics, auth_secret=secret, rate_limit_table=self.table),
            credentials=lambda: Credentials.from_secret(powertools_secret(secret)),
            limiter=DynamoRateLimiter(self.table, 100),
            publish=SnsPublisher(),
        )
        self._endpoint_module = alertmanager_endpoint

    @staticmethod
    def _reset_powertools() -> None:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()  # type: ignore[no-untyped-call]
        parameters.base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]

    # -- the path ------------------------------------------------------------------------------------------------

    def received_notification(self, topic_name: str, notification: dict[str, Any]) -> None:
        if notification.get("Type") != "Notification":
            return
        notification["_topic"] = topic_name
        self._queue.put(notification)

    def _work(self) -> None:
        while True:
            notification = self._queue.get()
            try:
                if notification is None:
                    return
                self._forward(notification)
            except Exception as exc:  # noqa: BLE001 - printed, and the pipeline keeps serving
                self.say(f"pipeline: forwarding crashed: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def _stop_worker(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _forward(self, notification: dict[str, Any]) -> None:
        from alertlib.errors import MalformedInput
        from alertlib.forward import prepare
        from alertlib.parse import split_event
        from alertlib.settings import Settings

        topic = notification["_topic"]
        event = sns_event(notification)
        try:
            group = prepare(split_event(event)[0], Settings(), datetime.now(UTC))
            title, status = group.title, group.status.value
        except MalformedInput as exc:
            title, status = f"(refused: {exc})", "-"
        for destination, (module, topics) in self.forwarders.items():
            if topic not in topics:
                continue
            try:
                outcome = module.handler(event, _Context(destination))
                verdict = "delivered" if outcome["delivered"] else ("refused" if outcome["rejected"] else "ignored")
            except Exception as exc:  # noqa: BLE001 - the invocation failed, as Lambda would report it
                verdict = f"failed: {exc}"
            delivery = Delivery(time.time(), destination, topic, title, status, verdict)
            self.deliveries.append(delivery)
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            self.say(f"{stamp} {destination:<9} {topic:<24} {status:<17} {title[:60]:<60} {verdict}")

    def handle_endpoint(
        self, method: str, body: bytes, headers: dict[str, str], client: str
    ) -> tuple[int, dict[str, str], bytes]:
        import base64

        event = {
            "version": "2.0",
            "rawPath": "/alertmanager",
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {"http": {"method": method, "path": "/alertmanager", "sourceIp": client}},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        answer = self._endpoint_module.handler(event, _Context("alertmanager-endpoint"))
        return int(answer["statusCode"]), dict(answer.get("headers") or {}), str(answer.get("body") or "").encode()


def sns_event(notification: dict[str, Any]) -> dict[str, Any]:
    """The Lambda SNS event SNS would invoke a subscribed function with, from an HTTP notification."""
    record = {
        "Type": notification.get("Type", "Notification"),
        "MessageId": notification["MessageId"],
        "TopicArn": notification["TopicArn"],
        "Message": notification["Message"],
        "Timestamp": notification.get("Timestamp"),
        "SignatureVersion": notification.get("SignatureVersion", "1"),
        "Signature": notification.get("Signature", ""),
        "SigningCertUrl": notification.get("SigningCertURL", ""),
        "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
        "MessageAttributes": notification.get("MessageAttributes") or {},
    }
    if notification.get("Subject"):
        record["Subject"] = notification["Subject"]
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{notification['TopicArn']}:local",
                "Sns": record,
            }
        ]
    }


def cloudwatch_notification(alarm: dict[str, Any], region: str) -> dict[str, Any]:
    """The SNS message CloudWatch publishes for a metric alarm's state change, from `describe_alarms` output."""
    changed = alarm.get("StateUpdatedTimestamp") or datetime.now(UTC)
    changed_text = changed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{changed.microsecond // 1000:03d}+0000"
    trigger: dict[str, Any] = {
        "MetricName": alarm.get("MetricName"),
        "Namespace": alarm.get("Namespace"),
        "StatisticType": "ExtendedStatistic" if alarm.get("ExtendedStatistic") else "Statistic",
        "Statistic": (alarm.get("Statistic") or "").upper() or None,
        "Unit": alarm.get("Unit"),
        "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
        "Period": alarm.get("Period"),
        "EvaluationPeriods": alarm.get("EvaluationPeriods"),
        "DatapointsToAlarm": alarm.get("DatapointsToAlarm"),
        "ComparisonOperator": alarm.get("ComparisonOperator"),
        "Threshold": alarm.get("Threshold"),
        "TreatMissingData": alarm.get("TreatMissingData", "missing"),
        "EvaluateLowSampleCountPercentile": "",
    }
    if alarm.get("ExtendedStatistic"):
        trigger["ExtendedStatistic"] = alarm["ExtendedStatistic"]
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": alarm["AlarmArn"].split(":")[4],
        "AlarmConfigurationUpdatedTimestamp": changed_text,
        "NewStateValue": alarm["StateValue"],
        "NewStateReason": alarm.get("StateReason", ""),
        "StateChangeTime": changed_text,
        "Region": region,
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": "OK" if alarm["StateValue"] == "ALARM" else "ALARM",
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": trigger,
    }


def _text(message: Any) -> str:
    return message if isinstance(message, str) else json.dumps(message)


class _Context:
    def __init__(self, name: str) -> None:
        self.function_name = f"local-{name}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:local-{name}"
        self.aws_request_id = secrets.token_hex(8)

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _handler_for(pipeline: LocalPipeline) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.startswith("/sns/"):
                with contextlib.suppress(ValueError):
                    pipeline.received_notification(self.path[len("/sns/") :], json.loads(body))
                self._answer(200, {}, b"")
            elif self.path.rstrip("/") == "/alertmanager":
                status, headers, answer = pipeline.handle_endpoint(
                    "POST", body, dict(self.headers.items()), self.client_address[0]
                )
                self._answer(status, headers, answer)
            else:
                self._answer(404, {"Content-Type": "application/json"}, b'{"error": "not found"}')

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"Content-Type": "application/json"}, b'{"status": "ok"}')
            else:
                self._answer(405, {"Allow": "POST"}, b"")

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the endpoint's port (default 9094)")
    parser.add_argument("--env", default="dev", help="the environment whose config seeds the pipeline (default dev)")
    parser.add_argument("--pagerduty-url", help="send PagerDuty events here instead of the local stand-in")
    parser.add_argument("--slack-url", help="send Slack messages here instead of the local stand-in")
    parser.add_argument("--webhook-token", help="the bearer token Alertmanager must send (default: random, printed)")
    args = parser.parse_args(argv)
    pipeline = LocalPipeline(
        env=args.env,
        port=args.port,
        pagerduty_url=args.pagerduty_url,
        slack_url=args.slack_url,
        webhook_token=args.webhook_token or os.environ.get("ALERTMANAGER_WEBHOOK_TOKEN"),
        say=lambda line: print(line, flush=True),
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        pipeline.start()
    except OSError as exc:
        print(f"serve: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        print(f"Alertmanager endpoint: {pipeline.url}", flush=True)
        print(f"bearer token:          {pipeline.webhook_token}", flush=True)
        print(f"PagerDuty events to:   {pipeline.pagerduty_url}", flush=True)
        print(f"Slack messages to:     {pipeline.slack_url}", flush=True)
        print(f"topics:                {', '.join(pipeline.topic_arns.values())}", flush=True)
        print("ready; Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        pipeline.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
