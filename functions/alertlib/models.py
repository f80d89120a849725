"""The one normal form every source becomes: frozen, typed, free of source-specific shapes."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alertlib.units import describe_condition


class Status(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    INSUFFICIENT_DATA = "insufficient_data"


class Severity(enum.StrEnum):
    """PagerDuty's four severities; every other spelling is mapped onto these (see `severity.py`)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


class Source(enum.StrEnum):
    CLOUDWATCH = "cloudwatch"  # CloudWatch's own SNS notification
    EVENTBRIDGE = "eventbridge"  # "CloudWatch Alarm State Change" event (through SNS or not)
    CLOUDWATCH_LAMBDA = "cloudwatch-lambda"  # CloudWatch invoking a Lambda directly as an alarm action
    ALERTMANAGER = "alertmanager"


class LinkKind(enum.StrEnum):
    RUNBOOK = "runbook"
    DASHBOARD = "dashboard"
    CONSOLE = "console"
    GENERATOR = "generator"
    SILENCE = "silence"
    ALERTMANAGER = "alertmanager"  # the group's alerts in Alertmanager's own page


@dataclass(frozen=True, slots=True)
class Link:
    kind: LinkKind
    url: str
    text: str


@dataclass(frozen=True, slots=True)
class Metric:
    """What the alarm watches. Every field is optional: metric math and composites know less."""

    namespace: str | None = None
    name: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str | None = None
    period: int | None = None
    threshold: float | None = None
    comparison: str | None = None
    expression: str | None = None
    unit: str | None = None
    evaluation_periods: int | None = None
    datapoints_to_alarm: int | None = None
    treat_missing_data: str | None = None
    value: float | None = None  # the value seen, from the reason (the newest datapoint)
    band: tuple[float | None, float | None] | None = None  # an anomaly band seen: (lower, upper), from the reason
    inputs: tuple[str, ...] = ()  # metric math: each metric the expression reads, `m1: AWS/EC2 NetworkOut ...`

    def describe(self) -> str:
        """`AWS/RDS CPUUtilization (DBInstanceIdentifier=db-1) Average/60s`; metric math: the expression and every
        metric it reads, `m1+m2 (Errors) from m1: AWS/Lambda Errors (FunctionName=a) Sum/60s; m2: ...`."""
        if self.expression and self.inputs:
            return f"{self.expression} from " + "; ".join(self.inputs)
        parts: list[str] = []
        if self.namespace or self.name:
            parts.append(" ".join(p for p in (self.namespace, self.name) if p))
        if self.dimensions:
            parts.append("(" + ", ".join(f"{k}={v}" for k, v in self.dimensions) + ")")
        if self.expression:
            parts.append(f"expression {self.expression}")
        if self.statistic or self.period:
            stat = self.statistic or ""
            period = f"{self.period}s" if self.period else ""
            parts.append("/".join(p for p in (stat, period) if p))
        return " ".join(parts)

    def describe_threshold(self) -> str:
        """The condition in words, `above 90 % for 5 of 5 periods of 1 min` (see `units.describe_condition`)."""
        return describe_condition(self)


@dataclass(frozen=True, slots=True)
class Slo:
    """What an SLO burn-rate alert says about its objective (recognised by `slo.py`, rendered by both renderers)."""

    name: str
    objective: float | None = None  # percent, e.g. 99.9
    window: str | None = None  # the long and short window, e.g. "1h/5m"
    burn_rate: float | None = None  # the burn rate the window alerts at, e.g. 14.4
    observed_burn_rate: float | None = None  # the burn rate seen, when the source says it
    budget_left: float | None = None  # percent of the period's error budget remaining, when known
    action: str | None = None  # "page" or "ticket"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alarm or one Alertmanager alert, whatever it came from."""

    id: str  # stable: the same for the ALARM and the OK of one alarm, the firing and resolved of one alert
    source: Source
    status: Status
    severity: Severity
    title: str  # the alarm name or alertname
    summary: str  # one line: what broke, where
    description: str = ""
    reason: str = ""  # CloudWatch NewStateReason; empty for Alertmanager
    account: str | None = None
    region: str | None = None
    partition: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None  # only when resolved
    metric: Metric | None = None
    arn: str | None = None
    drill: bool = False  # the state was set by a drill (the reason starts with DRILL)
    previous: Status | None = None  # CloudWatch's previous state, when the source says it
    suppressed_by: str | None = None  # composite alarm: the name of the alarm suppressing its actions
    suppression: str | None = None  # composite alarm: ActionsSuppressedBy (ALARM, WaitPeriod, ExtensionPeriod)
    slo: Slo | None = None  # an SLO burn-rate alert: which SLO and window
    account_name: str | None = None  # the account's alias (`ACCOUNT_ALIASES`), shown instead of its number

    def link(self, kind: LinkKind) -> Link | None:
        return next((link for link in self.links if link.kind is kind), None)


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """What one incoming message becomes: a CloudWatch alarm is a group of one, an Alertmanager group is itself."""

    key: str  # stable group id: the alarm ARN, the Alertmanager groupKey (or receiver + group labels)
    dedup_key: str  # PagerDuty dedup key of the whole group (at most 255 characters)
    source: Source
    status: Status  # firing while any alert fires; resolved when all are; insufficient_data for CloudWatch
    severity: Severity  # the highest of its alerts
    title: str
    alerts: tuple[Alert, ...]
    message_id: str
    receiver: str | None = None
    group_labels: Mapping[str, str] = field(default_factory=dict)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    external_url: str | None = None
    truncated_alerts: int = 0
    links: tuple[Link, ...] = ()  # group-wide links, e.g. the Alertmanager silence page
    environment: str | None = None  # the forwarder's environment (the config's name), for messages to name

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status is not Status.RESOLVED)

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status is Status.RESOLVED)

    @property
    def drill(self) -> bool:
        return any(a.drill for a in self.alerts)

    def link(self, kind: LinkKind) -> Link | None:
        own = next((link for link in self.links if link.kind is kind), None)
        if own is not None:
            return own
        return next((found for a in self.alerts if (found := a.link(kind)) is not None), None)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and datetimes as plain JSON values (for `tools.preview` and logs)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    return value
