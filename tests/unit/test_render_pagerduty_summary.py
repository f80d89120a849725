"""render_pagerduty: the summary a phone's lock screen shows (issue 13). What broke and where first: the alarm's
name, then the environment (an account alias) and region, then the value; no state word, no metric or resource the
name already says, never a 12-digit account when an alias is known; at most 1024 characters whatever the input."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from alertlib.models import Status
from alertlib.render_pagerduty import MAX_SUMMARY, render_pagerduty
from alertlib.settings import Settings
from tests.conftest import EVENTS, load_event, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of

ALIASES = {"123456789012": "shop-prod"}
LOCK_SCREEN = 110  # characters a phone shows of a notification


def _named(aliases: dict[str, str] | None = None, environment: str | None = None) -> Settings:
    return Settings(account_aliases=aliases or {}, environment_name=environment)


def _summary(event: Any, settings: Settings | None = None) -> str:
    [trigger] = [e for e in render_pagerduty(group_of(event, settings)) if e["event_action"] == "trigger"]
    summary: str = trigger["payload"]["summary"]
    return summary


def test_render_pagerduty_summary_starts_with_the_alarm_name_not_a_state_word() -> None:
    summary = _summary(sns_event(alarm(name="orders-db-cpu")))
    assert summary.startswith("orders-db-cpu ")
    assert "ALARM" not in summary


def test_render_pagerduty_summary_names_the_environment_instead_of_the_account() -> None:
    summary = _summary(sns_event(alarm(name="orders-db-cpu")), _named(ALIASES))
    assert summary.startswith("orders-db-cpu (shop-prod us-east-1): ")
    assert "123456789012" not in summary


def test_render_pagerduty_summary_without_an_alias_names_the_account() -> None:
    summary = _summary(sns_event(alarm(name="orders-db-cpu")), _named({"999999999999": "other"}))
    assert summary.startswith("orders-db-cpu (123456789012 us-east-1): ")


def test_render_pagerduty_summary_names_the_environment_when_the_alert_names_no_account() -> None:
    group = group_of(sns_event(alarm(name="orders-db-cpu")), _named(environment="prod"))
    group = replace(group, alerts=(replace(group.alerts[0], account=None),))
    [event] = render_pagerduty(group)
    assert event["payload"]["summary"].startswith("orders-db-cpu (prod us-east-1): ")


def test_render_pagerduty_group_names_the_environment() -> None:
    [event] = render_pagerduty(group_of(sns_event(alarm()), _named(ALIASES)))
    assert event["payload"]["group"] == "shop-prod/us-east-1"


def test_render_pagerduty_summary_does_not_repeat_the_metric_or_resource_of_the_name() -> None:
    summary = _summary(sns_event(alarm(name="prod-rds-orders-db-CPUUtilization")), _named(ALIASES))
    assert summary.count("CPUUtilization") == 1
    assert summary.count("orders-db") == 1
    assert "97.5" in summary


def test_render_pagerduty_summary_keeps_the_resource_the_name_does_not_say() -> None:
    summary = _summary(sns_event(alarm(name="rds-cpu-high")))
    assert "orders-db" in summary and "CPUUtilization" in summary


def test_render_pagerduty_summary_what_and_where_fit_the_lock_screen() -> None:
    summary = _summary(sns_event(alarm(name="prod-rds-orders-db-CPUUtilization")), _named(ALIASES))
    assert "shop-prod" in summary[:LOCK_SCREEN]
    assert "97.5" in summary[:LOCK_SCREEN]


def test_render_pagerduty_summary_insufficient_data_says_no_data() -> None:
    summary = _summary(sns_event(alarm(name="orders-db-cpu", state="INSUFFICIENT_DATA")))
    assert "no data" in summary.lower()
    assert "ALARM" not in summary


def test_render_pagerduty_summary_drill_says_drill_first() -> None:
    summary = _summary(sns_event(alarm(name="orders-db-cpu", reason="DRILL: set by the pager drill")))
    assert summary.startswith("[DRILL] orders-db-cpu")


def test_render_pagerduty_summary_alertmanager_names_the_first_alert_and_counts() -> None:
    summary = _summary(sns_event(alertmanager(3)))
    assert summary.startswith("[FIRING:3] HighLatency: p99 latency above 2s on api-0 (+2 more)")


@pytest.mark.parametrize("length", [1, 200, 255, 2000, 100_000])
def test_render_pagerduty_summary_at_most_1024_characters(length: int) -> None:
    group = group_of(sns_event(alarm(name="n" * min(length, 255))))
    alert = replace(
        group.alerts[0], title="t" * length, summary="s " * length, region="r" * length, account_name="a" * length
    )
    group = replace(group, title=alert.title, alerts=(alert,), environment="e" * length)
    for status in (Status.FIRING, Status.INSUFFICIENT_DATA):
        at = replace(group, status=status, alerts=(replace(alert, status=status),))
        for event in render_pagerduty(at):
            if event["event_action"] == "trigger":
                assert 1 <= len(event["payload"]["summary"]) <= MAX_SUMMARY
                assert len(event["payload"]["group"]) <= 255


@pytest.mark.parametrize(
    "sample",
    sorted(
        p.name
        for p in EVENTS.glob("*.json")
        if not p.name.startswith(("pagerduty-", "lambda-sns-envelope-generic", "cloudformation-"))
    ),
)
def test_render_pagerduty_summary_of_every_sample(sample: str) -> None:
    for event in render_pagerduty(group_of(load_event(sample), _named(ALIASES, "prod"))):
        if event["event_action"] == "trigger":
            summary = event["payload"]["summary"]
            assert 1 <= len(summary) <= MAX_SUMMARY
            assert not summary.startswith(("ALARM", "OK:", "INSUFFICIENT"))
            assert "(123456789012" not in summary


def test_render_pagerduty_summary_no_data_does_not_repeat_the_name() -> None:
    summary = _summary(sns_event(alarm(name="prod-rds-orders-db-CPUUtilization", state="INSUFFICIENT_DATA")))
    assert summary.count("CPUUtilization") == 1 and summary.count("orders-db") == 1
    assert "no data since" in summary.lower()


def test_render_pagerduty_summary_alertmanager_names_the_environment() -> None:
    summary = _summary(sns_event(alertmanager(3)), _named(environment="prod"))
    assert summary.startswith("[FIRING:3] HighLatency (prod): p99 latency above 2s on api-0 (+2 more)")


def test_render_pagerduty_summary_never_shows_a_number_while_the_environment_has_a_name() -> None:
    summary = _summary(sns_event(alarm(name="orders-db-cpu")), _named({"999999999999": "other"}, "prod"))
    assert summary.startswith("orders-db-cpu (prod us-east-1): ")
    [event] = render_pagerduty(group_of(sns_event(alarm()), _named(environment="prod")))
    assert event["payload"]["group"] == "123456789012/us-east-1"  # the number stays where it is looked up
    assert event["payload"]["custom_details"]["account"] == "123456789012"
