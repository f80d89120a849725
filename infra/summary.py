"""What a deploy creates and about what it costs, per environment, read from the synthesized cloud assembly.

`make synth` ends with it (`python -m infra.summary cdk.out --env NAME`): the stacks, the alarms by service and kind,
the topics and who reads them, the secrets to fill in (with the command), and an estimated monthly cost from the
one price table (`infra/pricing.py`). Everything is counted in the templates, so it is what really deploys
(overrides applied, disabled alarms gone, composite and metric-math alarms included), not what the config suggests.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import __version__, pricing

Template = Mapping[str, Any]


@dataclass(frozen=True)
class Stack:
    name: str
    resources: int
    account: str | None
    region: str | None


@dataclass(frozen=True)
class Topic:
    name: str
    destinations: tuple[str, ...]  # "pagerduty alerting/prod/pagerduty", "e-mail ops@example.com", …
    alarms: int  # this project's alarms that notify it


@dataclass(frozen=True)
class Secret:
    name: str
    value: str  # the shape of the value to put in


@dataclass(frozen=True)
class Endpoint:
    """A public function URL: the function behind it, its concurrency cap, the stack output that gives its URL."""

    function: str
    reserved_concurrency: int | None
    output: str | None


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: str
    usd: float


@dataclass
class Summary:
    env: str
    stacks: list[Stack] = field(default_factory=list)
    alarms: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # service -> kind -> n
    standard_alarm_metrics: int = 0
    high_resolution_alarm_metrics: int = 0
    composite_alarms: int = 0
    topics: list[Topic] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    kms_keys: int = 0
    dashboards: int = 0
    on_demand_tables: int = 0
    queues_polled: int = 0  # SQS queues read by an event source mapping
    forwarders: int = 0  # functions that deliver (they carry ROUTES)
    other_functions: int = 0
    forwarder_memory_gb: float = 0.5
    email_subscriptions: int = 0
    endpoints: list[Endpoint] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    polled_queues: list[str] = field(default_factory=list)  # "<queue> -> <function> (dead-letter queue after N)"
    slack_app_routes: int = 0  # Slack app routes (SLACK_APPS of the Slack forwarder): a thread per alert

    @property
    def account(self) -> str | None:
        return next((s.account for s in self.stacks if s.account), None)

    @property
    def region(self) -> str | None:
        return next((s.region for s in self.stacks if s.region), None)

    @property
    def alarm_count(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.alarms.values())


def environments(assembly: Path) -> dict[str, list[tuple[Stack, Template]]]:
    """The assembly's stacks by environment: `<env>-alerting` names an environment, `<env>-…` belongs to it."""
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    stacks: list[tuple[Stack, Template]] = []
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template = json.loads((assembly / artifact["properties"]["templateFile"]).read_text(encoding="utf-8"))
        account, region = _environment(artifact.get("environment", ""))
        stacks.append((Stack(name, len(template.get("Resources", {})), account, region), template))
    names = sorted((s.name.removesuffix("-alerting") for s, _ in stacks if s.name.endswith("-alerting")), key=len)
    grouped: dict[str, list[tuple[Stack, Template]]] = {}
    for stack, template in stacks:
        env = next((n for n in reversed(names) if stack.name.startswith(f"{n}-")), None)
        if env is not None:
            grouped.setdefault(env, []).append((stack, template))
    return grouped


# What a secret holds, by the environment variable of the function that reads it (the on-call secrets).
SECRET_SHAPES = {
    "SLACK_SIGNING_SECRET": '{"signing_secret": "<Slack app: Basic Information, Signing Secret>"}',
    "PAGERDUTY_WEBHOOK_SECRET": '{"secrets": ["<the webhook subscription\'s signing secret>"]}',
    "PAGERDUTY_REST_SECRET": '{"api_token": "<a read-only PagerDuty REST API key>"}',
    "ALERTMANAGER_SECRET": '{"bearer_token": "…"} or {"basic_auth": {"username": "…", "password": "…"}} or '
    '{"sigv4": {"region": "…"}} (and "url" unless oncall.alertmanager_url is set)',
}
SLACK_APP_SHAPE = '{"bot_token": "xoxb-…", "channel": "C…"}  (a Slack app route: the channel\'s id, not its name)'


def summarize(env: str, stacks: list[tuple[Stack, Template]]) -> Summary:
    summary = Summary(env=env, stacks=[s for s, _ in stacks])
    topic_names: dict[str, str] = {}  # logical id -> TopicName, in the alerting stack
    for _, template in stacks:
        for logical_id, resource in _resources(template, "AWS::SNS::Topic"):
            name = resource.get("Properties", {}).get("TopicName")
            if isinstance(name, str):
                topic_names[logical_id] = name
    notified: Counter[str] = Counter()
    for stack, template in stacks:
        for _, resource in _resources(template, "AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            props = resource.get("Properties", {})
            name = str(props.get("AlarmName", "?"))
            service = "pipeline" if stack.name == f"{env}-alerting" else name.removeprefix(f"{env}-").split("-")[0]
            summary.alarms[service][_kind(props)] += 1
            if resource["Type"] == "AWS::CloudWatch::CompositeAlarm":
                summary.composite_alarms += 1
            else:
                for period in _periods(props):
                    if period < 60:
                        summary.high_resolution_alarm_metrics += 1
                    else:
                        summary.standard_alarm_metrics += 1
            for action in {_topic_of(a, topic_names) for a in props.get("AlarmActions", [])} - {None}:
                notified[str(action)] += 1
    for _, template in stacks:
        _read_stack(summary, template, topic_names, notified)
    return summary


def _read_stack(summary: Summary, template: Template, topic_names: dict[str, str], notified: Counter[str]) -> None:
    resources: Mapping[str, Any] = template.get("Resources", {})
    functions = dict(_resources(template, "AWS::Lambda::Function"))
    local_topics = {logical_id: name for logical_id, name in topic_names.items() if logical_id in resources}
    mappings = {  # queue logical id -> function logical id
        _ref(r["Properties"].get("EventSourceArn")): _ref(r["Properties"].get("FunctionName"))
        for _, r in _resources(template, "AWS::Lambda::EventSourceMapping")
    }
    summary.queues_polled += sum(1 for q in mappings if q in resources)
    named_secrets: dict[str, str] = {}  # secret name -> its shape, from the variable a function names it in
    routes: dict[str, tuple[str, dict[str, Any]]] = {}  # function logical id -> (destination, ROUTES)
    for logical_id, function in functions.items():
        props = function.get("Properties", {})
        variables = props.get("Environment", {}).get("Variables", {})
        for variable, shape in SECRET_SHAPES.items():
            if isinstance(variables.get(variable), str):
                named_secrets[variables[variable]] = shape
        if isinstance(variables.get("SLACK_APPS"), str):
            apps = json.loads(variables["SLACK_APPS"])
            named_secrets.update(dict.fromkeys(apps, SLACK_APP_SHAPE))
            if isinstance(variables.get("ROUTES"), str):  # the Slack forwarder's own: its routes post there
                summary.slack_app_routes += len(apps)
        raw = variables.get("ROUTES")
        if isinstance(raw, str):
            name = str(props.get("FunctionName", logical_id))
            destination = name.removeprefix(f"{summary.env}-").removesuffix("-forwarder")
            routes[logical_id] = (destination, json.loads(raw))
            summary.forwarders += 1
            summary.forwarder_memory_gb = float(props.get("MemorySize", 128)) / 1024
        else:
            summary.other_functions += 1
    destinations: dict[str, list[str]] = defaultdict(list)
    secret_destination: dict[str, str] = {}
    for _, subscription in _resources(template, "AWS::SNS::Subscription"):
        props = subscription["Properties"]
        topic = local_topics.get(_ref(props.get("TopicArn")) or "")
        if topic is None:
            continue
        protocol = props.get("Protocol")
        if protocol == "email":
            destinations[topic].append(f"e-mail {props.get('Endpoint')} (confirm the subscription)")
            summary.email_subscriptions += 1
        elif protocol == "sqs":
            function = mappings.get(_ref(props.get("Endpoint")))
            if function in routes:
                destination, table = routes[function]
                for secret in table.get(topic, {}).get("secrets", []):
                    destinations[topic].append(f"{destination} {secret}")
                    secret_destination[secret] = destination
            else:
                destinations[topic].append("an SQS queue no forwarder reads")
        else:
            destinations[topic].append(f"{protocol} {props.get('Endpoint')}")
    for topic in sorted(set(local_topics.values())):
        summary.topics.append(Topic(topic, tuple(destinations.get(topic, ())), notified.get(topic, 0)))
    _read_endpoints(summary, template, functions)
    summary.kms_keys += sum(1 for _ in _resources(template, "AWS::KMS::Key"))
    summary.dashboards += sum(1 for _ in _resources(template, "AWS::CloudWatch::Dashboard"))
    for kind in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
        summary.on_demand_tables += sum(
            1 for _, r in _resources(template, kind) if r["Properties"].get("BillingMode") == "PAY_PER_REQUEST"
        )
    for _, secret in _resources(template, "AWS::SecretsManager::Secret"):
        props = secret["Properties"]
        name = str(props.get("Name", "?"))
        shape = str(props.get("GenerateSecretString", {}).get("SecretStringTemplate", ""))
        if name in named_secrets:
            value = named_secrets[name]
        elif secret_destination.get(name) == "pagerduty":
            value = '{"routing_key": "<32-character integration key>"}'
        elif secret_destination.get(name) == "slack":
            value = '{"webhook_url": "https://hooks.slack.com/services/..."}'
        elif "bearer_tokens" in shape:
            value = '{"bearer_tokens": ["<openssl rand -hex 32>"], "hmac_keys": []}  (when Alertmanager posts here)'
        else:
            value = shape or "(see the secret's description)"
        summary.secrets.append(Secret(name, value))


def _read_endpoints(summary: Summary, template: Template, functions: Mapping[str, Any]) -> None:
    """The function URLs (and the outputs that give them), the tables, and the queues functions read."""
    outputs = {
        _ref(_url_of(output.get("Value"))): name
        for name, output in template.get("Outputs", {}).items()
        if _url_of(output.get("Value")) is not None
    }
    for logical_id, url in _resources(template, "AWS::Lambda::Url"):
        function = functions.get(_ref(url["Properties"].get("TargetFunctionArn")) or "", {}).get("Properties", {})
        reserved = function.get("ReservedConcurrentExecutions")
        summary.endpoints.append(
            Endpoint(
                str(function.get("FunctionName", "?")), int(reserved) if reserved else None, outputs.get(logical_id)
            )
        )
    for kind in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
        summary.tables += [str(r["Properties"].get("TableName", logical)) for logical, r in _resources(template, kind)]
    queues = dict(_resources(template, "AWS::SQS::Queue"))
    for _, mapping in _resources(template, "AWS::Lambda::EventSourceMapping"):
        queue = queues.get(_ref(mapping["Properties"].get("EventSourceArn")) or "")
        function = functions.get(_ref(mapping["Properties"].get("FunctionName")) or "")
        if queue is None or function is None:
            continue
        props = queue["Properties"]
        redrive = props.get("RedrivePolicy") or {}
        dead = queues.get(_ref(redrive.get("deadLetterTargetArn")) or "", {}).get("Properties", {}).get("QueueName")
        after = f" (dead-letter queue {dead} after {redrive.get('maxReceiveCount')} tries)" if dead else ""
        summary.polled_queues.append(f"{props.get('QueueName')} -> {function['Properties'].get('FunctionName')}{after}")


def _url_of(value: Any) -> Any:
    """The function URL resource an output's value reads (`Fn::GetAtt [<url>, FunctionUrl]`, maybe joined)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return next((p for p in value["Fn::Join"][1] if _url_of(p) is not None), None)
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "FunctionUrl":
        return value
    return None


def estimate(summary: Summary, alerts_per_month: int = pricing.ALERTS_PER_MONTH) -> list[CostLine]:
    """The monthly cost lines, from the price table and the stated alert volume."""
    p, per = pricing.PRICES, pricing.PER_ALERT
    deliveries = alerts_per_month * max(summary.forwarders, 1)  # each alert reaches up to every forwarder
    gb_seconds = deliveries * per.lambda_seconds * summary.forwarder_memory_gb
    metrics = (
        summary.forwarders * pricing.CUSTOM_METRICS_PER_FORWARDER
        + summary.other_functions * pricing.CUSTOM_METRICS_PER_OTHER_FUNCTION
    )
    sqs = summary.queues_polled * pricing.IDLE_SQS_REQUESTS_PER_QUEUE_MONTH + deliveries * per.sqs_requests
    lines = [
        CostLine("CloudWatch alarms, standard", f"{summary.standard_alarm_metrics} alarm metrics",
                 p["alarm_standard"].cost(summary.standard_alarm_metrics)),
        CostLine("CloudWatch alarms, high resolution", f"{summary.high_resolution_alarm_metrics} alarm metrics",
                 p["alarm_high_resolution"].cost(summary.high_resolution_alarm_metrics)),
        CostLine("CloudWatch composite alarms", f"{summary.composite_alarms}",
                 p["alarm_composite"].cost(summary.composite_alarms)),
        CostLine("CloudWatch dashboards", f"{summary.dashboards}", p["dashboard"].cost(summary.dashboards)),
        CostLine("CloudWatch custom metrics (EMF), about", f"{metrics} metrics", p["custom_metric"].cost(metrics)),
        CostLine("KMS keys and requests", f"{summary.kms_keys} keys",
                 p["kms_key"].cost(summary.kms_keys) + p["kms_request"].cost(deliveries * per.kms_requests)),
        CostLine("Secrets Manager", f"{len(summary.secrets)} secrets",
                 p["secret"].cost(len(summary.secrets)) + p["secret_api_call"].cost(deliveries * per.secret_api_calls)),
        CostLine("DynamoDB on demand", f"{summary.on_demand_tables} tables",
                 p["dynamodb_write"].cost(deliveries * per.dynamodb_writes)
                 + p["dynamodb_read"].cost(deliveries * per.dynamodb_reads)),
        CostLine("SQS (idle polling included)", f"{sqs / 1e6:.2f} M requests", p["sqs_request"].cost(sqs)),
        CostLine("SNS", f"{alerts_per_month} publishes",
                 p["sns_publish"].cost(alerts_per_month)
                 + p["sns_email"].cost(alerts_per_month * min(summary.email_subscriptions, 1))),
        CostLine("Lambda", f"{deliveries} invocations",
                 p["lambda_request"].cost(deliveries) + p["lambda_gb_second_arm64"].cost(gb_seconds)),
        CostLine("CloudWatch Logs", f"{deliveries * per.log_bytes / 1e9:.2f} GB",
                 p["logs_ingestion"].cost(deliveries * per.log_bytes / 1e9)),
    ]  # fmt: skip
    if summary.slack_app_routes:
        threaded = alerts_per_month * summary.slack_app_routes  # at most: each alert reaching every app route
        thread = pricing.PER_THREAD
        lines.append(
            CostLine("Slack app threads (thread table, graphs)", f"{threaded} threads",
                     p["dynamodb_write"].cost(threaded * thread.dynamodb_writes)
                     + p["dynamodb_read"].cost(threaded * thread.dynamodb_reads)
                     + p["metric_widget_image"].cost(threaded * thread.graph_metrics))
        )  # fmt: skip
    return lines


def render(summary: Summary, costs: list[CostLine], alerts_per_month: int = pricing.ALERTS_PER_MONTH) -> str:
    where = ", ".join(x for x in (summary.account and f"account {summary.account}", summary.region) if x)
    release = f"alert-forwarding-for-aws {__version__}"
    out = [f"== {summary.env} ({where}; {release})" if where else f"== {summary.env} ({release})"]
    out.append(f"stacks ({len(summary.stacks)}): " + ", ".join(f"{s.name} ({s.resources})" for s in summary.stacks))
    out.append(
        f"alarms ({summary.alarm_count}: {summary.standard_alarm_metrics} standard and "
        f"{summary.high_resolution_alarm_metrics} high-resolution alarm metrics, {summary.composite_alarms} composite):"
    )
    for service in sorted(summary.alarms):
        kinds = summary.alarms[service]
        listed = ", ".join(f"{kind.removeprefix(service + '-')} {count}" for kind, count in sorted(kinds.items()))
        out.append(f"  {service:<12} {sum(kinds.values()):>5}  {listed}")
    out.append("topics (alarms that notify it -> who reads it):")
    width = max((len(t.name) for t in summary.topics), default=0)
    for topic in summary.topics:
        readers = ", ".join(topic.destinations) or "NOBODY: alerts published here reach no one"
        out.append(f"  {topic.name:<{width}} {topic.alarms:>5} -> {readers}")
    if summary.endpoints:
        out.append("public endpoints (function URLs; the stack output gives each URL):")
        width = max(len(e.function) for e in summary.endpoints)
        for endpoint in summary.endpoints:
            cap = f"at most {endpoint.reserved_concurrency} at once" if endpoint.reserved_concurrency else "no cap"
            out.append(f"  {endpoint.function:<{width}}  {cap}, output {endpoint.output or '-'}")
    if summary.polled_queues:
        out.append("queues read by functions:")
        out.extend(f"  {line}" for line in summary.polled_queues)
    if summary.tables:
        out.append(f"tables ({len(summary.tables)}, on demand): " + ", ".join(summary.tables))
    if summary.secrets:
        region = f" --region {summary.region}" if summary.region else ""
        out.append(f"secrets to fill in (aws secretsmanager put-secret-value --secret-id NAME --secret-string VALUE"
                   f"{region}):")  # fmt: skip
        width = max(len(s.name) for s in summary.secrets)
        out.extend(f"  {s.name:<{width}}  {s.value}" for s in summary.secrets)
    total = sum(line.usd for line in costs)
    out.append(
        f"estimated monthly cost: ${total:,.2f} (an ESTIMATE: {pricing.REGION} list prices of "
        f"{pricing.PRICES_AS_OF}, before free tiers, at {alerts_per_month:,} alerts a month; infra/pricing.py)"
    )
    width = max(len(line.item) for line in costs)
    out.extend(f"  {line.item:<{width}}  {line.quantity:>24}  ${line.usd:>9,.2f}" for line in costs)
    return "\n".join(out)


def _environment(value: str) -> tuple[str | None, str | None]:
    parts = value.removeprefix("aws://").split("/")
    if len(parts) != 2:
        return None, None
    return (parts[0] if parts[0].isdigit() else None), (parts[1] if not parts[1].startswith("unknown") else None)


def _resources(template: Template, *kinds: str) -> Iterator[tuple[str, Any]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") in kinds:
            yield logical_id, resource


def _kind(props: Mapping[str, Any]) -> str:
    """The runbook the description links (`runbook: …/<kind>.md`), else the metric's name."""
    description = props.get("AlarmDescription")
    if isinstance(description, str) and (found := re.search(r"runbook: \S*?([^/\s]+)\.md", description)):
        return found.group(1)
    return str(props.get("MetricName") or "composite")


def _periods(props: Mapping[str, Any]) -> list[int]:
    """One period per metric the alarm reads (a metric-math alarm pays for each)."""
    if "Metrics" in props:
        return [int(q["MetricStat"].get("Period", 60)) for q in props["Metrics"] if "MetricStat" in q]
    return [int(props.get("Period", 60))]


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])
    return None


def _topic_of(action: Any, topic_names: Mapping[str, str]) -> str | None:
    """The topic an alarm action names: a Ref to a topic of the template, or an ARN (literal or joined)."""
    ref = _ref(action)
    if ref is not None:
        return topic_names.get(ref)
    if isinstance(action, dict) and "Fn::Join" in action:
        parts = action["Fn::Join"][1]
        action = parts[-1] if parts and isinstance(parts[-1], str) else None
    if isinstance(action, str) and action.startswith("arn:") and ":sns:" in action:
        return action.rsplit(":", 1)[-1]
    if isinstance(action, str) and ":sns:" in action:
        return action.rsplit(":", 1)[-1]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.summary",
        description="What each synthesized environment deploys (stacks, alarms, topics, secrets) and an estimated "
        "monthly cost, read from a cloud assembly (the output of cdk synth).",
    )
    parser.add_argument("assembly", nargs="?", default="cdk.out", help="the cloud assembly directory (cdk.out)")
    parser.add_argument("--env", help="only this environment (default: every environment in the assembly)")
    parser.add_argument(
        "--alerts-per-month",
        type=int,
        default=pricing.ALERTS_PER_MONTH,
        help=f"the alert volume the cost is estimated at (default {pricing.ALERTS_PER_MONTH:,})",
    )
    args = parser.parse_args(argv)
    assembly = Path(args.assembly)
    if not (assembly / "manifest.json").is_file():
        print(f"error: {assembly}: no cloud assembly (run cdk synth first)", file=sys.stderr)
        return 1
    found = environments(assembly)
    if args.env:
        if args.env not in found:
            print(
                f"error: {assembly}: no environment {args.env!r} (found: {', '.join(found) or 'none'})", file=sys.stderr
            )
            return 1
        found = {args.env: found[args.env]}
    for env, stacks in sorted(found.items()):
        summary = summarize(env, stacks)
        print(render(summary, estimate(summary, args.alerts_per_month), args.alerts_per_month))
    return 0


if __name__ == "__main__":
    sys.exit(main())
