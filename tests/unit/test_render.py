"""Render: PagerDuty events and Slack messages within every documented limit, whatever the input."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertlib import render_pagerduty as render_pagerduty_module
from alertlib.models import Alert, AlertGroup, Link, LinkKind, Metric, Severity, Source, Status
from alertlib.render_pagerduty import MAX_HREF, render_pagerduty
from alertlib.render_slack import format_duration, message_blocks, render_slack
from alertlib.text import encode_json, fit_json, format_count, safe_url
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
        assert pagerduty_problems(body, len(encode_json(body))) == []


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
    assert payload["timestamp"] == "2026-11-22T02:55:00.000Z"
    details = payload["custom_details"]
    assert details["threshold"] == "above 90 % for 5 of 5 periods of 60 s"
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
    size = len(encode_json({**event, "routing_key": ROUTING_KEY}))  # the bytes `deliver` sends
    assert size <= 512 * 1024
    assert event["payload"]["custom_details"]["firing"] == 300
    _assert_pagerduty_valid([event])


def test_pagerduty_drill_says_drill() -> None:
    [event] = _pd(sns_event(alarm(reason="DRILL: monthly pager test")))
    assert event["payload"]["summary"].startswith("[DRILL] ")
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
    blocks = message_blocks(message)
    assert message["text"] == (
        "\U0001f534 prod-rds-orders-db-CPUUtilization: CPUUtilization 97.5 % (alarm above 90 %) on orders-db"
        " · 123456789012 · us-east-1"
    )
    # the header on top, every other block inside the coloured attachment (so Slack does not draw `text` too)
    assert [b["type"] for b in message["blocks"]] == ["header"]
    assert message["attachments"][0]["blocks"][0]["type"] != "header"
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "\U0001f534 CRITICAL · ALARM: prod-rds-orders-db-CPUUtilization",
            "emoji": True,
        },
    }
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for b in blocks for f in b.get("fields", [])}
    assert fields["*Account · Region*"] == "123456789012 · us-east-1"
    assert fields["*Threshold*"] == "above 90 % for 5 of 5 periods of 60 s"
    assert fields["*Started*"].startswith("<!date^")
    assert "*Firing for*" not in fields  # computed at send time, it misled: the start is shown instead
    assert any("*Reason*" in b.get("text", {}).get("text", "") for b in blocks)
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Runbook", "AWS console"]
    assert actions["elements"][0]["url"] == "https://runbooks.example.com/rds-cpu"
    assert message["attachments"][0]["color"] == "#E01E5A"
    assert slack_problems(message) == []


def test_slack_resolved_says_resolved_and_how_long_it_lasted() -> None:
    event = load_event("alertmanager-webhook-v4-resolved__alertmanager-bot.json")
    message = _slack(event)
    assert message_blocks(message)[0]["text"]["text"].startswith("\u2705 CRITICAL · RESOLVED: Fire")
    assert message["text"].startswith("\u2705 Fire resolved: Something is on fire")
    fields = [f["text"] for b in message_blocks(message) for f in b.get("fields", [])]
    assert "*Lasted*\n4m 15s" in fields
    assert message["attachments"][0]["color"] == "#2EB67D"


def test_slack_alertmanager_buttons_include_silence_and_graph() -> None:
    message = _slack(alertmanager(1))
    [actions] = [b for b in message_blocks(message) if b["type"] == "actions"]
    names = [e["text"]["text"] for e in actions["elements"]]
    assert names == ["Runbook", "Dashboard", "Open in Alertmanager", "Silence", "Prometheus graph"]
    assert len({e["action_id"] for e in actions["elements"]}) == len(names)


def test_slack_large_group_is_summarised_with_and_n_more() -> None:
    message = _slack(alertmanager(300))
    text = _texts(message)
    assert "and 290 more" in text
    assert message_blocks(message)[0]["text"]["text"] == "\U0001f534 CRITICAL · FIRING (300): HighLatency"
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
    for block in message_blocks(message):
        text = block.get("text", {}).get("text", "")
        if "&" in text:
            assert text.rstrip("…").endswith("&amp;") or "&amp;" in text
            assert "&am…" not in text and "&a…" not in text and "&…" not in text
    assert slack_problems(message) == []


def test_slack_ten_kilobyte_description_is_cut_within_limits() -> None:
    message = _slack(sns_event(alarm(description="x" * 10_000)))
    [description] = [b for b in message_blocks(message) if "*Description*" in b.get("text", {}).get("text", "")]
    assert len(description["text"]["text"]) <= 3000
    assert description["text"]["text"].endswith("…")
    assert slack_problems(message) == []


def test_slack_drill_is_marked() -> None:
    message = _slack(sns_event(alarm(reason="DRILL: monthly pager test")))
    assert "DRILL" in message_blocks(message)[0]["text"]["text"]
    assert message["text"].startswith("DRILL: ")


def test_slack_insufficient_data_is_grey() -> None:
    message = _slack(sns_event(alarm(state="INSUFFICIENT_DATA")))
    assert message["attachments"][0]["color"] == "#9E9E9E"
    assert "INSUFFICIENT DATA" in message_blocks(message)[0]["text"]["text"]


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
    contexts = [e for b in message_blocks(message) if b["type"] == "context" for e in b["elements"]]
    assert all(len(json.dumps(e)) < 1_000 for e in contexts)
    _assert_pagerduty_valid(_pd(sns_event(body)))
    assert all(len(str(e["payload"]["custom_details"].get("truncated_alerts", ""))) <= 12 for e in _pd(sns_event(body)))


# -- Issue 9: every field bounded, every event within 512 KB, no spoofed links ----------------------------------

MAX_EVENT = 512 * 1024
SPOOF = "https://evil.example/login|https://wiki.corp.example/runbook"


def _sent(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "routing_key": ROUTING_KEY}


def _size_sent(event: dict[str, Any]) -> int:
    """The bytes the deliverer sends (compact UTF-8 JSON), not `json.dumps`' ASCII escapes."""
    return len(encode_json(_sent(event)))


def _assert_fits(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert _size_sent(event) <= MAX_EVENT
        assert pagerduty_problems(_sent(event), _size_sent(event)) == []
        if event["event_action"] == "trigger":
            payload = event["payload"]
            assert 1 <= len(payload["summary"]) <= 1024 and payload["source"] and payload["severity"]
            assert all(len(payload.get(k, "")) <= 255 for k in ("source", "component", "group", "class"))
            assert all(len(link["href"]) <= MAX_HREF and len(link["text"]) <= 255 for link in event["links"])
            assert len(event.get("client_url", "")) <= MAX_HREF
        assert 1 <= len(event["dedup_key"]) <= 255


def test_pagerduty_240kb_of_emoji_in_group_labels_fits_and_keeps_a_silence_link() -> None:
    body = alertmanager(2)
    body["groupLabels"] = {"alertname": "HighLatency", "team": "\U0001f600" * 60_000}  # 240 KB as UTF-8
    [event] = _pd(sns_event(body))
    _assert_fits([event])
    assert event["payload"]["summary"].startswith("[FIRING:2] HighLatency")
    links = {link["text"]: link["href"] for link in event["links"]}
    assert links["Runbook"] == "https://runbooks.example.com/high-latency"
    # The silence link prefilled with 720 KB of matchers cannot be sent: the new-silence page replaces it.
    assert links["Silence"] == "http://alertmanager.example.com:9093/#/silences/new"
    details = event["payload"]["custom_details"]
    assert details["firing"] == 2 and details["message_id"]
    assert details["group_labels"]["team"].endswith("…")
    message = _slack(sns_event(body))
    assert slack_problems(message) == []


def test_pagerduty_300kb_generator_url_is_dropped_not_cut() -> None:
    body = alertmanager(1)
    body["alerts"][0]["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + "a" * 300_000
    [event] = _pd(sns_event(body))
    _assert_fits([event])
    assert [link["text"] for link in event["links"]] == ["Runbook", "Dashboard", "Silence"]
    message = _slack(sns_event(body))
    assert slack_problems(message) == []
    assert "aaaaaaaaaa" not in _texts(message)


def test_pagerduty_300kb_external_url_drops_client_url_and_silence_link() -> None:
    body = alertmanager(2)
    body["externalURL"] = "http://alertmanager.example.com/" + "a" * 300_000
    [event] = _pd(sns_event(body))
    _assert_fits([event])
    assert "client_url" not in event
    assert [link["text"] for link in event["links"]] == ["Runbook", "Dashboard", "Prometheus graph"]
    assert slack_problems(_slack(sns_event(body))) == []


@pytest.mark.parametrize("per_alert", [False, True], ids=["grouped", "per-alert"])
def test_pagerduty_300_alerts_with_large_annotations_fit(per_alert: bool) -> None:
    body = alertmanager(300)
    for alert in body["alerts"]:
        alert["annotations"]["summary"] = "s" * 3_000
        alert["annotations"]["description"] = "\U0001f525" * 2_000
        alert["labels"].update({f"label{i}": "\u00e9" * 1_000 for i in range(5)})
    events = _pd(sns_event(body), per_alert=per_alert)
    assert len(events) == (300 if per_alert else 1)
    _assert_fits(events)
    assert slack_problems(_slack(sns_event(body))) == []


def test_pagerduty_cloudwatch_alarm_with_huge_description_and_dimensions_fits() -> None:
    body = alarm(description="\U0001f4a5" * 100_000 + "\nrunbook: https://runbooks.example.com/rds-cpu")
    body["Trigger"]["Dimensions"] = [{"name": f"d{i}" * 500, "value": "\u00e9" * 30_000} for i in range(10)]
    [event] = _pd(sns_event(body))
    _assert_fits([event])
    assert event["payload"]["severity"] == "critical"
    assert slack_problems(_slack(sns_event(body))) == []


def _hostile_group(source: Source, n_alerts: int = 3, size: int = 200_000) -> AlertGroup:
    """A normal form whose every string is huge and hostile: the renderers bound it, whatever parse let through."""
    big = ("<!channel> & | \x01 \U0001f600 \u00e9 `*_ " * (size // 20 + 1))[:size]
    long_url = "https://example.com/" + '%7C|<>"\\' + "a" * size
    links = (
        Link(kind=LinkKind.RUNBOOK, url=SPOOF, text=big),
        Link(kind=LinkKind.DASHBOARD, url="javascript:alert(1)", text="Dashboard"),
        Link(kind=LinkKind.CONSOLE, url="https://console.example.com/" + "\U0001f600" * 2_000, text=big),
        Link(kind=LinkKind.GENERATOR, url=long_url, text=big),
    )
    metric = Metric(
        namespace=big, name=big, dimensions=tuple((big[:20_000], big[:20_000]) for _ in range(20)), statistic=big,
        period=10**9, threshold=1e308, comparison=big, expression=big, unit=big, evaluation_periods=10**9,
        datapoints_to_alarm=10**9, treat_missing_data=big,
    )  # fmt: skip
    labels = {f"{i}{big[:300]}": big[:30_000] for i in range(150)}
    alerts = tuple(
        Alert(
            id=f"{i}{big}",
            source=source,
            status=Status.FIRING if i % 2 == 0 else Status.RESOLVED,
            severity=Severity.CRITICAL,
            title=big,
            summary=big,
            description=big,
            reason=big,
            account=big,
            region=big,
            labels=labels,
            annotations=labels,
            links=links,
            starts_at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
            ends_at=datetime(9999, 12, 31, tzinfo=UTC),
            metric=metric if source is not Source.ALERTMANAGER else None,
            arn=big,
            previous=Status.INSUFFICIENT_DATA,
        )
        for i in range(n_alerts)
    )
    return AlertGroup(
        key=big, dedup_key=big, source=source, status=Status.FIRING, severity=Severity.CRITICAL, title=big,
        alerts=alerts, message_id=big, receiver=big, group_labels=labels, common_labels=labels,
        common_annotations={"summary": big}, external_url=long_url, truncated_alerts=10**5000,
        links=(Link(kind=LinkKind.SILENCE, url=long_url, text=big),),
    )  # fmt: skip


@pytest.mark.parametrize("source", [Source.CLOUDWATCH, Source.ALERTMANAGER])
@pytest.mark.parametrize("per_alert", [False, True], ids=["grouped", "per-alert"])
def test_pagerduty_every_field_is_bounded_whatever_the_normal_form(source: Source, per_alert: bool) -> None:
    events = render_pagerduty(_hostile_group(source), per_alert=per_alert)
    _assert_fits(events)
    for event in events:
        for link in event.get("links", []):
            assert link["href"].startswith("https://") and not set(link["href"]) & set('|<>"\\ ')
        if event["event_action"] == "trigger" and source is Source.ALERTMANAGER:
            assert "512 KB" in event["payload"]["custom_details"]["note"]


@pytest.mark.parametrize("source", [Source.CLOUDWATCH, Source.ALERTMANAGER])
@pytest.mark.parametrize("alerts", [1, 3, 60])
def test_slack_every_block_is_bounded_whatever_the_normal_form(source: Source, alerts: int) -> None:
    message = render_slack(_hostile_group(source, alerts), now=NOW, max_listed=40)
    assert slack_problems(message) == []
    text = _texts(message)
    assert "<!channel>" not in text and "|https://wiki.corp.example" not in text and "javascript:" not in text
    assert len(text) < 40_000
    assert len(message["text"]) <= 3000


def test_render_a_count_of_5000_digits_set_after_parse_is_compact() -> None:
    group = replace(group_of(sns_event(alertmanager(3))), truncated_alerts=10**5000)
    message = render_slack(group, now=NOW)
    assert slack_problems(message) == []
    more = [e["text"] for b in message_blocks(message) if b["type"] == "context" for e in b["elements"]]
    assert all(len(t) < 100 for t in more)
    [event] = render_pagerduty(group)
    _assert_fits([event])
    assert len(str(event["payload"]["custom_details"]["truncated_alerts"])) <= 20


def test_pagerduty_custom_details_are_trimmed_largest_first_with_a_marker() -> None:
    body = alertmanager(150)
    for index, alert in enumerate(body["alerts"]):  # labels of each alert its own: none is common to the group
        alert["labels"].update({f"label{i}": f"{index}" + "v" * 2_000 for i in range(60)})
    [event] = _pd(sns_event(body))
    _assert_fits([event])
    details = event["payload"]["custom_details"]
    # The small values are whole; the largest (the alerts listed) carry the cut, which says so.
    assert (details["firing"], details["resolved"], details["receiver"]) == (150, 0, "web.hook")
    assert details["group_labels"] == {"alertname": "HighLatency"}
    assert details["alerts_not_listed"] == 130  # about 20 alerts listed, the rest counted (issue 13)
    assert "512 KB" in details["note"]
    listed = details["alerts"]
    assert len(listed) == 20
    for alert in listed:
        assert alert["summary"].startswith("p99 latency") and alert["status"] == "firing"
        assert "alertname" not in alert["labels"]  # common labels once, for the group
        assert alert["labels"]["label0"].endswith("…")
    assert _size_sent(event) > 400 * 1024  # the room is used, not thrown away


def test_pagerduty_links_go_least_useful_first_when_nothing_else_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    [whole] = _pd(sns_event(alertmanager(1)))
    assert [link["text"] for link in whole["links"]] == ["Runbook", "Dashboard", "Silence", "Prometheus graph"]
    bare = {k: v for k, v in whole.items() if k != "client_url"}
    bare = {**bare, "links": whole["links"][:1], "payload": {**whole["payload"], "custom_details": {}}}
    budget = len(encode_json(bare)) + 64 + render_pagerduty_module._MIN_DETAILS + 20
    monkeypatch.setattr(render_pagerduty_module, "EVENT_BUDGET", budget)
    [event] = _pd(sns_event(alertmanager(1)))
    assert [link["text"] for link in event["links"]] == ["Runbook"]
    assert "client_url" not in event
    assert event["payload"]["summary"] == whole["payload"]["summary"]
    assert (event["payload"]["source"], event["dedup_key"]) == (whole["payload"]["source"], whole["dedup_key"])
    assert len(encode_json(event)) + 64 <= budget


# -- Link spoofing -----------------------------------------------------------------------------------------------


def _am_with(where: str, url: str) -> dict[str, Any]:
    body = alertmanager(2)
    if where == "externalURL":
        body["externalURL"] = url
    for alert in body["alerts"]:
        if where == "generatorURL":
            alert["generatorURL"] = url
        elif where in ("runbook_url", "dashboard_url"):
            alert["annotations"][where] = url
    return body


@pytest.mark.parametrize("where", ["runbook_url", "dashboard_url", "generatorURL", "externalURL"])
@pytest.mark.parametrize("url", [SPOOF, "https://evil.example/<https://wiki.corp.example/runbook>"])
def test_no_rendered_url_carries_a_pipe_or_angle_bracket(where: str, url: str) -> None:
    body = _am_with(where, url)
    one = alertmanager(1, **{k: v for k, v in body.items() if k != "alerts"})
    one["alerts"] = body["alerts"][:1]
    buttons: list[str] = []
    for event in [sns_event(body), sns_event(one)]:  # a list of alerts, with their links, and a lone alert
        message = _slack(event)
        urls = [e["url"] for b in message_blocks(message) if b["type"] == "actions" for e in b["elements"]]
        buttons += urls
        mrkdwn = [b["text"]["text"] for b in message_blocks(message) if b["type"] == "section" and "text" in b]
        links = [m.split("|")[0] for t in mrkdwn for m in t.split("<")[1:]]
        assert all(not set(u) & set("|<>") for u in urls + links), (urls, links)
        assert "|https://wiki.corp.example" not in _texts(message)
        [pd] = _pd(event)
        assert all(not set(link["href"]) & set("|<>") for link in pd["links"])
        assert not set(pd.get("client_url", "")) & set("|<>")
    if where == "runbook_url" and url == SPOOF:
        assert "https://evil.example/login%7Chttps://wiki.corp.example/runbook" in buttons


def test_no_url_with_a_pipe_from_cloudwatch_tags_or_alarm_name() -> None:
    body = alarm(name="db|<x>", description=None, tags={"runbook": SPOOF, "dashboard": "https://d.example/a>b"})
    message = _slack(sns_event(body))
    urls = [e["url"] for b in message_blocks(message) if b["type"] == "actions" for e in b["elements"]]
    assert len(urls) == 3 and all(not set(u) & set("|<>") for u in urls)
    [event] = _pd(sns_event(body))
    assert all(not set(link["href"]) & set("|<>") for link in event["links"])


def test_slack_link_text_is_escaped_and_only_http_links_are_shown() -> None:
    group = group_of(sns_event(alertmanager(3)))

    def hostile(index: int) -> tuple[Link, ...]:  # each alert its own runbook: listed on its line
        return (
            Link(kind=LinkKind.RUNBOOK, url=f"https://r.example/a&b{index}", text="<!channel> & <@U1>"),
            Link(kind=LinkKind.GENERATOR, url="javascript:alert(1)", text="graph"),
            Link(kind=LinkKind.DASHBOARD, url="data:text/html,hi", text="dash"),
        )

    group = replace(group, alerts=tuple(replace(a, links=hostile(i)) for i, a in enumerate(group.alerts)))
    message = render_slack(group, now=NOW)
    text = _texts(message)
    assert "<!channel>" not in text and "<@U1>" not in text
    assert "<https://r.example/a&amp;b1|&lt;!channel&gt; &amp; &lt;@U1&gt;>" in text
    assert "javascript:" not in text and "data:text" not in text
    [event] = render_pagerduty(group)
    hrefs = [link["href"] for link in event["links"]]
    assert hrefs[0] == "https://r.example/a&b0" and all(h.startswith("http") for h in hrefs)


# -- The checkers ------------------------------------------------------------------------------------------------


def _pd_body() -> dict[str, Any]:
    return _sent(_pd(sns_event(alertmanager(2)))[0])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b.update(routing_key="short"), "routing_key"),
        (lambda b: b.update(event_action="fire"), "event_action"),
        (lambda b: b.update(dedup_key="k" * 256), "dedup_key"),
        (lambda b: b.update(dedup_key=5), "dedup_key"),
        (lambda b: b.update(event_action="resolve", dedup_key=""), "dedup_key is required"),
        (lambda b: b.pop("payload"), "payload"),
        (lambda b: b.update(payload=[]), "payload"),
        (lambda b: b["payload"].update(summary=""), "summary"),
        (lambda b: b["payload"].update(summary="s" * 1025), "summary"),
        (lambda b: b["payload"].pop("source"), "source"),
        (lambda b: b["payload"].update(source=7), "source"),
        (lambda b: b["payload"].update(severity="page"), "severity"),
        (lambda b: b["payload"].update(timestamp="yesterday"), "timestamp"),
        (lambda b: b["payload"].update(timestamp="2026-11-22T02:50:00+05:30:15"), "timestamp"),
        (lambda b: b["payload"].update(timestamp="2026-11-22 02:50:00"), "timestamp"),
        (lambda b: b["payload"].update(component=1), "component"),
        (lambda b: b["payload"].update(group=[]), "group"),
        (lambda b: b["payload"].update({"class": {}}), "class"),
        (lambda b: b["payload"].update(custom_details="x"), "custom_details"),
        (lambda b: b.update(client=3), "client"),
        (lambda b: b.update(client_url="javascript:alert(1)"), "client_url"),
        (lambda b: b.update(client_url="https://a.example/x y"), "client_url"),
        (lambda b: b.update(links={}), "links"),
        (lambda b: b.update(links=[{"text": "no href"}]), "href"),
        (lambda b: b.update(links=[{"href": "ftp://x.example/"}]), "href"),
        (lambda b: b.update(links=[{"href": "https://x.example/", "text": 5}]), "text"),
        (lambda b: b.update(images={}), "images"),
        (lambda b: b.update(images=[{"href": "https://x.example/"}]), "src"),
        (lambda b: b.update(images=[{"src": "http://x.example/a.png"}]), "https"),
        (lambda b: b.update(images=[{"src": "https://x.example/a.png", "href": "javascript:x"}]), "href"),
        (lambda b: b.update(images=[{"src": "https://x.example/a.png", "alt": 1}]), "alt"),
        (lambda b: b["payload"]["custom_details"].update(big="x" * MAX_EVENT), "512 KB"),
        (lambda b: b["payload"]["custom_details"].update(nan=float("nan")), "JSON"),
    ],
)
def test_pagerduty_problems_flags_each_documented_limit(change: Any, problem: str) -> None:
    body = _pd_body()
    assert pagerduty_problems(body, len(encode_json(body))) == []
    change(body)
    found = pagerduty_problems(body, len(encode_json(body)))
    assert any(problem in p for p in found), found


def _slack_body() -> dict[str, Any]:
    """A message in the shape the checker's mutations expect: the blocks at the top, a context in the attachment."""
    message = _slack(sns_event(alertmanager(3)))
    inner = message["blocks"] + message["attachments"][0]["blocks"]
    return {**message, "blocks": inner[:-1], "attachments": [{**message["attachments"][0], "blocks": inner[-1:]}]}


def _block(message: dict[str, Any], kind: str, key: str = "") -> dict[str, Any]:
    blocks = message_blocks(message) + message["attachments"][0]["blocks"]
    return next(b for b in blocks if b["type"] == kind and (not key or key in b))


def _button() -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "url": "https://x.example/"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.pop("text"), "no_text"),
        (lambda m: m.update(text="t" * 40_001), "40,000"),
        (lambda m: m.update(blocks={}), "blocks"),
        (lambda m: m["blocks"].extend([{"type": "divider"}] * 50), "50"),
        (lambda m: m["blocks"].append("x"), "block"),
        (lambda m: m["blocks"].append({"type": "table"}), "unexpected block type"),
        (lambda m: m["blocks"][0].update(block_id="b" * 256), "block_id"),
        (lambda m: [b.update(block_id="same") for b in m["blocks"][:2]], "block_id"),
        (lambda m: m["blocks"][0]["text"].update(text="h" * 151), "header"),
        (lambda m: m["blocks"][0]["text"].update(type="mrkdwn"), "header"),
        (lambda m: m["blocks"][0].pop("text"), "header"),
        (lambda m: _block(m, "section", "text")["text"].update(text="s" * 3001), "section text"),
        (lambda m: _block(m, "section", "text")["text"].update(text=""), "section text"),
        (lambda m: _block(m, "section", "text")["text"].update(type="html"), "text object"),
        (lambda m: _block(m, "section", "text").pop("text"), "section"),
        (lambda m: _block(m, "section", "fields")["fields"].extend([{"type": "mrkdwn", "text": "f"}] * 10), "fields"),
        (lambda m: _block(m, "section", "fields")["fields"][0].update(text="f" * 2001), "field"),
        (lambda m: _block(m, "section", "text").update(accessory={**_button(), "url": "u" * 3001}), "url"),
        (lambda m: _block(m, "context")["elements"].extend([{"type": "mrkdwn", "text": "c"}] * 10), "context"),
        (lambda m: _block(m, "context")["elements"][0].update(text="c" * 3001), "context"),
        (lambda m: _block(m, "context").update(elements=[]), "context"),
        (lambda m: _block(m, "context")["elements"].append({"type": "image", "image_url": "u" * 3001}), "image"),
        (lambda m: _block(m, "actions")["elements"].extend([_button()] * 25), "25"),
        (lambda m: _block(m, "actions")["elements"][0]["text"].update(text="b" * 76), "button text"),
        (lambda m: _block(m, "actions")["elements"][0]["text"].update(type="mrkdwn"), "button text"),
        (lambda m: _block(m, "actions")["elements"][0].update(url="https://x/" + "u" * 3000), "url"),
        (lambda m: _block(m, "actions")["elements"][0].update(value="v" * 2001), "value"),
        (lambda m: _block(m, "actions")["elements"][0].update(action_id="a" * 256), "action_id"),
        (lambda m: _block(m, "actions")["elements"][1].update(action_id="link-runbook"), "action_id"),
        (lambda m: _block(m, "actions")["elements"][0].update(style="loud"), "style"),
        (lambda m: _block(m, "actions")["elements"].append({"type": "carousel"}), "element"),
        (lambda m: m["blocks"].append({"type": "image", "image_url": "https://x/a.png"}), "alt_text"),
        (lambda m: m["blocks"].append({"type": "image", "image_url": "u" * 3001, "alt_text": "a"}), "image_url"),
        (lambda m: m["blocks"].append({"type": "image", "image_url": "https://x/", "alt_text": "a" * 2001}), "alt"),
        (lambda m: m.update(attachments=[{"color": "#fff"}] * 101), "attachments"),
        (lambda m: m.update(attachments={}), "attachments"),
        (lambda m: m["attachments"][0].update(fallback=5), "fallback"),
        (lambda m: m["attachments"][0].update(color=5), "color"),
        (
            lambda m: m["blocks"].extend([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2999}}] * 5),
            "msg_blocks_too_long",
        ),
    ],
)
def test_slack_problems_flags_each_documented_limit(change: Any, problem: str) -> None:
    message = _slack_body()
    assert slack_problems(message) == []
    change(message)
    found = slack_problems(message)
    assert any(problem in p for p in found), found


@pytest.mark.parametrize(
    "body", [None, [], {"text": 1}, {"text": "t", "blocks": [{"type": "section", "text": 5}]}, {"blocks": [{}]}]
)
def test_checkers_never_crash_on_a_malformed_body(body: Any) -> None:
    assert slack_problems(body)
    assert pagerduty_problems(body, 10)


# -- Linear in the input -----------------------------------------------------------------------------------------


def _shape(shape: str, size: int) -> dict[str, Any]:
    unit = "ab \U0001f600 <x> & " * (size // 16 + 1)
    if shape == "alarm-description":
        return alarm(description=unit[:size])
    body = alertmanager(1 if shape != "many-alerts" else max(size // 1_000, 1))
    if shape == "group-labels":
        body["groupLabels"] = {"alertname": "HighLatency", "team": unit[:size]}
    elif shape == "annotation":
        body["alerts"][0]["annotations"]["description"] = unit[:size]
    elif shape == "generator-url":
        body["alerts"][0]["generatorURL"] = "http://p:9090/graph?g0.expr=" + "a|" * (size // 2)
    else:
        for alert in body["alerts"]:
            alert["annotations"]["description"] = unit[:900]
    return body


def _pipeline_seconds(body: dict[str, Any]) -> float:
    started = time.perf_counter()
    group = group_of(sns_event(body))
    render_pagerduty(group)
    render_pagerduty(group, per_alert=True)
    render_slack(group, now=NOW, max_listed=40)
    return time.perf_counter() - started


@pytest.mark.parametrize("shape", ["alarm-description", "group-labels", "annotation", "generator-url", "many-alerts"])
def test_parse_to_render_is_linear_and_a_256kb_payload_takes_well_under_a_second(shape: str) -> None:
    _pipeline_seconds(_shape(shape, 1_000))  # warm up (imports, compiled patterns)
    small = min(_pipeline_seconds(_shape(shape, 32 * 1024)) for _ in range(2))
    large = min(_pipeline_seconds(_shape(shape, 256 * 1024)) for _ in range(2))
    assert large < 1.0, f"256 KB took {large:.2f}s"
    assert large < 30 * small + 0.05, f"32 KB {small:.3f}s, 256 KB {large:.3f}s: not linear"


# -- The shared helpers ------------------------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=400),
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=30), inner, max_size=12),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(value=JSONISH, limit=st.integers(64, 4_000))
def test_fit_json_is_within_its_limit_and_keeps_what_fits(value: Any, limit: int) -> None:
    fitted = fit_json(value, limit)
    assert len(encode_json(fitted)) <= limit
    if len(encode_json(value)) <= limit:
        assert fitted is value


def test_fit_json_keeps_small_values_whole_and_cuts_the_largest() -> None:
    value = {"count": 3, "id": "m-1", "big": "x" * 10_000, "bigger": ["y" * 20_000], "list": list(range(5_000))}
    fitted = fit_json(value, 2_000)
    assert (fitted["count"], fitted["id"]) == (3, "m-1")
    assert fitted["big"].endswith("…") and fitted["bigger"][0].endswith("…")
    assert fitted["list"][-1].endswith("more not listed")
    assert len(encode_json(fitted)) <= 2_000


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x?q=1&r=2#f", "https://a.example/x?q=1&r=2#f"),
        (SPOOF, "https://evil.example/login%7Chttps://wiki.corp.example/runbook"),
        ('http://a.example/<b> "c"\\d', "http://a.example/%3Cb%3E%20%22c%22%5Cd"),
        ("https://a.example/caf\u00e9", "https://a.example/caf%C3%A9"),
        ("https://a.example/%7C", "https://a.example/%7C"),
        ("HTTPS://A.EXAMPLE/", "HTTPS://A.EXAMPLE/"),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("https://", None),
        ("https:///path", None),
        ("ftp://a.example/", None),
        ("https://a.example/" + "a" * 3000, None),
        ("https://a.example/" + "\u00e9" * 1000, None),  # 3,000 characters once encoded
    ],
)
def test_safe_url_encodes_what_could_end_a_link_and_never_cuts(url: str, expected: str | None) -> None:
    assert safe_url(url, 3000) == expected


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0"), (-4, "0"), (42, "42"), (10**9, "999999999+"), (10**5000, "999999999+")],
    ids=["zero", "negative", "small", "1e9", "5000-digits"],
)
def test_format_count_is_short(count: int, text: str) -> None:
    assert format_count(count) == text


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("2026-11-22T02:50:00+05:30:15", "2026-11-21T21:19:45.000Z"),  # Python reads offsets with seconds
        ("2026-11-22T02:50:00.123456789-07:00", "2026-11-22T09:50:00.123Z"),
        ("2026-11-22 02:50:00 UTC", "2026-11-22T02:50:00.000Z"),
        ("9999-12-31T23:00:00-05:00", None),  # no UTC equivalent: left out, not a crash
    ],
)
def test_render_pagerduty_timestamp_is_rfc3339_in_utc(written: str, sent: str | None) -> None:
    body = alertmanager(1)
    body["alerts"][0]["startsAt"] = written
    [event] = render_pagerduty(group_of(sns_event(body)))
    assert event["payload"].get("timestamp") == sent
    assert pagerduty_problems({**event, "routing_key": "r" * 32}, 1000) == []


def test_render_pagerduty_one_event_per_alert_is_linear_in_the_alerts() -> None:
    """Each event used to scan the whole group for its links and drill flag: 1,500 alerts without links took
    11 s (quadratic); five times the alerts now cost about five times the CPU."""

    def cpu(n: int) -> float:
        body = alertmanager(n)
        for alert in body["alerts"]:
            alert["annotations"] = {"summary": "s"}
        group = group_of(sns_event(body))
        start = time.process_time()
        events = render_pagerduty(group, per_alert=True)
        spent = time.process_time() - start
        assert len(events) == n
        return spent

    small, large = min(cpu(300) for _ in range(2)), min(cpu(1500) for _ in range(2))
    assert large < 12 * small + 0.05, f"300 alerts {small:.3f} s, 1,500 alerts {large:.3f} s"
