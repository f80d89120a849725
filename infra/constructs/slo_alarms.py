"""SLO burn-rate alarms on CloudWatch: per SLO and window pair, one metric-math alarm per window on the error ratio and
one composite alarm `ALARM(long) AND ALARM(short)`, the only one that notifies (page: the `slo` topic; ticket: the
`warning` topic), with alarm and OK actions so that every page resolves.

The windows, thresholds and the machine-readable line come from `infra/slo.py` (the ONE window table, shared with the
Prometheus rules); this module only says how CloudWatch realises a window (`realise`) and builds the resources.

A window of W minutes is one period of W minutes, evaluated once (`Period = 60 W`, `EvaluationPeriods = 1`): the
error ratio over the last W minutes, as `bad / total` with each metric summed over that period. CloudWatch accepts
`Period x EvaluationPeriods` up to 1 day when the period is under an hour and up to 7 days otherwise, so every window
up to 7 days fits in one period (a 3-day window is one period of 259,200 s). Written as L1, like the catalogue's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.slo import ACTION_TOPIC, BurnWindow, SloDefinition, alarm_description

MAX_DESCRIPTION = 1024
DAY = 86_400
WEEK = 7 * DAY
# What one alarm costs a month (us-east-1, CloudWatch pricing page, read 2026-12-03): a standard-resolution alarm is
# charged per metric it reads (a metric-math alarm: each metric of the expression), a composite alarm per alarm.
PRICE_PER_ALARM_METRIC = 0.10
PRICE_PER_COMPOSITE = 0.50


@dataclass(frozen=True, slots=True)
class Realisation:
    """How CloudWatch evaluates a window of `minutes`: one period of `period` seconds, `evaluation_periods` of them."""

    minutes: int
    period: int
    evaluation_periods: int

    @property
    def seconds(self) -> int:
        return self.period * self.evaluation_periods


def realise(minutes: int) -> Realisation:
    """A window as one period of its own length, within CloudWatch's limits (ValueError outside them)."""
    period = minutes * 60
    limit = DAY if period < 3600 else WEEK
    if minutes < 1 or period > limit:
        raise ValueError(
            f"a window of {minutes} minutes cannot be one CloudWatch period: Period x EvaluationPeriods is at most "
            f"{limit // DAY} day(s) for a period of {period} s"
        )
    return Realisation(minutes=minutes, period=period, evaluation_periods=1)


@dataclass(frozen=True, slots=True)
class WindowAlarm:
    """One window of one pair of one SLO: the alarm's name, threshold and realisation."""

    slo: SloDefinition
    pair: BurnWindow
    which: str  # "long" | "short"
    name: str

    @property
    def minutes(self) -> int:
        return self.pair.long_minutes if self.which == "long" else self.pair.short_minutes

    @property
    def span(self) -> str:
        return self.pair.long if self.which == "long" else self.pair.short

    @property
    def realisation(self) -> Realisation:
        return realise(self.minutes)

    @property
    def threshold(self) -> float:
        """The error ratio the alarm compares with (>=): `infra.slo.alarm_threshold`, a hair under the exact one."""
        return self.slo.alarm_threshold(self.pair)


@dataclass(frozen=True, slots=True)
class PairAlarms:
    """A window pair of an SLO: its two window alarms and the composite that notifies."""

    slo: SloDefinition
    pair: BurnWindow
    long: WindowAlarm
    short: WindowAlarm
    composite: str  # its name
    topic: str  # the topic key its actions go to

    @property
    def rule(self) -> str:
        return f'ALARM("{self.long.name}") AND ALARM("{self.short.name}")'


def slo_prefix(env_name: str, slo: SloDefinition) -> str:
    return f"{env_name}-slo-{slo.name}"


def plan_pairs(env_name: str, slo: SloDefinition) -> list[PairAlarms]:
    """Every pair of an SLO: `<env>-slo-<name>-<long>-<short>-{page|ticket}` and its windows `…-over-<long|short>`."""
    pairs = []
    for pair in slo.alert_windows:
        base = f"{slo_prefix(env_name, slo)}-{pair.key}"
        pairs.append(
            PairAlarms(
                slo=slo,
                pair=pair,
                long=WindowAlarm(slo, pair, "long", f"{base}-over-{pair.long}"),
                short=WindowAlarm(slo, pair, "short", f"{base}-over-{pair.short}"),
                composite=f"{base}-{pair.action}",
                topic=ACTION_TOPIC[pair.action],
            )
        )
    return pairs


def monthly_cost(slo: SloDefinition) -> float:
    """What an SLO's alarms cost a month: each window alarm per metric it reads, each composite."""
    metrics = len(slo.cloudwatch_error_ratio().metrics)
    windows = 2 * len(slo.alert_windows)
    return round(windows * metrics * PRICE_PER_ALARM_METRIC + len(slo.alert_windows) * PRICE_PER_COMPOSITE, 2)


def ratio_expression(slo: SloDefinition, prefix: str = "") -> str:
    """`bad / total` with every metric's missing periods as 0 (CloudWatch publishes some counts, such as ALB's
    `HTTPCode_Target_5XX_Count`, only when not zero); no traffic is a ratio of 0 (no request failed), but errors
    without a total are a ratio of 1: ALB's RequestCount counts only requests a target was chosen for, so in a
    total outage (an empty target group) it stays 0 while the load balancer answers every request with a 5xx."""
    math = slo.cloudwatch_error_ratio()
    # `prefix`: the dashboard's ids, unique within a widget; the alarms use the ids as they are
    filled = {metric_id: f"FILL({prefix}{metric_id}, 0)" for metric_id in math.metrics}

    def fill(expression: str) -> str:
        return re.sub(r"\b[a-z][a-zA-Z0-9_]*\b", lambda m: filled.get(m.group(0), m.group(0)), expression)

    total = fill(math.total)
    bad = fill(math.bad)
    return f"IF(({total}) > 0, ({bad}) / ({total}), IF(({bad}) > 0, 1, 0))"


def describe(text: str, slo: SloDefinition, pair: BurnWindow, *, runbook: str, dashboard: str | None) -> str:
    """Human text first, then the machine-readable SLO line and the links, cut so the lines always fit."""
    lines = [slo.description_line(pair), f"runbook: {runbook}"]
    if dashboard:
        lines.append(f"dashboard: {dashboard}")
    tail = "\n" + "\n".join(lines)
    return text[: MAX_DESCRIPTION - len(tail)] + tail


class SloAlarms(Construct):
    """Every SLO of an environment: 2 window alarms and 1 composite per window pair."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        slos: list[SloDefinition],
        topic_arns: dict[str, str],
        dashboard_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.window_alarms: list[cloudwatch.CfnAlarm] = []
        self.composites: list[cloudwatch.CfnCompositeAlarm] = []
        for slo in slos:
            expression = ratio_expression(slo)
            math = slo.cloudwatch_error_ratio()
            dashboard = slo.dashboard_url or dashboard_url
            for pair in plan_pairs(env_name, slo):
                children = []
                for window in (pair.long, pair.short):
                    realisation = window.realisation
                    text = (
                        f"SLO {slo.name} ({slo.service}, team {slo.team}): the error ratio over {window.span} is at "
                        f"least {slo.threshold(pair.pair):g} ({pair.pair.burn_rate:g}x the error budget of "
                        f"{slo.objective:g}% over {slo.period_days}d). One window of the {pair.pair.label} pair: it "
                        f"notifies nobody; {pair.composite} does when both windows are in ALARM."
                    )
                    queries = [
                        cloudwatch.CfnAlarm.MetricDataQueryProperty(
                            id="ratio",
                            expression=expression,
                            label=f"error ratio over {window.span}",
                            return_data=True,
                        )
                    ]
                    for metric_id, stat in math.metrics.items():
                        queries.append(
                            cloudwatch.CfnAlarm.MetricDataQueryProperty(
                                id=metric_id,
                                return_data=False,
                                metric_stat=cloudwatch.CfnAlarm.MetricStatProperty(
                                    metric=cloudwatch.CfnAlarm.MetricProperty(
                                        namespace=stat.namespace,
                                        metric_name=stat.metric,
                                        dimensions=[
                                            cloudwatch.CfnAlarm.DimensionProperty(name=k, value=v)
                                            for k, v in sorted(stat.dimensions.items())
                                        ],
                                    ),
                                    period=realisation.period,
                                    stat=stat.statistic,
                                ),
                            )
                        )
                    alarm = cloudwatch.CfnAlarm(
                        self,
                        window.name,
                        alarm_name=window.name,
                        alarm_description=describe(text, slo, pair.pair, runbook=slo.runbook_url, dashboard=dashboard),
                        metrics=queries,
                        evaluation_periods=realisation.evaluation_periods,
                        datapoints_to_alarm=realisation.evaluation_periods,
                        threshold=window.threshold,
                        comparison_operator="GreaterThanOrEqualToThreshold",
                        treat_missing_data="notBreaching",
                        actions_enabled=False,  # only the composite notifies
                    )
                    self.window_alarms.append(alarm)
                    children.append(alarm)
                action = topic_arns[pair.topic]
                linked = slo if slo.dashboard_url else slo.model_copy(update={"dashboard_url": dashboard_url})
                composite = cloudwatch.CfnCompositeAlarm(
                    self,
                    pair.composite,
                    alarm_name=pair.composite,
                    alarm_rule=pair.rule,
                    alarm_description=alarm_description(linked, pair.pair),
                    actions_enabled=True,
                    alarm_actions=[action],
                    ok_actions=[action],
                )
                for child in children:
                    composite.node.add_dependency(child)
                self.composites.append(composite)
