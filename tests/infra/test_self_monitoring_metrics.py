"""The alarms on the forwarders' and on-call endpoints' own failure counts read what the functions publish.

An alarm on a dimension set never published stays OK for ever: silence. So the EMF documents are not described
here but produced: each function's code (`Counters.flush`, `function_url.answer`) runs in a child process with the
environment the template gives that function (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE), and every
metric each alarm reads must be one of the documents printed, for every source the count may carry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alertlib.models import Source
from infra.constructs.self_monitoring import SOURCES
from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
FORWARDER_COUNTS = {  # metric -> the forwarders that count it (functions/alertlib)
    "RecheckFailed": ("pagerduty",),
    "ThreadStoreFailed": ("slack",),
    "ParentUpdateFailed": ("slack",),
    "GraphFailed": ("slack",),
    "SloQueryFailed": ("pagerduty", "slack"),
}
PAGES = {"RecheckFailed"}  # through both health topics; the others are tickets
TICKETS = {"ThreadStoreFailed", "ParentUpdateFailed", "GraphFailed", "SloQueryFailed", "ActionUnchecked"}

# Run in the function's environment: the forwarder's counts through Counters, the endpoint's through answer().
_EMIT = """
import json, sys
job = json.load(sys.stdin)
if job["kind"] == "forwarder":
    from alertlib.deliver import Destination
    from alertlib.observability import Counters
    counters = Counters(Destination(job["destination"]).value)
    for metric in job["metrics"]:
        for source in job["sources"]:
            counters.add(metric, source)
    counters.flush()
else:
    from alertlib.function_url import answer
    from alertlib.interactions import HttpAnswer
    from alertlib.observability import metrics

    class Endpoint:
        def handle(self, event):
            return HttpAnswer(200, None, job["outcome"], "a user group could not be read")

    answer({}, Endpoint, failed="failed")
    metrics.flush_metrics()
"""


def _published(function: dict[str, Any], job: dict[str, Any]) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric, dimensions) of every EMF document the function's code prints for `job`."""
    variables = function["Properties"]["Environment"]["Variables"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env |= {k: v for k, v in variables.items() if k.startswith("POWERTOOLS_") and isinstance(v, str)}
    env |= {"PYTHONPATH": str(ROOT / "functions"), "POWERTOOLS_METRICS_DISABLED": "false"}
    run = subprocess.run(
        [sys.executable, "-c", _EMIT], input=json.dumps(job), env=env, capture_output=True, text=True, check=True
    )
    found: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
    for line in run.stdout.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for names in directive["Dimensions"]:
                dimensions = frozenset((name, json.dumps(document[name])) for name in names)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def _read(alarm: dict[str, Any]) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric, dimensions) of every metric the alarm reads (plain or metric math)."""
    stats = [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q] or [alarm]
    return {
        (
            m["Namespace"],
            m["MetricName"],
            frozenset((d["Name"], json.dumps(d["Value"])) for d in m.get("Dimensions", [])),
        )
        for m in stats
    }


def _functions(world: Synthesized) -> dict[str, dict[str, Any]]:
    return {f["Properties"]["FunctionName"]: f for f in world.resources("alerting", "AWS::Lambda::Function").values()}


def _alarms(world: Synthesized) -> dict[str, dict[str, Any]]:
    found = world.resources("alerting", "AWS::CloudWatch::Alarm").values()
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in found}


def test_self_monitoring_sources_are_the_models_sources() -> None:
    assert set(SOURCES) == {s.value for s in Source}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_self_monitoring_forwarder_count_alarms_read_what_counters_flush_publishes(
    env: str, request: pytest.FixtureRequest
) -> None:
    world: Synthesized = request.getfixturevalue(env)
    functions = _functions(world)
    alarms = _alarms(world)
    for metric, destinations in FORWARDER_COUNTS.items():
        [(name, alarm)] = [(n, a) for n, a in alarms.items() if metric in {m for _, m, _ in _read(a)}]
        published: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
        for destination in destinations:
            function = functions[f"{env}-{destination}-forwarder"]
            assert function["Properties"]["Handler"].startswith(f"{destination}_forwarder.")
            job = {"kind": "forwarder", "destination": destination, "metrics": [metric], "sources": list(SOURCES)}
            published |= _published(function, job)
        assert len(published) == len(destinations) * len(SOURCES), published
        assert _read(alarm) == published, name  # nothing read that is never published, no source left out


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_self_monitoring_action_unchecked_alarm_reads_what_the_slack_endpoint_publishes(
    env: str, request: pytest.FixtureRequest
) -> None:
    world: Synthesized = request.getfixturevalue(env)
    endpoint = _functions(world)[f"{env}-slack-interactions"]
    published = _published(endpoint, {"kind": "endpoint", "outcome": "ActionUnchecked"})
    assert _read(_alarms(world)[f"{env}-oncall-slack-ActionUnchecked"]) == published
    source = (ROOT / "functions" / "alertlib" / "interactions.py").read_text(encoding="utf-8")
    assert '"ActionUnchecked"' in source  # the outcome the Slack endpoint answers with


def test_self_monitoring_recheck_failed_pages_and_degradations_ticket(dev: Synthesized, prod: Synthesized) -> None:
    for world in (dev, prod):
        env = world.config.name
        topics = {k: v["Properties"]["TopicName"] for k, v in world.resources("alerting", "AWS::SNS::Topic").items()}
        alarms = _alarms(world)
        watched = {m for a in alarms.values() for _, m, _ in _read(a)}
        assert watched >= PAGES | TICKETS
        for name, alarm in alarms.items():
            metrics = {m for _, m, _ in _read(alarm)}
            if not metrics & (PAGES | TICKETS):
                continue
            reached = sorted(topics[a["Ref"]] for a in alarm["AlarmActions"])
            assert sorted(topics[a["Ref"]] for a in alarm["OKActions"]) == reached, name
            assert alarm["TreatMissingData"] == "notBreaching", name
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
            if metrics & PAGES:
                assert reached == [f"{env}-pagerduty-forwarder-health", f"{env}-slack-forwarder-health"], name
                assert alarm["Threshold"] == 1, name
            else:
                assert reached == [f"{env}-warning"], name  # Slack in dev and prod: a ticket, never a page
            if "Metrics" in alarm:
                [expression] = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
                assert expression == "SUM(FILL(METRICS(), 0))", name  # every metric it reads, gaps as 0
                assert len(alarm["Metrics"]) <= 10, name  # CloudWatch's limit for an alarm
        assert "ThreadParentLost" not in watched  # someone deleted a parent; the forwarder posted a new one
