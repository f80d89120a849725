"""`make storm`: 1,000 CloudWatch alarms within a minute, then their OKs, through the local pipeline.

`python -m tools.storm [--alerts 1000] [--seconds 60] [--env dev] [--seed 7]`

The pipeline is `tools.serve`'s, built from the environment's synthesized templates: moto's server over HTTP as
AWS, SNS delivering to the forwarders' queues, each event source mapping emulated from the template (batch size,
batching window, maximum concurrency, partial batch answers, the dead-letter queue after maxReceiveCount), the real
forwarders with their template environment, and the Slack and PagerDuty stand-ins enforcing the services' limits
(Slack 1 message/s per webhook with a burst of 2, else 429 `Retry-After: 1`; PagerDuty 120 events per routing key
per sliding minute, else 429).

First a quiet measurement: one alarm at a time on a topic that pages (ALARM, then its OK, seconds apart), publish ->
accepted at the stand-in, a few repetitions; the median is what a single alarm costs. Then the storm: `--alerts`
distinct alarms (names `storm-NNNN-<service>-<resource>-<metric>`, spread over RDS, ElastiCache, ECS, load
balancers, Lambda, SQS and DynamoDB metrics) on the environment's four topics (critical, warning, slo,
infrastructure) at random instants (seeded) within `--seconds`, each published as CloudWatch does (SNS Publish of
the alarm's state-change notification, `tools.serve.cloudwatch_notification`); then each alarm's OK at a random
instant within the next `--seconds`, always after its ALARM. The run waits until the pipeline is idle (queues
drained, scheduled flushes included), then measures from what the stand-ins recorded (each request with its time
and answer).

Definitions (the JSON line's keys):
- alerts: the alarms of the storm (each fires once and resolves once).
- lost: alarms not represented at every destination their topic routes to (the topic's Slack webhook, its
  PagerDuty routing key). An alarm is represented at Slack when its name appears in an accepted Slack message (one
  of its own, a digest, a notice), at PagerDuty when its name appears in an accepted trigger event (its own event, or
  a storm incident's custom_details).
- dead_lettered: messages left at the end in the forwarders' dead-letter queues and the core dead-letter queue.
- slack_messages, pagerduty_events: requests accepted (2xx) from the first ALARM on; slack_429, pagerduty_429:
  requests the stand-ins' rate limits refused in that time.
- slack_max_per_s: the most Slack messages accepted for one webhook within any one second (a sliding window
  [t, t + 1 s)); pagerduty_max_per_min: the most events accepted for one routing key within any sliding 60 s.
- first_page_s: from the first ALARM published to the first PagerDuty event accepted after it.
- all_delivered_s: from the first ALARM published to the moment the last alarm became represented everywhere it
  routes to.
- unresolved: PagerDuty dedup keys with an accepted trigger whose last accepted event is not a resolve.
Goals (issue 10): lost 0, dead_lettered 0, unresolved 0 (the exit status is non-zero when one of these is missed);
Slack <= 1 message/s per webhook and <= 60 in all, PagerDuty <= 120/min per key, the first page within 10 s,
every alarm represented within 5 minutes: reported, met or not.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.localaws import free_port
from tools.serve import LocalPipeline, cloudwatch_notification
from tools.standins import Received, StandIn

TOPICS = ("critical", "warning", "slo", "infrastructure")
# (service, namespace, metric, dimension names, resource prefix)
SERVICES: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("rds", "AWS/RDS", "CPUUtilization", ("DBInstanceIdentifier",), "orders-db"),
    ("rds", "AWS/RDS", "FreeStorageSpace", ("DBInstanceIdentifier",), "billing-db"),
    ("elasticache", "AWS/ElastiCache", "EngineCPUUtilization", ("CacheClusterId",), "sessions"),
    ("elasticache", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", ("CacheClusterId",), "cache"),
    ("ecs", "AWS/ECS", "CPUUtilization", ("ClusterName", "ServiceName"), "web-api"),
    ("ecs", "AWS/ECS", "MemoryUtilization", ("ClusterName", "ServiceName"), "web-worker"),
    ("alb", "AWS/ApplicationELB", "HTTPCode-Target-5XX-Count", ("LoadBalancer",), "app-web"),
    ("lambda", "AWS/Lambda", "Errors", ("FunctionName",), "checkout"),
    ("sqs", "AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName",), "orders"),
    ("dynamodb", "AWS/DynamoDB", "ThrottledRequests", ("TableName",), "carts"),
)
NAME = re.compile(r"(?:storm|quiet)-\d{4}-")
QUIET_REPETITIONS = 5


@dataclass(frozen=True)
class Alarm:
    index: int
    name: str
    topic: str
    service: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    alarm_at: float  # seconds after the storm starts
    ok_at: float


def plan(
    alerts: int, seconds: float, seed: int, topics: tuple[str, ...] = TOPICS, prefix: str = "storm"
) -> list[Alarm]:
    """`alerts` distinct alarms on `topics` at random instants within `seconds`, each OK within the next `seconds`."""
    draw = random.Random(seed)
    alarms = []
    for index in range(alerts):
        service, namespace, metric, names, resource = SERVICES[draw.randrange(len(SERVICES))]
        resource = f"{resource}-{draw.randrange(1, 40)}"
        name = f"{prefix}-{index:04d}-{service}-{resource}-{metric}"
        alarm_at = draw.uniform(0, seconds)
        alarms.append(
            Alarm(
                index=index, name=name, topic=draw.choice(topics), service=service, namespace=namespace,
                metric=metric, dimensions=tuple((n, resource) for n in names), alarm_at=alarm_at,
                ok_at=seconds + draw.uniform(0, seconds),
            )
        )  # fmt: skip
    return alarms


def notification(pipeline: LocalPipeline, alarm: Alarm, state: str) -> tuple[str, str]:
    """The message and subject CloudWatch publishes when `alarm` enters `state`."""
    config = pipeline.config
    arn = f"arn:{config.partition}:cloudwatch:{config.region}:{config.account}:alarm:{alarm.name}"
    topic_arn = pipeline.topic_arns[alarm.topic]
    reason = (
        f"Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (90.0) for {alarm.metric}."
        if state == "ALARM"
        else "Threshold Crossed: 3 out of the last 3 datapoints were not greater than the threshold (90.0)."
    )
    described = {
        "AlarmName": alarm.name,
        "AlarmDescription": f"{alarm.service} {alarm.metric} over its threshold (storm run).",
        "AlarmArn": arn,
        "StateValue": state,
        "StateReason": reason,
        "StateUpdatedTimestamp": datetime.now(UTC),
        "MetricName": alarm.metric,
        "Namespace": alarm.namespace,
        "Statistic": "Average",
        "Dimensions": [{"Name": n, "Value": v} for n, v in alarm.dimensions],
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 90.0,
        "TreatMissingData": "missing",
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
    }
    old = "OK" if state == "ALARM" else "ALARM"
    message = cloudwatch_notification(described, config.region, old_state=old)
    return json.dumps(message), f'{state}: "{alarm.name}" in {config.region}'[:100]


def publish(pipeline: LocalPipeline, alarm: Alarm, state: str) -> float:
    """Publish as CloudWatch does; returns when (time.monotonic)."""
    message, subject = notification(pipeline, alarm, state)
    at = time.monotonic()
    pipeline.sns.publish(TopicArn=pipeline.topic_arns[alarm.topic], Message=message, Subject=subject)
    return at


def publish_on_schedule(
    pipeline: LocalPipeline, steps: list[tuple[float, Alarm, str]], start: float, workers: int = 8
) -> dict[tuple[int, str], float]:
    """Publish each (offset, alarm, state) at `start` + offset, in order, on a few threads (a publish takes a few
    milliseconds); returns when each was published."""
    ordered = sorted(steps, key=lambda step: step[0])
    published: dict[tuple[int, str], float] = {}
    lock = threading.Lock()
    position = iter(range(len(ordered)))
    errors: list[str] = []

    def work() -> None:
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            offset, alarm, state = ordered[index]
            wait = start + offset - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                at = publish(pipeline, alarm, state)
            except Exception as exc:  # noqa: BLE001 - counted: an alarm CloudWatch could not publish
                errors.append(f"{alarm.name} {state}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                published[(alarm.index, state)] = at

    threads = [threading.Thread(target=work, name=f"publish-{i}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} publishes failed, first: {errors[0]}")
    return published


# -- measuring -----------------------------------------------------------------------------------------------------


def represented(record: Received, alarms: dict[int, Alarm]) -> set[int]:
    """The alarms whose names appear in an accepted request: for PagerDuty, a trigger (an alarm's own or a storm
    incident's custom_details); a resolve names what it resolves, which is no representation of its firing."""
    if not record.accepted:
        return set()
    if isinstance(record.body, dict) and "event_action" in record.body and record.body["event_action"] != "trigger":
        return set()
    text = record.raw.decode("utf-8", "replace")
    found = set()
    for match in NAME.finditer(text):
        index = int(text[match.start() + 6 : match.start() + 10])
        alarm = alarms.get(index)
        if alarm is not None and text.startswith(alarm.name, match.start()):
            found.add(index)
    return found


@dataclass
class Result:
    alerts: int
    lost: int
    dead_lettered: int
    slack_messages: int
    slack_429: int
    slack_max_per_s: int
    pagerduty_events: int
    pagerduty_429: int
    pagerduty_max_per_min: int
    first_page_s: float | None
    all_delivered_s: float | None
    unresolved: int
    # beside the line
    lost_slack: int = 0
    lost_pagerduty: int = 0
    idle: bool = True
    latencies: list[float] = field(default_factory=list)  # per alarm: ALARM published -> represented everywhere
    quiet_page_ms: list[float] = field(default_factory=list)
    quiet_slack_ms: list[float] = field(default_factory=list)
    routed: dict[str, int] = field(default_factory=dict)  # alarms per destination
    invocations: int = 0
    storm_incidents: int = 0
    digests: int = 0
    publish_lateness_s: float = 0.0
    settled_s: float = 0.0
    unresolved_keys: list[str] = field(default_factory=list)
    server_errors: int = 0  # requests moto's server failed (500), as AWS would fail them rarely
    server_error: str = ""
    pipeline_problems: list[str] = field(default_factory=list)
    slack_times: list[float] = field(default_factory=list)  # each accepted Slack message, seconds after the start
    lost_names: list[str] = field(default_factory=list)

    def line(self) -> dict[str, Any]:
        def seconds(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "alerts": self.alerts,
            "lost": self.lost,
            "dead_lettered": self.dead_lettered,
            "slack_messages": self.slack_messages,
            "slack_429": self.slack_429,
            "slack_max_per_s": self.slack_max_per_s,
            "pagerduty_events": self.pagerduty_events,
            "pagerduty_429": self.pagerduty_429,
            "pagerduty_max_per_min": self.pagerduty_max_per_min,
            "first_page_s": seconds(self.first_page_s),
            "all_delivered_s": seconds(self.all_delivered_s),
            "unresolved": self.unresolved,
        }

    def misses(self) -> list[str]:
        """The goals missed that fail the run (nothing lost, nothing dead-lettered, nothing left open)."""
        missed = []
        if self.lost:
            missed.append(
                f"{self.lost} alarms lost ({self.lost_slack} at Slack, {self.lost_pagerduty} at PagerDuty), "
                f"first: {', '.join(self.lost_names[:5])}"
            )
        if self.dead_lettered:
            missed.append(f"{self.dead_lettered} messages dead-lettered")
        if self.unresolved:
            missed.append(
                f"{self.unresolved} PagerDuty incidents left open, first: {', '.join(self.unresolved_keys[:3])}"
            )
        if not self.idle:
            missed.append("the pipeline was not idle by the time-out (work still queued)")
        return missed


def destinations(pipeline: LocalPipeline, topic: str) -> tuple[str, ...]:
    routing = pipeline.config.topics[topic]  # type: ignore[index]  # one of the config's own keys
    return tuple(d for d, on in (("slack", bool(routing.slack)), ("pagerduty", bool(routing.pagerduty))) if on)


def dead_letters(pipeline: LocalPipeline) -> int:
    """Messages in every dead-letter queue of the world (the forwarders' and the core one)."""
    total = 0
    for name, url in pipeline.world.queues.items():
        if not name.endswith("dlq"):
            continue
        attributes = pipeline.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        total += sum(int(value) for value in attributes.values())
    return total


def unresolved_keys(records: list[Received]) -> list[str]:
    """Dedup keys with an accepted trigger whose last accepted event is not a resolve."""
    last: dict[str, str] = {}
    triggered: set[str] = set()
    for record in sorted((r for r in records if r.accepted and isinstance(r.body, dict)), key=lambda r: r.at):
        key = str(record.body.get("dedup_key"))
        action = str(record.body.get("event_action"))
        last[key] = action
        if action == "trigger":
            triggered.add(key)
    return sorted(key for key in triggered if last[key] != "resolve")


def measure(
    pipeline: LocalPipeline, alarms: list[Alarm], published: dict[tuple[int, str], float], start: float
) -> Result:
    slack, pagerduty = pipeline.slack, pipeline.pagerduty
    assert slack is not None
    assert pagerduty is not None
    by_index = {alarm.index: alarm for alarm in alarms}
    first_alarm = min(at for (_, state), at in published.items() if state == "ALARM")
    seen: dict[str, dict[int, float]] = {"slack": {}, "pagerduty": {}}
    for destination, stand_in in (("slack", slack), ("pagerduty", pagerduty)):
        for record in sorted(stand_in.received, key=lambda r: r.at):
            if record.at < start:
                continue
            for index in represented(record, by_index):
                seen[destination].setdefault(index, record.at)
    lost: dict[str, list[Alarm]] = {"slack": [], "pagerduty": []}
    delivered_at: list[float] = []
    latencies: list[float] = []
    routed: dict[str, int] = {"slack": 0, "pagerduty": 0}
    for alarm in alarms:
        times = []
        for destination in destinations(pipeline, alarm.topic):
            routed[destination] += 1
            if alarm.index in seen[destination]:
                times.append(seen[destination][alarm.index])
            else:
                lost[destination].append(alarm)
        if times and all(alarm.index in seen[d] for d in destinations(pipeline, alarm.topic)):
            delivered_at.append(max(times))
            latencies.append(max(times) - published[(alarm.index, "ALARM")])
    lost_alarms = {a.index: a for d in lost.values() for a in d}
    slack_stats, pagerduty_stats = slack.stats(since=start), pagerduty.stats(since=start)
    pages = [r.at for r in pagerduty.received if r.accepted and r.at >= first_alarm]
    storm_records = [r for r in pagerduty.received if r.at >= start]
    open_keys = unresolved_keys(storm_records)
    triggers = [r for r in storm_records if r.accepted and r.body.get("event_action") == "trigger"]
    return Result(
        alerts=len(alarms),
        lost=len(lost_alarms),
        dead_lettered=dead_letters(pipeline),
        slack_messages=slack_stats["accepted"],
        slack_429=slack_stats["refused"],
        slack_max_per_s=slack_stats["max_per_second"],
        pagerduty_events=pagerduty_stats["accepted"],
        pagerduty_429=pagerduty_stats["refused"],
        pagerduty_max_per_min=pagerduty_stats["max_per_minute"],
        first_page_s=(min(pages) - first_alarm) if pages else None,
        all_delivered_s=(max(delivered_at) - first_alarm) if delivered_at and not lost_alarms else None,
        unresolved=len(open_keys),
        lost_slack=len(lost["slack"]),
        lost_pagerduty=len(lost["pagerduty"]),
        latencies=latencies,
        routed=routed,
        storm_incidents=len({str(r.body.get("dedup_key")) for r in triggers if len(represented(r, by_index)) > 1}),
        digests=sum(1 for r in slack.received if r.at >= start and len(represented(r, by_index)) > 1),
        unresolved_keys=open_keys,
        slack_times=sorted(r.at - start for r in slack.received if r.accepted and r.at >= start),
        lost_names=[a.name for a in sorted(lost_alarms.values(), key=lambda a: a.index)],
    )


# -- the quiet measurement --------------------------------------------------------------------------------------


def wait_for(stand_in: StandIn, name: str, since: float, timeout: float, *, action: str | None = None) -> float | None:
    """When the first accepted request naming `name` (and of `action`, for PagerDuty) arrived after `since`."""
    ends = time.monotonic() + timeout
    needle = name.encode()
    while time.monotonic() < ends:
        with stand_in.lock:
            records = list(stand_in.received)
        for record in records:
            if record.at < since or not record.accepted or needle not in record.raw:
                continue
            if action is not None and (not isinstance(record.body, dict) or record.body.get("event_action") != action):
                continue
            return record.at
        time.sleep(0.005)
    return None


def quiet(pipeline: LocalPipeline, repetitions: int, say: Callable[[str], None]) -> tuple[list[float], list[float]]:
    """One alarm at a time on a topic that pages: publish -> accepted, at PagerDuty and at Slack (milliseconds);
    then its OK, and a pause, so that each alarm meets a quiet pipeline."""
    slack, pagerduty = pipeline.slack, pipeline.pagerduty
    assert slack is not None
    assert pagerduty is not None
    topics = [t for t in pipeline.config.topics if "pagerduty" in destinations(pipeline, t)]
    topic = topics[0] if topics else next(iter(pipeline.config.topics))
    pages: list[float] = []
    messages: list[float] = []
    for alarm in plan(repetitions, 0.0, seed=1, topics=(topic,), prefix="quiet"):
        routes = destinations(pipeline, topic)
        at = publish(pipeline, alarm, "ALARM")
        if "pagerduty" in routes and (paged := wait_for(pagerduty, alarm.name, at, 30.0, action="trigger")):
            pages.append((paged - at) * 1000)
        if "slack" in routes and (posted := wait_for(slack, alarm.name, at, 30.0)):
            messages.append((posted - at) * 1000)
        pipeline.wait_idle(60.0)
        time.sleep(2.5)  # past the pacing interval: the OK meets a quiet channel too
        publish(pipeline, alarm, "OK")
        pipeline.wait_idle(60.0)
        time.sleep(2.5)
    say(
        f"  quiet: {len(pages)} pages, median {_median(pages)} ms ({', '.join(f'{p:.0f}' for p in pages)}); "
        f"Slack median {_median(messages)} ms ({', '.join(f'{m:.0f}' for m in messages)})"
    )
    return pages, messages


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


# -- the run -------------------------------------------------------------------------------------------------------


def run(
    alerts: int = 1000,
    seconds: float = 60.0,
    *,
    env: str = "dev",
    seed: int = 7,
    quiet_repetitions: int = QUIET_REPETITIONS,
    timeout: float = 900.0,
    say: Callable[[str], None] = print,
    pipeline_say: Callable[[str], None] | None = None,
) -> Result:
    """The quiet measurement, then the storm; measured once the pipeline is idle (or after `timeout` seconds)."""
    problems: list[str] = []

    def pipeline_line(line: str) -> None:
        if "crashed" in line or "could not" in line or "cannot" in line:
            problems.append(line)
            say(f"  pipeline: {line}")
        if pipeline_say is not None:
            pipeline_say(line)

    errors = _ServerErrors()
    logging.getLogger("werkzeug").addFilter(errors)
    try:
        with LocalPipeline(env=env, port=free_port(), say=pipeline_line) as pipeline:
            result = _run(
                pipeline, alerts=alerts, seconds=seconds, seed=seed, quiet_repetitions=quiet_repetitions,
                timeout=timeout, say=say,
            )  # fmt: skip
    finally:
        logging.getLogger("werkzeug").removeFilter(errors)
    result.server_errors, result.server_error = errors.count, errors.first
    result.pipeline_problems = problems
    return result


def _run(
    pipeline: LocalPipeline,
    *,
    alerts: int,
    seconds: float,
    seed: int,
    quiet_repetitions: int,
    timeout: float,
    say: Callable[[str], None],
) -> Result:
    slack, pagerduty = pipeline.slack, pipeline.pagerduty
    assert slack is not None
    assert pagerduty is not None
    pages, messages = quiet(pipeline, quiet_repetitions, say) if quiet_repetitions else ([], [])
    topics = tuple(t for t in TOPICS if t in pipeline.config.topics) or tuple(pipeline.config.topics)
    alarms = plan(alerts, seconds, seed, topics)
    steps = [(a.alarm_at, a, "ALARM") for a in alarms] + [(a.ok_at, a, "OK") for a in alarms]
    say(
        f"  storm: {alerts} alarms on {', '.join(topics)} within {seconds:g} s, their OKs within the next {seconds:g} s"
    )
    start = time.monotonic()
    reporter = _Progress(pipeline, start, say)
    reporter.start()
    try:
        published = publish_on_schedule(pipeline, steps, start)
        lateness = max(at - (start + offset) for offset, alarm, state in steps
                       for at in [published[(alarm.index, state)]])  # fmt: skip
        say(f"  published {len(published)} notifications by {time.monotonic() - start:.0f} s; waiting until idle")
        idle = pipeline.wait_idle(timeout)
        slack.idle()
        pagerduty.idle()
    finally:
        reporter.stop()
    settled = time.monotonic() - start
    result = measure(pipeline, alarms, published, start)
    result.idle = idle
    result.settled_s = settled
    result.publish_lateness_s = lateness
    result.quiet_page_ms, result.quiet_slack_ms = pages, messages
    result.invocations = len(getattr(pipeline, "invocations", []))
    return result


class _ServerErrors(logging.Filter):
    """Counts the errors moto's server logs (a request it answered 500), instead of printing their tracebacks."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.first = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.count += 1
            if not self.first and record.exc_info and record.exc_info[1] is not None:
                self.first = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return False


class _Progress:
    """A line every 15 s: what was accepted and refused so far."""

    def __init__(self, pipeline: LocalPipeline, start: float, say: Callable[[str], None]) -> None:
        self.pipeline, self.start_at, self.say = pipeline, start, say
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="storm-progress", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopped.wait(15.0):
            slack, pagerduty = self.pipeline.slack, self.pipeline.pagerduty
            assert slack is not None
            assert pagerduty is not None
            s, p = slack.stats(since=self.start_at), pagerduty.stats(since=self.start_at)
            self.say(
                f"  {time.monotonic() - self.start_at:5.0f} s: Slack {s['accepted']} accepted, {s['refused']} 429; "
                f"PagerDuty {p['accepted']} accepted, {p['refused']} 429"
            )


def table(result: Result, alerts: int, seconds: float) -> list[str]:
    latencies = sorted(result.latencies)

    def pct(q: float) -> str:
        return f"{latencies[min(len(latencies) - 1, int(q * len(latencies)))]:.1f}" if latencies else "-"

    def goal(ok: bool) -> str:
        return "met" if ok else "MISSED"

    first, everyone = result.first_page_s, result.all_delivered_s
    rows = [
        ("alarms (each fired once, then resolved)", f"{result.alerts}", ""),
        ("  routed to Slack / to PagerDuty", f"{result.routed.get('slack', 0)} / {result.routed.get('pagerduty', 0)}",
         ""),
        ("lost (not represented where routed)", f"{result.lost} (Slack {result.lost_slack}, PagerDuty "
         f"{result.lost_pagerduty})", goal(result.lost == 0)),
        ("dead-lettered", f"{result.dead_lettered}", goal(result.dead_lettered == 0)),
        ("Slack messages accepted", f"{result.slack_messages} ({result.digests} naming several alarms)",
         goal(result.slack_messages <= 60) + " (<= 60)"),
        ("Slack 429s", f"{result.slack_429}", ""),
        ("Slack most per second, one webhook", f"{result.slack_max_per_s}",
         goal(result.slack_max_per_s <= 1) + " (<= 1)"),
        ("PagerDuty events accepted", f"{result.pagerduty_events} ({result.storm_incidents} storm incidents)", ""),
        ("PagerDuty 429s", f"{result.pagerduty_429}", ""),
        ("PagerDuty most per minute, one key", f"{result.pagerduty_max_per_min}",
         goal(result.pagerduty_max_per_min <= 120) + " (<= 120)"),
        ("first page after the first alarm", "-" if first is None else f"{first:.1f} s",
         goal(first is not None and first <= 10) + " (<= 10 s)"),
        ("every alarm represented after", "-" if everyone is None else f"{everyone:.1f} s",
         goal(everyone is not None and everyone <= 300) + " (<= 300 s)"),
        ("alarm -> represented, median / p90 / max", f"{pct(0.5)} / {pct(0.9)} / {pct(1.0)} s", ""),
        ("PagerDuty incidents left open", f"{result.unresolved}", goal(result.unresolved == 0)),
        ("quiet alarm -> page, median", f"{_median(result.quiet_page_ms)} ms", ""),
        ("quiet alarm -> Slack, median", f"{_median(result.quiet_slack_ms)} ms", ""),
        ("forwarder invocations", f"{result.invocations}", ""),
        ("AWS (moto) requests failed", f"{result.server_errors} {result.server_error}"[:90], ""),
        ("idle after", f"{result.settled_s:.0f} s (publishing at most {result.publish_lateness_s:.2f} s late)",
         goal(result.idle)),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    return [f"{name:<{width}}  {value:<{value_width}}  {verdict}".rstrip() for name, value, verdict in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.storm", description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=1000, help="distinct alarms in the storm (default 1000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="the storm's span, and its OKs' (default 60)")
    parser.add_argument("--env", default="dev", help="the environment whose templates build the pipeline (default dev)")
    parser.add_argument("--seed", type=int, default=7, help="the random instants and alarms (default 7)")
    parser.add_argument("--quiet", type=int, default=QUIET_REPETITIONS, help="quiet repetitions (default 5, 0: none)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the pipeline to be idle")
    args = parser.parse_args(argv)
    if args.alerts < 1 or args.alerts > 9999 or args.seconds <= 0:
        print("storm: --alerts must be 1-9999 and --seconds positive", file=sys.stderr)
        return 2
    from infra.config import ConfigError, load_config

    try:
        load_config(args.env)
    except ConfigError as exc:
        print(f"storm: {exc}", file=sys.stderr)
        return 2
    print(f"Storm: {args.alerts} CloudWatch alarms within {args.seconds:g} s through the local {args.env} pipeline")
    result = run(
        args.alerts, args.seconds, env=args.env, seed=args.seed, quiet_repetitions=args.quiet, timeout=args.timeout,
        say=lambda line: print(line, flush=True),
    )  # fmt: skip
    print()
    for line in table(result, args.alerts, args.seconds):
        print(line)
    misses = result.misses()
    for miss in misses:
        print(f"storm: goal missed: {miss}", file=sys.stderr)
    print(json.dumps(result.line()), flush=True)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
