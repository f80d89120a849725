"""CDK assertions on the properties that matter: key policy, topics, alarms and their actions, the forwarders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(resource: dict[str, Any], key: str = "KeyPolicy") -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = resource["Properties"][key]["Statement"]
    return statements


def test_key_rotates_and_lets_cloudwatch_and_eventbridge_use_it(dev: Synthesized) -> None:
    [key] = dev.resources("alerting", "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    by_principal = {json.dumps(s["Principal"], sort_keys=True): s for s in _statements(key)}
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com"):
        statement = by_principal[json.dumps({"Service": service})]
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    cloudwatch = by_principal[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    # The SNS guide: EventBridge supports no aws:SourceAccount / aws:SourceArn / aws:SourceOrgID in a key policy.
    assert "Condition" not in by_principal[json.dumps({"Service": "events.amazonaws.com"})]
    dev.template("alerting").has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/dev-alerting"})


def test_sns_may_use_the_key_only_for_the_topics_that_redrive_to_the_dead_letter_queue(dev: Synthesized) -> None:
    [key] = dev.resources("alerting", "AWS::KMS::Key").values()
    [statement] = [s for s in _statements(key) if s["Principal"] == {"Service": "sns.amazonaws.com"}]
    arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    topics = sorted(a["Fn::Join"][1][-1].rsplit(":", 1)[-1] for a in arns)
    assert topics == [
        "dev-critical",
        "dev-infrastructure",
        "dev-pagerduty-forwarder-health",
        "dev-slack-forwarder-health",
        "dev-slo",
        "dev-warning",
    ]
    redriven = {
        s["Properties"]["TopicArn"]["Ref"]
        for s in dev.resources("alerting", "AWS::SNS::Subscription").values()
        if "RedrivePolicy" in s["Properties"]
    }
    named = {k: t["Properties"]["TopicName"] for k, t in dev.resources("alerting", "AWS::SNS::Topic").items()}
    assert sorted(named[r] for r in redriven) == topics


def test_topics_are_encrypted_with_the_key_and_tls_only(dev: Synthesized) -> None:
    topics = dev.resources("alerting", "AWS::SNS::Topic")
    names = sorted(t["Properties"]["TopicName"] for t in topics.values())
    assert names == [
        "dev-critical",
        "dev-infrastructure",
        "dev-pagerduty-forwarder-health",
        "dev-slack-forwarder-health",
        "dev-slo",
        "dev-warning",
    ]
    key_id = next(iter(dev.resources("alerting", "AWS::KMS::Key")))
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    for policy in dev.resources("alerting", "AWS::SNS::TopicPolicy").values():
        statements = _statements(policy, "PolicyDocument")
        deny = [s for s in statements if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        cloudwatch = next(s for s in statements if s.get("Sid") == "CloudWatchPublish")
        assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
        events = next(s for s in statements if s.get("Sid") == "EventBridgePublish")
        assert events["Principal"] == {"Service": "events.amazonaws.com"}
        rules = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":events:eu-west-1:111111111111:rule/*"]]}
        assert events["Condition"] == {"ArnLike": {"aws:SourceArn": rules}}


def test_alertmanager_publisher_role_is_created_and_named_by_reference_in_prod(prod: Synthesized) -> None:
    roles = prod.resources("alerting", "AWS::IAM::Role")
    [(role_id, role)] = [
        (k, r) for k, r in roles.items() if r["Properties"]["RoleName"] == "prod-alertmanager-publisher"
    ]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    # The trusted role is a condition, not a principal: its absence fails no deploy, its re-creation still matches.
    assert trust["Principal"] == {
        "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::222222222222:root"]]}
    }
    assert trust["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::222222222222:role/alertmanager-sns-publisher"]}
    }
    # Same account: its own IAM policy is enough; no key or topic policy names a role created in the same deploy.
    by_role = {"Fn::GetAtt": [role_id, "Arn"]}
    policies = [*prod.resources("alerting", "AWS::SNS::TopicPolicy").values()]
    assert not any(s["Principal"] == {"AWS": by_role} for p in policies for s in _statements(p, "PolicyDocument"))
    [key] = prod.resources("alerting", "AWS::KMS::Key").values()
    assert not any(s["Principal"] == {"AWS": by_role} for s in _statements(key))
    [policy] = [
        p
        for p in prod.resources("alerting", "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    actions = sorted(a for s in _statements(policy, "PolicyDocument") for a in _list(s["Action"]))
    assert actions == ["kms:Decrypt", "kms:GenerateDataKey", "sns:Publish"]
    assert "AlertmanagerPublisherRoleArn" in prod.template("alerting").find_outputs("*")


def test_dev_forwards_teams_alarm_state_changes_through_its_own_eventbridge_rule(dev: Synthesized) -> None:
    [(rule_id, rule)] = [
        (k, r) for k, r in dev.resources("alerting", "AWS::Events::Rule").items()
        if r["Properties"]["Name"] == "dev-alarm-state-infrastructure"
    ]  # fmt: skip
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": "platform-"}]},
    }
    topics = {k: t["Properties"]["TopicName"] for k, t in dev.resources("alerting", "AWS::SNS::Topic").items()}
    [target] = props["Targets"]
    assert topics[target["Arn"]["Ref"]] == "dev-infrastructure"
    assert "RoleArn" not in target  # EventBridge: SNS targets use the topic policy, not a role
    policy = next(
        p for p in dev.resources("alerting", "AWS::SNS::TopicPolicy").values()
        if {"Ref": target["Arn"]["Ref"]} in p["Properties"]["Topics"]
    )  # fmt: skip
    [events] = [
        s for s in _statements(policy, "PolicyDocument") if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert list(events["Condition"]) == ["ArnLike"] and list(events["Condition"]["ArnLike"]) == ["aws:SourceArn"]
    failed = next(
        a["Properties"] for a in dev.resources("alerting", "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "dev-eventbridge-alarm-state-infrastructure-FailedInvocations"
    )  # fmt: skip
    assert (failed["Namespace"], failed["MetricName"], failed["Statistic"]) == (
        "AWS/Events",
        "FailedInvocations",
        "Sum",
    )
    assert failed["Dimensions"] == [{"Name": "RuleName", "Value": "dev-alarm-state-infrastructure"}]
    assert rule_id


def test_one_alarm_of_each_kind_with_alarm_and_ok_actions(dev: Synthesized) -> None:
    alarms = {}
    for stack in ("alarms-rds", "alarms-elasticache", "alarms-ecs"):
        for alarm in dev.resources(stack, "AWS::CloudWatch::Alarm").values():
            alarms[alarm["Properties"]["AlarmName"]] = alarm["Properties"]
    cpu = alarms["dev-rds-orders-db-CPUUtilization"]
    assert (cpu["Namespace"], cpu["Statistic"], cpu["Period"], cpu["EvaluationPeriods"]) == (
        "AWS/RDS",
        "Average",
        60,
        5,
    )
    assert (cpu["Threshold"], cpu["ComparisonOperator"]) == (90, "GreaterThanThreshold")
    topic = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sns:eu-west-1:111111111111:dev-warning"]]}
    assert cpu["AlarmActions"] == cpu["OKActions"] == [topic]  # dev sends RDS CPU to warning (defaults)
    assert (
        "\nrunbook: https://github.com/example-org/alert-forwarding/blob/main/docs/runbooks/rds-cpu-utilization.md"
        in (cpu["AlarmDescription"])
    )
    storage = alarms["dev-rds-orders-db-FreeStorageSpace"]
    assert storage["Statistic"] == "Minimum" and storage["Threshold"] == 10 * 1024**3
    latency = alarms["dev-rds-orders-db-ReadLatency"]
    assert latency["ExtendedStatistic"] == "p90" and "Statistic" not in latency
    assert alarms["dev-rds-orders-db-replica-ReplicaLag"]["EvaluationPeriods"] == 10
    assert "dev-rds-orders-db-ReplicaLag" not in alarms
    assert alarms["dev-rds-orders-db-DatabaseConnections"]["Threshold"] == 360
    assert alarms["dev-elasticache-sessions-001-EngineCPUUtilization"]["Threshold"] == 90
    assert alarms["dev-elasticache-sessions-002-CPUUtilization"]["Dimensions"] == [
        {"Name": "CacheClusterId", "Value": "sessions-002"},
        {"Name": "CacheNodeId", "Value": "0001"},
    ]
    assert alarms["dev-elasticache-sessions-002-ReplicationLag"]["EvaluationPeriods"] == 15
    assert "dev-elasticache-sessions-001-ReplicationLag" not in alarms  # the primary publishes none
    running = alarms["dev-ecs-web-api-RunningTaskCount"]
    assert running["Namespace"] == "ECS/ContainerInsights"
    assert (running["ComparisonOperator"], running["Threshold"]) == ("LessThanOrEqualToThreshold", 0)
    assert running["TreatMissingData"] == "breaching"
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] and alarm["OKActions"] == alarm["AlarmActions"], name
        assert len(alarm["AlarmDescription"]) <= 1024


def test_forwarders_runtime_architecture_and_environment(dev: Synthesized) -> None:
    functions = {
        k: f for k, f in dev.resources("alerting", "AWS::Lambda::Function").items()
        if f["Properties"]["FunctionName"].endswith("-forwarder")
    }  # fmt: skip
    assert len(functions) == 2
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] == 512 and props["Timeout"] == 60
        env = props["Environment"]["Variables"]
        routes = json.loads(env["ROUTES"])
        assert all(set(route) == {"severity", "secrets"} for route in routes.values())
        for value in env.values():
            assert "hooks.slack.com" not in json.dumps(value)
    pagerduty = next(f for f in functions.values() if f["Properties"]["FunctionName"] == "dev-pagerduty-forwarder")
    env = pagerduty["Properties"]["Environment"]["Variables"]
    assert env["FALLBACK_SLACK_SECRET"] == "alerting/dev/slack-alerts"
    assert "IDEMPOTENCY_TABLE" in env and "LEDGER_TABLE" in env
    routes = json.loads(env["ROUTES"])
    assert routes == {
        "default": {"severity": "critical", "secrets": ["alerting/dev/pagerduty"]},
        "dev-critical": {"severity": "critical", "secrets": ["alerting/dev/pagerduty"]},
        "dev-slack-forwarder-health": {"severity": "critical", "secrets": ["alerting/dev/pagerduty"]},
    }


def _queues(dev: Synthesized) -> dict[str, dict[str, Any]]:
    """Queue name -> (logical id, properties)."""
    return {
        q["Properties"]["QueueName"]: {"id": k, **q["Properties"]}
        for k, q in dev.resources("alerting", "AWS::SQS::Queue").items()
    }


def _arn_of(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, "Arn"]}


def test_each_forwarder_reads_its_own_encrypted_queue_with_its_own_dead_letter_queue(dev: Synthesized) -> None:
    queues = _queues(dev)
    core = queues["dev-alerting-dlq"]
    assert core["MessageRetentionPeriod"] == 14 * 24 * 3600 and "KmsMasterKeyId" in core
    [key] = dev.resources("alerting", "AWS::KMS::Key")
    policies = dev.resources("alerting", "AWS::SQS::QueuePolicy").values()
    for destination in ("pagerduty", "slack"):
        queue, dlq = queues[f"dev-{destination}-forwarder-queue"], queues[f"dev-{destination}-forwarder-dlq"]
        for q in (queue, dlq):
            assert q["KmsMasterKeyId"] == _arn_of(key)
            assert q["MessageRetentionPeriod"] == 14 * 24 * 3600
            [policy] = [
                p["Properties"]["PolicyDocument"] for p in policies if p["Properties"]["Queues"] == [{"Ref": q["id"]}]
            ]
            assert {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": _arn_of(q["id"]),
            } in policy["Statement"]
        assert queue["VisibilityTimeout"] == 6 * 60  # 6 x the function's 60 s
        assert queue["RedrivePolicy"] == {"deadLetterTargetArn": _arn_of(dlq["id"]), "maxReceiveCount": 5}
        allow = dlq["RedriveAllowPolicy"]
        assert allow["redrivePermission"] == "byQueue"
        [source] = allow["sourceQueueArns"]
        assert source["Fn::Join"][1][-1].endswith(f":dev-{destination}-forwarder-queue")


def test_topics_deliver_to_the_queues_not_to_the_functions(dev: Synthesized) -> None:
    queues = _queues(dev)
    core = queues["dev-alerting-dlq"]["id"]
    by_id = {q["id"]: name for name, q in queues.items()}
    subscriptions = [s["Properties"] for s in dev.resources("alerting", "AWS::SNS::Subscription").values()]
    assert not [s for s in subscriptions if s["Protocol"] == "lambda"]
    assert not dev.resources("alerting", "AWS::Lambda::EventInvokeConfig")
    permissions = dev.resources("alerting", "AWS::Lambda::Permission").values()
    assert not [p for p in permissions if p["Properties"]["Principal"] == "sns.amazonaws.com"]
    to_queues = [s for s in subscriptions if s["Protocol"] == "sqs"]
    topics = {k: t["Properties"]["TopicName"] for k, t in dev.resources("alerting", "AWS::SNS::Topic").items()}
    read: dict[str, set[str]] = {}
    for subscription in to_queues:
        assert subscription["RawMessageDelivery"] is False  # the body is SNS's notification JSON
        assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": _arn_of(core)}
        queue = by_id[subscription["Endpoint"]["Fn::GetAtt"][0]]
        read.setdefault(queue, set()).add(topics[subscription["TopicArn"]["Ref"]])
    assert read == {
        "dev-pagerduty-forwarder-queue": {"dev-critical", "dev-slack-forwarder-health"},
        "dev-slack-forwarder-queue": {
            "dev-critical", "dev-warning", "dev-slo", "dev-infrastructure", "dev-pagerduty-forwarder-health"
        },
    }  # fmt: skip
    # SNS may send to each queue only from the topics it subscribes.
    for name, topic_names in read.items():
        [policy] = [
            p["Properties"]["PolicyDocument"] for p in dev.resources("alerting", "AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": queues[name]["id"]}]
        ]  # fmt: skip
        [send] = [s for s in policy["Statement"] if s.get("Principal") == {"Service": "sns.amazonaws.com"}]
        assert (send["Effect"], send["Action"]) == ("Allow", "sqs:SendMessage")
        assert sorted(topics[r["Ref"]] for r in send["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(topic_names)


def test_event_source_mappings_batch_ten_at_once_two_at_a_time_with_partial_failures(dev: Synthesized) -> None:
    queues = {q["id"]: name for name, q in _queues(dev).items()}
    functions = {k: f["Properties"] for k, f in dev.resources("alerting", "AWS::Lambda::Function").items()}
    mappings = dev.resources("alerting", "AWS::Lambda::EventSourceMapping").values()
    wired = {}
    for mapping in mappings:
        props = mapping["Properties"]
        assert props["BatchSize"] == 10
        assert props["MaximumBatchingWindowInSeconds"] == 0
        assert props["ScalingConfig"] == {"MaximumConcurrency": 2}
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        function = functions[props["FunctionName"]["Ref"]]
        if not function["FunctionName"].endswith("-forwarder"):
            continue  # the on-call action worker: tests/infra/test_oncall.py
        wired[function["FunctionName"]] = queues[props["EventSourceArn"]["Fn::GetAtt"][0]]
        env = function["Environment"]["Variables"]
        assert env["QUEUE_URL"] == {"Ref": props["EventSourceArn"]["Fn::GetAtt"][0]}
        assert mapping["DependsOn"]  # the role's policy first: Lambda checks it may receive
    assert wired == {
        "dev-pagerduty-forwarder": "dev-pagerduty-forwarder-queue",
        "dev-slack-forwarder": "dev-slack-forwarder-queue",
    }


def test_pacer_table_like_the_others(dev: Synthesized) -> None:
    found = dev.resources("alerting", "AWS::DynamoDB::GlobalTable")
    ids = {t["Properties"]["TableName"]: k for k, t in found.items()}
    tables = {name: found[k] for name, k in ids.items()}
    pacer = tables["dev-pacer"]["Properties"]
    assert pacer["KeySchema"] == [
        {"AttributeName": "channel", "KeyType": "HASH"},
        {"AttributeName": "item", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in pacer["AttributeDefinitions"]} == {
        "channel": "S",
        "item": "S",
    }
    assert pacer["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert pacer["BillingMode"] == "PAY_PER_REQUEST"
    ledger = tables["dev-alerting-ledger"]["Properties"]
    assert pacer["SSESpecification"] == ledger["SSESpecification"]
    assert pacer["Replicas"][0]["SSESpecification"] == ledger["Replicas"][0]["SSESpecification"]
    assert pacer["Replicas"][0]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    table_id = ids["dev-pacer"]
    for function in dev.resources("alerting", "AWS::Lambda::Function").values():
        if function["Properties"]["FunctionName"].endswith("-forwarder"):
            assert function["Properties"]["Environment"]["Variables"]["PACER_TABLE"] == {"Ref": table_id}


def test_forwarder_role_holds_exactly_its_statements(dev: Synthesized) -> None:
    queues = {name: q["id"] for name, q in _queues(dev).items()}
    tables = {
        t["Properties"]["TableName"]: k for k, t in dev.resources("alerting", "AWS::DynamoDB::GlobalTable").items()
    }
    for destination in ("pagerduty", "slack"):
        [policy] = [
            p for p in dev.resources("alerting", "AWS::IAM::Policy").values()
            if p["Properties"]["Roles"][0]["Ref"].startswith(f"{destination.capitalize()}ForwarderRole")
        ]  # fmt: skip
        statements = {s["Sid"]: s for s in _statements(policy, "PolicyDocument")}
        looks_again = ["LookAgain"] if destination == "pagerduty" else []  # alertlib.recheck (PagerDuty only)
        # a Slack app route keeps threads and draws graphs: tests/infra/test_oncall.py
        apps = ["DrawGraphs", "KeepThreads"] if destination == "slack" and dev.config.forwarders.slack_apps else []
        assert sorted(statements) == sorted([
            "KeepRefusals", "PaceDeliveries", "ReadOwnSecrets", "ReadSloNumbers",
            "ReceiveFromOwnQueue", "RecordDeliveries", "ScheduleOwnFlushes", "SendEachMessageOnce", "UseAlertingKey",
            "WriteOwnLogs", *looks_again, *apps,
        ])  # fmt: skip
        # An SLO alert's numbers: DescribeAlarms and GetMetricData, read-only, on * (see slo_query_policy_statements).
        assert statements["ReadSloNumbers"]["Action"] == ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"]
        assert statements["ReadSloNumbers"]["Resource"] == "*"
        if looks_again:  # composite alarms are described only to a grant on *
            assert (statements["LookAgain"]["Action"], statements["LookAgain"]["Resource"]) == (
                "cloudwatch:DescribeAlarms",
                "*",
            )
        own = _arn_of(queues[f"dev-{destination}-forwarder-queue"])
        assert statements["ReceiveFromOwnQueue"]["Action"] == [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"
        ]  # fmt: skip
        assert statements["ReceiveFromOwnQueue"]["Resource"] == own
        assert statements["ScheduleOwnFlushes"]["Action"] == ["sqs:SendMessage", "sqs:ChangeMessageVisibility"]
        assert statements["ScheduleOwnFlushes"]["Resource"] == own
        assert statements["PaceDeliveries"]["Action"] == [
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
        ]  # fmt: skip
        assert statements["PaceDeliveries"]["Resource"] == _arn_of(tables["dev-pacer"])
        # Nothing is sent to the core dead-letter queue by the function any more (no on-failure destination).
        assert statements["KeepRefusals"] == {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Resource": _arn_of(queues["dev-alerting-rejected"]),
            "Sid": "KeepRefusals",
        }
        assert sorted(statements["UseAlertingKey"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


NO_RESOURCE_LEVEL = {"cloudwatch:GetMetricData", "cloudwatch:GetMetricWidgetImage", "cloudwatch:DescribeAlarms"}


def test_forwarder_iam_is_scoped_with_no_wildcard_action(dev: Synthesized) -> None:
    policies = {
        k: p for k, p in dev.resources("alerting", "AWS::IAM::Policy").items()
        if any(n in json.dumps(p["Properties"]["Roles"]) for n in ("Forwarder", "Endpoint"))
    }  # fmt: skip
    assert len(policies) == 3
    secrets = set(dev.resources("alerting", "AWS::SecretsManager::Secret"))
    for policy in policies.values():
        if "Endpoint" in json.dumps(policy["Properties"]["Roles"]):
            continue  # the endpoint's role: test_endpoint_is_wired_with_its_own_role
        statements = _statements(policy, "PolicyDocument")
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any("*" in action for action in actions), actions
            # "*" only where AWS takes no narrower resource: GetMetricData, GetMetricWidgetImage, and DescribeAlarms
            # of composite alarms (answered only to a grant on *).
            if statement["Resource"] == "*":
                assert set(actions) <= NO_RESOURCE_LEVEL, actions
        read = next(s for s in statements if s["Sid"] == "ReadOwnSecrets")
        assert read["Action"] == "secretsmanager:GetSecretValue"
        refs = read["Resource"] if isinstance(read["Resource"], list) else [read["Resource"]]
        assert {r["Ref"] for r in refs} <= secrets
    for role in dev.resources("alerting", "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_secrets_are_created_without_a_value_in_the_template(dev: Synthesized) -> None:
    secrets = dev.resources("alerting", "AWS::SecretsManager::Secret")
    assert sorted(s["Properties"]["Name"] for s in secrets.values()) == [
        "alerting/dev/alertmanager",  # the on-call secrets: Alertmanager silences, PagerDuty, Slack
        "alerting/dev/alertmanager-endpoint",
        "alerting/dev/pagerduty",
        "alerting/dev/pagerduty-rest",
        "alerting/dev/pagerduty-webhook",
        "alerting/dev/slack-alerts",
        "alerting/dev/slack-app",
        "alerting/dev/slack-signing",
    ]
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]
        assert "GenerateSecretString" in secret["Properties"]


def test_log_groups_have_retention(dev: Synthesized) -> None:
    groups = dev.resources("alerting", "AWS::Logs::LogGroup")
    assert sorted(g["Properties"]["LogGroupName"] for g in groups.values()) == [
        "/aws/lambda/dev-action-worker",
        "/aws/lambda/dev-alertmanager-endpoint",
        "/aws/lambda/dev-dead-alarm-auditor",
        "/aws/lambda/dev-pagerduty-forwarder",
        "/aws/lambda/dev-pagerduty-webhooks",
        "/aws/lambda/dev-slack-forwarder",
        "/aws/lambda/dev-slack-interactions",
    ]
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())


def test_self_monitoring_never_reports_a_forwarder_only_through_itself(dev: Synthesized) -> None:
    template = dev.template("alerting")
    topics = {k: v["Properties"]["TopicName"] for k, v in dev.resources("alerting", "AWS::SNS::Topic").items()}
    functions = {
        k: v["Properties"]["FunctionName"] for k, v in dev.resources("alerting", "AWS::Lambda::Function").items()
    }
    polled_by = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: functions[m["Properties"]["FunctionName"]["Ref"]]
        for m in dev.resources("alerting", "AWS::Lambda::EventSourceMapping").values()
    }
    readers: dict[str, set[str]] = {}
    for subscription in dev.resources("alerting", "AWS::SNS::Subscription").values():
        props = subscription["Properties"]
        topic = topics[props["TopicArn"]["Ref"]]
        reader = polled_by[props["Endpoint"]["Fn::GetAtt"][0]] if props["Protocol"] == "sqs" else props["Endpoint"]
        readers.setdefault(topic, set()).add(reader)
    assert readers["dev-pagerduty-forwarder-health"] == {"dev-slack-forwarder", "oncall-dev@example.com"}
    assert readers["dev-slack-forwarder-health"] == {"dev-pagerduty-forwarder", "oncall-dev@example.com"}
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    errors = alarms["dev-forwarder-pagerduty-Errors"]
    assert errors["AlarmActions"] == errors["OKActions"]
    assert [topics[a["Ref"]] for a in errors["AlarmActions"]] == ["dev-pagerduty-forwarder-health"]
    assert "dev-forwarder-slack-Throttles" in alarms
    rejected = alarms["dev-forwarder-rejected-payloads"]
    assert rejected["MetricName"] == "NumberOfMessagesSent"
    assert len(rejected["AlarmActions"]) == 2
    queue = alarms["dev-forwarder-dead-letter-queue-NotEmpty"]
    assert sorted(topics[a["Ref"]] for a in queue["AlarmActions"]) == [
        "dev-pagerduty-forwarder-health",
        "dev-slack-forwarder-health",
    ]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"AlarmName": "dev-forwarder-slack-Errors", "Threshold": 1, "TreatMissingData": "notBreaching"},
    )


def test_endpoint_is_wired_with_its_own_role(dev: Synthesized) -> None:
    template = dev.template("alerting")
    functions = dev.resources("alerting", "AWS::Lambda::Function")
    [(endpoint_id, endpoint)] = [
        (k, f) for k, f in functions.items() if f["Properties"]["FunctionName"] == "dev-alertmanager-endpoint"
    ]
    env = endpoint["Properties"]["Environment"]["Variables"]
    assert "critical" in json.dumps(env["TOPIC_ARNS"])
    assert env["AUTH_SECRET"] == "alerting/dev/alertmanager-endpoint"
    # the on-call endpoints' URLs: tests/infra/test_oncall.py
    [url] = [
        u for u in dev.resources("alerting", "AWS::Lambda::Url").values()
        if u["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [endpoint_id, "Arn"]}
    ]  # fmt: skip
    assert url["Properties"]["AuthType"] == "NONE"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [endpoint_id, "Arn"]}
    tables = {t["Properties"]["TableName"]: t for t in dev.resources("alerting", "AWS::DynamoDB::GlobalTable").values()}
    ttl = {name: table["Properties"]["TimeToLiveSpecification"]["AttributeName"] for name, table in tables.items()}
    assert ttl == {
        "dev-alertmanager-endpoint": "expires_at",
        "dev-alerting-idempotency": "expiration",
        "dev-alerting-ledger": "expires_at",
        "dev-alerting-audit": "expires_at",
        "dev-pacer": "expires_at",
        "dev-oncall-state": "expires_at",
        "dev-oncall-audit": "expires_at",
        "dev-slack-threads": "expires_at",
    }
    policy = next(
        p for p in dev.resources("alerting", "AWS::IAM::Policy").values()
        if "Endpoint" in json.dumps(p["Properties"]["Roles"])
    )  # fmt: skip
    statements = _statements(policy, "PolicyDocument")
    actions = sorted(a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))
    assert actions == [
        "dynamodb:DeleteItem",  # a signature is released when its request was not processed
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "sns:Publish",
    ]
    outputs = template.find_outputs("*")
    assert "AlertmanagerEndpointUrl" in outputs
    assert "AlertmanagerPublisherPolicy" in outputs


def test_forwarders_may_query_the_ledger_they_read_on_every_cloudwatch_ok(dev: Synthesized) -> None:
    ledger = next(
        k for k, t in dev.resources("alerting", "AWS::DynamoDB::GlobalTable").items()
        if t["Properties"]["TableName"] == "dev-alerting-ledger"
    )  # fmt: skip
    forwarders = [
        p for p in dev.resources("alerting", "AWS::IAM::Policy").values()
        if "Forwarder" in json.dumps(p["Properties"]["Roles"])
    ]  # fmt: skip
    assert len(forwarders) == 2
    for policy in forwarders:
        [record] = [s for s in _statements(policy, "PolicyDocument") if s.get("Sid") == "RecordDeliveries"]
        assert sorted(_list(record["Action"])) == ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query"]
        assert record["Resource"] == {"Fn::GetAtt": [ledger, "Arn"]}


def test_endpoint_has_a_small_reserved_concurrency(dev: Synthesized) -> None:
    [endpoint] = [
        f["Properties"] for f in dev.resources("alerting", "AWS::Lambda::Function").values()
        if f["Properties"]["FunctionName"] == "dev-alertmanager-endpoint"
    ]  # fmt: skip
    assert endpoint["ReservedConcurrentExecutions"] == 5
    forwarders = [
        f["Properties"] for f in dev.resources("alerting", "AWS::Lambda::Function").values()
        if f["Properties"]["FunctionName"].endswith("-forwarder")
    ]  # fmt: skip
    assert all("ReservedConcurrentExecutions" not in f for f in forwarders)


def test_self_monitoring_covers_the_endpoint_async_failures_and_sns_redrives(dev: Synthesized) -> None:
    topics = {k: v["Properties"]["TopicName"] for k, v in dev.resources("alerting", "AWS::SNS::Topic").items()}
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in dev.resources("alerting", "AWS::CloudWatch::Alarm").values()
    }
    both = ["dev-pagerduty-forwarder-health", "dev-slack-forwarder-health"]

    def routed(alarm: dict[str, Any]) -> list[str]:
        assert alarm["AlarmActions"] == alarm["OKActions"]
        return sorted(topics[a["Ref"]] for a in alarm["AlarmActions"])

    for metric in ("Errors", "Throttles", "Url5xxCount"):
        alarm = alarms[f"dev-endpoint-{metric}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
        assert [d["Name"] for d in alarm["Dimensions"]] == ["FunctionName"]
        assert routed(alarm) == both
    for destination in ("pagerduty", "slack"):
        for metric in ("DestinationDeliveryFailures", "AsyncEventsDropped"):
            assert f"dev-forwarder-{destination}-{metric}" not in alarms  # no asynchronous invocation any more
        age = alarms[f"dev-forwarder-{destination}-queue-ApproximateAgeOfOldestMessage"]
        dead = alarms[f"dev-forwarder-{destination}-dead-letter-queue-NotEmpty"]
        for alarm, metric, threshold, queue in (
            (age, "ApproximateAgeOfOldestMessage", 300, f"dev-{destination}-forwarder-queue"),
            (dead, "ApproximateNumberOfMessagesVisible", 0, f"dev-{destination}-forwarder-dlq"),
        ):
            assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/SQS", metric, "Maximum")
            assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (threshold, "GreaterThanThreshold")
            [dimension] = alarm["Dimensions"]
            assert dimension["Name"] == "QueueName"
            assert _queues(dev)[queue]["id"] == dimension["Value"]["Fn::GetAtt"][0]
            # its own health topic, which the *other* forwarder and e-mail read
            assert routed(alarm) == [f"dev-{destination}-forwarder-health"]
    redrive = {n: a for n, a in alarms.items() if a.get("MetricName") == "NumberOfNotificationsFailedToRedriveToDlq"}
    assert sorted(a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in redrive.values()) == sorted(topics)
    for alarm in redrive.values():
        assert (alarm["Namespace"], alarm["Statistic"], alarm["Dimensions"][0]["Name"]) == (
            "AWS/SNS",
            "Sum",
            "TopicName",
        )
        assert routed(alarm) == both
    for name, alarm in alarms.items():
        if name.startswith("dev-dead-alarm"):
            continue  # the dead-alarm audit's own alarms
        assert alarm["TreatMissingData"] == "notBreaching", name
        kind = alarm["AlarmDescription"].rsplit("/", 1)[-1].removesuffix(".md")
        assert (ROOT / "docs" / "runbooks" / f"{kind}.md").is_file(), name


def test_operator_tools_get_their_least_privilege_as_outputs(dev: Synthesized) -> None:
    outputs = dev.template("alerting").find_outputs("*")

    def document(name: str) -> dict[str, Any]:
        parts = outputs[name]["Value"]["Fn::Join"][1]
        text = "".join(p if isinstance(p, str) else json.dumps(json.dumps(p))[1:-1] for p in parts)
        loaded: dict[str, Any] = json.loads(text)
        return loaded

    drill = {s["Sid"]: s for s in document("DrillPolicy")["Statement"]}
    assert drill["SetAlarmStates"]["Action"] == "cloudwatch:SetAlarmState"
    assert drill["SetAlarmStates"]["Resource"].endswith(":cloudwatch:eu-west-1:111111111111:alarm:dev-*")
    assert drill["ReadLedger"]["Action"] == "dynamodb:Query"
    redrive = {s["Sid"]: s for s in document("RedrivePolicy")["Statement"]}
    assert "sqs:ReceiveMessage" in redrive["WorkTheDeadLetterQueue"]["Action"]
    assert redrive["DecryptThroughSqs"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}
    }
    for statement in [*drill.values(), *redrive.values()]:
        assert not any("*" in action for action in _list(statement["Action"]))
