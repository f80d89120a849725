"""render_slack, as the person woken at 3 a.m. reads it (issue 13): what broke, where, how bad and what to do."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from alertlib.models import AlertGroup, Severity, Slo, Status
from alertlib.render_slack import (
    colour_for,
    compress_runs,
    delivery_failed_notice,
    emoji_for,
    mention,
    message_blocks,
    render_digest,
    render_slack,
)
from alertlib.settings import Settings
from tests.conftest import NOW, load_event, sns_event
from tests.unit.helpers import alarm, alertmanager, assert_sendable, group_of
from tests.unit.test_normalise import ANOMALY_EVENT
from tests.unit.test_wording_rules import assert_wording, mrkdwn_texts
from tools.standins import slack_problems

COMPOSITE = "eventbridge-alarm-state-change-composite-with-suppressor__aws-docs.json"
ALIASED = Settings(environment_name="prod", account_aliases={"123456789012": "shop-prod"})


def _header(message: dict[str, Any]) -> str:
    return str(message_blocks(message)[0]["text"]["text"])


def _fields(message: dict[str, Any]) -> dict[str, str]:
    return {
        f["text"].split("\n")[0].strip("*"): f["text"].split("\n", 1)[1]
        for b in message_blocks(message)
        for f in b.get("fields", [])
    }


def _text(message: dict[str, Any]) -> str:
    return "\n".join(mrkdwn_texts(message))


def _buttons(message: dict[str, Any]) -> list[str]:
    return [e["text"]["text"] for b in message_blocks(message) if b["type"] == "actions" for e in b["elements"]]


# -- Severity: in the header, the colour frames the message ------------------------------------------------------


@pytest.mark.parametrize("severity", list(Severity))
def test_wording_header_carries_severity_and_state(severity: Severity) -> None:
    group = group_of(sns_event(alarm()))
    group = replace(group, severity=severity, alerts=tuple(replace(a, severity=severity) for a in group.alerts))
    message = render_slack(group, now=NOW)
    assert _header(message).startswith(f"{emoji_for(severity, Status.FIRING)} {severity.value.upper()} · ALARM: ")
    assert message["attachments"][0]["color"] == colour_for(severity, Status.FIRING)
    assert message["blocks"][0]["type"] == "header"


def test_wording_colours_and_emoji_differ_by_severity_and_state() -> None:
    firing = {colour_for(s, Status.FIRING) for s in Severity}
    assert len(firing) == 4
    assert len({emoji_for(s, Status.FIRING) for s in Severity}) == 4
    others = {colour_for(Severity.CRITICAL, Status.RESOLVED), colour_for(Severity.CRITICAL, Status.INSUFFICIENT_DATA)}
    assert len(others) == 2 and not others & firing
    assert colour_for(Severity.CRITICAL, Status.RESOLVED) == colour_for(Severity.INFO, Status.RESOLVED)


# -- The comparison never disappears --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparison", "words"),
    [
        ("GreaterThanOrEqualToThreshold", "at or above 1"),
        ("GreaterThanThreshold", "above 1"),
        ("LessThanThreshold", "below 1"),
        ("LessThanOrEqualToThreshold", "at or below 1"),
    ],
)
def test_wording_threshold_field_says_the_comparison(comparison: str, words: str) -> None:
    body = alarm()
    body["Trigger"].update(ComparisonOperator=comparison, Threshold=1.0, MetricName="Errors", Namespace="AWS/Lambda")
    message = render_slack(group_of(sns_event(body)), now=NOW)
    assert _fields(message)["Threshold"].startswith(words)
    assert_wording(message)


# -- Times: when it started, and late delivery said loudly ---------------------------------------------------------


def test_wording_shows_when_it_started_not_firing_for() -> None:
    message = render_slack(group_of(sns_event(alarm())), now=NOW - timedelta(minutes=5) + timedelta(seconds=40))
    fields = _fields(message)
    assert fields["Started"].startswith("<!date^1795316100^")
    assert "Firing for" not in fields and "late" not in _text(message)


def test_wording_late_delivery_is_said_loudly() -> None:
    message = render_slack(group_of(sns_event(alarm())), now=NOW + timedelta(days=11, hours=22))
    assert "*This state change was delivered 11 days late*" in _text(message)
    assert_wording(message)


@pytest.mark.parametrize(("minutes", "late"), [(4, False), (6, True)])
def test_wording_late_after_five_minutes(minutes: int, late: bool) -> None:
    started = NOW - timedelta(minutes=5)  # the helper's alarm changed state at 02:55
    message = render_slack(group_of(sns_event(alarm())), now=started + timedelta(minutes=minutes))
    assert ("delivered" in _text(message)) is late


def test_wording_late_resolve_counts_from_its_own_change() -> None:
    ok = group_of(sns_event(alarm(state="OK", StateChangeTime="2026-11-22T02:58:00.000+0000")))
    assert "delivered" not in _text(render_slack(ok, now=NOW))
    assert "delivered 3 hours late" in _text(render_slack(ok, now=NOW + timedelta(hours=3)))


def test_wording_alertmanager_is_never_late() -> None:
    message = render_slack(group_of(sns_event(alertmanager(2))), now=NOW + timedelta(days=30))
    assert "delivered" not in _text(message)


def test_wording_never_lasted_unknown() -> None:
    message = render_slack(group_of(sns_event(alarm(state="OK"))), now=NOW)  # SNS says when it ended, not began
    fields = _fields(message)
    assert "Lasted" not in fields and "unknown" not in json.dumps(message)
    assert fields["Resolved"].startswith("<!date^")


def test_wording_resolve_says_how_long_it_lasted_when_both_ends_are_known() -> None:
    event = load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")
    detail = event["detail"]
    ended = {**detail["previousState"], "timestamp": "2019-10-02T17:20:00.000+0000"}
    detail["state"], detail["previousState"] = ended, detail["state"]
    fields = _fields(render_slack(group_of(event), now=NOW))
    assert fields["Lasted"] == "15m 19s"


def test_wording_insufficient_data_says_no_data_since() -> None:
    message = render_slack(group_of(sns_event(alarm(state="INSUFFICIENT_DATA"))), now=NOW)
    assert _fields(message)["No data since"].startswith("<!date^")
    assert "No data for CPUUtilization on orders-db since" in _text(message)
    assert "INSUFFICIENT DATA" in _header(message)


# -- Kinds of alarm ----------------------------------------------------------------------------------------------


def test_wording_recovery_says_recovered() -> None:
    reason = "Threshold Crossed: 1 datapoint [40.0 (22/11/26 03:10:00)] was not greater than the threshold (90.0)."
    message = render_slack(group_of(sns_event(alarm(state="OK", reason=reason))), now=NOW)
    assert "Recovered: CPUUtilization 40 % (alarm above 90 %) on orders-db" in _text(message)
    assert "Recovered" in message["text"]


def test_wording_composite_names_its_trigger_first_and_no_arn() -> None:
    message = render_slack(group_of(load_event(COMPOSITE)), now=NOW)
    summary = next(t for t in mrkdwn_texts(message) if t.startswith("triggered by"))
    assert summary.startswith("triggered by ServerCpuTooHigh")
    assert "arn:aws:cloudwatch" not in _text(message) and "arn:aws:cloudwatch" not in message["text"]
    assert "triggered by ServerCpuTooHigh" in message["text"][:120]


def test_wording_anomaly_shows_the_band() -> None:
    message = render_slack(group_of(copy.deepcopy(ANOMALY_EVENT)), now=NOW)
    assert "0.0206 % to 0.301 %" in _fields(message)["Threshold"]
    assert "CPUUtilization 0 % (alarm outside the band 0.0206 % to 0.301 %)" in _text(message)
    assert "ANOMALY_DETECTION_BAND(m1, 0.8) = 0" not in _text(message)
    assert_wording(message)


def test_wording_eventbridge_threshold_has_a_direction() -> None:
    message = render_slack(group_of(load_event("eventbridge-alarm-state-change-single-metric__aws-docs.json")), now=NOW)
    assert _fields(message)["Threshold"] == "above 50 %"


def test_wording_metric_math_shows_every_metric() -> None:
    message = render_slack(group_of(load_event("lambda-sns-cloudwatch-metric-math-alarm__aws-lambda-go.json")), now=NOW)
    assert "m1: AWS/EC2 NetworkOut (InstanceId=TestInstance) Average/60s" in _fields(message)["Metric"]


# -- Suppressed composites ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suppression", "words"),
    [("WaitPeriod", "wait period"), ("ExtensionPeriod", "extension period"), ("ALARM", "in ALARM")],
)
def test_wording_suppressed_composite_names_its_suppressor(suppression: str, words: str) -> None:
    event = load_event(COMPOSITE)
    event["detail"]["state"]["actionsSuppressedBy"] = suppression
    message = render_slack(group_of(event), now=NOW)
    assert f"suppressed by ServiceMaintenanceAlarm ({'suppressor ' if suppression == 'ALARM' else ''}" in _text(message)
    assert words in _text(message)
    assert "(suppressed)" in _header(message)
    assert "suppressed by ServiceMaintenanceAlarm" in message["text"]
    assert_wording(message)


def test_wording_unsuppressed_composite_says_nothing_of_suppression() -> None:
    event = load_event(COMPOSITE)
    del event["detail"]["state"]["actionsSuppressedBy"]
    message = render_slack(group_of(event), now=NOW)
    assert "uppressed by" not in _text(message) and "suppressed" not in _header(message)
    assert "suppressed" not in message["text"]


# -- Alertmanager groups -----------------------------------------------------------------------------------------


def _pods(n: int, *, status: str = "firing", runbook: str | None = "https://runbooks.example.com/latency") -> Any:
    body = alertmanager(n, status=status)
    for index, item in enumerate(body["alerts"]):
        instance = f"10.0.{index // 250}.{index % 250}:9100"
        item["labels"] = {"alertname": "HighLatency", "severity": "critical", "namespace": "shop",
                          "pod": f"checkout-{index:04d}", "instance": instance}  # fmt: skip
        item["annotations"] = {"summary": "p99 latency above 2 s"}
        if runbook:
            item["annotations"]["runbook_url"] = runbook
    body["commonLabels"] = {"alertname": "HighLatency", "severity": "critical", "namespace": "shop"}
    body["commonAnnotations"] = {"summary": "p99 latency above 2 s"}
    return sns_event(body)


def test_wording_group_common_labels_once_and_differing_ones_compressed() -> None:
    message = render_slack(group_of(_pods(300)), now=NOW)
    text = _text(message)
    assert text.count("namespace=shop") == 1
    assert "pod: checkout-0000 … 0009, +290" in text
    assert "instance: 10.0.0.0:9100 … 10.0.0.9:9100, +290" in text
    assert text.count("300 firing") == 1 and "resolved" not in text
    assert_wording(message)
    assert_sendable((group_of(_pods(300)), [], message))


def test_wording_group_push_text_names_the_first_alert() -> None:
    message = render_slack(group_of(_pods(300)), now=NOW)
    assert message["text"].startswith("🔴 HighLatency (300 firing): p99 latency above 2 s")
    assert "pod=checkout-0000" in message["text"]


def test_wording_group_one_runbook_button_when_all_share_it() -> None:
    message = render_slack(group_of(_pods(12)), now=NOW)
    assert _buttons(message).count("Runbook") == 1
    assert "runbooks.example.com" not in _text(message)  # no link per line


def test_wording_group_lists_runbooks_per_line_when_they_differ() -> None:
    event = _pods(3)
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    for index, item in enumerate(body["alerts"]):
        item["annotations"]["summary"] = f"latency on pod {index}"
        item["annotations"]["runbook_url"] = f"https://runbooks.example.com/{index}"
    message = render_slack(group_of(sns_event(body)), now=NOW)
    assert "https://runbooks.example.com/2" in _text(message)


def test_wording_group_open_in_alertmanager_and_no_silence_once_resolved() -> None:
    firing = render_slack(group_of(_pods(3)), now=NOW)
    assert "Open in Alertmanager" in _buttons(firing) and "Silence" in _buttons(firing)
    url = next(e["url"] for b in message_blocks(firing) if b["type"] == "actions" for e in b["elements"]
               if e["text"]["text"] == "Open in Alertmanager")  # fmt: skip
    assert url.startswith("http://alertmanager.example.com:9093/#/alerts?filter=")
    resolved = render_slack(group_of(_pods(3, status="resolved")), now=NOW)
    assert "Silence" not in _buttons(resolved) and "Open in Alertmanager" in _buttons(resolved)


def test_wording_mixed_group_counts_resolved_only_when_there_are_some() -> None:
    event = _pods(4)
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    body["alerts"][3]["status"] = "resolved"
    body["alerts"][3]["endsAt"] = "2026-11-22T02:59:00Z"
    message = render_slack(group_of(sns_event(body)), now=NOW)
    assert _fields(message)["Alerts"] == "3 firing, 1 resolved"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ([f"checkout-{i:04d}" for i in range(10)], "checkout-0000 … 0009"),
        (["a-1", "a-2"], "a-1, a-2"),
        (["a-1", "a-2", "a-3", "b", "a-7"], "a-1 … 3, b, a-7"),
        (["web-9", "web-10", "web-11"], "web-9 … 11"),
        (["api-1:9090", "api-2:9090", "api-3:9090"], "api-1:9090 … api-3:9090"),
        ([], ""),
    ],
)
def test_compress_runs(values: list[str], text: str) -> None:
    assert compress_runs(values) == text


# -- The lock screen: what broke and where first, the environment named ------------------------------------------


def test_wording_push_text_starts_with_what_broke_and_names_the_environment() -> None:
    message = render_slack(group_of(sns_event(alarm()), ALIASED), now=NOW)
    assert message["text"].startswith("🔴 prod-rds-orders-db-CPUUtilization: CPUUtilization 97.5 % (alarm above 90 %)")
    assert "shop-prod" in message["text"] and "123456789012" not in message["text"]
    assert _fields(message)["Account · Region"] == "shop-prod · us-east-1"
    assert "account 123456789012" in _text(message)  # the number once, in the footer


def test_wording_alertmanager_names_the_environment() -> None:
    message = render_slack(group_of(sns_event(alertmanager(1)), ALIASED), now=NOW)
    assert _fields(message)["Environment"] == "prod"
    assert message["text"].endswith("· prod")


def test_wording_account_without_alias_is_the_environment_on_the_lock_screen() -> None:
    message = render_slack(group_of(sns_event(alarm()), Settings(environment_name="prod")), now=NOW)
    assert message["text"].endswith(" · prod · us-east-1") and "123456789012" not in message["text"]
    assert _fields(message)["Account · Region"] == "123456789012 · us-east-1"  # the number where there is room


def test_wording_account_without_alias_nor_environment_is_its_number() -> None:
    message = render_slack(group_of(sns_event(alarm())), now=NOW)
    assert message["text"].endswith(" · 123456789012 · us-east-1")


def test_wording_digest_names_the_account_by_its_alias() -> None:
    groups = [group_of(sns_event(alarm(name=f"db-{i}")), ALIASED) for i in range(3)]
    message = render_digest(groups, now=NOW, max_listed=3)
    assert "shop-prod" in _text(message) and "123456789012" not in _text(message)


# -- The PagerDuty-delivery-failed notice -------------------------------------------------------------------------


def test_wording_notice_mentions_the_configured_group() -> None:
    group = group_of(sns_event(alarm()))
    notice = delivery_failed_notice(group, "HTTP 400")
    message = render_slack(group, now=NOW, notice=notice, oncall_slack_group="S0123ABCD")
    assert message["text"].startswith("<!subteam^S0123ABCD> PagerDuty delivery failed: ")
    assert "<!subteam^S0123ABCD>" in _text(message)
    assert _header(message).startswith("⚠️ PagerDuty delivery failed · CRITICAL · ALARM")
    assert "page the on-call by hand" in _text(message)
    assert slack_problems(message) == []


def test_wording_notice_mention_is_never_taken_from_alert_text() -> None:
    body = alarm(description="<!subteam^SEVIL> <!channel>", name="<!subteam^SEVIL2>")
    group = group_of(sns_event(body))
    message = render_slack(group, now=NOW, notice="PagerDuty did not take <!subteam^SX>", oncall_slack_group=None)
    sent = json.dumps(message, ensure_ascii=False)
    assert "<!subteam" not in sent and "<!channel>" not in sent
    assert mention("S0123ABCD") == "<!subteam^S0123ABCD>"
    assert mention("<!channel>") == "" and mention("S1> <!here") == "" and mention(None) == ""


@pytest.mark.parametrize("status", [Status.FIRING, Status.RESOLVED])
@pytest.mark.parametrize("maybe", [True, False])
def test_wording_notice_words(status: Status, maybe: bool) -> None:
    group = group_of(sns_event(alarm(state="ALARM" if status is Status.FIRING else "OK")))
    text = delivery_failed_notice(group, "HTTP 400 " + "x" * 1000, maybe_delivered=maybe)
    assert "HTTP 400" in text and len(text) < 700
    assert ("resolve" in text) is (status is Status.RESOLVED or maybe)


# -- SLO alerts ----------------------------------------------------------------------------------------------------


def _slo_group(slo: Slo) -> AlertGroup:
    group = group_of(sns_event(alarm(name="checkout-availability-burn-1h")))
    return replace(group, alerts=tuple(replace(a, slo=slo) for a in group.alerts))


def test_wording_slo_alert_says_which_slo_window_burn_and_budget() -> None:
    slo = Slo(name="checkout-availability", objective=99.9, window="1h/5m", burn_rate=14.4, observed_burn_rate=15.2,
              budget_left=35.0, action="page")  # fmt: skip
    message = render_slack(_slo_group(slo), now=NOW)
    text = _text(message)
    assert "*SLO*" in text
    for part in ("checkout-availability (objective 99.9 %)", "window 1h/5m", "burning 15.2x (alerts at 14.4x)",
                 "35 % of the error budget left", "pages the on-call"):  # fmt: skip
        assert part in text
    assert_wording(message)


def test_wording_slo_with_only_a_name_and_a_ticket() -> None:
    message = render_slack(_slo_group(Slo(name="search-latency", burn_rate=1.0, action="ticket")), now=NOW)
    text = _text(message)
    assert "search-latency · burn rate above 1x · opens a ticket" in text


def test_wording_slo_hostile_name_is_escaped_and_bounded() -> None:
    message = render_slack(_slo_group(Slo(name="<!channel> " + "s" * 5000)), now=NOW)
    assert "<!channel>" not in json.dumps(message) and slack_problems(message) == []


# -- Digests keep the rules too -------------------------------------------------------------------------------------


def test_wording_digest_push_text_has_no_brackets() -> None:
    groups = [group_of(sns_event(alarm(name=f"db-{i}"))) for i in range(6)]
    message = render_digest(groups, now=NOW, max_listed=3)
    assert message["text"].startswith("6 alerts firing")
    assert "[" not in message["text"]
    assert_wording(message)


def test_wording_cloudwatch_slo_alarm_is_recognised_and_shown() -> None:
    line = "slo: name=checkout-availability objective=99.9 period=30d window=1h/5m burn=14.4 action=page"
    body = alarm(
        name="checkout-availability-burn", description=f"Error budget burning.\n{line}\nrunbook: https://r.example/slo"
    )
    group = group_of(sns_event(body))
    slo = group.alerts[0].slo
    assert slo is not None and (slo.name, slo.window, slo.burn_rate, slo.action) == (
        "checkout-availability",
        "1h/5m",
        14.4,
        "page",
    )
    assert "slo:" not in group.alerts[0].description
    message = render_slack(group, now=NOW)
    assert "checkout-availability (objective 99.9 %)" in _text(message) and "pages the on-call" in _text(message)
    assert_wording(message)


def test_wording_prometheus_slo_alert_is_recognised_and_shown() -> None:
    body = alertmanager(1)
    body["alerts"][0]["labels"].update(slo="search-latency", slo_window="6h/30m", slo_action="ticket")
    body["alerts"][0]["annotations"].update(slo_objective="99", burn_rate="6", budget_left="42%")
    group = group_of(sns_event(body))
    assert group.alerts[0].slo is not None and group.alerts[0].slo.name == "search-latency"
    text = _text(render_slack(group, now=NOW))
    assert "search-latency (objective 99 %)" in text and "42 % of the error budget left" in text
    assert "opens a ticket" in text


def test_wording_alarm_without_slo_line_has_no_slo() -> None:
    assert group_of(sns_event(alarm())).alerts[0].slo is None


def test_wording_flush_fallback_notice_mentions_the_oncall_group() -> None:
    from alertlib.render_slack import render_digest

    group = group_of(sns_event(alarm()))
    body = render_digest([group, group], now=NOW, max_listed=5, notice="PagerDuty did not take these.",
                         oncall_slack_group="S0ONCALL")  # fmt: skip
    assert body["text"].startswith("<!subteam^S0ONCALL> ")
    texts = [b["text"]["text"] for b in body["attachments"][0]["blocks"] if b.get("type") == "section" and "text" in b]
    assert any(t.endswith("\n<!subteam^S0ONCALL>") for t in texts)
    quiet = render_digest([group, group], now=NOW, max_listed=5, oncall_slack_group="S0ONCALL")
    assert "subteam" not in str(quiet)  # only a notice mentions anyone
