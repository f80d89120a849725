"""The local world, built from the synthesized templates of an environment, never from a hand-kept copy.

`synthesize(env)` runs the CDK app in process (bundling skipped: the functions run from `functions/`, the same
folder `cdk synth` bundles) and returns every stack's template. `build_world(...)` creates what those templates
hold in moto's server, in dependency order, with CloudFormation's `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
`Fn::Select` and `Fn::Split` resolved: KMS keys and aliases, SNS topics with their policies and subscriptions, SQS
queues with their policies, DynamoDB tables, secrets, log groups, IAM roles with their exact policies, CloudWatch
alarms and EventBridge rules. Adding a resource in `infra/` is all it takes for it to exist here.

What moto lacks is stood in, and said (`STOOD_IN`): Lambda functions run as local processes (`tools.lambda_local`)
with their template's handler, environment and role; an event source mapping is recorded for the local pipeline
to poll the queue as Lambda does (SNS delivers to the queues itself, in moto); a Lambda subscription, if any,
becomes an HTTP subscription to the local pipeline, which invokes the function as SNS would; a function URL is the
pipeline's own HTTP server; SQS's redrive (StartMessageMoveTask) is `MessageMoves`.

`iam_enforced()` makes moto enforce IAM as AWS does, for every action *and resource*: moto checks identity
policies against actions only and passes "*" as the resource for most services, so the resource of each request
(table, topic, secret, alarm, key) is worked out here. Every refusal is recorded in `DENIALS`, so a refusal the
code swallows (a warning in a log) still fails a test.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Resource types the world creates in moto, and those it stands in for (and how).
CREATED = (
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::DynamoDB::GlobalTable",
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::Events::Rule",
)
STOOD_IN = {
    "AWS::Lambda::Function": "a local process per function (tools.lambda_local): its handler, environment and "
    "role's credentials from the template; moto cannot run Lambda without Docker",
    "AWS::Lambda::EventInvokeConfig": "the local invoker retries a failed asynchronous invocation as many times "
    "as the template says, then sends Lambda's on-failure record to its destination with the function's role",
    "AWS::Lambda::Permission": "nothing to stand in: the local pipeline invokes the functions itself",
    "AWS::Lambda::Url": "the local pipeline's HTTP server, which invokes the function with a function URL event",
    "AWS::Lambda::EventSourceMapping": "recorded with its properties; the local pipeline polls the queue for the "
    "function as Lambda does (batch size, at most MaximumConcurrency invocations, partial batch answers), with the "
    "function's role",
    "AWS::CloudWatch::CompositeAlarm": "CompositeAlarms: each composite of the templates with its rule, actions and "
    "state (moto has no PutCompositeAlarm); its rule is evaluated over its children's states in moto whenever one "
    "changes through LocalCloudWatch, and a state change publishes CloudWatch's composite notification (AlarmRule, "
    "TriggeringChildren, no Trigger) to its actions",
    "AWS::CDK::Metadata": "not a resource",
    # API calls moto 5.2 does not implement (not resources): `MessageMoves` does what SQS does.
    "sqs:StartMessageMoveTask": "MessageMoves.start: moves every message of a dead-letter queue back to the queue "
    "that names it (or DestinationArn), if its RedriveAllowPolicy allows, with the caller's credentials",
    "sqs:ListMessageMoveTasks": "MessageMoves.list: the tasks MessageMoves.start ran (each completes at once)",
}
# EventBridge rules are created in moto (their patterns are matched by moto's own TestEventPattern), but moto's
# EventBridge cannot deliver to SNS topics or Lambda functions: the local pipeline does (`LocalPipeline.put_event`).
MOTO_EVENT_TARGETS = ("sqs", "logs")


class MessageMoves:
    """SQS's redrive (StartMessageMoveTask, ListMessageMoveTasks), which moto lacks, through `sqs` (a client, so that
    IAM enforcement sees ReceiveMessage and DeleteMessage on the dead-letter queue and SendMessage on the
    destination, as SQS asks of the caller). A task runs to completion before `start` returns."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.tasks: dict[str, list[dict[str, Any]]] = {}

    def start(self, *, SourceArn: str, DestinationArn: str | None = None, **_: Any) -> dict[str, str]:  # noqa: N803
        source_url = self._url(SourceArn)
        attributes = self.sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["All"])["Attributes"]
        destination = DestinationArn or self._source_of(SourceArn)
        allow = json.loads(attributes.get("RedriveAllowPolicy") or '{"redrivePermission": "allowAll"}')
        allowed = allow.get("redrivePermission") == "allowAll" or (
            allow.get("redrivePermission") == "byQueue" and destination in allow.get("sourceQueueArns", [])
        )
        if destination is None or (DestinationArn is None and not allowed):
            raise ValueError(f"{SourceArn}: no source queue may receive its messages back")
        destination_url = self._url(destination)
        moved = 0
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=source_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                extra = {"MessageAttributes": message["MessageAttributes"]} if message.get("MessageAttributes") else {}
                self.sqs.send_message(QueueUrl=destination_url, MessageBody=message["Body"], **extra)
                self.sqs.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
        handle = secrets.token_hex(16)
        self.tasks.setdefault(SourceArn, []).insert(
            0,
            {
                "TaskHandle": handle,
                "Status": "COMPLETED",
                "SourceArn": SourceArn,
                "DestinationArn": destination,
                "ApproximateNumberOfMessagesMoved": moved,
                "ApproximateNumberOfMessagesToMove": moved,
            },
        )
        return {"TaskHandle": handle}

    def list(self, *, SourceArn: str, MaxResults: int = 1) -> dict[str, Any]:  # noqa: N803
        return {"Results": self.tasks.get(SourceArn, [])[:MaxResults]}

    def _url(self, arn: str) -> str:
        account, name = arn.split(":")[4], arn.rsplit(":", 1)[-1]
        return str(self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])

    def _source_of(self, dead_letter_arn: str) -> str | None:
        """The queue whose redrive policy names this dead-letter queue."""
        for url in self.sqs.list_queues().get("QueueUrls", []):
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])
            policy = json.loads(attributes["Attributes"].get("RedrivePolicy") or "{}")
            if policy.get("deadLetterTargetArn") == dead_letter_arn:
                return str(attributes["Attributes"]["QueueArn"])
        return None


# -- composite alarms, stood in ----------------------------------------------------------------------------------

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
_RULE_TOKEN = re.compile(r"\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?P<arg>\"[^\"]*\"|[^)\s]+)\s*\)"
                         r"|(?P<word>AND|OR|NOT|TRUE|FALSE)\b|(?P<paren>[()]))")  # fmt: skip


def evaluate_rule(rule: str, state_of: Callable[[str], str]) -> bool:
    """A composite alarm's `AlarmRule` (ALARM/OK/INSUFFICIENT_DATA of an alarm by name or ARN, TRUE, FALSE, AND,
    OR, NOT, parentheses; NOT binds tightest, then AND, then OR) over `state_of(alarm name)`."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(rule):
        if rule[position:].strip() == "":
            break
        match = _RULE_TOKEN.match(rule, position)
        if match is None:
            raise ValueError(f"cannot read the alarm rule at {rule[position : position + 30]!r}")
        if match.group("fn"):
            name = match.group("arg").strip('"').rsplit(":alarm:", 1)[-1]
            tokens.append(("state", f"{match.group('fn')}|{name}"))
        else:
            tokens.append(("word", match.group("word") or match.group("paren")))
        position = match.end()
    index = 0

    def peek() -> str | None:
        return tokens[index][1] if index < len(tokens) and tokens[index][0] == "word" else None

    def take() -> tuple[str, str]:
        nonlocal index
        if index >= len(tokens):
            raise ValueError(f"the alarm rule ends too soon: {rule!r}")
        index += 1
        return tokens[index - 1]

    def either() -> bool:
        value = both()
        while peek() == "OR":
            take()
            value = both() or value
        return value

    def both() -> bool:
        value = single()
        while peek() == "AND":
            take()
            value = single() and value
        return value

    def single() -> bool:
        kind, text = take()
        if kind == "state":
            wanted, name = text.split("|", 1)
            return state_of(name) == wanted
        if text == "NOT":
            return not single()
        if text == "(":
            value = either()
            if take()[1] != ")":
                raise ValueError(f"unbalanced parentheses in {rule!r}")
            return value
        if text in ("TRUE", "FALSE"):
            return text == "TRUE"
        raise ValueError(f"unexpected {text!r} in the alarm rule {rule!r}")

    result = either()
    if index != len(tokens):
        raise ValueError(f"unexpected {tokens[index][1]!r} in the alarm rule {rule!r}")
    return result


def rule_children(rule: str) -> list[str]:
    """The alarm names a rule reads, in order."""
    return [m.group("arg").strip('"').rsplit(":alarm:", 1)[-1] for m in _RULE_TOKEN.finditer(rule) if m.group("fn")]


@dataclass
class CompositeAlarm:
    """A composite alarm of the templates, with the state CloudWatch would keep."""

    name: str
    arn: str
    rule: str
    description: str | None
    actions_enabled: bool
    alarm_actions: list[str]
    ok_actions: list[str]
    insufficient_data_actions: list[str]
    state: str = "INSUFFICIENT_DATA"
    reason: str = "Unchecked: created"
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    configured: datetime = field(default_factory=lambda: datetime.now(UTC))

    def described(self) -> dict[str, Any]:
        """As `describe_alarms` answers it, in `CompositeAlarms`."""
        return {
            "AlarmName": self.name,
            "AlarmArn": self.arn,
            "AlarmDescription": self.description,
            "AlarmRule": self.rule,
            "ActionsEnabled": self.actions_enabled,
            "AlarmActions": list(self.alarm_actions),
            "OKActions": list(self.ok_actions),
            "InsufficientDataActions": list(self.insufficient_data_actions),
            "StateValue": self.state,
            "StateReason": self.reason,
            "StateUpdatedTimestamp": self.updated,
            "AlarmConfigurationUpdatedTimestamp": self.configured,
        }

    def notification(self, old_state: str, region: str, children: list[dict[str, Any]]) -> dict[str, Any]:
        """The SNS message CloudWatch publishes for a composite alarm's state change (PROTOCOLS.md 1.2: no
        `Trigger`; `AlarmRule` and `TriggeringChildren`)."""

        def stamp(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"

        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "AWSAccountId": self.arn.split(":")[4],
            "AlarmConfigurationUpdatedTimestamp": stamp(self.configured),
            "NewStateValue": self.state,
            "NewStateReason": self.reason,
            "StateChangeTime": stamp(self.updated),
            "Region": region,
            "AlarmArn": self.arn,
            "OldStateValue": old_state,
            "OKActions": list(self.ok_actions),
            "AlarmActions": list(self.alarm_actions),
            "InsufficientDataActions": list(self.insufficient_data_actions),
            "AlarmRule": self.rule,
            "TriggeringChildren": [
                {"Arn": c["AlarmArn"], "State": {"Value": c["StateValue"], "Timestamp": stamp(c["updated"])}}
                for c in children
            ],
        }


class LocalCloudWatch:
    """moto's CloudWatch client, with the composite alarms it lacks: `describe_alarms` answers `CompositeAlarms`
    too, `set_alarm_state` on a composite sets it (as CloudWatch's SetAlarmState does: it stays until a child
    changes), and a metric alarm's change re-evaluates the composites that read it. A composite's transition
    publishes its notification to the actions of its new state through `publish(topic_arn, message, subject)`.
    Everything else goes to moto."""

    def __init__(
        self,
        cloudwatch: Any,
        composites: dict[str, CompositeAlarm],
        publish: Callable[[str, str, str], object],
        region: str,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.composites = composites
        self.publish = publish
        self.region = region
        self.published: list[tuple[str, dict[str, Any]]] = []  # (topic ARN, message), for tests and the drill

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cloudwatch, name)

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        types = kwargs.pop("AlarmTypes", ["MetricAlarm"])
        names = kwargs.get("AlarmNames")
        prefix = kwargs.get("AlarmNamePrefix")
        answer: dict[str, Any] = {"MetricAlarms": [], "CompositeAlarms": []}
        if "MetricAlarm" in types:
            metric_names = [n for n in names if n not in self.composites] if names is not None else None
            if metric_names is None or metric_names:
                inner = {k: v for k, v in kwargs.items() if k != "AlarmNames"}
                if metric_names is not None:
                    inner["AlarmNames"] = metric_names
                answer["MetricAlarms"] = self.cloudwatch.describe_alarms(**inner).get("MetricAlarms", [])
        if "CompositeAlarm" in types:
            answer["CompositeAlarms"] = [
                c.described()
                for c in self.composites.values()
                if (names is None or c.name in names) and (prefix is None or c.name.startswith(prefix))
            ]
        return answer

    def set_alarm_state(self, *, AlarmName: str, StateValue: str, StateReason: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        if StateValue not in STATES:
            raise ValueError(f"{StateValue!r} is not an alarm state")
        composite = self.composites.get(AlarmName)
        if composite is None:
            self.cloudwatch.set_alarm_state(AlarmName=AlarmName, StateValue=StateValue, StateReason=StateReason)
            self.reevaluate(AlarmName)
        else:
            self._change(composite, StateValue, StateReason, children=[])
        return {}

    def reevaluate(self, child: str) -> None:
        """Every composite that reads `child` evaluates its rule again (CloudWatch does on each child's change)."""
        for composite in list(self.composites.values()):
            names = rule_children(composite.rule)
            if child not in names:
                continue
            states = self._states(names)
            values = {name: str(state["StateValue"]) for name, state in states.items()}
            firing = evaluate_rule(composite.rule, values.__getitem__)
            new = "ALARM" if firing else "OK"
            triggering = [states[name] for name in names if states[name]["StateValue"] == new]
            reason = f"{', '.join(t['AlarmName'] for t in triggering) or 'the rule'} made the rule {firing}"
            self._change(composite, new, reason, children=triggering)

    def _states(self, names: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        metric = [n for n in names if n not in self.composites]
        for start in range(0, len(metric), 100):
            for alarm in self.cloudwatch.describe_alarms(AlarmNames=metric[start : start + 100])["MetricAlarms"]:
                found[alarm["AlarmName"]] = {
                    **alarm,
                    "updated": alarm.get("StateUpdatedTimestamp") or datetime.now(UTC),
                }
        for name in names:
            if name in self.composites:
                found[name] = {**self.composites[name].described(), "updated": self.composites[name].updated}
            found.setdefault(name, {"AlarmName": name, "AlarmArn": "", "StateValue": "INSUFFICIENT_DATA",
                                    "updated": datetime.now(UTC)})  # fmt: skip
        return found

    def _change(self, composite: CompositeAlarm, state: str, reason: str, *, children: list[dict[str, Any]]) -> None:
        old = composite.state
        composite.reason = reason
        if old == state:
            return  # CloudWatch notifies transitions only
        composite.state, composite.updated = state, datetime.now(UTC)
        if not composite.actions_enabled:
            return
        actions = {
            "ALARM": composite.alarm_actions,
            "OK": composite.ok_actions,
            "INSUFFICIENT_DATA": composite.insufficient_data_actions,
        }[state]
        message = composite.notification(old, self.region, children)
        for topic_arn in actions:
            self.published.append((topic_arn, message))
            self.publish(topic_arn, json.dumps(message), f'{state}: "{composite.name}"'[:99])
        self.reevaluate(composite.name)  # a composite may read another


def synthesize(env: str) -> dict[str, dict[str, Any]]:
    """Every stack's template of environment `env`, as `cdk synth -c env=NAME` writes them (assets not bundled)."""
    if env not in _SYNTHESIZED:
        os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
        from aws_cdk import App

        from infra.app_builder import build
        from infra.config import load_config

        app = App(context={"aws:cdk:bundling-stacks": []})
        build(app, load_config(env), nag=False)
        assembly = app.synth()
        _SYNTHESIZED[env] = {stack.stack_name: stack.template for stack in assembly.stacks}
    copy: dict[str, dict[str, Any]] = json.loads(json.dumps(_SYNTHESIZED[env]))  # a copy the caller may change
    return copy


_SYNTHESIZED: dict[str, dict[str, dict[str, Any]]] = {}


# -- IAM, enforced as AWS does -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.principal} may not {self.action} on {self.resource}"


DENIALS: list[Denial] = []
_IAM_PREFIX = {"monitoring": "cloudwatch"}  # signing name -> IAM service prefix, where they differ
_LOCK = threading.Lock()


# What AWS asks of the caller's key permissions when a call touches a resource encrypted with a customer managed key
# (moto's services never call KMS): SNS https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, SQS
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html, Secrets
# Manager https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html. (DynamoDB uses the
# key through its own grant: callers need no key permission.)
KEY_USE_FOR = {
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "secretsmanager:GetSecretValue": ("kms:Decrypt",),
}


@contextmanager
def iam_enforced(encrypted: Mapping[str, str] | None = None) -> Iterator[list[Denial]]:
    """While inside, moto refuses every request its credentials' policies do not allow, for the request's action
    on the request's resource, and, for a resource encrypted with a key (`encrypted`: resource ARN -> key ARN), the
    key actions AWS asks of the caller (`KEY_USE_FOR`); refusals are appended to the yielded list (`DENIALS`)."""
    keys = dict(encrypted or {})
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam import access_control

    with _LOCK:
        if float("inf") != settings.INITIAL_NO_AUTH_ACTION_COUNT:
            raise RuntimeError("IAM is already enforced: one local world per process at a time")
        old_count = settings.INITIAL_NO_AUTH_ACTION_COUNT
        old_raise = access_control.IAMRequest._raise_access_denied
        patched = _patch_resources()

        def record_and_raise(self: Any) -> None:
            resource = getattr(self, "_resource_checked", "*")
            DENIALS.append(Denial(self._access_key.arn, self._action, resource))
            from moto.core.exceptions import AccessDeniedError

            raise AccessDeniedError(user_arn=self._access_key.arn, action=f"{self._action} on resource: {resource}")

        old_check = access_control.IAMRequest.check_action_permitted

        def check(self: Any, resource: str) -> None:
            # moto names the action after the endpoint's signing name (`monitoring:`); IAM's prefix is `cloudwatch:`
            service, _, action = str(self._action).partition(":")
            self._action = f"{_IAM_PREFIX.get(service, service)}:{action}"
            items = _transaction_items(self._action, self._body, self._region, str(self._access_key.arn))
            if items is not None:  # DynamoDB authorises a transaction item by item, each as its own action
                for needed, table in items:
                    self._action, self._resource_checked = needed, table
                    old_check(self, table)
                return
            self._resource_checked = resource
            old_check(self, resource)
            key = keys.get(resource)
            if key:
                for needed in KEY_USE_FOR.get(self._action, ()):
                    self._action, self._resource_checked = needed, key
                    old_check(self, key)

        access_control.IAMRequest._raise_access_denied = record_and_raise  # type: ignore[method-assign]
        access_control.IAMRequest.check_action_permitted = check  # type: ignore[method-assign]
        DENIALS.clear()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
    try:
        yield DENIALS
    finally:
        with _LOCK:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = old_count
            access_control.IAMRequest._raise_access_denied = old_raise  # type: ignore[method-assign]
            access_control.IAMRequest.check_action_permitted = old_check  # type: ignore[method-assign]
            for cls, previous in patched:
                if previous is None:
                    delattr(cls, "_determine_resource")
                else:
                    setattr(cls, "_determine_resource", previous)  # noqa: B010


_TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _transaction_items(action: str, body: Any, region: str, caller: str) -> list[tuple[str, str]] | None:
    """For TransactWriteItems / TransactGetItems, (action, table ARN) per item, as IAM authorises them
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html); else None."""
    if action not in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
        return None
    partition, account = caller.split(":")[1], caller.split(":")[4]
    try:
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        found = []
        for item in request["TransactItems"]:
            [(kind, detail)] = item.items()
            table = str(detail["TableName"])
            arn = table if table.startswith("arn:") else f"arn:{partition}:dynamodb:{region}:{account}:table/{table}"
            found.append((_TRANSACTION_ACTIONS[kind], arn))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None  # an unreadable request: checked as moto does
    return found


def _patch_resources() -> list[tuple[type, Any]]:
    """moto passes "*" as the resource for DynamoDB, SNS, Secrets Manager, CloudWatch and KMS: teach it each
    request's resource ARN, as IAM sees it."""
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.kms.responses import KmsResponse
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sns.responses import SNSResponse

    patched: list[tuple[type, Any]] = []
    for cls in (DynamoHandler, SNSResponse, SecretsManagerResponse, CloudWatchResponse, KmsResponse):
        patched.append((cls, cls.__dict__.get("_determine_resource")))
        setattr(cls, "_determine_resource", _resource_of)  # noqa: B010
    return patched


def _resource_of(response: Any) -> str:
    try:
        return _resource(response)
    except Exception:  # noqa: BLE001 - an unknown shape is checked against "*", as moto does by default
        return "*"


def _resource(response: Any) -> str:
    service = response.service_name
    action = response._get_action()
    partition, region, account = response.partition, response.region, response.current_account

    def param(name: str) -> Any:
        value = response._get_param(name)
        if value is None and isinstance(response.body, Mapping):  # DynamoDB keeps its parsed parameters here
            value = response.body.get(name)
        elif value is None and response.body:
            try:
                value = json.loads(response.body).get(name)
            except (TypeError, ValueError, AttributeError):
                value = None
        return value

    if service == "dynamodb":
        table = param("TableName")
        items = param("RequestItems")
        if not table and isinstance(items, Mapping) and items:
            table = next(iter(items))
        if table:
            return (
                str(table)
                if str(table).startswith("arn:")
                else f"arn:{partition}:dynamodb:{region}:{account}:table/{table}"
            )
    if service == "sns":
        arn = param("TopicArn") or param("TargetArn") or param("ResourceArn") or param("SubscriptionArn")
        if arn:
            return str(arn)
    if service == "secretsmanager":
        secret_id = param("SecretId")
        if secret_id:
            from moto.secretsmanager.models import secretsmanager_backends

            found = secretsmanager_backends[account][region].secrets.get(str(secret_id))
            return found.arn if found is not None else str(secret_id)
    alarm_actions = ("SetAlarmState", "PutMetricAlarm", "DescribeAlarmHistory", "PutCompositeAlarm")
    if service in ("cloudwatch", "monitoring") and action in alarm_actions and param("AlarmName"):
        return f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{param('AlarmName')}"
    if service == "kms":
        key = param("KeyId")
        if key:
            if str(key).startswith("arn:"):
                return str(key)
            from moto.kms.models import kms_backends

            return str(kms_backends[account][region].describe_key(str(key)).arn)
    return "*"


# -- templates, resolved -------------------------------------------------------------------------------------------


class Resolver:
    """CloudFormation's intrinsic functions over the physical ids and attributes of what was created."""

    def __init__(self, account: str, region: str, partition: str, stack: str) -> None:
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
            "AWS::NoValue": None,
        }
        self.refs: dict[str, Any] = {}
        self.attrs: dict[tuple[str, str], Any] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(item) for item in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(name, argument)] = value.items()
            if name == "Ref":
                if argument in self.pseudo:
                    return self.pseudo[argument]
                return self.refs[argument]
            if name == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.attrs[(logical, attribute)]
            if name == "Fn::Join":
                separator, parts = argument
                return separator.join(str(p) for p in self(parts))
            if name == "Fn::Select":
                index, items = argument
                return self(items)[int(self(index))]
            if name == "Fn::Split":
                separator, text = argument
                return str(self(text)).split(separator)
            if name == "Fn::Sub":
                return self._sub(argument)
        resolved: dict[str, Any] = {}
        for key, item in value.items():
            result = self(item)
            if result is not None or item is None:  # a Ref to AWS::NoValue removes the property
                resolved[key] = result
        return resolved

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self(argument[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if name in self.pseudo:
                return str(self.pseudo[name])
            if "." in name:
                logical, attribute = name.split(".", 1)
                return str(self.attrs[(logical, attribute)])
            return str(self.refs[name])

        return re.sub(r"\$\{([^}!]+)\}", one, text)


def dependencies(resource: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Ref" in value and isinstance(value["Ref"], str) and not value["Ref"].startswith("AWS::"):
                found.add(value["Ref"])
            if "Fn::GetAtt" in value:
                argument = value["Fn::GetAtt"]
                found.add(argument[0] if isinstance(argument, list) else argument.split(".")[0])
            if "Fn::Sub" in value:
                text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
                found.update(n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text) if "::" not in n)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(resource.get("Properties", {}))
    depends = resource.get("DependsOn", [])
    found.update([depends] if isinstance(depends, str) else depends)
    return found


def in_order(resources: dict[str, dict[str, Any]]) -> list[str]:
    """Logical ids, each after everything it references (CloudFormation's own order)."""
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(logical: str) -> None:
        if state.get(logical) == 2:
            return
        if state.get(logical) == 1:
            raise ValueError(f"circular reference through {logical}")
        state[logical] = 1
        for dependency in sorted(dependencies(resources[logical])):
            if dependency in resources:
                visit(dependency)
        state[logical] = 2
        ordered.append(logical)

    for logical in resources:
        visit(logical)
    return ordered


# -- the world -----------------------------------------------------------------------------------------------------


@dataclass
class FunctionSpec:
    """A Lambda function of the templates, as the local runtime runs it."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    role_name: str
    role_arn: str
    timeout: int
    memory: int
    retry_attempts: int = 2  # Lambda's default for asynchronous invocations
    max_event_age: int = 21600
    on_failure: str | None = None  # a queue ARN
    reserved_concurrency: int | None = None
    url: bool = False


@dataclass
class SubscriptionSpec:
    topic_arn: str
    protocol: str
    endpoint: str
    function: str | None  # the function's name for a Lambda subscription
    dead_letter_arn: str | None


@dataclass
class MappingSpec:
    """An event source mapping of the templates (AWS::Lambda::EventSourceMapping from an SQS queue)."""

    function: str  # the function's name
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window: int  # seconds
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    enabled: bool = True


@dataclass
class RuleSpec:
    arn: str
    state: str
    name: str
    pattern: dict[str, Any] | None
    schedule: str | None
    targets: list[dict[str, Any]]  # as the template gives them: Id, Arn, Input, ...


@dataclass
class World:
    env: str
    account: str
    region: str
    templates: dict[str, dict[str, Any]]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    subscriptions: list[SubscriptionSpec] = field(default_factory=list)
    mappings: list[MappingSpec] = field(default_factory=list)
    topics: dict[str, str] = field(default_factory=dict)  # topic name -> ARN
    queues: dict[str, str] = field(default_factory=dict)  # queue name -> URL
    tables: dict[str, str] = field(default_factory=dict)  # table name -> ARN
    secrets: dict[str, str] = field(default_factory=dict)  # secret name -> ARN
    alarms: list[str] = field(default_factory=list)
    composites: dict[str, CompositeAlarm] = field(default_factory=dict)  # stood in: moto has none
    dashboards: list[str] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    stood_in: dict[str, int] = field(default_factory=dict)
    encrypted: dict[str, str] = field(default_factory=dict)  # resource ARN -> the key ARN it is encrypted with
    permissions: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # function, principal, action,
    # source ARN: the functions' resource policies (AWS::Lambda::Permission)
    unreachable: list[str] = field(default_factory=list)  # invocations AWS would refuse for want of a permission
    operator: dict[str, str] = field(default_factory=dict)  # credentials of an administrator, as environment
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # stack -> output name -> value

    def credentials(self, function: str, clients: Any) -> dict[str, str]:
        """Temporary credentials of the function's own role, as Lambda hands them to the function."""
        spec = self.functions[function]
        answer = clients("sts").assume_role(RoleArn=spec.role_arn, RoleSessionName=spec.name[:64])
        creds = answer["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }


Clients = Callable[[str], Any]


def build_world(
    env: str,
    templates: dict[str, dict[str, Any]],
    clients: Clients,
    *,
    account: str,
    region: str,
    partition: str = "aws",
    secret_values: Mapping[str, str] | None = None,
    subscription_endpoint: Callable[[str], str] = lambda function: f"http://127.0.0.1:9/{function}",
    function_url: str = "http://127.0.0.1:9/",
) -> World:
    """Create every resource of `templates` in moto (reached through `clients(service)`), stacks in order."""
    world = World(env=env, account=account, region=region, templates=templates)
    builder = _Builder(
        world,
        clients=clients,
        partition=partition,
        secret_values=dict(secret_values or {}),
        subscription_endpoint=subscription_endpoint,
        function_url=function_url,
    )
    for stack, template in templates.items():
        builder.stack(stack, template)
    world.unreachable = unreachable(world)
    return world


def unreachable(world: World) -> list[str]:
    """Invocations the templates wire but Lambda would refuse: no permission for SNS (per topic), EventBridge (per
    rule) or the function URL (auth NONE needs `lambda:InvokeFunctionUrl` for everyone)."""

    def allowed(function: str, principal: str, action: str, source: str | None) -> bool:
        return any(
            f == function and p == principal and a == action and (s is None or s == source)
            for f, p, a, s in world.permissions
        )

    missing = [
        f"SNS may not invoke {s.function} from {s.topic_arn}"
        for s in world.subscriptions
        if s.function and not allowed(s.function, "sns.amazonaws.com", "lambda:InvokeFunction", s.topic_arn)
    ]
    for rule in world.rules:
        for target in rule.targets:
            arn = str(target["Arn"])
            if ":lambda:" in arn:
                function = arn.split(":function:", 1)[1].split(":", 1)[0]
                if not allowed(function, "events.amazonaws.com", "lambda:InvokeFunction", rule.arn):
                    missing.append(f"EventBridge may not invoke {function} from rule {rule.name}")
    missing += [
        f"nobody may call the function URL of {name}"
        for name, spec in world.functions.items()
        if spec.url and not allowed(name, "*", "lambda:InvokeFunctionUrl", None)
    ]
    return missing


class _Builder:
    def __init__(
        self,
        world: World,
        *,
        clients: Clients,
        partition: str,
        secret_values: dict[str, str],
        subscription_endpoint: Callable[[str], str],
        function_url: str,
    ) -> None:
        self.world = world
        self.clients = clients
        self.partition = partition
        self.secret_values = secret_values
        self.subscription_endpoint = subscription_endpoint
        self.function_url = function_url
        self.by_arn: dict[str, FunctionSpec] = {}

    def stack(self, name: str, template: dict[str, Any]) -> None:
        resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.r = Resolver(self.world.account, self.world.region, self.partition, name)
        for logical in in_order(resources):
            resource = resources[logical]
            kind = resource["Type"]
            if kind == "AWS::Lambda::Permission":
                p = self.r(resource["Properties"])
                function = self._function(p["FunctionName"]).name
                self.world.permissions.append((function, p["Principal"], p["Action"], p.get("SourceArn")))
            own = {
                "AWS::Lambda::Function",
                "AWS::Lambda::EventInvokeConfig",
                "AWS::Lambda::EventSourceMapping",
                "AWS::CloudWatch::CompositeAlarm",
            }
            if kind in STOOD_IN and kind not in own:
                self.world.stood_in[kind] = self.world.stood_in.get(kind, 0) + 1
                if kind == "AWS::Lambda::Url":
                    self.r.attrs[(logical, "FunctionUrl")] = self.function_url
                    target = self.r(resource["Properties"]["TargetFunctionArn"])
                    self._function(target).url = True
                continue
            create = getattr(self, "_" + kind.replace("::", "_").lower(), None)
            if create is None:
                raise NotImplementedError(f"{name}/{logical}: the local world cannot create {kind} (tools/world.py)")
            create(logical, self.r(resource.get("Properties", {})))
        self.world.outputs[name] = {key: self.r(output["Value"]) for key, output in template.get("Outputs", {}).items()}

    def _function(self, name_or_arn: str) -> FunctionSpec:
        if name_or_arn in self.world.functions:
            return self.world.functions[name_or_arn]
        return self.by_arn[name_or_arn]

    def _encrypted(self, resource: str, key: str | None) -> None:
        if key and not key.startswith("alias/aws/"):  # an AWS managed key needs no permission of the caller
            described = self.clients("kms").describe_key(KeyId=key)["KeyMetadata"]
            self.world.encrypted[resource] = described["Arn"]

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.world.region}:{self.world.account}:{resource}"

    # One method per resource type: `_aws_<service>_<type>`.

    def _aws_kms_key(self, logical: str, p: dict[str, Any]) -> None:
        kwargs = {"Policy": json.dumps(p["KeyPolicy"])} if "KeyPolicy" in p else {}
        meta = self.clients("kms").create_key(Description=p.get("Description", ""), **kwargs)["KeyMetadata"]
        self.r.refs[logical] = meta["KeyId"]
        self.r.attrs[(logical, "Arn")] = meta["Arn"]
        self.r.attrs[(logical, "KeyId")] = meta["KeyId"]

    def _aws_kms_alias(self, logical: str, p: dict[str, Any]) -> None:
        self.clients("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
        self.r.refs[logical] = p["AliasName"]

    def _aws_sns_topic(self, logical: str, p: dict[str, Any]) -> None:
        attributes = {k: str(p[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in p}
        arn = self.clients("sns").create_topic(Name=p["TopicName"], Attributes=attributes)["TopicArn"]
        self.world.topics[p["TopicName"]] = arn
        self._encrypted(arn, p.get("KmsMasterKeyId"))
        self.r.refs[logical] = arn
        self.r.attrs[(logical, "TopicArn")] = arn
        self.r.attrs[(logical, "TopicName")] = p["TopicName"]

    def _aws_sns_topicpolicy(self, logical: str, p: dict[str, Any]) -> None:
        for topic in p["Topics"]:
            self.clients("sns").set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"])
            )
        self.r.refs[logical] = logical

    def _aws_sns_subscription(self, logical: str, p: dict[str, Any]) -> None:
        protocol, endpoint = p["Protocol"], p["Endpoint"]
        function = self._function(endpoint).name if protocol == "lambda" else None
        dead_letter = (p.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        self.world.subscriptions.append(SubscriptionSpec(p["TopicArn"], protocol, endpoint, function, dead_letter))
        unknown = set(p) - {"TopicArn", "Protocol", "Endpoint", "RedrivePolicy", "FilterPolicy", "FilterPolicyScope",
                            "RawMessageDelivery", "Region"}  # fmt: skip
        if unknown:
            raise NotImplementedError(f"{logical}: the local world does not know {sorted(unknown)} of a subscription")
        attributes: dict[str, str] = {k: json.dumps(p[k]) for k in ("RedrivePolicy", "FilterPolicy") if k in p}
        if "FilterPolicyScope" in p:
            attributes["FilterPolicyScope"] = str(p["FilterPolicyScope"])
        if str(p.get("RawMessageDelivery", "false")).lower() == "true":  # moto reads any value given as true
            attributes["RawMessageDelivery"] = "true"
        if function is not None:  # SNS invokes the function: here, through the local pipeline over HTTP
            protocol, endpoint = "http", self.subscription_endpoint(function)
        answer = self.clients("sns").subscribe(
            TopicArn=p["TopicArn"], Protocol=protocol, Endpoint=endpoint, Attributes=attributes
        )
        self.r.refs[logical] = answer.get("SubscriptionArn", logical)

    def _aws_sqs_queue(self, logical: str, p: dict[str, Any]) -> None:
        names = (  # CloudFormation names these properties as the SQS API names the attributes
            "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "MessageRetentionPeriod", "VisibilityTimeout",
            "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
        )  # fmt: skip
        attributes = {name: str(p[name]) for name in names if name in p}
        if "RedrivePolicy" in p:
            attributes["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
        name = p.get("QueueName") or f"{self.world.env}-{logical}"
        url = self.clients("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.world.queues[name] = url
        self._encrypted(self._arn("sqs", name), p.get("KmsMasterKeyId"))
        self.r.refs[logical] = url
        self.r.attrs[(logical, "Arn")] = self._arn("sqs", name)
        self.r.attrs[(logical, "QueueName")] = name
        self.r.attrs[(logical, "QueueUrl")] = url

    def _aws_sqs_queuepolicy(self, logical: str, p: dict[str, Any]) -> None:
        for url in p["Queues"]:
            self.clients("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
            )
        self.r.refs[logical] = logical

    def _aws_dynamodb_globaltable(self, logical: str, p: dict[str, Any]) -> None:
        self._aws_dynamodb_table(logical, p)

    def _aws_dynamodb_table(self, logical: str, p: dict[str, Any]) -> None:
        name = p["TableName"]
        self.clients("dynamodb").create_table(
            TableName=name,
            KeySchema=p["KeySchema"],
            AttributeDefinitions=p["AttributeDefinitions"],
            BillingMode=p.get("BillingMode", "PAY_PER_REQUEST"),
            **({"GlobalSecondaryIndexes": p["GlobalSecondaryIndexes"]} if p.get("GlobalSecondaryIndexes") else {}),
        )
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.clients("dynamodb").update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
        arn = self._arn("dynamodb", f"table/{name}")
        self.world.tables[name] = arn
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = arn

    def _aws_secretsmanager_secret(self, logical: str, p: dict[str, Any]) -> None:
        name = p["Name"]
        value = self.secret_values.get(name) or p.get("SecretString")
        if value is None:
            generate = p.get("GenerateSecretString", {})
            template = json.loads(generate.get("SecretStringTemplate") or "{}")
            if generate.get("GenerateStringKey"):
                template[generate["GenerateStringKey"]] = secrets.token_urlsafe(generate.get("PasswordLength", 32))
            value = json.dumps(template)
        kwargs = {"KmsKeyId": p["KmsKeyId"]} if p.get("KmsKeyId") else {}
        arn = self.clients("secretsmanager").create_secret(Name=name, SecretString=value, **kwargs)["ARN"]
        self.world.secrets[name] = arn
        self._encrypted(arn, p.get("KmsKeyId"))
        self.r.refs[logical] = arn
        self.r.attrs[(logical, "Id")] = arn

    def _aws_logs_loggroup(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("LogGroupName") or f"/local/{logical}"
        self.clients("logs").create_log_group(logGroupName=name)
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = self._arn("logs", f"log-group:{name}:*")

    def _aws_iam_role(self, logical: str, p: dict[str, Any]) -> None:
        iam = self.clients("iam")
        name = p.get("RoleName") or f"{self.world.env}-{logical}"[:64]
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
            Description=p.get("Description", ""),
            MaxSessionDuration=int(p.get("MaxSessionDuration", 3600)),
        )["Role"]
        for policy in p.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        for arn in p.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = role["Arn"]
        self.r.attrs[(logical, "RoleId")] = role["RoleId"]

    def _aws_iam_policy(self, logical: str, p: dict[str, Any]) -> None:
        for role in p.get("Roles", []):
            self.clients("iam").put_role_policy(
                RoleName=role, PolicyName=p["PolicyName"], PolicyDocument=json.dumps(p["PolicyDocument"])
            )
        self.r.refs[logical] = logical

    def _aws_iam_managedpolicy(self, logical: str, p: dict[str, Any]) -> None:
        iam = self.clients("iam")
        name = p.get("ManagedPolicyName") or f"{self.world.env}-{logical}"[:128]
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(p["PolicyDocument"]))["Policy"]["Arn"]
        for role in p.get("Roles", []):
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        self.r.refs[logical] = arn

    def _aws_lambda_function(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("FunctionName") or f"{self.world.env}-{logical}"[:64]
        arn = self._arn("lambda", f"function:{name}")
        role_arn = p["Role"]
        spec = FunctionSpec(
            logical_id=logical,
            name=name,
            arn=arn,
            handler=p["Handler"],
            environment={k: str(v) for k, v in (p.get("Environment") or {}).get("Variables", {}).items()},
            role_name=role_arn.rsplit("/", 1)[-1],
            role_arn=role_arn,
            timeout=int(p.get("Timeout", 3)),
            memory=int(p.get("MemorySize", 128)),
            reserved_concurrency=int(p["ReservedConcurrentExecutions"])
            if "ReservedConcurrentExecutions" in p
            else None,
        )
        self.world.functions[name] = spec
        self.by_arn[arn] = spec
        self.world.stood_in["AWS::Lambda::Function"] = self.world.stood_in.get("AWS::Lambda::Function", 0) + 1
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = arn

    def _aws_lambda_eventinvokeconfig(self, logical: str, p: dict[str, Any]) -> None:
        spec = self._function(p["FunctionName"])
        spec.retry_attempts = int(p.get("MaximumRetryAttempts", spec.retry_attempts))
        spec.max_event_age = int(p.get("MaximumEventAgeInSeconds", spec.max_event_age))
        spec.on_failure = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        kind = "AWS::Lambda::EventInvokeConfig"
        self.world.stood_in[kind] = self.world.stood_in.get(kind, 0) + 1
        self.r.refs[logical] = logical

    def _aws_lambda_eventsourcemapping(self, logical: str, p: dict[str, Any]) -> None:
        known = {"FunctionName", "EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds", "ScalingConfig",
                 "FunctionResponseTypes", "Enabled", "Tags"}  # fmt: skip
        unknown = set(p) - known
        source = str(p["EventSourceArn"])
        if unknown or ":sqs:" not in source:
            raise NotImplementedError(f"{logical}: the local world polls SQS queues only, without {sorted(unknown)}")
        queue_name = source.rsplit(":", 1)[-1]
        self.world.mappings.append(
            MappingSpec(
                function=self._function(p["FunctionName"]).name,
                queue_arn=source,
                queue_url=self.world.queues[queue_name],
                batch_size=int(p.get("BatchSize", 10)),  # Lambda's default for SQS
                batching_window=int(p.get("MaximumBatchingWindowInSeconds", 0)),
                maximum_concurrency=int(p["ScalingConfig"]["MaximumConcurrency"])
                if "MaximumConcurrency" in (p.get("ScalingConfig") or {})
                else None,
                report_batch_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                enabled=str(p.get("Enabled", True)).lower() != "false",
            )
        )
        kind = "AWS::Lambda::EventSourceMapping"
        self.world.stood_in[kind] = self.world.stood_in.get(kind, 0) + 1
        self.r.refs[logical] = logical

    def _aws_cloudwatch_alarm(self, logical: str, p: dict[str, Any]) -> None:
        keys = (
            "AlarmName", "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "InsufficientDataActions",
            "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
            "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
            "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId",
        )  # fmt: skip
        kwargs = {k: p[k] for k in keys if k in p}
        name = kwargs.setdefault("AlarmName", f"{self.world.env}-{logical}")
        for number in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if number in kwargs:
                kwargs[number] = int(kwargs[number])
        if "Threshold" in kwargs:
            kwargs["Threshold"] = float(kwargs["Threshold"])
        cloudwatch = self.clients("cloudwatch")
        cloudwatch.put_metric_alarm(**kwargs)
        # A new alarm starts in INSUFFICIENT_DATA until its first evaluation, without a notification.
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="Unchecked: created")
        self.world.alarms.append(name)
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = self._arn("cloudwatch", f"alarm:{name}")

    def _aws_cloudwatch_compositealarm(self, logical: str, p: dict[str, Any]) -> None:
        known = {"AlarmName", "AlarmRule", "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions",
                 "InsufficientDataActions", "Tags"}  # fmt: skip
        unknown = set(p) - known
        if unknown:  # e.g. an actions suppressor: the stand-in would notify where CloudWatch would not
            raise NotImplementedError(f"{logical}: the local world does not know {sorted(unknown)} of a composite")
        name = p.get("AlarmName") or f"{self.world.env}-{logical}"
        for child in rule_children(p["AlarmRule"]):
            if child not in self.world.alarms and child not in self.world.composites:
                raise ValueError(f"{logical}: its rule reads {child!r}, which no template creates before it")
        arn = self._arn("cloudwatch", f"alarm:{name}")
        self.world.composites[name] = CompositeAlarm(
            name=name,
            arn=arn,
            rule=p["AlarmRule"],
            description=p.get("AlarmDescription"),
            actions_enabled=str(p.get("ActionsEnabled", True)).lower() != "false",
            alarm_actions=list(p.get("AlarmActions", [])),
            ok_actions=list(p.get("OKActions", [])),
            insufficient_data_actions=list(p.get("InsufficientDataActions", [])),
        )
        kind = "AWS::CloudWatch::CompositeAlarm"
        self.world.stood_in[kind] = self.world.stood_in.get(kind, 0) + 1
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = arn

    def _aws_cloudwatch_dashboard(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("DashboardName") or f"{self.world.env}-{logical}"
        self.clients("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=p["DashboardBody"])
        self.world.dashboards.append(name)
        self.r.refs[logical] = name

    def _aws_events_rule(self, logical: str, p: dict[str, Any]) -> None:
        known_target = ("Id", "Arn", "Input", "RetryPolicy", "DeadLetterConfig")
        unknown = set(p) - {"Name", "Description", "State", "EventPattern", "ScheduleExpression", "Targets", "Tags"}
        unknown |= {f"Targets.{k}" for t in p.get("Targets", []) for k in t if k not in known_target}
        if unknown:
            raise NotImplementedError(f"{logical}: the local world does not know {sorted(unknown)} of a rule")
        events = self.clients("events")
        name = p.get("Name") or f"{self.world.env}-{logical}"[:64]
        kwargs: dict[str, Any] = {"Name": name, "State": p.get("State", "ENABLED")}
        if "EventPattern" in p:
            kwargs["EventPattern"] = json.dumps(p["EventPattern"])
        if "ScheduleExpression" in p:
            kwargs["ScheduleExpression"] = p["ScheduleExpression"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = p.get("Targets", [])
        delivered_by_moto = [t for t in targets if t["Arn"].split(":")[2] in MOTO_EVENT_TARGETS]
        if delivered_by_moto:
            events.put_targets(
                Rule=name,
                Targets=[
                    {k: v for k, v in t.items() if k in ("Id", "Arn", "Input", "InputPath")} for t in delivered_by_moto
                ],
            )
        self.world.rules.append(
            RuleSpec(arn, kwargs["State"], name, p.get("EventPattern"), p.get("ScheduleExpression"), list(targets))
        )
        self.r.refs[logical] = name
        self.r.attrs[(logical, "Arn")] = arn
