"""The whole path on one machine, no AWS account: `python -m tools.serve [--port 8099] [--env dev] ...`.

On 127.0.0.1 it starts moto's server as AWS, holding every resource of the environment's synthesized templates
(tools.world), in the config's own account and region; the Alertmanager endpoint at
`http://127.0.0.1:PORT/alertmanager`, handled by the same code as the Lambda; the forwarders, each fed by its event
source mapping as Lambda would (moto's SNS delivers each publish to the forwarder queues itself; `LocalPipeline` polls
them with the template's batch size and maximum concurrency and invokes the function with an SQS event); and local
PagerDuty and Slack stand-ins, or the URLs given. It prints a line per delivery and one per request it refuses (401,
400, ...: the status and the endpoint's reason, never a header, a body or a credential), and runs until interrupted.

On-call from Slack (issue 11) runs on the same port: Slack's interactivity endpoint at `/slack/interactions` and
PagerDuty's webhooks at `/pagerduty/webhooks` (tools.oncall_local: the same code as the Lambdas, signed with
`--slack-signing-secret` and `--pagerduty-webhook-secret`), the action worker on a thread, and a Slack Web API
stand-in (tools.slack_api_standin) that the forwarders' Slack app routes post to (`SLACK_API_URL`). Silences go to
`--alertmanager-url`, else to a local Alertmanager stand-in; each action is printed.

The default port is 8099, not 9094: 9094 is Alertmanager's own cluster port, so an Alertmanager started beside the
pipeline would die with "address already in use".
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import logging
import os
import queue
import re
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.lambda_local import FunctionError, LocalLambda
from tools.localaws import environ, moto_server
from tools.oncall_local import LocalOnCall, demo_config, stand_in_metric_widget_image
from tools.slack_api_standin import CHANNEL as SLACK_CHANNEL
from tools.slack_api_standin import TOKEN as SLACK_TOKEN
from tools.slack_api_standin import SlackApiStandIn
from tools.standins import StandIn
from tools.world import Denial, MappingSpec, build_world, iam_enforced, synthesize

DEFAULT_PORT = 8099  # not 9094: Alertmanager's cluster port (its web port is 9093)
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
    # The synthesized templates to build from (default: `synthesize(env)`); a test may change them first.
    templates: dict[str, dict[str, Any]] | None = None
    retry_delays: tuple[float, ...] = (0.0, 0.0)  # Lambda's are about 60 and 120 s; none locally by default
    log_dir: str | None = None  # the functions' logs; default: a temporary folder
    slack_signing_secret: str | None = None  # Slack's signing secret for /slack/interactions (default: random)
    pagerduty_webhook_secret: str | None = None  # PagerDuty's webhook signing secret (default: random)
    alertmanager_url: str | None = None  # a real Alertmanager for the silences; None: a local stand-in
    # An EnvironmentConfig to build from instead of config/<env>.json (the demo adds a Slack app route to dev's).
    given_config: Any = None
    # For tests only: the visibility timeout (seconds) the event source mappings ask for when they receive, instead
    # of the queue's own (6 x the function's timeout: 6 minutes). A record the function left (a failure) is then
    # received again after this many seconds, so a test of retries and of maxReceiveCount waits seconds, not
    # half an hour; the backoff the function sets on a failed record (10, 30, 90 s...) is brought down to it too.
    # None: the template's, as deployed.
    visibility_timeout: int | None = None
    poll_wait_seconds: int = 1  # the mappings' long polling (Lambda's is 20 s; short here so that stop is quick)

    def __post_init__(self) -> None:
        self.webhook_token = self.webhook_token or secrets.token_urlsafe(24)
        self.hmac_key = self.hmac_key or secrets.token_urlsafe(24)
        self.slack_signing_secret = self.slack_signing_secret or secrets.token_hex(16)
        self.pagerduty_webhook_secret = self.pagerduty_webhook_secret or secrets.token_hex(16)
        self.slack_api: SlackApiStandIn | None = None
        self.oncall: LocalOnCall | None = None
        self.app_channels: dict[str, str] = {}  # Slack app route secret -> its channel on the stand-in
        self._stack = ExitStack()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.pagerduty: StandIn | None = None
        self.slack: StandIn | None = None
        self.functions: dict[str, LocalLambda] = {}
        self.denials: list[Denial] = []
        self._states: dict[str, str] = {}
        self.dead_lettered: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._in_flight = 0  # event source mapping invocations running
        self._in_flight_lock = threading.Lock()
        self._pollers: list[threading.Thread] = []
        self._environments: dict[str, queue.Queue[LocalLambda]] = {}  # function -> idle execution environments
        self.invocations: list[MappingInvocation] = []  # every event source mapping invocation, in order
        self.refusals: list[Refusal] = []  # every request the pipeline's HTTP server answered 4xx or 5xx

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> LocalPipeline:
        """Everything up, or nothing left running: a port in use (`OSError`, before anything else is started) or an
        unknown environment (`ConfigError`) stops the start with what was started already stopped."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalPipeline:
        from infra.config import EnvironmentConfig, load_config

        config: EnvironmentConfig = self.given_config if self.given_config is not None else load_config(self.env)
        self.config = config
        # The port first: a port in use is said before a minute of synthesis and world building.
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._stack.callback(self.server.server_close)
        logging.disable(logging.WARNING)  # the handlers' JSON logs stay quiet; this prints its own lines
        started = time.monotonic()
        if self.templates is None:
            self.say(f"synthesizing {self.config.name}'s templates")
        if self.templates is not None:
            templates = self.templates
        elif self.given_config is not None:
            templates = synthesize_config(self.config)
        else:
            templates = synthesize(self.config.name)
        if self.pagerduty_url is None:
            self.pagerduty = self._stack.enter_context(StandIn("pagerduty"))
            self.pagerduty_url = self.pagerduty.url
        if self.slack_url is None:
            self.slack = self._stack.enter_context(StandIn("slack"))
            self.slack_url = self.slack.url
        self.app_channels = slack_app_channels(self.config)
        self.slack_api = self._stack.enter_context(
            SlackApiStandIn(tokens=(SLACK_TOKEN,), channels=tuple(self.app_channels.values()) or (SLACK_CHANNEL,))
        )
        # The graphs of the Slack app threads (moto lacks GetMetricWidgetImage), taken away when the pipeline stops.
        self._stack.callback(stand_in_metric_widget_image())
        aws = self._stack.enter_context(moto_server())
        region = self.config.region
        self.aws_environment = {**aws, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
        self._stack.enter_context(
            environ(
                {
                    **self.aws_environment,
                    "MOTO_ACCOUNT_ID": self.config.account,  # every request is in the environment's account
                }
            )
        )
        self.say(
            f"building the local world in moto: account {self.config.account}, region {region} "
            f"({sum(len(t.get('Resources', {})) for t in templates.values())} resources)"
        )
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="pipeline-http", daemon=True
        ).start()
        self._stack.callback(self.server.shutdown)
        self._build(templates)
        self._start_oncall()
        self._worker = threading.Thread(target=self._work, name="pipeline-forwarders", daemon=True)
        self._worker.start()
        self._stack.callback(self._stop_worker)
        self._stack.callback(self._stop_pollers)
        for mapping in self.world.mappings:
            if mapping.enabled:
                poller = threading.Thread(
                    target=self._poll, args=(mapping,), name=f"mapping-{mapping.function}", daemon=True
                )
                self._pollers.append(poller)
                poller.start()
        self.say(f"started in {time.monotonic() - started:.0f} s")
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
        """Until every published message went through the forwarders (or `timeout`): nothing waits for SNS's HTTP
        deliveries or EventBridge, no event source mapping invocation runs, and every mapped queue is empty
        (visible, in flight and delayed: a record left for a retry, or a scheduled flush, is still work)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0 and self._in_flight == 0 and self.queued() == 0:
                # again, after a moment: a poller may hold a batch it received but has not counted yet
                time.sleep(0.05)
                if self._queue.unfinished_tasks == 0 and self._in_flight == 0 and self.queued() == 0:
                    return True
            time.sleep(0.05)
        return False

    def queued(self) -> int:
        """Messages in the mapped queues: visible, in flight (received, not deleted) and delayed."""
        total = 0
        for mapping in self.world.mappings:
            attributes = self.sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=list(_COUNTS))[
                "Attributes"
            ]
            total += sum(int(attributes.get(name, 0)) for name in _COUNTS)
        return total

    def publish(self, topic: str, message: Any, subject: str | None = None) -> str:
        """Publish to one of the environment's topics, as CloudWatch or EventBridge would."""
        kwargs: dict[str, Any] = {"TopicArn": self.topic_arns[topic], "Message": _text(message)}
        if subject:
            kwargs["Subject"] = subject
        return str(self.sns.publish(**kwargs)["MessageId"])

    # -- the world, from the templates -----------------------------------------------------------------------------

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

    def _secret_values(self) -> dict[str, str]:
        seeded: dict[str, str] = {}
        for routing in self.config.topics.values():
            if routing.pagerduty:
                seeded[routing.pagerduty] = json.dumps({"routing_key": ROUTING_KEY, "events_url": self.pagerduty_url})
            for name in routing.slack:
                seeded[name] = json.dumps({"webhook_url": self.slack_url})
        seeded[self.auth_secret] = json.dumps({"bearer_tokens": [self.webhook_token], "hmac_keys": [self.hmac_key]})
        for name, channel in self.app_channels.items():  # a Slack app route: the stand-in's token and its channel
            seeded[name] = json.dumps({"bot_token": SLACK_TOKEN, "channel": channel})
        oncall = getattr(self.config, "oncall", None)
        for option, value in (
            ("slack_signing_secret", {"signing_secret": self.slack_signing_secret}),
            ("pagerduty_webhook_secret", {"secrets": [self.pagerduty_webhook_secret]}),
        ):
            secret = getattr(oncall, option, None)
            if isinstance(secret, str) and secret:
                seeded[secret] = json.dumps(value)
        return seeded

    def _start_oncall(self) -> None:
        """The on-call endpoints and worker (tools.oncall_local), on the thread table the forwarders use: the one
        their environment names (THREAD_TABLE), else one made here."""
        environments = [spec.environment for spec in self.world.functions.values()]
        worker = next(
            (s.environment for s in self.world.functions.values() if s.handler.startswith("action_worker.")), {}
        )
        table = next((e["THREAD_TABLE"] for e in environments if e.get("THREAD_TABLE")), None)
        dynamodb = self.admin("dynamodb")
        if table is None:
            table = f"{self.config.name}-alerting-threads-local"
            dynamodb.create_table(
                TableName=table,
                KeySchema=[
                    {"AttributeName": "alert", "KeyType": "HASH"},
                    {"AttributeName": "channel", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "alert", "AttributeType": "S"},
                    {"AttributeName": "channel", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        self.thread_table = table
        app_secrets = {channel: name for name, channel in self.app_channels.items()}
        if not app_secrets:  # no Slack app route in the config: one local app, for threads made by hand (the demo)
            name = f"alerting/{self.config.name}/slack-app-local"
            self.admin("secretsmanager").create_secret(
                Name=name, SecretString=json.dumps({"bot_token": SLACK_TOKEN, "channel": SLACK_CHANNEL})
            )
            app_secrets = {SLACK_CHANNEL: name}
        self.app_secrets = app_secrets
        assert self.slack_api is not None
        assert self.slack_signing_secret
        assert self.pagerduty_webhook_secret
        pagerduty = self.pagerduty
        self.oncall = LocalOnCall(
            environment=self.config.name,
            slack_signing_secret=self.slack_signing_secret,
            pagerduty_webhook_secret=self.pagerduty_webhook_secret,
            slack_api_url=self.slack_api.url,
            pagerduty_url=str(self.pagerduty_url),
            thread_table=table,
            dynamodb=dynamodb,
            cloudwatch=self.admin("cloudwatch"),
            app_secrets=app_secrets,
            pagerduty_secrets=pagerduty_secrets(self.config, [worker] if worker else environments),
            pagerduty_received=(lambda: list(pagerduty.received)) if pagerduty is not None else list,
            alertmanager_url=self.alertmanager_url,
            actors=slack_actors(self.config),
            replay_table=worker.get("REPLAY_TABLE") or None,  # the templates' tables, as the worker uses them
            audit_table=worker.get("AUDIT_TABLE") or None,
            say=self.say,
        )
        self._stack.enter_context(self.oncall)

    def handle_oncall(
        self, method: str, path: str, body: bytes, headers: dict[str, str], client: str
    ) -> tuple[int, dict[str, str], bytes] | None:
        """A request on `/slack/interactions`, `/pagerduty/webhooks` or `/slack/responses/…`; None for another path."""
        if self.oncall is None:
            return None
        return self.oncall.route(method, path, body, headers, client)

    @property
    def slack_interactions_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/interactions"

    @property
    def pagerduty_webhooks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pagerduty/webhooks"

    def response_url(self, name: str) -> str:
        """A `response_url` for a click made by hand: answered by this pipeline (`/slack/responses/NAME`)."""
        return f"http://127.0.0.1:{self.port}/slack/responses/{name}"

    def _build(self, templates: dict[str, dict[str, Any]]) -> None:
        """Everything of the templates in moto; then IAM enforced: the functions act with their own role's
        credentials, this pipeline (CloudWatch, SNS, a person running a drill) as an administrator."""
        import boto3

        session = boto3.Session(region_name=self.config.region)
        clients = functools.cache(session.client)  # one client per service: creating one costs ~15 ms, ~160 times
        self.world = build_world(
            self.config.name,
            templates,
            clients,
            account=self.config.account,
            region=self.config.region,
            partition=self.config.partition,
            secret_values=self._secret_values(),
            subscription_endpoint=lambda function: f"http://127.0.0.1:{self.port}/sns/{function}",
            function_url=f"http://127.0.0.1:{self.port}/",
        )
        operator = _operator(clients("iam"))
        role_credentials = {name: self.world.credentials(name, clients) for name in self.world.functions}
        self.denials = self._stack.enter_context(iam_enforced(self.world.encrypted))
        # Invocations Lambda would refuse (a permission missing from the templates) are refusals too.
        self.denials.extend(Denial("aws-service", "lambda:InvokeFunction", what) for what in self.world.unreachable)
        self._stack.enter_context(environ(operator))
        boto3.DEFAULT_SESSION = None  # boto3.client() would keep the credentials of an earlier world
        self._stack.callback(setattr, boto3, "DEFAULT_SESSION", None)
        admin = boto3.Session(region_name=self.config.region)
        self.sns = admin.client("sns")
        self.cloudwatch = admin.client("cloudwatch")
        self.sqs = admin.client("sqs")
        self.topic_arns: dict[str, str] = {}
        for key in self.config.topics:
            self.topic_arns[key] = self.world.topics[self.config.topic_name(key)]
        for destination in ("pagerduty", "slack"):
            name = self.config.health_topic_name(destination)
            if name in self.world.topics:
                self.topic_arns[f"health-{destination}"] = self.world.topics[name]
        for name in self.world.alarms:
            self._states[name] = "INSUFFICIENT_DATA"
        logs = Path(self.log_dir) if self.log_dir else Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        self.log_dir = str(logs)
        self.say(f"starting {len(self.world.functions)} functions, each in its own process with its role's credentials")
        running: list[LocalLambda] = []
        self._stack.callback(_stop_all, running)
        for name, spec in self.world.functions.items():
            environment = {
                **spec.environment,
                **role_credentials[name],
                "AWS_ENDPOINT_URL": self.aws_environment["AWS_ENDPOINT_URL"],
            }
            if self.slack_api is not None:  # the Slack app routes post to the Web API stand-in
                environment["SLACK_API_URL"] = self.slack_api.url
            function = LocalLambda(
                name, spec.handler, environment, timeout=spec.timeout, memory=spec.memory,
                region=self.config.region, arn=spec.arn, log=logs / f"{name}.log",
            )  # fmt: skip
            running.append(function.start())
            self.functions[name] = function
        self.endpoint_function = next(  # the Alertmanager endpoint: the function URL of alertmanager_endpoint
            (n for n, s in self.world.functions.items() if s.url and s.handler.startswith("alertmanager_endpoint.")),
            next((n for n, s in self.world.functions.items() if s.url), None),
        )
        self._role_credentials = role_credentials
        # As many execution environments as the function's event source mappings may run at once.
        for mapping in self.world.mappings:
            pool = self._environments.setdefault(mapping.function, queue.Queue())
            if pool.qsize() == 0:
                pool.put(self.functions[mapping.function])
            spec = self.world.functions[mapping.function]
            for _ in range(pool.qsize(), _concurrency(mapping)):
                extra = LocalLambda(
                    spec.name, spec.handler, self.functions[spec.name].environment, timeout=spec.timeout,
                    memory=spec.memory, region=self.config.region, arn=spec.arn, log=logs / f"{spec.name}.log",
                )  # fmt: skip
                running.append(extra.start())
                pool.put(extra)

    def admin(self, service: str) -> Any:
        """A client of the local account's administrator (IAM is enforced for everyone)."""
        import boto3

        return boto3.Session(region_name=self.config.region).client(service)

    def function_log(self, name: str) -> str:
        """What a function printed (its JSON logs), for a test to read."""
        path = Path(str(self.log_dir)) / f"{name}.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def subscribers(self, topic_arn: str) -> list[str]:
        """The functions the templates feed from a topic: subscribed directly, or through a queue that an event
        source mapping polls."""
        found: list[str] = []
        for subscription in self.world.subscriptions:
            if subscription.topic_arn != topic_arn:
                continue
            if subscription.function:
                found.append(subscription.function)
            elif subscription.protocol == "sqs":
                found += [m.function for m in self.world.mappings if m.queue_arn == subscription.endpoint]
        return found

    def emulate_alarm_action(self, alarm_name: str) -> int:
        """moto's set_alarm_state runs no action: publish what CloudWatch would, from the alarm's own definition,
        to the topics of its new state, with the state it left. Returns how many topics were published to."""
        [alarm] = self.cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
        state = alarm["StateValue"]
        old = self._states.get(alarm_name, "INSUFFICIENT_DATA")
        self._states[alarm_name] = state
        if old == state:
            return 0  # CloudWatch notifies transitions only
        actions = {
            "ALARM": alarm.get("AlarmActions"),
            "OK": alarm.get("OKActions"),
            "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions"),
        }
        topics = actions.get(state) or []
        message = cloudwatch_notification(alarm, self.config.region, old_state=old)
        for topic_arn in topics:
            self.sns.publish(TopicArn=topic_arn, Message=json.dumps(message), Subject=f'{state}: "{alarm_name}"'[:99])
        return len(topics)

    # -- the path ------------------------------------------------------------------------------------------------

    def put_event(self, event: dict[str, Any]) -> list[str]:
        """An event on the default bus, as EventBridge delivers it: every rule of the templates whose pattern
        matches (moto's own pattern matcher decides; its TestEventPattern answer loses the result) sends it to its
        targets. Returns the target ARNs."""
        from moto.events.models import EventPattern

        delivered: list[str] = []
        for rule in self.world.rules:
            if rule.state != "ENABLED" or rule.pattern is None:
                continue
            if not EventPattern.load(json.dumps(rule.pattern)).matches_event(event):  # type: ignore[arg-type]
                continue
            for target in rule.targets:
                payload = json.loads(target["Input"]) if "Input" in target else event
                arn = str(target["Arn"])
                if ":sns:" in arn:
                    self.sns.publish(TopicArn=arn, Message=json.dumps(payload))
                elif ":lambda:" in arn:
                    self._queue.put({"_invoke": _function_name(arn), "_event": payload})
                delivered.append(arn)
        return delivered

    def schedule(self, rule_name: str) -> None:
        """A scheduled rule's time came: its targets get the scheduled event (functions are invoked)."""
        [rule] = [r for r in self.world.rules if r.name == rule_name]
        event = {
            "version": "0",
            "id": secrets.token_hex(16),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.config.account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.config.region,
            "resources": [f"arn:aws:events:{self.config.region}:{self.config.account}:rule/{rule.name}"],
            "detail": {},
        }
        for target in rule.targets:
            arn = str(target["Arn"])
            if ":lambda:" in arn:
                payload = json.loads(target["Input"]) if "Input" in target else event
                self._queue.put({"_invoke": _function_name(arn), "_event": payload})

    def received_notification(self, function: str, notification: dict[str, Any]) -> None:
        if notification.get("Type") != "Notification" or function not in self.functions:
            return
        notification["_function"] = function
        self._queue.put(notification)

    def _work(self) -> None:
        while True:
            notification = self._queue.get()
            try:
                if notification is None:
                    return
                if "_invoke" in notification:  # EventBridge invoking a function, asynchronously
                    verdict = self.invoke_async(notification["_invoke"], notification["_event"])
                    self.say(f"{datetime.now(UTC):%H:%M:%S} {notification['_invoke']}: {verdict}")
                    continue
                self._forward(notification)
            except Exception as exc:  # noqa: BLE001 - printed, and the pipeline keeps serving
                self.say(f"pipeline: forwarding crashed: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    # -- event source mappings, as Lambda runs them --------------------------------------------------------------

    def _poll(self, mapping: MappingSpec) -> None:
        """One mapping: receive up to BatchSize (for at most the batching window), invoke with at most
        MaximumConcurrency batches at once, with the function's own role, as Lambda's pollers do."""
        import boto3

        role = boto3.Session(
            region_name=self.config.region, **_session_credentials(self._role_credentials[mapping.function])
        )
        sqs = role.client("sqs")
        slots = threading.BoundedSemaphore(_concurrency(mapping))
        receive: dict[str, Any] = {
            "QueueUrl": mapping.queue_url,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self.visibility_timeout is not None:
            receive["VisibilityTimeout"] = self.visibility_timeout
        try:
            sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=["VisibilityTimeout"])
        except Exception as exc:  # noqa: BLE001 - Lambda would refuse to create the mapping; said, and no polling
            self.say(f"pipeline: the mapping of {mapping.function} cannot read its queue: {exc}")
            return
        while not self._stopping.is_set():
            if not slots.acquire(timeout=0.2):
                continue
            try:
                batch = self._receive(sqs, receive, mapping)
            except Exception as exc:  # noqa: BLE001 - Lambda's poller backs off and tries again
                slots.release()
                if not self._stopping.is_set():
                    self.say(f"pipeline: {mapping.function} could not receive: {type(exc).__name__}: {exc}")
                    self._stopping.wait(1.0)
                continue
            if not batch:
                slots.release()
                continue
            with self._in_flight_lock:
                self._in_flight += 1
            threading.Thread(
                target=self._run_batch,
                args=(mapping, sqs, batch, slots),
                name=f"invoke-{mapping.function}",
                daemon=True,
            ).start()

    def _receive(self, sqs: Any, receive: dict[str, Any], mapping: MappingSpec) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends = time.monotonic() + mapping.batching_window
        while len(batch) < mapping.batch_size and not self._stopping.is_set():
            wanted = min(10, mapping.batch_size - len(batch))  # SQS gives at most 10 per receive
            wait = self.poll_wait_seconds if not batch else 0
            answer = sqs.receive_message(**receive, MaxNumberOfMessages=wanted, WaitTimeSeconds=wait)
            batch += answer.get("Messages", [])
            if not batch or time.monotonic() >= window_ends:
                break
            if not answer.get("Messages"):
                time.sleep(min(0.05, max(0.0, window_ends - time.monotonic())))
        return batch

    def _run_batch(
        self, mapping: MappingSpec, sqs: Any, batch: list[dict[str, Any]], slots: threading.BoundedSemaphore
    ) -> None:
        try:
            event = sqs_event(batch, mapping.queue_arn, self.config.region)
            pool = self._environments[mapping.function]
            environment = pool.get()
            try:
                result: Any = environment.invoke(event)
                error = None
            except FunctionError as exc:
                result, error = None, str(exc)
            finally:
                pool.put(environment)
            left = _left(batch, result, error, mapping.report_batch_item_failures)
            for message in batch:
                if message["MessageId"] not in left:
                    sqs.delete_message(QueueUrl=mapping.queue_url, ReceiptHandle=message["ReceiptHandle"])
                elif self.visibility_timeout is not None:  # test-only: the function's backoff (10, 30, 90 s) too
                    sqs.change_message_visibility(
                        QueueUrl=mapping.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self.visibility_timeout,
                    )
            self.invocations.append(MappingInvocation(time.time(), mapping.function, len(batch), sorted(left), error))
            for message in batch:
                failed = message["MessageId"] in left
                self._record(mapping.function, message, f"failed: {error or 'reported'}" if failed else "delivered")
        except Exception as exc:  # noqa: BLE001 - printed; the records stay in the queue for the next poll
            self.say(f"pipeline: {mapping.function} batch crashed: {type(exc).__name__}: {exc}")
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
            slots.release()

    def _record(self, function: str, message: dict[str, Any], verdict: str) -> None:
        from alertlib.errors import MalformedInput
        from alertlib.forward import prepare
        from alertlib.parse import split_event
        from alertlib.settings import Settings

        try:
            body = json.loads(message.get("Body") or "")
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("Type") != "Notification":
            return  # a flush record, or what the forwarder itself sent: not a published message
        topic = str(body.get("TopicArn", "")).rsplit(":", 1)[-1]
        try:
            group = prepare(split_event(sns_event(body))[0], Settings(), datetime.now(UTC))
            title, status = group.title, group.status.value
        except MalformedInput as exc:
            title, status = f"(refused: {exc})", "-"
        except Exception:  # noqa: BLE001 - printing must not lose the record
            title, status = "(unreadable)", "-"
        destination = function.removeprefix(f"{self.config.name}-").removesuffix("-forwarder")
        self.deliveries.append(Delivery(time.time(), destination, topic, title, status, verdict))
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.say(f"{stamp} {destination:<9} {topic:<24} {status:<17} {title[:60]:<60} {verdict}")

    def _stop_pollers(self) -> None:
        self._stopping.set()
        for poller in self._pollers:
            poller.join(timeout=self.poll_wait_seconds + 5)
        deadline = time.monotonic() + 30
        while self._in_flight and time.monotonic() < deadline:  # the batches running end before their functions
            time.sleep(0.05)

    def _stop_worker(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _forward(self, notification: dict[str, Any]) -> None:
        from alertlib.errors import MalformedInput
        from alertlib.forward import prepare
        from alertlib.parse import split_event
        from alertlib.settings import Settings

        function = notification.pop("_function")
        topic = str(notification["TopicArn"]).rsplit(":", 1)[-1]
        event = sns_event(notification)
        try:
            group = prepare(split_event(event)[0], Settings(), datetime.now(UTC))
            title, status = group.title, group.status.value
        except MalformedInput as exc:
            title, status = f"(refused: {exc})", "-"
        verdict = self.invoke_async(function, event)
        destination = function.removeprefix(f"{self.config.name}-").removesuffix("-forwarder")
        delivery = Delivery(time.time(), destination, topic, title, status, verdict)
        self.deliveries.append(delivery)
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.say(f"{stamp} {destination:<9} {topic:<24} {status:<17} {title[:60]:<60} {verdict}")

    def invoke_async(self, function: str, event: dict[str, Any]) -> str:
        """As Lambda invokes an SNS subscriber: on an error, retried as the template's EventInvokeConfig says, then
        Lambda's on-failure record goes to its destination, sent with the function's own role."""
        spec = self.world.functions[function]
        errors: list[str] = []
        for attempt in range(spec.retry_attempts + 1):
            if attempt:
                time.sleep(self.retry_delays[min(attempt, len(self.retry_delays)) - 1] if self.retry_delays else 0)
            try:
                outcome = self.functions[function].invoke(event)
            except FunctionError as exc:
                errors.append(str(exc))
                continue
            if not isinstance(outcome, dict):
                return "delivered"
            return "delivered" if outcome.get("delivered") else ("refused" if outcome.get("rejected") else "ignored")
        if spec.on_failure:
            self._on_failure(spec, event, errors, spec.retry_attempts + 1)
            return f"failed: {errors[-1]} (dead-lettered)"
        return f"failed: {errors[-1]}"

    def _on_failure(self, spec: Any, event: dict[str, Any], errors: list[str], attempts: int) -> None:
        import boto3

        error_type, _, message = errors[-1].partition(": ")
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": secrets.token_hex(16),
                "functionArn": f"{spec.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": error_type, "errorMessage": message},
        }
        queue_name = str(spec.on_failure).rsplit(":", 1)[-1]
        role = boto3.Session(region_name=self.config.region, **_session_credentials(self._role_credentials[spec.name]))
        role.client("sqs").send_message(QueueUrl=self.world.queues[queue_name], MessageBody=json.dumps(record))
        self.dead_lettered.append(record)

    def refused(self, method: str, path: str, client: str, status: int, answer: bytes) -> None:
        """A request answered 4xx or 5xx, said in one line: the status and the endpoint's own reason (what the
        client was told), never a header, the body or a credential (the token and key are taken out if echoed)."""
        try:
            said = json.loads(answer or b"{}")
            reason = str(said.get("error") or said.get("message") or "") if isinstance(said, dict) else ""
        except ValueError:
            reason = ""
        for credential in (self.webhook_token, self.hmac_key):
            if credential:
                reason = reason.replace(credential, "[redacted]")
        reason = " ".join(reason.split())[:200]
        refusal = Refusal(time.time(), method, path.split("?", 1)[0][:100], client, status, reason)
        self.refusals.append(refusal)
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.say(f"{stamp} refused   {refusal}")

    def handle_endpoint(
        self, method: str, body: bytes, headers: dict[str, str], client: str
    ) -> tuple[int, dict[str, str], bytes]:
        import base64

        if self.endpoint_function is None:
            return 404, {"Content-Type": "application/json"}, b'{"error": "no function URL in the templates"}'
        event = {
            "version": "2.0",
            "rawPath": "/alertmanager",
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {"http": {"method": method, "path": "/alertmanager", "sourceIp": client}},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        try:
            answer = self.functions[self.endpoint_function].invoke(event)
        except FunctionError:
            return 502, {"Content-Type": "application/json"}, b'{"message": "Internal Server Error"}'
        return int(answer["statusCode"]), dict(answer.get("headers") or {}), str(answer.get("body") or "").encode()


_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class Refusal:
    """A request the pipeline's HTTP server refused: what a person needs to see why Alertmanager is not heard."""

    at: float
    method: str
    path: str
    client: str
    status: int
    reason: str  # the endpoint's answer ("unauthorized", the 400's one-line reason), never the request's content

    def __str__(self) -> str:
        said = f"{self.method} {self.path} from {self.client}: {self.status}"
        return f"{said} {self.reason}" if self.reason else said


@dataclass
class MappingInvocation:
    """One invocation by an event source mapping: its batch size, the message ids it left, its error."""

    at: float
    function: str
    records: int
    left: list[str]
    error: str | None


def _stop_all(functions: list[LocalLambda]) -> None:
    """Every execution environment ends at once (each takes a moment to exit), not one after the other."""
    stopping = [threading.Thread(target=f.stop, name=f"stop-{f.name}", daemon=True) for f in functions]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join(timeout=15)


def _concurrency(mapping: MappingSpec) -> int:
    return mapping.maximum_concurrency or 5  # without MaximumConcurrency, Lambda starts with 5 pollers


def _left(batch: list[dict[str, Any]], result: Any, error: str | None, partial: bool) -> set[str]:
    """The message ids Lambda leaves in the queue after an invocation: all of them when it failed; with
    ReportBatchItemFailures, those named in `batchItemFailures` (an answer naming a message not in the batch, or
    no id, fails the whole batch); otherwise none.
    https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting"""
    ids = {m["MessageId"] for m in batch}
    if error is not None:
        return ids
    if not partial or not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    named: set[str] = set()
    for failure in result["batchItemFailures"]:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in ids:
            return ids
        named.add(str(item))
    return named


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda SQS event an event source mapping invokes a function with, from ReceiveMessage's messages.
    https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html"""
    records = []
    for message in messages:
        received = message.get("Attributes") or {}
        attributes = {
            name: str(received[name])
            for name in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
            if name in received
        }
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def _function_name(arn: str) -> str:
    return arn.split(":function:", 1)[1].split(":", 1)[0]


def _operator(iam: Any) -> dict[str, str | None]:
    """An administrator's access key (what a person or CloudWatch itself uses), made before IAM is enforced."""
    iam.create_user(UserName="local-operator")
    iam.put_user_policy(
        UserName="local-operator",
        PolicyName="administrator",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="local-operator")["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_SESSION_TOKEN": None,
    }


def _session_credentials(environment: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": environment["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": environment["AWS_SESSION_TOKEN"],
    }


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


def cloudwatch_notification(alarm: dict[str, Any], region: str, *, old_state: str | None = None) -> dict[str, Any]:
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
        "OldStateValue": old_state or ("OK" if alarm["StateValue"] == "ALARM" else "ALARM"),
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": trigger,
    }


def synthesize_config(config: Any) -> dict[str, dict[str, Any]]:
    """Every stack's template of `config` (an EnvironmentConfig not read from its file), as `synthesize` does."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk import App

    from infra.app_builder import build

    app = App(context={"aws:cdk:bundling-stacks": []})
    build(app, config, nag=False)
    return {stack.stack_name: stack.template for stack in app.synth().stacks}


def slack_app_channels(config: Any) -> dict[str, str]:
    """Each Slack app route of the config (`forwarders.slack_apps`) -> a channel of its own on the stand-in."""
    forwarders = getattr(config, "forwarders", None)
    apps = getattr(forwarders, "slack_apps", None) or {}
    return {name: f"C0LOCAL{index:03d}" for index, name in enumerate(sorted(apps), start=1)}


def pagerduty_secrets(config: Any, environments: list[dict[str, str]]) -> dict[str, str]:
    """A thread's routing -> the PagerDuty secret to acknowledge with: the worker's PAGERDUTY_SECRETS when the
    templates set it, else each topic's Slack routes mapped to its PagerDuty secret (and that secret to itself)."""
    for environment in environments:
        with contextlib.suppress(ValueError):
            decoded = json.loads(environment.get("PAGERDUTY_SECRETS") or "null")
            if isinstance(decoded, dict) and decoded:
                return {str(k): str(v) for k, v in decoded.items()}
    found: dict[str, str] = {}
    for routing in config.topics.values():
        if routing.pagerduty:
            found[routing.pagerduty] = routing.pagerduty
            for name in routing.slack:
                found.setdefault(name, routing.pagerduty)
    return found


def slack_actors(config: Any) -> str:
    """SLACK_ACTORS' JSON from the config's `oncall.slack_actors`, or "" (locally: everyone may act)."""
    actors = getattr(getattr(config, "oncall", None), "slack_actors", None)
    if actors is None:
        return ""
    value = actors.model_dump() if hasattr(actors, "model_dump") else actors
    return json.dumps(value) if isinstance(value, dict) and any(value.values()) else ""


def _text(message: Any) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def _handler_for(pipeline: LocalPipeline) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.startswith("/sns/"):  # SNS delivering to a Lambda subscription: /sns/<function>
                with contextlib.suppress(ValueError):
                    pipeline.received_notification(self.path[len("/sns/") :], json.loads(body))
                self._answer(200, {}, b"")
            elif self.path.split("?", 1)[0].rstrip("/") == "/alertmanager":
                status, headers, answer = pipeline.handle_endpoint(
                    "POST", body, dict(self.headers.items()), self.client_address[0]
                )
                self._answer(status, headers, answer)
            else:
                headers = dict(self.headers.items())
                routed = pipeline.handle_oncall("POST", self.path, body, headers, self.client_address[0])
                if routed is None:
                    self._answer(404, {"Content-Type": "application/json"}, b'{"error": "not found"}')
                else:
                    self._answer(*routed)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"Content-Type": "application/json"}, b'{"status": "ok"}')
            else:
                self._answer(405, {"Allow": "POST"}, b'{"error": "only POST is served"}')

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            if status >= 400:
                with contextlib.suppress(Exception):  # saying it must never fail the answer
                    pipeline.refused(self.command, self.path, self.client_address[0], status, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 picks a free one)")
    return port


def parser() -> argparse.ArgumentParser:
    from alertlib.endpoint import MIN_CREDENTIAL
    from alertlib.pagerduty_webhooks import MIN_SECRET as MIN_WEBHOOK
    from alertlib.slack_signature import MIN_SECRET as MIN_SIGNING

    described = argparse.ArgumentParser(
        prog="python -m tools.serve",
        description=__doc__.split("\n\n")[0].split(": ", 1)[0]
        + ": moto as AWS built from the environment's templates, the Alertmanager endpoint, both forwarders fed by "
        "their queues, PagerDuty and Slack stand-ins, and on-call from Slack (/slack/interactions, "
        "/pagerduty/webhooks, the action worker, a Slack Web API stand-in). Runs until Ctrl-C.",
        allow_abbrev=False,  # an option spelt short or wrong is refused, never guessed
    )
    described.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, metavar="PORT",
        help=f"the port of the Alertmanager endpoint on 127.0.0.1 (default {DEFAULT_PORT}; not 9094, which is "
        "Alertmanager's own cluster port; 0 picks a free port)",
    )  # fmt: skip
    described.add_argument(
        "--env", default="dev", metavar="NAME",
        help="the environment (config/NAME.json) whose synthesized templates build the local world, in that "
        "config's account and region (default dev)",
    )  # fmt: skip
    described.add_argument(
        "--pagerduty-url", metavar="URL",
        help="send PagerDuty events to this URL instead of the local PagerDuty stand-in (which answers 202)",
    )  # fmt: skip
    described.add_argument(
        "--slack-url", metavar="URL",
        help="post Slack messages to this webhook URL instead of the local Slack stand-in (which answers ok)",
    )  # fmt: skip
    described.add_argument(
        "--webhook-token", metavar="TOKEN",
        help=f"the bearer token Alertmanager must send, at least {MIN_CREDENTIAL} characters (default: "
        "$ALERTMANAGER_WEBHOOK_TOKEN, else a random token, printed at start)",
    )  # fmt: skip
    described.add_argument(
        "--slack-signing-secret", metavar="SECRET",
        help=f"the Slack app's signing secret that clicks on /slack/interactions must be signed with, at least "
        f"{MIN_SIGNING} characters (default: $SLACK_SIGNING_SECRET, else a random one, printed at start)",
    )  # fmt: skip
    described.add_argument(
        "--pagerduty-webhook-secret", metavar="SECRET",
        help=f"the PagerDuty webhook subscription's signing secret for /pagerduty/webhooks, at least {MIN_WEBHOOK} "
        "characters (default: $PAGERDUTY_WEBHOOK_SECRET, else a random one, printed at start)",
    )  # fmt: skip
    described.add_argument(
        "--slack-app", action="store_true",
        help="when the config names no Slack app route on a paging topic, add alerting/ENV/slack-app to them (beside "
        "their webhooks) with an oncall section, as make demo does, so that alerts make threads with buttons",
    )  # fmt: skip
    described.add_argument(
        "--alertmanager-url", metavar="URL",
        help="create and expire silences on this Alertmanager (API v2, e.g. http://127.0.0.1:9093) instead of the "
        "local silences stand-in",
    )  # fmt: skip
    return described


def _secret_option(args: argparse.Namespace, option: str, variable: str, minimum: int) -> str | None:
    """An option's value, else the environment variable's; refused (SystemExit 2, one line) when too short."""
    value = getattr(args, option.replace("-", "_")) or os.environ.get(variable) or None
    if value is not None and len(value) < minimum:
        print(f"serve: --{option} must be at least {minimum} characters", file=sys.stderr)
        raise SystemExit(2)
    return value


def main(argv: list[str] | None = None) -> int:
    from alertlib.endpoint import MIN_CREDENTIAL
    from infra.config import ConfigError

    args = parser().parse_args(argv)
    token = args.webhook_token or os.environ.get("ALERTMANAGER_WEBHOOK_TOKEN")
    if token is not None and len(token) < MIN_CREDENTIAL:
        print(f"serve: --webhook-token must be at least {MIN_CREDENTIAL} characters", file=sys.stderr)
        return 2
    from alertlib.pagerduty_webhooks import MIN_SECRET as MIN_WEBHOOK
    from alertlib.slack_signature import MIN_SECRET as MIN_SIGNING

    try:
        signing = _secret_option(args, "slack-signing-secret", "SLACK_SIGNING_SECRET", MIN_SIGNING)
        webhook = _secret_option(args, "pagerduty-webhook-secret", "PAGERDUTY_WEBHOOK_SECRET", MIN_WEBHOOK)
    except SystemExit as exc:
        return int(exc.code or 2)
    if args.alertmanager_url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", args.alertmanager_url):
        print("serve: --alertmanager-url must be an http(s) URL such as http://127.0.0.1:9093", file=sys.stderr)
        return 2
    given = None
    if args.slack_app:
        from infra.config import load_config

        try:
            given = demo_config(load_config(args.env))
        except ConfigError as exc:
            print(f"serve: {exc}", file=sys.stderr)
            return 2
    pipeline = LocalPipeline(
        env=args.env,
        given_config=given,
        port=args.port,
        pagerduty_url=args.pagerduty_url,
        slack_url=args.slack_url,
        webhook_token=token,
        slack_signing_secret=signing,
        pagerduty_webhook_secret=webhook,
        alertmanager_url=args.alertmanager_url,
        say=lambda line: print(line, flush=True),
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        pipeline.start()
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"serve: port {args.port} on 127.0.0.1 is already in use (another tools.serve, or an Alertmanager?); "
                "choose another with --port PORT",
                file=sys.stderr,
            )
        else:
            print(f"serve: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        print(f"Alertmanager endpoint: {pipeline.url}", flush=True)
        print(f"bearer token:          {pipeline.webhook_token}", flush=True)
        print(f"PagerDuty events to:   {pipeline.pagerduty_url}", flush=True)
        print(f"Slack messages to:     {pipeline.slack_url}", flush=True)
        assert pipeline.slack_api is not None
        assert pipeline.oncall is not None
        silences = (
            pipeline.alertmanager_url
            or f"{pipeline.oncall.alertmanager.url if pipeline.oncall.alertmanager else ''} (stand-in)"
        )
        print(f"Slack Web API:         {pipeline.slack_api.url} (stand-in; app routes post here)", flush=True)
        print(f"Slack interactivity:   {pipeline.slack_interactions_url}", flush=True)
        print(f"signing secret:        {pipeline.slack_signing_secret}", flush=True)
        print(f"PagerDuty webhooks:    {pipeline.pagerduty_webhooks_url}", flush=True)
        print(f"webhook secret:        {pipeline.pagerduty_webhook_secret}", flush=True)
        print(f"silences to:           {silences}", flush=True)
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
