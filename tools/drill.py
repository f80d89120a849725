"""Prove the pager works: `python -m tools.drill --env NAME [--alarm NAME ...] [--service rds|elasticache|ecs]
[--timeout 300] [--local]`.

For each selected alarm of the environment (as deployed: every alarm whose name starts with `<env>-`), it sets
ALARM with `set_alarm_state` (the reason starts with DRILL, which the forwarders show), waits until the delivery
ledger shows the PagerDuty and Slack deliveries the alarm's topic routes to, sets OK, and waits for the resolves.
It prints progress while it waits, then a table, and exits non-zero naming every delivery that did not arrive in
time. Every alarm it touched is put back to OK, also when interrupted.

`--local` drills the local pipeline (tools.serve) instead of an AWS account: moto's set_alarm_state runs no
action, so the pipeline publishes the notification CloudWatch would send, built from the alarm's own definition.
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


@dataclass
class DrillResult:
    alarm: str
    expected: tuple[str, ...]
    to_destination: dict[str, float | None] = field(default_factory=dict)  # seconds from ALARM to delivery
    to_resolve: dict[str, float | None] = field(default_factory=dict)  # seconds from OK to the resolve
    skipped: str | None = None  # why this alarm was not drilled
    first_ok: tuple[str, ...] | None = None  # INSUFFICIENT_DATA -> OK: the destinations that got it (none should)

    @property
    def missing(self) -> list[str]:
        if self.skipped:
            return []
        late = [f"{self.alarm}: {d} (INSUFFICIENT_DATA -> OK must not be forwarded)" for d in self.first_ok or ()]
        late += [f"{self.alarm}: {d} (ALARM)" for d in self.expected if self.to_destination.get(d) is None]
        late += [f"{self.alarm}: {d} (OK)" for d in self.expected if self.to_resolve.get(d) is None]
        return late


@dataclass
class Drill:
    """The moving parts, injectable: CloudWatch, the ledger, which destinations an alarm's topic reaches."""

    cloudwatch: Any
    ledger: Any  # alertlib.reliability.Ledger
    destinations_for: Callable[[str], tuple[str, ...]]  # topic ARN -> ("pagerduty", "slack")
    after_state_change: Callable[[str], object] = lambda name: None  # --local: publish what CloudWatch would
    say: Callable[[str], None] = print
    timeout: float = 300.0
    touched: list[str] = field(default_factory=list)
    # --local: waits until the pipeline is idle. With it, an alarm in INSUFFICIENT_DATA (every new alarm) is first
    # set OK, and nothing may be forwarded (no "RESOLVED" flood on a first deploy).
    settle: Callable[[], object] | None = None

    def alarms(self, prefix: str, names: list[str], service: str | None) -> list[dict[str, Any]]:
        from alertlib.audit import belongs

        found: list[dict[str, Any]] = []
        for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix):
            found.extend(a for a in page.get("MetricAlarms", []) if belongs(a, prefix))  # not prod-eu's alarms
        if names:
            wanted = set(names)
            found = [a for a in found if a["AlarmName"] in wanted]
            unknown = wanted - {a["AlarmName"] for a in found}
            if unknown:
                raise LookupError(f"no such alarm in the environment: {', '.join(sorted(unknown))}")
        if service:
            found = [a for a in found if a["AlarmName"].startswith(f"{prefix}{service}-")]
        return found

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
        expected = tuple(sorted({d for arn in alarm.get("AlarmActions", []) for d in self.destinations_for(arn)}))
        result = DrillResult(alarm=name, expected=expected)
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
        result.to_destination = self._wait(key, "firing", expected, started, f"{name} ALARM")
        resolving = time.time()
        self._set(name, "OK", "DRILL: done")
        self.touched.remove(name)
        # CloudWatch may have re-evaluated the alarm back to OK itself: any resolve after the ALARM counts.
        result.to_resolve = self._wait(key, "resolved", expected, started, f"{name} OK", origin=resolving)
        return result

    def _wait(
        self, key: str, state: str, expected: tuple[str, ...], since: float, what: str, *, origin: float | None = None
    ) -> dict[str, float | None]:
        origin = since if origin is None else origin
        arrived: dict[str, float | None] = dict.fromkeys(expected)
        deadline = time.monotonic() + self.timeout
        last_said = time.monotonic() - 8  # the first word after 2 s of waiting, then every 10 s
        while time.monotonic() < deadline:
            for row in self.ledger.deliveries(key, since):
                if row["state"] == state and arrived.get(row["destination"], 0.0) is None:
                    arrived[row["destination"]] = max(row["delivered_at"] - origin, 0.0)
            if all(v is not None for v in arrived.values()):
                return arrived
            if time.monotonic() - last_said > 10:
                waiting = ", ".join(d for d, v in arrived.items() if v is None)
                self.say(f"  {what}: waiting for {waiting}")
                last_said = time.monotonic()
            time.sleep(POLL_SECONDS if self.timeout > 30 else 0.1)
        return arrived


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.drill", description="Prove the pager works.")
    parser.add_argument("--env", required=True)
    parser.add_argument("--alarm", action="append", default=[], help="an alarm to drill (repeatable); default: all")
    parser.add_argument("--service", choices=("rds", "elasticache", "ecs", "forwarder"))
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
            from alertlib.reliability import Ledger

            drill = Drill(
                cloudwatch=pipeline.cloudwatch,
                ledger=Ledger(pipeline.ledger_table),
                destinations_for=local_routing(pipeline),
                after_state_change=pipeline.emulate_alarm_action,
                timeout=args.timeout,
                settle=pipeline.wait_idle,
            )
            world = pipeline.world
            print(
                f"The local world holds {len(world.alarms)} alarms, built from the {len(world.templates)} synthesized"
                f" templates of {config.name}; IAM is enforced with each function's own role."
            )
            code = _drill(drill, config, args)
            if pipeline.denials:
                print("refused by IAM: " + "; ".join(sorted({str(d) for d in pipeline.denials})), file=sys.stderr)
                return 1
            return code
    import boto3

    from alertlib.reliability import Ledger

    session = boto3.Session(region_name=config.region)
    drill = Drill(
        cloudwatch=session.client("cloudwatch"),
        ledger=Ledger(f"{config.name}-alerting-ledger", client=session.client("dynamodb")),
        destinations_for=routing(config),
        timeout=args.timeout,
    )
    return _drill(drill, config, args)


def _drill(drill: Drill, config: Any, args: argparse.Namespace) -> int:
    try:
        alarms = drill.alarms(f"{config.name}-", args.alarm, args.service)
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
    print(f"all {len(results)} alarms reached PagerDuty and Slack as routed, and resolved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
