"""The environment config: validated into a typed model; a wrong file fails with one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.alarm_specs import plan_alarms
from infra.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
VALID = json.loads((ROOT / "config" / "dev.json").read_text())


def _write(tmp_path: Path, body: object, name: str = "broken") -> Path:
    (tmp_path / f"{name}.json").write_text(json.dumps(body) if not isinstance(body, str) else body)
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"account": "12345"}, "config/broken.json: account: String should match pattern"),
        ({"region": "Ireland"}, "config/broken.json: region: String should match pattern"),
        (
            {"rds": [{"id": "db", "allocated_storage_gib": 0, "max_connections": 10, "memory_gib": 1}]},
            "config/broken.json: rds[0].allocated_storage_gib: Input should be greater than 0",
        ),
        ({"ecs": [{"cluster": "c"}]}, "config/broken.json: ecs[0].service: Field required"),
        ({"topics": {"critical": {"pagerduty": "x"}}}, "config/broken.json: topics: every topic needs routing"),
        ({"colour": "blue"}, "config/broken.json: colour: Extra inputs are not permitted"),
        (
            {"forwarders": {"log_retention_days": 8}},
            "config/broken.json: forwarders.log_retention_days: must be one of",
        ),
        (
            {"defaults": {"rds-cpu-utilization": {"period": 45}}},
            "defaults.rds-cpu-utilization.period: must be 10, 20, 30",
        ),
        ({"name": "other"}, "config/broken.json: name: must be 'broken'"),
        (
            {"elasticache": [{"id": "s", "node_ids": ["0001", "0002"], "replication": True}]},
            "config/broken.json: elasticache[0]: replication: replaced by replicas_per_shard",
        ),
        (
            {"elasticache": [{"id": "s", "engine": "valkey", "node_ids": ["0001", "0002"]}]},
            "config/broken.json: elasticache[0]: node_ids: Memcached only",
        ),
        (
            {"elasticache": [{"id": "s", "shards": 3, "replicas_per_shard": 1}]},
            "config/broken.json: elasticache[0]: shards: more than one shard needs cluster_mode: true",
        ),
        (
            {"elasticache": [{"id": "s", "replicas_per_shard": 6}]},
            "config/broken.json: elasticache[0].replicas_per_shard: Input should be less than or equal to 5",
        ),
        (
            {"elasticache": [{"id": "m", "engine": "memcached", "replicas_per_shard": 1}]},
            "elasticache[0]: shards, replicas_per_shard, cluster_mode: Redis OSS / Valkey only",
        ),
        (
            {"elasticache": [{"id": "m", "engine": "memcached", "node_ids": ["1"]}]},
            "elasticache[0]: node_ids: '1' is not a Memcached node id",
        ),
        (
            {"elasticache": [{"id": "s-", "engine": "redis"}]},
            "elasticache[0]: id: no two hyphens in a row and no hyphen at the end",
        ),
        (
            {"elasticache": [{"id": "s", "replicas_per_shard": 1}, {"id": "s-002", "engine": "memcached"}]},
            "elasticache: cluster ids, and the member ids AWS derives from them, must be unique",
        ),
    ],
)
def test_config_error_names_file_field_and_reason(tmp_path: Path, change: dict[str, object], message: str) -> None:
    body = {**VALID, **change}
    body.pop("name", None) if "name" not in change else None
    with pytest.raises(ConfigError) as caught:
        load_config("broken", _write(tmp_path, body))
    assert str(caught.value).startswith(message) or message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_config_not_json_and_unknown_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config/broken.json: not valid JSON"):
        load_config("broken", _write(tmp_path, "{nope"))
    with pytest.raises(ConfigError, match=r"config/missing.json: no such environment \(known: broken\)"):
        load_config("missing", tmp_path)


def test_synth_with_a_bad_environment_prints_one_line_and_no_stack_trace() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": "no-such-env"}), "CDK_OUTDIR": "/tmp/cdk-bad-env"}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("b'", "!!"))]
    assert lines == ["error: config/no-such-env.json: no such environment (known: dev, prod, scale)"]


def test_overrides_per_environment_and_per_resource() -> None:
    prod = {s.name: s for s in plan_alarms(load_config("prod"))}
    assert prod["prod-rds-billing-aurora-1-ReadLatency"].threshold == 0.05
    assert prod["prod-rds-orders-db-ReadLatency"].threshold == 0.02
    assert prod["prod-rds-orders-db-DatabaseConnections"].datapoints_to_alarm == 3
    assert "prod-elasticache-rate-limits-001-Evictions" not in prod
    assert "prod-rds-analytics-db-FreeStorageSpace" not in prod  # storage autoscaling
    assert "prod-rds-billing-aurora-1-FreeStorageSpace" not in prod  # Aurora storage grows by itself
    assert prod["prod-rds-billing-aurora-1-FreeableMemory"].threshold == round(128 * 1024**3 * 0.05)
    assert prod["prod-elasticache-page-cache-0001-CPUUtilization"].threshold == 90.0  # memcached
    assert "prod-elasticache-rate-limits-001-CPUUtilization" not in prod  # valkey on 8 vCPUs: EngineCPU only
    assert prod["prod-elasticache-sessions-001-CPUUtilization"].threshold == 45.0  # 90 / 2 vCPUs
    assert prod["prod-ecs-jobs-billing-worker-CPUUtilization"].topic == "warning"


def test_cache_members_follow_aws_member_naming() -> None:
    from infra.config import CacheCluster

    disabled = CacheCluster(id="sessions", replicas_per_shard=2)
    assert [(m.cluster_id, m.node_id, m.role) for m in disabled.members] == [
        ("sessions-001", "0001", "primary"),
        ("sessions-002", "0001", "replica"),
        ("sessions-003", "0001", "replica"),
    ]
    enabled = CacheCluster(id="rl", engine="valkey", cluster_mode=True, shards=2, replicas_per_shard=1)
    assert enabled.cache_cluster_ids == ["rl-0001-001", "rl-0001-002", "rl-0002-001", "rl-0002-002"]
    assert [m.shard for m in enabled.members] == ["0001", "0001", "0002", "0002"]
    memcached = CacheCluster(id="pages", engine="memcached", node_ids=["0001", "0002"])
    assert [(m.cluster_id, m.node_id, m.role) for m in memcached.members] == [
        ("pages", "0001", "node"),
        ("pages", "0002", "node"),
    ]


def test_cache_alarms_watch_members_and_replication_lag_only_replicas() -> None:
    prod = {s.name: s for s in plan_alarms(load_config("prod")) if s.service == "elasticache"}
    lag = sorted(name for name, spec in prod.items() if spec.metric == "ReplicationLag")
    assert lag == ["prod-elasticache-sessions-002-ReplicationLag", "prod-elasticache-sessions-003-ReplicationLag"]
    assert prod["prod-elasticache-sessions-002-ReplicationLag"].dimensions == (("CacheClusterId", "sessions-002"),)
    assert prod["prod-elasticache-sessions-003-CurrConnections"].dimensions == (
        ("CacheClusterId", "sessions-003"),
        ("CacheNodeId", "0001"),
    )
    assert prod["prod-elasticache-page-cache-0002-CPUUtilization"].dimensions == (
        ("CacheClusterId", "page-cache"),
        ("CacheNodeId", "0002"),
    )
    assert prod["prod-elasticache-page-cache-Evictions"].dimensions == (("CacheClusterId", "page-cache"),)
    assert not [s for s in prod.values() if ("CacheClusterId", "sessions") in s.dimensions]


def test_alarm_names_follow_env_service_resource_metric() -> None:
    for spec in plan_alarms(load_config("dev")):
        assert spec.name == f"dev-{spec.service}-{spec.resource}-{spec.metric}"
        assert len(spec.name) <= 255


def test_bundler_builds_for_the_functions_architecture() -> None:
    from aws_cdk import aws_lambda as lambda_

    from infra.bundling import FUNCTIONS, LocalPipBundler, source_hash

    assert LocalPipBundler(FUNCTIONS, "3.14", lambda_.Architecture.ARM_64).platform == "manylinux2014_aarch64"
    assert LocalPipBundler(FUNCTIONS, "3.14", lambda_.Architecture.X86_64).platform == "manylinux2014_x86_64"
    arm = source_hash(FUNCTIONS, "manylinux2014_aarch64", "3.14")
    assert arm == source_hash(FUNCTIONS, "manylinux2014_aarch64", "3.14")
    assert arm != source_hash(FUNCTIONS, "manylinux2014_x86_64", "3.14")


def test_every_alarm_kind_is_documented_with_a_runbook() -> None:
    kinds = {s.kind for env in ("dev", "prod", "scale") for s in plan_alarms(load_config(env))}
    table = (ROOT / "docs" / "alarms.md").read_text()
    own = {
        "forwarder-errors",
        "forwarder-throttles",
        "forwarder-dead-letter-queue",
        "forwarder-queue-age",
        "forwarder-queue-dead-letters",
        "endpoint-errors",
        "endpoint-throttles",
        "endpoint-5xx",
        "sns-redrive-failures",
        "eventbridge-failed-invocations",
        "dead-alarm-auditor-errors",
    }
    for kind in kinds | own:
        assert f"(runbooks/{kind}.md)" in table, kind
        assert (ROOT / "docs" / "runbooks" / f"{kind}.md").is_file(), kind


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"alertmanager_publisher_role_arn": "arn:aws:iam::111111111111:role/am"},
            "config/broken.json: alertmanager_publisher_role_arn: replaced by alertmanager_publisher",
        ),
        (
            {"alertmanager_publisher": {"trusted_principal_arns": []}},
            "config/broken.json: alertmanager_publisher: name trusted_principal_arns, or set eks_pod_identity",
        ),
        (
            {"alertmanager_publisher": {"trusted_principal_arns": ["alertmanager"]}},
            "config/broken.json: alertmanager_publisher.trusted_principal_arns[0]: String should match pattern",
        ),
        (
            {"eventbridge_alarms": {"critical": ["broken-rds-"]}},
            "config/broken.json: eventbridge_alarms.critical: 'broken-rds-' would match this project's own alarms",
        ),
        (
            {"eventbridge_alarms": {"pager": ["team-"]}},
            "config/broken.json: eventbridge_alarms.pager[key]: Input should be",
        ),
        (
            {"endpoint": {"reserved_concurrency": 0}},
            "config/broken.json: endpoint.reserved_concurrency: Input should be greater than or equal to 1",
        ),
    ],
)
def test_publisher_eventbridge_and_endpoint_settings_fail_with_one_clear_line(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    body = {k: v for k, v in {**VALID, **change}.items() if k != "name"}
    with pytest.raises(ConfigError) as caught:
        load_config("broken", _write(tmp_path, body))
    assert str(caught.value).startswith(message), str(caught.value)


def test_endpoint_concurrency_cap_can_be_turned_off(tmp_path: Path) -> None:
    body = {k: v for k, v in {**VALID, "endpoint": {"reserved_concurrency": None}}.items() if k != "name"}
    if "oncall" in body:  # the on-call endpoints reserve none either (tests/infra/test_oncall.py)
        body["oncall"] = {**body["oncall"], "slack_reserved_concurrency": None, "pagerduty_reserved_concurrency": None}
    assert load_config("broken", _write(tmp_path, body)).endpoint.reserved_concurrency is None
    assert load_config("dev").endpoint.reserved_concurrency == 5


SLO = VALID["slos"][0]


def _slo(**change: object) -> dict[str, object]:
    return {**SLO, **change}


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        (_slo(objective=100), "slos[0].objective: Input should be less than 100"),
        (_slo(objective="99.9"), "slos[0].objective: Input should be a valid number"),
        (_slo(objective=99.12345678), "slos[0].objective: at most 6 decimals"),
        (_slo(name="Checkout"), "slos[0].name: String should match pattern"),
        (_slo(period_days=0), "slos[0].period_days: Input should be greater than or equal to 1"),
        (_slo(runbook_url="http://wiki/x"), "slos[0].runbook_url: String should match pattern"),
        ({k: v for k, v in SLO.items() if k != "team"}, "slos[0].team: Field required"),
        (_slo(sli={"total": SLO["sli"]["total"]}), "slos[0].sli: give exactly one of good and bad"),
        (
            _slo(sli={"bad": SLO["sli"]["bad"], "good": SLO["sli"]["bad"], "total": SLO["sli"]["total"]}),
            "slos[0].sli: give exactly one of good and bad",
        ),
        (_slo(sli={"bad": SLO["sli"]["bad"]}), "slos[0].sli: total: required with good or bad"),
        (
            _slo(sli={"bad": {**SLO["sli"]["total"], "statistic": "Avg"}, "total": SLO["sli"]["total"]}),
            "slos[0].sli.bad.statistic: 'Avg' is not a CloudWatch statistic",
        ),
        (
            _slo(
                sli={
                    "bad": {"expression": "m1 + m2", "metrics": {"m1": SLO["sli"]["total"]}},
                    "total": SLO["sli"]["total"],
                }
            ),
            "slos[0].sli.bad: expression: m2 not among its metrics (m1)",
        ),
        (
            _slo(
                sli={
                    "bad": {"expression": "m1", "metrics": {"m1": SLO["sli"]["total"], "m2": SLO["sli"]["total"]}},
                    "total": SLO["sli"]["total"],
                }
            ),
            "slos[0].sli.bad: metrics: m2 not used by the expression",
        ),
        (
            _slo(sli={"latency": {"namespace": "AWS/ApplicationELB", "metric": "TargetResponseTime", "threshold": 0}}),
            "slos[0].sli.latency.threshold: Input should be greater than 0",
        ),
        (
            _slo(promql={"bad": "sum(rate(errors[5m]))", "total": "sum(rate(requests[{{window}}]))"}),
            "slos[0].promql: bad: must contain {{window}}",
        ),
        (
            _slo(windows=[{"action": "page", "long": "5m", "short": "1h", "burn_rate": 14.4}]),
            "slos[0].windows[0]: short: 1h must be shorter than long (5m)",
        ),
        (
            _slo(windows=[{"action": "page", "long": "8d", "short": "1h", "burn_rate": 1}]),
            "slos[0].windows[0].long: '8d' is longer than 7 days",
        ),
        (
            _slo(windows=[{"action": "pager", "long": "1h", "short": "5m", "burn_rate": 14.4}]),
            "slos[0].windows[0].action: Input should be 'page' or 'ticket'",
        ),
        (
            _slo(objective=90),
            "slos[0]: default window 1h/5m: burn rate 14.4 x error budget 10 % is an error ratio above 100 %",
        ),
        (_slo(period_days=2), "slos[0]: default window 3d/6h: long window 3d is longer than the period (2d)"),
        (
            _slo(windows=[{"action": "page", "long": "1h", "short": "5m", "burn_rate": 14.4}] * 2),
            "slos[0]: windows: each long/short pair once",
        ),
    ],
)
def test_config_slo_error_names_file_field_and_reason(tmp_path: Path, slo: dict[str, object], message: str) -> None:
    body = {**VALID, "slos": [slo]}
    body.pop("name")
    with pytest.raises(ConfigError) as caught:
        load_config("broken", _write(tmp_path, body))
    assert str(caught.value).startswith(f"config/broken.json: {message}"), str(caught.value)
    assert "\n" not in str(caught.value)


def test_config_slo_names_are_unique(tmp_path: Path) -> None:
    body = {**VALID, "slos": [SLO, SLO]}
    body.pop("name")
    with pytest.raises(ConfigError, match=r"^config/broken.json: slos: names must be unique$"):
        load_config("broken", _write(tmp_path, body))


def test_config_dev_and_prod_ship_availability_and_latency_slos() -> None:
    for env in ("dev", "prod"):
        slos = load_config(env).slos
        kinds = {"latency" if s.sli.latency else "availability" for s in slos}
        assert kinds == {"availability", "latency"}, env
        assert any(s.promql for s in slos) and any(s.promql is None for s in slos), env


def test_config_slo_error_ratio_as_metric_math() -> None:
    prod = {s.name: s for s in load_config("prod").slos}
    math = prod["checkout-availability"].cloudwatch_error_ratio()
    assert math.expression == "(bad_target + bad_elb) / (total_value)"
    assert sorted(math.metrics) == ["bad_elb", "bad_target", "total_value"]
    latency = prod["checkout-latency"].cloudwatch_error_ratio()
    assert latency.expression == "(total_value - good_value) / (total_value)"
    assert [latency.metrics[k].statistic for k in ("good_value", "total_value")] == ["TC(:0.5)", "SampleCount"]
    good = prod["orders-processed"].cloudwatch_error_ratio()
    assert good.expression == "((total_value) - (good_value)) / (total_value)"
