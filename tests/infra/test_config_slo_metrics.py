"""An SLO's CloudWatch metrics are checked against the metric catalogue when the config loads: a dimension set AWS
never publishes for that metric (a load balancer's own 5xx per target group, a REST API's metric by an HTTP API's
id) stops synth with one line naming the field (the SLO would read a ratio of 0 for ever)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
DEV: dict[str, Any] = json.loads((ROOT / "config" / "dev.json").read_text())
LB = "app/dev-web/50dc6c495c0c9188"
TG = "targetgroup/dev-web/73e2d6bc24d8a067"


def _metric(namespace: str, metric: str, **dimensions: str) -> dict[str, Any]:
    return {"namespace": namespace, "metric": metric, "dimensions": dimensions}


def _with_sli(tmp_path: Path, sli: dict[str, Any]) -> Path:
    body = copy.deepcopy(DEV)
    body.pop("name", None)
    body["slos"] = [{**body["slos"][0], "sli": sli}]
    (tmp_path / "broken.json").write_text(json.dumps(body))
    return tmp_path


def _error(tmp_path: Path, sli: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config("broken", _with_sli(tmp_path, sli))
    message = str(raised.value)
    assert "\n" not in message and message.startswith("config/broken.json: slos[0].sli."), message
    return message


def _alb_sli(elb: dict[str, str], total: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "bad": {
            "expression": "target + elb",
            "metrics": {
                "target": _metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", LoadBalancer=LB),
                "elb": _metric("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", **elb),
            },
        },
        "total": _metric("AWS/ApplicationELB", "RequestCount", **(total or {"LoadBalancer": LB})),
    }


def test_config_slo_load_balancer_5xx_per_target_group_is_refused(tmp_path: Path) -> None:
    """The load balancer's own 502/503 are never per target group: this SLO would never see them."""
    message = _error(tmp_path, _alb_sli({"LoadBalancer": LB, "TargetGroup": TG}))
    assert message.startswith(
        "config/broken.json: slos[0].sli.bad.metrics.elb: AWS/ApplicationELB HTTPCode_ELB_5XX_Count"
    )
    assert "published with dimensions {LoadBalancer} | {AvailabilityZone, LoadBalancer}," in message
    assert "not {LoadBalancer, TargetGroup}" in message and "no target group" in message


def test_config_slo_alb_counts_by_target_group_alone_are_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, _alb_sli({"LoadBalancer": LB}, {"TargetGroup": TG}))
    assert message.startswith("config/broken.json: slos[0].sli.total: AWS/ApplicationELB RequestCount")
    assert "not {TargetGroup}" in message


def test_config_slo_target_group_arn_instead_of_its_metric_name_is_refused(tmp_path: Path) -> None:
    arn = f"arn:aws:elasticloadbalancing:eu-west-1:111111111111:{TG}"
    message = _error(tmp_path, _alb_sli({"LoadBalancer": LB}, {"LoadBalancer": LB, "TargetGroup": arn}))
    assert "slos[0].sli.total: TargetGroup 'arn:aws:" in message and "targetgroup/<name>/<id>" in message


@pytest.mark.parametrize(
    ("bad", "total", "field", "said"),
    [
        (  # a REST API's error count read by an HTTP API's id
            _metric("AWS/ApiGateway", "5XXError", ApiId="a1b2c3d4e5", Stage="dev"),
            _metric("AWS/ApiGateway", "Count", ApiId="a1b2c3d4e5", Stage="dev"),
            "bad",
            "an HTTP API (ApiId) publishes 5xx and 4xx instead",
        ),
        (  # an HTTP API's error count read by a REST API's name
            _metric("AWS/ApiGateway", "5xx", ApiName="orders", Stage="dev"),
            _metric("AWS/ApiGateway", "Count", ApiName="orders", Stage="dev"),
            "bad",
            "a REST API (ApiName) publishes 5XXError and 4XXError instead",
        ),
        (  # a REST API's method metrics need the stage too
            _metric("AWS/ApiGateway", "5XXError", ApiName="orders", Method="GET", Resource="/orders"),
            _metric("AWS/ApiGateway", "Count", ApiName="orders", Stage="dev"),
            "bad",
            "not {ApiName, Method, Resource}",
        ),
        (  # statistics still mean something at config time: a sum of response times is no count
            _metric("AWS/ApiGateway", "5XXError", ApiName="orders", Stage="dev"),
            {**_metric("AWS/ApplicationELB", "TargetResponseTime", LoadBalancer=LB), "statistic": "Sum"},
            "total",
            "TargetResponseTime (Seconds) with statistic 'Sum' means nothing",
        ),
    ],
)
def test_config_slo_api_gateway_metric_of_the_other_api_kind_is_refused(
    tmp_path: Path, bad: dict[str, Any], total: dict[str, Any], field: str, said: str
) -> None:
    message = _error(tmp_path, {"bad": bad, "total": total})
    assert message.startswith(f"config/broken.json: slos[0].sli.{field}: "), message
    assert said in message


@pytest.mark.parametrize(
    "sli",
    [
        _alb_sli({"LoadBalancer": LB}),
        _alb_sli(
            {"AvailabilityZone": "eu-west-1a", "LoadBalancer": LB},
            {"AvailabilityZone": "eu-west-1a", "LoadBalancer": LB},
        ),
        {  # the targets' errors of one target group
            "bad": _metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", LoadBalancer=LB, TargetGroup=TG),
            "total": _metric("AWS/ApplicationELB", "RequestCount", LoadBalancer=LB, TargetGroup=TG),
        },
        {  # an HTTP API, per stage and per route (detailed metrics)
            "bad": _metric("AWS/ApiGateway", "5xx", ApiId="a1b2c3d4e5", Stage="$default"),
            "total": _metric("AWS/ApiGateway", "Count", ApiId="a1b2c3d4e5", Stage="$default"),
        },
        {
            "bad": _metric(
                "AWS/ApiGateway", "5xx", ApiId="a1b2c3d4e5", Method="GET", Resource="/orders", Stage="$default"
            ),
            "total": _metric("AWS/ApiGateway", "Count", ApiId="a1b2c3d4e5", Route="GET /orders", Stage="$default"),
        },
        {  # a REST API's method (detailed metrics)
            "bad": _metric(
                "AWS/ApiGateway", "5XXError", ApiName="orders", Method="GET", Resource="/orders", Stage="dev"
            ),
            "total": _metric(
                "AWS/ApiGateway", "Count", ApiName="orders", Method="GET", Resource="/orders", Stage="dev"
            ),
        },
        {"latency": {**_metric("AWS/ApiGateway", "Latency", ApiId="a1b2c3d4e5", Stage="$default"), "threshold": 250}},
    ],
)
def test_config_slo_metrics_aws_publishes_are_accepted(tmp_path: Path, sli: dict[str, Any]) -> None:
    load_config("broken", _with_sli(tmp_path, sli))
