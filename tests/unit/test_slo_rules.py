"""tools.slo_rules: the Prometheus rules agree with the CloudWatch side (infra/slo.py: same windows, same thresholds,
same description line), SLOs without PromQL are skipped and named, and the shipped example is current."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import load_config
from infra.slo import ACTION_SEVERITY, WINDOWS, BurnWindow, SloDefinition, description_line, duration
from tools.slo_rules import ALERT, BUDGET_REMAINING, MISSING, main, ratio_metric, render_rules, rule_groups, to_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prometheus" / "slo-rules-dev.yml"
_PAIR = re.compile(
    r"^(?P<long>slo:sli_error:ratio_rate\w+)\{slo=\"(?P<slo>[^\"]+)\"\} >= (?P<limit>[0-9.e-]+)\nand\n"
    r"(?P<short>slo:sli_error:ratio_rate\w+)\{slo=\"(?P=slo)\"\} >= (?P=limit)$"
)


def _rules(env: str) -> tuple[list[SloDefinition], dict[str, Any]]:
    slos = list(load_config(env).slos)
    text, _ = render_rules(env, slos)
    return slos, yaml.safe_load(text)


def _alerts(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for g in body["groups"] for r in g["rules"] if r.get("alert") == ALERT and r["labels"]["slo"] == name]


def _records(body: dict[str, Any], name: str) -> dict[str, str]:
    return {
        r["record"]: r["expr"]
        for g in body["groups"]
        for r in g["rules"]
        if r.get("record") and r["labels"]["slo"] == name
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_slo_rules_agree_with_cloudwatch_windows_and_thresholds(env: str) -> None:
    slos, body = _rules(env)
    for slo in (s for s in slos if s.promql is not None):
        alerts = _alerts(body, slo.name)
        assert [a["labels"]["slo_window"] for a in alerts] == [w.label for w in slo.alert_windows]
        for alert, window in zip(alerts, slo.alert_windows, strict=True):
            match = _PAIR.match(alert["expr"])
            assert match, alert["expr"]
            assert match["long"] == ratio_metric(window.long) and match["short"] == ratio_metric(window.short)
            # the CloudWatch alarm's threshold (infra/slo.py, GreaterThanOrEqualToThreshold) is the rule's number
            assert float(match["limit"]) == slo.alarm_threshold(window)
            assert abs(float(match["limit"]) - window.burn_rate * slo.error_budget) < 1e-9
            assert alert["alert"] == ALERT
            assert alert["labels"]["severity"] == ACTION_SEVERITY[window.action]
            assert alert["labels"]["slo_action"] == window.action
            assert alert["annotations"]["description"].splitlines()[0] == description_line(slo, window)
            assert alert["annotations"]["runbook_url"] == slo.runbook_url
            assert alert["annotations"].get("dashboard_url") == slo.dashboard_url
        records = _records(body, slo.name)
        for window in slo.alert_windows:
            for span in (window.long, window.short):
                assert f"[{span}]" in records[ratio_metric(span)]
                assert "{{window}}" not in records[ratio_metric(span)]
        period = duration(slo.period_days * 1440)
        assert f"[{period}]" in records[ratio_metric(period)]
        assert records[BUDGET_REMAINING] == f'1 - {ratio_metric(period)}{{slo="{slo.name}"}} / {slo.error_budget!r}'


def test_slo_rules_follow_a_changed_window_table() -> None:
    slo = load_config("dev").slos[0]
    table = [BurnWindow(action="page", long="2h", short="10m", burn_rate=10)]
    changed = slo.model_copy(update={"windows": table})
    body = yaml.safe_load(render_rules("dev", [changed])[0])
    alerts = _alerts(body, slo.name)
    assert [a["labels"]["slo_window"] for a in alerts] == ["2h/10m"]
    assert "0.009999999999" in alerts[0]["expr"]
    assert set(_records(body, slo.name)) == {
        ratio_metric("2h"),
        ratio_metric("10m"),
        ratio_metric("30d"),
        BUDGET_REMAINING,
    }
    assert slo.alert_windows == WINDOWS


def test_slo_rules_skip_slos_without_promql_and_say_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    assert main(["--env", "dev", "--out", str(out)]) == 0
    assert capsys.readouterr().err == (
        "note: orders-gateway-errors has no promql: CloudWatch only, no Prometheus rules\n"
    )
    text = out.read_text()
    assert "# Skipped (no promql, CloudWatch only): orders-gateway-errors" in text
    assert "orders-gateway-errors" not in "".join(text.splitlines(keepends=True)[3:])


def test_slo_rules_bad_environment_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: config/nope.json: no such environment")


def test_slo_rules_example_is_current() -> None:
    text, _ = render_rules("dev", list(load_config("dev").slos))
    assert EXAMPLE.read_text() == text, "regenerate: python -m tools.slo_rules --env dev --out " + str(
        EXAMPLE.relative_to(ROOT)
    )


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'quote " and \\ back',
        "  leading",
        "trailing ",
        "tab\there",
        "a\n  b",
        "ünï\u2028",
        "#x",
        "- y",
        "{{ $value }}",
    ],
)
def test_slo_rules_yaml_holds_any_text_as_written(text: str) -> None:
    groups = [{"name": "g", "rules": [{"record": "r", "expr": text, "labels": {"slo": text}}]}]
    assert yaml.safe_load("\n".join(to_yaml(groups))) == {"groups": groups}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_slo_rules_file_is_the_rule_groups(env: str) -> None:
    slos = list(load_config(env).slos)
    assert yaml.safe_load(render_rules(env, slos)[0]) == {
        "groups": [g for s in slos if s.promql is not None for g in rule_groups(s)]
    }


def test_slo_rules_raise_a_ticket_when_the_sli_returns_nothing() -> None:
    slos, body = _rules("dev")
    for slo in (s for s in slos if s.promql is not None):
        (missing,) = [
            r
            for g in body["groups"]
            for r in g["rules"]
            if r.get("alert") == MISSING and r["labels"]["slo"] == slo.name
        ]
        assert missing["expr"] == "absent(\n" + slo.promql.total.replace("{{window}}", "1h") + "\n)"
        assert missing["labels"]["severity"] == "warning" and missing["for"] == "15m"
