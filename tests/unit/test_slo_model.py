"""The window table and the pure model of multi-window burn-rate alerts (infra/slo.py), against the issue's numbers:
a 99.9 % SLO from a clean history: a total outage pages within about a minute, a 15x burn within the hour, a 6x
burn within six hours, a 2x burn opens a ticket within three days but never pages, a 0.5x burn alerts on nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.slo import WINDOWS, BurnWindow, burn, duration, evaluate, minutes, threshold

CLEAN = burn(99.9, 0, 3 * 1440)  # three days of clean traffic: every window starts full and good
START = len(CLEAN)
PAGES = [w for w in WINDOWS if w.action == "page"]
TICKETS = [w for w in WINDOWS if w.action == "ticket"]


def _after(burn_rate: float, minutes_: int) -> tuple[dict[str, int | None], set[str]]:
    """Minutes from the start of the burn to each pair's first alert (1 = at the end of the burn's first minute)."""
    result = evaluate(99.9, WINDOWS, CLEAN + burn(99.9, burn_rate, minutes_))
    first = {w.label: result.first(w.label, START) for w in WINDOWS}
    return {k: None if v is None else v - START + 1 for k, v in first.items()}, result.actions(WINDOWS, START)


def test_slo_window_table_is_the_workbooks() -> None:
    rows = [(w.action, w.long, w.short, w.burn_rate) for w in WINDOWS]
    assert rows == [
        ("page", "1h", "5m", 14.4),
        ("page", "6h", "30m", 6),
        ("ticket", "1d", "2h", 3),
        ("ticket", "3d", "6h", 1),
    ]
    assert [round(w.budget_consumed(30) * 100, 6) for w in WINDOWS] == [2, 5, 10, 10]


def test_slo_thresholds_are_burn_rate_times_budget_exactly() -> None:
    assert [threshold(99.9, w) for w in WINDOWS] == [0.0144, 0.006, 0.003, 0.001]
    assert [threshold(99, w) for w in WINDOWS] == [0.144, 0.06, 0.03, 0.01]
    assert threshold(99.95, WINDOWS[0]) == 0.0072


def test_slo_total_outage_pages_within_a_minute() -> None:
    first, actions = _after(1000, 10)  # every request fails
    assert first["1h/5m"] == 1
    assert first["6h/30m"] == 3  # 3/360 >= 0.006
    assert "page" in actions


def test_slo_burn_15x_pages_within_the_hour() -> None:
    first, _ = _after(15, 120)
    page = first["1h/5m"]
    assert page is not None and 50 <= page <= 60  # 15 x t/60 >= 14.4 at t = 58 minutes


def test_slo_burn_6x_pages_within_six_hours() -> None:
    first, actions = _after(6, 8 * 60)
    assert first["1h/5m"] is None
    assert first["6h/30m"] == 360  # exactly at six hours: a burn at the threshold alerts (>=)
    assert "page" in actions


def test_slo_burn_2x_opens_a_ticket_within_three_days_and_never_pages() -> None:
    first, actions = _after(2, 4 * 1440)
    assert actions == {"ticket"}
    assert first["1d/2h"] is None  # 2x < 3x
    ticket = first["3d/6h"]
    assert ticket is not None and ticket <= 3 * 1440  # 2 x t/4320 >= 1 at t = 36 h
    assert ticket == 36 * 60


def test_slo_burn_half_alerts_on_nothing() -> None:
    result = evaluate(99.9, WINDOWS, CLEAN + burn(99.9, 0.5, 7 * 1440))
    assert result.actions(WINDOWS) == set()
    assert result.transitions == ()


def test_slo_alert_resolves_when_the_short_window_recovers() -> None:
    result = evaluate(99.9, WINDOWS, CLEAN + burn(99.9, 1000, 10) + burn(99.9, 0, 30))
    page = [t for t in result.transitions if t.window.label == "1h/5m"]
    assert [t.firing for t in page] == [True, False]
    assert page[1].minute - START == 10 + 5 - 1  # the 5 m window is clean again 5 minutes after the outage


def test_slo_a_window_without_traffic_alerts_on_nothing() -> None:
    assert evaluate(99.9, WINDOWS, [(0, 0)] * 600).transitions == ()


def test_slo_evaluate_refuses_more_good_than_total() -> None:
    with pytest.raises(ValueError, match="good <= total"):
        evaluate(99.9, WINDOWS, [(5, 4)])


@pytest.mark.parametrize(("text", "value"), [("5m", 5), ("1h", 60), ("6h", 360), ("1d", 1440), ("3d", 4320)])
def test_slo_durations_read_and_write(text: str, value: int) -> None:
    assert minutes(text) == value
    assert duration(value) == text


@pytest.mark.parametrize("text", ["", "0m", "5", "1w", "1.5h", "-1h", "5M"])
def test_slo_durations_refuse_other_spellings(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        minutes(text)


def test_slo_window_short_must_be_shorter() -> None:
    with pytest.raises(ValueError, match="must be shorter than long"):
        BurnWindow(action="page", long="1h", short="60m", burn_rate=2)
    assert BurnWindow(action="page", long="60m", short="5m", burn_rate=2).long == "1h"  # spelled one way


def test_slo_model_minutes_are_the_promtool_fixtures() -> None:
    """tests/integration/promtool/*.yml check Prometheus at the minutes this model gives for the same traffic: the
    first minute each burn alerts (and nothing the minute, or the scrape, before)."""
    import yaml

    fixtures = Path(__file__).resolve().parents[1] / "integration" / "promtool"

    def firsts(name: str) -> list[tuple[int, int]]:  # per test: (last quiet eval minute, first alerting eval minute)
        body = yaml.safe_load((fixtures / name).read_text())
        pairs = []
        for test in body["tests"]:
            cases = test.get("promql_expr_test", [])
            checks = [(int(c["eval_time"].removesuffix("m")), bool(c["exp_samples"])) for c in cases]
            quiet = [m for m, alerting in checks if not alerting]
            alerting = [m for m, alerting in checks if alerting]
            if alerting:
                pairs.append((quiet[0], alerting[0]))
        return pairs

    def model(history: int, burn_rate: float, label: str) -> int | None:
        result = evaluate(99.9, WINDOWS, burn(99.9, 0, history, 1000) + burn(99.9, burn_rate, 3 * 1440, 1000))
        first = result.first(label, history)
        return None if first is None else first + 1  # the end of minute index m is minute m + 1

    pages = firsts("slo_pages_test.yml")  # six hours of clean history, scraped every minute
    assert pages == [(360, 361), (417, 418), (719, 720)]
    assert [model(360, b, w) for b, w in ((1000, "1h/5m"), (15, "1h/5m"), (6, "6h/30m"))] == [361, 418, 720]
    tickets = firsts("slo_tickets_test.yml")  # three days of clean history, scraped every five minutes
    assert tickets == [(6475, 6480)]
    assert model(4320, 2, "3d/6h") == 6480
