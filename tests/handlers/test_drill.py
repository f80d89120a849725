"""tools.drill against the local pipeline: every dev alarm pages as routed and resolves; DRILL is shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alertlib.reliability import Ledger
from infra.config import load_config
from tools.drill import Drill, main, routing
from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn
from tools.world import synthesize


def _alarms_in_templates(env: str) -> int:
    return sum(
        1
        for template in synthesize(env).values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_drill_local_drills_every_alarm_of_the_templates(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    count = _alarms_in_templates(env)
    assert main(["--env", env, "--local", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert f"The local world holds {count} alarms" in out
    assert f"{count} alarms went from INSUFFICIENT_DATA to OK first, and nothing was forwarded" in out
    assert f"all {count} alarms reached PagerDuty and Slack as routed, and resolved" in out
    assert f"{env}-forwarder-pagerduty-Errors" in out


@pytest.fixture
def pipeline() -> Iterator[tuple[LocalPipeline, StandIn, StandIn]]:
    with (
        StandIn("pagerduty") as pagerduty,
        StandIn("slack") as slack,
        LocalPipeline(port=free_port(), pagerduty_url=pagerduty.url, slack_url=slack.url, say=lambda _: None) as p,
    ):
        yield p, pagerduty, slack


def _drill(pipeline: LocalPipeline, **overrides: object) -> Drill:
    settings: dict[str, object] = {
        "cloudwatch": pipeline.cloudwatch,
        "ledger": Ledger(pipeline.ledger_table),
        "destinations_for": routing(load_config("dev")),
        "after_state_change": pipeline.emulate_alarm_action,
        "timeout": 10,
        "say": lambda _: None,
        **overrides,
    }
    return Drill(**settings)  # type: ignore[arg-type]


def test_drill_shows_drill_in_slack_and_pagerduty(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, pagerduty, slack = pipeline
    drill = _drill(running)
    [result] = drill.run(drill.alarms("dev-", ["dev-rds-orders-db-FreeStorageSpace"], None))
    assert result.missing == []
    trigger, *_, resolve = (r.body for r in pagerduty.accepted())  # leaving INSUFFICIENT_DATA resolves its own key
    assert trigger["payload"]["summary"].startswith("[DRILL] ALARM: dev-rds-orders-db-FreeStorageSpace")
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", trigger["dedup_key"])
    assert "DRILL" in slack.accepted()[0].body["blocks"][0]["text"]["text"]
    [alarm] = running.cloudwatch.describe_alarms(AlarmNames=["dev-rds-orders-db-FreeStorageSpace"])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"


def test_a_broken_forwarder_reaches_a_human_through_the_other(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, pagerduty, slack = pipeline
    drill = _drill(running)
    [result] = drill.run(drill.alarms("dev-", ["dev-forwarder-pagerduty-Errors"], None))
    assert result.expected == ("slack",)
    assert result.missing == []
    assert pagerduty.received == []
    assert "dev-forwarder-pagerduty-Errors" in slack.accepted()[0].body["text"]


def test_a_missing_delivery_is_named_and_the_alarm_restored(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, _, _ = pipeline
    drill = _drill(running, destinations_for=lambda topic: ("pagerduty", "slack"))  # claims PagerDuty for warning
    drill.timeout = 4  # the functions' first invocation is a cold start
    [result] = drill.run(drill.alarms("dev-", ["dev-ecs-web-worker-CPUUtilization"], None))
    assert result.missing == [
        "dev-ecs-web-worker-CPUUtilization: pagerduty (ALARM)",
        "dev-ecs-web-worker-CPUUtilization: pagerduty (OK)",
    ]


def test_an_interrupted_drill_puts_every_alarm_back_to_ok(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, _, _ = pipeline
    calls: list[str] = []

    def interrupt(name: str) -> None:
        calls.append(name)
        running.emulate_alarm_action(name)
        if len(calls) == 1:
            raise KeyboardInterrupt

    drill = _drill(running, after_state_change=interrupt)
    alarms = drill.alarms("dev-", ["dev-rds-orders-db-CPUUtilization"], None)
    with pytest.raises(KeyboardInterrupt):
        drill.run(alarms)
    [alarm] = running.cloudwatch.describe_alarms(AlarmNames=["dev-rds-orders-db-CPUUtilization"])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"
    assert alarm["StateReason"].startswith("DRILL: restored")


def test_an_alarm_in_alarm_for_real_is_not_drilled(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, pagerduty, _ = pipeline
    running.cloudwatch.set_alarm_state(
        AlarmName="dev-rds-orders-db-FreeStorageSpace", StateValue="ALARM", StateReason="Threshold Crossed"
    )
    drill = _drill(running)
    [result] = drill.run(drill.alarms("dev-", ["dev-rds-orders-db-FreeStorageSpace"], None))
    assert result.skipped and result.missing == []
    [alarm] = running.cloudwatch.describe_alarms(AlarmNames=["dev-rds-orders-db-FreeStorageSpace"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert pagerduty.received == []
