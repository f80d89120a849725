"""tools.preview: the exact bodies for every sample; one line and exit 2 for anything refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EVENTS

ROOT = Path(__file__).resolve().parents[2]
FORWARDED = sorted(
    p.name
    for p in EVENTS.glob("*.json")
    if not p.name.startswith(("pagerduty-", "lambda-sns-envelope-generic", "cloudformation-"))
)


def _preview(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.preview", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("sample", FORWARDED)
def test_preview_prints_alerts_and_both_bodies(sample: str) -> None:
    result = _preview(str(EVENTS / sample))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"alerts", "pagerduty", "slack"}
    assert len(document["alerts"]) >= 1
    assert len(document["slack"]) == 1
    assert all(event["event_action"] in ("trigger", "resolve") for event in document["pagerduty"])
    if "suppressor" in sample:  # CloudWatch ran no action: nothing is paged (issue 13)
        assert document["pagerduty"] == []
    else:
        assert document["pagerduty"]
    assert "routing_key" not in result.stdout


@pytest.mark.parametrize(
    ("stdin", "reason"),
    [
        ("not json at all", "not JSON"),
        ('{"hello": "world"}', "unknown message shape"),
        ('{"receiver": "x", "status": "firing", "alerts": []}', "no alerts"),
        (json.dumps({"Records": [{"Sns": {"MessageId": "m", "Message": "Hello from SNS!"}}]}), "not JSON"),
    ],
)
def test_preview_refuses_with_one_line_and_exit_2(stdin: str, reason: str) -> None:
    result = _preview("-", stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_preview_configuration_change_sends_nothing() -> None:
    event = {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {}}
    result = _preview("-", stdin=json.dumps(event))
    assert result.returncode == 2
    assert "not an alarm state change" in result.stderr


def test_preview_missing_file_is_one_line() -> None:
    result = _preview("/nonexistent/payload.json")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
