"""Enrich a CloudWatch SLO alert with what its notification lacks: the burn rate seen and the error budget left.

A stage of its own between normalise and render (normalise has no I/O, render is pure): `enrich_slo` takes the
prepared `AlertGroup` and answers a new one whose CloudWatch SLO alerts (recognised by `slo.recognise`, firing or
resolved) have `Slo.observed_burn_rate` and `Slo.budget_left` filled; the renderers show them when present.
Prometheus alerts say both in their annotations and are left as they are.

How (names and math from infra/constructs/slo_alarms.py and infra/slo.py):
1. The long window's metric alarm of the composite `<env>-slo-<name>-<long>-<short>-<page|ticket>` is
   `<env>-slo-<name>-<long>-<short>-over-<long>` (`window_alarm_name`). One DescribeAlarms by that name (cached per
   container for `CACHE_SECONDS`) gives its `Metrics`: the SLI's metric queries and the error-ratio expression the
   alarm compares; its description's `slo:` line must name the same SLO and says the compliance period.
2. GetMetricData of those metrics over the long window, as one period of the window's length (as the alarm reads
   it): observed burn rate = error ratio / (1 - objective).
3. GetMetricData over the compliance period, as one period of its length (a multiple of an hour, so CloudWatch's
   period rules for old data hold; one datapoint per metric, far below 500 metrics and 100,800 datapoints):
   budget left = 1 - error ratio over the period / (1 - objective), in percent (negative when overspent).
The ratio is the alarm's own expression evaluated here over the metrics' sums (`evaluate`: numbers, metric ids,
`+ - * /`, comparisons, `FILL(x, n)`, `IF(c, a, b)`), the arithmetic the alarm does over its one period; moto does
not evaluate metric math, so the tests can check the numbers. An expression beyond that subset takes CloudWatch's
own value of it (the expression query is asked for too).

Bounded and harmless: the calls run in a worker thread that the caller waits for at most `QUERY_SECONDS` and never
past the invocation's `Deadline` less `DELIVERY_RESERVE`; the client has short time-outs and at most
`MAX_ATTEMPTS` attempts. `enrich_slo` never raises: a failure or a time-out leaves the fields empty, logs one line
and counts `SloQueryFailed`; an alert that is not a CloudWatch SLO alert makes no call. The IAM the calls need is
`slo_query_policy_statements`, kept beside them.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from alertlib.models import Alert, AlertGroup, Slo, Source, Status
from alertlib.slo import period_days, recognise

if TYPE_CHECKING:
    from alertlib.deliver import Deadline
    from alertlib.observability import Counters

logger = logging.getLogger(__name__)

SLO_QUERY_FAILED = "SloQueryFailed"
QUERY_SECONDS = 1.5  # the most a message waits for its SLO numbers
DELIVERY_RESERVE = 5.0  # seconds of the invocation kept for delivery: with less left, no query starts
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.0
MAX_ATTEMPTS = 2  # botocore's standard retry mode: one retry of a throttle or a 5xx, if the wait allows it
CACHE_SECONDS = 600.0  # a window alarm's definition is kept this long per container
MAX_CACHED = 128
MAX_QUERIES = 100  # of a window alarm's Metrics read (CloudWatch allows at most 20 metrics and expressions in all)
MAX_EXPRESSION = 2048  # characters of metric math evaluated (CloudWatch's limit on an expression)
MAX_DEPTH = 32  # expressions referring to expressions, evaluated
MAX_LEVELS = 400  # grammar levels of one expression (about 5 a parenthesis): far below Python's recursion limit
MAX_BURN_RATE = 1_000_000.0  # as `slo.recognise` bounds it
MAX_WINDOW_SECONDS = 7 * 86_400  # CloudWatch: the longest window an alarm evaluates
_CLOUDWATCH = (Source.CLOUDWATCH, Source.EVENTBRIDGE, Source.CLOUDWATCH_LAMBDA)
_SPAN = re.compile(r"^([1-9][0-9]{0,4})([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_OK_STATUS = (None, "Complete", "PartialData")


class UnsupportedExpressionError(ValueError):
    """Metric math beyond what `evaluate` knows (CloudWatch's own value of it is used instead)."""


class _Unavailable(Exception):  # noqa: N818 - internal: the one-line reason the numbers are missing
    """Why the numbers could not be had, in a few words (logged and counted, never raised out of this module)."""


@dataclass(frozen=True, slots=True)
class WindowAlarm:
    """What the long window's metric alarm says: its metric queries and expressions, the id it compares."""

    name: str
    metrics: tuple[Mapping[str, Any], ...]  # the MetricStat queries, as DescribeAlarms answers them
    expressions: Mapping[str, str]  # id -> metric math
    ratio: str  # the id of the query the alarm compares (its error ratio)
    period_days: int | None  # the compliance period, from its `slo:` line


@dataclass(frozen=True, slots=True)
class Reading:
    """The numbers read for one alert, and why any is missing."""

    burn_rate: float | None = None
    budget_left: float | None = None
    failure: str | None = None


# ---------------------------------------------------------------------------------------------------------------
# The stage


def enrich_slo(
    group: AlertGroup,
    queries: SloQueries | None,
    *,
    now: datetime,
    deadline: Deadline | None = None,
    counters: Counters | None = None,
    budget: float = QUERY_SECONDS,
) -> AlertGroup:
    """`group` with its CloudWatch SLO alerts' burn rate and budget left filled where CloudWatch could say them
    within `budget` seconds (and the deadline); `group` itself when no alert wants them. Never raises."""
    targets = [index for index, alert in enumerate(group.alerts) if wants_numbers(alert)]
    if not targets or queries is None:
        return group
    try:
        return _enrich(group, targets, queries, now=now, deadline=deadline, counters=counters, budget=budget)
    except Exception as exc:  # noqa: BLE001 - the page leaves whatever goes wrong here: without the numbers
        _failed(group.alerts[targets[0]], counters, f"failed ({type(exc).__name__})")
        return group


def _enrich(
    group: AlertGroup,
    targets: Sequence[int],
    queries: SloQueries,
    *,
    now: datetime,
    deadline: Deadline | None,
    counters: Counters | None,
    budget: float,
) -> AlertGroup:
    start = time.monotonic()
    wait = budget if deadline is None else min(budget, deadline.left() - DELIVERY_RESERVE)
    readings: dict[int, Reading] = {}
    if wait <= 0:
        readings = {index: Reading(failure="no time left") for index in targets}
    else:
        readings = _read_within(group, targets, queries, now=now, stop_at=start + wait)
    alerts = list(group.alerts)
    for index in targets:
        alert = alerts[index]
        reading = readings.get(index) or Reading(failure="timed out")
        if reading.failure is not None:
            _failed(alert, counters, reading.failure)
        if alert.slo is not None and (reading.burn_rate is not None or reading.budget_left is not None):
            slo = alert.slo
            alerts[index] = replace(
                alert,
                slo=replace(
                    slo,
                    observed_burn_rate=slo.observed_burn_rate if slo.observed_burn_rate is not None
                    else reading.burn_rate,
                    budget_left=slo.budget_left if slo.budget_left is not None else reading.budget_left,
                ),
            )  # fmt: skip
    return replace(group, alerts=tuple(alerts))


def wants_numbers(alert: Alert) -> bool:
    """A CloudWatch SLO alert (firing or resolved) that lacks its burn rate or budget left, with an objective."""
    slo = alert.slo
    return (
        alert.source in _CLOUDWATCH
        and slo is not None
        and slo.objective is not None
        and alert.status in (Status.FIRING, Status.RESOLVED)
        and (slo.observed_burn_rate is None or slo.budget_left is None)
    )


def _read_within(
    group: AlertGroup, targets: Sequence[int], queries: SloQueries, *, now: datetime, stop_at: float
) -> dict[int, Reading]:
    """Each target's reading, from a worker thread waited for until `stop_at` (monotonic); what is not read by then
    is missing. The clients are made here, in the caller's thread: boto3 makes clients safely in one thread only."""
    jobs: list[tuple[int, Alert, Any]] = []
    readings: dict[int, Reading] = {}
    for index in targets:
        alert = group.alerts[index]
        try:
            jobs.append((index, alert, queries.client(alert.region)))
        except Exception as exc:  # noqa: BLE001 - no client (no region, no credentials): only a missing number
            readings[index] = Reading(failure=f"no client ({type(exc).__name__})")
    if not jobs:
        return readings
    lock = threading.Lock()
    done = threading.Event()
    found: dict[int, Reading] = {}

    def keep(index: int, reading: Reading) -> None:
        with lock:
            found[index] = reading

    def work() -> None:
        try:
            for index, alert, client in jobs:
                keep(index, queries.read(alert, client, now=now, stop_at=stop_at, partial=_keep_for(keep, index)))
        finally:
            done.set()

    threading.Thread(target=work, name="slo-burn", daemon=True).start()
    done.wait(max(0.0, stop_at - time.monotonic()))
    with lock:
        readings.update(found)
    return readings


def _keep_for(keep: Callable[[int, Reading], None], index: int) -> Callable[[Reading], None]:
    """`keep` bound to one alert (a function, so the loop's index is not late-bound)."""
    return lambda reading: keep(index, reading)


def _failed(alert: Alert, counters: Counters | None, reason: str) -> None:
    logger.warning("slo numbers not read", extra={"reason": reason[:120], "alarm": alert.title[:200]})
    if counters is not None:
        counters.add(SLO_QUERY_FAILED, alert.source.value)


# ---------------------------------------------------------------------------------------------------------------
# CloudWatch


def slo_client(region: str | None = None) -> Any:
    """A CloudWatch client for SLO numbers: short time-outs, `MAX_ATTEMPTS` attempts (a page never waits on it)."""
    from botocore.config import Config

    from alertlib.aws import session

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    return session().client("cloudwatch", region_name=region, config=config)


class SloQueries:
    """The CloudWatch reads behind `enrich_slo`: one client per region (made on first use by `client_for`), the
    window alarms' definitions cached per container. `environment`: only alarms named `<environment>-slo-` are
    read (the IAM statements allow no other)."""

    def __init__(
        self,
        client_for: Callable[[str | None], Any] = slo_client,
        *,
        environment: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_for = client_for
        self.environment = environment
        self._clock = clock
        self._clients: dict[str | None, Any] = {}
        self._alarms: dict[tuple[str | None, str], tuple[float, WindowAlarm]] = {}
        self._lock = threading.Lock()

    def client(self, region: str | None) -> Any:
        if region not in self._clients:
            self._clients[region] = self._client_for(region)
        return self._clients[region]

    def read(
        self,
        alert: Alert,
        client: Any,
        *,
        now: datetime,
        stop_at: float,
        partial: Callable[[Reading], None] | None = None,
    ) -> Reading:
        """The burn rate over the long window and the budget left over the period, as far as time allows. The burn
        rate goes to `partial` as soon as it is known: a page that cannot wait for the budget still shows it."""
        from botocore.exceptions import BotoCoreError, ClientError

        burn: float | None = None
        try:
            slo, span = _slo_and_span(alert)
            name = window_alarm_name(alert.title, slo, self.environment)
            if name is None:
                raise _Unavailable("not named as an SLO alarm")
            alarm = self._window_alarm(client, alert.region, name, slo, stop_at)
            objective = slo.objective if slo.objective is not None else 0.0
            ratio = _ratio(client, alarm, now=now, seconds=span, stop_at=stop_at)
            burn = burn_rate(ratio, objective) if ratio is not None else None
            if partial is not None and burn is not None:
                partial(Reading(burn_rate=burn, failure="timed out"))
            if alarm.period_days is None:
                return Reading(burn_rate=burn, failure=None if burn is not None else "no data")
            period = _ratio(client, alarm, now=now, seconds=alarm.period_days * 86_400, stop_at=stop_at)
            left = budget_left(period, objective) if period is not None else None
            failure = None if burn is not None and left is not None else "no data"
            return Reading(burn_rate=burn, budget_left=left, failure=failure)
        except _Unavailable as exc:
            return Reading(burn_rate=burn, failure=str(exc))
        except ClientError as exc:
            return Reading(burn_rate=burn, failure=str(exc.response.get("Error", {}).get("Code") or "ClientError"))
        except (BotoCoreError, OSError, ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
            # a time-out, no credentials, an answer of an unexpected shape: only ever a missing number
            return Reading(burn_rate=burn, failure=type(exc).__name__)

    def _window_alarm(self, client: Any, region: str | None, name: str, slo: Slo, stop_at: float) -> WindowAlarm:
        key = (region, name)
        with self._lock:
            cached = self._alarms.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        _check_time(stop_at)
        answer = client.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])
        raw = next((a for a in answer.get("MetricAlarms") or [] if a.get("AlarmName") == name), None)
        if raw is None:
            raise _Unavailable("window alarm not found")
        alarm = window_alarm(raw, slo)
        with self._lock:
            if len(self._alarms) >= MAX_CACHED:
                self._alarms.clear()
            self._alarms[key] = (self._clock() + CACHE_SECONDS, alarm)
        return alarm


def window_alarm_name(composite: str, slo: Slo, environment: str | None = None) -> str | None:
    """The long window's metric alarm of an SLO composite (or the window alarm itself), by infra's convention:
    `dev-slo-checkout-availability-1h-5m-page` -> `dev-slo-checkout-availability-1h-5m-over-1h`; None when the name
    does not follow it (or is not of `environment`)."""
    if not slo.window or "/" not in slo.window:
        return None
    long, short = slo.window.split("/", 1)
    if environment is not None and not composite.startswith(f"{environment}-slo-"):
        return None
    if "-slo-" not in composite:
        return None
    base = f"-{long}-{short}"
    own = f"{base}-over-{long}"
    if composite.endswith(own):
        return composite
    if slo.action and composite.endswith(f"{base}-{slo.action}"):
        return composite.removesuffix(f"-{slo.action}") + f"-over-{long}"
    return None


def window_alarm(raw: Mapping[str, Any], slo: Slo) -> WindowAlarm:
    """The queries of a window alarm as DescribeAlarms answers it, checked to be of `slo`."""
    described = recognise(str(raw.get("AlarmDescription") or ""))
    if described is None or described.name != slo.name:
        raise _Unavailable("window alarm of another SLO")
    queries = raw.get("Metrics")
    if not isinstance(queries, list) or not queries or len(queries) > MAX_QUERIES:
        raise _Unavailable("window alarm without metric math")
    metrics = tuple(q for q in queries if isinstance(q, dict) and isinstance(q.get("MetricStat"), dict))
    expressions = {str(q["Id"]): str(q["Expression"]) for q in queries if isinstance(q, dict) and q.get("Expression")}
    returned = [str(q.get("Id")) for q in queries if isinstance(q, dict) and q.get("ReturnData", True)]
    if len(returned) != 1 or not metrics:
        raise _Unavailable("window alarm without one compared query")
    return WindowAlarm(
        name=str(raw.get("AlarmName")),
        metrics=metrics,
        expressions=expressions,
        ratio=returned[0],
        period_days=period_days(str(raw.get("AlarmDescription") or "")),
    )


def _slo_and_span(alert: Alert) -> tuple[Slo, int]:
    slo = alert.slo
    if slo is None or slo.objective is None or not slo.window:
        raise _Unavailable("no SLO objective or window")
    match = _SPAN.match(slo.window.split("/", 1)[0])
    if match is None:
        raise _Unavailable("window not understood")
    seconds = int(match.group(1)) * _SECONDS[match.group(2)]
    if seconds % 60 or seconds > MAX_WINDOW_SECONDS:
        raise _Unavailable("window not understood")
    return slo, seconds


def _check_time(stop_at: float) -> None:
    if time.monotonic() >= stop_at:
        raise _Unavailable("timed out")


def query_range(now: datetime, seconds: int) -> tuple[datetime, datetime]:
    """`(start, end)` of the last `seconds` before `now`, on the boundaries CloudWatch rounds a start to for its
    age (a minute under 15 days, 5 minutes under 63, an hour beyond), so that one period is one datapoint."""
    step = 60 if seconds < 15 * 86_400 else 300 if seconds < 63 * 86_400 else 3600
    epoch = int(now.astimezone(UTC).timestamp()) // step * step
    end = datetime.fromtimestamp(epoch, UTC)
    return end - timedelta(seconds=seconds), end


def metric_data_queries(alarm: WindowAlarm, period: int) -> list[dict[str, Any]]:
    """The alarm's metrics, each as one period of `period` seconds, and its expressions (CloudWatch's value of the
    compared one is returned too)."""
    queries: list[dict[str, Any]] = []
    for query in alarm.metrics:
        stat = dict(query["MetricStat"])
        stat["Period"] = period
        one: dict[str, Any] = {"Id": str(query["Id"]), "MetricStat": stat, "ReturnData": True}
        if query.get("AccountId"):
            one["AccountId"] = query["AccountId"]
        queries.append(one)
    for query_id, expression in alarm.expressions.items():
        queries.append({"Id": query_id, "Expression": expression, "ReturnData": query_id == alarm.ratio})
    return queries


def _ratio(client: Any, alarm: WindowAlarm, *, now: datetime, seconds: int, stop_at: float) -> float | None:
    """The alarm's error ratio over the last `seconds`, or None when no metric has a datapoint in them."""
    _check_time(stop_at)
    start, end = query_range(now, seconds)
    answer = client.get_metric_data(
        MetricDataQueries=metric_data_queries(alarm, seconds), StartTime=start, EndTime=end, ScanBy="TimestampAscending"
    )
    results = {str(r.get("Id")): r for r in answer.get("MetricDataResults") or [] if isinstance(r, dict)}
    sums: dict[str, float | None] = {}
    for query in alarm.metrics:
        result = results.get(str(query["Id"])) or {}
        if result.get("StatusCode") not in _OK_STATUS:
            raise _Unavailable(f"metric {str(result.get('StatusCode'))[:20]}")
        values = [float(v) for v in result.get("Values") or []]
        if not all(math.isfinite(v) for v in values):
            raise _Unavailable("metric not a number")
        sums[str(query["Id"])] = math.fsum(values) if values else None
    if all(value is None for value in sums.values()):
        return None
    try:
        ratio = evaluate(alarm.ratio, sums, alarm.expressions)
    except UnsupportedExpressionError:
        own = (results.get(alarm.ratio) or {}).get("Values") or []
        ratio = float(own[0]) if len(own) == 1 else None
    if ratio is None or not math.isfinite(ratio) or ratio < 0:
        return None
    return ratio


# ---------------------------------------------------------------------------------------------------------------
# The numbers


def _budget(objective: float) -> Decimal:
    return (Decimal(100) - Decimal(str(objective))) / Decimal(100)


def burn_rate(ratio: float, objective: float) -> float | None:
    """Error ratio / error budget, to 2 decimals: 0.0144 at 99.9 % -> 14.4. None beyond `MAX_BURN_RATE`."""
    try:
        rate = float(Decimal(repr(ratio)) / _budget(objective))
    except (InvalidOperation, ArithmeticError):
        return None
    return round(rate, 2) if 0 <= rate <= MAX_BURN_RATE else None


def budget_left(ratio: float, objective: float) -> float | None:
    """Percent of the period's error budget not spent, to 2 decimals: a ratio of 0.00025 at 99.9 % -> 75.0;
    negative when overspent (at most `MAX_BURN_RATE` budgets)."""
    try:
        spent = Decimal(repr(ratio)) / _budget(objective)
    except (InvalidOperation, ArithmeticError):
        return None
    if spent > Decimal(MAX_BURN_RATE) / 100:
        return None
    return round(float((1 - spent) * 100), 2)


# ---------------------------------------------------------------------------------------------------------------
# Metric math over single values

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>>=|<=|==|!=|[-+*/()<>,]))"
)


def evaluate(
    expression: str, values: Mapping[str, float | None], expressions: Mapping[str, str] | None = None
) -> float | None:
    """The value of CloudWatch metric math over one value per id (`values`; None: no datapoint), where an id may
    name another expression (`expressions`). Knows numbers, ids, `+ - * /`, unary minus, parentheses,
    `> < >= <= == !=`, `FILL(x, number)` and `IF(condition, a, b)`; anything else raises
    `UnsupportedExpressionError`. A missing value makes what reads it missing (FILL replaces it); x/0 is missing."""
    return _Parser(expression, values, expressions or {}, 0).parse()


class _Parser:
    def __init__(self, text: str, values: Mapping[str, float | None], expressions: Mapping[str, str], depth: int):
        if len(text) > MAX_EXPRESSION or depth > MAX_DEPTH:
            raise UnsupportedExpressionError("expression too long or too deep")
        self.values = values
        self.expressions = expressions
        self.depth = depth
        self.tokens = _tokens(text)
        self.at = 0

    def parse(self) -> float | None:
        value = self._comparison(0)
        if self.at != len(self.tokens):
            raise UnsupportedExpressionError(f"unexpected {self.tokens[self.at][1]!r}")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, text: str) -> None:
        token = self._peek()
        if token is None or token[1] != text:
            raise UnsupportedExpressionError(f"expected {text!r}")
        self.at += 1

    def _nest(self, level: int) -> int:
        if level > MAX_LEVELS:
            raise UnsupportedExpressionError("expression too deep")
        return level + 1

    def _comparison(self, level: int) -> float | None:
        left = self._sum(self._nest(level))
        token = self._peek()
        if token is None or token[1] not in (">", "<", ">=", "<=", "==", "!="):
            return left
        self.at += 1
        right = self._sum(self._nest(level))
        if left is None or right is None:
            return None
        result = {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right,
                  "==": left == right, "!=": left != right}[token[1]]  # fmt: skip
        return 1.0 if result else 0.0

    def _sum(self, level: int) -> float | None:
        value = self._product(self._nest(level))
        while (token := self._peek()) is not None and token[1] in ("+", "-"):
            self.at += 1
            right = self._product(self._nest(level))
            value = None if value is None or right is None else value + right if token[1] == "+" else value - right
        return value

    def _product(self, level: int) -> float | None:
        value = self._unary(self._nest(level))
        while (token := self._peek()) is not None and token[1] in ("*", "/"):
            self.at += 1
            right = self._unary(self._nest(level))
            if value is None or right is None or (token[1] == "/" and right == 0):
                value = None
            else:
                value = value * right if token[1] == "*" else value / right
        return value

    def _unary(self, level: int) -> float | None:
        token = self._peek()
        if token is not None and token[1] == "-":
            self.at += 1
            value = self._unary(self._nest(level))
            return None if value is None else -value
        return self._atom(self._nest(level))

    def _atom(self, level: int) -> float | None:
        token = self._peek()
        if token is None:
            raise UnsupportedExpressionError("expression ends early")
        kind, text = token
        self.at += 1
        if kind == "number":
            return float(text)
        if text == "(":
            value = self._comparison(self._nest(level))
            self._take(")")
            return value
        if kind != "name":
            raise UnsupportedExpressionError(f"unexpected {text!r}")
        if text in ("FILL", "IF"):
            return self._function(text, level)
        if text in self.values:
            return self.values[text]
        if text in self.expressions:
            return _Parser(self.expressions[text], self.values, self.expressions, self.depth + 1).parse()
        raise UnsupportedExpressionError(f"unknown name {text[:40]!r}")

    def _function(self, name: str, level: int) -> float | None:
        self._take("(")
        args = [self._comparison(self._nest(level))]
        while (token := self._peek()) is not None and token[1] == ",":
            self.at += 1
            args.append(self._comparison(self._nest(level)))
        self._take(")")
        if name == "FILL" and len(args) == 2:
            return args[0] if args[0] is not None else args[1]
        if name == "IF" and len(args) == 3:
            if args[0] is None:
                return None
            return args[1] if args[0] != 0 else args[2]
        raise UnsupportedExpressionError(f"{name} with {len(args)} arguments")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    text = text.strip()
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise UnsupportedExpressionError(f"cannot read {text[at : at + 20]!r}")
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


# ---------------------------------------------------------------------------------------------------------------
# IAM


def slo_query_policy_statements(region: str, account: str, env: str, *, partition: str = "aws") -> list[dict[str, Any]]:
    """The exact IAM statements `SloQueries` needs: DescribeAlarms (read-only) and GetMetricData (no resource-level
    permission), both on `*`. DescribeAlarms is not scoped to `alarm:<env>-slo-*`: how IAM matches a request by
    `AlarmNames` against alarm ARNs is not documented beyond "composite alarms only to `*`", and the local world,
    which evaluates it against `*`, refused the narrower grant; a refusal would only ever cost the numbers, but
    silently in every environment. `region`, `account`, `env` and `partition` are kept for the callers."""
    del region, account, env, partition
    return [{"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"], "Resource": ["*"]}]
