"""Prometheus' own tool on the generated SLO rules: `promtool check rules` on every environment's file, and
`promtool test rules` on the unit tests in tests/integration/promtool/ (a 99.9 % SLO from a clean history: a total
outage pages within a minute, 15x within the hour, 6x within six hours, 2x tickets within three days and never
pages, 0.5x alerts on nothing), run against the shipped examples/prometheus/slo-rules-dev.yml.

`promtool` comes from Debian's `prometheus` package; `.ci/run` installs it. Under CI a missing binary fails the
run; elsewhere the tests skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertlib.models import Slo
from alertlib.slo import recognise
from infra.config import load_config
from tests.integration.binaries import require
from tools.slo_rules import render_rules

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "promtool"
BINARY = shutil.which("promtool")
MISSING = "promtool is not installed (apt-get install prometheus; .ci/run does this)"


@pytest.fixture(autouse=True)
def _binary_or_skip_outside_ci() -> None:
    """Under CI a missing binary fails the run (the test cannot vanish); elsewhere the test skips, saying why."""
    require(BINARY, MISSING)


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert BINARY is not None
    return subprocess.run([BINARY, *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=300)


@pytest.mark.parametrize("env", sorted(p.stem for p in (ROOT / "config").glob("*.json") if p.stem != "schema"))
def test_promtool_checks_the_generated_rules(tmp_path: Path, env: str) -> None:
    text, _ = render_rules(env, list(load_config(env).slos))
    rules = tmp_path / f"slo-rules-{env}.yml"
    rules.write_text(text)
    result = _promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_checks_the_shipped_example() -> None:
    result = _promtool("check", "rules", str(ROOT / "examples" / "prometheus" / "slo-rules-dev.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fixture", ["slo_pages_test.yml", "slo_tickets_test.yml"])
def test_promtool_unit_tests_of_the_burn_rates(fixture: str) -> None:
    result = _promtool("test", "rules", fixture, cwd=FIXTURES)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "SUCCESS" in result.stdout


def test_promtool_fixture_alerts_are_what_the_forwarders_recognise() -> None:
    """The alerts promtool proved the rules send (labels and rendered annotations) read back as the SLO."""
    body: dict[str, Any] = yaml.safe_load((FIXTURES / "slo_pages_test.yml").read_text())
    cases = [case for t in body["tests"] for case in t.get("alert_rule_test", [])]
    alerts = [a for case in cases if case["alertname"] == "SLOErrorBudgetBurn" for a in case["exp_alerts"]]
    assert len(alerts) == 2
    page = recognise(alerts[0]["exp_annotations"]["description"], alerts[0]["exp_labels"], alerts[0]["exp_annotations"])
    assert page == Slo(
        name="api-availability",
        objective=99.9,
        window="1h/5m",
        burn_rate=14.4,
        observed_burn_rate=16.67,
        budget_left=-177.0,  # 1 minute of errors over the 6 h of history the fixture has
        action="page",
    )
    ticket = recognise("", alerts[1]["exp_labels"], alerts[1]["exp_annotations"])
    assert ticket is not None and (ticket.window, ticket.action, ticket.observed_burn_rate) == ("3d/6h", "ticket", 2.77)
    (missing,) = [a for case in cases if case["alertname"] == "SLOSignalMissing" for a in case["exp_alerts"]]
    assert recognise(
        missing["exp_annotations"]["description"], missing["exp_labels"], missing["exp_annotations"]
    ) == Slo(name="api-latency")


@pytest.mark.parametrize(
    ("action", "severity", "receiver"), [("page", "critical", "pager-webhook"), ("ticket", "warning", "warnings-sns")]
)
def test_alertmanager_example_routes_slo_alerts(tmp_path: Path, action: str, severity: str, receiver: str) -> None:
    """examples/alertmanager.yml sends the rules' pages to the pager and their tickets to the warnings topic."""
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and amtool (from prometheus-alertmanager) is not installed")
        pytest.skip("amtool (from prometheus-alertmanager) is not installed")
    token = tmp_path / "token"
    token.write_text("t\n")
    config = tmp_path / "alertmanager.yml"
    example = (ROOT / "examples" / "alertmanager.yml").read_text()
    config.write_text(example.replace("/etc/alertmanager/secrets/forwarder-token", str(token)))
    labels = ["alertname=SLOErrorBudgetBurn", f"severity={severity}", "slo=api-availability", f"slo_action={action}"]
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={receiver}", *labels],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
