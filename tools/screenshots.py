"""`make screenshots`: the main message kinds as Slack draws them, with the phone's lock screen, to PNG.

    python -m tools.screenshots DIR [--html-only] [--chromium PATH]

Each kind (CloudWatch firing and resolved, INSUFFICIENT_DATA, a suppressed composite, an anomaly band, an
Alertmanager group, a storm digest) goes through the forwarders' own `prepare` and renderers at a fixed clock, is
drawn by `tools.slack_html`, then photographed by headless Chromium (Debian's `chromium`): the page's height is
measured first (`--dump-dom`), then the PNG taken at that height. Nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from alertlib.deliver import Destination
from alertlib.forward import prepare, render_for
from alertlib.models import AlertGroup, Severity
from alertlib.parse import split_event
from alertlib.render_pagerduty import StormMember, render_storm
from alertlib.render_slack import render_digest
from alertlib.settings import Route, Settings
from tools import slack_html

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
WIDTH = 1180
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def settings() -> Settings:
    """Routes as a deployment has them, and the environment's names when the settings know them."""
    routes = {
        "prod-critical": Route(Severity.CRITICAL, ("alerting/prod/pagerduty",)),
        "prod-warning": Route(Severity.WARNING, ("alerting/prod/slack",)),
        "default": Route(Severity.ERROR, ("alerting/prod/slack",)),
    }
    known = {f.name for f in dataclasses.fields(Settings)}
    extra: dict[str, Any] = {}
    if "account_aliases" in known:
        extra["account_aliases"] = {ACCOUNT: "shop-prod"}
    if "environment_name" in known:
        extra["environment_name"] = "prod"
    return Settings(routes=routes, **extra)


def sns(message: dict[str, Any], topic: str = "prod-critical", message_id: str = "screenshot") -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:{topic}",
                    "Subject": "ALARM",
                    "Message": json.dumps(message),
                    "Timestamp": "2026-11-22T02:55:01.000Z",
                },
            }
        ]
    }


def cloudwatch(
    name: str,
    state: str,
    *,
    metric: str,
    namespace: str,
    dimension: tuple[str, str],
    threshold: float,
    comparison: str,
    value: str,
    unit: str | None = None,
    changed: str = "2026-11-22T02:55:00.000+0000",
    description: str = "",
) -> dict[str, Any]:
    """A CloudWatch alarm notification as CloudWatch publishes it to SNS."""
    words = {"GreaterThanThreshold": "greater than", "LessThanThreshold": "less than"}[comparison]
    reasons = {
        "ALARM": f"Threshold Crossed: 3 out of the last 3 datapoints [{value} (22/11/26 02:54:00)] were {words} the "
        f"threshold ({threshold}) (minimum 3 datapoints for OK -> ALARM transition).",
        "OK": f"Threshold Crossed: 1 out of the last 3 datapoints [{value} (22/11/26 02:58:00)] was not {words} the "
        f"threshold ({threshold}) (minimum 1 datapoint for ALARM -> OK transition).",
        "INSUFFICIENT_DATA": "Insufficient Data: 3 datapoints were unknown.",
    }
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": ACCOUNT,
        "NewStateValue": state,
        "NewStateReason": reasons[state],
        "StateChangeTime": changed,
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}",
        "OldStateValue": "ALARM" if state == "OK" else "OK",
        "Trigger": {
            "MetricName": metric,
            "Namespace": namespace,
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": unit,
            "Dimensions": [{"value": dimension[1], "name": dimension[0]}],
            "Period": 300,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 3,
            "ComparisonOperator": comparison,
            "Threshold": threshold,
            "TreatMissingData": "missing",
        },
    }


def storage(state: str, changed: str = "2026-11-22T02:55:00.000+0000") -> dict[str, Any]:
    return cloudwatch(
        "prod-rds-orders-db-FreeStorageSpace",
        state,
        metric="FreeStorageSpace",
        namespace="AWS/RDS",
        dimension=("DBInstanceIdentifier", "orders-db"),
        threshold=107374182400.0,
        comparison="LessThanThreshold",
        value="9.663676416E10" if state == "ALARM" else "1.3958643712E11",
        unit="Bytes",
        changed=changed,
        description="Orders database is running out of disk.\n"
        "runbook: https://runbooks.example.com/rds/free-storage-space",
    )


def anomaly() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "daafc9f1-bddd-c6c9-83af-74971fcfc4ef",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": "2026-11-22T02:55:04Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:prod-checkout-latency-anomaly"],
        "detail": {
            "alarmName": "prod-checkout-latency-anomaly",
            "state": {
                "value": "ALARM",
                "reason": "Thresholds Crossed: 1 out of the last 1 datapoints [0.412 (22/11/26 02:54:00)] was less "
                "than the lower thresholds [0.0206] or greater than the upper thresholds [0.3007] (minimum 1 "
                "datapoint for OK -> ALARM transition).",
                "reasonData": '{"version":"1.0","period":60,"recentDatapoints":[0.412],'
                '"recentLowerThresholds":[0.0206],"recentUpperThresholds":[0.3007]}',
                "timestamp": "2026-11-22T02:55:04.653+0000",
            },
            "previousState": {"value": "OK", "reason": "ok", "timestamp": "2026-11-21T15:59:04.672+0000"},
            "configuration": {
                "description": "Checkout latency outside its usual band.\n"
                "runbook: https://runbooks.example.com/checkout/latency",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/ApplicationELB",
                                "name": "TargetResponseTime",
                                "dimensions": {"LoadBalancer": "app/checkout/50dc6c495c0c9188"},
                            },
                            "period": 60,
                            "stat": "Average",
                        },
                        "returnData": True,
                    },
                    {
                        "id": "ad1",
                        "expression": "ANOMALY_DETECTION_BAND(m1, 2)",
                        "label": "TargetResponseTime (expected)",
                        "returnData": True,
                    },
                ],
            },
        },
    }


def alertmanager_group(count: int = 12) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "severity": "critical",
                "namespace": "shop",
                "container": "checkout",
                "pod": f"checkout-{i:04d}",
                "cluster": "eu-prod-1",
            },
            "annotations": {
                "summary": "Pod is crash looping.",
                "description": f"Pod shop/checkout-{i:04d} (checkout) is in waiting state (reason: CrashLoopBackOff).",
                "runbook_url": "https://runbooks.example.com/kubernetes/pod-crash-looping",
            },
            "startsAt": "2026-11-22T02:41:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://prometheus.example.com/graph?g0.expr=kube_pod_container_status_waiting",
            "fingerprint": f"{i:016x}",
        }
        for i in range(count)
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="KubePodCrashLooping", namespace="shop"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "shop-critical",
        "groupLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
        "commonLabels": {
            "alertname": "KubePodCrashLooping",
            "severity": "critical",
            "namespace": "shop",
            "container": "checkout",
            "cluster": "eu-prod-1",
        },
        "commonAnnotations": {
            "summary": "Pod is crash looping.",
            "runbook_url": "https://runbooks.example.com/kubernetes/pod-crash-looping",
        },
        "externalURL": "https://alertmanager.example.com",
        "alerts": alerts,
    }


def _composite() -> dict[str, Any]:
    """AWS's sample of a suppressed composite alarm, moved to the screenshots' clock (not "delivered late")."""
    event: dict[str, Any] = json.loads(
        (EVENTS / "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json").read_text("utf-8")
    )
    event["time"] = "2026-11-22T02:55:00Z"
    event["detail"]["state"]["timestamp"] = "2026-11-22T02:55:00.394+0000"
    event["detail"]["previousState"]["timestamp"] = "2026-11-21T18:20:14.552+0000"
    return event


def _group(event: dict[str, Any]) -> AlertGroup:
    [envelope] = split_event(event)
    return prepare(envelope, settings(), NOW)


def _message(event: dict[str, Any]) -> tuple[dict[str, Any], list[str], str]:
    group = _group(event)
    events = render_for(Destination.PAGERDUTY, group, settings(), NOW)
    summaries = [e["payload"]["summary"] for e in events if e.get("event_action") == "trigger"]
    note = ""
    if not summaries:
        suppressed = any(a.suppression for a in group.alerts)
        note = (
            "nothing sent: CloudWatch suppressed the alarm's actions"
            if suppressed
            else "resolve sent (no notification)"
            if events
            else "nothing sent"
        )
    [message] = render_for(Destination.SLACK, group, settings(), NOW)
    return message, summaries, note


def _storm() -> tuple[dict[str, Any], list[str], str]:
    services = (
        [("orders-db", "AWS/RDS", "CPUUtilization", "DBInstanceIdentifier")] * 6
        + [("checkout", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer")] * 9
        + [("payments", "AWS/Lambda", "Errors", "FunctionName")] * 12
        + [("search", "AWS/ES", "ClusterStatus.red", "DomainName")] * 4
    )
    groups = []
    for i, (resource, namespace, metric, dimension) in enumerate(services):
        state = "OK" if i % 7 == 3 else "ALARM"
        message = cloudwatch(
            f"prod-{resource}-{metric}-{i:02d}",
            state,
            metric=metric,
            namespace=namespace,
            dimension=(dimension, f"{resource}-{i:02d}"),
            threshold=10.0,
            comparison="GreaterThanThreshold",
            value="42.0" if state == "ALARM" else "1.0",
            changed=f"2026-11-22T02:{50 + i % 10:02d}:00.000+0000",
        )
        topic = "prod-warning" if i % 3 == 2 else "prod-critical"
        groups.append(_group(sns(message, topic=topic, message_id=f"storm-{i}")))
    message = render_digest(groups, now=NOW, max_listed=10, title="prod-critical, prod-warning")
    members = [StormMember.of(g, a, first_seen=a.starts_at or NOW) for g in groups for a in g.alerts]
    incident = render_storm(
        members, storm_id="1795000000000-screens", route_name="alerting/prod/pagerduty", action="trigger",
        opened_at=NOW,
    )  # fmt: skip
    return message, [incident["payload"]["summary"]], ""


KINDS: dict[str, Callable[[], tuple[dict[str, Any], list[str], str]]] = {
    "cloudwatch-firing": lambda: _message(sns(storage("ALARM"))),
    "cloudwatch-resolved": lambda: _message(sns(storage("OK", "2026-11-22T02:59:00.000+0000"))),
    "cloudwatch-insufficient-data": lambda: _message(sns(storage("INSUFFICIENT_DATA"))),
    "composite-suppressed": lambda: _message(_composite()),
    "anomaly-band": lambda: _message(anomaly()),
    "alertmanager-group": lambda: _message(sns(alertmanager_group())),
    "storm-digest": _storm,
}


def write_pages(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in KINDS.items():
        message, summaries, note = build()
        path = directory / f"{name}.html"
        path.write_text(
            slack_html.page(message, title=name, pagerduty=summaries, pagerduty_note=note, channel="alerts-prod"),
            "utf-8",
        )
        written.append(path)
    return written


def find_chromium(given: str | None) -> str | None:
    for name in (given,) if given else CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1"]
    return subprocess.run(
        [chromium, *flags, *args], capture_output=True, text=True, timeout=120, check=False, cwd=tempfile.gettempdir()
    )


def page_height(chromium: str, page: Path) -> int:
    """The drawn page's height in CSS pixels: a copy that may run one script, read back with `--dump-dom`."""
    text = page.read_text("utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text, count=1)
    script = "<script>document.body.dataset.h = document.querySelector('.wrap').scrollHeight;</script></body>"
    with tempfile.TemporaryDirectory() as scratch:
        measured = Path(scratch) / "measure.html"
        measured.write_text(text.replace("</body>", script, 1), "utf-8")
        result = _chromium(chromium, f"--window-size={WIDTH},800", "--dump-dom", measured.as_uri())
    found = re.search(r'data-h="(\d+)"', result.stdout)
    return min(int(found.group(1)), 6000) if found else 1200


def screenshot(chromium: str, page: Path, png: Path) -> None:
    height = page_height(chromium, page)
    shot = png.resolve()  # chromium runs in a scratch directory
    result = _chromium(chromium, f"--screenshot={shot}", f"--window-size={WIDTH},{height}", page.resolve().as_uri())
    if not png.exists():
        raise RuntimeError(f"chromium made no {png.name}: {result.stderr.strip()[-300:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("directory", help="where the PNGs go (docs/screenshots)")
    parser.add_argument("--html-only", action="store_true", help="write the HTML pages, take no screenshots")
    parser.add_argument("--chromium", help="the browser to use (default: chromium on the PATH)")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    with tempfile.TemporaryDirectory() as scratch:
        pages = write_pages(directory if args.html_only else Path(scratch))
        if args.html_only:
            for page in pages:
                print(page)
            return 0
        chromium = find_chromium(args.chromium)
        if chromium is None:
            print("screenshots: no chromium on the PATH (Debian: apt-get install chromium)", file=sys.stderr)
            return 2
        directory.mkdir(parents=True, exist_ok=True)
        for page in pages:
            png = directory / (page.stem + ".png")
            png.unlink(missing_ok=True)
            try:
                screenshot(chromium, page, png)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                print(f"screenshots: {page.stem}: {exc}", file=sys.stderr)
                return 1
            print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
