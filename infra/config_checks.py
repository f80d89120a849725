"""Mistakes a config file can make that the typed model alone lets through, each stopped with one line.

- a duplicated JSON key (the second silently replaced the first: a whole alarm list could vanish);
- an override key that names no alarm kind or metric (a typo such as `rds-cpu-utilisation` changed nothing);
- a statistic CloudWatch does not know (`Avg`);
- a region AWS does not have (`eu-centrall-1`);
- a topic that alarms or Alertmanager publish to but that reaches no destination (the alerts would go nowhere).

Booleans and strings are never numbers: the model is strict (`infra/config.py`). Each message names the file, the
field, the reason and, where one is close, the fix ("did you mean …").
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session

if TYPE_CHECKING:
    from infra.config import EnvironmentConfig
    from infra.slo import CloudWatchSli

# CloudWatch's statistics: the five simple ones and the extended ones (percentile, trimmed mean, winsorized mean,
# trimmed count, trimmed sum, percentile rank, interquartile mean), in the short (`p90`, `tm99`) and the range
# (`TM(10%:90%)`, `TC(:0.3)`) forms.
SIMPLE_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_SHORT = re.compile(r"^(p|tm|wm|tc|ts)(100|\d{1,2}(\.\d{1,10})?)$")
_BOUND = r"(-?\d{1,20}(\.\d{1,10})?(e[+-]?\d{1,3})?%?)?"
_RANGE = re.compile(rf"^(TM|WM|TC|TS|PR)\({_BOUND}:{_BOUND}\)$", re.IGNORECASE)


def is_statistic(value: str) -> bool:
    """Whether CloudWatch accepts `value` as an alarm's statistic or extended statistic."""
    return value in SIMPLE_STATISTICS or value == "IQM" or bool(_SHORT.match(value) or _RANGE.match(value))


def statistic_error(value: str) -> str | None:
    if is_statistic(value):
        return None
    close = difflib.get_close_matches(value, [*SIMPLE_STATISTICS, "p90", "p99", "IQM"], n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}?" if close else "use Average, Sum, Minimum, Maximum, SampleCount, or p90, tm99 …"
    return f"{value!r} is not a CloudWatch statistic; {hint}"


def strict_json(text: str) -> Any:
    """`json.loads` that refuses a key given twice in one object (ValueError naming the key and its line)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen[key] = value
        return seen

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except _DuplicateKeyError as exc:
        raise ValueError(
            f"{exc.key}: this key appears twice in one object; the second would silently replace "
            f"the first{_line_of(text, exc.key)}: merge them"
        ) from None


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _line_of(text: str, key: str) -> str:
    needle = json.dumps(key)
    lines = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return f" (lines {', '.join(map(str, lines[:4]))})" if len(lines) >= 2 else ""


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (the pinned SDK is the list)."""
    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudwatch", partition_name=partition))
        regions.update(session.get_available_regions("sns", partition_name=partition))
    return frozenset(regions)


def region_error(region: str) -> str | None:
    regions = known_regions()
    if not regions or region in regions:
        return None
    close = difflib.get_close_matches(region, sorted(regions), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see `aws ec2 describe-regions`"
    return f"{region!r} is not an AWS region; {hint}"


def _vocabulary() -> dict[str, frozenset[str]]:
    """The override keys each kind of resource understands: its alarm kinds and its metric names."""
    return _vocabulary_cached()


@cache
def _vocabulary_cached() -> dict[str, frozenset[str]]:
    from infra.alarm_specs import plan_alarms  # noqa: PLC0415 - infra.config imports this module
    from infra.config import CacheCluster, EcsService, EnvironmentConfig, RdsInstance  # noqa: PLC0415

    routing = {"slack": ["x"]}
    rds = [
        RdsInstance(id="a", allocated_storage_gib=1, max_connections=1, memory_gib=1),
        RdsInstance(id="b", allocated_storage_gib=1, max_connections=1, memory_gib=1, replica=True),
        RdsInstance(id="c", engine="aurora-postgresql", allocated_storage_gib=1, max_connections=1, memory_gib=1),
        RdsInstance(
            id="d", engine="aurora-postgresql", allocated_storage_gib=1, max_connections=1, memory_gib=1, replica=True
        ),
        RdsInstance(id="e", allocated_storage_gib=1, max_connections=1, memory_gib=1, storage_autoscaling=True),
    ]
    caches = [
        CacheCluster(id="f", replicas_per_shard=1),
        CacheCluster(id="g", shards=2, replicas_per_shard=1, cluster_mode=True),
        CacheCluster(id="h", engine="memcached"),
        CacheCluster(id="i"),
    ]
    config = EnvironmentConfig.model_validate(
        {
            "name": "vocabulary",
            "account": "111111111111",
            "region": "eu-west-1",
            "runbook_base_url": "https://example.com",
            "topics": dict.fromkeys(("critical", "warning", "slo", "infrastructure"), routing),
            "rds": [r.model_dump() for r in rds],
            "elasticache": [c.model_dump() for c in caches],
            "ecs": [EcsService(cluster="j", service="k").model_dump()],
        }
    )
    words: dict[str, set[str]] = {"rds": set(), "elasticache": set(), "ecs": set()}
    for spec in plan_alarms(config):
        words[spec.service].update((spec.kind, spec.metric))
    return {service: frozenset(found) for service, found in words.items()}


def _key_errors(where: str, keys: Iterable[str], allowed: frozenset[str]) -> str | None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(allowed))}"
            return f"{where}.{key}: no alarm kind or metric of that name, so this override would change nothing; {hint}"
    return None


def check(config: EnvironmentConfig) -> str | None:
    """The first mistake in `config` as `field: reason`, or None."""
    if (error := region_error(config.region)) is not None:
        return f"region: {error}"
    vocabulary = _vocabulary()
    everything = frozenset().union(*vocabulary.values())
    checks: list[tuple[str, dict[str, Any], frozenset[str]]] = [("defaults", dict(config.defaults), everything)]
    checks += [(f"rds[{i}].overrides", dict(r.overrides), vocabulary["rds"]) for i, r in enumerate(config.rds)]
    checks += [
        (f"elasticache[{i}].overrides", dict(c.overrides), vocabulary["elasticache"])
        for i, c in enumerate(config.elasticache)
    ]
    checks += [(f"ecs[{i}].overrides", dict(s.overrides), vocabulary["ecs"]) for i, s in enumerate(config.ecs)]
    for where, overrides, allowed in checks:
        if (error := _key_errors(where, overrides, allowed)) is not None:
            return error
        for key, override in overrides.items():
            if override.statistic is not None and (error := statistic_error(override.statistic)) is not None:
                return f"{where}.{key}.statistic: {error}"
    if (error := _slo_metrics(config)) is not None:
        return error
    return _unread_topic(config)


def _slo_metrics(config: EnvironmentConfig) -> str | None:
    """Every metric an SLO reads must be one CloudWatch publishes, with the dimensions it publishes it with, a
    statistic that means something for it and dimension values in the form AWS writes them (the catalogue that checks
    the synthesized alarms, run here so a user's own config is checked before synth): an SLO on a metric that never
    exists reads a ratio of 0 for ever, and nothing else would say so. Dimension values are not compared with the
    environment's resources: an SLO may watch a load balancer or an API defined elsewhere."""
    from infra.metric_catalogue import CheckContext, check_metric  # noqa: PLC0415 - infra.config imports this

    context = CheckContext(config=config)
    for index, slo in enumerate(config.slos):
        try:
            metrics = slo.cloudwatch_error_ratio().metrics
        except ValueError:
            continue  # a PromQL-only SLO: nothing in CloudWatch
        for metric_id, stat in metrics.items():
            metric = {
                "Namespace": stat.namespace,
                "MetricName": stat.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in stat.dimensions.items()],
            }
            problems = check_metric(metric, stat.statistic, context, resources=False)
            if problems:
                return f"slos[{index}].sli.{_sli_field(slo.sli, metric_id)}: {problems[0]}"
    return None


def _sli_field(sli: CloudWatchSli, metric_id: str) -> str:
    """Where a metric of the error ratio sits in the config: `bad_value` -> `bad`, `bad_elb` -> `bad.metrics.elb`,
    a latency SLI's `good_value` / `total_value` -> `latency`."""
    if sli.latency is not None:
        return "latency"
    part, name = metric_id.split("_", 1)
    count = getattr(sli, part, None)
    return f"{part}.metrics.{name}" if count is not None and count.expression is not None else part


def _unread_topic(config: EnvironmentConfig) -> str | None:
    """A topic that something publishes to must reach PagerDuty, Slack or an e-mail address."""
    from infra.alarm_specs import plan_alarms  # noqa: PLC0415 - infra.config imports this module

    users: dict[str, list[str]] = {}
    for spec in plan_alarms(config):
        users.setdefault(spec.topic, []).append(spec.name)
    for topic, prefixes in config.eventbridge_alarms.items():
        users.setdefault(topic, []).extend(f"{p}* (EventBridge)" for p in prefixes)
    for topic, routing in config.topics.items():
        if routing.pagerduty or routing.slack or routing.emails:
            continue
        alarms = users.get(topic, [])
        shown = ", ".join(alarms[:3]) + (f" and {len(alarms) - 3} more" if len(alarms) > 3 else "")
        who = f"{len(alarms)} alarm(s) ({shown}) and " if alarms else ""
        return (
            f"topics.{topic}: reaches no destination, so {who}Alertmanager alerts routed to it would go nowhere; "
            "give it a pagerduty secret, a slack secret or an e-mail address"
        )
    return None
