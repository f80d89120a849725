"""tools.inventory under moto: an account's RDS, Aurora, ElastiCache and ECS resources become config entries; a
file's hand-set fields survive; resources without alarms are named; no credentials is one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.config import load_config
from tools.inventory import default_max_connections, instance_class, main

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        rds = boto3.client("rds", region_name=REGION)
        rds.create_db_parameter_group(DBParameterGroupName="orders-pg", DBParameterGroupFamily="postgres16",
                                      Description="orders")  # fmt: skip
        rds.modify_db_parameter_group(
            DBParameterGroupName="orders-pg",
            Parameters=[{"ParameterName": "max_connections", "ParameterValue": "800", "ApplyMethod": "pending-reboot"}],
        )
        rds.create_db_instance(DBInstanceIdentifier="orders-db", Engine="postgres", DBInstanceClass="db.r6g.large",
                               AllocatedStorage=100, MasterUsername="admin", MasterUserPassword="password123",
                               DBParameterGroupName="orders-pg")  # fmt: skip
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier="orders-db-replica", SourceDBInstanceIdentifier="orders-db",
            DBInstanceClass="db.r6g.large",
        )  # fmt: skip
        rds.create_db_instance(DBInstanceIdentifier="analytics", Engine="mysql", DBInstanceClass="db.m6g.xlarge",
                               AllocatedStorage=200, MaxAllocatedStorage=1000, MasterUsername="admin",
                               MasterUserPassword="password123")  # fmt: skip
        rds.create_db_cluster(DBClusterIdentifier="billing", Engine="aurora-postgresql", MasterUsername="admin",
                              MasterUserPassword="password123")  # fmt: skip
        for number in (1, 2):
            rds.create_db_instance(DBInstanceIdentifier=f"billing-{number}", DBClusterIdentifier="billing",
                                   Engine="aurora-postgresql", DBInstanceClass="db.r6g.xlarge")  # fmt: skip
        cache = boto3.client("elasticache", region_name=REGION)
        cache.create_replication_group(ReplicationGroupId="sessions", ReplicationGroupDescription="sessions",
                                       Engine="valkey", CacheNodeType="cache.r7g.large", NumNodeGroups=1,
                                       ReplicasPerNodeGroup=2)  # fmt: skip
        cache.create_replication_group(ReplicationGroupId="limits", ReplicationGroupDescription="limits",
                                       Engine="redis", CacheNodeType="cache.m6g.xlarge", NumNodeGroups=2,
                                       ReplicasPerNodeGroup=1, ClusterMode="enabled")  # fmt: skip
        cache.create_cache_cluster(CacheClusterId="page-cache", Engine="memcached", CacheNodeType="cache.t3.medium",
                                   NumCacheNodes=2)  # fmt: skip
        cache.create_cache_cluster(
            CacheClusterId="legacy", Engine="redis", CacheNodeType="cache.t3.small", NumCacheNodes=1
        )  # a standalone Redis OSS cluster: the config cannot describe it
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="web", settings=[{"name": "containerInsights", "value": "enabled"}])
        ecs.create_cluster(clusterName="jobs")
        ecs.register_task_definition(family="app", containerDefinitions=[{"name": "a", "image": "x", "memory": 512}])
        ecs.create_service(cluster="web", serviceName="api", taskDefinition="app", desiredCount=3)
        ecs.create_service(cluster="jobs", serviceName="worker", taskDefinition="app", desiredCount=1)
        yield


def _existing(directory: Path, **fields: Any) -> Path:
    config = {
        "$schema": "./schema.json",
        "name": "shop",
        "account": ACCOUNT,
        "region": REGION,
        "tags": {"team": "payments"},
        "runbook_base_url": "https://example.com/runbooks",
        "topics": {
            "critical": {"pagerduty": "alerting/shop/pagerduty"},
            "warning": {"slack": ["alerting/shop/slack"]},
            "slo": {"slack": ["alerting/shop/slack"]},
            "infrastructure": {"slack": ["alerting/shop/slack"]},
        },
        "defaults": {"rds-cpu-utilization": {"topic": "warning"}},
        **fields,
    }
    path = directory / "shop.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _load_raw(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_inventory_instance_class_gives_vcpus_and_memory() -> None:
    assert instance_class("db.r6g.large") == (2, 16.0)
    assert instance_class("db.m5.xlarge") == (4, 16.0)
    assert instance_class("db.t3.medium") == (2, 4.0)
    assert instance_class("db.x2g.2xlarge") == (8, 128.0)
    assert instance_class("cache.r7g.large") == (2, 16.0)
    assert instance_class("cache.t2.micro") == (1, 0.5)
    assert instance_class("db.serverless") is None
    assert instance_class("db.r6g.huge") is None


def test_inventory_default_max_connections_follows_the_engine_formula() -> None:
    assert default_max_connections("postgres", 16) == 1802  # 16 GiB / 9,531,392 bytes
    assert default_max_connections("postgres", 512) == 5000  # capped
    assert default_max_connections("mysql", 16) == 1365  # 16 GiB / 12,582,880 bytes
    assert 1000 <= default_max_connections("aurora-mysql", 16) < 1100  # AWS lists 1,000 for db.r5.large


@pytest.mark.usefixtures("aws")
def test_inventory_writes_a_new_environment_from_the_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--env", "shop", "--region", REGION, "--config-dir", str(tmp_path), "--write"]) == 0
    config = load_config("shop", tmp_path)
    assert config.account == ACCOUNT and config.region == REGION
    rds = {r.id: r for r in config.rds}
    assert rds["orders-db"].max_connections == 800  # the custom parameter group's number
    assert (rds["orders-db"].memory_gib, rds["orders-db"].replica, rds["orders-db"].storage_autoscaling) == (
        16.0, False, False)  # fmt: skip
    assert rds["orders-db-replica"].replica
    assert rds["analytics"].engine == "mysql" and rds["analytics"].storage_autoscaling
    assert rds["analytics"].max_connections == default_max_connections("mysql", 16.0)
    assert rds["billing-1"].aurora and not rds["billing-1"].replica and rds["billing-2"].replica
    caches = {c.id: c for c in config.elasticache}
    assert (caches["sessions"].engine, caches["sessions"].replicas_per_shard, caches["sessions"].shards) == (
        "valkey", 2, 1)  # fmt: skip
    assert caches["sessions"].cache_cluster_ids == ["sessions-001", "sessions-002", "sessions-003"]
    assert caches["limits"].cluster_mode and caches["limits"].shards == 2 and caches["limits"].vcpus == 4
    assert caches["page-cache"].engine == "memcached" and caches["page-cache"].nodes == ["0001", "0002"]
    assert {(s.cluster, s.service, s.container_insights) for s in config.ecs} == {
        ("web", "api", True), ("jobs", "worker", False)}  # fmt: skip
    assert {"cluster": "web", "service": "api"} in _load_raw(tmp_path / "shop.json")["ecs"]  # true is the default
    out = capsys.readouterr().out
    # A new file has no resources yet: everything is unwatched today, and alarmed after the deploy but the
    # standalone Redis OSS cluster, which the config cannot describe.
    assert "no alarm: rds orders-db (added: alarmed after make deploy)" in out
    legacy = next(line for line in out.splitlines() if line.startswith("no alarm: elasticache legacy"))
    assert "standalone redis cluster" in legacy and "added" not in legacy
    assert "ecs cluster jobs: Container Insights is off, so its services get container_insights: false" in out
    assert "ecs cluster web:" not in out
    assert "created config/shop.json" in out


@pytest.mark.usefixtures("aws")
def test_inventory_keeps_hand_set_fields_and_unrelated_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _existing(
        tmp_path,
        rds=[
            # memory_gib was typed wrong; topic, overrides and max_connections are hand-set.
            {"id": "analytics", "engine": "mysql", "allocated_storage_gib": 200, "max_connections": 3000,
             "memory_gib": 4, "topic": "warning", "overrides": {"rds-cpu-utilization": {"threshold": 95}}},
            {"id": "retired-db", "allocated_storage_gib": 10, "max_connections": 100, "memory_gib": 2},
        ],
        ecs=[{"cluster": "web", "service": "api", "topic": "warning"},
             {"cluster": "jobs", "service": "worker", "container_insights": True}],
    )  # fmt: skip
    assert main(["--env", "shop", "--config-dir", str(tmp_path), "--write"]) == 0
    raw = _load_raw(path)
    assert raw["$schema"] == "./schema.json" and raw["tags"] == {"team": "payments"}
    assert raw["defaults"] == {"rds-cpu-utilization": {"topic": "warning"}}
    assert list(raw)[:2] == ["$schema", "name"]  # the file's order is kept
    analytics = next(r for r in raw["rds"] if r["id"] == "analytics")
    assert analytics["memory_gib"] == 16.0  # the account's class wins over a typed fact
    assert analytics["max_connections"] == 3000  # a hand-set limit wins over the default formula
    assert analytics["topic"] == "warning" and analytics["overrides"] == {"rds-cpu-utilization": {"threshold": 95}}
    assert analytics["storage_autoscaling"] is True
    assert any(r["id"] == "retired-db" for r in raw["rds"])  # never deleted
    assert raw["ecs"][0] == {"cluster": "web", "service": "api", "topic": "warning"}
    assert raw["ecs"][1] == {"cluster": "jobs", "service": "worker", "container_insights": False}
    out = capsys.readouterr().out
    assert "~ rds analytics: memory_gib 4 -> 16.0" in out
    assert "? rds retired-db: in the file, not found in the account (kept)" in out
    assert "+ elasticache sessions: added" in out
    load_config("shop", tmp_path)  # still a valid config


@pytest.mark.usefixtures("aws")
def test_inventory_names_the_resources_no_alarm_watches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _existing(
        tmp_path,
        rds=[{"id": "orders-db", "allocated_storage_gib": 100, "max_connections": 800, "memory_gib": 16}],
        elasticache=[{"id": "sessions", "engine": "valkey", "replicas_per_shard": 2}],
        ecs=[{"cluster": "web", "service": "api", "overrides": {k: {"enabled": False} for k in (
            "ecs-cpu-utilization", "ecs-memory-utilization", "ecs-running-task-count")}}],
    )  # fmt: skip
    assert main(["--env", "shop", "--config-dir", str(tmp_path)]) == 0
    unwatched = {line.removeprefix("no alarm: ") for line in capsys.readouterr().out.splitlines()
                 if line.startswith("no alarm: ")}  # fmt: skip
    assert unwatched == {
        "rds orders-db-replica", "rds analytics", "rds billing-1", "rds billing-2", "elasticache limits",
        "elasticache page-cache", "ecs web/api", "ecs jobs/worker",
        "elasticache legacy: a standalone redis cluster (no replication group); the config describes replication "
        "groups",
    }  # fmt: skip


@pytest.mark.usefixtures("aws")
def test_inventory_without_write_leaves_the_file_as_it_was(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _existing(tmp_path)
    before = path.read_bytes()
    assert main(["--env", "shop", "--config-dir", str(tmp_path)]) == 0
    assert path.read_bytes() == before
    assert "(nothing written: --write to write)" in capsys.readouterr().out


@pytest.mark.usefixtures("aws")
def test_inventory_refuses_another_region_or_account_than_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(tmp_path)
    assert main(["--env", "shop", "--region", "us-east-1", "--config-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "error: --region us-east-1: config/shop.json is for eu-west-1\n"
    _existing(tmp_path, account="210987654321")
    assert main(["--env", "shop", "--config-dir", str(tmp_path)]) == 1
    assert "these credentials are for account 123456789012" in capsys.readouterr().err


def test_inventory_without_credentials_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["--env", "shop", "--region", REGION, "--config-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS credentials") and err.count("\n") == 1


def test_inventory_help_documents_every_option_and_unknown_ones_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--env", "--region", "--write", "--profile", "--config-dir"):
        assert option in text
    with pytest.raises(SystemExit) as exit_:
        main(["--env", "shop", "--delete-everything"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --delete-everything" in capsys.readouterr().err
