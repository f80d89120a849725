"""On-call in Slack, as synthesized (issue 11): the endpoints behind function URLs with reserved concurrency, the
action queue (3 tries, then its dead-letter queue) feeding the worker with partial batch answers, the tables, the
environment each function reads, IAM exactly as the code's `*_policy_statements` say, the alarms and the outputs.
The environments are dev's config with an `oncall` section and a Slack app route added (tests own the values)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app_builder import build
from infra.config import ConfigError, EnvironmentConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
APP = "alerting/dev/slack-app-test"
ONCALL = {
    "slack_signing_secret": "alerting/dev/slack-signing-test",
    "slack_actors": {"users": ["U0123ABCD", "W0456EFGH"], "usergroups": []},
    "pagerduty_webhook_secret": "alerting/dev/pagerduty-webhook-test",
    "pagerduty_rest_secret": "alerting/dev/pagerduty-rest-test",
    "alertmanager_url": "https://alertmanager.example.com/",
    "alertmanager_secret": "alerting/dev/alertmanager-test",
    "slack_reserved_concurrency": 4,
    "pagerduty_reserved_concurrency": 3,
}


def raw_config(oncall: dict[str, Any] | None = ONCALL, apps: bool = True) -> dict[str, Any]:
    """dev.json without any on-call settings of its own, then the given ones."""
    raw: dict[str, Any] = json.loads((ROOT / "config" / "dev.json").read_text())
    raw.pop("$schema", None)
    raw.pop("oncall", None)
    raw.setdefault("forwarders", {}).pop("slack_apps", None)
    for routing in raw["topics"].values():
        routing["slack"] = [name for name in routing.get("slack", []) if "slack-app" not in name]
    if apps:
        raw["topics"]["critical"]["slack"].append(APP)
        raw["forwarders"]["slack_apps"] = {APP: {"thread_events_to_channel": ["refired", "resolved"]}}
    if oncall is not None:
        raw["oncall"] = json.loads(json.dumps(oncall))
    return raw


class Built:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.config = EnvironmentConfig.model_validate({**raw, "name": "dev"})
        self.app = App(context={"aws:cdk:bundling-stacks": []})
        stacks = build(self.app, self.config, nag=False)
        self.template = Template.from_stack(stacks[0])
        self.json: dict[str, Any] = dict(self.template.to_json())

    def resources(self, kind: str) -> dict[str, Any]:
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == kind}

    def function(self, name: str) -> tuple[str, dict[str, Any]]:
        [(logical, found)] = [
            (k, r["Properties"]) for k, r in self.resources("AWS::Lambda::Function").items()
            if r["Properties"]["FunctionName"] == name
        ]  # fmt: skip
        return logical, found

    def environment(self, name: str) -> dict[str, Any]:
        return dict(self.function(name)[1]["Environment"]["Variables"])

    def policy(self, function: str) -> list[dict[str, Any]]:
        role = self.function(function)[1]["Role"]["Fn::GetAtt"][0]
        [policy] = [
            p["Properties"]["PolicyDocument"]["Statement"] for p in self.resources("AWS::IAM::Policy").values()
            if p["Properties"]["Roles"] == [{"Ref": role}]
        ]  # fmt: skip
        return list(policy)

    def named(self, kind: str, key: str, value: str) -> str:
        [logical] = [k for k, r in self.resources(kind).items() if r["Properties"].get(key) == value]
        return logical

    def table(self, name: str) -> str:
        return self.named("AWS::DynamoDB::GlobalTable", "TableName", name)

    def queue(self, name: str) -> str:
        return self.named("AWS::SQS::Queue", "QueueName", name)

    def secret(self, name: str) -> str:
        return self.named("AWS::SecretsManager::Secret", "Name", name)


@pytest.fixture(scope="module")
def oncall() -> Built:
    return Built(raw_config())


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, "Arn"]}


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


# -- what is created --------------------------------------------------------------------------------------------


def test_oncall_endpoints_are_function_urls_with_their_reserved_concurrency(oncall: Built) -> None:
    urls = {u["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]: u["Properties"]
            for u in oncall.resources("AWS::Lambda::Url").values()}  # fmt: skip
    for name, reserved in (("dev-slack-interactions", 4), ("dev-pagerduty-webhooks", 3)):
        logical, function = oncall.function(name)
        assert function["ReservedConcurrentExecutions"] == reserved
        assert function["Timeout"] == 10
        assert urls[logical]["AuthType"] == "NONE"  # the handler verifies Slack's / PagerDuty's signature
        # Anyone may call the URL (both grants Lambda asks of a function URL since October 2025), nothing else.
        granted = [p["Properties"] for p in oncall.resources("AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] == _arn(logical)]  # fmt: skip
        assert sorted((g["Action"], g["Principal"], g.get("FunctionUrlAuthType"), g.get("InvokedViaFunctionUrl"))
                      for g in granted) == [("lambda:InvokeFunction", "*", None, True),
                                            ("lambda:InvokeFunctionUrl", "*", "NONE", None)]  # fmt: skip
    _, worker = oncall.function("dev-action-worker")
    assert "ReservedConcurrentExecutions" not in worker
    logical, _ = oncall.function("dev-action-worker")
    assert logical not in urls


def test_oncall_reserved_concurrency_can_be_turned_off() -> None:
    built = Built(raw_config({**ONCALL, "slack_reserved_concurrency": None, "pagerduty_reserved_concurrency": None}))
    for name in ("dev-slack-interactions", "dev-pagerduty-webhooks"):
        assert "ReservedConcurrentExecutions" not in built.function(name)[1]


def test_oncall_action_queue_retries_three_times_into_its_encrypted_dead_letter_queue(oncall: Built) -> None:
    queues = oncall.resources("AWS::SQS::Queue")
    queue = queues[oncall.queue("dev-oncall-actions")]["Properties"]
    dlq = oncall.queue("dev-oncall-actions-dlq")
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": _arn(dlq), "maxReceiveCount": 3}
    _, worker = oncall.function("dev-action-worker")
    assert queue["VisibilityTimeout"] == 6 * worker["Timeout"]
    assert oncall.environment("dev-action-worker")["MAX_RECEIVES"] == "3"  # its last try posts the failure
    key = next(iter(oncall.resources("AWS::KMS::Key")))
    for props in (queue, queues[dlq]["Properties"]):
        assert props["KmsMasterKeyId"] == _arn(key)
        assert props["MessageRetentionPeriod"] == 14 * 86400
    allowed = queues[dlq]["Properties"]["RedriveAllowPolicy"]
    assert allowed["redrivePermission"] == "byQueue" and len(allowed["sourceQueueArns"]) == 1


def test_oncall_worker_reads_the_queue_with_partial_batch_answers(oncall: Built) -> None:
    worker, _ = oncall.function("dev-action-worker")
    queue = oncall.queue("dev-oncall-actions")
    [mapping] = [
        m for m in oncall.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": worker}
    ]  # fmt: skip
    props = mapping["Properties"]
    assert props["EventSourceArn"] == _arn(queue)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["DependsOn"]  # the role's policy first: Lambda checks it may receive


@pytest.mark.parametrize(
    ("name", "keys", "retained"),
    [
        ("dev-oncall-state", [("pk", "HASH")], False),
        ("dev-oncall-audit", [("pk", "HASH"), ("sk", "RANGE")], True),
        ("dev-slack-threads", [("alert", "HASH"), ("channel", "RANGE")], False),
    ],
)
def test_oncall_tables_like_the_others(oncall: Built, name: str, keys: list[tuple[str, str]], retained: bool) -> None:
    tables = oncall.resources("AWS::DynamoDB::GlobalTable")
    table = tables[oncall.table(name)]
    props = table["Properties"]
    assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == keys
    assert {a["AttributeType"] for a in props["AttributeDefinitions"]} == {"S"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    ledger = tables[oncall.table("dev-alerting-ledger")]["Properties"]
    assert props["SSESpecification"] == ledger["SSESpecification"]
    assert props["Replicas"][0]["SSESpecification"] == ledger["Replicas"][0]["SSESpecification"]
    assert props["Replicas"][0]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert (table.get("DeletionPolicy") == "Retain") is retained


def test_oncall_secrets_are_created_with_a_placeholder_only(oncall: Built) -> None:
    secrets = {s["Properties"]["Name"]: s for s in oncall.resources("AWS::SecretsManager::Secret").values()}
    for name in (ONCALL["slack_signing_secret"], ONCALL["pagerduty_webhook_secret"], ONCALL["pagerduty_rest_secret"],
                 ONCALL["alertmanager_secret"], APP):  # fmt: skip
        props = secrets[str(name)]["Properties"]
        assert "SecretString" not in props
        assert "placeholder" in props["GenerateSecretString"]["SecretStringTemplate"]
        assert secrets[str(name)]["DeletionPolicy"] == "Retain"


# -- what each function reads ------------------------------------------------------------------------------------


def test_oncall_environment_variables_are_the_shared_contract(oncall: Built) -> None:
    apps = {APP: {"to_channel": ["refired", "resolved"]}}
    state = {"Ref": oncall.table("dev-oncall-state")}
    queue = {"Ref": oncall.queue("dev-oncall-actions")}
    slack = oncall.environment("dev-slack-interactions")
    assert {k: v for k, v in slack.items() if not k.startswith("POWERTOOLS_")} == {
        "SLACK_SIGNING_SECRET": ONCALL["slack_signing_secret"],
        "REPLAY_TABLE": state,
        "ACTION_QUEUE_URL": queue,
        "SLACK_ACTORS": json.dumps(ONCALL["slack_actors"], sort_keys=True, separators=(",", ":")),
        "SLACK_APPS": json.dumps(apps, separators=(",", ":")),
    }
    pagerduty = oncall.environment("dev-pagerduty-webhooks")
    assert {k: v for k, v in pagerduty.items() if not k.startswith("POWERTOOLS_")} == {
        "PAGERDUTY_WEBHOOK_SECRET": ONCALL["pagerduty_webhook_secret"],
        "REPLAY_TABLE": state,
        "ACTION_QUEUE_URL": queue,
    }
    worker = oncall.environment("dev-action-worker")
    assert {k: v for k, v in worker.items() if not k.startswith("POWERTOOLS_")} == {
        "ENVIRONMENT": "dev",
        "AUDIT_TABLE": {"Ref": oncall.table("dev-oncall-audit")},
        "THREAD_TABLE": {"Ref": oncall.table("dev-slack-threads")},
        "REPLAY_TABLE": state,
        "SLACK_APPS": json.dumps(apps, separators=(",", ":")),
        "PAGERDUTY_SECRETS": json.dumps(
            dict.fromkeys(("default", "dev-critical", "dev-slack-forwarder-health"), "alerting/dev/pagerduty"),
            separators=(",", ":"),
        ),
        "PAGERDUTY_EVENTS_URL": "https://events.pagerduty.com/v2/enqueue",
        "PAGERDUTY_REST_SECRET": ONCALL["pagerduty_rest_secret"],
        "ALERTMANAGER_SECRET": ONCALL["alertmanager_secret"],
        "ALERTMANAGER_URL": ONCALL["alertmanager_url"],
        "MAX_RECEIVES": "3",
    }
    for name in ("dev-slack-interactions", "dev-pagerduty-webhooks", "dev-action-worker"):
        env = oncall.environment(name)
        assert env["POWERTOOLS_SERVICE_NAME"] == name  # the `service` dimension the alarms read
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "AlertForwarding"
        assert not any("xoxb" in str(v) or "hooks.slack.com" in str(v) for v in env.values())


def test_oncall_slack_forwarder_keeps_threads_and_draws_graphs(oncall: Built) -> None:
    env = oncall.environment("dev-slack-forwarder")
    assert env["THREAD_TABLE"] == {"Ref": oncall.table("dev-slack-threads")}
    assert json.loads(env["SLACK_APPS"]) == {APP: {"to_channel": ["refired", "resolved"]}}
    assert "THREAD_TABLE" not in oncall.environment("dev-pagerduty-forwarder")
    # Acknowledge is offered on the parents of the topics that page, exactly the PagerDuty forwarder's routes.
    paging = json.loads(oncall.environment("dev-pagerduty-forwarder")["ROUTES"])
    assert json.loads(env["PAGED_ROUTES"]) == sorted(paging)
    assert env["SLACK_ACTIONS"] == "on"  # the on-call endpoints answer the parents' buttons
    statements = _by_sid(oncall.policy("dev-slack-forwarder"))
    assert statements["KeepThreads"]["Resource"] == _arn(oncall.table("dev-slack-threads"))
    assert sorted(_list(statements["KeepThreads"]["Action"])) == [
        "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"]  # fmt: skip
    assert statements["DrawGraphs"] == {"Action": "cloudwatch:GetMetricWidgetImage", "Effect": "Allow",
                                        "Resource": "*", "Sid": "DrawGraphs"}  # fmt: skip
    assert {"Ref": oncall.secret(APP)} in _list(statements["ReadOwnSecrets"]["Resource"])


def test_oncall_slack_apps_without_oncall_still_thread() -> None:
    built = Built(raw_config(oncall=None))
    assert "THREAD_TABLE" in built.environment("dev-slack-forwarder")
    assert built.environment("dev-slack-forwarder")["SLACK_ACTIONS"] == "off"  # no endpoint: no buttons offered
    names = {f["Properties"]["FunctionName"] for f in built.resources("AWS::Lambda::Function").values()}
    assert not names & {"dev-slack-interactions", "dev-pagerduty-webhooks", "dev-action-worker"}


def test_oncall_without_pagerduty_webhook_has_no_pagerduty_endpoint() -> None:
    built = Built(raw_config({k: v for k, v in ONCALL.items() if k != "pagerduty_webhook_secret"}))
    names = {f["Properties"]["FunctionName"] for f in built.resources("AWS::Lambda::Function").values()}
    assert {"dev-slack-interactions", "dev-action-worker"} <= names and "dev-pagerduty-webhooks" not in names
    assert "PagerDutyWebhookUrl" not in built.json["Outputs"]
    alarms = {a["Properties"]["AlarmName"] for a in built.resources("AWS::CloudWatch::Alarm").values()}
    assert not any("oncall-pagerduty" in a for a in alarms)


# -- IAM, exactly the code's statements ----------------------------------------------------------------------------


def _resolved(value: Any, oncall: Built) -> Any:
    """A template value with this stack's partition, region and account written in (the statements functions take
    strings)."""
    text = json.dumps(value)
    text = text.replace('{"Ref": "AWS::Partition"}', '"aws"')
    return json.loads(text)


def test_oncall_slack_endpoint_role_holds_exactly_its_statements(oncall: Built) -> None:
    statements = _by_sid(oncall.policy("dev-slack-interactions"))
    assert sorted(statements) == ["SlackInteractions1", "SlackInteractions2", "SlackInteractions3", "UseAlertingKey",
                                  "WriteOwnLogs"]  # fmt: skip
    assert statements["SlackInteractions1"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["SlackInteractions1"]["Resource"] == {"Ref": oncall.secret(str(ONCALL["slack_signing_secret"]))}
    assert sorted(statements["SlackInteractions2"]["Action"]) == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert statements["SlackInteractions2"]["Resource"] == _arn(oncall.table("dev-oncall-state"))
    queue = _arn(oncall.queue("dev-oncall-actions"))
    assert statements["SlackInteractions3"] == {
        "Action": "sqs:SendMessage", "Effect": "Allow", "Sid": "SlackInteractions3", "Resource": queue
    }  # fmt: skip


def test_oncall_pagerduty_endpoint_role_holds_exactly_its_statements(oncall: Built) -> None:
    statements = _by_sid(oncall.policy("dev-pagerduty-webhooks"))
    assert sorted(statements) == ["PagerDutyWebhooks1", "PagerDutyWebhooks2", "PagerDutyWebhooks3", "UseAlertingKey",
                                  "WriteOwnLogs"]  # fmt: skip
    webhook = oncall.secret(str(ONCALL["pagerduty_webhook_secret"]))
    assert statements["PagerDutyWebhooks1"]["Resource"] == {"Ref": webhook}
    assert sorted(statements["PagerDutyWebhooks2"]["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
    assert statements["PagerDutyWebhooks3"]["Resource"] == _arn(oncall.queue("dev-oncall-actions"))


def test_oncall_worker_role_holds_exactly_its_statements_scoped_to_this_environment(oncall: Built) -> None:
    statements = _by_sid(oncall.policy("dev-action-worker"))
    assert sorted(statements) == [
        "ActionWorker1", "ActionWorker2", "ActionWorker3", "ActionWorker4", "MuteAlarms1", "MuteAlarms2", "Threads",
        "UseAlertingKey", "WriteOwnLogs",
    ]  # fmt: skip
    assert statements["ActionWorker1"]["Resource"] == _arn(oncall.queue("dev-oncall-actions"))
    assert statements["ActionWorker2"] == {"Action": "dynamodb:PutItem", "Effect": "Allow", "Sid": "ActionWorker2",
                                           "Resource": _arn(oncall.table("dev-oncall-audit"))}  # fmt: skip
    assert statements["ActionWorker3"]["Resource"] == _arn(oncall.table("dev-oncall-state"))
    read = {r["Ref"] for r in _list(statements["ActionWorker4"]["Resource"])}
    assert read == {oncall.secret(n) for n in ("alerting/dev/pagerduty", APP, str(ONCALL["pagerduty_rest_secret"]),
                                               str(ONCALL["alertmanager_secret"]))}  # fmt: skip
    # never the signing or webhook secrets, nor the Slack webhooks
    assert statements["Threads"]["Resource"] == _arn(oncall.table("dev-slack-threads"))
    region, account = oncall.config.region, oncall.config.account
    base = f"arn:aws:cloudwatch:{region}:{account}"
    put, delete = _resolved(statements["MuteAlarms1"], oncall), _resolved(statements["MuteAlarms2"], oncall)
    assert put["Action"] == "cloudwatch:PutAlarmMuteRule"
    assert [_joined(r) for r in put["Resource"]] == [f"{base}:alarm-mute-rule:dev-mute-*", f"{base}:alarm:dev-*"]
    assert delete["Action"] == "cloudwatch:DeleteAlarmMuteRule"
    assert _joined(delete["Resource"]) == f"{base}:alarm-mute-rule:dev-mute-*"
    assert sorted(statements["UseAlertingKey"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def _joined(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_joined(p) for p in parts)
    return str(value)


def test_oncall_statements_come_from_the_code_not_a_copy(oncall: Built) -> None:
    """Each function's statements are the code's (`*_policy_statements`) with its resources: same actions, same
    order, nothing added but its logs and the key."""
    from alertlib.actions import mute_policy_statements
    from alertlib.interactions import (
        action_worker_policy_statements,
        pagerduty_webhooks_policy_statements,
        slack_interactions_policy_statements,
    )
    from alertlib.threads import thread_policy_statements

    def actions(documents: list[dict[str, Any]]) -> list[list[str]]:
        return [sorted(_list(d["Action"])) for d in documents]

    def granted(function: str, *prefixes: str) -> list[list[str]]:
        return [sorted(_list(s["Action"])) for s in oncall.policy(function) if s["Sid"].startswith(prefixes)]

    assert granted("dev-slack-interactions", "SlackInteractions") == actions(
        slack_interactions_policy_statements(signing_secret_arn="s", replay_table_arn="t", queue_arn="q"))  # fmt: skip
    assert granted("dev-pagerduty-webhooks", "PagerDutyWebhooks") == actions(
        pagerduty_webhooks_policy_statements(webhook_secret_arn="s", replay_table_arn="t", queue_arn="q"))  # fmt: skip
    expected = actions(action_worker_policy_statements(
        queue_arn="q", audit_table_arn="a", replay_table_arn="t", secret_arns=["s"]))  # fmt: skip
    expected += actions(thread_policy_statements("t")) + actions(
        mute_policy_statements(partition="aws", region="r", account="1", environment="dev"))  # fmt: skip
    assert granted("dev-action-worker", "ActionWorker", "Threads", "MuteAlarms") == expected


def test_oncall_iam_has_no_wildcard_action_and_no_star_resource(oncall: Built) -> None:
    for name in ("dev-slack-interactions", "dev-pagerduty-webhooks", "dev-action-worker"):
        for statement in oncall.policy(name):
            assert not any("*" in a for a in _list(statement["Action"])), statement
            assert "*" not in _list(statement["Resource"]), statement
    for role in oncall.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


# -- alarms and outputs --------------------------------------------------------------------------------------------


def test_oncall_alarms_watch_what_the_handlers_count_and_reach_both_health_topics(oncall: Built) -> None:
    topics = {k: v["Properties"]["TopicName"] for k, v in oncall.resources("AWS::SNS::Topic").items()}
    found = oncall.resources("AWS::CloudWatch::Alarm").values()
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in found}
    expected = {
        "dev-oncall-slack-AuthFailed": ("AlertForwarding", "AuthFailed", "dev-slack-interactions", 300, 3),
        "dev-oncall-pagerduty-AuthFailed": ("AlertForwarding", "AuthFailed", "dev-pagerduty-webhooks", 300, 3),
        "dev-oncall-slack-EndpointFailed": ("AlertForwarding", "EndpointFailed", "dev-slack-interactions", 60, 1),
        "dev-oncall-pagerduty-EndpointFailed": ("AlertForwarding", "EndpointFailed", "dev-pagerduty-webhooks", 60, 1),
        "dev-oncall-pagerduty-WebhookUnreadable": (
            "AlertForwarding",
            "WebhookUnreadable",
            "dev-pagerduty-webhooks",
            300,
            1,
        ),
        "dev-oncall-ActionFailed": ("AlertForwarding", "ActionFailed", "dev-action-worker", 300, 1),
    }
    for name, (namespace, metric, service, period, threshold) in expected.items():
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (namespace, metric, "Sum")
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
        assert (alarm["Period"], alarm["Threshold"]) == (period, threshold)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    dlq = alarms["dev-oncall-actions-dead-letter-queue-NotEmpty"]
    assert (dlq["MetricName"], dlq["Statistic"], dlq["Threshold"]) == ("ApproximateNumberOfMessagesVisible",
                                                                       "Maximum", 0)  # fmt: skip
    assert dlq["ComparisonOperator"] == "GreaterThanThreshold"
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [oncall.queue(
        "dev-oncall-actions-dlq"), "QueueName"]}}]  # fmt: skip
    for short in ("slack-interactions", "pagerduty-webhooks", "action-worker"):
        errors = alarms[f"dev-oncall-{short}-Errors"]
        assert errors["MetricName"] == "Errors"
        assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": oncall.function(f"dev-{short}")[0]}}]
    # ActionUnchecked is a ticket (the warning topic): tests/infra/test_self_monitoring_metrics.py
    oncall_alarms = {n: a for n, a in alarms.items() if n.startswith("dev-oncall-") and "ActionUnchecked" not in n}
    assert len(oncall_alarms) == len(expected) + 1 + 3
    for name, alarm in oncall_alarms.items():
        reached = sorted(topics[a["Ref"]] for a in alarm["AlarmActions"])
        assert reached == ["dev-pagerduty-forwarder-health", "dev-slack-forwarder-health"], name
        assert sorted(topics[a["Ref"]] for a in alarm["OKActions"]) == reached
        assert alarm["TreatMissingData"] == "notBreaching"
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
        assert "runbook: " in alarm["AlarmDescription"]


def test_oncall_outputs_name_both_urls_and_the_secrets(oncall: Built) -> None:
    outputs = oncall.json["Outputs"]
    slack, _ = oncall.function("dev-slack-interactions")
    urls = {u["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]: k for k, u in
            oncall.resources("AWS::Lambda::Url").items()}  # fmt: skip
    assert outputs["SlackInteractivityUrl"]["Value"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [urls[slack], "FunctionUrl"]}, "slack/interactions"]]}  # fmt: skip
    pagerduty, _ = oncall.function("dev-pagerduty-webhooks")
    assert outputs["PagerDutyWebhookUrl"]["Value"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [urls[pagerduty], "FunctionUrl"]}, "pagerduty/webhooks"]]}  # fmt: skip
    assert outputs["OnCallSecretNames"]["Value"] == ", ".join(
        str(ONCALL[k]) for k in ("slack_signing_secret", "pagerduty_webhook_secret", "pagerduty_rest_secret",
                                 "alertmanager_secret"))  # fmt: skip
    assert {"ActionQueueUrl", "ActionDeadLetterQueueUrl", "OnCallAuditTable"} <= set(outputs)


def test_oncall_nag_finds_nothing_unacknowledged(oncall: Built) -> None:
    from cdk_nag import AwsSolutionsChecks

    result = AwsSolutionsChecks().validate_scope(oncall.app)
    findings = [(v.rule_name, [r.resource_logical_id for r in v.violating_resources]) for v in result.violations]
    assert result.success, findings


def test_oncall_cfn_lint_clean(oncall: Built) -> None:
    from cfnlint.api import ManualArgs, lint_file

    directory = Path(oncall.app.synth().directory)
    template = directory / "dev-alerting.template.json"
    assert [str(m) for m in lint_file(template, ManualArgs(regions=[oncall.config.region]))] == []


# -- the config ----------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    (tmp_path / "broken.json").write_text(json.dumps({**raw, "name": "broken"}))
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"oncall": {**ONCALL, "slack_actors": {"users": ["ana"]}}},
         "oncall.slack_actors.users[0]: String should match pattern"),
        ({"oncall": {**ONCALL, "slack_actors": {"usergroups": ["U0123ABCD"]}}},
         "oncall.slack_actors.usergroups[0]: String should match pattern"),
        ({"oncall": {**ONCALL, "slack_actors": {}}}, "oncall.slack_actors: name users or usergroups: nobody could act"),
        ({"oncall": {**ONCALL, "alertmanager_url": "http://alertmanager:9093"}},
         "oncall.alertmanager_url: String should match pattern"),
        ({"oncall": {**ONCALL, "alertmanager_secret": None}},
         "oncall: alertmanager_secret: needed with alertmanager_url"),
        ({"oncall": {**ONCALL, "pagerduty_rest_secret": None}},
         "oncall: pagerduty_rest_secret: needed with pagerduty_webhook_secret"),
        ({"oncall": {**ONCALL, "pagerduty_rest_secret": ONCALL["pagerduty_webhook_secret"]}},
         "oncall: each on-call secret needs its own name"),
        ({"oncall": {**ONCALL, "slack_signing_secret": APP}}, f"oncall: {APP!r} is already a destination's secret"),
        ({"oncall": {**ONCALL, "slack_reserved_concurrency": 0}},
         "oncall.slack_reserved_concurrency: Input should be greater than or equal to 1"),
        ({"oncall": {**ONCALL, "amp_workspace_arn": "arn:aws:aps:eu-west-1:123:workspace/x"}},
         "oncall.amp_workspace_arn: String should match pattern"),
        ({"oncall": {**ONCALL, "colour": "blue"}}, "oncall.colour: Extra inputs are not permitted"),
        ({"forwarders": {"slack_apps": {"alerting/dev/other-app": {}}}},
         "forwarders.slack_apps: 'alerting/dev/other-app' is in no topic's slack list"),
        ({"forwarders": {"slack_apps": {APP: {"thread_events_to_channel": ["fired"]}}}},
         "forwarders.slack_apps.alerting/dev/slack-app-test.thread_events_to_channel[0]: Input should be"),
        ({"forwarders": {"slack_apps": {APP: {"thread_events_to_channel": ["resolved", "resolved"]}}}},
         "slack-app-test.thread_events_to_channel: each event at most once"),
    ],
)  # fmt: skip
def test_oncall_config_error_is_one_line(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    raw = raw_config()
    for key, value in change.items():
        raw[key] = {**raw.get(key, {}), **value} if key == "forwarders" else value
    with pytest.raises(ConfigError) as caught:
        load_config("broken", _write(tmp_path, raw))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("config/broken.json: ")
    assert message in text, text


def test_oncall_config_reserves_nothing_where_the_account_cannot(tmp_path: Path) -> None:
    raw = {**raw_config(), "endpoint": {"reserved_concurrency": None}}
    with pytest.raises(ConfigError, match=r"oncall: endpoint.reserved_concurrency is null .* to null too$"):
        load_config("broken", _write(tmp_path, raw))
    raw["oncall"] = {**ONCALL, "slack_reserved_concurrency": None, "pagerduty_reserved_concurrency": None}
    assert load_config("broken", _write(tmp_path, raw)).oncall is not None


def test_oncall_config_needs_a_slack_app_route(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"oncall: needs a Slack app route in forwarders.slack_apps"):
        load_config("broken", _write(tmp_path, raw_config(apps=False)))


def test_oncall_config_is_optional_and_complete(tmp_path: Path) -> None:
    assert load_config("broken", _write(tmp_path, raw_config(oncall=None, apps=False))).oncall is None
    config = load_config("broken", _write(tmp_path, raw_config()))
    assert config.oncall is not None and config.oncall.slack_reserved_concurrency == 4
    minimal = {"slack_signing_secret": "alerting/x/signing", "slack_actors": {"usergroups": ["S0123ABCD"]}}
    config = load_config("broken", _write(tmp_path, raw_config(minimal)))
    assert config.oncall is not None and config.oncall.pagerduty_webhook_secret is None
    assert config.oncall.slack_reserved_concurrency == 5


def test_oncall_slack_app_events_are_the_thread_events_but_the_parent() -> None:
    """The config's names are the code's (alertlib.threads.EventKind) and its default the code's default."""
    from typing import get_args

    from alertlib.render_thread import DEFAULT_TO_CHANNEL
    from alertlib.threads import EventKind
    from infra.config import SlackApp, ThreadEventName

    assert set(get_args(ThreadEventName)) == {k.value for k in EventKind} - {EventKind.FIRED.value}
    assert set(SlackApp().thread_events_to_channel) == {k.value for k in DEFAULT_TO_CHANNEL}


def test_oncall_shipped_configs_name_every_secret() -> None:
    for env in ("dev", "prod"):
        config = load_config(env)
        if config.oncall is None:
            pytest.skip(f"{env}: no oncall section yet")
        assert config.forwarders.slack_apps
        assert config.oncall.pagerduty_webhook_secret and config.oncall.pagerduty_rest_secret
        assert config.oncall.alertmanager_secret
        names = [*config.oncall.secret_names(), *config.forwarders.slack_apps]
        assert all(name.startswith(f"alerting/{env}/") for name in names), names


def test_oncall_summary_lists_the_endpoints_queue_tables_and_secret_shapes(oncall: Built) -> None:
    from infra.summary import environments, estimate, render, summarize

    summary = summarize("dev", environments(Path(oncall.app.synth().directory))["dev"])
    endpoints = {e.function: (e.reserved_concurrency, e.output) for e in summary.endpoints}
    assert endpoints == {
        "dev-alertmanager-endpoint": (5, "AlertmanagerEndpointUrl"),
        "dev-slack-interactions": (4, "SlackInteractivityUrl"),
        "dev-pagerduty-webhooks": (3, "PagerDutyWebhookUrl"),
    }
    assert "dev-oncall-actions -> dev-action-worker (dead-letter queue dev-oncall-actions-dlq after 3 tries)" in (
        summary.polled_queues
    )
    assert {"dev-oncall-state", "dev-oncall-audit", "dev-slack-threads"} <= set(summary.tables)
    secrets = {s.name: s.value for s in summary.secrets}
    assert secrets[APP].startswith('{"bot_token": "xoxb-…", "channel": "C…"}')
    assert secrets[str(ONCALL["slack_signing_secret"])].startswith('{"signing_secret": ')
    assert secrets[str(ONCALL["pagerduty_webhook_secret"])].startswith('{"secrets": [')
    assert secrets[str(ONCALL["pagerduty_rest_secret"])].startswith('{"api_token": ')
    assert "bearer_token" in secrets[str(ONCALL["alertmanager_secret"])]
    text = render(summary, estimate(summary))
    assert "dev-slack-interactions     at most 4 at once, output SlackInteractivityUrl" in text
    assert summary.queues_polled == 3  # the action queue's idle polling is priced with the forwarders'
    assert summary.slack_app_routes == 1
    from infra import pricing

    [threads] = [line for line in estimate(summary, 1000) if line.item.startswith("Slack app threads")]
    per = pricing.PER_THREAD
    assert threads.usd == pytest.approx(
        pricing.PRICES["dynamodb_write"].cost(1000 * per.dynamodb_writes)
        + pricing.PRICES["dynamodb_read"].cost(1000 * per.dynamodb_reads)
        + pricing.PRICES["metric_widget_image"].cost(1000 * per.graph_metrics)
    )


def test_oncall_fallback_notice_goes_to_a_webhook_before_an_app_route(tmp_path: Path) -> None:
    """ "PagerDuty delivery failed" is posted with a webhook's URL: a Slack app route first in the critical topic
    does not take it (the infrastructure topic's webhook does)."""
    raw = raw_config()
    raw["topics"]["critical"]["slack"] = [APP]
    config = load_config("broken", _write(tmp_path, raw))
    assert config.fallback_slack_secret() == raw["topics"]["infrastructure"]["slack"][0] != APP
    raw["topics"]["critical"]["slack"] = [APP, "alerting/dev/other-webhook"]
    assert load_config("broken", _write(tmp_path, raw)).fallback_slack_secret() == "alerting/dev/other-webhook"


def test_oncall_amazon_managed_prometheus_silences_are_granted_on_the_workspace_only() -> None:
    workspace = "arn:aws:aps:eu-west-1:111111111111:workspace/ws-0123abcd-4567"
    built = Built(raw_config({**ONCALL, "amp_workspace_arn": workspace}))
    statements = _by_sid(built.policy("dev-action-worker"))
    assert statements["ActionWorker5"]["Resource"] == workspace
    assert sorted(_list(statements["ActionWorker5"]["Action"])) == [
        "aps:DeleteAlertManagerSilence", "aps:PutAlertManagerSilences"]  # fmt: skip
