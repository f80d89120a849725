"""Prove the pager works: `python -m tools.drill --env NAME [--alarm NAME ...] [--service rds|…|slo]
[--timeout 300] [--local]`.

It touches only this project's alarms: those its synthesized templates create (metric and composite alarms, by
name), as deployed, and only while their actions go to the project's own topics. Another team's alarm in the same
account, even one named `<env>-…`, is never selected; naming one with `--alarm` is refused. Alarms with no actions
(an SLO's window alarms: their composite notifies) are listed as skipped.

For each selected alarm, it sets ALARM with `set_alarm_state` (the reason starts with DRILL, which the forwarders
show), waits until the delivery ledger shows the PagerDuty and Slack deliveries the alarm's topic routes to, each
route of it (a topic with a Slack webhook and a Slack app route waits for both: the first is not all), sets OK,
and waits for the resolves. It prints progress while it waits, then a table, and exits non-zero naming every
delivery that did not arrive in time. Every alarm it touched is put back to OK, also when interrupted.

`--local` drills the local pipeline (tools.serve) instead of an AWS account: moto's set_alarm_state runs no
action, so the pipeline publishes the notification CloudWatch would send, built from the alarm's own definition;
composite alarms, which moto lacks, are stood in by `tools.world.LocalCloudWatch` from the templates.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path

POLL_SECONDS = 1.0
ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]


@dataclass(frozen=True)
class Deployed:
    """What the project deploys in an environment, read from its synthesized templates: the names of its metric and
    composite alarms and of its SNS topics. The drill acts on nothing else."""

    env: str
    alarms: frozenset[str]
    topics: frozenset[str]

    @classmethod
    def from_templates(cls, env: str, templates: dict[str, dict[str, Any]]) -> Deployed:
        alarms: set[str] = set()
        topics: set[str] = set()
        for template in templates.values():
            for resource in template.get("Resources", {}).values():
                properties = resource.get("Properties", {})
                if resource.get("Type") in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                    if isinstance(properties.get("AlarmName"), str):
                        alarms.add(properties["AlarmName"])
                elif resource.get("Type") == "AWS::SNS::Topic" and isinstance(properties.get("TopicName"), str):
                    topics.add(properties["TopicName"])
        return cls(env=env, alarms=frozenset(alarms), topics=frozenset(topics))

    def refusal(self, alarm: dict[str, Any]) -> str | None:
        """Why a deployed alarm of that name is not the project's (its actions reach something else), or None."""
        if alarm["AlarmName"] not in self.alarms:
            return "not an alarm of this project's templates"
        keys = ("AlarmActions", "OKActions", "InsufficientDataActions")
        foreign = [
            str(a)
            for key in keys
            for a in alarm.get(key) or []
            if str(a).split(":")[2:3] != ["sns"] or str(a).rsplit(":", 1)[-1] not in self.topics
        ]
        if foreign:
            return f"its actions reach what this project did not create ({', '.join(sorted(set(foreign))[:3])})"
        return None


@dataclass
class DrillResult:
    alarm: str
    expected: tuple[str, ...]
    to_destination: dict[str, float | None] = field(default_factory=dict)  # seconds from ALARM to delivery
    to_resolve: dict[str, float | None] = field(default_factory=dict)  # seconds from OK to the resolve
    skipped: str | None = None  # why this alarm was not drilled
    first_ok: tuple[str, ...] | None = None  # INSUFFICIENT_DATA -> OK: the destinations that got it (none should)
    # (state, destination) -> the routes (secret names) of that destination that did not get it, when known
    unarrived: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        if self.skipped:
            return []
        late = [f"{self.alarm}: {d} (INSUFFICIENT_DATA -> OK must not be forwarded)" for d in self.first_ok or ()]
        for state, times in (("ALARM", self.to_destination), ("OK", self.to_resolve)):
            for d in self.expected:
                if times.get(d) is None:
                    routes = self.unarrived.get((state, d))
                    late.append(f"{self.alarm}: {d}{' via ' + ', '.join(routes) if routes else ''} ({state})")
        return late


@dataclass
class Drill:
    """The moving parts, injectable: CloudWatch, the ledger, which destinations an alarm's topic reaches."""

    cloudwatch: Any
    ledger: Any  # alertlib.reliability.Ledger
    destinations_for: Callable[[str], tuple[str, ...]]  # topic ARN -> ("pagerduty", "slack")
    # (topic ARN, destination) -> the routes (secret names) it delivers to; each is waited for. () when unknown:
    # then any delivery of the destination counts.
    routes_for: Callable[[str, str], tuple[str, ...]] = lambda topic_arn, destination: ()
    after_state_change: Callable[[str], object] = lambda name: None  # --local: publish what CloudWatch would
    say: Callable[[str], None] = print
    timeout: float = 300.0
    touched: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # alarms of the templates' names whose actions are not ours
    # --local: waits until the pipeline is idle. With it, an alarm in INSUFFICIENT_DATA (every new alarm) is first
    # set OK, and nothing may be forwarded (no "RESOLVED" flood on a first deploy).
    settle: Callable[[], object] | None = None

    def alarms(self, deployed: Deployed, names: list[str], service: str | None) -> list[dict[str, Any]]:
        """The project's alarms as deployed (metric and composite), `names` of them or a `service`'s; LookupError
        naming any alarm asked for that the project does not own."""
        if names:
            foreign = sorted(set(names) - deployed.alarms)
            if foreign:
                raise LookupError(
                    f"refused: {', '.join(foreign)}: not an alarm this project creates in {deployed.env} (its "
                    "synthesized templates); the drill touches only those"
                )
            wanted = sorted(set(names))
        else:
            wanted = sorted(deployed.alarms)
        if service:
            wanted = [n for n in wanted if n.startswith(f"{deployed.env}-{service}-")]
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {"AlarmNames": wanted[start : start + 100], "AlarmTypes": ALARM_TYPES}
            while True:
                page = self.cloudwatch.describe_alarms(MaxRecords=100, **request)
                found.extend(page.get("MetricAlarms", []) + page.get("CompositeAlarms", []))
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
        kept = []
        for alarm in found:
            why = deployed.refusal(alarm)
            if why:
                self.say(f"  {alarm['AlarmName']}: refused, {why}")
                self.refused.append(alarm["AlarmName"])
            else:
                kept.append(alarm)
        absent = sorted(set(wanted) - {a["AlarmName"] for a in found})
        if names and absent:
            raise LookupError(f"not deployed in the account: {', '.join(absent)}")
        if absent:
            self.say(f"  {len(absent)} alarms of the templates are not deployed (e.g. {absent[0]})")
        return sorted(kept, key=lambda a: str(a["AlarmName"]))

    def run(self, alarms: list[dict[str, Any]]) -> list[DrillResult]:
        results = []
        try:
            for alarm in alarms:
                results.append(self._one(alarm))
        finally:
            self.restore()
        return results

    def restore(self) -> None:
        """Every alarm this drill touched goes back to OK (and the resolve goes out)."""
        while self.touched:
            name = self.touched.pop()
            try:
                self._set(name, "OK", "DRILL: restored to OK by tools.drill")
            except Exception as exc:  # noqa: BLE001 - keep restoring the others, and say so
                self.say(f"could not restore {name} to OK: {exc}")

    def _set(self, name: str, state: str, reason: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        self.after_state_change(name)

    def _one(self, alarm: dict[str, Any]) -> DrillResult:
        from alertlib.normalise import alarm_key

        name = alarm["AlarmName"]
        actions = alarm.get("AlarmActions", [])
        expected = tuple(sorted({d for arn in actions for d in self.destinations_for(arn)}))
        routes = {
            d: tuple(sorted({r for arn in actions if d in self.destinations_for(arn) for r in self.routes_for(arn, d)}))
            for d in expected
        }
        result = DrillResult(alarm=name, expected=expected)
        if not alarm.get("AlarmActions") or alarm.get("ActionsEnabled") is False:
            result.skipped = "notifies nobody (an SLO window alarm: its composite notifies)"
            return result
        if alarm.get("StateValue") == "ALARM":
            # A real page is open: drilling it would resolve it behind the on-call's back.
            result.skipped = "in ALARM for real"
            self.say(f"  {name}: skipped, it is in ALARM for real")
            return result
        key = alarm_key(alarm["AlarmArn"])
        if self.settle is not None and alarm.get("StateValue") == "INSUFFICIENT_DATA":
            quiet_since = time.time()
            self.touched.append(name)
            self._set(name, "OK", "DRILL: INSUFFICIENT_DATA -> OK, as after a first deploy")
            self.settle()
            result.first_ok = tuple(sorted({r["destination"] for r in self.ledger.deliveries(key, quiet_since)}))
        started = time.time()
        if name not in self.touched:
            self.touched.append(name)
        self._set(name, "ALARM", f"DRILL: tools.drill at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        result.to_destination = self._wait(key, "firing", routes, started, f"{name} ALARM", result, "ALARM")
        resolving = time.time()
        self._set(name, "OK", "DRILL: done")
        self.touched.remove(name)
        # CloudWatch may have re-evaluated the alarm back to OK itself: any resolve after the ALARM counts.
        result.to_resolve = self._wait(key, "resolved", routes, started, f"{name} OK", result, "OK", origin=resolving)
        return result

    def _wait(  # noqa: PLR0917 - what to wait for, and where to say what did not come
        self, key: str, state: str, routes: dict[str, tuple[str, ...]], since: float, what: str,
        result: DrillResult, label: str, *, origin: float | None = None,
    ) -> dict[str, float | None]:  # fmt: skip
        """Seconds from `origin` to each destination's delivery of `state`: to the last of its routes (a row without
        a route, written by a forwarder older than routes in the ledger, counts for each); None when one is late."""
        origin = since if origin is None else origin
        wanted = [(d, r) for d, named in routes.items() for r in (named or (None,))]
        arrived: dict[tuple[str, str | None], float | None] = dict.fromkeys(wanted)
        deadline = time.monotonic() + self.timeout
        last_said = time.monotonic() - 8  # the first word after 2 s of waiting, then every 10 s
        while time.monotonic() < deadline:
            for row in self.ledger.deliveries(key, since):
                for d, r in wanted:
                    if (
                        arrived[(d, r)] is None
                        and row["state"] == state
                        and row["destination"] == d
                        and (r is None or row.get("route") in (None, r))
                    ):
                        arrived[(d, r)] = max(row["delivered_at"] - origin, 0.0)
            if all(v is not None for v in arrived.values()):
                break
            if time.monotonic() - last_said > 10:
                waiting = ", ".join(d if r is None else f"{d} via {r}" for (d, r), v in arrived.items() if v is None)
                self.say(f"  {what}: waiting for {waiting}")
                last_said = time.monotonic()
            time.sleep(POLL_SECONDS if self.timeout > 30 else 0.1)
        times: dict[str, float | None] = {}
        for d, named in routes.items():
            got = [arrived[(d, r)] for r in (named or (None,))]
            times[d] = None if any(t is None for t in got) else max(t for t in got if t is not None)
            late = tuple(r for r in named if arrived[(d, r)] is None)
            if late:
                result.unarrived[(label, d)] = late
        return times


def table(results: list[DrillResult]) -> str:
    def cell(value: float | None, expected: bool) -> str:
        if not expected:
            return "-"
        return "MISSING" if value is None else f"{value:.1f}"

    width = max([len(r.alarm) for r in results] + [5])
    lines = [f"{'alarm'.ljust(width)}  {'s to PagerDuty':>14}  {'s to Slack':>10}  {'s to resolve':>12}"]
    for r in results:
        if r.skipped:
            lines.append(f"{r.alarm.ljust(width)}  skipped: {r.skipped}")
            continue
        resolves = list(r.to_resolve.values())
        resolve = (
            None if any(v is None for v in resolves) or not resolves else max(v for v in resolves if v is not None)
        )
        lines.append(
            f"{r.alarm.ljust(width)}  {cell(r.to_destination.get('pagerduty'), 'pagerduty' in r.expected):>14}  "
            f"{cell(r.to_destination.get('slack'), 'slack' in r.expected):>10}  {cell(resolve, bool(r.expected)):>12}"
        )
    return "\n".join(lines)


def config_routes(config: Any) -> Callable[[str, str], tuple[str, ...]]:
    """The routes (secret names) each forwarder delivers a topic to, from the environment's config."""
    table = {destination: config.forwarder_routes(destination)[0] for destination in ("pagerduty", "slack")}

    def routes(topic_arn: str, destination: str) -> tuple[str, ...]:
        route = table.get(destination, {}).get(topic_arn.rsplit(":", 1)[-1]) or {}
        return tuple(str(s) for s in route.get("secrets", ()))  # type: ignore[attr-defined]

    return routes


def routing(config: Any) -> Callable[[str], tuple[str, ...]]:
    """Which forwarders read a topic, from the environment's routes (the same the stack subscribes)."""
    readers: dict[str, set[str]] = {}
    for destination in ("pagerduty", "slack"):
        routes, _ = config.forwarder_routes(destination)
        for topic_name in routes:
            readers.setdefault(topic_name, set()).add(destination)
    return lambda topic_arn: tuple(sorted(readers.get(topic_arn.rsplit(":", 1)[-1], ())))


def local_routing(pipeline: Any) -> Callable[[str], tuple[str, ...]]:
    """Which forwarders read a topic, from the subscriptions of the synthesized templates."""

    def destinations(topic_arn: str) -> tuple[str, ...]:
        found = {
            name.removeprefix(f"{pipeline.config.name}-").removesuffix("-forwarder")
            for name in pipeline.subscribers(topic_arn)
            if name.endswith("-forwarder")
        }
        return tuple(sorted(found))

    return destinations


def local_routes(pipeline: Any) -> Callable[[str, str], tuple[str, ...]]:
    """The routes (secret names) each forwarder delivers a topic to, as its function reads them: the ROUTES of its
    environment in the synthesized templates, looked up as the forwarder does (`Settings.route_for`)."""
    from alertlib.settings import Settings, parse_routes

    settings = {
        spec.name.removeprefix(f"{pipeline.config.name}-").removesuffix("-forwarder"): Settings(
            routes=parse_routes(spec.environment.get("ROUTES", ""))
        )
        for spec in pipeline.world.functions.values()
        if spec.name.endswith("-forwarder")
    }

    def routes(topic_arn: str, destination: str) -> tuple[str, ...]:
        found = settings.get(destination)
        return found.route_for(topic_arn).secrets if found is not None else ()

    return routes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.drill", description="Prove the pager works.")
    parser.add_argument("--env", required=True, help="the environment (config/<env>.json) whose alarms to drill")
    parser.add_argument("--alarm", action="append", default=[], help="an alarm to drill (repeatable); default: all")
    parser.add_argument(
        "--service",
        choices=("rds", "elasticache", "ecs", "forwarder", "endpoint", "sns", "eventbridge", "slo"),
        help="only the alarms named <env>-SERVICE-… (slo: the SLO burn-rate composites)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each delivery")
    parser.add_argument("--local", action="store_true", help="drill the local pipeline (tools.serve), not AWS")
    args = parser.parse_args(argv)
    from infra.config import ConfigError, load_config

    try:
        config = load_config(args.env)
    except ConfigError as exc:
        print(f"drill: {exc}", file=sys.stderr)
        return 2
    if args.local:
        from tools.localaws import free_port
        from tools.serve import LocalPipeline

        with LocalPipeline(env=config.name, port=free_port(), say=lambda line: None) as pipeline:
            drill = local_drill(pipeline, timeout=args.timeout)
            world = pipeline.world
            print(
                f"The local world holds {len(world.alarms)} alarms and {len(world.composites)} composite alarms, "
                f"built from the {len(world.templates)} synthesized templates of {config.name}; IAM is enforced with "
                "each function's own role."
            )
            code = _drill(drill, Deployed.from_templates(config.name, world.templates), config, args)
            if pipeline.denials:
                print("refused by IAM: " + "; ".join(sorted({str(d) for d in pipeline.denials})), file=sys.stderr)
                return 1
            return code
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from alertlib.reliability import Ledger
    from tools.world import synthesize

    session = boto3.Session(region_name=config.region)
    if session.get_credentials() is None:
        print(
            f"drill: no AWS credentials found; the drill sets the alarms of {config.name} in account "
            f"{config.account} (set AWS_PROFILE, or run `aws sso login`), or use --local",
            file=sys.stderr,
        )
        return 2
    print(f"Reading which alarms the project creates in {config.name} from its templates (cdk synth, ~20 s)...")
    deployed = Deployed.from_templates(config.name, synthesize(config.name))
    drill = Drill(
        cloudwatch=session.client("cloudwatch"),
        ledger=Ledger(f"{config.name}-alerting-ledger", client=session.client("dynamodb")),
        destinations_for=routing(config),
        routes_for=config_routes(config),
        timeout=args.timeout,
    )
    try:
        return _drill(drill, deployed, config, args)
    except (BotoCoreError, ClientError) as exc:
        print(f"drill: AWS refused or could not be reached: {str(exc).splitlines()[0][:300]}", file=sys.stderr)
        return 1


def local_drill(pipeline: Any, **settings: Any) -> Drill:
    """A drill of the local pipeline: moto's CloudWatch with the templates' composite alarms stood in; a metric
    alarm's action is published by the pipeline (moto runs none), a composite's by the stand-in."""
    from alertlib.reliability import Ledger
    from tools.world import LocalCloudWatch

    composites = pipeline.world.composites
    cloudwatch = LocalCloudWatch(
        pipeline.cloudwatch,
        composites,
        lambda topic, message, subject: pipeline.sns.publish(TopicArn=topic, Message=message, Subject=subject),
        pipeline.config.region,
    )

    def after_state_change(name: str) -> object:
        return None if name in composites else pipeline.emulate_alarm_action(name)

    options: dict[str, Any] = {
        "cloudwatch": cloudwatch,
        "ledger": Ledger(pipeline.ledger_table),
        "destinations_for": local_routing(pipeline),
        "routes_for": local_routes(pipeline),
        "after_state_change": after_state_change,
        "settle": pipeline.wait_idle,
        **settings,
    }
    return Drill(**options)


def _drill(drill: Drill, deployed: Deployed, config: Any, args: argparse.Namespace) -> int:
    try:
        alarms = drill.alarms(deployed, args.alarm, args.service)
    except LookupError as exc:
        print(f"drill: {exc}", file=sys.stderr)
        return 2
    if not alarms:
        print(f"drill: no alarm of {config.name} matches", file=sys.stderr)
        return 2
    print(f"Drilling {len(alarms)} alarms of {config.name}: ALARM, wait for the pages, OK, wait for the resolves")
    try:
        results = drill.run(alarms)
    except KeyboardInterrupt:
        print("interrupted: every touched alarm was put back to OK", file=sys.stderr)
        return 130
    print(table(results))
    missing = [m for r in results for m in r.missing]
    if missing:
        print("did not arrive in time: " + "; ".join(missing), file=sys.stderr)
        return 1
    quiet = sum(1 for r in results if r.first_ok == ())
    if quiet:
        print(f"{quiet} alarms went from INSUFFICIENT_DATA to OK first, and nothing was forwarded, as it should be")
    drilled = [r for r in results if not r.skipped]
    silent = len(results) - len(drilled)
    print(
        f"all {len(drilled)} alarms reached PagerDuty and Slack as routed, and resolved"
        + (f"; {silent} skipped (listed above)" if silent else "")
    )
    if drill.refused:
        print(f"refused {len(drill.refused)} alarms that are not this project's: {', '.join(drill.refused[:5])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
