"""The alarm catalogue: AWS's recommended alarms (ALARMS.md) for an environment's resources, as plain data.

Pure and fast (no constructs), so the settings of every alarm are testable and a 500-resource environment is
planned in milliseconds. Each alarm kind has a runbook in `docs/runbooks/<kind>.md`, linked from the description.
Per-environment `defaults` and per-resource `overrides` change any setting or drop an alarm.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from infra.config import AlarmOverride, CacheCluster, EcsService, EnvironmentConfig, RdsInstance

GIB = 1024**3
MAX_DESCRIPTION = 1024


@dataclass(frozen=True)
class AlarmSpec:
    kind: str  # the runbook's name, e.g. "rds-cpu-utilization"
    service: str  # rds | elasticache | ecs
    resource: str  # the resource part of the name
    name: str  # <env>-<service>-<resource>-<metric>
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str  # Average, Minimum, Maximum, Sum, or an extended statistic such as p90
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    topic: str
    meaning: str  # what it means, for the description

    def description(self, runbook_base_url: str) -> str:
        comparison = _WORDS[self.comparison]
        text = (
            f"{self.meaning} {self.metric} {self.statistic} {comparison} {self.threshold:g} for "
            f"{self.datapoints_to_alarm} of {self.evaluation_periods} periods of {self.period}s "
            f"(missing data: {self.treat_missing_data})."
        )
        runbook = f"\nrunbook: {runbook_base_url.rstrip('/')}/{self.kind}.md"
        return text[: MAX_DESCRIPTION - len(runbook)] + runbook


_WORDS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def plan_alarms(config: EnvironmentConfig) -> list[AlarmSpec]:
    """Every alarm of the environment, overrides applied, dropped ones left out."""
    planned: list[AlarmSpec | None] = []
    for instance in config.rds:
        planned.extend(_apply(config, s, instance.overrides) for s in _rds(config, instance))
    for cluster in config.elasticache:
        planned.extend(_apply(config, s, cluster.overrides) for s in _elasticache(config, cluster))
    for service in config.ecs:
        planned.extend(_apply(config, s, service.overrides) for s in _ecs(config, service))
    return [s for s in planned if s is not None]


def plan_notes(config: EnvironmentConfig) -> list[str]:
    """What synth should say about alarms it deliberately leaves out."""
    return [
        f"ecs {s.cluster}/{s.service}: no running-task alarm (container_insights: false; turn Container Insights on "
        "for the cluster and remove the flag to have it)"
        for s in config.ecs
        if not s.container_insights
    ]


def _apply(config: EnvironmentConfig, spec: AlarmSpec, overrides: dict[str, AlarmOverride]) -> AlarmSpec | None:
    for override in (config.defaults.get(spec.kind), overrides.get(spec.kind), overrides.get(spec.metric)):
        if override is None:
            continue
        if override.enabled is False:
            return None
        changes = {
            key: value for key, value in override.model_dump(exclude_none=True).items() if key not in ("enabled",)
        }
        spec = replace(spec, **changes)
    if spec.datapoints_to_alarm > spec.evaluation_periods:
        spec = replace(spec, datapoints_to_alarm=spec.evaluation_periods)
    return spec


def _spec(
    config: EnvironmentConfig,
    *,
    kind: str,
    service: str,
    resource: str,
    namespace: str,
    metric: str,
    dimensions: tuple[tuple[str, str], ...],
    statistic: str,
    evaluations: int,
    threshold: float,
    comparison: str,
    missing: str,
    topic: str,
    meaning: str,
) -> AlarmSpec:
    return AlarmSpec(
        kind=kind,
        service=service,
        resource=resource,
        name=f"{config.name}-{service}-{resource}-{metric}",
        namespace=namespace,
        metric=metric,
        dimensions=dimensions,
        statistic=statistic,
        period=60,
        evaluation_periods=evaluations,
        datapoints_to_alarm=evaluations,
        threshold=threshold,
        comparison=comparison,
        treat_missing_data=missing,
        topic=topic,
        meaning=meaning,
    )


def _rds(config: EnvironmentConfig, db: RdsInstance) -> Iterator[AlarmSpec]:
    common = {"service": "rds", "resource": db.id, "namespace": "AWS/RDS", "topic": db.topic}
    dims = (("DBInstanceIdentifier", db.id),)
    yield _spec(
        config, kind="rds-cpu-utilization", metric="CPUUtilization", dimensions=dims, statistic="Average",
        evaluations=5, threshold=90.0, comparison="GreaterThanThreshold", missing="missing",
        meaning=f"RDS {db.id}: CPU is saturated; queries slow down.", **common,
    )  # fmt: skip
    if not db.storage_autoscaling and not db.aurora:
        yield _spec(
            config, kind="rds-free-storage-space", metric="FreeStorageSpace", dimensions=dims, statistic="Minimum",
            evaluations=5, threshold=round(db.allocated_storage_gib * GIB * 0.10), comparison="LessThanThreshold",
            missing="missing",
            meaning=f"RDS {db.id}: under 10% of {db.allocated_storage_gib} GiB free; writes stop when it is full.",
            **common,
        )  # fmt: skip
    yield _spec(
        config, kind="rds-database-connections", metric="DatabaseConnections", dimensions=dims, statistic="Average",
        evaluations=5, threshold=round(db.max_connections * 0.90), comparison="GreaterThanThreshold",
        missing="missing",
        meaning=f"RDS {db.id}: over 90% of max_connections ({db.max_connections}); new connections will fail.",
        **common,
    )  # fmt: skip
    share = 0.05 if db.aurora else 0.25
    yield _spec(
        config, kind="rds-freeable-memory", metric="FreeableMemory", dimensions=dims, statistic="Average",
        evaluations=15, threshold=round(db.memory_gib * GIB * share), comparison="LessThanThreshold",
        missing="missing",
        meaning=f"RDS {db.id}: under {share:.0%} of {db.memory_gib:g} GiB memory free for 15 minutes; swapping.",
        **common,
    )  # fmt: skip
    for metric, word in (("ReadLatency", "reads"), ("WriteLatency", "writes")):
        yield _spec(
            config, kind=f"rds-{word[:-1]}-latency", metric=metric, dimensions=dims, statistic="p90",
            evaluations=5, threshold=0.02, comparison="GreaterThanThreshold", missing="missing",
            meaning=f"RDS {db.id}: p90 disk {word} take over 20 ms (metric in seconds).", **common,
        )  # fmt: skip
    if db.replica:
        # Aurora replicas publish AuroraReplicaLag (milliseconds), not ReplicaLag (seconds): the same 60 s.
        metric, threshold = ("AuroraReplicaLag", 60000.0) if db.aurora else ("ReplicaLag", 60.0)
        yield _spec(
            config, kind="rds-replica-lag", metric=metric, dimensions=dims, statistic="Maximum",
            evaluations=10, threshold=threshold, comparison="GreaterThanThreshold", missing="missing",
            meaning=f"RDS replica {db.id}: over 60 s behind its source; reads are stale.", **common,
        )  # fmt: skip


def _elasticache(config: EnvironmentConfig, cache: CacheCluster) -> Iterator[AlarmSpec]:
    """Every alarm watches what AWS publishes: a replication group per member cluster (`<id>-001`, or `<id>-0001-001`
    with cluster mode enabled; one node each, `0001`), `ReplicationLag` from replicas only; Memcached per cluster and
    per node. Engine metrics are alarmed on every member: a failover swaps roles but not member ids."""
    common = {"service": "elasticache", "namespace": "AWS/ElastiCache", "topic": cache.topic}
    if not cache.redis:
        yield _evictions(config, cache, cache.id, common)
    for member in cache.members:
        name = member.cluster_id
        where = f"ElastiCache {cache.id} {'node' if member.role == 'node' else member.role} {name}"
        if member.role == "node":
            name, where = f"{cache.id}-{member.node_id}", f"ElastiCache {cache.id} node {member.node_id}"
        cluster = (("CacheClusterId", member.cluster_id),)
        node = (("CacheClusterId", member.cluster_id), ("CacheNodeId", member.node_id))
        if cache.redis:
            yield _spec(
                config, kind="elasticache-engine-cpu-utilization", resource=name, metric="EngineCPUUtilization",
                dimensions=cluster, statistic="Average", evaluations=5, threshold=90.0,
                comparison="GreaterThanThreshold", missing="missing",
                meaning=f"{where}: the engine thread is saturated; commands queue.", **common,
            )  # fmt: skip
            yield _spec(
                config, kind="elasticache-database-memory-usage", resource=name,
                metric="DatabaseMemoryUsagePercentage", dimensions=cluster, statistic="Average", evaluations=5,
                threshold=80.0, comparison="GreaterThanThreshold", missing="missing",
                meaning=f"{where}: over 80% of maxmemory used; evictions or OOM errors follow.", **common,
            )  # fmt: skip
            yield _evictions(config, cache, member.cluster_id, common, resource=name, where=where)
            if member.role == "replica":
                yield _spec(
                    config, kind="elasticache-replication-lag", resource=name, metric="ReplicationLag",
                    dimensions=cluster, statistic="Average", evaluations=15, threshold=30.0,
                    comparison="GreaterThanThreshold", missing="notBreaching",
                    meaning=f"{where}: over 30 s behind its primary.", **common,
                )  # fmt: skip
        # Host CPU per node: all of it for Memcached; for Redis OSS / Valkey only on nodes of 2 vCPUs or fewer, where
        # the engine's one thread can starve the host (AWS's guidance), as a share of one vCPU.
        if not cache.redis or cache.vcpus <= 2:
            threshold = 90.0 if not cache.redis else round(90.0 / cache.vcpus, 1)
            yield _spec(
                config, kind="elasticache-cpu-utilization", resource=name, metric="CPUUtilization",
                dimensions=node, statistic="Average", evaluations=5, threshold=threshold,
                comparison="GreaterThanThreshold", missing="missing",
                meaning=f"{where}: host CPU above {threshold:g}%.", **common,
            )  # fmt: skip
        yield _spec(
            config, kind="elasticache-curr-connections", resource=name, metric="CurrConnections",
            dimensions=node, statistic="Average", evaluations=10, threshold=round(cache.max_connections * 0.9),
            comparison="GreaterThanThreshold", missing="missing",
            meaning=f"{where}: over 90% of {cache.max_connections} connections.", **common,
        )  # fmt: skip


def _evictions(
    config: EnvironmentConfig,
    cache: CacheCluster,
    cluster_id: str,
    common: dict[str, str],
    *,
    resource: str | None = None,
    where: str | None = None,
) -> AlarmSpec:
    return _spec(
        config, kind="elasticache-evictions", resource=resource or cache.id, metric="Evictions",
        dimensions=(("CacheClusterId", cluster_id),), statistic="Sum", evaluations=5, threshold=100.0,
        comparison="GreaterThanThreshold", missing="notBreaching",
        meaning=f"{where or f'ElastiCache {cache.id}'}: over 100 keys a minute evicted for memory; hit rate drops.",
        **common,
    )  # fmt: skip


def _ecs(config: EnvironmentConfig, svc: EcsService) -> Iterator[AlarmSpec]:
    resource = f"{svc.cluster}-{svc.service}"
    common = {"service": "ecs", "resource": resource, "topic": svc.topic}
    dims = (("ClusterName", svc.cluster), ("ServiceName", svc.service))
    for metric, word in (("CPUUtilization", "CPU"), ("MemoryUtilization", "memory")):
        yield _spec(
            config, kind=f"ecs-{word.lower()}-utilization", namespace="AWS/ECS", metric=metric, dimensions=dims,
            statistic="Average", evaluations=5, threshold=80.0, comparison="GreaterThanThreshold", missing="missing",
            meaning=f"ECS {svc.cluster}/{svc.service}: {word} over 80% of what the tasks reserve.", **common,
        )  # fmt: skip
    if not svc.container_insights:
        return
    yield _spec(
        config, kind="ecs-running-task-count", namespace="ECS/ContainerInsights", metric="RunningTaskCount",
        dimensions=dims, statistic="Average", evaluations=5, threshold=0.0, comparison="LessThanOrEqualToThreshold",
        missing="breaching",
        meaning=f"ECS {svc.cluster}/{svc.service}: no task running; the service is down.", **common,
    )  # fmt: skip
