"""The PagerDuty forwarder never pages for a state whose actions CloudWatch suppressed (issue 13): a composite
alarm during its suppressor's ALARM, wait or extension period. Counted (AlertsSuppressed) and logged; Slack still
shows it; resolves still go; paced, it never joins a storm incident."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from alertlib.deliver import Destination
from alertlib.forward import Forwarder
from tests.conftest import FakeContext, load_event, sns_event
from tests.unit.helpers import alarm
from tests.unit.test_pacing import clock, paced, store  # noqa: F401 - the pacer's fixtures
from tests.unit.test_parse import sqs_event
from tools.standins import StandIn

Make = Callable[..., Forwarder]
COMPOSITE = "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"


@pytest.fixture(autouse=True)
def _secrets(secrets: Any) -> None:
    return None


def _composite(name: str = "ServiceAggregatedAlarm", state: str = "ALARM", previous: str = "OK") -> dict[str, Any]:
    event = copy.deepcopy(load_event(COMPOSITE))
    event["detail"]["alarmName"] = name
    event["resources"] = [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"]
    event["detail"]["state"]["value"] = state
    event["detail"]["previousState"]["value"] = previous
    return event


def _metrics(out: str) -> dict[tuple[str, str], int]:
    documents = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    return {
        (name, doc.get("destination")): sum(doc[name]) if isinstance(doc[name], list) else doc[name]
        for doc in documents
        for metric in doc["_aws"]["CloudWatchMetrics"]
        for name in (m["Name"] for m in metric["Metrics"])
    }


def _suppressed_logs(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if "suppressed the alarm" in r.getMessage()]


def test_pagerduty_suppressed_composite_is_not_paged_counted_and_logged(
    make_forwarder: Make,
    pagerduty: StandIn,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome = make_forwarder(Destination.PAGERDUTY).run(load_event(COMPOSITE), context)
    assert (outcome["received"], outcome["delivered"], outcome["ignored"], outcome["failed"]) == (1, 0, 1, 0)
    assert pagerduty.received == []
    assert _metrics(capsys.readouterr().out)[("AlertsSuppressed", "pagerduty")] == 1
    [logged] = _suppressed_logs(caplog)
    assert (logged["suppressed_by"], logged["suppression"]) == ("ServiceMaintenanceAlarm", "WaitPeriod")


def test_pagerduty_suppressed_composite_through_sns_is_not_paged(
    make_forwarder: Make, pagerduty: StandIn, context: FakeContext
) -> None:
    outcome = make_forwarder(Destination.PAGERDUTY).run(sns_event(load_event(COMPOSITE)), context)
    assert (outcome["delivered"], outcome["ignored"]) == (0, 1)
    assert pagerduty.received == []


def test_pagerduty_suppressed_composite_still_reaches_slack(
    make_forwarder: Make, slack: StandIn, context: FakeContext
) -> None:
    assert make_forwarder(Destination.SLACK).run(load_event(COMPOSITE), context)["delivered"] == 1
    assert len(slack.accepted()) == 1


def test_pagerduty_suppressed_ok_still_resolves(make_forwarder: Make, pagerduty: StandIn, context: FakeContext) -> None:
    outcome = make_forwarder(Destination.PAGERDUTY).run(_composite(state="OK", previous="ALARM"), context)
    assert outcome["delivered"] == 1
    [sent] = pagerduty.accepted()
    assert sent.body["event_action"] == "resolve"


def test_pagerduty_suppressed_alarm_resolves_the_insufficient_data_it_leaves(
    make_forwarder: Make, pagerduty: StandIn, context: FakeContext
) -> None:
    outcome = make_forwarder(Destination.PAGERDUTY).run(_composite(previous="INSUFFICIENT_DATA"), context)
    assert outcome["delivered"] == 1
    [sent] = pagerduty.accepted()
    assert (sent.body["event_action"], sent.body["dedup_key"].endswith("#insufficient-data")) == ("resolve", True)


def test_pagerduty_suppressed_composites_never_open_a_storm_incident(
    paced: Callable[..., Forwarder],  # noqa: F811 - the pacer's fixture
    pagerduty: StandIn,
) -> None:
    forwarder = paced(Destination.PAGERDUTY)
    names = [f"composite-{i}" for i in range(8)]
    answer = forwarder.run(sqs_event(*(_composite(n) for n in names), alarm(name="real")), FakeContext())
    assert answer == {"batchItemFailures": []}
    sent = [r.body for r in pagerduty.accepted()]
    assert [e["event_action"] for e in sent] == ["trigger"]  # the unsuppressed alarm alone, paged on its own
    assert not sent[0]["dedup_key"].startswith("storm-")
    assert not any(n in json.dumps(sent) for n in names)


def test_pagerduty_suppressed_log_names_a_long_suppressor_briefly(
    make_forwarder: Make, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event(COMPOSITE)
    event["detail"]["configuration"]["actionsSuppressor"] = "x" * 5000
    make_forwarder(Destination.PAGERDUTY).run(event, context)
    [logged] = _suppressed_logs(caplog)
    assert 0 < len(logged["suppressed_by"]) <= 255
