"""PII scrubbing over a corpus: what must be redacted is, what must survive does, in every field sent."""

from __future__ import annotations

import json
import re

import pytest

from alertlib.redact import redact_group, redact_text
from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import render_slack
from alertlib.settings import Settings
from tests.conftest import NOW, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of

REDACTED = [
    ("contact jane@example.com now", "contact j***@*** now"),
    ("JANE.DOE+ops@sub.example.co.uk", "J***@***"),
    ("mailto:bob@corp.io", "mailto:b***@***"),
    ("https://x.example.com/?user=bob@corp.io&x=1", "https://x.example.com/?user=b***@***&x=1"),
    ("#alarmsV2:alarm/db-for-jane%40example.com", "#alarmsV2:alarm/d***@***"),
    ("filter=%7Bowner%3D%22jane.doe%40corp.example%22%7D", "filter=%7Bo***@***%22%7D"),
    ("call +1 555 123 4567", "call [phone]"),
    ("call +1-555-123-4567.", "call [phone]."),
    ("(555) 123-4567", "[phone]"),
    ("555-123-4567", "[phone]"),
    ("555.123.4567", "[phone]"),
    ("+44 20 7946 0958", "[phone]"),
    ("+442079460958", "[phone]"),
    ("020 7946 0958", "[phone]"),
    ("on-call: +49 (30) 123456", "on-call: [phone]"),
]

KEPT = [
    "account 123456789012",
    "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-db-cpu",
    "2021-11-10T02:45:55.640+0000",
    "date 2021-11-10 and time 02:45:55",
    "ip 192.168.100.200 port 8080",
    "[99.50160229693434 (02/10/19 16:59:00)] was greater than the threshold (50.0)",
    "threshold (21.0), 1234.0 bytes",
    "i-0abc123def4567890",
    "version 1.2.3-rc.4",
    "port range 8080-9090",
    "fingerprint 4ef0c5a1d2b3e4f5",
    "sha 2f1a0c9b8e7d6c5b4a39281706f5e4d3c2b1a098",
    "1 234 567 requests",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_redact_text_scrubs_emails_and_phone_numbers(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_redact_text_keeps_ids_times_addresses_and_values(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_configured_patterns() -> None:
    patterns = (re.compile(r"\bcust-\d{6}\b"), re.compile(r"(?i)ssn=\S+"))
    assert redact_text("customer cust-123456 SSN=987-65-4320", patterns) == "customer [redacted] [redacted]"


def test_redact_every_field_sent_to_pagerduty_and_slack() -> None:
    pii = "jane@example.com +1 555 123 4567 cust-424242"
    body = alertmanager(2)
    for alert in body["alerts"]:
        alert["labels"]["owner"] = pii
        alert["annotations"]["summary"] = pii
        alert["annotations"]["description"] = pii
        alert["annotations"]["runbook_url"] = "https://rb.example.com/?who=jane@example.com"
    body["groupLabels"]["owner"] = pii
    body["commonAnnotations"]["summary"] = pii
    settings = Settings(redact_patterns=(re.compile(r"cust-\d+"),))
    group = group_of(body, settings)
    sent = json.dumps([render_pagerduty(group), render_pagerduty(group, per_alert=True), render_slack(group, now=NOW)])
    for secret in ("jane@example.com", "555 123 4567", "cust-424242", "jane@"):
        assert secret not in sent
    assert "j***@***" in sent and "[phone]" in sent and "[redacted]" in sent


def test_redact_dedup_key_with_pii_is_hashed_consistently() -> None:
    name = "alarm-for-jane@example.com"
    firing = group_of(sns_event(alarm(name=name)))
    resolved = group_of(sns_event(alarm(name=name, state="OK")))
    assert "jane" not in firing.dedup_key
    assert firing.dedup_key == resolved.dedup_key
    assert len(firing.dedup_key) <= 255


def test_redact_group_leaves_clean_groups_alone() -> None:
    group = group_of(sns_event(alarm()))
    assert redact_group(group) == group
