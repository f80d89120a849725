"""Render: PagerDuty events and Slack messages within every documented limit, whatever the input."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from alertlib.render_pagerduty import render_pagerduty
from alertlib.render_slack import format_duration, render_slack
from tests.conftest import NOW, load_event, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of
from tools.standins import pagerduty_problems, slack_problems

ROUTING_KEY = "k" * 32


def _pd(event: Any, **kw: Any) -> list[dict[str, Any]]:
    return render_pagerduty(group_of(event), **kw)


def _slack(event: Any) -> dict[str, Any]:
    return render_slack(group_of(event), now=NOW)


def _texts(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def _assert_pagerduty_valid(events: list[dict[str, Any]]) -> None:
    for event in events:
        body = {**event, "routing_key": ROUTING_KEY}
        assert pagerduty_problems(body, len(json.dumps(body).encode())) == []


# -- PagerDuty --------------------------------------------------------------------------------------------------


def test_pagerduty_alarm_triggers_and_ok_resolves_with_the_same_key() -> None:
    [trigger] = _pd(sns_event(alarm(state="ALARM")))
    [resolve] = _pd(sns_event(alarm(state="OK")))
    assert trigger["event_action"] == "trigger"
    assert resolve == {"event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    assert trigger["dedup_key"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-rds-orders-db-CPUUtilization"


def test_pagerduty_trigger_carries_what_where_how_bad_and_next_steps() -> None:
    [event] = _pd(sns_event(alarm()))
    payload = event["payload"]
    assert payload["severity"] == "critical"
    assert payload["source"] == "orders-db"
    assert payload["component"] == "AWS/RDS"
    assert payload["class"] == "CPUUtilization"
    assert payload["group"] == "123456789012/us-east-1"
    assert "prod-rds-orders-db-CPUUtilization" in payload["summary"]
    assert "97.5" in payload["summary"]
    assert payload["timestamp"] == "2026-11-22T02:55:00+00:00"
    details = payload["custom_details"]
    assert details["threshold"] == "> 90 for 5 of 5 periods"
    assert details["reason"].startswith("Threshold Crossed")
    assert details["metric"].startswith("AWS/RDS CPUUtilization")
    texts = [link["text"] for link in event["links"]]
    assert texts == ["Runbook", "AWS console"]
    assert event["client_url"].startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/home")
    _assert_pagerduty_valid([event])


def test_pagerduty_alertmanager_group_key_is_sha256_of_group_key() -> None:
    body = alertmanager(3)
    [event] = _pd(body)
    assert event["dedup_key"] == hashlib.sha256(body["groupKey"].encode()).hexdigest()
    details = event["payload"]["custom_details"]
    assert (details["firing"], details["resolved"]) == (3, 0)
    assert event["payload"]["summary"].startswith("[FIRING:3] HighLatency: p99 latency above 2s on api-0 (+2 more)")
    assert event["client_url"] == "http://alertmanager.example.com:9093"


def test_pagerduty_alertmanager_resolved_group_resolves() -> None:
    [event] = _pd(alertmanager(3, status="resolved"))
    assert event["event_action"] == "resolve"


def test_pagerduty_alertmanager_partly_resolved_group_still_triggers() -> None:
    body = alertmanager(2)
    body["alerts"][1]["status"] = "resolved"
    [event] = _pd(body)
    assert event["event_action"] == "trigger"
    assert event["payload"]["custom_details"]["resolved"] == 1


def test_pagerduty_one_alert_per_alert_when_asked() -> None:
    body = alertmanager(3)
    body["alerts"][2]["status"] = "resolved"
    events = _pd(body, per_alert=True)
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert len({e["dedup_key"] for e in events}) == 3
    again = _pd(body, per_alert=True)
    assert [e["dedup_key"] for e in events] == [e["dedup_key"] for e in again]


def test_pagerduty_insufficient_data_is_info_never_critical() -> None:
    [event] = _pd(sns_event(alarm(state="INSUFFICIENT_DATA")))
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "info"


def test_pagerduty_summary_is_cut_to_1024_with_an_ellipsis() -> None:
    body = alarm(name="n" * 255)
    body["Trigger"]["Dimensions"] = [{"name": f"d{i}", "value": "v" * 250} for i in range(10)]
    [event] = _pd(sns_event(body))
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")
    long = alertmanager(1)
    long["alerts"][0]["annotations"]["summary"] = "s" * 5000
    [event] = _pd(long)
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")


def test_pagerduty_huge_group_stays_under_512_kb() -> None:
    body = alertmanager(300)
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "d" * 10_000
        alert["labels"].update({f"label{i}": "v" * 500 for i in range(40)})
    [event] = _pd(body)
    size = len(json.dumps({**event, "routing_key": ROUTING_KEY}).encode())
    assert size <= 512 * 1024
    assert event["payload"]["custom_details"]["firing"] == 300
    _assert_pagerduty_valid([event])


def test_pagerduty_drill_says_drill() -> None:
    [event] = _pd(sns_event(alarm(reason="DRILL: monthly pager test")))
    assert event["payload"]["summary"].startswith("[DRILL] ALARM: ")
    assert event["payload"]["custom_details"]["drill"] is True


@pytest.mark.parametrize(
    "sample",
    [
        "lambda-sns-cloudwatch-metric-alarm-single-metric__aws-lambda-go.json",
        "lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json",
        "eventbridge-alarm-state-change-single-metric__aws-docs.json",
        "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json",
        "alertmanager-webhook-v4-firing__alertmanager-bot.json",
        "alertmanager-webhook-v4-resolved__alertmanager-bot.json",
    ],
)
def test_render_every_sample_within_contracts(sample: str) -> None:
    event = load_event(sample)
    _assert_pagerduty_valid(_pd(event))
    assert slack_problems(_slack(event)) == []


# -- Slack ------------------------------------------------------------------------------------------------------


def test_slack_message_has_header_fields_reason_buttons_and_colour() -> None:
    message = _slack(sns_event(alarm()))
    blocks = message["blocks"]
    assert message["text"].startswith("[ALARM] [CRITICAL] prod-rds-orders-db-CPUUtilization")
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "\U0001f534 ALARM: prod-rds-orders-db-CPUUtilization", "emoji": True},
    }
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for b in blocks for f in b.get("fields", [])}
    assert fields["*Severity*"] == "CRITICAL"
    assert fields["*Account · Region*"] == "123456789012 · us-east-1"
    assert fields["*Threshold*"] == "&gt; 90 for 5 of 5 periods"
    assert fields["*Started*"].startswith("<!date^")
    assert fields["*Firing for*"] == "5m 0s"
    assert any("*Reason*" in b.get("text", {}).get("text", "") for b in blocks)
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Runbook", "AWS console"]
    assert actions["elements"][0]["url"] == "https://runbooks.example.com/rds-cpu"
    assert message["attachments"][0]["color"] == "#E01E5A"
    assert slack_problems(message) == []


def test_slack_resolved_says_resolved_and_how_long_it_lasted() -> None:
    event = load_event("alertmanager-webhook-v4-resolved__alertmanager-bot.json")
    message = _slack(event)
    assert message["blocks"][0]["text"]["text"].startswith("\u2705 RESOLVED: Fire")
    assert "RESOLVED" in message["text"]
    fields = [f["text"] for b in message["blocks"] for f in b.get("fields", [])]
    assert "*Lasted*\n4m 15s" in fields
    assert message["attachments"][0]["color"] == "#2EB67D"


def test_slack_alertmanager_buttons_include_silence_and_graph() -> None:
    message = _slack(alertmanager(1))
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    names = [e["text"]["text"] for e in actions["elements"]]
    assert names == ["Runbook", "Dashboard", "Silence", "Prometheus graph"]
    assert len({e["action_id"] for e in actions["elements"]}) == len(names)


def test_slack_large_group_is_summarised_with_and_n_more() -> None:
    message = _slack(alertmanager(300))
    text = _texts(message)
    assert "and 290 more" in text
    assert message["blocks"][0]["text"]["text"] == "\U0001f534 FIRING (300): HighLatency"
    assert slack_problems(message) == []


def test_slack_escapes_mentions_and_links_in_alert_text() -> None:
    hostile = "<!channel> <!here> <@U123> <https://evil.example|click> & *bold* `code`"
    body = alertmanager(1)
    body["alerts"][0]["annotations"]["summary"] = hostile
    body["alerts"][0]["annotations"]["description"] = hostile
    body["alerts"][0]["labels"]["team"] = hostile
    message = _slack(body)
    text = _texts(message)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text
    assert "<https://evil.example|click>" not in text


def test_slack_escaping_never_splits_an_entity_when_cutting() -> None:
    body = alertmanager(1)
    body["alerts"][0]["annotations"]["description"] = "&" * 5000
    message = _slack(body)
    for block in message["blocks"]:
        text = block.get("text", {}).get("text", "")
        if "&" in text:
            assert text.rstrip("…").endswith("&amp;") or "&amp;" in text
            assert "&am…" not in text and "&a…" not in text and "&…" not in text
    assert slack_problems(message) == []


def test_slack_ten_kilobyte_description_is_cut_within_limits() -> None:
    message = _slack(sns_event(alarm(description="x" * 10_000)))
    [description] = [b for b in message["blocks"] if "*Description*" in b.get("text", {}).get("text", "")]
    assert len(description["text"]["text"]) <= 3000
    assert description["text"]["text"].endswith("…")
    assert slack_problems(message) == []


def test_slack_drill_is_marked() -> None:
    message = _slack(sns_event(alarm(reason="DRILL: monthly pager test")))
    assert "DRILL" in message["blocks"][0]["text"]["text"]
    assert message["text"].startswith("[DRILL]")


def test_slack_insufficient_data_is_grey() -> None:
    message = _slack(sns_event(alarm(state="INSUFFICIENT_DATA")))
    assert message["attachments"][0]["color"] == "#9E9E9E"
    assert "INSUFFICIENT DATA" in message["blocks"][0]["text"]["text"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(42, "42s"), (312, "5m 12s"), (7500, "2h 5m"), (273600, "3d 4h"), (-5, "0s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_pagerduty_insufficient_data_has_its_own_alert_and_leaving_it_resolves_that() -> None:
    [insufficient] = _pd(sns_event(alarm(state="INSUFFICIENT_DATA")))
    key = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-rds-orders-db-CPUUtilization"
    assert insufficient["dedup_key"] == key + "#insufficient-data"
    alarm_after = _pd(sns_event(alarm(state="ALARM", OldStateValue="INSUFFICIENT_DATA")))
    assert [(e["event_action"], e["dedup_key"]) for e in alarm_after] == [
        ("trigger", key),
        ("resolve", key + "#insufficient-data"),
    ]
    ok_after = _pd(sns_event(alarm(state="OK", OldStateValue="INSUFFICIENT_DATA")))
    assert [(e["event_action"], e["dedup_key"]) for e in ok_after] == [
        ("resolve", key),
        ("resolve", key + "#insufficient-data"),
    ]


@pytest.mark.parametrize(
    "truncated",
    ["--1", "²", "9" * 5000, 10**4000, -5, "12345678901234567890", 1e300, "٣"],
    ids=["double-minus", "superscript", "5000-digits", "huge-int", "negative", "20-digits", "1e300", "arabic-3"],
)
def test_render_odd_truncated_alerts_never_crash_or_break_a_limit(truncated: Any) -> None:
    body = alertmanager(2)
    body["truncatedAlerts"] = truncated
    message = _slack(sns_event(body))
    assert slack_problems(message) == []
    assert all(len(json.dumps(e)) < 1_000 for b in message["blocks"] if b["type"] == "context" for e in b["elements"])
    _assert_pagerduty_valid(_pd(sns_event(body)))
    assert all(len(str(e["payload"]["custom_details"].get("truncated_alerts", ""))) <= 12 for e in _pd(sns_event(body)))
