"""Which alarms of an environment cannot fire: `python -m tools.audit --env NAME [--dead-after HOURS]`.

The same audit the `<env>-dead-alarm-auditor` function runs daily and after each deploy (`alertlib.audit`), for a
person, against the account of the environment (a boto3 session in its region): alarms in INSUFFICIENT_DATA for
longer than `--dead-after` hours (default: the environment's `dead_alarm_after_hours`, 24), and alarms whose
metric published no datapoint in that time; the reason says whether CloudWatch lists that metric at all (ListMetrics:
"never published" in two weeks is a wrong name, dimension or resource). It prints a table (alarm, state, since,
reason) and exits 1 when any alarm is dead, 0 when none is, 2 when it could not tell (usage, configuration, AWS).
Read-only: it neither publishes nor remembers; it needs `cloudwatch:DescribeAlarms`, `cloudwatch:GetMetricData` and
`cloudwatch:ListMetrics` (resource "*"). The ListMetrics look-ups stop after `LIST_SECONDS`; those not made leave
the reason "no datapoints".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path

LIST_SECONDS = 120.0  # how long the ListMetrics look-ups may take (a person waits)


def table(findings: Iterable[Any]) -> str:
    rows = [("alarm", "state", "since", "reason")]
    rows += [(f.alarm, f.state, f"{f.since.astimezone(UTC):%Y-%m-%d %H:%M}", f.reason) for f in findings]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{a.ljust(widths[0])}  {s.ljust(widths[1])}  {t.ljust(widths[2])}  {why}" for a, s, t, why in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.audit",
        description="Alarms that cannot fire: stuck in INSUFFICIENT_DATA, or watching a metric with no data "
        "(reads CloudWatch with your AWS credentials; changes nothing).",
    )
    parser.add_argument("--env", required=True, help="the environment (config/<env>.json) whose alarms to audit")
    parser.add_argument("--dead-after", type=float, help="hours (default: the environment's, else 24)")
    args = parser.parse_args(argv)
    from alertlib.audit import AuditError, CloudWatchReader, ListingBudget, audit_alarms, dead_after_hours
    from alertlib.errors import ConfigurationError
    from infra.config import ConfigError, load_config

    try:
        config = load_config(args.env)
        hours = dead_after_hours(
            str(args.dead_after if args.dead_after is not None else config.dead_alarm_after_hours), "--dead-after"
        )
    except (ConfigError, ConfigurationError) as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(region_name=config.region)
    prefix = f"{config.name}-"
    stop = time.monotonic() + LIST_SECONDS
    try:
        audit = audit_alarms(
            CloudWatchReader(session.client("cloudwatch")),
            prefix=prefix,
            dead_after=timedelta(hours=hours),
            now=datetime.now(UTC),
            budget=ListingBudget(seconds_left=lambda: stop - time.monotonic()),
        )
    except (BotoCoreError, ClientError, AuditError) as exc:
        print(f"audit: could not read the alarms of {config.name} in {config.region}: {exc}", file=sys.stderr)
        return 2
    if not audit.findings:
        print(f"{config.name}: no dead alarms among {audit.alarms} alarms named {prefix}* (window {hours:g} h)")
        return 0
    print(table(sorted(audit.findings, key=lambda f: f.alarm)))
    print(f"\n{len(audit.findings)} of {audit.alarms} alarms of {config.name} cannot fire (runbook: dead-alarm.md)")
    if audit.listing.unchecked:
        why = f"ListMetrics failed: {audit.listing.error}" if audit.listing.error else "out of time or calls"
        print(f"{audit.listing.unchecked} silent metrics not looked up ({why}): never published or not, unknown")
    return 1


if __name__ == "__main__":
    sys.exit(main())
