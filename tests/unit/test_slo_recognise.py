"""alertlib.slo.recognise: the SLO behind an alert, from a CloudWatch alarm's description line (written by
infra/slo.py: the test pins writer and parser together) or from the labels and annotations tools.slo_rules emits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertlib.models import Slo
from alertlib.slo import MAX_SCAN, recognise
from infra.config import load_config
from infra.slo import alarm_description, description_line

LINE = "slo: name=checkout-availability objective=99.9 period=30d window=1h/5m burn=14.4 action=page"
CHECKOUT = Slo(name="checkout-availability", objective=99.9, window="1h/5m", burn_rate=14.4, action="page")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_slo_recognise_reads_what_infra_writes_for_every_slo_and_window(env: str) -> None:
    for slo in load_config(env).slos:
        for window in slo.alert_windows:
            expected = Slo(
                name=slo.name,
                objective=slo.objective,
                window=window.label,
                burn_rate=window.burn_rate,
                action=window.action,
            )
            assert recognise(alarm_description(slo, window)) == expected
            assert recognise(description_line(slo, window)) == expected


def test_slo_recognise_the_line_anywhere_in_a_description() -> None:
    assert recognise(f"Checkout burns its budget.\r\n{LINE}\r\nrunbook: https://x") == CHECKOUT
    assert recognise(f"  > {LINE} extra=ignored") == CHECKOUT


def test_slo_recognise_prometheus_labels_and_annotations() -> None:
    labels = {"alertname": "SLOErrorBudgetBurn", "slo": "api-availability", "slo_window": "6h/30m",
              "slo_action": "page", "severity": "critical"}  # fmt: skip
    annotations = {"slo_objective": "99.9", "burn_rate": "6", "error_ratio": "0.0075", "budget_left": "97.25%"}
    assert recognise("", labels, annotations) == Slo(
        name="api-availability",
        objective=99.9,
        window="6h/30m",
        burn_rate=6.0,
        observed_burn_rate=7.5,
        budget_left=97.25,
        action="page",
    )


def test_slo_recognise_labels_win_over_the_line_field_by_field() -> None:
    slo = recognise(LINE, {"slo": "other", "slo_window": "6h/30m"}, {"budget_left": "-12.5%"})
    assert slo == Slo(name="other", objective=99.9, window="6h/30m", burn_rate=14.4, budget_left=-12.5, action="page")


@pytest.mark.parametrize(
    ("description", "labels", "annotations"),
    [
        (None, None, None),
        ("", {}, {}),
        ("a plain alarm about CPU", {"alertname": "HighCPU"}, {"summary": "cpu"}),
        ("slo: objective=99.9 window=1h/5m", {}, {}),  # no name
        ("slo: name=-bad objective=99.9", {}, {}),
        ("", {"slo": "x" * 65}, {}),
        ("", {"slo": "a b"}, {}),
        ("xslo: name=a", {}, {}),
    ],
)
def test_slo_recognise_nothing_without_a_name(
    description: str | None, labels: dict[str, str] | None, annotations: dict[str, str] | None
) -> None:
    assert recognise(description, labels, annotations) is None


@pytest.mark.parametrize(
    "annotations",
    [
        {"slo_objective": "nan", "burn_rate": "inf", "error_ratio": "NaN", "budget_left": "1e999"},
        {"slo_objective": "100", "burn_rate": "0", "error_ratio": "2", "budget_left": "101%"},
        {"slo_objective": "1_0", "burn_rate": "-3", "error_ratio": "1e-999999", "budget_left": "x%"},
        {"slo_objective": "9" * 70, "burn_rate": " ", "error_ratio": "", "budget_left": "%"},
    ],
)
def test_slo_recognise_leaves_out_values_out_of_range_or_malformed(annotations: dict[str, str]) -> None:
    assert recognise("", {"slo": "s", "slo_window": "1h/5m;rm", "slo_action": "wake"}, annotations) == Slo(name="s")


def test_slo_recognise_reads_only_the_start_of_a_huge_description() -> None:
    assert recognise("x" * MAX_SCAN + "\n" + LINE) is None
    assert recognise(LINE + "\n" + "y" * 1_000_000) == CHECKOUT
    assert recognise("slo: " + "name=a " * 100_000) is None  # a line past 512 characters is not the writer's


@given(
    description=st.text(max_size=2000),
    labels=st.dictionaries(st.sampled_from(["slo", "slo_window", "slo_action", "x"]), st.text(max_size=80)),
    annotations=st.dictionaries(
        st.sampled_from(["slo_objective", "burn_rate", "error_ratio", "budget_left", "observed_burn_rate"]),
        st.text(max_size=80),
    ),
)
def test_slo_recognise_never_raises_on_any_text(
    description: str, labels: dict[str, str], annotations: dict[str, str]
) -> None:
    slo = recognise(description, labels, annotations)
    assert slo is None or (0 < len(slo.name) <= 64)


def test_slo_recognise_ignores_values_that_are_not_strings() -> None:
    labels: dict[str, object] = {"slo": 5, "slo_window": None}
    assert recognise(LINE, labels, {"burn_rate": 3}) == CHECKOUT  # type: ignore[arg-type]
