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


SHARED_SAMPLES = ROOT.parent / "shared" / "samples"
EVERY_SAMPLE = sorted(
    [str(p) for p in EVENTS.glob("*.json")]
    + ([str(p) for p in SHARED_SAMPLES.glob("*.json")] if SHARED_SAMPLES.is_dir() else [])
)


@pytest.mark.parametrize("sample", EVERY_SAMPLE, ids=lambda p: f"{Path(p).parent.name}/{Path(p).name}")
def test_preview_html_draws_a_page_for_every_sample(sample: str, tmp_path: Path) -> None:
    result = _preview(sample, "--html", str(tmp_path))
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    pages = sorted(tmp_path.glob("*.html"))
    assert pages, result.stdout + result.stderr
    for page in pages:
        drawn = page.read_text(encoding="utf-8")
        assert drawn.startswith("<!DOCTYPE html>") and drawn.rstrip().endswith("</html>")
        assert "<script" not in drawn
        assert str(page) in result.stdout
    if Path(sample).name in FORWARDED:
        assert result.returncode == 0
        assert "Block Kit Builder: https://app.slack.com/block-kit-builder/#" in result.stdout
        assert 'class="header"' in pages[0].read_text(encoding="utf-8")
    else:
        assert result.returncode == 2
        assert "Not forwarded" in pages[0].read_text(encoding="utf-8")


def test_preview_html_escapes_alert_text(tmp_path: Path) -> None:
    body = json.loads((EVENTS / "alertmanager-webhook-v4-firing__alertmanager-bot.json").read_text(encoding="utf-8"))
    for alert in body["alerts"]:
        alert["labels"]["team"] = "<script>alert(1)</script>"
        alert["annotations"]["summary"] = "<img src=x onerror=alert(1)> *bold* <!channel>"
    result = _preview("-", "--html", str(tmp_path), stdin=json.dumps(body))
    assert result.returncode == 0, result.stderr
    [page] = tmp_path.glob("*.html")
    drawn = page.read_text(encoding="utf-8")
    assert "<script" not in drawn and "<img" not in drawn
    assert "&lt;script&gt;" in drawn or "&lt;img" in drawn
    assert 'class="mention broadcast"' not in drawn  # the alert's <!channel> is text, never a mention


def test_preview_html_suppressed_alarm_says_nothing_paged(tmp_path: Path) -> None:
    sample = EVENTS / "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"
    assert _preview(str(sample), "--html", str(tmp_path)).returncode == 0
    [page] = tmp_path.glob("*.html")
    assert "PagerDuty: nothing sent: CloudWatch suppressed" in page.read_text(encoding="utf-8")


def test_preview_html_several_records_one_page_each(tmp_path: Path) -> None:
    single = json.loads((EVENTS / "eventbridge-alarm-state-change-single-metric__aws-docs.json").read_text("utf-8"))
    records = {"Records": [{"Sns": {"MessageId": f"m{i}", "Message": json.dumps(single)}} for i in range(3)]}
    result = _preview("-", "--html", str(tmp_path), stdin=json.dumps(records))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.html")) == ["stdin-1.html", "stdin-2.html", "stdin-3.html"]
