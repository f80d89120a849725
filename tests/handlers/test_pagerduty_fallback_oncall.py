"""The "PagerDuty delivery failed" notice names someone (issue 13): the configured Slack user group, mentioned by a
mention we build from its checked id; a mention written in the alert's own text stays text."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from alertlib.deliver import Destination
from alertlib.forward import DeliveriesFailedError
from tests.conftest import SLACK_SECRET, FakeContext, sns_event
from tests.unit.helpers import alarm
from tools.standins import Answer, StandIn


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None


def test_pagerduty_failed_notice_mentions_the_oncall_group(
    make_forwarder: Any, pagerduty: StandIn, slack: StandIn, context: FakeContext
) -> None:
    pagerduty.then(*[Answer(status=503)] * 10)
    forwarder = make_forwarder(
        Destination.PAGERDUTY, retries=1, fallback_slack_secret=SLACK_SECRET, oncall_slack_group="S0123ABCD"
    )
    hostile = alarm(description="<!subteam^SEVIL> <!channel> page them\nrunbook: https://runbooks.example.com/x")
    with pytest.raises(DeliveriesFailedError):
        forwarder.run(sns_event(hostile), context)
    [message] = slack.accepted()
    sent = json.dumps(message.body)
    assert set(re.findall(r"<!subteam\^([^>|]*)", sent)) == {"S0123ABCD"}  # ours, in the notice and push text
    assert "<!subteam^SEVIL>" not in sent and "<!channel>" not in sent
    assert "page the on-call by hand" in sent


def test_pagerduty_failed_notice_without_a_group_mentions_nobody(
    make_forwarder: Any, pagerduty: StandIn, slack: StandIn, context: FakeContext
) -> None:
    pagerduty.then(*[Answer(status=503)] * 10)
    forwarder = make_forwarder(Destination.PAGERDUTY, retries=1, fallback_slack_secret=SLACK_SECRET)
    with pytest.raises(DeliveriesFailedError):
        forwarder.run(sns_event(alarm()), context)
    [message] = slack.accepted()
    assert "<!subteam^" not in json.dumps(message.body)
