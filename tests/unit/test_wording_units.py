"""units: numbers as people read them, with their unit, never in scientific notation (issue 13)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertlib.models import Metric
from alertlib.units import (
    AWS_UNITS,
    comparison_words,
    describe_condition,
    describe_reading,
    format_number,
    format_value,
    plain_numbers,
    unit_for,
)
from infra.metric_catalogue import FACTS

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (45628.0, "45,628"),
        (45628.4, "45,628"),
        (97.5, "97.5"),
        (2.345, "2.35"),
        (0.0412, "0.0412"),
        (0.02, "0.02"),
        (0.0, "0"),
        (-0.0, "0"),
        (-12.5, "-12.5"),
        (1234567.0, "1,234,567"),
        (100.0, "100"),
        (1e18, "1 × 10^18"),
        (1.5e-9, "1.5 × 10^-9"),
        (1e300, "1 × 10^300"),
        (math.inf, "infinity"),
        (math.nan, "not a number"),
    ],
)
def test_format_number_is_plain(value: float, text: str) -> None:
    assert format_number(value) == text


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_format_number_never_scientific_and_short(value: float) -> None:
    for unit in (None, "Bytes", "Seconds", "Milliseconds", "Percent", "Count", "Bits/Second", "Count/Second"):
        text = format_value(value, unit)
        assert not SCIENTIFIC.search(text), text
        assert len(text) <= 40


@pytest.mark.parametrize(
    ("value", "unit", "name", "namespace", "text"),
    [
        (9.664e10, None, "FreeStorageSpace", "AWS/RDS", "90 GiB"),
        (1.07374e11, None, "FreeStorageSpace", "AWS/RDS", "100 GiB"),
        (0.0412, None, "ReadLatency", "AWS/RDS", "41.2 ms"),
        (0.02, None, "ReadLatency", "AWS/RDS", "20 ms"),
        (0.0412, "Seconds", None, None, "41.2 ms"),
        (300.0, None, "ApproximateAgeOfOldestMessage", "AWS/SQS", "5 min"),
        (90.0, "Seconds", None, None, "90 s"),
        (7200.0, "Seconds", None, None, "2 h"),
        (3 * 86400.0, "Seconds", None, None, "3 d"),
        (0.0000005, "Seconds", None, None, "0.5 µs"),
        (1500.0, None, "Duration", "AWS/Lambda", "1.5 s"),
        (97.5, None, "CPUUtilization", "AWS/RDS", "97.5 %"),
        (90.0, None, "CPUUtilization", None, "90 %"),  # the same unit in every namespace
        (45628.0, None, "Errors", "AWS/Lambda", "45,628"),
        (512.0, "Bytes", None, None, "512 B"),
        (2048.0, "Kilobytes", None, None, "2 MiB"),
        (1.2e6, "Bits/Second", None, None, "1.2 Mbit/s"),
        (12.0, "Count/Second", None, None, "12/s"),
        (45628.0, None, "SomethingOfOurs", "Custom", "45,628"),
        (45628.0, "NotAUnit", None, None, "45,628"),
    ],
)
def test_format_value_with_units(
    value: float, unit: str | None, name: str | None, namespace: str | None, text: str
) -> None:
    assert format_value(value, unit, name, namespace) == text


def test_unit_of_the_alarm_wins_over_the_table() -> None:
    assert unit_for("Milliseconds", "ReadLatency", "AWS/RDS") == "Milliseconds"
    assert unit_for(None, "ReadLatency", "AWS/RDS") == "Seconds"
    assert unit_for("none", "FreeStorageSpace", "AWS/ES") == "Megabytes"  # "None" is no unit: the table's


def test_unit_table_agrees_with_the_metric_catalogue() -> None:
    """The Lambda asset cannot import infra/: its table is a copy, pinned here."""
    for fact in FACTS:
        assert AWS_UNITS.get((fact.namespace, fact.name)) == fact.unit, (fact.namespace, fact.name)


@pytest.mark.parametrize(
    ("comparison", "words"),
    [
        ("GreaterThanThreshold", "above"),
        ("GreaterThanOrEqualToThreshold", "at or above"),
        ("LessThanThreshold", "below"),
        ("LessThanOrEqualToThreshold", "at or below"),
        ("LessThanLowerOrGreaterThanUpperThreshold", "outside the band"),
        ("GreaterThanUpperThreshold", "above the band"),
        ("LessThanLowerThreshold", "below the band"),
        (">=", "at or above"),
        ("<", "below"),
    ],
)
def test_comparison_words(comparison: str, words: str) -> None:
    assert comparison_words(comparison) == words


def test_comparison_never_a_symbol() -> None:
    assert "<" not in comparison_words("<> odd") and ">" not in comparison_words("=> odd")


def test_describe_condition_in_words() -> None:
    cpu = Metric(namespace="AWS/RDS", name="CPUUtilization", threshold=90, comparison="GreaterThanThreshold",
                 evaluation_periods=5, period=60)  # fmt: skip
    assert describe_condition(cpu) == "above 90 % for 5 of 5 periods of 60 s"
    assert describe_condition(cpu, periods=False) == "above 90 %"
    errors = Metric(name="Errors", namespace="AWS/Lambda", threshold=1, comparison="GreaterThanOrEqualToThreshold")
    assert describe_condition(errors) == "at or above 1"
    disk = Metric(namespace="AWS/RDS", name="FreeStorageSpace", threshold=1.07374e11, comparison="LessThanThreshold",
                  value=9.664e10)  # fmt: skip
    assert describe_reading(disk) == "90 GiB free (alarm below 100 GiB)"
    latency = Metric(namespace="AWS/RDS", name="ReadLatency", threshold=0.02, comparison="GreaterThanThreshold",
                     value=0.0412)  # fmt: skip
    assert describe_reading(latency) == "41 ms (alarm above 20 ms)"


def test_describe_condition_of_a_band() -> None:
    band = Metric(namespace="AWS/EC2", name="CPUUtilization", expression="ANOMALY_DETECTION_BAND(m1, 2)",
                  comparison="LessThanLowerOrGreaterThanUpperThreshold", band=(0.0206, 0.3007), value=0.0)  # fmt: skip
    assert describe_reading(band) == "0 % (alarm outside the band 0.0206 % to 0.301 %)"


def test_describe_reading_adds_digits_rather_than_read_like_the_threshold() -> None:
    metric = Metric(name="CPUUtilization", threshold=90, comparison="GreaterThanThreshold", value=90.0004)
    assert describe_reading(metric) == "90.0004 % (alarm above 90 %)"


def test_metric_math_values_have_no_unit_guessed() -> None:
    metric = Metric(namespace="AWS/EC2", name="NetworkOut", expression="m1*8", threshold=1e9,
                    comparison="GreaterThanThreshold", value=2e9)  # fmt: skip
    assert describe_reading(metric) == "2,000,000,000 (alarm above 1,000,000,000)"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("[9.6640708608E10 (22/11/26 02:55:00)]", "[96,640,708,608 (22/11/26 02:55:00)]"),
        ("value 4.563e+04 seen", "value 45,630 seen"),
        ("tiny 2.5e-05", "tiny 0.000025"),
        ("build 3e5a and v1.2e3x stay", "build 3e5a and v1.2e3x stay"),
        ("no numbers", "no numbers"),
    ],
)
def test_plain_numbers(text: str, plain: str) -> None:
    assert plain_numbers(text) == plain
    assert not SCIENTIFIC.search(plain_numbers(text).replace("3e5a", "").replace("1.2e3x", ""))
