"""tools.drill against the local pipeline: every dev alarm pages as routed and resolves; DRILL is shown; an SLO
composite alarm (stood in: moto has none) reaches PagerDuty and Slack; another team's alarm is never touched."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from alertlib.reliability import Ledger
from infra.config import load_config
from tools.drill import Deployed, Drill, local_drill, main, routing
from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn
from tools.world import evaluate_rule, rule_children, synthesize


def _count(env: str, kind: str, *, notifying: bool | None = None) -> int:
    return sum(
        1
        for template in synthesize(env).values()
        for resource in template["Resources"].values()
        if resource["Type"] == kind
        and (notifying is None or bool(resource["Properties"].get("AlarmActions")) == notifying)
    )


@pytest.mark.parametrize("env", ["dev"])  # prod's 100-odd alarms: `make drill-local ENV=prod` (4 more minutes)
def test_drill_local_drills_every_alarm_of_the_templates(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    alarms = _count(env, "AWS::CloudWatch::Alarm")
    composites = _count(env, "AWS::CloudWatch::CompositeAlarm")
    silent = _count(env, "AWS::CloudWatch::Alarm", notifying=False)  # the SLO windows: their composites notify
    drilled = alarms + composites - silent
    assert composites > 0 and silent == 2 * composites
    assert main(["--env", env, "--local", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert f"The local world holds {alarms} alarms and {composites} composite alarms" in out
    assert f"{drilled} alarms went from INSUFFICIENT_DATA to OK first, and nothing was forwarded" in out
    assert f"all {drilled} alarms reached PagerDuty and Slack as routed, and resolved; {silent} skipped" in out
    assert f"{env}-forwarder-pagerduty-Errors" in out
    assert f"{env}-slo-" in out


@pytest.fixture
def pipeline() -> Iterator[tuple[LocalPipeline, StandIn, StandIn]]:
    with (
        StandIn("pagerduty") as pagerduty,
        StandIn("slack") as slack,
        LocalPipeline(port=free_port(), pagerduty_url=pagerduty.url, slack_url=slack.url, say=lambda _: None) as p,
    ):
        yield p, pagerduty, slack


@pytest.fixture
def prod_pipeline() -> Iterator[tuple[LocalPipeline, StandIn, StandIn]]:
    with (
        StandIn("pagerduty") as pagerduty,
        StandIn("slack") as slack,
        LocalPipeline(
            env="prod", port=free_port(), pagerduty_url=pagerduty.url, slack_url=slack.url, say=lambda _: None
        ) as p,
    ):
        yield p, pagerduty, slack


def _deployed(pipeline: LocalPipeline) -> Deployed:
    return Deployed.from_templates(pipeline.config.name, pipeline.world.templates)


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
    [result] = drill.run(drill.alarms(_deployed(running), ["dev-rds-orders-db-FreeStorageSpace"], None))
    assert result.missing == []
    trigger, *_, resolve = (r.body for r in pagerduty.accepted())  # leaving INSUFFICIENT_DATA resolves its own key
    summary = trigger["payload"]["summary"]
    assert summary.startswith("[DRILL]") and "dev-rds-orders-db-FreeStorageSpace" in summary
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", trigger["dedup_key"])
    assert "DRILL" in str(slack.accepted()[0].body)
    [alarm] = running.cloudwatch.describe_alarms(AlarmNames=["dev-rds-orders-db-FreeStorageSpace"])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"


def test_a_broken_forwarder_reaches_a_human_through_the_other(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, pagerduty, slack = pipeline
    drill = _drill(running)
    [result] = drill.run(drill.alarms(_deployed(running), ["dev-forwarder-pagerduty-Errors"], None))
    assert result.expected == ("slack",)
    assert result.missing == []
    assert pagerduty.received == []
    assert "dev-forwarder-pagerduty-Errors" in slack.accepted()[0].body["text"]


def test_a_missing_delivery_is_named_and_the_alarm_restored(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, _, _ = pipeline
    drill = _drill(running, destinations_for=lambda topic: ("pagerduty", "slack"))  # claims PagerDuty for warning
    drill.timeout = 4  # the functions' first invocation is a cold start
    [result] = drill.run(drill.alarms(_deployed(running), ["dev-ecs-web-worker-CPUUtilization"], None))
    assert result.missing == [
        "dev-ecs-web-worker-CPUUtilization: pagerduty (ALARM)",
        "dev-ecs-web-worker-CPUUtilization: pagerduty (OK)",
    ]


class _RoutedLedger:
    """The ledger as a drill reads it: each state change delivered to the routes `delivering` names."""

    def __init__(self, delivering: dict[str, tuple[str, ...]]) -> None:
        self.delivering = delivering
        self.rows: list[dict[str, object]] = []

    def deliver(self, state: str) -> None:
        for destination, routes in self.delivering.items():
            for route in routes:
                row = {"state": state, "destination": destination, "route": route, "delivered_at": time.time()}
                self.rows.append(row)

    def deliveries(self, alert_id: str, since: float) -> list[dict[str, object]]:
        return [r for r in self.rows if float(r["delivered_at"]) >= since]  # type: ignore[arg-type]


class _StateOnly:
    def set_alarm_state(self, **kwargs: str) -> None:
        self.state = kwargs["StateValue"]


def _routed_drill(ledger: _RoutedLedger) -> Drill:
    cloudwatch = _StateOnly()
    return Drill(
        cloudwatch=cloudwatch,
        ledger=ledger,
        destinations_for=lambda topic: ("pagerduty", "slack"),
        routes_for=lambda topic, d: ("alerting/dev/pagerduty",) if d == "pagerduty" else (
            "alerting/dev/slack-alerts", "alerting/dev/slack-app"
        ),
        after_state_change=lambda name: ledger.deliver({"ALARM": "firing", "OK": "resolved"}[cloudwatch.state]),
        timeout=0.5,
        say=lambda _: None,
    )  # fmt: skip


_CRITICAL = {
    "AlarmName": "dev-rds-orders-db-CPUUtilization",
    "AlarmArn": "arn:aws:cloudwatch:eu-west-1:111111111111:alarm:dev-rds-orders-db-CPUUtilization",
    "AlarmActions": ["arn:aws:sns:eu-west-1:111111111111:dev-critical"],
    "StateValue": "OK",
}


def test_drill_waits_for_every_route_of_a_destination_not_the_first() -> None:
    """dev's critical topic reaches Slack by a webhook and by an app route: the app route's delivery alone is not
    the webhook's (the drill moved on, the webhook's channel got each alarm and its resolve in one digest, its pace
    grew to 30 s, and the health alarms that reach Slack only by that webhook were late)."""
    app_only = _RoutedLedger({"pagerduty": ("alerting/dev/pagerduty",), "slack": ("alerting/dev/slack-app",)})
    [result] = _routed_drill(app_only).run([_CRITICAL])
    assert result.missing == [
        "dev-rds-orders-db-CPUUtilization: slack via alerting/dev/slack-alerts (ALARM)",
        "dev-rds-orders-db-CPUUtilization: slack via alerting/dev/slack-alerts (OK)",
    ]
    both = _RoutedLedger(
        {"pagerduty": ("alerting/dev/pagerduty",), "slack": ("alerting/dev/slack-app", "alerting/dev/slack-alerts")}
    )
    [result] = _routed_drill(both).run([_CRITICAL])
    assert result.missing == [] and result.to_destination["slack"] is not None


def test_drill_counts_a_delivery_without_a_route_for_each_route() -> None:
    """A forwarder deployed before the ledger named routes writes none: the drill still finishes."""
    old = _RoutedLedger({"pagerduty": (None,), "slack": (None,)})  # type: ignore[dict-item]
    [result] = _routed_drill(old).run([_CRITICAL])
    assert result.missing == []


def test_an_interrupted_drill_puts_every_alarm_back_to_ok(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, _, _ = pipeline
    calls: list[str] = []

    def interrupt(name: str) -> None:
        calls.append(name)
        running.emulate_alarm_action(name)
        if len(calls) == 1:
            raise KeyboardInterrupt

    drill = _drill(running, after_state_change=interrupt)
    alarms = drill.alarms(_deployed(running), ["dev-rds-orders-db-CPUUtilization"], None)
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
    [result] = drill.run(drill.alarms(_deployed(running), ["dev-rds-orders-db-FreeStorageSpace"], None))
    assert result.skipped and result.missing == []
    [alarm] = running.cloudwatch.describe_alarms(AlarmNames=["dev-rds-orders-db-FreeStorageSpace"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert pagerduty.received == []


def test_drill_an_slo_composite_alarm_reaches_pagerduty_and_slack(
    prod_pipeline: tuple[LocalPipeline, StandIn, StandIn],
) -> None:
    running, pagerduty, slack = prod_pipeline
    name = "prod-slo-checkout-availability-1h-5m-page"
    drill = local_drill(running, timeout=15, say=lambda _: None)
    [alarm] = drill.alarms(_deployed(running), [name], None)
    assert alarm["AlarmRule"] == (
        'ALARM("prod-slo-checkout-availability-1h-5m-over-1h") AND '
        'ALARM("prod-slo-checkout-availability-1h-5m-over-5m")'
    )
    [result] = drill.run([alarm])
    assert result.expected == ("pagerduty", "slack")
    assert result.missing == []
    # CloudWatch's composite notification: the rule and the children, no Trigger
    [(topic, firing), *_] = [(t, m) for t, m in drill.cloudwatch.published if m["NewStateValue"] == "ALARM"]
    assert topic.endswith(":prod-slo")
    assert "Trigger" not in firing and firing["AlarmRule"] == alarm["AlarmRule"]
    assert "slo: name=checkout-availability objective=99.9 period=30d window=1h/5m" in firing["AlarmDescription"]
    triggers = [r.body for r in pagerduty.accepted() if r.body["event_action"] == "trigger"]
    resolves = [r.body for r in pagerduty.accepted() if r.body["event_action"] == "resolve"]
    [trigger] = triggers
    assert trigger["payload"]["summary"].startswith("[DRILL]") and name in trigger["payload"]["summary"]
    assert resolves and resolves[-1]["dedup_key"] == trigger["dedup_key"]
    assert any(name in str(r.body) for r in slack.accepted())
    [after] = drill.cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert after["StateValue"] == "OK"


def test_an_slo_composite_fires_only_when_both_of_its_windows_alarm(
    pipeline: tuple[LocalPipeline, StandIn, StandIn],
) -> None:
    running, _, _ = pipeline
    cloudwatch = local_drill(running).cloudwatch
    base = "dev-slo-api-availability-1h-5m"
    cloudwatch.set_alarm_state(AlarmName=f"{base}-over-1h", StateValue="ALARM", StateReason="burning")
    assert [m["NewStateValue"] for _, m in cloudwatch.published] == ["OK"]  # INSUFFICIENT_DATA -> OK: the rule is false
    cloudwatch.set_alarm_state(AlarmName=f"{base}-over-5m", StateValue="ALARM", StateReason="still burning")
    [*_, (topic, firing)] = cloudwatch.published
    assert (topic.rsplit(":", 1)[-1], firing["AlarmName"], firing["NewStateValue"]) == (
        "dev-slo",
        f"{base}-page",
        "ALARM",
    )
    assert {c["Arn"].rsplit(":", 1)[-1] for c in firing["TriggeringChildren"]} == {f"{base}-over-1h", f"{base}-over-5m"}
    cloudwatch.set_alarm_state(AlarmName=f"{base}-over-5m", StateValue="OK", StateReason="recovered")
    assert cloudwatch.published[-1][1]["NewStateValue"] == "OK"
    assert len(cloudwatch.published) == 3


def _foreign_alarm(running: LocalPipeline, name: str) -> str:
    """Another team's alarm in the same account: its own topic and an Auto Scaling action."""
    topic = running.sns.create_topic(Name="checkout-team-alerts")["TopicArn"]
    scaling = (
        "arn:aws:autoscaling:eu-west-1:111111111111:scalingPolicy:0e7d2a2c-1b3f-4c55-9a7e-3f1c8d2e5b6a:"
        "autoScalingGroupName/checkout:policyName/scale-out"
    )
    running.cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/checkout/0123456789abcdef"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic, scaling],
        OKActions=[topic],
    )
    return str(topic)


def test_drill_leaves_another_teams_alarm_alone(pipeline: tuple[LocalPipeline, StandIn, StandIn]) -> None:
    running, pagerduty, slack = pipeline
    foreign = "dev-checkout-latency-high"
    _foreign_alarm(running, foreign)
    [before] = running.cloudwatch.describe_alarms(AlarmNames=[foreign])["MetricAlarms"]
    drill = local_drill(running, timeout=10, say=lambda _: None)
    deployed = _deployed(running)
    # every alarm the drill would touch is one of the templates', and the foreign one is not among them
    everything = drill.alarms(deployed, [], None)
    names = {a["AlarmName"] for a in everything}
    assert foreign not in names and names <= deployed.alarms
    assert len(names) == len(deployed.alarms)
    # asked for by name, it is refused before anything happens
    with pytest.raises(LookupError, match="refused: dev-checkout-latency-high: not an alarm this project creates"):
        drill.alarms(deployed, [foreign, "dev-rds-orders-db-CPUUtilization"], None)
    # and a drill of the project's alarms runs beside it without touching it
    assert drill.run(drill.alarms(deployed, ["dev-rds-orders-db-CPUUtilization"], None))[0].missing == []
    [after] = running.cloudwatch.describe_alarms(AlarmNames=[foreign])["MetricAlarms"]
    untouched = ("StateValue", "StateReason", "StateUpdatedTimestamp")  # (moto keeps no alarm history)
    assert [after[k] for k in untouched] == [before[k] for k in untouched]
    assert foreign not in str([r.body for r in pagerduty.received + slack.received])


def test_drill_refuses_an_alarm_of_the_projects_name_whose_actions_are_not_the_projects(
    pipeline: tuple[LocalPipeline, StandIn, StandIn],
) -> None:
    running, _, _ = pipeline
    taken = "dev-rds-orders-db-CPUUtilization"
    _foreign_alarm(running, taken)  # someone else's alarm now holds the name
    drill = local_drill(running, timeout=10, say=lambda _: None)
    assert drill.alarms(_deployed(running), [taken], None) == []
    assert drill.refused == [taken]
    [alarm] = running.cloudwatch.describe_alarms(AlarmNames=[taken])["MetricAlarms"]
    assert "DRILL" not in alarm["StateReason"]


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ('ALARM("a") AND ALARM("b")', {"a": "ALARM", "b": "ALARM"}, True),
        ('ALARM("a") AND ALARM("b")', {"a": "ALARM", "b": "OK"}, False),
        ('ALARM("a") AND ALARM("b")', {"a": "ALARM", "b": "INSUFFICIENT_DATA"}, False),
        ("ALARM(a) OR ALARM(b) AND ALARM(c)", {"a": "OK", "b": "ALARM", "c": "OK"}, False),  # AND binds tighter
        ("(ALARM(a) OR ALARM(b)) AND NOT OK(c)", {"a": "OK", "b": "ALARM", "c": "ALARM"}, True),
        ('ALARM("arn:aws:cloudwatch:eu-west-1:111111111111:alarm:a") AND TRUE', {"a": "ALARM"}, True),
        ("INSUFFICIENT_DATA(a) OR FALSE", {"a": "INSUFFICIENT_DATA"}, True),
    ],
)
def test_world_composite_rule_is_evaluated_as_cloudwatch_does(
    rule: str, states: dict[str, str], expected: bool
) -> None:
    assert evaluate_rule(rule, states.__getitem__) is expected
    assert set(rule_children(rule)) == set(states)


@pytest.mark.parametrize("rule", ['ALARM("a") AND', "(ALARM(a)", "ALARM(a) XOR ALARM(b)", "ALARM(a) ALARM(b)"])
def test_world_composite_rule_that_cannot_be_read_is_refused(rule: str) -> None:
    with pytest.raises(ValueError, match="alarm rule"):
        evaluate_rule(rule, lambda _: "OK")
