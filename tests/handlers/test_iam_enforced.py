"""Every function of the project, run as deployed: built from dev's synthesized templates, each in its own process
with the credentials of its own template role, moto enforcing IAM per action and resource. A call the templates do
not allow fails these tests, also when the code swallows the refusal (every refusal is recorded)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import load_event
from tests.unit.helpers import alarm, alertmanager
from tools.localaws import free_port
from tools.serve import LocalPipeline, sns_event
from tools.standins import Answer, StandIn
from tools.world import CREATED, STOOD_IN, Resolver, in_order

CRITICAL_ALARM = "dev-rds-orders-db-FreeStorageSpace"  # critical topic: PagerDuty and Slack


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[tuple[StandIn, StandIn]]:
    with StandIn("pagerduty") as pagerduty, StandIn("slack") as slack:
        yield pagerduty, slack


@pytest.fixture(scope="module")
def dev(stand_ins: tuple[StandIn, StandIn]) -> Iterator[LocalPipeline]:
    pagerduty, slack = stand_ins
    with LocalPipeline(
        port=free_port(),
        pagerduty_url=pagerduty.url,
        slack_url=slack.url,
        webhook_token="t0ken-iam-enforced",
        say=lambda _: None,
        visibility_timeout=1,  # a record left for a retry is received again after 1 s, not 6 minutes
    ) as pipeline:
        yield pipeline


@pytest.fixture
def pipeline(dev: LocalPipeline, stand_ins: tuple[StandIn, StandIn]) -> Iterator[LocalPipeline]:
    """The shared dev pipeline, stand-ins emptied; after each test, nothing may have been refused by IAM."""
    for stand_in in stand_ins:
        stand_in.clear()
    dev.denials.clear()
    yield dev
    assert dev.wait_idle()
    assert [str(d) for d in dev.denials] == []


def _transition(pipeline: LocalPipeline, name: str, state: str) -> None:
    pipeline.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test: {state}")
    pipeline.emulate_alarm_action(name)
    assert pipeline.wait_idle()


def test_every_resource_type_of_every_environment_is_created_or_stood_in() -> None:
    from tests.infra.conftest import synthesized

    for env in ("dev", "prod", "scale"):
        kinds = {
            resource["Type"]
            for template in synthesized(env).templates.values()
            for resource in template.to_json()["Resources"].values()
        }
        unknown = kinds - set(CREATED) - set(STOOD_IN)
        assert unknown == set(), f"{env}: tools/world.py cannot build {sorted(unknown)}"


def test_the_world_is_what_the_templates_hold(pipeline: LocalPipeline) -> None:
    templates = pipeline.world.templates
    alarms = {
        r["Properties"]["AlarmName"]
        for t in templates.values()
        for r in t["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(pipeline.world.alarms) == alarms
    described = {a["AlarmName"] for p in pipeline.cloudwatch.get_paginator("describe_alarms").paginate() for a in
                 p["MetricAlarms"]}  # fmt: skip
    assert alarms <= described
    assert {a["StateValue"] for p in pipeline.cloudwatch.get_paginator("describe_alarms").paginate() for a in
            p["MetricAlarms"]} == {"INSUFFICIENT_DATA"}  # fmt: skip
    functions = {
        r["Properties"]["FunctionName"]
        for t in templates.values()
        for r in t["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert set(pipeline.functions) == functions


def test_first_alarm_and_its_ok_read_the_ledger_as_allowed(
    pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]
) -> None:
    pagerduty, slack = stand_ins
    _transition(pipeline, CRITICAL_ALARM, "ALARM")
    _transition(pipeline, CRITICAL_ALARM, "OK")  # the forwarders Query the ledger for every CloudWatch OK
    events = [(r.body["event_action"], r.body["dedup_key"]) for r in pagerduty.accepted()]
    trigger = events[0]
    assert trigger[0] == "trigger" and events[-1] == ("resolve", trigger[1])
    # Leaving INSUFFICIENT_DATA (where every new alarm starts) also resolves that state's own PagerDuty alert.
    assert ("resolve", f"{trigger[1]}#insufficient-data") in events
    assert len(slack.accepted()) == 2
    assert "RESOLVED" in json.dumps(slack.accepted()[1].body)


def test_insufficient_data_to_ok_with_nothing_open_is_not_forwarded(
    pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]
) -> None:
    _transition(pipeline, "dev-rds-orders-db-WriteLatency", "OK")
    assert stand_ins[0].received == [] and stand_ins[1].received == []


def test_the_same_message_twice_is_delivered_once(pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]) -> None:
    topic = pipeline.topic_arns["critical"]
    event = sns_event({"Type": "Notification", "MessageId": "0f0f0f0f-iam-twice", "TopicArn": topic,
                       "Message": json.dumps(alarm(name="dev-twice"))})  # fmt: skip
    for _ in range(2):
        pipeline.functions["dev-slack-forwarder"].invoke(event)
    assert len(stand_ins[1].accepted()) == 1


def test_pagerduty_refusing_falls_back_to_slack_and_dead_letters_with_the_function_role(
    pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]
) -> None:
    pagerduty, slack = stand_ins
    pagerduty.then(*[Answer(status=400, body='{"status":"invalid event"}')] * 8)
    message_id = pipeline.publish("critical", alarm(name="dev-fallback"))
    assert pipeline.wait_idle(120)  # the forwarder's queue gave the record up after 5 receives
    assert any("PagerDuty" in json.dumps(r.body) for r in slack.accepted())
    assert len(pagerduty.received) == 5  # once per receive (maxReceiveCount 5), each refused
    dead = pipeline.sqs.receive_message(
        QueueUrl=pipeline.world.queues["dev-pagerduty-forwarder-dlq"], MaxNumberOfMessages=10
    ).get("Messages", [])
    assert [json.loads(m["Body"])["MessageId"] for m in dead] == [message_id]
    for message in dead:
        pipeline.sqs.delete_message(
            QueueUrl=pipeline.world.queues["dev-pagerduty-forwarder-dlq"], ReceiptHandle=message["ReceiptHandle"]
        )
    # the mapping received, and the function shortened the visibility, with the function's own role (no denial)


def test_a_refused_payload_is_parked_with_the_function_role(pipeline: LocalPipeline) -> None:
    pipeline.publish("warning", "this is not an alarm")
    assert pipeline.wait_idle()
    messages = pipeline.sqs.receive_message(
        QueueUrl=pipeline.world.queues["dev-alerting-rejected"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    assert any("this is not an alarm" in m["Body"] for m in messages.get("Messages", []))


def test_the_endpoint_authenticates_rate_limits_and_publishes_with_its_role(
    pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]
) -> None:
    request = urllib.request.Request(
        pipeline.url,
        data=json.dumps(alertmanager(2)).encode(),
        method="POST",
        headers={"Authorization": "Bearer t0ken-iam-enforced", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202
    assert pipeline.wait_idle()
    assert len(stand_ins[0].accepted()) == 1 and len(stand_ins[1].accepted()) == 1


def test_resolver_handles_the_intrinsics_cdk_writes() -> None:
    resolve = Resolver("111111111111", "eu-west-1", "aws", "dev-alerting")
    resolve.refs["Topic"] = "arn:aws:sns:eu-west-1:111111111111:dev-critical"
    resolve.attrs[("Queue", "Arn")] = "arn:aws:sqs:eu-west-1:111111111111:dlq"
    assert resolve({"Fn::Join": ["", ['{"t": "', {"Ref": "Topic"}, '"}']]}) == (
        '{"t": "arn:aws:sns:eu-west-1:111111111111:dev-critical"}'
    )
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:x/${Queue.Arn}"}) == (
        "arn:aws:logs:eu-west-1:111111111111:x/arn:aws:sqs:eu-west-1:111111111111:dlq"
    )
    assert resolve({"Fn::Select": [1, {"Fn::Split": [":", {"Ref": "Topic"}]}]}) == "aws"
    assert resolve({"A": {"Ref": "AWS::NoValue"}, "B": [{"Fn::GetAtt": ["Queue", "Arn"]}]}) == {
        "B": ["arn:aws:sqs:eu-west-1:111111111111:dlq"]
    }
    order = in_order({"B": {"Properties": {"X": {"Ref": "A"}}}, "A": {"Properties": {}}, "C": {"DependsOn": "B"}})
    assert order == ["A", "B", "C"]


def test_an_eventbridge_rule_of_the_templates_reaches_the_forwarders(
    pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]
) -> None:
    [rule] = [r for r in pipeline.world.rules if r.pattern and r.pattern.get("source") == ["aws.cloudwatch"]]
    prefix = rule.pattern["detail"]["alarmName"][0]["prefix"]  # type: ignore[index]
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    event["detail"]["alarmName"] = "someone-elses-alarm"
    assert pipeline.put_event(event) == []
    event["detail"]["alarmName"] = f"{prefix}disk-full"
    [target] = pipeline.put_event(event)
    assert target == pipeline.topic_arns["infrastructure"]
    assert pipeline.wait_idle()
    assert any(f"{prefix}disk-full" in json.dumps(r.body) for r in stand_ins[1].accepted())


def test_the_dead_alarm_auditor_runs_with_its_role_and_reports_once(
    pipeline: LocalPipeline, stand_ins: tuple[StandIn, StandIn]
) -> None:
    [auditor] = [n for n, s in pipeline.world.functions.items() if s.handler == "dead_alarm_auditor.handler"]
    [daily] = [r for r in pipeline.world.rules if r.schedule and any(auditor in t["Arn"] for t in r.targets)]
    pipeline.schedule(daily.name)  # no metric of the local world has a datapoint: every service alarm is dead
    assert pipeline.wait_idle(60)
    reports = [r for r in stand_ins[1].accepted() if "Dead alarm" in json.dumps(r.body)]
    assert len(reports) == 1
    service_alarms = [
        a for a in pipeline.world.alarms if a.startswith(("dev-rds-", "dev-elasticache-", "dev-ecs-", "dev-slo-"))
    ]
    assert f"{len(service_alarms)} alarms in dev cannot fire" in json.dumps(reports[0].body)
    pipeline.schedule(daily.name)  # the next day: nothing new, nothing said
    assert pipeline.wait_idle(60)
    assert len([r for r in stand_ins[1].accepted() if "Dead alarm" in json.dumps(r.body)]) == 1


@pytest.mark.parametrize("output", ["DrillPolicy", "AuditPolicy"])
def test_an_operator_tool_works_with_only_the_policy_the_stack_outputs(
    pipeline: LocalPipeline, output: str, stand_ins: tuple[StandIn, StandIn]
) -> None:
    import boto3

    from alertlib.audit import CloudWatchReader, audit_alarms
    from alertlib.reliability import Ledger
    from tools.drill import Deployed, Drill, local_routing

    document = pipeline.world.outputs["dev-alerting"][output]
    iam = pipeline.admin("iam")
    user = f"operator-{output.lower()}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName=output, PolicyDocument=document)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(
        region_name=pipeline.config.region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    if output == "DrillPolicy":
        drill = Drill(
            cloudwatch=session.client("cloudwatch"),
            ledger=Ledger(pipeline.ledger_table, client=session.client("dynamodb")),
            destinations_for=local_routing(pipeline),
            after_state_change=pipeline.emulate_alarm_action,
            timeout=10,
            settle=pipeline.wait_idle,
            say=lambda _: None,
        )
        deployed = Deployed.from_templates("dev", pipeline.world.templates)
        [result] = drill.run(drill.alarms(deployed, ["dev-ecs-web-api-RunningTaskCount"], None))
        assert result.missing == []
    else:
        audit = audit_alarms(
            CloudWatchReader(session.client("cloudwatch")),
            prefix="dev-",
            dead_after=timedelta(hours=24),
            now=datetime.now(UTC),
        )
        assert audit.alarms == len(pipeline.world.alarms)


def test_every_invocation_the_templates_wire_is_permitted(pipeline: LocalPipeline) -> None:
    assert pipeline.world.unreachable == []
    assert pipeline.world.encrypted  # topics, queues and secrets are checked with their key


def test_a_deploy_of_the_environment_runs_the_auditor_and_another_stack_does_not(pipeline: LocalPipeline) -> None:
    event = load_event("cloudformation-stack-status-change__aws-docs-shape.json")
    [auditor] = [s.arn for s in pipeline.world.functions.values() if s.handler == "dead_alarm_auditor.handler"]
    assert pipeline.put_event(event) == [auditor]
    assert pipeline.wait_idle(60)
    assert "deploy of dev-alarms-rds (UPDATE_COMPLETE)" in pipeline.function_log("dev-dead-alarm-auditor")
    other = json.loads(json.dumps(event).replace("stack/dev-alarms-rds", "stack/devx-alarms-rds"))
    assert pipeline.put_event(other) == []
    event["detail"]["status-details"]["status"] = "UPDATE_ROLLBACK_COMPLETE"
    assert pipeline.put_event(event) == []
