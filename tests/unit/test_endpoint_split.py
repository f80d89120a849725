"""The endpoint's split: every SNS message fits whatever is large, stays a body the forwarders accept, and keeps
the identity (group key, alert id) that resolve matches firing by."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from alertlib.endpoint import MAX_BODY_BYTES, MAX_SNS_BYTES, SNS_LIMIT, TRUNCATED, sns_bytes, split_body
from alertlib.models import AlertGroup
from alertlib.normalise import normalise
from alertlib.parse import AlertmanagerMessage, parse_message, parse_payload, split_event
from alertlib.settings import Settings
from tests.conftest import NOW, sns_event
from tests.unit.helpers import alertmanager

# What the endpoint sends beside each part: the subject is at most 99 characters, the severity at most 100.
SUBJECT = "[FIRING:300] " + "A" * 86
ATTRIBUTES = {"source": "alertmanager", "severity": "s" * 100, "part": "999/999"}


def group_of(part: str) -> AlertGroup:
    """A part through the forwarders' own parse and normalise (no redaction: not what is tested here)."""
    [envelope] = split_event(sns_event(part))
    return normalise(parse_message(envelope), envelope, Settings(), NOW)


def identities(parts: list[str]) -> tuple[set[str], list[str]]:
    groups = [group_of(p) for p in parts]
    return {g.dedup_key for g in groups}, sorted(a.id for g in groups for a in g.alerts)


def whole_identity(body: dict[str, Any]) -> tuple[set[str], list[str]]:
    """The identity the forwarders give the body when it is not cut (as one message of any size)."""
    return identities([json.dumps(body)])


def label_300k() -> dict[str, Any]:
    body = alertmanager(2)
    body["alerts"][0]["labels"]["pod"] = "p" * 300_000
    return body


def generator_url_300k() -> dict[str, Any]:
    body = alertmanager(2)
    body["alerts"][1]["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + "x" * 300_000
    return body


def external_url_300k() -> dict[str, Any]:
    return alertmanager(2, externalURL="http://alertmanager.example.com/" + "x" * 300_000)


def common_labels_over_256k() -> dict[str, Any]:
    body = alertmanager(3)
    body["commonLabels"].update({f"label_{i}": "v" * 1000 for i in range(270)})
    return body


def group_key_huge() -> dict[str, Any]:
    return alertmanager(2, groupKey='{}:{alertname="' + "g" * 300_000 + '"}')


def many_moderate_labels() -> dict[str, Any]:
    body = alertmanager(1)
    body["alerts"][0]["labels"].update({f"label_{i:04d}": "m" * 150 for i in range(2000)})
    return body


def alerts_300_of_3k() -> dict[str, Any]:
    body = alertmanager(300)
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "d" * 3000
    return body


def multibyte() -> dict[str, Any]:
    body = alertmanager(3)
    body["groupLabels"]["team"] = "チーム" * 30_000  # 270 KB of 3-byte characters
    body["alerts"][0]["labels"]["service"] = "🚨" * 70_000  # 280 KB of 4-byte characters
    body["alerts"][1]["annotations"]["description"] = "警告" * 50_000
    return body


def about_1mb() -> dict[str, Any]:
    body = alertmanager(120, externalURL="http://alertmanager.example.com/" + "e" * 100_000)
    body["commonAnnotations"]["description"] = "c" * 100_000
    body["groupKey"] = "{}:{" + "k" * 100_000 + "}"
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "d" * 4000
    body["alerts"][0]["labels"]["blob"] = "b" * 150_000
    assert MAX_BODY_BYTES - 100_000 < len(json.dumps(body).encode()) <= MAX_BODY_BYTES
    return body


def no_fingerprints_huge_labels() -> dict[str, Any]:
    body = {k: v for k, v in alertmanager(2).items() if k not in ("version", "groupKey", "truncatedAlerts")}
    for alert in body["alerts"]:
        del alert["fingerprint"]
    body["alerts"][0]["labels"]["pod"] = "p" * 300_000
    body["groupLabels"]["pod"] = "q" * 300_000
    return body


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "label_300k": label_300k,
    "generator_url_300k": generator_url_300k,
    "external_url_300k": external_url_300k,
    "common_labels_over_256k": common_labels_over_256k,
    "group_key_huge": group_key_huge,
    "many_moderate_labels": many_moderate_labels,
    "alerts_300_of_3k": alerts_300_of_3k,
    "multibyte": multibyte,
    "about_1mb": about_1mb,
    "no_fingerprints_huge_labels": no_fingerprints_huge_labels,
}


def assert_fits_and_parses(parts: list[str], body: dict[str, Any]) -> None:
    for part in parts:
        assert len(part.encode()) <= MAX_SNS_BYTES
        assert sns_bytes(part, SUBJECT, ATTRIBUTES) <= SNS_LIMIT
        message = parse_payload(json.loads(part))
        assert isinstance(message, AlertmanagerMessage)
        assert message.status == body["status"]
    assert sum(len(json.loads(p)["alerts"]) for p in parts) == len(body["alerts"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_split_every_part_fits_sns_and_is_a_body_the_forwarders_accept(case: str) -> None:
    body = CASES[case]()
    parts = split_body(copy.deepcopy(body))
    assert_fits_and_parses(parts, body)


@pytest.mark.parametrize("case", sorted(CASES))
def test_split_keeps_the_identity_firing_and_resolved_share(case: str) -> None:
    """Cut or not, a group keeps its key and each alert its id, so a small resolve matches a large firing."""
    firing = CASES[case]()
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
        alert["annotations"] = {}  # a resolve is often smaller: it may fit where the firing was cut
        alert.pop("generatorURL", None)
    resolved.pop("externalURL", None)
    resolved["commonAnnotations"] = {}
    firing_keys = identities(split_body(firing))
    resolved_keys = identities(split_body(resolved))
    assert firing_keys == resolved_keys
    assert len(firing_keys[0]) == 1


@pytest.mark.parametrize("case", ["label_300k", "generator_url_300k", "many_moderate_labels", "multibyte"])
def test_split_a_cut_alert_keeps_the_id_the_forwarders_gave_it_whole(case: str) -> None:
    body = CASES[case]()
    assert identities(split_body(copy.deepcopy(body))) == whole_identity(body)


def test_split_without_fingerprints_keeps_the_ids_computed_from_the_whole_labels() -> None:
    body = no_fingerprints_huge_labels()
    _, whole_ids = whole_identity(body)
    cut_group, cut_ids = identities(split_body(copy.deepcopy(body)))
    assert cut_ids == whole_ids  # the fingerprint of the uncut labels is carried in the part
    assert len(cut_group) == 1  # the group key is a hash of the huge synthetic key, the same for every part


def test_split_keeps_what_matters_and_says_what_it_cut() -> None:
    body = alertmanager(1)
    alert = body["alerts"][0]
    alert["labels"]["pod"] = "p" * 300_000
    alert["annotations"]["description"] = "Disk full on node-7. " * 200
    [part] = split_body(copy.deepcopy(body))
    kept = json.loads(part)["alerts"][0]
    for name in ("alertname", "severity", "instance", "job"):
        assert kept["labels"][name] == alert["labels"][name]
    assert kept["labels"]["pod"].startswith("ppp") and kept["labels"]["pod"].endswith(TRUNCATED)
    assert kept["annotations"]["summary"] == alert["annotations"]["summary"]
    assert kept["annotations"]["description"] == alert["annotations"]["description"]
    assert kept["annotations"]["runbook_url"] == alert["annotations"]["runbook_url"]
    assert (kept["startsAt"], kept["endsAt"], kept["fingerprint"], kept["status"]) == (
        alert["startsAt"],
        alert["endsAt"],
        alert["fingerprint"],
        alert["status"],
    )


def test_split_never_cuts_a_url_into_a_broken_link() -> None:
    body = generator_url_300k()
    parts = split_body(copy.deepcopy(body))
    alerts = [a for p in parts for a in json.loads(p)["alerts"]]
    assert "generatorURL" not in alerts[1]  # too large to keep whole: left out, not cut
    assert alerts[0]["generatorURL"] == body["alerts"][0]["generatorURL"]
    external = split_body(external_url_300k())
    assert all("externalURL" not in json.loads(p) for p in external)


def test_split_cuts_multibyte_text_on_character_boundaries() -> None:
    parts = split_body(multibyte())
    for part in parts:
        part.encode("utf-8")  # no lone surrogate, no broken character
        message = json.loads(part)
        service = [a["labels"]["service"] for a in message["alerts"] if a["fingerprint"] == f"{0:016x}"]
        for value in service:
            assert set(value.removesuffix(TRUNCATED)) == {"🚨"}
        assert set(message["groupLabels"]["team"].removesuffix(TRUNCATED)) <= set("チーム")


def test_split_leaves_a_body_that_fits_as_it_is() -> None:
    body = alertmanager(3)
    [part] = split_body(copy.deepcopy(body))
    assert json.loads(part) == body


def test_split_escapes_characters_sns_refuses() -> None:
    body = alertmanager(1)
    body["alerts"][0]["labels"]["odd"] = "a\ufffeb\uffffc\x00d"
    [part] = split_body(body)
    assert "\ufffe" not in part and "\uffff" not in part and "\x00" not in part
    assert json.loads(part)["alerts"][0]["labels"]["odd"] == "a\ufffeb\uffffc\x00d"


def _fastest(body: dict[str, Any]) -> float:
    times = []
    for _ in range(3):
        copied = copy.deepcopy(body)
        started = time.perf_counter()
        split_body(copied)
        times.append(time.perf_counter() - started)
    return min(times)


def _many(n: int, size: int, char: str = "p") -> dict[str, Any]:
    body = alertmanager(n)
    for alert in body["alerts"]:
        alert["labels"]["pod"] = char * size  # every alert cut when size is large
    return body


@pytest.mark.parametrize(
    ("small", "large"),
    [
        (_many(600, 0), _many(2400, 0)),  # 310 KB and 1.25 MB of small alerts, both split
        (_many(1, 260_000), _many(4, 260_000)),  # 260 KB and 1 MB of alerts each cut
        (many_moderate_labels(), about_1mb()),
        # characters JSON or SNS escape take the slow path of the cut: one escape per character (8.5 s before)
        (_many(1, 110_000, "\ufffe"), _many(6, 55_000, "\ufffe")),
        (_many(1, 110_000, "\x01"), _many(6, 55_000, "\x01")),
    ],
    ids=["small alerts", "alerts cut", "labels cut", "U+FFFE cut", "control characters cut"],
)
def test_split_is_linear(small: dict[str, Any], large: dict[str, Any]) -> None:
    """A 1 MB body splits well under a second on this 2-core machine, and 4 times the input takes about 4 times
    as long, not 16 (generous bounds: other work shares the machine)."""
    small_time, large_time = _fastest(small), _fastest(large)
    assert all(len(part.encode()) <= MAX_SNS_BYTES for part in split_body(copy.deepcopy(large)))
    assert large_time < 1.5
    assert large_time < 10 * max(small_time, 0.005)


def test_split_logs_once_when_it_cuts(monkeypatch: pytest.MonkeyPatch) -> None:
    from alertlib import endpoint

    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(endpoint.logger, "warning", lambda msg, extra: logged.append((msg, extra)))
    split_body(_many(4, 260_000))
    [(message, extra)] = logged
    assert message == "alertmanager body cut to fit SNS" and extra["alerts_cut"] == 4 and extra["parts"] == 4
    split_body(alertmanager(3))
    assert len(logged) == 1  # nothing cut: nothing said


def test_split_every_part_carries_the_group_status_when_the_sender_gave_none() -> None:
    body = alerts_300_of_3k()
    body["status"] = "odd"
    for alert in body["alerts"][:150]:
        alert["status"] = "resolved"
    parts = split_body(body)
    assert len(parts) > 1
    assert {m.status for m in (parse_payload(json.loads(p)) for p in parts)} == {"firing"}
