"""Read an account's databases, caches and services into an environment's config, so thresholds follow the real
resources instead of hand-entered facts.

    python -m tools.inventory --env prod --region eu-west-1            # what would change, and what has no alarm
    python -m tools.inventory --env prod --region eu-west-1 --write    # write config/prod.json

Reads RDS instances (Aurora clusters for writer and readers), ElastiCache replication groups (Valkey / Redis OSS)
and Memcached clusters, and ECS services. From an instance or node class it derives memory and vCPUs, and from the
memory the engine's default `max_connections` (or the number a custom parameter group sets). What the account says
(engine, storage, class, replicas, shards, nodes) replaces the file's value; `topic`, `overrides` and every other
field are kept, and so is a `max_connections` set by hand where the account only gives the default formula.
Resources in the file that the account no longer has are kept and named. Nothing is deleted.

It also names the resources of the account that have no alarm in the environment's config (new ones, ones whose
every alarm is disabled, standalone Redis OSS clusters the config cannot describe) and ECS clusters without
Container Insights (the running-task alarm reads its metric).

Read-only in the account: rds:Describe*, elasticache:Describe*, ecs:List*, ecs:Describe*, sts:GetCallerIdentity.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from infra.alarm_specs import plan_alarms
from infra.config import CONFIG_DIR, CacheCluster, ConfigError, EnvironmentConfig, load_config

GIB = 1024**3
# Instance sizes: vCPUs. Memory follows the family: GiB per vCPU.
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64,
          "24xlarge": 96, "32xlarge": 128, "48xlarge": 192}  # fmt: skip
_GIB_PER_VCPU = {"m": 4, "r": 8, "x": 16, "z": 8, "c": 2}
# Burstable classes: (vCPUs, GiB).
_BURSTABLE = {"micro": (2, 1), "small": (2, 2), "medium": (2, 4), "large": (2, 8), "xlarge": (4, 16),
              "2xlarge": (8, 32)}  # fmt: skip
_T2 = {"micro": (1, 0.5), "small": (1, 1.5), "medium": (2, 3.2)}  # cache.t2 (ElastiCache)
_ENGINES = {"postgres": "postgres", "mysql": "mysql", "mariadb": "mariadb", "aurora-postgresql": "aurora-postgresql",
            "aurora-mysql": "aurora-mysql", "aurora": "aurora-mysql"}  # fmt: skip


class InventoryError(Exception):
    """One line for the person running the tool."""


class InstanceClass(NamedTuple):
    vcpus: int
    memory_gib: float


def instance_class(name: str) -> InstanceClass | None:
    """`db.r6g.large` or `cache.m7g.xlarge` -> vCPUs and memory; None for a class this table does not know."""
    match = re.fullmatch(r"(?:db|cache)\.([a-z]+)(\d+)([a-z-]*)\.(\w+)", name)
    if not match:
        return None
    family, generation, _, size = match.groups()
    if family == "t":
        table = _T2 if generation == "2" and name.startswith("cache.") else _BURSTABLE
        if size in table:
            vcpus, memory = table[size]
            return InstanceClass(vcpus, memory)
        return None
    letter = family[0]
    if size not in _SIZES or letter not in _GIB_PER_VCPU:
        return None
    vcpus = _SIZES[size]
    return InstanceClass(vcpus, float(vcpus * _GIB_PER_VCPU[letter]))


def default_max_connections(engine: str, memory_gib: float) -> int:
    """The engine's default `max_connections` formula, with the class's memory for `DBInstanceClassMemory`
    (RDS keeps a little of it for the OS, so the real default is a little lower)."""
    memory = memory_gib * GIB
    if engine in ("postgres", "aurora-postgresql"):
        return int(min(memory / 9531392, 5000))
    if engine == "aurora-mysql":
        return int(max(45 * math.log2(memory / 805306368), 1000 * math.log2(memory / 8187281408), 1))
    return int(memory / 12582880)  # mysql, mariadb


@dataclass
class Found:
    """What the account has, as config entries, and what the tool noticed."""

    rds: list[dict[str, Any]] = field(default_factory=list)
    elasticache: list[dict[str, Any]] = field(default_factory=list)
    ecs: list[dict[str, Any]] = field(default_factory=list)
    estimated: set[tuple[str, str]] = field(default_factory=set)  # (section, id): max_connections from the formula
    notes: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # resources the config cannot describe: no alarm possible
    no_container_insights: list[str] = field(default_factory=list)


def read_account(session: Any) -> Found:
    found = Found()
    for service, read in (("rds", _read_rds), ("elasticache", _read_elasticache), ("ecs", _read_ecs)):
        print(f"  reading {service} ...", file=sys.stderr, flush=True)
        read(session.client(service), found)
    return found


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _read_rds(rds: Any, found: Found) -> None:
    writers: dict[str, bool] = {}
    for cluster in _pages(rds, "describe_db_clusters", "DBClusters"):
        for member in cluster.get("DBClusterMembers", []):
            writers[member["DBInstanceIdentifier"]] = bool(member.get("IsClusterWriter"))
    for db in _pages(rds, "describe_db_instances", "DBInstances"):
        identifier, raw_engine = db["DBInstanceIdentifier"], db.get("Engine", "")
        engine = _ENGINES.get(raw_engine) or (
            "oracle" if raw_engine.startswith("oracle") else "sqlserver" if raw_engine.startswith("sqlserver") else None
        )
        klass = instance_class(db.get("DBInstanceClass", ""))
        if engine is None:
            found.unsupported.append(f"rds {identifier}: engine {raw_engine} is not one the config describes")
            continue
        entry: dict[str, Any] = {"id": identifier, "engine": engine,
                                 "allocated_storage_gib": max(int(db.get("AllocatedStorage") or 1), 1)}  # fmt: skip
        aurora = engine.startswith("aurora")
        if klass is not None:
            entry["memory_gib"] = klass.memory_gib
        else:
            found.notes.append(f"rds {identifier}: class {db.get('DBInstanceClass')} unknown here: set memory_gib")
        limit = _parameter_max_connections(rds, db)
        if limit is not None:
            entry["max_connections"] = limit
        elif klass is not None and engine not in ("oracle", "sqlserver"):
            entry["max_connections"] = default_max_connections(engine, klass.memory_gib)
            found.estimated.add(("rds", identifier))
        entry["replica"] = (
            (not writers.get(identifier, True)) if aurora else bool(db.get("ReadReplicaSourceDBInstanceIdentifier"))
        )
        entry["storage_autoscaling"] = bool(db.get("MaxAllocatedStorage")) and not aurora
        found.rds.append(entry)


def _parameter_max_connections(rds: Any, db: dict[str, Any]) -> int | None:
    """The number a custom parameter group sets for max_connections; None for a default group or a formula."""
    for group in db.get("DBParameterGroups", []):
        name = group.get("DBParameterGroupName", "")
        if name.startswith("default."):
            continue
        for parameter in _pages(rds, "describe_db_parameters", "Parameters", DBParameterGroupName=name, Source="user"):
            value = str(parameter.get("ParameterValue", ""))
            if parameter.get("ParameterName") == "max_connections" and value.isdigit():
                return int(value)
    return None


def _read_elasticache(client: Any, found: Found) -> None:
    for group in _pages(client, "describe_replication_groups", "ReplicationGroups"):
        identifier = group["ReplicationGroupId"]
        node_groups = group.get("NodeGroups", [])
        engine = group.get("Engine") or "redis"
        entry: dict[str, Any] = {
            "id": identifier,
            "engine": "valkey" if engine == "valkey" else "redis",
            "shards": max(len(node_groups), 1),
            "replicas_per_shard": max((len(g.get("NodeGroupMembers", [])) - 1 for g in node_groups), default=0),
            "cluster_mode": bool(group.get("ClusterEnabled")),
        }
        klass = instance_class(group.get("CacheNodeType", ""))
        if klass is not None:
            entry["vcpus"] = klass.vcpus
        found.elasticache.append(entry)
    for cluster in _pages(client, "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True):
        if cluster.get("ReplicationGroupId"):
            continue  # a member, described by its group
        identifier = cluster["CacheClusterId"]
        if cluster.get("Engine") != "memcached":
            found.unsupported.append(
                f"elasticache {identifier}: a standalone {cluster.get('Engine')} cluster (no replication group); "
                "the config describes replication groups"
            )
            continue
        nodes = [n["CacheNodeId"] for n in cluster.get("CacheNodes", [])] or [
            f"{i:04d}" for i in range(1, int(cluster.get("NumCacheNodes", 1)) + 1)
        ]
        entry = {"id": identifier, "engine": "memcached", "node_ids": nodes}
        klass = instance_class(cluster.get("CacheNodeType", ""))
        if klass is not None:
            entry["vcpus"] = klass.vcpus
        found.elasticache.append(entry)


def _read_ecs(ecs: Any, found: Found) -> None:
    arns = list(_pages(ecs, "list_clusters", "clusterArns"))
    for start in range(0, len(arns), 100):
        for cluster in ecs.describe_clusters(clusters=arns[start : start + 100], include=["SETTINGS"])["clusters"]:
            settings = {s["name"]: s["value"] for s in cluster.get("settings", [])}
            if settings.get("containerInsights", "disabled") == "disabled":
                found.no_container_insights.append(cluster["clusterName"])
    for arn in arns:
        services = list(_pages(ecs, "list_services", "serviceArns", cluster=arn))
        for start in range(0, len(services), 10):
            described = ecs.describe_services(cluster=arn, services=services[start : start + 10])["services"]
            for service in described:
                cluster_name = arn.rsplit("/", 1)[-1]
                insights = cluster_name not in found.no_container_insights
                found.ecs.append(
                    {"cluster": cluster_name, "service": service["serviceName"], "container_insights": insights}
                )
                if service.get("desiredCount", 0) == 0:
                    found.notes.append(
                        f"ecs {cluster_name}/{service['serviceName']}: 0 tasks desired; its RunningTaskCount alarm "
                        "fires while it stays at 0 (disable it in overrides if that is on purpose)"
                    )


# --- merging into the file


def _key(section: str, entry: dict[str, Any]) -> str:
    return f"{entry['cluster']}/{entry['service']}" if section == "ecs" else str(entry["id"])


def merge(raw: dict[str, Any], found: Found) -> tuple[dict[str, Any], list[str]]:
    """The file's content with the account's facts, and one line per change. Order and other fields are kept."""
    merged = dict(raw)
    changes: list[str] = []
    for section in ("rds", "elasticache", "ecs"):
        current: list[dict[str, Any]] = [dict(e) for e in raw.get(section, [])]
        index = {_key(section, e): e for e in current}
        seen: set[str] = set()
        for fact in getattr(found, section):
            key = _key(section, fact)
            seen.add(key)
            entry = index.get(key)
            if entry is None:
                current.append(
                    {k: v for k, v in fact.items() if (section, k) not in _IMPLIED or v != _IMPLIED[section, k]}
                )
                changes.append(f"+ {section} {key}: added")
                continue
            for name, value in fact.items():
                if name == "max_connections" and (section, key) in found.estimated and name in entry:
                    continue  # a hand-set limit wins over the default formula
                if name == "node_ids" and entry.get(name) is None and value == ["0001"]:
                    continue
                if entry.get(name, _DEFAULTS.get((section, name))) != value:
                    changes.append(f"~ {section} {key}: {name} {entry.get(name, '(default)')} -> {value}")
                    entry[name] = value
        changes += [f"? {section} {k}: in the file, not found in the account (kept)" for k in index if k not in seen]
        if current or section in raw:
            merged[section] = current
    return merged, changes


# Defaults a new entry leaves out (the file stays short); a fact that differs is written.
_IMPLIED: dict[tuple[str, str], Any] = {("ecs", "container_insights"): True}
_DEFAULTS: dict[tuple[str, str], Any] = {
    ("ecs", "container_insights"): True,
    ("rds", "engine"): "postgres", ("rds", "replica"): False, ("rds", "storage_autoscaling"): False,
    ("elasticache", "engine"): "redis", ("elasticache", "shards"): 1, ("elasticache", "replicas_per_shard"): 0,
    ("elasticache", "cluster_mode"): False, ("elasticache", "vcpus"): 2,
}  # fmt: skip


def unalarmed(config: EnvironmentConfig, found: Found) -> list[str]:
    """The account's resources that no alarm of the config watches."""
    watched: set[tuple[str, ...]] = set()
    for spec in plan_alarms(config):
        dims = dict(spec.dimensions)
        if "DBInstanceIdentifier" in dims:
            watched.add(("rds", dims["DBInstanceIdentifier"]))
        if "CacheClusterId" in dims:
            watched.add(("elasticache", dims["CacheClusterId"]))
        if "ServiceName" in dims:
            watched.add(("ecs", dims["ClusterName"], dims["ServiceName"]))
    missing = [f"rds {e['id']}" for e in found.rds if ("rds", e["id"]) not in watched]
    for entry in found.elasticache:
        try:
            ids = CacheCluster.model_validate(entry).cache_cluster_ids
        except ValueError:
            ids = [entry["id"]]
        if not any(("elasticache", i) in watched for i in ids):
            missing.append(f"elasticache {entry['id']}")
    missing += [
        f"ecs {e['cluster']}/{e['service']}" for e in found.ecs if ("ecs", e["cluster"], e["service"]) not in watched
    ]
    return missing + found.unsupported


def dumps(config: dict[str, Any]) -> str:
    """The shipped configs' layout: one key a line, one resource a line."""
    lines = []
    for key, value in config.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join(f"    {json.dumps(v, ensure_ascii=False)}" for v in value)
            text = f"[\n{items}\n  ]"
        elif isinstance(value, dict) and len(json.dumps(value)) > 100:
            inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items())
            text = f"{{\n{inner}\n  }}"
        else:
            text = json.dumps(value, ensure_ascii=False)
        lines.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _skeleton(env: str, account: str, region: str) -> dict[str, Any]:
    slack = {"slack": [f"alerting/{env}/slack-alerts"]}
    return {
        "name": env,
        "account": account,
        "region": region,
        "runbook_base_url": "https://github.com/example-org/alert-forwarding/blob/main/docs/runbooks",
        "topics": {
            "critical": {"pagerduty": f"alerting/{env}/pagerduty", **slack},
            "warning": slack,
            "slo": slack,
            "infrastructure": slack,
        },
    }


def _session(region: str, profile: str | None) -> Any:
    import boto3
    import botocore.exceptions

    try:
        return boto3.Session(region_name=region, profile_name=profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise InventoryError(f"--profile: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.inventory",
        description="Read RDS, Aurora, ElastiCache and ECS resources from an account into config/ENV.json (hand-set "
        "topics, overrides and other fields kept) and name the resources that have no alarm. Without --write it "
        "only shows what would change.",
    )
    parser.add_argument("--env", required=True, help="the environment: its file is config/ENV.json (created if new)")
    parser.add_argument("--region", help="the region to read (default: the config's region; required for a new env)")
    parser.add_argument("--write", action="store_true", help="write the merged config (default: show changes only)")
    parser.add_argument("--profile", help="the AWS profile to read with (default: the usual credential chain)")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="where ENV.json lives (default config/)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (InventoryError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import botocore.exceptions

    path: Path = args.config_dir / f"{args.env}.json"
    existing = load_config(args.env, args.config_dir) if path.is_file() else None
    region = args.region or (existing.region if existing else None)
    if region is None:
        raise InventoryError(f"--region: config/{args.env}.json does not exist yet; name the region to read")
    if existing is not None and existing.region != region:
        raise InventoryError(f"--region {region}: config/{path.name} is for {existing.region}")
    session = _session(region, args.profile)
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        if existing is not None and existing.account != account:
            raise InventoryError(
                f"these credentials are for account {account}; config/{path.name} is {existing.account}"
            )
        print(f"reading account {account}, {region} ...", file=sys.stderr, flush=True)
        found = read_account(session)
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise InventoryError("no AWS credentials: set AWS_PROFILE (or --profile) or AWS_ACCESS_KEY_ID") from None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise InventoryError(f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise InventoryError(str(exc)) from None
    raw: dict[str, Any] = (
        json.loads(path.read_text(encoding="utf-8")) if existing is not None else _skeleton(args.env, account, region)
    )
    merged, changes = merge(raw, found)
    with tempfile.TemporaryDirectory() as scratch:  # validated exactly as synth will read it
        (Path(scratch) / path.name).write_text(dumps(merged), encoding="utf-8")
        try:
            config = load_config(args.env, Path(scratch))
        except ConfigError as exc:
            raise InventoryError(f"the merged config would not validate: {exc}") from None
    print(f"found: {len(found.rds)} RDS instances, {len(found.elasticache)} ElastiCache clusters, "
          f"{len(found.ecs)} ECS services")  # fmt: skip
    for line in changes:
        print(line)
    if not changes:
        print(f"config/{path.name} is up to date")
    for note in found.notes:
        print(f"note: {note}")
    for cluster in found.no_container_insights:
        print(f"note: ecs cluster {cluster}: Container Insights is off, so its services get container_insights: "
              "false (no running-task alarm); turn it on (aws ecs update-cluster-settings --cluster "
              f"{cluster} --settings name=containerInsights,value=enabled) and run this again")  # fmt: skip
    # What has no alarm today (the file as it is); what this run adds is alarmed after the next deploy.
    current = existing or EnvironmentConfig.model_validate(_skeleton(args.env, account, region))
    still = set(unalarmed(config, found))
    for line in unalarmed(current, found):
        later = " (added: alarmed after make deploy)" if args.write and line not in still else ""
        print(f"no alarm: {line}{later}")
    if args.write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(merged), encoding="utf-8")
        new = "created" if existing is None else "updated"
        print(f"{new} config/{path.name} ({len(config.rds)} RDS, {len(config.elasticache)} ElastiCache, "
              f"{len(config.ecs)} ECS); review it, then make synth ENV={args.env}")  # fmt: skip
        if existing is None:
            print("new environment: set runbook_base_url and the topics' destinations before deploying")
    elif changes:
        print("(nothing written: --write to write)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
