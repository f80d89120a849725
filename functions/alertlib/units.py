"""Units: numbers as people read them, with their unit, never in scientific notation. Used by both renderers.

API:
- `format_value(value, unit=None, metric_name=None, namespace=None) -> str`: `90 GiB`, `41.2 ms`, `97.5 %`,
  `45,628`, `5 min`. The unit is the alarm's `Unit` when it sent one, else AWS's unit for the metric
  (`AWS_UNITS`, by namespace and name, else by a name whose unit is the same in every namespace), else none: the
  plain number, readably (`45,628`, `0.0412`).
- `metric_unit(metric) -> str | None`: the CloudWatch unit of what a `Metric`'s value and threshold are in (None
  for a metric-math expression, whose unit nobody knows).
- `comparison_words(comparison) -> str`: `GreaterThanOrEqualToThreshold` -> `at or above`.
- `describe_condition(metric, periods=True) -> str`: the alarm's condition in words, `above 90 %`,
  `at or above 1`, `below 100 GiB`, `outside the band 0.0206 to 0.301`, with `for 5 of 5 periods of 1 min`.
  Never starts with `>` or `<` (a line starting with `&gt;` is a quote in Slack).
- `describe_reading(metric) -> str`: the value seen (two significant digits in a scaled unit, three otherwise,
  more when it would read like the bound) and the condition, `41 ms (alarm above 20 ms)`,
  `90 GiB free (alarm below 100 GiB)`, `0 (alarm outside the band 0.0206 to 0.301)`, or only the condition when
  no value is known.
- `plain_numbers(text) -> str`: every number of a text written in scientific notation (`9.6640708608E10` in a
  CloudWatch reason, `4.563e+04` from a Prometheus template) written plainly (`96,640,708,608`, `45,630`).
- `format_number(value) -> str`: a plain number: three significant digits, integers from 100 up with thousands
  separators, and a power of ten (1.2 x 10^18) past what digits can say.

Everything here is pure and bounded: any finite or infinite float gives a short string.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alertlib.models import Metric

# ---------------------------------------------------------------------------------------------------------------
# AWS's unit per metric. The project's own catalogue (infra/metric_catalogue.py, pinned by a test: the Lambda asset
# cannot import infra/) and the metrics people alarm on most, from AWS's metric pages.

_CATALOGUE_UNITS: dict[tuple[str, str], str] = {
    ("AWS/RDS", "CPUUtilization"): "Percent",
    ("AWS/RDS", "DatabaseConnections"): "Count",
    ("AWS/RDS", "FreeableMemory"): "Bytes",
    ("AWS/RDS", "FreeStorageSpace"): "Bytes",
    ("AWS/RDS", "ReadLatency"): "Seconds",
    ("AWS/RDS", "WriteLatency"): "Seconds",
    ("AWS/RDS", "ReplicaLag"): "Seconds",
    ("AWS/RDS", "FreeLocalStorage"): "Bytes",
    ("AWS/RDS", "AuroraReplicaLag"): "Milliseconds",
    ("AWS/RDS", "EBSByteBalance%"): "Percent",
    ("AWS/RDS", "EBSIOBalance%"): "Percent",
    ("AWS/ElastiCache", "CPUUtilization"): "Percent",
    ("AWS/ElastiCache", "FreeableMemory"): "Bytes",
    ("AWS/ElastiCache", "SwapUsage"): "Bytes",
    ("AWS/ElastiCache", "CurrConnections"): "Count",
    ("AWS/ElastiCache", "Evictions"): "Count",
    ("AWS/ElastiCache", "EngineCPUUtilization"): "Percent",
    ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"): "Percent",
    ("AWS/ElastiCache", "ReplicationLag"): "Seconds",
    ("AWS/ElastiCache", "CacheHits"): "Count",
    ("AWS/ElastiCache", "CacheMisses"): "Count",
    ("AWS/ECS", "CPUUtilization"): "Percent",
    ("AWS/ECS", "MemoryUtilization"): "Percent",
    ("AWS/ECS", "CPUReservation"): "Percent",
    ("AWS/ECS", "MemoryReservation"): "Percent",
    ("ECS/ContainerInsights", "RunningTaskCount"): "Count",
    ("ECS/ContainerInsights", "DesiredTaskCount"): "Count",
    ("AWS/Lambda", "Invocations"): "Count",
    ("AWS/Lambda", "Errors"): "Count",
    ("AWS/Lambda", "Throttles"): "Count",
    ("AWS/Lambda", "DeadLetterErrors"): "Count",
    ("AWS/Lambda", "DestinationDeliveryFailures"): "Count",
    ("AWS/Lambda", "AsyncEventsReceived"): "Count",
    ("AWS/Lambda", "AsyncEventsDropped"): "Count",
    ("AWS/Lambda", "AsyncEventAge"): "Milliseconds",
    ("AWS/Lambda", "Duration"): "Milliseconds",
    ("AWS/Lambda", "ConcurrentExecutions"): "Count",
    ("AWS/Lambda", "UrlRequestCount"): "Count",
    ("AWS/Lambda", "Url4xxCount"): "Count",
    ("AWS/Lambda", "Url5xxCount"): "Count",
    ("AWS/Lambda", "UrlRequestLatency"): "Milliseconds",
    ("AWS/SNS", "NumberOfMessagesPublished"): "Count",
    ("AWS/SNS", "NumberOfNotificationsDelivered"): "Count",
    ("AWS/SNS", "NumberOfNotificationsFailed"): "Count",
    ("AWS/SNS", "NumberOfNotificationsRedrivenToDlq"): "Count",
    ("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq"): "Count",
    ("AWS/SNS", "PublishSize"): "Bytes",
    ("AWS/Events", "Invocations"): "Count",
    ("AWS/Events", "FailedInvocations"): "Count",
    ("AWS/Events", "DeadLetterInvocations"): "Count",
    ("AWS/Events", "InvocationsFailedToBeSentToDlq"): "Count",
    ("AWS/Events", "InvocationsSentToDlq"): "Count",
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "Count",
    ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"): "Count",
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): "Seconds",
    ("AWS/SQS", "NumberOfMessagesSent"): "Count",
    ("AWS/SQS", "NumberOfMessagesReceived"): "Count",
    ("AWS/SQS", "NumberOfMessagesDeleted"): "Count",
    ("AWS/ApplicationELB", "RequestCount"): "Count",
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"): "Count",
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"): "Count",
    ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count"): "Count",
    ("AWS/ApplicationELB", "TargetResponseTime"): "Seconds",
    ("AWS/ApiGateway", "Count"): "Count",
    ("AWS/ApiGateway", "5XXError"): "Count",
    ("AWS/ApiGateway", "4XXError"): "Count",
    ("AWS/ApiGateway", "5xx"): "Count",
    ("AWS/ApiGateway", "4xx"): "Count",
    ("AWS/ApiGateway", "Latency"): "Milliseconds",
    ("AWS/ApiGateway", "IntegrationLatency"): "Milliseconds",
}

_COMMON_UNITS: dict[tuple[str, str], str] = {
    ("AWS/EC2", "CPUUtilization"): "Percent",
    ("AWS/EC2", "NetworkIn"): "Bytes",
    ("AWS/EC2", "NetworkOut"): "Bytes",
    ("AWS/EC2", "DiskReadBytes"): "Bytes",
    ("AWS/EC2", "DiskWriteBytes"): "Bytes",
    ("AWS/EC2", "StatusCheckFailed"): "Count",
    ("AWS/EC2", "StatusCheckFailed_Instance"): "Count",
    ("AWS/EC2", "StatusCheckFailed_System"): "Count",
    ("AWS/EC2", "CPUCreditBalance"): "Count",
    ("AWS/EBS", "VolumeQueueLength"): "Count",
    ("AWS/EBS", "BurstBalance"): "Percent",
    ("AWS/RDS", "SwapUsage"): "Bytes",
    ("AWS/RDS", "DiskQueueDepth"): "Count",
    ("AWS/RDS", "ReadIOPS"): "Count/Second",
    ("AWS/RDS", "WriteIOPS"): "Count/Second",
    ("AWS/RDS", "ReadThroughput"): "Bytes/Second",
    ("AWS/RDS", "WriteThroughput"): "Bytes/Second",
    ("AWS/RDS", "BurstBalance"): "Percent",
    ("AWS/RDS", "CPUCreditBalance"): "Count",
    ("AWS/RDS", "Deadlocks"): "Count/Second",
    ("AWS/ElastiCache", "BytesUsedForCache"): "Bytes",
    ("AWS/ApplicationELB", "TargetResponseTime"): "Seconds",
    ("AWS/ApplicationELB", "RequestCount"): "Count",
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"): "Count",
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"): "Count",
    ("AWS/ApplicationELB", "UnHealthyHostCount"): "Count",
    ("AWS/ApplicationELB", "HealthyHostCount"): "Count",
    ("AWS/ELB", "Latency"): "Seconds",
    ("AWS/ELB", "UnHealthyHostCount"): "Count",
    ("AWS/NetworkELB", "UnHealthyHostCount"): "Count",
    ("AWS/ApiGateway", "Latency"): "Milliseconds",
    ("AWS/ApiGateway", "IntegrationLatency"): "Milliseconds",
    ("AWS/ApiGateway", "5XXError"): "Count",
    ("AWS/ApiGateway", "4XXError"): "Count",
    ("AWS/ApiGateway", "Count"): "Count",
    ("AWS/DynamoDB", "SuccessfulRequestLatency"): "Milliseconds",
    ("AWS/DynamoDB", "ThrottledRequests"): "Count",
    ("AWS/DynamoDB", "ReadThrottleEvents"): "Count",
    ("AWS/DynamoDB", "WriteThrottleEvents"): "Count",
    ("AWS/DynamoDB", "SystemErrors"): "Count",
    ("AWS/DynamoDB", "UserErrors"): "Count",
    ("AWS/DynamoDB", "ConsumedReadCapacityUnits"): "Count",
    ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"): "Count",
    ("AWS/Lambda", "IteratorAge"): "Milliseconds",
    ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"): "Milliseconds",
    ("AWS/States", "ExecutionsFailed"): "Count",
    ("AWS/States", "ExecutionsTimedOut"): "Count",
    ("AWS/States", "ExecutionTime"): "Milliseconds",
    ("AWS/CloudFront", "5xxErrorRate"): "Percent",
    ("AWS/CloudFront", "4xxErrorRate"): "Percent",
    ("AWS/CloudFront", "TotalErrorRate"): "Percent",
    ("AWS/EFS", "BurstCreditBalance"): "Bytes",
    ("AWS/EFS", "PercentIOLimit"): "Percent",
    ("AWS/ES", "FreeStorageSpace"): "Megabytes",
    ("AWS/ES", "CPUUtilization"): "Percent",
    ("AWS/ES", "JVMMemoryPressure"): "Percent",
    ("AWS/NATGateway", "ErrorPortAllocation"): "Count",
    ("AWS/NATGateway", "PacketsDropCount"): "Count",
    ("AWS/SES", "Reputation.BounceRate"): "Count",
    ("CWAgent", "mem_used_percent"): "Percent",
    ("CWAgent", "disk_used_percent"): "Percent",
}

AWS_UNITS: dict[tuple[str, str], str] = {**_COMMON_UNITS, **_CATALOGUE_UNITS}


def _names_with_one_unit() -> dict[str, str]:
    """A metric name whose unit is the same in every namespace that has it (`CPUUtilization`: Percent)."""
    units: dict[str, set[str]] = {}
    for (_, name), unit in AWS_UNITS.items():
        units.setdefault(name, set()).add(unit)
    return {name: found.pop() for name, found in units.items() if len(found) == 1}


_BY_NAME = _names_with_one_unit()

# CloudWatch's units (`StandardUnit`) and what a value in each is: a kind and its factor to the kind's base unit.
_UNITS: dict[str, tuple[str, float]] = {
    "Seconds": ("time", 1.0),
    "Milliseconds": ("time", 1e-3),
    "Microseconds": ("time", 1e-6),
    "Bytes": ("bytes", 1.0),
    "Kilobytes": ("bytes", 1024.0),
    "Megabytes": ("bytes", 1024.0**2),
    "Gigabytes": ("bytes", 1024.0**3),
    "Terabytes": ("bytes", 1024.0**4),
    "Bits": ("bits", 1.0),
    "Kilobits": ("bits", 1e3),
    "Megabits": ("bits", 1e6),
    "Gigabits": ("bits", 1e9),
    "Terabits": ("bits", 1e12),
    "Percent": ("percent", 1.0),
    "Count": ("count", 1.0),
    "Bytes/Second": ("bytes/s", 1.0),
    "Kilobytes/Second": ("bytes/s", 1024.0),
    "Megabytes/Second": ("bytes/s", 1024.0**2),
    "Gigabytes/Second": ("bytes/s", 1024.0**3),
    "Terabytes/Second": ("bytes/s", 1024.0**4),
    "Bits/Second": ("bits/s", 1.0),
    "Kilobits/Second": ("bits/s", 1e3),
    "Megabits/Second": ("bits/s", 1e6),
    "Gigabits/Second": ("bits/s", 1e9),
    "Terabits/Second": ("bits/s", 1e12),
    "Count/Second": ("count/s", 1.0),
}
_UNITS_LOWER = {name.lower(): name for name in _UNITS}
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_DECIMAL_BITS = ("bit", "kbit", "Mbit", "Gbit", "Tbit", "Pbit", "Ebit")
_TIMES = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"))


def unit_for(unit: str | None, metric_name: str | None = None, namespace: str | None = None) -> str | None:
    """The CloudWatch unit a value is in: `unit` when it is one CloudWatch knows, else AWS's for the metric."""
    if unit:
        known = _UNITS_LOWER.get(unit.strip().lower())
        if known is not None:
            return known
    if metric_name:
        found = AWS_UNITS.get((namespace or "", metric_name))
        if found is None and (namespace is None or (namespace, metric_name) not in AWS_UNITS):
            found = _BY_NAME.get(metric_name)
        return found
    return None


def metric_unit(metric: Metric) -> str | None:
    """What a metric's value and threshold are in; None for a metric-math expression other than an anomaly band
    (the band is in the unit of the metric it watches)."""
    if metric.expression and not is_band(metric):
        return None
    return unit_for(metric.unit, metric.name, metric.namespace)


def format_value(
    value: float, unit: str | None = None, metric_name: str | None = None, namespace: str | None = None, *,
    significant: int = 3,
) -> str:  # fmt: skip
    """`value` with its unit, scaled to read well: `90 GiB`, `41.2 ms`, `5 min`, `97.5 %`, `45,628`."""
    known = unit_for(unit, metric_name, namespace)
    if known is None or not math.isfinite(value):
        return format_number(value, significant)
    kind, factor = _UNITS[known]
    base = value * factor
    if kind == "percent":
        return f"{format_number(value, significant)} %"
    if kind == "count":
        return format_number(value, significant)
    if kind == "count/s":
        return f"{format_number(value, significant)}/s"
    if kind == "time":
        return _duration(base, significant)
    if kind in ("bytes", "bytes/s"):
        text = _scaled(base, 1024.0, _BINARY, significant)
    else:
        text = _scaled(base, 1000.0, _DECIMAL_BITS, significant)
    return text + ("/s" if kind.endswith("/s") else "")


def _scaled(value: float, step: float, names: tuple[str, ...], significant: int) -> str:
    index = 0
    while abs(value) >= step and index < len(names) - 1:
        value /= step
        index += 1
    return f"{format_number(value, significant)} {names[index]}"


def _duration(seconds: float, significant: int) -> str:
    size = abs(seconds)
    if size == 0:
        return "0 s"
    if size < 1e-3:
        return f"{format_number(seconds * 1e6, significant)} µs"
    if size < 1:
        return f"{format_number(seconds * 1e3, significant)} ms"
    if size < 120:
        return f"{format_number(seconds, significant)} s"
    for step, name in _TIMES:
        if size >= step * 2:
            return f"{format_number(seconds / step, significant)} {name}"
    return f"{format_number(seconds, significant)} s"  # unreachable: 120 s and more is minutes at least


_HUGE = 1e15  # past this, digits stop being read: `1.2 × 10^18`
_TINY = 1e-6


def format_number(value: float, significant: int = 3) -> str:
    """A plain number: `45,628`, `97.5`, `2.35`, `0.0412`, `0`; a power of ten for the huge and the tiny. Never
    scientific notation (`9.664e+10`), never more than about 30 characters."""
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "infinity" if value > 0 else "minus infinity"
    size = abs(value)
    if size == 0:
        return "0"
    if size >= _HUGE or size < _TINY:
        mantissa, exponent = f"{value:.{max(significant - 1, 0)}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa} × 10^{int(exponent)}"
    digits = math.floor(math.log10(size)) + 1  # digits before the point (<= 0 below 1)
    if digits >= significant:
        return f"{round(value):,}"
    decimals = significant - digits
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_SCIENTIFIC = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?[eE][+-]?\d{1,3}(?![\w.])")
MAX_PLAIN_TEXT = 20_000  # texts longer than this are left as they are (the renderers cut far shorter)


def plain_numbers(text: str) -> str:
    """Numbers in scientific notation written plainly, to six significant digits: `[9.6640708608E10 (...)]` ->
    `[96,640,708,608 (...)]`, `0.02 (2.5e-05)` -> `0.02 (0.000025)`. A number glued to letters (`3e5a`) is left."""
    if len(text) > MAX_PLAIN_TEXT or not any(c in text for c in "eE"):
        return text
    return _SCIENTIFIC.sub(lambda match: format_number(float(match.group()), 6), text)


# ---------------------------------------------------------------------------------------------------------------
# Conditions in words

_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": "at or above",
    "GreaterThanThreshold": "above",
    "LessThanThreshold": "below",
    "LessThanOrEqualToThreshold": "at or below",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "below the band",
    "GreaterThanUpperThreshold": "above the band",
}
BAND_COMPARISONS = frozenset(
    ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold")
)
# What CloudWatch's reasons say ("was greater than or equal to the threshold"), longest first.
REASON_COMPARISONS = (
    ("greater than or equal to", "GreaterThanOrEqualToThreshold"),
    ("less than or equal to", "LessThanOrEqualToThreshold"),
    ("greater than", "GreaterThanThreshold"),
    ("less than", "LessThanThreshold"),
)
_SYMBOLS = {">=": "at or above", ">": "above", "<": "below", "<=": "at or below", "=": "at", "==": "at"}


def comparison_words(comparison: str | None) -> str:
    """`GreaterThanOrEqualToThreshold` -> `at or above`; a comparison we do not know is shown as its words (never
    as a symbol that Slack would escape into `&gt;`)."""
    if not comparison:
        return ""
    known = _COMPARISONS.get(comparison) or _SYMBOLS.get(comparison.strip())
    if known:
        return known
    return " ".join(comparison.replace(">", " greater ").replace("<", " less ").split())[:60]


def is_band(metric: Metric) -> bool:
    """An anomaly detection alarm: its threshold is a band, not a number."""
    return (
        metric.comparison in BAND_COMPARISONS
        or metric.band is not None
        or (metric.expression or "").lstrip().upper().startswith("ANOMALY_DETECTION_BAND")
    )


VALUE_DIGITS = 3  # a value seen: `97.5 %`, `0.0412`, `45,628` (whole numbers stay whole)
SCALED_VALUE_DIGITS = 2  # a value in a unit scaled to read well: `41 ms`, `90 GiB`, `1.2 KiB`
BAND_DIGITS = 3  # an anomaly band's bounds: `0.0206 to 0.301`
THRESHOLD_DIGITS = 4  # a threshold someone chose: `99.95 %` stays `99.95 %`


def describe_condition(metric: Metric, *, periods: bool = True) -> str:
    """The alarm's condition in words: `above 90 %`, `at or above 1 for 1 of 1 periods of 1 min`,
    `outside the band 0.0206 to 0.301`; "" when the metric says nothing about it."""
    unit = metric_unit(metric)
    words = comparison_words(metric.comparison)
    if is_band(metric):
        words = words or "outside the band"
        low, high = (
            None if bound is None else format_value(bound, unit, significant=BAND_DIGITS)
            for bound in metric.band or (None, None)
        )
        if low is not None and high is not None:
            words += f" {low} to {high}"
        elif high is not None:
            words += f" (upper bound {high})"
        elif low is not None:
            words += f" (lower bound {low})"
    elif metric.threshold is not None:
        bound = format_value(metric.threshold, unit, significant=THRESHOLD_DIGITS)
        words = f"{words or 'threshold'} {bound}"
    if not words:
        return ""
    if periods and metric.evaluation_periods:
        of = metric.datapoints_to_alarm or metric.evaluation_periods
        words += f" for {of} of {metric.evaluation_periods} periods"
        if metric.period:
            words += f" of {_duration(float(metric.period), 3)}"
    return words


def describe_reading(metric: Metric) -> str:
    """The value seen and the condition: `41 ms (alarm above 20 ms)`, `90 GiB free (alarm below 100 GiB)`; the
    condition alone (`alarm above 90 %`) when no value is known. The value is read at a glance (three significant
    digits, two in a scaled unit such as ms or GiB) but gets more rather than read like the bound it is compared
    with (`90.4 % (alarm above 90 %)`)."""
    condition = describe_condition(metric, periods=False)
    if metric.value is None:
        return f"alarm {condition}" if condition else ""
    unit = metric_unit(metric)
    if metric.threshold is not None:
        bounds = [(metric.threshold, format_value(metric.threshold, unit, significant=THRESHOLD_DIGITS))]
    else:
        bounds = [(b, format_value(b, unit, significant=BAND_DIGITS)) for b in metric.band or () if b is not None]
    scaled = unit is not None and _UNITS[unit][0] not in ("percent", "count", "count/s")
    for digits in (SCALED_VALUE_DIGITS if scaled else VALUE_DIGITS, BAND_DIGITS, 7):
        shown = format_value(metric.value, unit, significant=digits)
        if not any(metric.value != bound and shown == text for bound, text in bounds):
            break
    if unit in ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes") and (metric.name or "").startswith("Free"):
        shown += " free"
    return f"{shown} (alarm {condition})" if condition else shown
