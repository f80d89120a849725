"""alertlib.slo_burn without AWS: the metric math it evaluates (the alarms' own expressions, from infra), the
numbers, the window alarm's name (pinned to infra's convention), and the stage's bounds: a non-SLO alert makes no
call, no time or a CloudWatch that does not answer leaves the alert as it was, counted, and never raises."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alertlib.deliver import Deadline
from alertlib.models import Slo, Source
from alertlib.observability import Counters
from alertlib.slo import period_days
from alertlib.slo_burn import (
    DELIVERY_RESERVE,
    MAX_EXPRESSION,
    SLO_QUERY_FAILED,
    SloQueries,
    UnsupportedExpressionError,
    budget_left,
    burn_rate,
    enrich_slo,
    evaluate,
    metric_data_queries,
    query_range,
    window_alarm,
    window_alarm_name,
)
from infra.config import load_config
from infra.constructs.slo_alarms import plan_pairs, ratio_expression
from infra.slo import alarm_description, description_line
from tests.unit.helpers import alarm, alertmanager, group_of

NOW = datetime(2026, 12, 3, 8, 0, 30, tzinfo=UTC)
SLO = next(s for s in load_config("dev").slos if s.name == "api-availability")
PAIR = plan_pairs("dev", SLO)[0]


def composite(state: str = "ALARM") -> Any:
    return group_of(alarm(name=PAIR.composite, state=state, description=alarm_description(SLO, PAIR.pair),
                          Trigger=None, AlarmRule=PAIR.rule))  # fmt: skip


def window_alarm_answer(description: str | None = None) -> dict[str, Any]:
    """DescribeAlarms' answer for the long window alarm, its queries as SloAlarms writes them (a ratio over ids)."""
    stat = {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount"}, "Period": 3600, "Stat": "Sum"}
    return {"MetricAlarms": [{
        "AlarmName": PAIR.long.name,
        "AlarmDescription": description or f"text\n{description_line(SLO, PAIR.pair)}",
        "Metrics": [
            {"Id": "ratio", "Expression": ratio_expression(SLO), "ReturnData": True},
            {"Id": "total_value", "MetricStat": stat, "ReturnData": False},
            {"Id": "bad_target", "MetricStat": stat, "ReturnData": False},
            {"Id": "bad_elb", "MetricStat": stat, "ReturnData": False},
        ],
    }]}  # fmt: skip


class FakeCloudWatch:
    """Answers DescribeAlarms and GetMetricData from fixed sums; records each call; can be held until released."""

    def __init__(self, sums: dict[str, float] | None = None, *, hold: threading.Event | None = None) -> None:
        self.sums = sums if sums is not None else {"total_value": 10_000.0, "bad_target": 100.0, "bad_elb": 44.0}
        self.hold = hold
        self.calls: list[str] = []

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("DescribeAlarms")
        if self.hold is not None:
            self.hold.wait(10)
        assert kwargs == {"AlarmNames": [PAIR.long.name], "AlarmTypes": ["MetricAlarm"]}
        return window_alarm_answer()

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("GetMetricData")
        return {"MetricDataResults": [
            {"Id": q["Id"], "Values": [self.sums[q["Id"]]] if q["Id"] in self.sums else [], "StatusCode": "Complete"}
            for q in kwargs["MetricDataQueries"]
        ]}  # fmt: skip


def queries_of(client: Any) -> SloQueries:
    return SloQueries(lambda _region: client, environment="dev")


# -- the numbers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "objective", "burn", "left"),
    [
        (0.0144, 99.9, 14.4, -1340.0),
        (0.006, 99.9, 6.0, -500.0),
        (0.00075, 99.9, 0.75, 25.0),
        (0.0, 99.9, 0.0, 100.0),
        (0.001, 99.9, 1.0, 0.0),
        (0.05, 95, 1.0, 0.0),
        (0.000_005, 99.9999, 5.0, -400.0),
        (1.0, 99.9, 1000.0, -99_900.0),
    ],
)
def test_slo_burn_numbers_burn_rate_and_budget_left(ratio: float, objective: float, burn: float, left: float) -> None:
    assert burn_rate(ratio, objective) == burn
    assert budget_left(ratio, objective) == left


# -- metric math ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_slo_burn_evaluate_reads_every_ratio_expression_infra_writes(env: str) -> None:
    """bad / total for each SLO's own expression, whatever its ids: bad ids 1 each, total ids 1,000 each."""
    for slo in load_config(env).slos:
        math = slo.cloudwatch_error_ratio()
        values: dict[str, float | None] = {i: (1000.0 if i.startswith("total") else 1.0) for i in math.metrics}
        bad = evaluate(math.bad, values)
        total = evaluate(math.total, values)
        assert bad is not None and total
        assert evaluate(ratio_expression(slo), values) == pytest.approx(bad / total)
        no_data: dict[str, float | None] = dict.fromkeys(math.metrics)
        assert evaluate(ratio_expression(slo), no_data) == 0  # FILL(x, 0): no traffic, no error


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a + b * 2", 7.0),
        ("(a + b) * 2", 8.0),
        ("-a - -b", 2.0),
        ("a / 0", None),
        ("c + 1", None),
        ("FILL(c, 0) + 1", 1.0),
        ("IF(a > b, 1, 2)", 2.0),
        ("IF(a <= b, a, b)", 1.0),
        ("IF(c > 0, 1, 2)", None),
        ("IF(a != 1, 5, b / 0)", None),
        ("1.5e3 / .5", 3000.0),
        ("  a  ", 1.0),
        ("r * 10", 30.0),
    ],
)
def test_slo_burn_evaluate_metric_math(expression: str, expected: float | None) -> None:
    assert evaluate(expression, {"a": 1.0, "b": 3.0, "c": None}, {"r": "FILL(c, a) + 2"}) == expected


@pytest.mark.parametrize(
    "expression",
    ["SUM([a, b])", "METRICS()", "a +", "(a", "a b", "unknown", "FILL(a)", "IF(a, b)", "a ^ 2", "a" * 10 + "@",
     "(" * 2000 + "a" + ")" * 2000, "a + " * (MAX_EXPRESSION // 4) + "a", "loop"],
)  # fmt: skip
def test_slo_burn_evaluate_refuses_what_it_does_not_know(expression: str) -> None:
    with pytest.raises(UnsupportedExpressionError):
        evaluate(expression, {"a": 1.0, "b": 2.0}, {"loop": "loop + 1"})


# -- names, ranges, queries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_slo_burn_window_alarm_name_is_infras_long_window_alarm(env: str) -> None:
    for slo in load_config(env).slos:
        for pair in plan_pairs(env, slo):
            seen = Slo(name=slo.name, objective=slo.objective, window=pair.pair.label, action=pair.pair.action)
            assert window_alarm_name(pair.composite, seen, env) == pair.long.name
            assert window_alarm_name(pair.long.name, seen, env) == pair.long.name
            assert window_alarm_name(pair.composite, seen, "other") is None
            assert window_alarm_name(pair.composite, replace(seen, window="9h/1h"), env) is None
            assert window_alarm_name(pair.composite, replace(seen, action=None), env) is None
    assert window_alarm_name("checkout-1h-5m-page", Slo(name="c", window="1h/5m", action="page")) is None


def test_slo_burn_period_days_read_from_the_line() -> None:
    for slo in load_config("dev").slos:
        for pair in slo.alert_windows:
            assert period_days(alarm_description(slo, pair)) == slo.period_days
    for bad in ("slo: name=a period=0d", "slo: name=a period=366d", "slo: name=a period=30h", "slo: name=a", None):
        assert period_days(bad) is None


@pytest.mark.parametrize(
    ("seconds", "step"), [(3600, 60), (3 * 86_400, 60), (30 * 86_400, 300), (90 * 86_400, 3600), (365 * 86_400, 3600)]
)
def test_slo_burn_query_range_is_one_period_on_cloudwatchs_boundaries(seconds: int, step: int) -> None:
    start, end = query_range(NOW, seconds)
    assert (end - start).total_seconds() == seconds
    assert end <= NOW and int(end.timestamp()) % step == 0 and int(start.timestamp()) % step == 0
    assert seconds % step == 0  # the period is a multiple of what CloudWatch keeps for data that old


def test_slo_burn_metric_data_queries_ask_each_metric_once_per_period_and_the_ratio() -> None:
    found = window_alarm(window_alarm_answer()["MetricAlarms"][0], Slo(name=SLO.name))
    queries = metric_data_queries(found, 30 * 86_400)
    assert [q["Id"] for q in queries] == ["total_value", "bad_target", "bad_elb", "ratio"]
    assert {q["MetricStat"]["Period"] for q in queries if "MetricStat" in q} == {30 * 86_400}
    assert [q["Id"] for q in queries if q["ReturnData"]] == ["total_value", "bad_target", "bad_elb", "ratio"]
    assert found.period_days == 30
    assert len(queries) <= 500


# -- the stage -----------------------------------------------------------------------------------------------------


def test_slo_burn_enrich_fills_the_numbers_and_keeps_the_rest() -> None:
    client = FakeCloudWatch()
    before = composite()
    after = enrich_slo(before, queries_of(client), now=NOW)
    slo = after.alerts[0].slo
    assert slo is not None and before.alerts[0].slo is not None
    assert slo == replace(before.alerts[0].slo, observed_burn_rate=14.4, budget_left=-1340.0)
    assert replace(after, alerts=before.alerts) == before
    assert client.calls == ["DescribeAlarms", "GetMetricData", "GetMetricData"]


def test_slo_burn_enrich_reads_the_window_alarm_once_per_container() -> None:
    client = FakeCloudWatch()
    queries = queries_of(client)
    enrich_slo(composite(), queries, now=NOW)
    enrich_slo(composite("OK"), queries, now=NOW)
    assert client.calls.count("DescribeAlarms") == 1


@pytest.mark.parametrize(
    "event",
    [
        alarm(),  # a CloudWatch alarm of no SLO
        alertmanager(1),  # Prometheus
        alertmanager(1, commonLabels={"slo": "api"}, alerts=[{
            "status": "firing", "labels": {"alertname": "Burn", "slo": "api", "slo_window": "1h/5m"},
            "annotations": {"slo_objective": "99.9", "burn_rate": "14.4"}, "startsAt": "2026-11-22T02:50:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "1"}]),  # a Prometheus SLO alert: its own annotations
        alarm(name=PAIR.composite, state="INSUFFICIENT_DATA", description=alarm_description(SLO, PAIR.pair)),
    ],
)  # fmt: skip
def test_slo_burn_enrich_makes_no_call_for_other_alerts(event: dict[str, Any]) -> None:
    def no_client(_region: str | None) -> Any:
        raise AssertionError("no client wanted")

    counters = Counters("slack")
    group = group_of(event)
    assert enrich_slo(group, SloQueries(no_client), now=NOW, counters=counters) is group
    assert not counters.counts


def test_slo_burn_enrich_with_no_time_leaves_the_alert_and_counts() -> None:
    client = FakeCloudWatch()
    counters = Counters("pagerduty")
    before = composite()
    assert enrich_slo(before, queries_of(client), now=NOW, counters=counters, budget=0) == before
    assert enrich_slo(before, queries_of(client), now=NOW, counters=counters,
                      deadline=Deadline(DELIVERY_RESERVE)) == before  # fmt: skip
    assert client.calls == []
    assert counters.counts[(SLO_QUERY_FAILED, Source.CLOUDWATCH.value)] == 2


def test_slo_burn_enrich_does_not_wait_for_a_cloudwatch_that_does_not_answer() -> None:
    """CloudWatch holds the call (until released at the end): the stage answers at its budget, unchanged."""
    hold = threading.Event()
    client = FakeCloudWatch(hold=hold)
    counters = Counters("pagerduty")
    before = composite()
    try:
        assert enrich_slo(before, queries_of(client), now=NOW, counters=counters, budget=0.05) == before
    finally:
        hold.set()
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"MetricDataResults": None},
        {"MetricDataResults": [{"Id": "total_value", "Values": ["x"]}]},
        {"MetricDataResults": [{"Id": "total_value", "Values": [1.0], "StatusCode": "Forbidden"}]},
        {"MetricDataResults": [{"Id": "total_value", "Values": [float("nan")], "StatusCode": "Complete"}]},
    ],
)
def test_slo_burn_enrich_never_raises_on_odd_answers(answer: dict[str, Any]) -> None:
    client = FakeCloudWatch()
    client.get_metric_data = lambda **_: answer  # type: ignore[method-assign]
    counters = Counters("slack")
    before = composite()
    after = enrich_slo(before, queries_of(client), now=NOW, counters=counters)
    assert after.alerts[0].slo == before.alerts[0].slo
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1


def test_slo_burn_enrich_keeps_a_number_the_source_said() -> None:
    before = composite()
    slo = before.alerts[0].slo
    assert slo is not None
    said = replace(before, alerts=(replace(before.alerts[0], slo=replace(slo, budget_left=50.0)),))
    after = enrich_slo(said, queries_of(FakeCloudWatch()), now=NOW)
    assert after.alerts[0].slo == replace(slo, budget_left=50.0, observed_burn_rate=14.4)


def test_slo_burn_enrich_a_slow_budget_query_keeps_the_burn_rate() -> None:
    """The period's query does not answer in time: the page still shows the burn seen over the window."""
    hold = threading.Event()
    client = FakeCloudWatch()
    answer = client.get_metric_data

    def second_held(**kwargs: Any) -> dict[str, Any]:
        if client.calls.count("GetMetricData") >= 1:
            hold.wait(10)
        return answer(**kwargs)

    client.get_metric_data = second_held  # type: ignore[method-assign]
    counters = Counters("pagerduty")
    try:
        after = enrich_slo(composite(), queries_of(client), now=NOW, counters=counters, budget=2.0)
    finally:
        hold.set()
    slo = after.alerts[0].slo
    assert slo is not None and (slo.observed_burn_rate, slo.budget_left) == (14.4, None)
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1


def test_slo_burn_enrich_a_bug_inside_leaves_the_alert_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr("alertlib.slo_burn.threading.Thread", broken)
    counters = Counters("slack")
    before = composite()
    assert enrich_slo(before, queries_of(FakeCloudWatch()), now=NOW, counters=counters) is before
    assert counters.counts[(SLO_QUERY_FAILED, "cloudwatch")] == 1
