"""An SLO's numbers are written exactly as configured: an objective of 99.99999 never reads "100", and a latency
threshold never reaches CloudWatch's `TC(:…)` statistic in scientific notation or rounded (found by the review)."""

from __future__ import annotations

import pytest

from alertlib.render_slack import _slo_text
from alertlib.slo import recognise
from infra.slo import WINDOWS, CloudWatchSli, LatencySli, SloDefinition, cloudwatch_error_ratio, description_line

BASE = {
    "service": "api",
    "team": "platform",
    "runbook_url": "https://r.example.com/x",
    "sli": {"bad": {"namespace": "Shop/X", "metric": "Bad"}, "total": {"namespace": "Shop/X", "metric": "All"}},
}


@pytest.mark.parametrize("objective", [99.9999, 99.99995, 99.99999])
def test_slo_objective_is_shown_as_configured(objective: float) -> None:
    slo = SloDefinition.model_validate({"name": "api-availability", "objective": objective, **BASE})
    line = description_line(slo, WINDOWS[-1])
    seen = recognise(line)
    assert seen is not None and seen.objective == objective, line
    assert f"objective {objective!r} %" in _slo_text(seen)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.00005, "TC(:0.00005)"), (1234.5678, "TC(:1234.5678)"), (2500000.0, "TC(:2500000)"), (0.3, "TC(:0.3)")],
)
def test_slo_latency_threshold_is_written_exactly_in_the_statistic(threshold: float, expected: str) -> None:
    sli = CloudWatchSli(
        latency=LatencySli(
            namespace="AWS/ApiGateway", metric="Latency", dimensions={"ApiName": "x"}, threshold=threshold
        )
    )
    assert cloudwatch_error_ratio(sli).metrics["good_value"].statistic == expected
