"""render_pagerduty: a state whose actions CloudWatch suppressed pages nobody; its resolves still go (issue 13)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alertlib.models import AlertGroup, Status
from alertlib.render_pagerduty import render_pagerduty, suppressed
from tests.conftest import load_event
from tests.unit.helpers import group_of

COMPOSITE = "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"


def _composite(status: Status, *, suppression: str | None = "WaitPeriod", previous: Status | None = None) -> AlertGroup:
    group = group_of(load_event(COMPOSITE))
    alert = replace(
        group.alerts[0],
        status=status,
        suppression=suppression,
        suppressed_by="ServiceMaintenanceAlarm" if suppression else None,
        previous=previous,
    )
    return replace(group, status=status, alerts=(alert,))


@pytest.mark.parametrize("suppression", ["ALARM", "WaitPeriod", "ExtensionPeriod"])
@pytest.mark.parametrize("status", [Status.FIRING, Status.INSUFFICIENT_DATA])
def test_render_pagerduty_suppressed_state_sends_no_trigger(status: Status, suppression: str) -> None:
    group = _composite(status, suppression=suppression)
    assert suppressed(group)
    assert render_pagerduty(group) == []
    assert render_pagerduty(group, insufficient_data="alarm") == []


def test_render_pagerduty_suppressed_resolve_is_still_sent() -> None:
    group = _composite(Status.RESOLVED, suppression="ALARM")
    assert not suppressed(group)
    assert [e["event_action"] for e in render_pagerduty(group)] == ["resolve"]


def test_render_pagerduty_suppressed_alarm_still_resolves_the_insufficient_data_it_leaves() -> None:
    group = _composite(Status.FIRING, previous=Status.INSUFFICIENT_DATA)
    [event] = render_pagerduty(group)
    assert event["event_action"] == "resolve"
    assert event["dedup_key"].endswith("#insufficient-data")


def test_render_pagerduty_composite_without_suppression_still_pages() -> None:
    group = _composite(Status.FIRING, suppression=None)
    assert not suppressed(group)
    assert [e["event_action"] for e in render_pagerduty(group)] == ["trigger"]


def test_render_pagerduty_suppressor_configured_but_not_suppressing_still_pages() -> None:
    """`actionsSuppressor` is configuration; only `actionsSuppressedBy` says this state's actions did not run."""
    group = _composite(Status.FIRING, suppression=None)
    group = replace(group, alerts=(replace(group.alerts[0], suppressed_by="ServiceMaintenanceAlarm"),))
    assert [e["event_action"] for e in render_pagerduty(group)] == ["trigger"]
