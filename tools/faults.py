"""`make faults`: 1,000 alerts through both forwarders while PagerDuty and Slack fail, as they really do.

The AWS side is dev's, built from its synthesized templates (`tools.world`): the forwarders' settings are their
template environment (routes, tables, HTTP time-outs and retries), their Lambda time-out, secrets, queues, dead-letter
queues and event source mappings are the template's. Two differences: the PagerDuty forwarder's Slack fallback is off
(its notices would count as Slack deliveries; it is tested in tests/handlers), and **the pacer table is unset**
(`PACER_TABLE` removed from the forwarders' environment): pacing runs on the wall clock and schedules its flushes as
delayed SQS messages, neither of which follows the virtual clock, and it turns a stream of alerts into digests; it is
`make storm`'s subject. Each record is thus delivered as it comes, the path a quiet channel takes.
The stand-ins enforce the services' rate limits (Slack 1 message/s per webhook, PagerDuty 120 events/min per routing
key) on the virtual clock; their 429s are counted apart from the injected faults.

dev's critical topic routes to a Slack app route too (`forwarders.slack_apps`, beside the webhook): its secret holds
the Web API stand-in's bot token and a channel (tools.slack_api_standin, `SLACK_API_URL` pointing at it), and the
Slack forwarder's sender is the shipped one (`SlackAppSender.from_settings`: the thread table, then the graph, which
fails fast as moto lacks GetMetricWidgetImage). A Slack record is done when both routes took it. The app route's
faults are simpler than the webhook's: the same share of its calls refused at random (HTTP 500, 503, 429 with
Retry-After, `ok: false` `internal_error`), nothing accepted then unanswered, no outage; counted apart
(`AppReport`: thread parents per alert, before and after the redrive).

The faults: 30% of requests meet one at random, either refused (500, 503, 429 with Retry-After, a 504 slower than
the read time-out, a reset) or **accepted and then the answer lost** (answered past the read time-out, reset after
accepting, a 2xx slower than the read time-out): the faults that can duplicate. On top, outages that last minutes:
every request answered 503, reset, or accepted but answered too late.

Delivery, as it ships: SNS puts each alert in each forwarder's queue (the body is SNS's notification JSON, raw
delivery off); the event source mapping (batch size, window 0, maximum concurrency: the template's) hands the
function an SQS event of what is visible when an invocation can start. A record the function names in
`batchItemFailures` is received again after the visibility it set (`pacing.retry_visibility`: 10, 30, 90, 270 s by
receive; the shipped function sets it through its pacer's ChangeMessageVisibility; with the pacer table unset it
sets none, so the model applies it); an invocation that raised or ran past the function's time-out leaves its whole
batch for the queue's visibility timeout (the template's). A message already received maxReceiveCount times (the
queue's RedrivePolicy) is moved, with its body, to the forwarder's dead-letter queue instead of being received
again, as SQS does.

Time: a run would take hours on the wall clock (read time-outs of seconds, outages of minutes), so each destination
runs on a `Timeline`, a clock of virtual seconds. While an invocation runs, virtual time runs `scale` times faster
than the wall clock: the deliverer's deadline and socket time-outs, and the stand-ins' delays, are scaled by it (a
10 s read time-out lasts 10/scale s); the deliverer's backoff sleeps and the queue's visibility move the clock on
without waiting. Alerts arrive one a second; each invocation runs on its destination's timeline from the time it
starts (at most maximum-concurrency of them overlap, as the mapping's do).

Counted per destination, honestly: alerts delivered more than once (by `dedup_key` for PagerDuty, by the message's
alarm for Slack; every accepted request counts, including late ones), alerts lost (never accepted, not
dead-lettered), dead-lettered, and accepted-then-lost (accepted while the client saw a failure, and dead-lettered:
delivered and dead-lettered both). Then each forwarder's dead-letter queue is redriven as an operator would
(`tools.redrive --forwarder`: SQS's StartMessageMoveTask back to its queue) and the queue is delivered against healthy
stand-ins on a fresh timeline of the same scale (their rate limits still enforced). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import heapq
import json
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import environ, moto_server
from tools.redrive import move_back
from tools.slack_api_standin import TOKEN as SLACK_TOKEN
from tools.slack_api_standin import SlackApiStandIn
from tools.standins import ACCEPTING_FAULTS, REFUSING_FAULTS, Chaos, Outage, StandIn

ROUTING_KEY = "fa17fa17fa17fa17fa17fa17fa17fa17"
ENV = "dev"
ACCOUNT, REGION = "111111111111", "eu-west-1"  # config/dev.json
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{ENV}-critical"
ARRIVAL_SECONDS = 1.0  # virtual seconds between two alerts
EPOCH = datetime(2026, 11, 22, 2, 55, 1, tzinfo=UTC).timestamp()  # virtual second 0, for the SQS timestamps
ALL_FAULTS = REFUSING_FAULTS + ACCEPTING_FAULTS
# Three outages of the full run, as fractions of the arrivals' span: a 3-minute 503, a 4-minute unreachable
# service (resets), both longer than a queue's retry span (5 receives about 10 s apart, plus the invocations), so
# some alerts are dead-lettered, and a 1-minute brown-out in which every request is accepted and answered too late.
OUTAGES = ((0.15, 180.0, "503"), (0.45, 240.0, "reset"), (0.75, 60.0, "slow-2xx"))


@dataclass
class DestinationReport:
    destination: str
    alerts: int
    invocations: int = 0
    receives: int = 0  # records handed to the function (a message received again counts again)
    item_failures: int = 0  # records the function named in batchItemFailures
    invocation_errors: int = 0  # invocations that raised (the whole batch is received again)
    max_receives: int = 0  # the queue's maxReceiveCount
    redrive_failures: int = 0  # records that failed again after the redrive
    longest_invocation: float = 0.0  # virtual seconds
    lambda_timeouts: int = 0  # invocations that ran past the function's time-out (Lambda would have killed them)
    delivered: int = 0  # distinct alerts accepted before the redrive
    dead_lettered: int = 0
    lost: int = 0  # never accepted and not dead-lettered
    duplicates: int = 0  # extra acceptances before the redrive
    accepted_then_lost: int = 0  # accepted while the client saw a failure, and dead-lettered
    answers_lost: int = 0  # requests accepted whose answer never reached the client
    rate_limited: int = 0  # requests the service's rate limit refused (429), apart from the injected faults
    most_posts: int = 0  # the most acceptances of one alert before the redrive
    faults: dict[str, int] = field(default_factory=dict)
    duplicates_by_fault: dict[str, int] = field(default_factory=dict)
    delivered_after_redrive: int = 0
    duplicates_after_redrive: int = 0  # extra acceptances over the whole run, the redrive included

    @property
    def healed(self) -> bool:
        return self.lost == 0 and self.delivered_after_redrive == self.alerts


@dataclass
class AppReport:
    """A Slack app route of the Slack forwarder (`forwarders.slack_apps`): each alert a thread parent in its channel
    on the Web API stand-in. Its records are the Slack forwarder's (a record is done when every route took it), so
    their receives and dead letters are in the `slack` report."""

    route: str  # the app route's secret name
    channel: str
    alerts: int
    calls: int = 0  # Web API calls (chat.postMessage, ...)
    faults: dict[str, int] = field(default_factory=dict)  # injected, by kind
    rate_limited: int = 0  # refused by the channel's rate limit (429), apart from the injected faults
    delivered: int = 0  # distinct alerts with a parent before the redrive
    delivered_after_redrive: int = 0
    duplicates_after_redrive: int = 0  # extra parents of one alert over the whole run

    @property
    def healed(self) -> bool:
        return self.delivered_after_redrive == self.alerts


@dataclass
class Summary:
    alerts: int
    reports: list[DestinationReport]
    apps: list[AppReport] = field(default_factory=list)

    def line(self) -> dict[str, int]:
        by = {r.destination: r for r in self.reports}
        line = {
            "alerts": self.alerts,
            "lost": sum(r.lost for r in self.reports),
            "dead_lettered": sum(r.dead_lettered for r in self.reports),
            "duplicates_pagerduty": by["pagerduty"].duplicates_after_redrive if "pagerduty" in by else 0,
            "duplicates_slack": by["slack"].duplicates_after_redrive if "slack" in by else 0,
            "accepted_then_lost": sum(r.accepted_then_lost for r in self.reports),
        }
        if self.apps:  # the Slack app routes: alerts without a parent after the redrive, extra parents
            line["slack_app_missing"] = sum(a.alerts - a.delivered_after_redrive for a in self.apps)
            line["duplicates_slack_app"] = sum(a.duplicates_after_redrive for a in self.apps)
        return line

    @property
    def healed(self) -> bool:
        return all(r.healed for r in self.reports) and all(a.healed for a in self.apps)


# -- time -------------------------------------------------------------------------------------------------------


class Timeline:
    """A destination's clock, in virtual seconds: `scale` times the wall clock while an invocation runs, set
    between invocations. The invocation's own sleeps (backoff, `Retry-After`) move it on without waiting; a stand-in's
    delays `wait` on the wall clock, scaled, since the client's socket time-out must really pass."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._base = 0.0
        self._wall = time.monotonic()

    def now(self) -> float:
        return self._base + (time.monotonic() - self._wall) * self.scale

    def set(self, at: float) -> None:
        self._base, self._wall = at, time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._base += seconds

    def at_wall_speed(self, seconds: float) -> None:
        """`seconds` of the wall clock just spent count once, not `scale` times (an AWS call to moto)."""
        self._base -= seconds * (self.scale - 1)

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)


_CURRENT = threading.local()


class _ScaledTime:
    """Stands in for the `time` module inside `alertlib.http`: its deadlines and retry sleeps are the calling
    thread's timeline's (the wall clock's when the thread has none)."""

    @staticmethod
    def monotonic() -> float:
        timeline: Timeline | None = getattr(_CURRENT, "timeline", None)
        return timeline.now() if timeline else time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        timeline: Timeline | None = getattr(_CURRENT, "timeline", None)
        (timeline.sleep if timeline else time.sleep)(seconds)


@contextmanager
def scaled_deliverer_clock() -> Iterator[None]:
    from unittest import mock

    import alertlib.http
    import alertlib.slack_api

    # The Web API client's own wait before retrying an `ok: false` it may retry (`internal_error`, ...) too.
    with (
        mock.patch.object(alertlib.http, "time", _ScaledTime),
        mock.patch.object(alertlib.slack_api, "_sleep", _ScaledTime.sleep),
    ):
        yield


@contextmanager
def aws_calls_at_wall_speed() -> Iterator[None]:
    """An AWS call (to moto: idempotency, ledger) takes its wall-clock time on a timeline, not `scale` times it:
    scaled, a batch's few hundred milliseconds of moto calls would pass for seconds, past the Lambda time-out."""
    from unittest import mock

    from botocore.endpoint import Endpoint

    original = Endpoint.make_request

    def make_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        timeline: Timeline | None = getattr(_CURRENT, "timeline", None)
        started = time.monotonic()
        try:
            return original(self, *args, **kwargs)
        finally:
            if timeline is not None:
                timeline.at_wall_speed(time.monotonic() - started)

    with mock.patch.object(Endpoint, "make_request", make_request):
        yield


def scaled_adapter(scale: float) -> Any:
    """An `HTTPAdapter` whose socket time-outs are divided by `scale`."""
    from requests.adapters import HTTPAdapter

    class ScaledAdapter(HTTPAdapter):
        def send(self, request: Any, **kw: Any) -> Any:  # type: ignore[override]
            timeout = kw.get("timeout")
            if isinstance(timeout, tuple):
                kw["timeout"] = tuple(t / scale if t is not None else None for t in timeout)
            elif timeout is not None:
                kw["timeout"] = timeout / scale
            return super().send(request, **kw)

    return ScaledAdapter(pool_connections=4, pool_maxsize=4)


def scaled_deliverer(scale: float, **kwargs: Any) -> Any:
    """The production `Deliverer`, its socket time-outs divided by `scale` (its clock is `_ScaledTime`)."""
    from requests.adapters import HTTPAdapter

    from alertlib.deliver import Deliverer

    class ScaledDeliverer(Deliverer):
        def _new_adapter(self) -> HTTPAdapter:
            adapter: HTTPAdapter = scaled_adapter(scale)
            return adapter

    return ScaledDeliverer(**kwargs)


def scaled_app_sender(settings: Any, scale: float) -> Any:
    """The Slack forwarder's app route sender as it ships (`SlackAppSender.from_settings`: the Web API at
    `SLACK_API_URL`, the thread table, the graph client), its socket time-outs divided by `scale`."""
    from alertlib.http import PinnedSession
    from alertlib.slack_app import SlackAppSender

    sender = SlackAppSender.from_settings(settings)
    if sender is not None:
        sender.api._http = PinnedSession(lambda: scaled_adapter(scale))
    return sender


# The app route's faults (simpler than the webhook's, see FaultyWebApi): refused before anything is posted.
APP_FAULTS = ("500", "503", "429", "internal_error")


class FaultyWebApi(SlackApiStandIn):
    """The Slack Web API stand-in, a share `rate` of its calls refused at random (seeded): HTTP 500, HTTP 503, HTTP 429
    with Retry-After 1, or HTTP 200 `ok: false` `internal_error` (which the client tries again itself). Simpler than
    the webhook's faults: nothing is accepted and then its answer lost, and no outage, so nothing here can post
    twice; the app route's part is to be delivered along the webhook without making the run fail. `chaos` False:
    healthy (the redrive)."""

    def __init__(self, *, rate: float, seed: int, **kwargs: Any) -> None:
        import random

        super().__init__(**kwargs)
        self.rate = rate
        self.chaos = True
        self.random = random.Random(seed)
        self.faults: Counter[str] = Counter()

    def answer(self, method: str, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any], float | None]:
        if self.chaos and self.rate and self.random.random() < self.rate:
            fault = self.random.choice(APP_FAULTS)
            self.faults[fault] += 1
            if fault == "429":
                return 429, {"ok": False, "error": "ratelimited"}, 1.0
            if fault == "internal_error":
                return 200, {"ok": False, "error": fault}, None
            return int(fault), {"ok": False, "error": "fatal_error"}, None
        return super().answer(method, body, token)


# -- the alerts --------------------------------------------------------------------------------------------------


def notification(index: int) -> dict[str, Any]:
    """The SNS notification of one alarm, as SNS puts it in a subscribed queue (raw message delivery off)."""
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
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"faults/sns/{index}")),
        "TopicArn": TOPIC,
        "Subject": "ALARM",
        "Message": json.dumps(message),
        "Timestamp": "2026-11-22T02:55:01.000Z",
        "SignatureVersion": "1",
        "Signature": "-",
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe",
        "MessageAttributes": {},
    }


class _Context:
    """Lambda's context on a timeline: the time left is the function's time-out less the virtual time spent."""

    memory_limit_in_mb = 512
    function_version = "$LATEST"

    def __init__(self, function: str, timeout: float, timeline: Timeline | None) -> None:
        self.function_name = function
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        self.aws_request_id = f"faults-{function}"
        self.timeline = timeline
        self.started = timeline.now() if timeline else time.monotonic()
        self.timeout = timeout

    def elapsed(self) -> float:
        return (self.timeline.now() if self.timeline else time.monotonic()) - self.started

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.timeout - self.elapsed()) * 1000), 0)


_NAMED = re.compile(r"faults-rds-db\d{4}-CPUUtilization")  # the names `notification` gives its alarms


def _alert_of(destination: str, body: Any) -> str:
    if not isinstance(body, dict):
        return "?"
    if destination == "pagerduty":
        return str(body.get("dedup_key"))
    # The alarm's name wherever the message's text shows it (its wording is the renderer's to change).
    named = _NAMED.search(str(body.get("text")))
    return named.group(0) if named else "?"


# -- the run -----------------------------------------------------------------------------------------------------


def run(
    n: int = 1000,
    *,
    rate: float = 0.3,
    seed: int = 7,
    say: Callable[[str], None] = print,
    faults: tuple[str, ...] = ALL_FAULTS,
    outages: tuple[tuple[float, float, str], ...] = OUTAGES,
    scale: float = 25.0,
    protect: bool = True,
    destinations: tuple[str, ...] = ("pagerduty", "slack"),
) -> Summary:
    """`outages`: (start as a fraction of the arrivals' span, seconds, kind). `protect=False` switches off what
    keeps duplicates down (idempotency, and Slack's no-resend of a POST whose answer was lost), to show the
    faults are real."""
    import logging

    logging.disable(logging.CRITICAL)
    stand_ins = {d: StandIn(d).start() for d in ("pagerduty", "slack")}
    web_api = FaultyWebApi(rate=rate, seed=seed, tokens=(SLACK_TOKEN,))  # the Slack app routes' Web API
    web_api.start()
    try:
        overrides = {"MOTO_ACCOUNT_ID": ACCOUNT, "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_METRICS_DISABLED": "true"}
        with moto_server() as aws, environ({**aws, **overrides}), scaled_deliverer_clock(), aws_calls_at_wall_speed():
            reports, apps = _run(
                n, rate=rate, seed=seed, say=say, stand_ins=stand_ins, web_api=web_api, faults=faults,
                outages=outages, scale=scale, protect=protect, destinations=destinations,
            )  # fmt: skip
            return Summary(alerts=n, reports=reports, apps=apps)
    finally:
        for stand_in in stand_ins.values():
            stand_in.stop()
        web_api.stop()
        logging.disable(logging.NOTSET)


def _run(
    n: int,
    *,
    rate: float,
    seed: int,
    say: Callable[[str], None],
    stand_ins: dict[str, StandIn],
    web_api: FaultyWebApi,
    faults: tuple[str, ...],
    outages: tuple[tuple[float, float, str], ...],
    scale: float,
    protect: bool,
    destinations: tuple[str, ...],
) -> tuple[list[DestinationReport], list[AppReport]]:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from alertlib.deliver import Destination
    from alertlib.forward import Forwarder
    from alertlib.pacing import retry_visibility
    from alertlib.settings import Settings
    from infra.config import load_config
    from tools.serve import slack_app_channels
    from tools.world import FunctionSpec, MessageMoves, build_world, synthesize

    parameters.clear_caches()  # type: ignore[no-untyped-call]
    parameters.base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
    boto3.DEFAULT_SESSION = None
    config = load_config(ENV)
    pagerduty, slack = stand_ins["pagerduty"], stand_ins["slack"]
    secret_values = {
        name: json.dumps({"routing_key": ROUTING_KEY, "events_url": pagerduty.url})
        for name in (r.pagerduty for r in config.topics.values())
        if name
    }
    secret_values.update(
        {name: json.dumps({"webhook_url": slack.url}) for r in config.topics.values() for name in r.slack}
    )
    # A Slack app route (`forwarders.slack_apps`, beside the webhook on dev's critical topic) holds a bot token and
    # its channel: the Web API stand-in's token, a channel of its own there (as tools.serve seeds them).
    app_channels = slack_app_channels(config) if "slack" in destinations else {}
    for name, channel in app_channels.items():
        secret_values[name] = json.dumps({"bot_token": SLACK_TOKEN, "channel": channel})
    web_api.channels = set(app_channels.values())
    clients = functools.cache(boto3.Session(region_name=REGION).client)  # one per service: ~15 ms each, ~160 asks
    world = build_world(
        ENV, synthesize(ENV), clients, account=ACCOUNT, region=REGION,
        secret_values=secret_values,
    )  # fmt: skip
    sqs = boto3.client("sqs")
    span = n * ARRIVAL_SECONDS
    windows = tuple(Outage(start=at * span, seconds=seconds, kind=kind) for at, seconds, kind in outages)
    forwarders: dict[str, Forwarder] = {}
    specs: dict[str, FunctionSpec] = {}
    timelines: dict[str, Timeline] = {}
    for destination in destinations:
        spec = specs[destination] = world.functions[f"{ENV}-{destination}-forwarder"]
        # Pacing is make storm's: it paces on the wall clock and schedules its flushes as delayed SQS messages,
        # neither of which follows the virtual clock. Without the table each record is delivered as it comes.
        unpaced = {k: v for k, v in spec.environment.items() if k != "PACER_TABLE"}
        unpaced["SLACK_API_URL"] = web_api.url  # the app routes' Web API: the stand-in
        settings = replace(Settings.from_env(unpaced), fallback_slack_secret=None)
        if not protect:
            settings = replace(settings, idempotency_table=None)
        timeline = timelines[destination] = Timeline(scale)
        if destination == "slack":  # the app routes' Web API on the Slack forwarder's clock, its rate limit too
            web_api.clock = timeline.now
        forwarders[destination] = Forwarder(
            destination=Destination(destination),
            settings=settings,
            deliverer=scaled_deliverer(
                scale,
                pagerduty_url=settings.pagerduty_url,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                retries=settings.retries,
                resend_unanswered=frozenset(Destination) if not protect else frozenset({Destination.PAGERDUTY}),
            ),
            app=scaled_app_sender(settings, scale) if destination == "slack" else None,
        )
        stand_in = stand_ins[destination]
        stand_in.sleep = timeline.wait
        stand_in.clock = timeline.now  # the services' rate limits count virtual seconds too
        # "Too slow" is past the production read time-out (and the connect time-out a client might add to it).
        slow = settings.connect_timeout + settings.read_timeout + 2.0
        stand_in.chaos = Chaos(
            rate=rate, seed=seed + len(destination), slow=slow, faults=faults, outages=windows, clock=timeline.now
        )
    reports = {d: DestinationReport(destination=d, alerts=n) for d in forwarders}
    apps = [AppReport(route=name, channel=channel, alerts=n) for name, channel in app_channels.items()]
    queues = {d: queue_spec(sqs, world, specs[d].name) for d in forwarders}
    for destination, report in reports.items():
        report.max_receives = queues[destination].max_receive_count
    notifications = [json.dumps(notification(i)) for i in range(n)]
    one, q = specs[destinations[0]], queues[destinations[0]]
    deliverer = forwarders[destinations[0]].deliverer
    say(
        f"  dev's template: Lambda time-out {one.timeout} s; queue visibility timeout {q.visibility_timeout} s, "
        f"maxReceiveCount {q.max_receive_count}, batch size {q.batch_size}, maximum concurrency {q.concurrency}; "
        f"a failed record seen again after {', '.join(str(retry_visibility(n)) for n in range(1, 5))} s; "
        f"HTTP connect/read "
        f"{deliverer.connect_timeout}/{deliverer.read_timeout} s with {deliverer.retries} retries; virtual time "
        f"{scale:g}x the wall clock; pacer table unset (pacing is make storm's)"
    )

    def poll(destination: str) -> None:
        """The event source mapping on the destination's timeline: up to `concurrency` invocations at once, each
        given what is visible when it starts (up to the batch size, window 0); what it names in batchItemFailures
        is seen again after the visibility the function sets, a failed invocation's whole batch after the queue's
        visibility timeout; a message received maxReceiveCount times goes to the dead-letter queue instead."""
        forwarder, report, spec, queue = (
            forwarders[destination],
            reports[destination],
            specs[destination],
            queues[destination],
        )
        timeline = _CURRENT.timeline = timelines[destination]
        waiting = [
            _Message(i * ARRIVAL_SECONDS, i, _message_id(destination, i), notifications[i], i * ARRIVAL_SECONDS)
            for i in range(n)
        ]
        heapq.heapify(waiting)
        free = [0.0] * queue.concurrency  # when each concurrent invocation slot is free, in virtual seconds
        settled = said = 0  # alerts delivered or dead-lettered; how many of them were said
        while waiting or said < settled:
            if settled // 250 > said // 250 or not waiting:
                said = settled
                say(f"  {destination}: {settled}/{n} alerts settled, {max(free) / 60:.0f} virtual minutes")
                continue
            slot = min(range(len(free)), key=free.__getitem__)
            at = max(free[slot], waiting[0].visible_at)
            batch: list[_Message] = []
            while waiting and waiting[0].visible_at <= at and len(batch) < queue.batch_size:
                message = heapq.heappop(waiting)
                if message.receives >= queue.max_receive_count:  # SQS moves it, with its body, instead of a receive
                    sqs.send_message(QueueUrl=queue.dead_letter_url, MessageBody=message.body)
                    report.dead_lettered += 1
                    settled += 1
                    continue
                message.receives += 1
                batch.append(message)
            if not batch:
                continue
            timeline.set(at)
            context = _Context(spec.name, spec.timeout, timeline)
            report.invocations += 1
            report.receives += len(batch)
            failed: set[str] | None  # None: the invocation failed, the whole batch stays
            try:
                answer = forwarder.run(sqs_event(batch, queue.arn, at), context)
                failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            except Exception:  # noqa: BLE001 - the invocation failed: the batch is received again
                report.invocation_errors += 1
                failed = None
            report.longest_invocation = max(report.longest_invocation, context.elapsed())
            if context.elapsed() > spec.timeout:
                report.lambda_timeouts += 1
                failed = None
            ended = timeline.now()
            free[slot] = ended
            for message in batch:
                if failed is None:
                    message.visible_at = at + queue.visibility_timeout
                elif message.message_id in failed:
                    report.item_failures += 1
                    message.visible_at = ended + retry_visibility(message.receives)
                else:  # deleted by the mapping
                    settled += 1
                    continue
                heapq.heappush(waiting, message)
        _CURRENT.timeline = None

    started = time.monotonic()
    threads = [threading.Thread(target=poll, args=(d,)) for d in forwarders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for destination in forwarders:
        stand_ins[destination].idle()  # a slow request may still be accepted: count it
        stand_ins[destination].chaos = None  # healthy from here on
        # The redrive runs on a clock of its own, as the first pass did: the services' limits still answer 429 with
        # Retry-After, and waiting it out moves that clock on instead of the wall clock (a second per Slack post).
        redrive_clock = timelines[destination] = Timeline(scale)
        stand_ins[destination].sleep = redrive_clock.wait
        stand_ins[destination].clock = redrive_clock.now
        if (limit := stand_ins[destination].limit) is not None:
            limit.reset()  # what it counted was on the first pass's clock
        if destination == "slack":
            web_api.chaos = False
            web_api.clock = redrive_clock.now
            if web_api.limit is not None:
                web_api.limit.reset()
    say(f"  first pass: {time.monotonic() - started:.0f} s on the wall clock")
    for app in apps:
        app.delivered = len(_app_parents(web_api, app.channel))
        app.faults = dict(sorted(web_api.faults.items()))
    received = {d: list(stand_ins[d].received) for d in forwarders}
    for destination, report in reports.items():
        _count(report, received[destination], destination)
        dead = set()
        for body in _peek(sqs, queues[destination].dead_letter_url):
            alarm = json.loads(json.loads(body)["Message"])
            dead.add(alarm["AlarmName"] if destination == "slack" else alarm["AlarmArn"])
        taken = {_alert_of(destination, r.body) for r in received[destination] if r.answered in (200, 202)}
        everyone = {_alert_of(destination, _probe(destination, i)) for i in range(n)}
        report.lost = len(everyone - taken - dead)
        report.accepted_then_lost = len(taken & dead)

    moves = MessageMoves(sqs)  # SQS's StartMessageMoveTask, which moto lacks
    for destination, report in reports.items():
        queue = queues[destination]
        move_back(sqs, queue.dead_letter_url, start=moves.start, tasks=moves.list, say=_prefixed(say, destination))
        _CURRENT.timeline = timelines[destination]
        try:
            report.redrive_failures = _drain(sqs, queue, forwarders[destination], specs[destination])
        finally:
            _CURRENT.timeline = None
        if report.redrive_failures:
            say(f"  redrive {destination}: {report.redrive_failures} records failed")
    for destination, report in reports.items():
        accepted = Counter(_alert_of(destination, r.body) for r in stand_ins[destination].accepted())
        report.delivered_after_redrive = len(accepted)
        report.duplicates_after_redrive = sum(count - 1 for count in accepted.values())
    injected_429 = web_api.faults.get("429", 0)
    for app in apps:
        parents = _app_parents(web_api, app.channel)
        app.delivered_after_redrive = len(parents)
        app.duplicates_after_redrive = sum(count - 1 for count in parents.values())
        app.calls = len(web_api.calls)
        app.rate_limited = len([c for c in web_api.calls if c.status == 429]) - injected_429
    return list(reports.values()), apps


def _app_parents(web_api: SlackApiStandIn, channel: str) -> Counter[str]:
    """The alerts with a thread parent in an app route's channel, and how many parents each."""
    return Counter(_alert_of("slack", {"text": m.text}) for m in web_api.parents(channel))


def _prefixed(say: Callable[[str], None], destination: str) -> Callable[[str], None]:
    return lambda line: say(f"  redrive {destination}: {line}")


@dataclass(frozen=True)
class QueueSpec:
    """A forwarder's queue and event source mapping, as the template makes them."""

    url: str
    arn: str
    dead_letter_url: str
    visibility_timeout: int
    max_receive_count: int
    batch_size: int
    concurrency: int


def queue_spec(sqs: Any, world: Any, function: str) -> QueueSpec:
    [mapping] = [m for m in world.mappings if m.function == function]
    attributes = sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=["All"])["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"])
    return QueueSpec(
        url=mapping.queue_url,
        arn=mapping.queue_arn,
        dead_letter_url=world.queues[policy["deadLetterTargetArn"].rsplit(":", 1)[-1]],
        visibility_timeout=int(attributes["VisibilityTimeout"]),
        max_receive_count=int(policy["maxReceiveCount"]),
        batch_size=mapping.batch_size,
        concurrency=mapping.maximum_concurrency or 1000,  # unset: Lambda scales up to the account's limit
    )


@dataclass(order=True)
class _Message:
    """One message of a forwarder's queue, on the virtual clock (ordered by when it is visible)."""

    visible_at: float
    index: int
    message_id: str = field(compare=False)
    body: str = field(compare=False)
    sent_at: float = field(compare=False)
    receives: int = field(default=0, compare=False)


def _message_id(destination: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"faults/{destination}/{index}"))


def sqs_event(messages: list[_Message], queue_arn: str, at: float) -> dict[str, Any]:
    """The SQS event the event source mapping hands the forwarder."""
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": f"{m.message_id}#{m.receives}",
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.receives),
                    "SentTimestamp": str(int((EPOCH + m.sent_at) * 1000)),
                    "SenderId": "AIDAISNSSERVICE",
                    "ApproximateFirstReceiveTimestamp": str(int((EPOCH + at) * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def _drain(sqs: Any, queue: QueueSpec, forwarder: Any, spec: Any) -> int:
    """The mapping after the redrive, on the calling thread's timeline: the queue's messages delivered in batches
    until it is empty.
    Returns how many records failed (seen again at once; SQS dead-letters them again after maxReceiveCount)."""
    failures = empty = 0
    while empty < 2:
        batch = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=queue.batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        empty = 0 if batch else empty + 1
        if not batch:
            continue
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue.arn,
                    "awsRegion": REGION,
                }
                for m in batch
            ]
        }
        try:
            answer = forwarder.run(event, _Context(spec.name, spec.timeout, getattr(_CURRENT, "timeline", None)))
            failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        except Exception:  # noqa: BLE001 - the invocation failed: the batch is received again
            failed = {m["MessageId"] for m in batch}
        for m in batch:
            if m["MessageId"] in failed:
                failures += 1
                sqs.change_message_visibility(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    return failures


def _count(report: DestinationReport, received: list[Any], destination: str) -> None:
    accepted = [r for r in received if r.answered in (200, 202)]
    per_alert: dict[str, list[Any]] = {}
    for request in accepted:
        per_alert.setdefault(_alert_of(destination, request.body), []).append(request)
    report.delivered = len(per_alert)
    report.duplicates = sum(len(requests) - 1 for requests in per_alert.values())
    report.most_posts = max((len(requests) for requests in per_alert.values()), default=0)
    report.answers_lost = sum(1 for r in accepted if r.fault)
    report.faults = dict(Counter(r.fault for r in received if r.fault))
    report.rate_limited = sum(1 for r in received if r.limited)
    # A duplicate is caused by an earlier acceptance whose answer was lost: name its fault.
    causes: Counter[str] = Counter()
    for requests in per_alert.values():
        for request in requests[:-1]:
            causes[request.fault or "none (answered)"] += 1
    report.duplicates_by_fault = dict(causes)


def _probe(destination: str, index: int) -> dict[str, Any]:
    """The identity an alert's request carries, without sending it."""
    name = f"faults-rds-db{index:04d}-CPUUtilization"
    if destination == "pagerduty":
        return {"dedup_key": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"}
    return {"text": f"{name}: ..."}


def _peek(sqs: Any, queue: str) -> list[str]:
    """Every body in the queue, leaving the messages there (made visible again at once)."""
    bodies: dict[str, str] = {}
    receipts: list[str] = []
    empty = 0
    while empty < 2:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0)
        batch = answer.get("Messages", [])
        empty = 0 if batch else empty + 1
        for message in batch:
            bodies[message["MessageId"]] = message["Body"]
            receipts.append(message["ReceiptHandle"])
    for receipt in receipts:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=receipt, VisibilityTimeout=0)
    return list(bodies.values())


def table(summary: Summary) -> list[str]:
    lines = [
        f"{'destination':<11} {'alerts':>6} {'invocations':>11} {'delivered':>9} {'dead-lettered':>13} "
        f"{'lost':>4} {'answers lost':>12} {'duplicates':>10} {'most posts':>10} {'accepted+DLQ':>12} "
        f"{'after redrive':>13} {'duplicates':>10}"
    ]
    for r in summary.reports:
        lines.append(
            f"{r.destination:<11} {r.alerts:>6} {r.invocations:>11} {r.delivered:>9} {r.dead_lettered:>13} "
            f"{r.lost:>4} {r.answers_lost:>12} {r.duplicates:>10} {r.most_posts:>10} {r.accepted_then_lost:>12} "
            f"{r.delivered_after_redrive:>13} {r.duplicates_after_redrive:>10}"
        )
    for r in summary.reports:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(r.faults.items()))
        causes = ", ".join(f"{k} {v}" for k, v in sorted(r.duplicates_by_fault.items())) or "none"
        lines.append(f"{r.destination}: faults injected: {faults}; refused by the rate limit: {r.rate_limited}")
        lines.append(f"{r.destination}: duplicates before the redrive, by the fault that lost the answer: {causes}")
        lines.append(
            f"{r.destination}: {r.receives} records received in {r.invocations} invocations, {r.item_failures} named "
            f"in batchItemFailures, {r.invocation_errors} invocations failed whole; at most {r.max_receives} "
            f"receives, then the dead-letter queue"
            + (f"; {r.redrive_failures} records failed again after the redrive" if r.redrive_failures else "")
        )
        if r.lambda_timeouts:
            lines.append(
                f"{r.destination}: {r.lambda_timeouts} invocations ran past the Lambda time-out (the longest "
                f"{r.longest_invocation:.1f} virtual s)"
            )
    for a in summary.apps:
        faults = ", ".join(f"{k} {v}" for k, v in a.faults.items()) or "none"
        lines.append(
            f"slack app route {a.route} (thread parents in {a.channel}, Web API stand-in): {a.delivered} alerts "
            f"before the redrive, {a.delivered_after_redrive} after, {a.duplicates_after_redrive} extra parents; "
            f"{a.calls} calls, faults injected (refusals only, no outage): {faults}; refused by the rate limit: "
            f"{a.rate_limited}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.faults",
        description="Fault injection: alerts through each forwarder as it ships (SNS -> SQS -> event source "
        "mapping) while PagerDuty and Slack fail at random and go down; then the dead-letter redrive. Prints a "
        "table and one JSON line; exits 1 if any alert is lost.",
    )
    parser.add_argument("--alerts", type=int, default=1000, help="alerts through each forwarder (default 1000)")
    parser.add_argument("--rate", type=float, default=0.3, help="share of requests that fail at random (default 0.3)")
    parser.add_argument("--seed", type=int, default=7, help="the random faults and instants (default 7)")
    args = parser.parse_args(argv)
    if not 1 <= args.alerts <= 100_000 or not 0 <= args.rate < 1:
        parser.error("--alerts must be 1-100000 and --rate in [0, 1)")
    print(
        f"Fault injection: {args.alerts:,} alerts through each forwarder; {args.rate:.0%} of requests fail at "
        "random, and three outages"
    )
    print("Delivery as it ships (SNS -> SQS queue -> event source mapping), without pacing: the pacer table is unset")
    summary = run(args.alerts, rate=args.rate, seed=args.seed, say=lambda line: print(line, flush=True))
    print()
    for line in table(summary):
        print(line)
    ok = summary.healed
    print("nothing lost; every alert delivered after the redrive" if ok else "FAILED: alerts lost")
    print(json.dumps(summary.line()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
