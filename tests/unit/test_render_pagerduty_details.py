"""render_pagerduty: custom_details of an Alertmanager group read like a report, not a dump (issue 13). What every
alert shares is said once (common labels and annotations); each of the first 20 alerts (firing first, most severe
first) shows only what sets it apart; the rest are counted, with the range of values their labels take.

Measured on `_shop(300)` (300 pods of one namespace, 16 labels, a 510-character description each): the event was
91,566 bytes with 100 alerts listed whole, and is about 11 KB now."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from alertlib.models import Slo
from alertlib.render_pagerduty import EVENT_BUDGET, MAX_DETAIL_ALERTS, render_pagerduty
from alertlib.settings import Settings
from alertlib.text import json_size
from tests.conftest import sns_event
from tests.unit.helpers import alarm, alertmanager, group_of

COMMON = {"namespace": "shop", "container": "checkout", "cluster": "eu-prod-1", "service": "checkout"}


def _shop(n: int) -> dict[str, Any]:
    body = alertmanager(n)
    for i, alert in enumerate(body["alerts"]):
        alert["labels"].update({**COMMON, "pod": f"checkout-{i:04d}"})
        alert["annotations"]["description"] = (f"Pod shop/checkout-{i:04d} uses over 90% of its memory limit. " * 9)[
            :510
        ]
    body["commonLabels"].update(COMMON)
    return body


def _details(body: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """The custom_details of the one trigger a body becomes."""
    [event] = render_pagerduty(group_of(sns_event(body), settings))
    details: dict[str, Any] = event["payload"]["custom_details"]
    return details


def test_render_pagerduty_details_common_labels_once() -> None:
    details = _details(_shop(300))
    assert details["common_labels"]["namespace"] == "shop"
    assert details["common_labels"]["alertname"] == "HighLatency"
    for alert in details["alerts"]:
        assert set(alert["labels"]) == {"instance", "pod"}  # only what sets it apart


def test_render_pagerduty_details_about_20_alerts_and_a_count_of_the_rest() -> None:
    details = _details(_shop(300))
    assert len(details["alerts"]) == MAX_DETAIL_ALERTS == 20
    assert details["alerts_not_listed"] == 280
    assert details["not_listed_labels"]["pod"] == "checkout-0020 … checkout-0299 (280 values)"
    assert details["firing"] == 300


def test_render_pagerduty_details_of_300_alerts_are_small() -> None:
    [event] = render_pagerduty(group_of(sns_event(_shop(300))))
    assert json_size(event) < 16 * 1024  # 91,566 bytes before issue 13


def test_render_pagerduty_details_shared_annotations_said_once() -> None:
    details = _details(_shop(3))
    assert details["common_annotations"]["runbook_url"] == "https://runbooks.example.com/high-latency"
    for alert in details["alerts"]:
        assert "runbook_url" not in alert
        assert alert["description"].startswith("Pod shop/checkout-")  # it differs: shown, cut to 300
        assert len(alert["description"]) <= 300


def test_render_pagerduty_details_same_description_is_not_repeated() -> None:
    details = _details(alertmanager(5))  # every alert says "Requests are slow."
    assert details["common_annotations"]["description"] == "Requests are slow."
    assert all("description" not in alert for alert in details["alerts"])


def test_render_pagerduty_details_firing_and_most_severe_listed_first() -> None:
    body = alertmanager(30)
    for i, alert in enumerate(body["alerts"]):
        alert["status"] = "resolved" if i < 15 else "firing"
        alert["endsAt"] = "2026-11-22T03:10:00Z" if i < 15 else "0001-01-01T00:00:00Z"
        alert["labels"]["severity"] = "warning" if i != 29 else "critical"
    details = _details(body)
    listed = details["alerts"]
    assert [a["status"] for a in listed] == ["firing"] * 15 + ["resolved"] * 5
    assert listed[0]["severity"] == "critical" and listed[0]["labels"]["instance"] == "api-29:9090"
    assert "ends_at" in listed[-1] and "ends_at" not in listed[0]


def test_render_pagerduty_details_one_alert_keeps_every_label() -> None:
    body = _shop(3)
    for event in render_pagerduty(group_of(sns_event(body)), per_alert=True):
        [alert] = event["payload"]["custom_details"]["alerts"]
        assert alert["labels"]["namespace"] == "shop" and alert["labels"]["alertname"] == "HighLatency"
        assert alert["severity"] == "critical"


def test_render_pagerduty_details_large_differing_labels_fit_512_kb() -> None:
    body = alertmanager(150)
    for i, alert in enumerate(body["alerts"]):
        alert["labels"].update({f"label{j}": f"{i}-" + "v" * 2_000 for j in range(60)})
    [event] = render_pagerduty(group_of(sns_event(body)))
    assert json_size(event) + 64 <= EVENT_BUDGET
    details = event["payload"]["custom_details"]
    assert details["alerts_not_listed"] == 130
    assert len(details["not_listed_labels"]) <= 20


def test_render_pagerduty_details_of_an_alarm_name_the_environment_and_read_well() -> None:
    details = _details(alarm(), Settings(account_aliases={"123456789012": "shop-prod"}, environment_name="prod"))
    assert (details["account_name"], details["environment"]) == ("shop-prod", "prod")
    assert details["account"] == "123456789012"
    assert details["value"] == "97.5 %"
    assert not re.search(r"\d[eE][-+]?\d", json.dumps(details["threshold"]))  # never scientific notation
    assert "90 %" in details["threshold"]


def test_render_pagerduty_details_of_a_large_byte_value_have_a_unit_not_an_exponent() -> None:
    body = alarm(reason="Threshold Crossed: 1 datapoint [9.663676416E10 (22/11/26 02:55:00)] was less than the "
                 "threshold (1.073741824E11).")  # fmt: skip
    body["Trigger"].update(MetricName="FreeStorageSpace", Unit="Bytes", Threshold=107374182400.0,
                           ComparisonOperator="LessThanThreshold")  # fmt: skip
    details = _details(body)
    assert details["value"] == "90 GiB"
    assert "100 GiB" in details["threshold"]


def test_render_pagerduty_details_name_the_slo_an_alert_burns() -> None:
    slo = Slo(name="checkout-availability", objective=99.9, window="1h/5m", burn_rate=14.4, observed_burn_rate=20.5)
    for body in (alarm(), alertmanager(2)):
        group = group_of(sns_event(body))
        group = replace(group, alerts=tuple(replace(a, slo=slo) for a in group.alerts))
        [event] = render_pagerduty(group)
        details = event["payload"]["custom_details"]
        shown = details["slo"] if "slo" in details else details["alerts"][0]["slo"]
        assert shown == {
            "name": "checkout-availability",
            "objective": "99.9 %",
            "window": "1h/5m",
            "alerts_at_burn_rate": "14.4x",
            "burn_rate": "20.5x",
        }
