"""`make faults`: 1,000 alerts through both forwarders while PagerDuty and Slack fail, as they really do.

The AWS side is dev's, built from its synthesized templates (`tools.world`): the forwarders' settings are their
template environment (routes, tables, queues, HTTP time-outs and retries), their Lambda time-out, retry attempts,
maximum event age, secrets and dead-letter queue are the template's. One difference, for counting: the PagerDuty
forwarder's Slack fallback is off (its notices would count as Slack deliveries; it is tested in tests/handlers).
The stand-ins enforce the services' rate limits (Slack 1 message/s per webhook, PagerDuty 120 events/min per routing
key) on the virtual clock; their 429s are counted apart from the injected faults.

The faults: 30% of requests meet one at random, either refused (500, 503, 429 with Retry-After, a 504 slower than
the read time-out, a reset) or **accepted and then the answer lost** (answered past the read time-out, reset after
accepting, a 2xx slower than the read time-out): the faults that can duplicate. On top, outages that last minutes:
every request answered 503, reset, or accepted but answered too late.

Time: a run would take hours on the wall clock (read time-outs of seconds, Lambda's retries a minute and two minutes
apart, outages of minutes), so each destination runs on a `Timeline`, a clock of virtual seconds. While an
invocation runs, virtual time runs `scale` times faster than the wall clock: the deliverer's deadline and socket
time-outs, and the stand-ins' delays, are scaled by it (a 10 s read time-out lasts 10/scale s); the deliverer's
backoff sleeps and Lambda's retry delays move the clock on without waiting. Alerts arrive one a second; a failed
invocation is retried by Lambda a minute and then two minutes later, each invocation on its own timeline from the
time it starts (invocations overlap, as Lambda's do); after the retries, the event goes to the dead-letter queue
with Lambda's on-failure record.

Counted per destination, honestly: alerts delivered more than once (by `dedup_key` for PagerDuty, by the message's
alarm for Slack; every accepted request counts, including late ones), alerts lost (never accepted, not
dead-lettered), dead-lettered, and accepted-then-lost (accepted while the client saw a failure, and dead-lettered:
delivered and dead-lettered both). Then the queue is redriven against healthy stand-ins, as an operator would.
Ends with one JSON line.
"""

from __future__ import annotations

import heapq
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import environ, moto_server
from tools.redrive import redrive
from tools.standins import ACCEPTING_FAULTS, REFUSING_FAULTS, Chaos, Outage, StandIn

ROUTING_KEY = "fa17fa17fa17fa17fa17fa17fa17fa17"
ENV = "dev"
ACCOUNT, REGION = "111111111111", "eu-west-1"  # config/dev.json
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{ENV}-critical"
# Lambda's waits before the retries of a failed asynchronous invocation ("one minute ... two minutes", not
# configurable): https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html. How many
# retries, and the maximum event age, are the template's.
LAMBDA_RETRY_DELAYS = (60.0, 120.0)
ARRIVAL_SECONDS = 1.0  # virtual seconds between two alerts
ALL_FAULTS = REFUSING_FAULTS + ACCEPTING_FAULTS
# Three outages of the full run, as fractions of the arrivals' span: a 3-minute 503, a 4-minute unreachable
# service (resets: longer than Lambda's 3-minute retry span, so some events are dead-lettered), and a 1-minute
# brown-out in which every request is accepted and answered too late.
OUTAGES = ((0.15, 180.0, "503"), (0.45, 240.0, "reset"), (0.75, 60.0, "slow-2xx"))


@dataclass
class DestinationReport:
    destination: str
    alerts: int
    invocations: int = 0
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
class Summary:
    alerts: int
    reports: list[DestinationReport]

    def line(self) -> dict[str, int]:
        by = {r.destination: r for r in self.reports}
        return {
            "alerts": self.alerts,
            "lost": sum(r.lost for r in self.reports),
            "dead_lettered": sum(r.dead_lettered for r in self.reports),
            "duplicates_pagerduty": by["pagerduty"].duplicates_after_redrive if "pagerduty" in by else 0,
            "duplicates_slack": by["slack"].duplicates_after_redrive if "slack" in by else 0,
            "accepted_then_lost": sum(r.accepted_then_lost for r in self.reports),
        }


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

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)


_CURRENT = threading.local()


class _ScaledTime:
    """Stands in for the `time` module inside `alertlib.deliver`: its deadlines and retry sleeps are the calling
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

    import alertlib.deliver

    with mock.patch.object(alertlib.deliver, "time", _ScaledTime):
        yield


def scaled_deliverer(scale: float, **kwargs: Any) -> Any:
    """The production `Deliverer`, its socket time-outs divided by `scale` (its clock is `_ScaledTime`)."""
    from requests.adapters import HTTPAdapter

    from alertlib.deliver import Deliverer

    class ScaledAdapter(HTTPAdapter):
        def send(self, request: Any, **kw: Any) -> Any:  # type: ignore[override]
            timeout = kw.get("timeout")
            if isinstance(timeout, tuple):
                kw["timeout"] = tuple(t / scale if t is not None else None for t in timeout)
            elif timeout is not None:
                kw["timeout"] = timeout / scale
            return super().send(request, **kw)

    class ScaledDeliverer(Deliverer):
        def _new_adapter(self) -> HTTPAdapter:
            return ScaledAdapter(pool_connections=4, pool_maxsize=4)

    return ScaledDeliverer(**kwargs)


# -- the alerts --------------------------------------------------------------------------------------------------


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


def _alert_of(destination: str, body: Any) -> str:
    if not isinstance(body, dict):
        return "?"
    if destination == "pagerduty":
        return str(body.get("dedup_key"))
    return str(body.get("text")).split("] ", 2)[-1].split(":", 1)[0]  # "[ALARM] [CRITICAL] <name>: ..."


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
    try:
        overrides = {"MOTO_ACCOUNT_ID": ACCOUNT, "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_METRICS_DISABLED": "true"}
        with moto_server() as aws, environ({**aws, **overrides}), scaled_deliverer_clock():
            reports = _run(
                n, rate=rate, seed=seed, say=say, stand_ins=stand_ins, faults=faults, outages=outages, scale=scale,
                protect=protect, destinations=destinations,
            )  # fmt: skip
            return Summary(alerts=n, reports=reports)
    finally:
        for stand_in in stand_ins.values():
            stand_in.stop()
        logging.disable(logging.NOTSET)


def _run(
    n: int,
    *,
    rate: float,
    seed: int,
    say: Callable[[str], None],
    stand_ins: dict[str, StandIn],
    faults: tuple[str, ...],
    outages: tuple[tuple[float, float, str], ...],
    scale: float,
    protect: bool,
    destinations: tuple[str, ...],
) -> list[DestinationReport]:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from alertlib.deliver import Destination
    from alertlib.forward import Forwarder
    from alertlib.settings import Settings
    from infra.config import load_config
    from tools.world import FunctionSpec, build_world, synthesize

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
    world = build_world(
        ENV, synthesize(ENV), boto3.Session(region_name=REGION).client, account=ACCOUNT, region=REGION,
        secret_values=secret_values,
    )  # fmt: skip
    sqs = boto3.client("sqs")
    queue = world.queues[f"{ENV}-alerting-dlq"]
    span = n * ARRIVAL_SECONDS
    windows = tuple(Outage(start=at * span, seconds=seconds, kind=kind) for at, seconds, kind in outages)
    forwarders: dict[str, Forwarder] = {}
    specs: dict[str, FunctionSpec] = {}
    timelines: dict[str, Timeline] = {}
    for destination in destinations:
        spec = specs[destination] = world.functions[f"{ENV}-{destination}-forwarder"]
        settings = replace(Settings.from_env(spec.environment), fallback_slack_secret=None)
        if not protect:
            settings = replace(settings, idempotency_table=None)
        timeline = timelines[destination] = Timeline(scale)
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
    events = [alarm_event(i) for i in range(n)]
    say(
        f"  dev's template: Lambda time-out {specs[destinations[0]].timeout} s, {specs[destinations[0]].retry_attempts}"
        f" retries {', '.join(f'{d:.0f} s' for d in LAMBDA_RETRY_DELAYS)} apart, HTTP connect/read "
        f"{forwarders[destinations[0]].deliverer.connect_timeout}/{forwarders[destinations[0]].deliverer.read_timeout}"
        f" s with {forwarders[destinations[0]].deliverer.retries} retries; virtual time {scale:g}x the wall clock"
    )

    def dead_letter(destination: str, index: int, attempts: int, reason: str) -> None:
        record = {
            "version": "1.0",
            "requestContext": {
                "requestId": f"{destination}-{index}",
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ENV}-{destination}-forwarder:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": events[index],
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": reason[:500]},
        }
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record))

    def invoke_async(destination: str) -> None:
        """Lambda's asynchronous invocation on the destination's timeline: retries after its delays (as many as
        the template says), within the maximum event age, then the on-failure destination."""
        forwarder, report, spec = forwarders[destination], reports[destination], specs[destination]
        timeline = _CURRENT.timeline = timelines[destination]
        delays = LAMBDA_RETRY_DELAYS[: spec.retry_attempts]
        pending = [(i * ARRIVAL_SECONDS, i, 0) for i in range(n)]  # (virtual start, alert, attempt)
        heapq.heapify(pending)
        done = 0
        while pending:
            start, index, attempt = heapq.heappop(pending)
            timeline.set(start)
            context = _Context(spec.name, spec.timeout, timeline)
            report.invocations += 1
            failure = None
            try:
                forwarder.run(events[index], context)
            except Exception as exc:  # noqa: BLE001 - the invocation failed; Lambda retries, then dead-letters
                failure = str(exc)
            if context.elapsed() > spec.timeout:
                report.lambda_timeouts += 1
                failure = failure or "Task timed out"
            ended = timeline.now()
            if failure is None:
                done += 1
            elif attempt < len(delays) and ended + delays[attempt] - index * ARRIVAL_SECONDS < spec.max_event_age:
                heapq.heappush(pending, (ended + delays[attempt], index, attempt + 1))
            else:
                dead_letter(destination, index, attempt + 1, failure)
                report.dead_lettered += 1
                done += 1
            if done and done % 250 == 0 and failure is None:
                say(f"  {destination}: {done}/{n} alerts settled, {timeline.now() / 60:.0f} virtual minutes")
        _CURRENT.timeline = None

    started = time.monotonic()
    threads = [threading.Thread(target=invoke_async, args=(d,)) for d in forwarders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dead = {d: set[str]() for d in forwarders}
    for destination in forwarders:
        stand_ins[destination].idle()  # a slow request may still be accepted: count it
        stand_ins[destination].chaos = None  # healthy from here on
        stand_ins[destination].sleep = time.sleep
        stand_ins[destination].clock = time.monotonic
        if (limit := stand_ins[destination].limit) is not None:
            limit.reset()  # what it counted was on the virtual clock
    say(f"  first pass: {time.monotonic() - started:.0f} s on the wall clock")
    first = {d: list(stand_ins[d].received) for d in forwarders}
    for destination, report in reports.items():
        _count(report, first[destination], destination)
    for message in _peek(sqs, queue):
        record = json.loads(message)
        name = record["requestContext"]["functionArn"].split(":function:")[1].split(":")[0]
        destination = name.removeprefix(f"{ENV}-").removesuffix("-forwarder")
        body = json.loads(record["requestPayload"]["Records"][0]["Sns"]["Message"])
        dead[destination].add(body["AlarmName"] if destination == "slack" else body["AlarmArn"])
    for destination, report in reports.items():
        taken = {_alert_of(destination, r.body) for r in first[destination] if r.answered in (200, 202)}
        everyone = {_alert_of(destination, _probe(destination, i)) for i in range(n)}
        report.lost = len(everyone - taken - dead[destination])
        report.accepted_then_lost = len(taken & dead[destination])

    def invoke(function: str, event: dict[str, Any]) -> None:
        destination = function.removeprefix(f"{ENV}-").removesuffix("-forwarder")
        forwarders[destination].run(event, _Context(function, specs[destination].timeout, None))

    counts = redrive(sqs, queue, invoke, lambda topic: [], say=lambda line: say(f"  redrive: {line}"))
    if counts.failed:
        say(f"  redrive: {counts.failed} failed")
    for destination, report in reports.items():
        accepted = Counter(_alert_of(destination, r.body) for r in stand_ins[destination].accepted())
        report.delivered_after_redrive = len(accepted)
        report.duplicates_after_redrive = sum(count - 1 for count in accepted.values())
    return list(reports.values())


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
    return {"text": f"[ALARM] [X] {name}: ..."}


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
        if r.lambda_timeouts:
            lines.append(f"{r.destination}: {r.lambda_timeouts} invocations ran past the Lambda time-out")
    return lines


def main() -> int:
    print("Fault injection: 1,000 alerts through each forwarder; 30% of requests fail at random, and three outages")
    summary = run(say=lambda line: print(line, flush=True))
    print()
    for line in table(summary):
        print(line)
    ok = all(r.healed for r in summary.reports)
    print("nothing lost; every alert delivered after the redrive" if ok else "FAILED: alerts lost")
    print(json.dumps(summary.line()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
