"""tools.screenshots: the main message kinds drawn for `make screenshots` (the PNGs themselves need Chromium and
are made by hand; the pages they are taken of are tested here)."""

from __future__ import annotations

from pathlib import Path

from tools.screenshots import KINDS, write_pages


def test_screenshots_draw_every_main_kind(tmp_path: Path) -> None:
    pages = write_pages(tmp_path)
    assert [p.stem for p in pages] == list(KINDS)
    assert set(KINDS) >= {
        "cloudwatch-firing",
        "cloudwatch-resolved",
        "cloudwatch-insufficient-data",
        "composite-suppressed",
        "anomaly-band",
        "alertmanager-group",
        "storm-digest",
    }
    for page in pages:
        drawn = page.read_text("utf-8")
        assert 'class="header"' in drawn and 'class="bar"' in drawn, page.name
        assert drawn.count('class="phone"') == 2, page.name
        assert "<script" not in drawn


def test_screenshots_say_what_pages(tmp_path: Path) -> None:
    drawn = {p.stem: p.read_text("utf-8") for p in write_pages(tmp_path)}
    assert "PagerDuty: nothing sent: CloudWatch suppressed" in drawn["composite-suppressed"]
    assert "PagerDuty: resolve sent" in drawn["cloudwatch-resolved"]
    assert "Alarm storm on alerting/prod/pagerduty: 31 alarms" in drawn["storm-digest"]
    assert "prod-rds-orders-db-FreeStorageSpace (" in drawn["cloudwatch-firing"]
