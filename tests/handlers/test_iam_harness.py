"""The IAM harness bites: an action taken out of dev's synthesized policies is refused and named, also where the
code swallows the refusal. (Its own module: one local world per process at a time, and test_iam_enforced keeps
one open for its whole module.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn
from tools.world import synthesize

CRITICAL_ALARM = "dev-rds-orders-db-FreeStorageSpace"


def _without(templates: dict[str, dict[str, Any]], action: str, sid: str | None = None) -> dict[str, dict[str, Any]]:
    """The templates with `action` taken out of every IAM policy statement (of those with `sid`, if given)."""
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if sid is not None and statement.get("Sid") != sid:
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                statement["Action"] = [a for a in actions if a != action] or ["none:Nothing"]
    return templates


@pytest.mark.parametrize("action", ["dynamodb:Query", "sqs:SendMessage", "kms:GenerateDataKey"])
def test_the_harness_bites_a_missing_action_is_named(action: str) -> None:
    """Plant a missing action in the synthesized policies: the refusal is seen and named, though the code may
    swallow it (a failed ledger read is only a warning in the forwarders' log)."""
    with (
        StandIn("pagerduty") as pagerduty,
        StandIn("slack") as slack,
        LocalPipeline(
            port=free_port(),
            pagerduty_url=pagerduty.url,
            slack_url=slack.url,
            say=lambda _: None,
            # the ledger's Query only (the pacer's own Query is its flush, tested with the pacing)
            templates=_without(synthesize("dev"), action, "RecordDeliveries" if action == "dynamodb:Query" else None),
            visibility_timeout=1,  # a record the refusal failed is received again within seconds, then parked
        ) as pipeline,
    ):
        if action == "dynamodb:Query":
            pipeline.cloudwatch.set_alarm_state(AlarmName=CRITICAL_ALARM, StateValue="ALARM", StateReason="test")
            pipeline.emulate_alarm_action(CRITICAL_ALARM)
            pipeline.cloudwatch.set_alarm_state(AlarmName=CRITICAL_ALARM, StateValue="OK", StateReason="test")
            pipeline.emulate_alarm_action(CRITICAL_ALARM)
            assert pipeline.wait_idle(60)
        else:
            pipeline.publish("warning", "not an alarm")
            assert pipeline.wait_idle(120)
        refused = {(d.action, d.principal.split("/")[1]) for d in pipeline.denials}
        assert (action, "dev-slack-forwarder") in refused
        if action == "dynamodb:Query":  # swallowed by the code: the first OK went out, as it did in AWS
            assert any("RESOLVED" in json.dumps(r.body) for r in slack.accepted())
            assert "ledger read failed" in pipeline.function_log("dev-slack-forwarder")


def test_a_missing_lambda_permission_makes_the_subscription_unreachable() -> None:
    """The forwarders read queues; a Lambda subscription (as a team might add) without SNS's permission is named."""
    from tools.world import build_world

    templates = synthesize("dev")
    alerting = templates["dev-alerting"]["Resources"]
    [topic] = [k for k, r in alerting.items() if r["Type"] == "AWS::SNS::Topic" and "TopicCritical" in k]
    [function] = [k for k, r in alerting.items() if r["Type"] == "AWS::Lambda::Function" and "SlackForwarder" in k]
    alerting["PlantedLambdaSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Properties": {"Protocol": "lambda", "TopicArn": {"Ref": topic}, "Endpoint": {"Fn::GetAtt": [function, "Arn"]}},
    }
    from moto import mock_aws

    with mock_aws():
        import boto3

        session = boto3.Session(region_name="eu-west-1")
        world = build_world("dev", templates, session.client, account="123456789012", region="eu-west-1")
    assert len(world.unreachable) == 1
    assert world.unreachable[0].startswith("SNS may not invoke dev-slack-forwarder from ")
    assert world.unreachable[0].endswith(":dev-critical")
