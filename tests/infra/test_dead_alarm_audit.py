"""The dead-alarm auditor as synthesized: its exact statements, one run at a time, daily and after each deploy."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized


def _auditor(dev: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = dev.resources("alerting", "AWS::Lambda::Function")
    [(logical_id, function)] = [
        (k, f) for k, f in functions.items() if f["Properties"]["FunctionName"] == "dev-dead-alarm-auditor"
    ]
    return logical_id, function


def test_auditor_function_settings_and_one_run_at_a_time(dev: Synthesized) -> None:
    _, function = _auditor(dev)
    props = function["Properties"]
    assert props["Handler"] == "dead_alarm_auditor.handler"
    assert props["ReservedConcurrentExecutions"] == 1
    env = props["Environment"]["Variables"]
    assert env["ALARM_PREFIX"] == "dev-"
    assert env["DEAD_AFTER_HOURS"] == "24"
    assert env["RUNBOOK_URL"].endswith("/dead-alarm.md")
    assert "Infrastructure" in json.dumps(env["TOPIC_ARN"])
    assert {"AUDIT_TABLE", "POWERTOOLS_SERVICE_NAME"} <= set(env)


def test_auditor_role_holds_exactly_what_its_code_calls(dev: Synthesized) -> None:
    [policy] = [
        p
        for p in dev.resources("alerting", "AWS::IAM::Policy").values()
        if "DeadAlarmAudit" in json.dumps(p["Properties"]["Roles"])
    ]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    actions = {sid: sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]]) for sid, s in
               statements.items()}  # fmt: skip
    assert actions == {
        "WriteOwnLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "ReadAlarmsAndMetrics": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"],
        "ListPublishedMetrics": ["cloudwatch:ListMetrics"],
        "RememberReportedAlarms": ["dynamodb:BatchWriteItem", "dynamodb:Scan"],
        "ReportToInfrastructureTopic": ["sns:Publish"],
        "UseAlertingKey": ["kms:Decrypt", "kms:GenerateDataKey"],
    }
    assert statements["ReadAlarmsAndMetrics"]["Resource"] == "*"
    assert statements["ListPublishedMetrics"]["Resource"] == "*"
    assert "Memory" in json.dumps(statements["RememberReportedAlarms"]["Resource"])
    assert "Infrastructure" in json.dumps(statements["ReportToInfrastructureTopic"]["Resource"])
    assert all(s["Resource"] != "*" for sid, s in statements.items() if not sid.endswith("Metrics"))


def test_auditor_runs_daily_and_after_each_deploy_of_the_environment(dev: Synthesized) -> None:
    function_id, _ = _auditor(dev)
    rules = {r["Properties"]["Name"]: r["Properties"] for r in dev.resources("alerting", "AWS::Events::Rule").values()}
    daily = rules["dev-dead-alarm-auditor-daily"]
    assert daily["ScheduleExpression"] == "cron(0 7 * * ? *)"
    deploy = rules["dev-dead-alarm-auditor-after-deploy"]["EventPattern"]
    assert deploy["source"] == ["aws.cloudformation"]
    assert deploy["detail-type"] == ["CloudFormation Stack Status Change"]
    assert deploy["detail"]["status-details"]["status"] == ["CREATE_COMPLETE", "UPDATE_COMPLETE"]
    [prefix] = deploy["detail"]["stack-id"]
    assert ":stack/dev-" in json.dumps(prefix["prefix"])
    for name in ("dev-dead-alarm-auditor-daily", "dev-dead-alarm-auditor-after-deploy"):
        [target] = rules[name]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}


def test_auditor_table_remembers_by_alarm_and_expires(dev: Synthesized) -> None:
    [table] = [
        t["Properties"]
        for t in dev.resources("alerting", "AWS::DynamoDB::GlobalTable").values()
        if t["Properties"]["TableName"] == "dev-alerting-audit"
    ]
    assert table["KeySchema"] == [{"AttributeName": "alarm", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_auditor_dead_after_comes_from_the_config(prod: Synthesized) -> None:
    functions = prod.resources("alerting", "AWS::Lambda::Function").values()
    [auditor] = [f for f in functions if f["Properties"]["FunctionName"] == "prod-dead-alarm-auditor"]
    hours = auditor["Properties"]["Environment"]["Variables"]["DEAD_AFTER_HOURS"]
    assert hours == str(prod.config.dead_alarm_after_hours)


def test_auditor_role_is_the_statements_kept_beside_its_code(dev: Synthesized) -> None:
    """The construct grants what `alertlib.audit.audit_policy_statements` returns (the pair an IAM-enforcing test
    proves), not a copy kept here: same Sids, same actions."""
    from alertlib.audit import audit_policy_statements

    [policy] = [
        p
        for p in dev.resources("alerting", "AWS::IAM::Policy").values()
        if "DeadAlarmAudit" in json.dumps(p["Properties"]["Roles"])
    ]
    granted = {
        s["Sid"]: sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] != "WriteOwnLogs"
    }
    kept = {d["Sid"]: sorted(d["Action"]) for d in audit_policy_statements(topic_arn="t", table_arn="d", key_arn="k")}
    assert granted == kept
