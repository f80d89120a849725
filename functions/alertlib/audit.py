"""Audit: which of an environment's alarms cannot fire, said once through the infrastructure topic.

An alarm is dead when it has sat in INSUFFICIENT_DATA longer than `dead_after`, or when a metric it reads has
published no datapoint in that time (a typo, a deleted resource, a dimension AWS never publishes): it stays in
INSUFFICIENT_DATA, which has no action, or in OK forever. Nobody is told; this module tells them. A silent metric
is then looked up with ListMetrics, which lists what had a datapoint in the last two weeks: not listed, the alarm's
input was never published (a wrong name or dimension, a resource that does not exist), which the reason says apart
from a metric published but silent lately (a resource stopped, idle or deleted).

- `audit_alarms`: DescribeAlarms (paginated), GetMetricData (500 queries a call), linear in the alarms; then one
  ListMetrics per silent metric, bounded in calls, pages and time (`ListingBudget`).
- `plan_report`: what is new, still dead and recovered, against what `AuditMemory` remembers.
- `report_body`: one Alertmanager-shaped body the forwarders already read, bounded under SNS's limit.
- `Auditor.run`: the whole run; publish first, then remember (a failed write reports again, never silence).
The clients are injected (`AwsClient` subclasses), so tests and `tools.audit` bring their own.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alertlib.aws import AwsClient
from alertlib.errors import ConfigurationError, ForwardingError

MAX_QUERIES = 500  # GetMetricData's limit of queries per call
QUERY_PERIOD = 3600  # one-hour buckets: valid for any start time CloudWatch still keeps (multiple of 60/300/3600)
MAX_SNS_BYTES = 256 * 1024 - 4 * 1024  # SNS's limit, less room for the subject
MAX_LISTED = 100  # alarms listed in one message (PagerDuty shows 100); the rest are counted
MAX_REASON = 1000
REMEMBER_DAYS = 30  # a dead alarm is reported once; still dead 30 days later, once more
MAX_DEAD_AFTER_HOURS = 24 * 90
BATCH_WRITE = 25  # DynamoDB BatchWriteItem's limit
LISTED_DAYS = 14  # ListMetrics lists the metrics that had a datapoint in the last two weeks
MAX_LIST_CALLS = 300  # ListMetrics calls of one audit (its quota is 25 a second): the silent metrics beyond are not
MAX_LIST_PAGES = 4  # looked up; nor is one whose filter matches more than 4 x 500 metrics without its own set
MAX_LIST_FILTERS = 10  # ListMetrics' dimension filters per call (an alarm may name up to 30 dimensions)
LIST_RESERVE_SECONDS = 60.0  # the Lambda time kept for the audit table, the publish and the write after listing
# Metrics that exist only while something happens (invocations, messages): no datapoint for a day is normal, so
# only the INSUFFICIENT_DATA rule applies to alarms on them.
SPARSE_NAMESPACES = frozenset({"AWS/Lambda", "AWS/SNS", "AWS/SQS", "AWS/Events", "AlertForwarding"})
# Counts AWS publishes only when they are not zero (ALB and Classic ELB "reported if there is a nonzero value"):
# silent for a day while another input of the same alarm has data is normal (an SLO's 5xx count beside its
# request count); silent alone is still reported, since then the alarm has nothing to evaluate.
SPARSE_PREFIXES = (("AWS/ApplicationELB", "HTTPCode_"), ("AWS/ELB", "HTTPCode_"), ("AWS/ApplicationELB", "Rejected"))


def nonzero_only(metric: MetricRef) -> bool:
    """Whether AWS publishes `metric` only when it is not zero."""
    return any(
        metric.namespace == namespace and metric.name.startswith(prefix) for namespace, prefix in SPARSE_PREFIXES
    )


RECEIVER = "dead-alarm-auditor"
MEANING = (
    "This alarm cannot fire: CloudWatch has nothing to evaluate, so it stays in INSUFFICIENT_DATA (which has no "
    "action) or in OK whatever happens. Usual causes: a wrong dimension or metric name, a resource renamed or "
    "deleted, a metric AWS publishes only from some nodes. Check the metric in the CloudWatch console, then fix the "
    "alarm in infra/ or config/ (or delete it if its resource is gone). Run `python -m tools.audit --env {env}` "
    "for the full list."
)
RECOVERED = "The alarm has data again, or was deleted: nothing to do."


class AuditError(ForwardingError):
    """CloudWatch, DynamoDB or SNS failed during an audit: the run fails, nothing is remembered."""


def audit_policy_statements(*, topic_arn: str, table_arn: str, key_arn: str) -> list[dict[str, Any]]:
    """The exact IAM statements `Auditor.run` needs, one per code path (its `Sid` names it). CloudWatch's
    DescribeAlarms (here of every metric alarm named with a prefix), GetMetricData and ListMetrics take no narrower
    resource than "*" (the CloudWatch permissions reference); the rest name theirs. The topic and the table are
    encrypted with the alerting key: publishing and writing need it."""
    return [
        {
            "Sid": "ReadAlarmsAndMetrics",  # CloudWatchReader.alarms and .silent
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"],
            "Resource": ["*"],
        },
        {
            "Sid": "ListPublishedMetrics",  # CloudWatchReader.listed: never published, or silent lately
            "Effect": "Allow",
            "Action": ["cloudwatch:ListMetrics"],
            "Resource": ["*"],
        },
        {
            "Sid": "RememberReportedAlarms",  # AuditMemory.recall and .write
            "Effect": "Allow",
            "Action": ["dynamodb:Scan", "dynamodb:BatchWriteItem"],
            "Resource": [table_arn],
        },
        {
            "Sid": "ReportToInfrastructureTopic",  # SnsPublisher
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [topic_arn],
        },
        {
            "Sid": "UseAlertingKey",  # the encrypted topic and table
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [key_arn],
        },
    ]


# ---------------------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True, slots=True)
class AuditSettings:
    alarm_prefix: str  # `<env>-`
    dead_after: timedelta
    topic_arn: str  # the environment's infrastructure topic
    table: str  # `<env>-alerting-audit`
    runbook_url: str | None = None

    @property
    def environment(self) -> str:
        return self.alarm_prefix.rstrip("-") or self.alarm_prefix

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuditSettings:
        missing = [n for n in ("ALARM_PREFIX", "DEAD_AFTER_HOURS", "TOPIC_ARN", "AUDIT_TABLE") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"{missing[0]} is not set")
        return cls(
            alarm_prefix=env["ALARM_PREFIX"],
            dead_after=timedelta(hours=dead_after_hours(env["DEAD_AFTER_HOURS"], "DEAD_AFTER_HOURS")),
            topic_arn=env["TOPIC_ARN"],
            table=env["AUDIT_TABLE"],
            runbook_url=env.get("RUNBOOK_URL") or None,
        )


def dead_after_hours(raw: str, name: str) -> float:
    try:
        hours = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of hours, not {raw!r}") from None
    if not math.isfinite(hours) or not 1 <= hours <= MAX_DEAD_AFTER_HOURS:
        raise ConfigurationError(f"{name} must be between 1 and {MAX_DEAD_AFTER_HOURS} hours, not {raw!r}")
    return hours


# ---------------------------------------------------------------------------------------------------------------
# Alarms and their metrics


@dataclass(frozen=True, slots=True)
class MetricRef:
    """One metric an alarm reads, as GetMetricData asks for it (the alarm's own statistic and unit)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int
    unit: str | None = None
    account: str | None = None

    @property
    def series(self) -> tuple[str, str, frozenset[tuple[str, str]], str | None]:
        """The metric itself, whatever statistic, period or unit an alarm reads it with (what ListMetrics lists)."""
        return self.namespace, self.name, frozenset(self.dimensions), self.account

    def describe(self) -> str:
        """`AWS/ElastiCache ReplicationLag CacheClusterId=sessions-001`"""
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return " ".join(p for p in (self.namespace, self.name, dims) if p)

    def query(self, query_id: str) -> dict[str, Any]:
        metric: dict[str, Any] = {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
        }
        stat: dict[str, Any] = {"Metric": metric, "Period": QUERY_PERIOD, "Stat": self.stat}
        if self.unit:
            stat["Unit"] = self.unit  # a unit the metric does not carry matches nothing, for the alarm too
        query: dict[str, Any] = {"Id": query_id, "MetricStat": stat, "ReturnData": True}
        if self.account:
            query["AccountId"] = self.account
        return query


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    name: str
    arn: str
    state: str
    since: datetime  # when it entered its state
    metrics: tuple[MetricRef, ...]  # empty for expressions without metrics (SEARCH, Metrics Insights)
    missing_breaches: bool = False  # TreatMissingData breaching: a silent metric is what makes it fire


def alarm_info(raw: Mapping[str, Any], now: datetime) -> AlarmInfo:
    """A DescribeAlarms `MetricAlarms` entry, reduced to what the audit needs."""
    since = raw.get("StateTransitionedTimestamp") or raw.get("StateUpdatedTimestamp")
    metrics: list[MetricRef] = []
    if raw.get("MetricName"):
        metrics.append(
            MetricRef(
                namespace=str(raw.get("Namespace") or ""),
                name=str(raw["MetricName"]),
                dimensions=_dimensions(raw.get("Dimensions")),
                stat=str(raw.get("ExtendedStatistic") or raw.get("Statistic") or "SampleCount"),
                period=int(raw.get("Period") or 60),
                unit=raw.get("Unit") or None,
            )
        )
    for query in raw.get("Metrics") or []:
        stat = query.get("MetricStat") if isinstance(query, dict) else None
        metric = stat.get("Metric") if isinstance(stat, dict) else None
        if not isinstance(stat, dict) or not isinstance(metric, dict) or not metric.get("MetricName"):
            continue  # an expression: its inputs are listed beside it
        metrics.append(
            MetricRef(
                namespace=str(metric.get("Namespace") or ""),
                name=str(metric["MetricName"]),
                dimensions=_dimensions(metric.get("Dimensions")),
                stat=str(stat.get("Stat") or "SampleCount"),
                period=int(stat.get("Period") or query.get("Period") or 60),
                unit=stat.get("Unit") or None,
                account=query.get("AccountId") or None,
            )
        )
    return AlarmInfo(
        name=str(raw["AlarmName"]),
        arn=str(raw.get("AlarmArn") or ""),
        state=str(raw.get("StateValue") or ""),
        since=_aware(since) if isinstance(since, datetime) else now,
        metrics=tuple(metrics),
        missing_breaches=raw.get("TreatMissingData") == "breaching",
    )


# The topics an environment's alarms act on (infra/config.py: `<env>-<topic>`, `<env>-<destination>-forwarder-health`).
ENVIRONMENT_TOPICS = (
    "critical", "warning", "slo", "infrastructure", "pagerduty-forwarder-health", "slack-forwarder-health",
)  # fmt: skip


def belongs(raw: Mapping[str, Any], prefix: str) -> bool:
    """Named `<env>-` and, when it has actions, acting on one of the environment's own topics: the prefix `prod-`
    also starts the alarms of an environment `prod-eu`, and other teams' alarms in the same account."""
    keys = ("AlarmActions", "OKActions", "InsufficientDataActions")
    actions = [str(action) for key in keys for action in raw.get(key) or []]
    if not actions:
        return True
    own = {f"{prefix}{topic}" for topic in ENVIRONMENT_TOPICS}
    return any(action.split(":")[2:3] == ["sns"] and action.rsplit(":", 1)[-1] in own for action in actions)


def _dimensions(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple((str(d.get("Name")), str(d.get("Value"))) for d in raw if isinstance(d, dict))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Listing:
    """What ListMetrics said of the metrics asked: `listed` had a datapoint in the last two weeks, `unlisted` had
    none; a metric in neither was not looked up (the budget ran out, or CloudWatch failed: `error`)."""

    listed: frozenset[MetricRef] = frozenset()
    unlisted: frozenset[MetricRef] = frozenset()
    unchecked: int = 0  # metrics asked about but not settled
    calls: int = 0
    error: str | None = None  # the AWS error that stopped the lookups, as `ErrorCode`


@dataclass(frozen=True, slots=True)
class ListingBudget:
    """How much looking up one audit may do: at most `calls` ListMetrics calls and `pages` per metric, and none once
    `seconds_left()` (the Lambda's remaining time less what the rest of the run needs) is not positive."""

    calls: int = MAX_LIST_CALLS
    pages: int = MAX_LIST_PAGES
    seconds_left: Callable[[], float] | None = None

    def spent(self, used: int) -> bool:
        return used >= self.calls or (self.seconds_left is not None and self.seconds_left() <= 0)


class CloudWatchReader(AwsClient):
    """The only CloudWatch calls of an audit, all read-only: DescribeAlarms, GetMetricData, ListMetrics."""

    service = "cloudwatch"

    def alarms(self, prefix: str) -> Iterable[dict[str, Any]]:
        """Every metric alarm whose name starts with `prefix`. Composite alarms are not listed: they read the
        metric alarms, which are audited themselves."""
        paginator = self.client.get_paginator("describe_alarms")
        for page in paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"], MaxRecords=100):
            yield from page.get("MetricAlarms", [])

    def silent(self, metrics: Iterable[MetricRef], start: datetime, end: datetime) -> set[MetricRef]:
        """The metrics with no datapoint between `start` and `end`; a query CloudWatch could not answer is not
        counted as silent."""
        unique = list(dict.fromkeys(metrics))
        silent: set[MetricRef] = set()
        for offset in range(0, len(unique), MAX_QUERIES):
            batch = {f"m{i}": m for i, m in enumerate(unique[offset : offset + MAX_QUERIES])}
            seen: set[str] = set()
            unanswered: set[str] = set()
            kwargs: dict[str, Any] = {
                "MetricDataQueries": [m.query(i) for i, m in batch.items()],
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampDescending",
            }
            while True:
                page = self.client.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    if result.get("Values"):
                        seen.add(result["Id"])
                    if result.get("StatusCode") not in (None, "Complete", "PartialData"):
                        unanswered.add(result["Id"])
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
            silent.update(m for i, m in batch.items() if i not in seen and i not in unanswered)
        return silent

    def listed(self, metrics: Iterable[MetricRef], budget: ListingBudget | None = None) -> Listing:
        """Which of `metrics` ListMetrics lists (a datapoint in the last two weeks) and which it does not, each
        series asked once (the exact dimension set: ListMetrics also answers metrics with more dimensions). An AWS
        error stops the lookups and is returned, not raised: what GetMetricData found is still reported."""
        from botocore.exceptions import BotoCoreError, ClientError

        budget = budget or ListingBudget()
        by_series: dict[Any, list[MetricRef]] = {}
        for metric in metrics:
            by_series.setdefault(metric.series, []).append(metric)
        listed: set[MetricRef] = set()
        unlisted: set[MetricRef] = set()
        calls, settled, error = 0, 0, None
        for refs in by_series.values():
            if budget.spent(calls):
                break
            try:
                found, used = self._lists(refs[0], budget, calls)
            except (BotoCoreError, ClientError) as exc:
                code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
                error = code or type(exc).__name__
                break
            calls = used
            if found is None:
                continue
            (listed if found else unlisted).update(refs)
            settled += 1
        return Listing(
            listed=frozenset(listed),
            unlisted=frozenset(unlisted),
            unchecked=len(by_series) - settled,
            calls=calls,
            error=error,
        )

    def _lists(self, metric: MetricRef, budget: ListingBudget, calls: int) -> tuple[bool | None, int]:
        """(whether ListMetrics lists `metric`'s exact dimension set, or None when the budget ran out first; the
        calls made so far)."""
        kwargs: dict[str, Any] = {"Namespace": metric.namespace, "MetricName": metric.name}
        if metric.dimensions:
            kwargs["Dimensions"] = [{"Name": k, "Value": v} for k, v in metric.dimensions[:MAX_LIST_FILTERS]]
        if metric.account:  # a monitoring account's alarm on a source account's metric
            kwargs.update(IncludeLinkedAccounts=True, OwningAccount=metric.account)
        wanted = frozenset(metric.dimensions)
        for _ in range(budget.pages):
            if budget.spent(calls):
                return None, calls
            page = self.client.list_metrics(**kwargs)
            calls += 1
            for listed in page.get("Metrics") or []:
                if frozenset(_dimensions(listed.get("Dimensions"))) == wanted:
                    return True, calls
            token = page.get("NextToken")
            if not token:
                return False, calls
            kwargs["NextToken"] = token
        return None, calls  # more pages than the budget: not settled


# ---------------------------------------------------------------------------------------------------------------
# Findings


@dataclass(frozen=True, slots=True)
class Finding:
    alarm: str
    arn: str
    state: str
    since: datetime
    reason: str  # one line
    never_published: bool = False  # an input ListMetrics does not list: it never existed in the last two weeks


@dataclass(frozen=True, slots=True)
class Audit:
    alarms: int  # metric alarms listed
    names: frozenset[str]  # every alarm that exists now (a remembered one missing from here was deleted)
    findings: tuple[Finding, ...]
    listing: Listing = field(default_factory=Listing)  # what ListMetrics said of the silent metrics


def audit_alarms(
    cloudwatch: CloudWatchReader,
    *,
    prefix: str,
    dead_after: timedelta,
    now: datetime,
    sparse: frozenset[str] = SPARSE_NAMESPACES,
    budget: ListingBudget | None = None,
) -> Audit:
    """The dead alarms among those named `<prefix>...`: two passes over the alarms, one GetMetricData per 500
    metrics (per look-back window: an alarm reads at least two of its own periods), then one ListMetrics per silent
    metric within `budget`. Sparse namespaces are asked neither: a metric there is absent while nothing happens (a
    function not invoked, a failure count of a healthy pipeline), which ListMetrics cannot tell from a typo."""
    alarms = [alarm_info(raw, now) for raw in cloudwatch.alarms(prefix) if belongs(raw, prefix)]
    windows: dict[int, list[MetricRef]] = {}
    for alarm in alarms:
        for metric in alarm.metrics:
            if metric.namespace not in sparse:
                windows.setdefault(window_hours(dead_after, metric), []).append(metric)
    end = _next_hour(now)
    silent: set[MetricRef] = set()
    for hours, metrics in sorted(windows.items()):
        silent |= cloudwatch.silent(metrics, end - timedelta(hours=hours), end)
    listing = cloudwatch.listed(_silent_inputs(alarms, silent), budget) if silent else Listing()
    findings = [f for a in alarms if (f := judge(a, silent, dead_after, now, listing)) is not None]
    return Audit(alarms=len(alarms), names=frozenset(a.name for a in alarms), findings=tuple(findings), listing=listing)


def _silent_inputs(alarms: Iterable[AlarmInfo], silent: set[MetricRef]) -> list[MetricRef]:
    """The silent metrics in the order of the alarms (so a budget that runs out stops at a stable place)."""
    return [m for alarm in alarms for m in alarm.metrics if m in silent]


def window_hours(dead_after: timedelta, metric: MetricRef) -> int:
    """Whole hours to look back: `dead_after`, or two of the metric's periods when those are longer."""
    seconds = max(dead_after.total_seconds(), 2 * metric.period)
    return max(math.ceil(seconds / 3600), 1)


def _next_hour(now: datetime) -> datetime:
    floor = now.replace(minute=0, second=0, microsecond=0)
    return floor if floor == now else floor + timedelta(hours=1)


def judge(
    alarm: AlarmInfo, silent: set[MetricRef], dead_after: timedelta, now: datetime, listing: Listing | None = None
) -> Finding | None:
    """A finding with a one-line reason, or None when the alarm can fire. `listing` tells a silent input never
    published (not listed by ListMetrics) from one published lately and silent now."""
    listing = listing or Listing()
    # An alarm in ALARM because its metric stopped (missing data breaching, e.g. no ECS task running) works.
    quiet = [] if alarm.state == "ALARM" and alarm.missing_breaches else [m for m in alarm.metrics if m in silent]
    if any(m not in silent for m in alarm.metrics):  # metric math with an input that has data
        quiet = [m for m in quiet if not nonzero_only(m)]
    elif any(m in listing.listed and not nonzero_only(m) for m in quiet):
        # Nothing has data, but an input published every period (ALB RequestCount) was published lately: it is the
        # reason; the counts AWS publishes only when not zero are absent because nothing failed.
        quiet = [m for m in quiet if not nonzero_only(m)]
    age = now - alarm.since
    stuck = alarm.state == "INSUFFICIENT_DATA" and age >= dead_after
    if not stuck and not quiet:
        return None
    head = f"in {alarm.state or 'an unknown state'} for {format_age(age)}"
    never = [m for m in quiet if m in listing.unlisted]
    lately = [m for m in quiet if m not in listing.unlisted]
    parts = []
    if never:
        zero = " (AWS publishes it only when not zero)" if all(nonzero_only(m) for m in never) else ""
        parts.append(f"never published: CloudWatch lists no {_shown(never)} in {LISTED_DAYS} days{zero}")
    if lately:
        parts.append(f"no datapoints for {_shown(lately)} in {format_age(dead_after)}")
        units = sorted({m.unit for m in lately if m.unit and m in listing.listed})
        if units:  # listed, yet nothing in the alarm's unit: a unit the metric does not carry matches nothing
            parts.append(f"it is published: check the alarm's unit ({', '.join(units)})")
    if parts:
        reason = f"{head}: {'; '.join(parts)}"
    elif alarm.metrics and not all(m.namespace in SPARSE_NAMESPACES for m in alarm.metrics):
        reason = f"{head}: its metric has datapoints; check the alarm's statistic, period and unit"
    else:
        reason = head
    return Finding(alarm=alarm.name, arn=alarm.arn, state=alarm.state, since=alarm.since, reason=reason[:MAX_REASON],
                   never_published=bool(never))  # fmt: skip


def _shown(metrics: list[MetricRef]) -> str:
    more = f"; and {len(metrics) - 3} more" if len(metrics) > 3 else ""
    return "; ".join(m.describe() for m in metrics[:3]) + more


def format_age(age: timedelta) -> str:
    """`3 days`, `1 day`, `5 h`, `40 min`."""
    seconds = max(int(age.total_seconds()), 0)
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 86400:
        return "1 day" if seconds < 86400 + 3600 else f"{seconds // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


# ---------------------------------------------------------------------------------------------------------------
# Memory: which dead alarms were reported


@dataclass(frozen=True, slots=True)
class Remembered:
    alarm: str
    reason: str
    since: datetime
    reported_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


class AuditMemory(AwsClient):
    """`AUDIT_TABLE`: partition `alarm`; one item per reported dead alarm, deleted when it recovers, expiring by
    TTL (`expires_at`) after `REMEMBER_DAYS`. Small: as many items as alarms are dead."""

    service = "dynamodb"

    def __init__(self, table: str, client: Any = None) -> None:
        super().__init__(client)
        self.table = table

    def recall(self) -> dict[str, Remembered]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found = {}
        for item in items:
            remembered = Remembered(
                alarm=item["alarm"]["S"],
                reason=item.get("reason", {}).get("S", ""),
                since=_epoch(item.get("since", {}).get("N", "0")),
                reported_at=_epoch(item.get("reported_at", {}).get("N", "0")),
                expires_at=_epoch(item.get("expires_at", {}).get("N", "0")),
            )
            found[remembered.alarm] = remembered
        return found

    def write(self, remember: Iterable[Finding], forget: Iterable[str], now: datetime) -> None:
        expires = int((now + timedelta(days=REMEMBER_DAYS)).timestamp())
        requests: list[dict[str, Any]] = [
            {
                "PutRequest": {
                    "Item": {
                        "alarm": {"S": f.alarm},
                        "reason": {"S": f.reason},
                        "since": {"N": str(int(f.since.timestamp()))},
                        "reported_at": {"N": str(int(now.timestamp()))},
                        "expires_at": {"N": str(expires)},
                    }
                }
            }
            for f in remember
        ]
        requests += [{"DeleteRequest": {"Key": {"alarm": {"S": name}}}} for name in forget]
        for offset in range(0, len(requests), BATCH_WRITE):
            pending = {self.table: requests[offset : offset + BATCH_WRITE]}
            for attempt in range(6):
                left = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not left:
                    break
                pending = left
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise AuditError(f"DynamoDB left {len(pending.get(self.table, []))} writes unprocessed")


def _epoch(raw: str) -> datetime:
    return datetime.fromtimestamp(float(raw), UTC)


# ---------------------------------------------------------------------------------------------------------------
# What to say


@dataclass(frozen=True, slots=True)
class Report:
    new: tuple[Finding, ...]  # not reported yet (or last reported REMEMBER_DAYS ago)
    still: tuple[Finding, ...]  # reported before, still dead
    recovered: tuple[Remembered, ...]  # reported before, can fire again (or was deleted)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.recovered)


def plan_report(findings: Iterable[Finding], remembered: Mapping[str, Remembered], now: datetime) -> Report:
    new: list[Finding] = []
    still: list[Finding] = []
    dead: set[str] = set()
    for finding in findings:
        dead.add(finding.alarm)
        known = remembered.get(finding.alarm)
        (still if known is not None and not known.expired(now) else new).append(finding)
    recovered = [r for name, r in sorted(remembered.items()) if name not in dead]
    return Report(new=tuple(new), still=tuple(still), recovered=tuple(recovered))


def report_body(
    report: Report,
    *,
    environment: str,
    now: datetime,
    region: str | None = None,
    account: str | None = None,
    runbook_url: str | None = None,
    limit: int = MAX_SNS_BYTES,
) -> dict[str, Any]:
    """One Alertmanager webhook body: the environment's dead alarms as one group (so PagerDuty holds one incident,
    open while any is dead), new ones first, then the recovered, then those still dead; at most `MAX_LISTED` and
    `limit` bytes, the rest counted in `truncatedAlerts`. `status` is resolved only when none is dead."""
    from alertlib.normalise import fingerprint

    common = {"environment": environment, "severity": "warning"}
    if account:
        common["account"] = account
    if region:
        common["region"] = region
    meaning = MEANING.format(env=environment)

    def alert(name: str, status: str, reason: str, since: datetime) -> dict[str, Any]:
        labels = {"alertname": f"Dead alarm: {name}", **common}
        annotations = {"summary": reason, "description": meaning if status == "firing" else RECOVERED}
        if runbook_url:
            annotations["runbook_url"] = runbook_url
        return {
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": _iso(since),
            "endsAt": _iso(now) if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint(labels),
        }

    candidates = [alert(f.alarm, "firing", f.reason, f.since) for f in report.new]
    candidates += [alert(r.alarm, "resolved", "can fire again (or was deleted)", r.since) for r in report.recovered]
    candidates += [alert(f.alarm, "firing", f"still dead: {f.reason}", f.since) for f in report.still]
    firing = bool(report.new or report.still)
    dead = len(report.new) + len(report.still)
    summary = (
        f"{dead} alarm{'s' if dead != 1 else ''} in {environment} cannot fire ({len(report.new)} new)"
        if firing
        else f"every reported dead alarm in {environment} can fire again"
    )
    body: dict[str, Any] = {
        "version": "4",
        "status": "firing" if firing else "resolved",
        "receiver": RECEIVER,
        "groupKey": f'{{}}:{{alertname="DeadAlarm",environment="{environment}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {},
        "commonLabels": common,
        "commonAnnotations": {"summary": summary, **({"runbook_url": runbook_url} if runbook_url else {})},
        "externalURL": "",
        "alerts": [],
    }
    size = len(_encode(body))
    for candidate in candidates[:MAX_LISTED]:
        encoded = len(_encode(candidate)) + 1
        if size + encoded > limit - 200:
            break
        body["alerts"].append(candidate)
        size += encoded
    listed = body["alerts"]
    body["truncatedAlerts"] = len(candidates) - len(listed)
    only = listed[0]["labels"]["alertname"] if len(candidates) == 1 else f"Dead alarms in {environment}"
    body["groupLabels"] = {"alertname": only}
    return body


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------------------------------
# A run


@dataclass
class AuditOutcome:
    alarms: int = 0
    dead: int = 0
    reported: int = 0  # newly reported this run
    recovered: int = 0
    published: str | None = None  # the SNS message id
    findings: list[str] = field(default_factory=list)
    never_published: int = 0  # dead alarms with an input ListMetrics does not list
    unlisted_unchecked: int = 0  # silent metrics not looked up (budget spent, or ListMetrics failed)
    listing_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "alarms": self.alarms,
            "dead": self.dead,
            "reported": self.reported,
            "recovered": self.recovered,
            "published": self.published,
            "never_published": self.never_published,
            "unlisted_unchecked": self.unlisted_unchecked,
            "listing_error": self.listing_error,
        }


@dataclass
class Auditor:
    settings: AuditSettings
    cloudwatch: CloudWatchReader
    memory: AuditMemory
    publish: Callable[[str, str, str, Mapping[str, str]], str]  # (topic ARN, message, subject, attributes) -> id

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Auditor:
        from alertlib.endpoint import SnsPublisher

        settings = AuditSettings.from_env(env)
        return cls(settings, CloudWatchReader(), AuditMemory(settings.table), SnsPublisher())

    def run(self, now: datetime, seconds_left: Callable[[], float] | None = None) -> AuditOutcome:
        """One audit. `seconds_left`: the invocation's remaining time; ListMetrics stops `LIST_RESERVE_SECONDS`
        before it ends, so the table, the publish and the write still fit."""
        from botocore.exceptions import BotoCoreError, ClientError

        settings = self.settings
        budget = ListingBudget(
            seconds_left=(lambda: seconds_left() - LIST_RESERVE_SECONDS) if seconds_left is not None else None
        )
        step = "DescribeAlarms/GetMetricData"
        try:
            audit = audit_alarms(
                self.cloudwatch, prefix=settings.alarm_prefix, dead_after=settings.dead_after, now=now, budget=budget
            )
            step = "Scan of the audit table"
            report = plan_report(audit.findings, self.memory.recall(), now)
            outcome = AuditOutcome(
                alarms=audit.alarms,
                dead=len(audit.findings),
                reported=len(report.new),
                recovered=len(report.recovered),
                findings=[f"{f.alarm}: {f.reason}" for f in audit.findings],
                never_published=sum(f.never_published for f in audit.findings),
                unlisted_unchecked=audit.listing.unchecked,
                listing_error=audit.listing.error,
            )
            if not report.changed:
                return outcome
            step = "Publish"
            arn = settings.topic_arn.split(":")
            body = report_body(
                report,
                environment=settings.environment,
                now=now,
                region=arn[3] if len(arn) > 5 else None,
                account=arn[4] if len(arn) > 5 else None,
                runbook_url=settings.runbook_url,
            )
            subject = f"Dead alarms in {settings.environment}"[:100]
            outcome.published = self.publish(settings.topic_arn, _encode(body).decode(), subject, {})
            step = "BatchWriteItem to the audit table"
            self.memory.write(report.new, [r.alarm for r in report.recovered], now)
        except (BotoCoreError, ClientError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
            raise AuditError(f"{step} failed: {type(exc).__name__} {code}".strip()) from exc
        return outcome
