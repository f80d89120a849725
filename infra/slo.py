"""SLOs: their definition in `config/<env>.json` (`slos`), the ONE burn-rate window table, the math both sides share.

Everything that alerts on an SLO is derived from here: the CloudWatch alarms and composites (infra/constructs) and the
Prometheus rule file (`python -m tools.slo_rules`). A change to the table changes both; `tests/unit/test_slo*.py`
prove they agree and that the table behaves as the issue asks (`evaluate`, a pure per-minute model of the alerts).

Terms:
- error ratio: bad events / total events over a window (0..1);
- error budget: 1 - objective/100 (0.001 for 99.9 %);
- burn rate: error ratio / error budget (1 spends the budget in exactly one period);
- a window pair alerts when the error ratio over BOTH its long and its short window is at least
  `burn_rate x error budget` (`threshold`): the long window says the burn is real, the short that it still goes on.

The machine-readable line (`description_line`) goes into every SLO alarm's description; the forwarders read it back
with `functions/alertlib/slo.py` (the Lambda asset cannot import `infra/`; a test pins writer and parser together).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Action = Literal["page", "ticket"]
# Where each action goes: the forwarders' topic (CloudWatch) and the `severity` label (Prometheus, routed by
# examples/alertmanager.yml: critical -> the pager receiver, warning -> the warnings receiver).
ACTION_TOPIC: dict[str, str] = {"page": "slo", "ticket": "warning"}
ACTION_SEVERITY: dict[str, str] = {"page": "critical", "ticket": "warning"}
MAX_WINDOW_MINUTES = 7 * 24 * 60  # CloudWatch: Period x EvaluationPeriods <= 7 days (604,800 s)
_UNITS = {"m": 1, "h": 60, "d": 1440}
_DURATION = re.compile(r"^([1-9][0-9]{0,4})([mhd])$")
_SLO_NAME = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
_METRIC_ID = r"^[a-z][a-zA-Z0-9_]{0,30}$"  # CloudWatch metric math ids start lower-case; functions are upper-case
_STATISTIC = re.compile(
    r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM"
    r"|(p|tm|wm|tc|ts|pr)\d{1,2}(\.\d{1,10})?"
    r"|(TM|WM|TC|TS|PR)\((\d+(\.\d+)?%?)?:(\d+(\.\d+)?%?)?\))$"
)
WINDOW_PLACEHOLDER = "{{window}}"  # in PromQL: where the range goes (`rate(x[{{window}}])`)


def minutes(duration: str) -> int:
    """`5m` -> 5, `1h` -> 60, `3d` -> 4320 (ValueError otherwise)."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"{duration!r} is not a duration: a whole number of m, h or d (5m, 1h, 3d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def duration(total_minutes: int) -> str:
    """The shortest spelling of a number of minutes that Prometheus and people both read: 1440 -> `1d`."""
    for unit, size in (("d", 1440), ("h", 60)):
        if total_minutes % size == 0:
            return f"{total_minutes // size}{unit}"
    return f"{total_minutes}m"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BurnWindow(_Model):
    """One row of the window table: alert (`page` or `ticket`) when the error ratio over both `long` and `short`
    reaches `burn_rate` x the error budget."""

    action: Action  # page: the SLO topic (PagerDuty); ticket: the warning topic
    long: str  # the long window, e.g. 1h (m, h or d; at most 7d)
    short: str  # the short window that confirms the burn still goes on, e.g. 5m (about 1/12 of long)
    burn_rate: float = Field(gt=0, le=1000)  # alert at this many times the rate that spends the budget in one period

    @field_validator("long", "short")
    @classmethod
    def _duration(cls, value: str) -> str:
        total = minutes(value)
        if total > MAX_WINDOW_MINUTES:
            raise ValueError(f"{value!r} is longer than 7 days, the longest window a CloudWatch alarm evaluates")
        return duration(total)

    @model_validator(mode="after")
    def _short_inside_long(self) -> BurnWindow:
        if self.short_minutes >= self.long_minutes:
            raise ValueError(f"short: {self.short} must be shorter than long ({self.long})")
        return self

    @property
    def long_minutes(self) -> int:
        return minutes(self.long)

    @property
    def short_minutes(self) -> int:
        return minutes(self.short)

    @property
    def label(self) -> str:
        """`1h/5m`: how alarms, rules and messages name the pair."""
        return f"{self.long}/{self.short}"

    @property
    def key(self) -> str:
        """`1h-5m`: the pair in names that take no slash (alarm names, construct ids)."""
        return f"{self.long}-{self.short}"

    def budget_consumed(self, period_days: int) -> float:
        """The share of the period's budget spent when the long window alerts (14.4 x 1h / 30d = 2 %)."""
        return self.burn_rate * self.long_minutes / (period_days * 1440)


# THE window table (Google SRE Workbook ch. 5, Table 5-8; the 1d/2h/3x row is Sloth's "ticket quick" window).
WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(action="page", long="1h", short="5m", burn_rate=14.4),
    BurnWindow(action="page", long="6h", short="30m", burn_rate=6),
    BurnWindow(action="ticket", long="1d", short="2h", burn_rate=3),
    BurnWindow(action="ticket", long="3d", short="6h", burn_rate=1),
)


class MetricStat(_Model):
    """One CloudWatch metric and the statistic taken of it per period (`Sum` for counts)."""

    namespace: str = Field(min_length=1, max_length=255, pattern=r"^[^:\s][^:]*$")
    metric: str = Field(min_length=1, max_length=255)
    dimensions: dict[Annotated[str, Field(min_length=1, max_length=255)], Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict, max_length=30
    )
    statistic: str = "Sum"  # CloudWatch statistic per period: Sum for counts

    @field_validator("statistic")
    @classmethod
    def _statistic(cls, value: str) -> str:
        if not _STATISTIC.match(value):
            raise ValueError(f"{value!r} is not a CloudWatch statistic (Sum, SampleCount, p99, TC(:0.3), …)")
        return value


class EventCount(_Model):
    """A count of events per period: one metric (`namespace`, `metric`, `dimensions`, `statistic`), or metric math
    (`expression` over named `metrics`, e.g. `"m1 + m2"`)."""

    namespace: str | None = None
    metric: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    statistic: str | None = None
    expression: str | None = Field(default=None, min_length=1, max_length=1024)  # metric math over `metrics` ids
    metrics: dict[Annotated[str, Field(pattern=_METRIC_ID)], MetricStat] = Field(  # by id (lower-case first)
        default_factory=dict, max_length=10
    )

    @model_validator(mode="after")
    def _one_form(self) -> EventCount:
        single = self.namespace is not None or self.metric is not None
        if self.expression is None:
            if self.metrics:
                raise ValueError('metrics: needs an expression over them (e.g. "m1 + m2")')
            if not single:
                raise ValueError(
                    "give a metric (namespace, metric, dimensions, statistic) or an expression and metrics"
                )
            MetricStat(
                namespace=self.namespace or "",
                metric=self.metric or "",
                dimensions=self.dimensions,
                statistic=self.statistic or "Sum",
            )  # validated as one metric; raises with the field's reason
            return self
        if single or self.dimensions or self.statistic is not None:
            raise ValueError("expression: either one metric or an expression over metrics, not both")
        if not self.metrics:
            raise ValueError('expression: name its metrics ("metrics": {"m1": {...}})')
        used = set(re.findall(r"\b[a-z][a-zA-Z0-9_]*\b", self.expression))
        unknown = sorted(used - set(self.metrics))
        if unknown:
            raise ValueError(f"expression: {', '.join(unknown)} not among its metrics ({', '.join(self.metrics)})")
        unused = sorted(set(self.metrics) - used)
        if unused:
            raise ValueError(f"metrics: {', '.join(unused)} not used by the expression")
        return self

    def stats(self) -> dict[str, MetricStat]:
        """The metrics by id (`value` for a single metric)."""
        if self.expression is None:
            one = MetricStat(
                namespace=self.namespace or "",
                metric=self.metric or "",
                dimensions=self.dimensions,
                statistic=self.statistic or "Sum",
            )
            return {"value": one}
        return dict(self.metrics)

    def expression_with(self, prefix: str) -> str:
        """The count as metric math over ids prefixed with `prefix_` (so bad's m1 and total's m1 differ)."""
        if self.expression is None:
            return f"{prefix}_value"
        return re.sub(r"\b([a-z][a-zA-Z0-9_]*)\b", lambda m: f"{prefix}_{m.group(1)}", self.expression)


class LatencySli(_Model):
    """Requests at or under `threshold` (in the metric's unit: seconds for ALB `TargetResponseTime`) are good:
    good = the trimmed count `TC(:threshold)`, total = `SampleCount` of the same metric. A `p99 <= 300 ms` target
    is this SLI with objective 99 and threshold 0.3."""

    namespace: str = Field(min_length=1, max_length=255, pattern=r"^[^:\s][^:]*$")
    metric: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=30)
    threshold: float = Field(gt=0)  # a request at or under this (the metric's unit) is good


class CloudWatchSli(_Model):
    """The SLI in CloudWatch: `bad` or `good` events, and `total` events; or `latency`."""

    good: EventCount | None = None  # good events (or bad)
    bad: EventCount | None = None  # bad events (or good)
    total: EventCount | None = None  # all events
    latency: LatencySli | None = None  # or a latency SLI alone

    @model_validator(mode="after")
    def _one_form(self) -> CloudWatchSli:
        if self.latency is not None:
            if self.good or self.bad or self.total:
                raise ValueError("latency: a latency SLI stands alone (no good, bad or total)")
            return self
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of good and bad (with total), or latency")
        if self.total is None:
            raise ValueError("total: required with good or bad")
        return self


class PromqlSli(_Model):
    """The same SLI in PromQL: `bad` or `good`, and `total`, each with `{{window}}` where the range goes, e.g.
    `sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{window}}]))`."""

    good: str | None = Field(default=None, min_length=1, max_length=2000)  # rate of good events, or bad
    bad: str | None = Field(default=None, min_length=1, max_length=2000)  # rate of bad events, or good
    total: str = Field(min_length=1, max_length=2000)  # rate of all events

    @model_validator(mode="after")
    def _one_form(self) -> PromqlSli:
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of good and bad, with total")
        for name in ("good", "bad", "total"):
            text = getattr(self, name)
            if text is not None and WINDOW_PLACEHOLDER not in text:
                raise ValueError(f"{name}: must contain {WINDOW_PLACEHOLDER} where the range goes ([{{{{window}}}}])")
        return self

    def error_ratio(self, window: str) -> str:
        """The error ratio over `window` (`1h`) as one PromQL expression."""
        total = self.total.replace(WINDOW_PLACEHOLDER, window)
        if self.bad is not None:
            return f"({self.bad.replace(WINDOW_PLACEHOLDER, window)})\n/\n({total})"
        good = (self.good or "").replace(WINDOW_PLACEHOLDER, window)
        return f"1 - (\n({good})\n/\n({total})\n)"


class SloDefinition(_Model):
    """One SLO of an environment (`slos[]` in `config/<env>.json`)."""

    name: str = Field(pattern=_SLO_NAME)  # e.g. checkout-availability: in alarm names, rules and messages
    objective: float = Field(gt=0, lt=100)  # percent of good events, e.g. 99.9
    period_days: int = Field(default=30, ge=1, le=365)  # the compliance period the budget is counted over
    service: str = Field(min_length=1, max_length=100)  # the service the SLO is about (messages, labels)
    team: str = Field(min_length=1, max_length=100)  # who owns it (messages, labels)
    description: str | None = Field(default=None, max_length=500)  # what the SLI counts, for people
    runbook_url: str = Field(pattern=r"^https://\S+$", max_length=400)  # both fit an alarm description (1024)
    dashboard_url: str | None = Field(default=None, pattern=r"^https://\S+$", max_length=400)  # a button
    sli: CloudWatchSli  # the SLI as CloudWatch metrics: the alarms
    promql: PromqlSli | None = None  # the same SLI in PromQL: tools.slo_rules (without it, CloudWatch only)
    windows: list[BurnWindow] | None = Field(default=None, min_length=1, max_length=8)  # default: WINDOWS

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if Decimal(str(value)).as_tuple().exponent < -6:  # type: ignore[operator]
            raise ValueError("at most 6 decimals (99.999999)")
        return value

    @model_validator(mode="after")
    def _windows_can_fire(self) -> SloDefinition:
        labels = [w.label for w in self.alert_windows]
        if len(labels) != len(set(labels)):
            raise ValueError("windows: each long/short pair once")
        for index, window in enumerate(self.alert_windows):
            where = f"windows[{index}]" if self.windows is not None else f"default window {window.label}"
            if threshold(self.objective, window) > 1:
                raise ValueError(
                    f"{where}: burn rate {window.burn_rate:g} x error budget {100 - self.objective:g} % is an error "
                    "ratio above 100 %: the alert could never fire (lower the burn rate or the objective)"
                )
            if window.long_minutes > self.period_days * 1440:
                raise ValueError(f"{where}: long window {window.long} is longer than the period ({self.period_days}d)")
        return self

    @property
    def alert_windows(self) -> tuple[BurnWindow, ...]:
        """This SLO's window table: its own `windows`, else `WINDOWS`."""
        return tuple(self.windows) if self.windows is not None else WINDOWS

    @property
    def error_budget(self) -> float:
        """1 - objective, as a ratio (0.001 for 99.9)."""
        return float((Decimal(100) - Decimal(str(self.objective))) / 100)

    def threshold(self, window: BurnWindow) -> float:
        return threshold(self.objective, window)

    def alarm_threshold(self, window: BurnWindow) -> float:
        return alarm_threshold(self.objective, window)

    def description_line(self, window: BurnWindow) -> str:
        return description_line(self, window)

    def cloudwatch_error_ratio(self) -> ErrorRatioMath:
        return cloudwatch_error_ratio(self.sli)


def threshold(objective: float, window: BurnWindow) -> float:
    """The error ratio at which `window` alerts: burn rate x (1 - objective/100), computed in decimal so that
    14.4 x 0.1 % is 0.0144 exactly as written (a ratio that equals it alerts: both sides compare with >=)."""
    exact = Decimal(str(window.burn_rate)) * (Decimal(100) - Decimal(str(objective))) / Decimal(100)
    return float(exact)


# Alarms and rules compare the error ratio with `threshold - TOLERANCE`: a ratio computed in floating point that is
# the threshold in exact arithmetic can come out an ulp below it (Prometheus gives 0.005999999999999999 for a 6x
# burn over a full 6h window), and "a 6x burn pages within six hours" must not hang on rounding. 1e-12 is far below
# any error ratio that matters (a millionth of a 99.9999 % SLO's budget).
TOLERANCE = Decimal("1e-12")


def alarm_threshold(objective: float, window: BurnWindow) -> float:
    """The number CloudWatch alarms (`GreaterThanOrEqualToThreshold`) and Prometheus rules (`>=`) compare the error
    ratio with: `threshold` less `TOLERANCE` (0.006 -> 0.005999999999)."""
    exact = Decimal(str(window.burn_rate)) * (Decimal(100) - Decimal(str(objective))) / Decimal(100)
    return float(exact - TOLERANCE)


def plain_number(value: float) -> str:
    """The number exactly as written in the config, in plain notation: `99.99999`, `99`, `0.00005`, `2500000`
    (`:g` rounds to 6 digits and writes `5e-05`, which CloudWatch's `TC(:…)` and people misread)."""
    text = format(Decimal(repr(float(value))).normalize(), "f")
    return text.removesuffix(".0") if "." in text and text.endswith(".0") else text


def objective_text(objective: float) -> str:
    """`99.9`, `99`, `99.95`, `99.99999`: the objective as people write it."""
    return plain_number(objective)


def description_line(slo: SloDefinition, window: BurnWindow) -> str:
    """The machine-readable line of an SLO alarm's description, read back by `alertlib.slo.recognise`:
    `slo: name=checkout-availability objective=99.9 period=30d window=1h/5m burn=14.4 action=page`."""
    return (
        f"slo: name={slo.name} objective={objective_text(slo.objective)} period={slo.period_days}d "
        f"window={window.label} burn={window.burn_rate:g} action={window.action}"
    )


MAX_DESCRIPTION = 1024  # CloudWatch's AlarmDescription


def alarm_description(slo: SloDefinition, window: BurnWindow) -> str:
    """A whole SLO alarm description (at most 1024 characters): the machine line first (never cut), the runbook and
    dashboard as `runbook: <url>` / `dashboard: <url>` lines (which the forwarders turn into buttons), then what it
    means for people, cut to fit."""
    head = [description_line(slo, window), f"runbook: {slo.runbook_url}"]
    if slo.dashboard_url:
        head.append(f"dashboard: {slo.dashboard_url}")
    spent = window.budget_consumed(slo.period_days) * 100
    text = (
        f"{slo.service} ({slo.team}): {slo.name} ({objective_text(slo.objective)} % over {slo.period_days} days) "
        f"burns its error budget at {window.burn_rate:g}x or more over {window.long} and {window.short}: "
        f"{spent:.3g} % of the budget spent in {window.long} ({window.action})."
    )
    if slo.description:
        text += f" SLI: {slo.description}"
    fixed = "\n".join(head)
    room = MAX_DESCRIPTION - len(fixed) - 1
    if len(text) > room:
        text = text[: max(0, room - 1)] + "…"
    return f"{fixed}\n{text}" if room > 1 else fixed


@dataclass(frozen=True, slots=True)
class ErrorRatioMath:
    """The error ratio as CloudWatch metric math: `metrics` by id (each taken with period = the window), and the
    `expression` over them. `bad` and `total` are the two counts' own expressions (for a dashboard)."""

    metrics: Mapping[str, MetricStat]
    bad: str
    total: str

    @property
    def expression(self) -> str:
        return f"({self.bad}) / ({self.total})"


def cloudwatch_error_ratio(sli: CloudWatchSli) -> ErrorRatioMath:
    """`bad / total` over prefixed ids: `bad_value`, `total_m1`, `good_value` (good/total SLIs count bad as
    `total - good`); a latency SLI is `TC(:threshold)` of the metric (good) against its `SampleCount` (total)."""
    if sli.latency is not None:
        lat = sli.latency
        statistic = f"TC(:{plain_number(lat.threshold)})"
        good = MetricStat(namespace=lat.namespace, metric=lat.metric, dimensions=lat.dimensions, statistic=statistic)
        total = MetricStat(
            namespace=lat.namespace, metric=lat.metric, dimensions=lat.dimensions, statistic="SampleCount"
        )
        return ErrorRatioMath(
            metrics={"good_value": good, "total_value": total}, bad="total_value - good_value", total="total_value"
        )
    if sli.total is None:  # the model refuses it; kept for the type checker
        raise ValueError("total: required with good or bad")
    metrics: dict[str, MetricStat] = {f"total_{k}": v for k, v in sli.total.stats().items()}
    total_expr = sli.total.expression_with("total")
    if sli.bad is not None:
        metrics.update({f"bad_{k}": v for k, v in sli.bad.stats().items()})
        return ErrorRatioMath(metrics=metrics, bad=sli.bad.expression_with("bad"), total=total_expr)
    if sli.good is None:
        raise ValueError("give exactly one of good and bad")
    metrics.update({f"good_{k}": v for k, v in sli.good.stats().items()})
    return ErrorRatioMath(
        metrics=metrics, bad=f"({total_expr}) - ({sli.good.expression_with('good')})", total=total_expr
    )


# -- the pure model ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """At the end of minute `minute` (0-based index into the series) the pair `window` started or stopped alerting."""

    minute: int
    window: BurnWindow
    firing: bool


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What `evaluate` found: per window pair, the minutes (indexes) at whose end it was alerting."""

    firing: Mapping[str, tuple[int, ...]]  # by window label ("1h/5m")
    transitions: tuple[Transition, ...]

    def first(self, label: str, since: int = 0) -> int | None:
        """The first minute index >= `since` at whose end `label` alerts, or None."""
        return next((m for m in self.firing.get(label, ()) if m >= since), None)

    def actions(self, windows: Iterable[BurnWindow], since: int = 0) -> set[str]:
        """The actions (`page`, `ticket`) any of `windows` took at or after `since`."""
        return {w.action for w in windows if self.first(w.label, since) is not None}


def evaluate(objective: float, windows: Sequence[BurnWindow], series: Sequence[tuple[int, int]]) -> Evaluation:
    """Which window pairs alert, and when, given `(good, total)` events per minute.

    At the end of each minute, a window's error ratio is (total - good) / total summed over its last `W` minutes
    (fewer at the start of the series: what Prometheus' `rate` and CloudWatch see of a young metric); a minute
    without events adds nothing, and a window without events has no ratio (does not alert). A pair alerts when the
    ratio over both its windows is >= `alarm_threshold` (as alarms and rules compare), computed exactly in decimal.
    """
    bad_sum = [0]
    total_sum = [0]
    for good, total in series:
        if total < 0 or good < 0 or good > total:
            raise ValueError(f"a minute must have 0 <= good <= total, got good={good} total={total}")
        bad_sum.append(bad_sum[-1] + total - good)
        total_sum.append(total_sum[-1] + total)

    def over(end: int, span: int, limit: Decimal) -> bool:  # minutes (end - span, end] as indexes end-span+1..end
        start = max(0, end + 1 - span)
        bad = bad_sum[end + 1] - bad_sum[start]
        total = total_sum[end + 1] - total_sum[start]
        return total > 0 and Decimal(bad) >= limit * Decimal(total)

    firing: dict[str, tuple[int, ...]] = {}
    transitions: list[Transition] = []
    for window in windows:
        limit = Decimal(str(window.burn_rate)) * (Decimal(100) - Decimal(str(objective))) / Decimal(100) - TOLERANCE
        on: list[int] = []
        was = False
        for minute in range(len(series)):
            now = over(minute, window.long_minutes, limit) and over(minute, window.short_minutes, limit)
            if now:
                on.append(minute)
            if now != was:
                transitions.append(Transition(minute=minute, window=window, firing=now))
                was = now
        firing[window.label] = tuple(on)
    transitions.sort(key=lambda t: (t.minute, t.window.long_minutes))
    return Evaluation(firing=firing, transitions=tuple(transitions))


def burn(objective: float, burn_rate: float, minutes_: int, per_minute: int = 10_000) -> list[tuple[int, int]]:
    """`minutes_` minutes of traffic burning the budget at `burn_rate` (0 = clean): `per_minute` requests each,
    `burn_rate x (1 - objective)` of them bad (rounded to whole requests)."""
    bad = Decimal(str(burn_rate)) * (Decimal(100) - Decimal(str(objective))) / Decimal(100) * per_minute
    count = min(per_minute, int(bad.to_integral_value()))
    return [(per_minute - count, per_minute)] * minutes_


def as_dict(slo: SloDefinition) -> dict[str, Any]:
    """The definition as plain JSON (for tools)."""
    return slo.model_dump(mode="json", exclude_none=True)
