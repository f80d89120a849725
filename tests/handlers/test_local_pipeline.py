"""tools.serve: the endpoint, SNS (moto), both forwarders and recorders for PagerDuty and Slack, on one machine."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import load_event
from tests.unit.helpers import alarm, alertmanager
from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn


@pytest.fixture
def recorders() -> Iterator[tuple[StandIn, StandIn]]:
    with StandIn("pagerduty") as pagerduty, StandIn("slack") as slack:
        yield pagerduty, slack


@pytest.fixture
def pipeline(recorders: tuple[StandIn, StandIn]) -> Iterator[LocalPipeline]:
    pagerduty, slack = recorders
    lines: list[str] = []
    with LocalPipeline(
        port=free_port(),
        pagerduty_url=pagerduty.url,
        slack_url=slack.url,
        webhook_token="t0ken-local-pipeline",
        say=lines.append,
    ) as running:
        yield running


def post(url: str, body: Any, token: str = "t0ken-local-pipeline") -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_alertmanager_post_reaches_the_given_urls(pipeline: LocalPipeline, recorders: tuple[StandIn, StandIn]) -> None:
    pagerduty, slack = recorders
    assert post(pipeline.url, alertmanager(2)) == 202
    assert pipeline.wait_idle()
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger"]
    assert len(slack.accepted()) == 1
    assert post(pipeline.url, alertmanager(2, status="resolved")) == 202
    assert pipeline.wait_idle()
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger", "resolve"]
    assert pagerduty.accepted()[0].body["dedup_key"] == pagerduty.accepted()[1].body["dedup_key"]
    assert [d.destination for d in pipeline.deliveries] == ["pagerduty", "slack", "pagerduty", "slack"]


def test_wrong_token_is_refused_and_nothing_is_sent(
    pipeline: LocalPipeline, recorders: tuple[StandIn, StandIn]
) -> None:
    assert post(pipeline.url, alertmanager(1), token="wrong") == 401
    assert pipeline.wait_idle()
    assert recorders[0].received == [] and recorders[1].received == []


def test_cloudwatch_publish_goes_through_the_forwarders(
    pipeline: LocalPipeline, recorders: tuple[StandIn, StandIn]
) -> None:
    pipeline.publish("critical", alarm())
    pipeline.publish("warning", load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json"))
    assert pipeline.wait_idle()
    pagerduty, slack = recorders
    assert len(pagerduty.accepted()) == 1  # dev routes only critical to PagerDuty
    assert len(slack.accepted()) == 2
