"""A real Prometheus Alertmanager (Debian's package) posting to the local pipeline with a bearer token.

`.ci/run` installs `prometheus-alertmanager`; where it cannot be installed, this test is skipped and says why (a
failure under CI). The `alertmanager` fixture (conftest.py) stops every process it started, whatever happens.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.binaries import AMTOOL, RealAlertmanager, require, wait_for
from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn

CONFIG = """
route:
  receiver: forwarders
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: forwarders
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
"""


@pytest.fixture
def stack(
    tmp_path: Path, alertmanager: Callable[[str], RealAlertmanager]
) -> Iterator[tuple[RealAlertmanager, StandIn, StandIn]]:
    with StandIn("pagerduty") as pagerduty, StandIn("slack") as slack, LocalPipeline(
        port=free_port(), pagerduty_url=pagerduty.url, slack_url=slack.url, webhook_token="am-t0ken-0123456789",
        say=lambda line: None,
    ) as pipeline:  # fmt: skip
        token_file = tmp_path / "token"
        token_file.write_text("am-t0ken-0123456789\n")
        am = alertmanager(CONFIG.format(url=pipeline.url, token_file=token_file))
        try:
            yield am, pagerduty, slack
        finally:
            am.stop()  # before the pipeline it posts to


def test_real_alertmanager_pages_and_resolves(stack: tuple[RealAlertmanager, StandIn, StandIn]) -> None:
    am, pagerduty, slack = stack
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1:9100"},
        "annotations": {"summary": "Disk 97% full on db-1", "runbook_url": "https://runbooks.example.com/disk"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
    }
    am.api("/api/v2/alerts", [alert])
    assert wait_for(lambda: any(r.body["event_action"] == "trigger" for r in pagerduty.accepted())), "no trigger"
    assert wait_for(lambda: len(slack.accepted()) >= 1), "no Slack message"
    trigger = next(r.body for r in pagerduty.accepted() if r.body["event_action"] == "trigger")
    assert trigger["payload"]["summary"].startswith("[FIRING:1] DiskFull (dev): Disk 97% full on db-1")
    assert {"href": "https://runbooks.example.com/disk", "text": "Runbook"} in trigger["links"]
    assert "FIRING" in slack.accepted()[0].body["blocks"][0]["text"]["text"]

    am.api("/api/v2/alerts", [{**alert, "endsAt": (now - timedelta(seconds=1)).isoformat()}])
    assert wait_for(lambda: any(r.body["event_action"] == "resolve" for r in pagerduty.accepted())), "no resolve"
    resolve = next(r.body for r in pagerduty.accepted() if r.body["event_action"] == "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"]
    assert wait_for(lambda: any("RESOLVED" in r.body["blocks"][0]["text"]["text"] for r in slack.accepted()))
    assert all(not r.problems for r in pagerduty.received + slack.received)


def test_example_config_is_valid_for_amtool(tmp_path: Path) -> None:
    amtool = require(AMTOOL, "amtool (from prometheus-alertmanager) is not installed")
    example = (Path(__file__).resolve().parents[2] / "examples" / "alertmanager.yml").read_text()
    token = tmp_path / "token"
    token.write_text("t\n")
    config = tmp_path / "alertmanager.yml"
    config.write_text(example.replace("/etc/alertmanager/secrets/forwarder-token", str(token)))
    result = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "{{ toJson . }}" in example
