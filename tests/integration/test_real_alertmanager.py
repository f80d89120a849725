"""A real Prometheus Alertmanager (Debian's package) posting to the local pipeline with a bearer token.

`.ci/run` installs `prometheus-alertmanager`; where it cannot be installed, this test is skipped and says why.
Every process the test starts is stopped, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.localaws import free_port
from tools.serve import LocalPipeline
from tools.standins import StandIn

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
MISSING = "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager; .ci/run does this)"


@pytest.fixture(autouse=True)
def _binary_or_skip_outside_ci() -> None:
    """Under CI a missing binary fails the run (the test cannot vanish); elsewhere the test skips, saying why."""
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {MISSING}")
        pytest.skip(MISSING)


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


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def api(port: int, path: str, body: Any | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
    except urllib.error.HTTPError as error:
        raise AssertionError(f"Alertmanager answered {error.code}: {error.read()[:500]!r}") from None
    return json.loads(text) if text else None


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[int, StandIn, StandIn]]:
    assert BINARY is not None
    with StandIn("pagerduty") as pagerduty, StandIn("slack") as slack, LocalPipeline(
        port=free_port(), pagerduty_url=pagerduty.url, slack_url=slack.url, webhook_token="am-t0ken-0123456789",
        say=lambda line: None,
    ) as pipeline:  # fmt: skip
        token_file = tmp_path / "token"
        token_file.write_text("am-t0ken-0123456789\n")
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(url=pipeline.url, token_file=token_file))
        port = free_port()
        process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "alertmanager.log").open("w"),
        )
        try:
            assert wait_for(lambda: _ready(port), 30), (tmp_path / "alertmanager.log").read_text()[-2000:]
            yield port, pagerduty, slack
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        assert process.poll() is not None


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as answer:
            return int(answer.status) == 200
    except OSError:
        return False


def test_real_alertmanager_pages_and_resolves(stack: tuple[int, StandIn, StandIn]) -> None:
    port, pagerduty, slack = stack
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1:9100"},
        "annotations": {"summary": "Disk 97% full on db-1", "runbook_url": "https://runbooks.example.com/disk"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
    }
    api(port, "/api/v2/alerts", [alert])
    assert wait_for(lambda: any(r.body["event_action"] == "trigger" for r in pagerduty.accepted())), "no trigger"
    assert wait_for(lambda: len(slack.accepted()) >= 1), "no Slack message"
    trigger = next(r.body for r in pagerduty.accepted() if r.body["event_action"] == "trigger")
    assert trigger["payload"]["summary"].startswith("[FIRING:1] DiskFull (dev): Disk 97% full on db-1")
    assert {"href": "https://runbooks.example.com/disk", "text": "Runbook"} in trigger["links"]
    assert "FIRING" in slack.accepted()[0].body["blocks"][0]["text"]["text"]

    api(port, "/api/v2/alerts", [{**alert, "endsAt": (now - timedelta(seconds=1)).isoformat()}])
    assert wait_for(lambda: any(r.body["event_action"] == "resolve" for r in pagerduty.accepted())), "no resolve"
    resolve = next(r.body for r in pagerduty.accepted() if r.body["event_action"] == "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"]
    assert wait_for(lambda: any("RESOLVED" in r.body["blocks"][0]["text"]["text"] for r in slack.accepted()))
    assert all(not r.problems for r in pagerduty.received + slack.received)


def test_example_config_is_valid_for_amtool(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and amtool (from prometheus-alertmanager) is not installed")
        pytest.skip("amtool (from prometheus-alertmanager) is not installed")
    example = (Path(__file__).resolve().parents[2] / "examples" / "alertmanager.yml").read_text()
    token = tmp_path / "token"
    token.write_text("t\n")
    config = tmp_path / "alertmanager.yml"
    config.write_text(example.replace("/etc/alertmanager/secrets/forwarder-token", str(token)))
    result = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "{{ toJson . }}" in example
