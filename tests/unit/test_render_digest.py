"""Render for storms: the Slack digest of many groups and the PagerDuty storm incident, within every limit."""

from __future__ import annotations

import builtins
import json
import re
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertlib.errors import MalformedInput
from alertlib.models import Alert, AlertGroup, Link, LinkKind, Metric, Severity, Source, Status
from alertlib.render_pagerduty import EVENT_BUDGET, StormMember, render_pagerduty, render_storm, storm_dedup_key
from alertlib.render_slack import MAX_BLOCK_TEXT, message_blocks, render_digest
from alertlib.text import encode_json, service_name
from tests.conftest import NOW, sns_event
from tests.unit.helpers import MENTIONS, alarm, alertmanager, assert_sendable, group_of
from tests.unit.strategies import PAYLOAD
from tools.standins import pagerduty_problems, slack_problems

START = datetime(2026, 11, 22, 2, 50, tzinfo=UTC)
CONSOLE = "https://us-east-1.console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/"


def _group(
    name: str,
    status: Status = Status.FIRING,
    *,
    severity: Severity = Severity.CRITICAL,
    namespace: str = "AWS/RDS",
    start: datetime = START,
    links: tuple[Link, ...] | None = None,
    dedup: str | None = None,
) -> AlertGroup:
    """A CloudWatch alarm as `prepare` makes it: a group of one alert whose id and dedup key are the alarm's."""
    key = dedup or f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    alert = Alert(
        id=key,
        source=Source.CLOUDWATCH,
        status=status,
        severity=severity,
        title=name,
        summary=f"{name} crossed its threshold",
        account="123456789012",
        region="us-east-1",
        metric=Metric(namespace=namespace, name="CPUUtilization"),
        links=(Link(LinkKind.CONSOLE, CONSOLE + name, "AWS console"),) if links is None else links,
        starts_at=start,
        ends_at=start + timedelta(minutes=5) if status is Status.RESOLVED else None,
    )
    return AlertGroup(
        key=key, dedup_key=key, source=Source.CLOUDWATCH, status=status, severity=severity, title=name,
        alerts=(alert,), message_id=f"m-{name}-{status.value}",
    )  # fmt: skip


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def _blocks_text(message: dict[str, Any]) -> str:
    texts = []
    for block in message_blocks(message):
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [f["text"] for f in block.get("fields", [])]
    return "\n".join(texts)


def _sendable(message: dict[str, Any]) -> None:
    assert_sendable((_group("x"), [], message))  # every Slack limit, honest links, no mention, no planted address


def _sent_pagerduty(event: dict[str, Any]) -> None:
    body = {**event, "routing_key": "k" * 32}
    assert pagerduty_problems(body, len(encode_json(body))) == []
    assert len(encode_json(body)) <= EVENT_BUDGET


# -- Slack digest: content ----------------------------------------------------------------------------------------


def test_digest_header_counts_the_newest_state_of_each_alert() -> None:
    groups = [
        _group("a-fired-then-ok"),
        _group("b-ok-only", Status.RESOLVED),
        _group("c-fired"),
        _group("d-fired-twice"),
        _group("d-fired-twice"),
        _group("a-fired-then-ok", Status.RESOLVED),
    ]
    message = render_digest(groups, now=NOW, max_listed=10)
    header = message_blocks(message)[0]["text"]["text"]
    assert "2 alerts firing, 2 resolved" in header
    assert slack_problems(message) == []
    fields = [f["text"] for f in message_blocks(message)[1]["fields"]]
    assert fields[0] == "*Firing by severity*\n\U0001f534 2 critical"
    assert fields[1] == "*Firing by service*\nRDS 2"
    assert fields[2] == "*Resolved by severity*\n\U0001f534 2 critical"
    assert message["attachments"][0]["color"] == "#E01E5A"


def test_digest_shows_fired_and_resolved_apart_from_plain_resolves() -> None:
    groups = [_group("flapper"), _group("old-one", Status.RESOLVED), _group("flapper", Status.RESOLVED)]
    text = _blocks_text(render_digest(groups, now=NOW, max_listed=10))
    resolved = text[text.index("Resolved (1)") :]
    assert "old-one" in resolved.split("Fired and resolved")[0]
    assert "Fired and resolved in this digest (1)*\n*RDS* (1): flapper" in text
    assert "\U0001f534 *CRITICAL* \u00b7 *flapper*" not in text  # not listed as firing: its newest state is OK


def test_digest_an_ok_then_its_alarm_again_counts_as_firing() -> None:
    groups = [_group("again", Status.RESOLVED), _group("again")]
    message = render_digest(groups, now=NOW, max_listed=10)
    assert message_blocks(message)[0]["text"]["text"].endswith("1 alert firing")
    assert "*again*" in _blocks_text(message)


def test_digest_lists_the_most_severe_first_then_the_oldest_with_their_links() -> None:
    groups = [
        _group("warn-old", severity=Severity.WARNING, start=START - timedelta(hours=1)),
        _group("crit-new", start=START),
        _group("crit-old", start=START - timedelta(minutes=30)),
        _group("error", severity=Severity.ERROR),
        _group("info", severity=Severity.INFO, links=()),
    ]
    text = _blocks_text(render_digest(groups, now=NOW, max_listed=10))
    order = [m.group(1) for m in re.finditer(r"\* \u00b7 \*([a-z-]+)\*", text)]
    assert order == ["crit-old", "crit-new", "error", "warn-old", "info"]
    first = text[text.index("\U0001f534 *CRITICAL* \u00b7 *crit-old*") :].split("\n\U0001f534", 1)[0]
    assert "crit-old crossed its threshold" in first
    assert "RDS \u00b7 123456789012 \u00b7 us-east-1" in first
    assert "since <!date^" in first and "(40m 0s)" in first
    assert f"<{CONSOLE}crit-old|Console>" in first


def test_digest_names_every_other_firing_alert_by_service() -> None:
    groups = [_group(f"rds-{i}") for i in range(60)] + [_group(f"ecs-{i}", namespace="AWS/ECS") for i in range(30)]
    message = render_digest(groups, now=NOW, max_listed=5)
    text = _blocks_text(message)
    assert "*Also firing (85)*" in text
    assert "*RDS* (55): rds-5, rds-6" in text and "*ECS* (30): ecs-0, ecs-1" in text
    for i in range(60):
        assert f"rds-{i}" in text
    for i in range(30):
        assert f"ecs-{i}" in text
    assert "RDS 60 \u00b7 ECS 30" in text
    assert "RDS 60, ECS 30" in message["text"]


def test_digest_of_a_thousand_alerts_names_what_fits_and_counts_the_rest() -> None:
    groups = [_group(f"prod-service-{i % 7}-alarm-{i}", namespace=f"AWS/S{i % 7}") for i in range(1000)]
    groups += [_group(f"gone-{i}", Status.RESOLVED) for i in range(500)]
    message = render_digest(groups, now=NOW, max_listed=10)
    assert slack_problems(message) == []
    text = _blocks_text(message)
    assert "1,000" not in text and "1000 alerts firing, 500 resolved" in message_blocks(message)[0]["text"]["text"]
    also = text[text.index("*Also firing (990)*") : text.index("*\u2705 Resolved (500)")]
    named = sum(len(line.split(": ", 1)[1].split(" and ")[0].split(", ")) for line in also.splitlines()[1:])
    more = sum(int(n) for n in re.findall(r" and (\d+) more$", also, re.MULTILINE))
    assert named + more == 990 and named > 50
    resolved = text[text.index("Resolved (500)") :]
    named = len(re.findall(r"gone-\d+", resolved))
    assert named + sum(int(n) for n in re.findall(r" and (\d+) more", resolved)) == 500


def _long_names(count: int, prefix: str = "prod") -> list[str]:
    """Alarm names of 60 characters, as real CloudWatch alarm names run (issue 10)."""
    return [f"{prefix}-{i:04d}-".ljust(60, "x") for i in range(count)]


def _also_counts(text: str, names: list[str]) -> tuple[int, int]:
    """How many of `names` the "Also firing" part names, and how many its "and N more" count."""
    start = text.index("*Also firing")
    end = text.find("*\u2705 Resolved", start)
    also = text[start : end if end >= 0 else len(text)]
    named = sum(name in also for name in names)
    return named, sum(int(n) for n in re.findall(r" and (\d+) more$", also, re.MULTILINE))


def _within_sections(message: dict[str, Any]) -> None:
    assert slack_problems(message) == []
    assert len(_blocks_text(message)) <= MAX_BLOCK_TEXT
    for block in message_blocks(message):
        assert len(block.get("text", {}).get("text", "")) <= 3000


def test_digest_of_a_hundred_long_names_names_every_one() -> None:
    names = _long_names(100)  # a service line of 90 such names is longer than a section: it used to name none
    message = render_digest([_group(n) for n in names], now=NOW, max_listed=10)
    _within_sections(message)
    text = _blocks_text(message)
    assert "*Also firing (90)*" in text
    assert [n for n in names if n not in text] == []
    assert _also_counts(text, names[10:]) == (90, 0)


@pytest.mark.parametrize("total", [150, 1000])
def test_digest_of_many_long_names_names_what_fits_and_counts_the_rest_exactly(total: int) -> None:
    names = _long_names(total)
    message = render_digest([_group(n) for n in names], now=NOW, max_listed=10)
    _within_sections(message)
    text = _blocks_text(message)
    assert all(n in text for n in names[:10])
    named, more = _also_counts(text, names[10:])
    assert named + more == total - 10
    assert named >= 85  # the room left after ten detailed alerts holds about 90 names of 60 characters
    assert all(n in text for n in names[10 : 10 + named])  # oldest first, cut at a name boundary


def test_digest_names_firing_alerts_before_resolves_and_counts_every_service() -> None:
    firing = [(n, f"AWS/S{i % 3}") for i, n in enumerate(_long_names(300))]
    resolved = _long_names(200, "gone")
    groups = [_group(n, namespace=ns) for n, ns in firing] + [_group(n, Status.RESOLVED) for n in resolved]
    message = render_digest(groups, now=NOW, max_listed=10)
    _within_sections(message)
    text = _blocks_text(message)
    rest = [n for n, _ in firing[10:]]
    named, more = _also_counts(text, rest)
    assert named + more == 290 and named >= 75
    for service in ("S0", "S1", "S2"):  # every service keeps its line, cut with "and N more" rather than dropped
        assert re.search(rf"^\*{service}\* \(\d+\): {firing[0][0][:4]}", text, re.MULTILINE)
    gone = text[text.index("Resolved (200)") :]
    counted = sum(int(n) for n in re.findall(r" and (\d+) more", gone))
    assert sum(n in gone for n in resolved) + counted == 200


def test_digest_names_resolves_when_room_remains() -> None:
    groups = [_group(n) for n in _long_names(30)] + [_group(f"gone-{i}", Status.RESOLVED) for i in range(40)]
    text = _blocks_text(render_digest(groups, now=NOW, max_listed=10))
    assert all(f"gone-{i}," in text or text.endswith(f"gone-{i}") for i in range(40))


def test_digest_of_resolves_only_is_green() -> None:
    message = render_digest([_group(f"ok-{i}", Status.RESOLVED) for i in range(3)], now=NOW, max_listed=5)
    assert message_blocks(message)[0]["text"]["text"] == "\u2705 CRITICAL \u00b7 3 alerts resolved"
    assert message["attachments"][0]["color"] == "#2EB67D"
    assert "ok-0, ok-1, ok-2" in _blocks_text(message)


def test_digest_of_real_payloads_from_both_sources() -> None:
    groups = [group_of(sns_event(alarm(name=f"prod-rds-db{i}-CPUUtilization"))) for i in range(8)]
    groups.append(group_of(sns_event(alertmanager(4))))
    groups.append(group_of(sns_event(alarm(name="prod-rds-db2-CPUUtilization", state="OK"))))
    message = render_digest(groups, now=NOW, max_listed=3, title="prod-critical")
    _sendable(message)
    header = message_blocks(message)[0]["text"]["text"]
    assert header == "\U0001f6a8 CRITICAL \u00b7 11 alerts firing, 1 resolved \u00b7 prod-critical"
    text = _blocks_text(message)
    assert "HighLatency api-0:9090" in text and "<https://runbooks.example.com/high-latency|Runbook>" in text
    assert "Fired and resolved in this digest (1)*\n*RDS* (1): prod-rds-db2-CPUUtilization" in text
    assert "Digest of 10 messages \u00b7 CloudWatch, Alertmanager" in _text(message)


def test_digest_notice_opens_the_message_in_our_words() -> None:
    notice = "PagerDuty did not take these alerts (HTTP 400): check PagerDuty, page by hand <!channel> " * 30
    message = render_digest([_group(f"a{i}") for i in range(100)], now=NOW, max_listed=40, notice=notice)
    _sendable(message)
    header = message_blocks(message)[0]["text"]["text"]
    assert header.startswith("\u26a0\ufe0f PagerDuty delivery failed \u00b7 CRITICAL \u00b7 100 alerts")
    assert message_blocks(message)[1]["text"]["text"].startswith("PagerDuty did not take these alerts (HTTP 400)")
    assert message["text"].startswith("PagerDuty delivery failed: 100 alerts firing")


def test_digest_of_nothing_is_still_a_valid_message() -> None:
    message = render_digest([], now=NOW, max_listed=10)
    assert slack_problems(message) == []
    assert message_blocks(message)[0]["text"]["text"].endswith("0 alerts firing")


def test_service_name_prefers_the_service_tag_then_the_namespace_then_the_job() -> None:
    alert = _group("x").alerts[0]
    assert service_name(alert) == "RDS"
    assert service_name(replace(alert, labels={"Service": "orders"})) == "orders"
    assert service_name(replace(alert, metric=None, labels={"job": "api"})) == "api"
    assert service_name(replace(alert, metric=Metric(namespace="MyApp/Checkout"))) == "MyApp/Checkout"
    assert service_name(replace(alert, metric=None)) == "other"
    assert service_name(replace(alert, labels={"service": " \n" + "s" * 300_000})) == "s" * 59 + "\u2026"


# -- Slack digest: limits ------------------------------------------------------------------------------------------

HOSTILE = ("<!channel> <@U123> & <#C1|general> \U0001f525\U0001f469\u200d\U0001f469\u200d\U0001f467 *_` " * 6000)[
    :300_000
]


CONSOLE_EMOJI = "https://console.example/" + "\U0001f600" * 200_000


def _hostile(i: int, status: Status = Status.FIRING) -> AlertGroup:
    """Every string 300 KB of mentions, markup and emoji (one shared object, so 10,000 of them stay cheap)."""
    group = _group("h", status, dedup=f"{i}")
    alert = replace(
        group.alerts[0], title=HOSTILE, summary=HOSTILE, account=HOSTILE, region=HOSTILE, labels={"service": HOSTILE},
        links=(Link(LinkKind.RUNBOOK, "https://evil.example/login|https://wiki.example/<!channel>", HOSTILE),
               Link(LinkKind.CONSOLE, CONSOLE_EMOJI, HOSTILE)),
    )  # fmt: skip
    return replace(group, alerts=(alert,), title=HOSTILE)


@pytest.mark.parametrize("listed", [0, 1, 10, 40, 10_000])
def test_digest_of_ten_thousand_hostile_groups_keeps_every_limit(listed: int) -> None:
    groups = [_hostile(i, Status.RESOLVED if i % 3 == 0 else Status.FIRING) for i in range(10_000)]
    groups += [_hostile(i) for i in range(0, 300, 3)]  # fired again after their OK
    message = render_digest(groups, now=NOW, max_listed=listed, title=HOSTILE, notice=HOSTILE if listed == 40 else None)
    _sendable(message)
    assert len(_blocks_text(message)) <= MAX_BLOCK_TEXT
    assert len(message["text"]) <= 3000
    header = message_blocks(message)[0]["text"]["text"]
    assert "6766 alerts firing, 3234 resolved" in header
    for mention in MENTIONS:
        assert mention not in _text(message)
    assert "evil.example" not in _text(message)


def test_digest_of_ten_thousand_services_counts_what_it_cannot_name() -> None:
    groups = [_group(f"a{i}", namespace=f"Svc{i}") for i in range(10_000)]
    message = render_digest(groups, now=NOW, max_listed=5)
    _sendable(message)
    text = _blocks_text(message)
    hidden = re.search(r"and ([\d]+) more services \(([\d]+) alerts\)", text)
    assert hidden is not None
    shown = len(re.findall(r"^\*Svc\d+\* \(1\)", text, re.MULTILINE))
    assert shown + int(hidden.group(1)) == 9_995 and int(hidden.group(2)) == int(hidden.group(1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payloads=st.lists(PAYLOAD, min_size=1, max_size=4), listed=st.integers(-1, 60), data=st.data())
def test_digest_of_any_payloads_is_sendable(payloads: list[Any], listed: int, data: st.DataObject) -> None:
    groups = []
    for payload in payloads:
        try:
            groups.append(group_of(sns_event(payload)))
        except MalformedInput:
            continue
    groups += data.draw(st.lists(st.sampled_from(groups), max_size=3)) if groups else []  # states repeated
    _sendable(render_digest(groups, now=NOW, max_listed=listed, title=data.draw(st.text(max_size=300))))


def test_digest_and_storm_are_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = [_group(f"g{i}", Status.RESOLVED if i % 4 == 0 else Status.FIRING) for i in range(50)]
    members = [StormMember.of(g, g.alerts[0], first_seen=START) for g in groups]
    before = (list(groups), list(members))
    digest = render_digest(groups, now=NOW, max_listed=5)
    storm = render_storm(members, storm_id="s1", route_name="critical", action="trigger", opened_at=START)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("I/O in a renderer")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    assert render_digest(groups, now=NOW, max_listed=5) == digest
    assert render_storm(members, storm_id="s1", route_name="critical", action="trigger", opened_at=START) == storm
    assert (list(groups), list(members)) == before


# -- PagerDuty storm incident ----------------------------------------------------------------------------------------


def _member(i: int, **changes: Any) -> StormMember:
    member = StormMember(
        dedup_key=f"arn:alarm:{i}", title=f"alarm-{i}", severity=Severity.WARNING, service="RDS",
        state=Status.FIRING, first_seen=START + timedelta(seconds=i), source=f"db-{i}",
        links=(Link(LinkKind.CONSOLE, f"{CONSOLE}alarm-{i}", "AWS console"),),
    )  # fmt: skip
    return replace(member, **changes)


def test_storm_trigger_names_the_route_counts_and_lists_every_member() -> None:
    members = [_member(i, service="RDS") for i in range(200)] + [_member(i, service="ECS") for i in range(200, 350)]
    members += [_member(i, service="RDS", state=Status.RESOLVED) for i in range(350, 412)]
    members[7] = replace(members[7], severity=Severity.CRITICAL)
    members.append(replace(members[400], severity=Severity.CRITICAL))  # a later state of one member
    event = render_storm(members, storm_id="01HX", route_name="critical", action="trigger", opened_at=START)
    _sent_pagerduty(event)
    assert event["event_action"] == "trigger" and event["dedup_key"] == "storm-01HX"
    payload = event["payload"]
    assert payload["summary"] == "Alarm storm on critical: 412 alarms, 350 still firing (RDS 200, ECS 150)"
    assert payload["severity"] == "critical"  # the most severe firing member, never a resolved one
    assert payload["timestamp"] == "2026-11-22T02:50:00.000Z"
    details = payload["custom_details"]
    assert (details["alarms"], details["firing"], details["resolved"]) == (412, 350, 62)
    assert details["by_service"] == {"RDS": {"firing": 200, "resolved": 62}, "ECS": {"firing": 150, "resolved": 0}}
    assert details["firing_by_severity"] == {"critical": 1, "warning": 349}
    listed = details["members"]
    assert len(listed) == 412 and {m["name"] for m in listed} == {f"alarm-{i}" for i in range(412)}
    assert listed[0] == {
        "name": "alarm-7", "state": "firing", "severity": "critical", "service": "RDS",
        "first_seen": "2026-11-22T02:50:07.000Z",
    }  # fmt: skip
    assert [m["state"] for m in listed[-62:]] == ["resolved"] * 62
    assert len(event["links"]) == 5 and event["links"][0] == {"href": f"{CONSOLE}alarm-7", "text": "alarm-7 (console)"}


def test_storm_resolve_has_the_same_dedup_key() -> None:
    event = render_storm([_member(1)], storm_id="01HX", route_name="critical", action="resolve", opened_at=START)
    assert event == {"event_action": "resolve", "dedup_key": "storm-01HX"}
    _sent_pagerduty(event)
    assert storm_dedup_key("x" * 300).startswith("sha256:")


def test_storm_action_must_be_trigger_or_resolve() -> None:
    with pytest.raises(ValueError, match="trigger or resolve"):
        render_storm([], storm_id="1", route_name="r", action="acknowledge", opened_at=START)


def test_storm_of_no_firing_member_is_still_a_valid_trigger() -> None:
    for members in ([], [_member(1, state=Status.RESOLVED)]):
        event = render_storm(members, storm_id="1", route_name="", action="trigger", opened_at=START)
        _sent_pagerduty(event)
        assert "0 still firing" in event["payload"]["summary"]


def test_storm_of_ten_thousand_hostile_members_keeps_whole_members_and_counts_the_rest() -> None:
    members = [
        _member(i, title=HOSTILE, service=HOSTILE if i % 2 else f"svc-{i}", source=HOSTILE,
                links=(Link(LinkKind.CONSOLE, "https://x.example/" + HOSTILE[:100], HOSTILE),))
        for i in range(10_000)
    ]  # fmt: skip
    event = render_storm(members, storm_id=HOSTILE, route_name=HOSTILE, action="trigger", opened_at=START)
    _sent_pagerduty(event)
    assert len(event["dedup_key"]) <= 255 and len(event["payload"]["summary"]) <= 1024
    details = event["payload"]["custom_details"]
    assert details["alarms"] == 10_000
    listed = details["members"]
    whole = [m for m in listed if isinstance(m, dict)]
    assert set(whole[0]) == {"name", "state", "severity", "service", "first_seen"}
    assert listed[-1] == f"\u2026 {10_000 - len(whole)} more not listed (see the counts)"
    assert len(whole) > 300
    assert len(details["by_service"]) == 101  # the busiest 100 and the rest summed
    assert sum(c["firing"] for c in details["by_service"].values()) == 10_000


def test_storm_member_of_a_prepared_alarm_keeps_its_key_service_source_and_console() -> None:
    group = group_of(sns_event(alarm()))
    member = StormMember.of(group, group.alerts[0], first_seen=START)
    assert member.dedup_key == group.dedup_key
    assert (member.service, member.source, member.state, member.severity) == (
        "RDS", "orders-db", Status.FIRING, Severity.CRITICAL,
    )  # fmt: skip
    assert member.links[0].kind is LinkKind.CONSOLE
    am = group_of(sns_event(alertmanager(3)))
    keys = [StormMember.of(am, a, first_seen=START).dedup_key for a in am.alerts]
    assert keys == [event["dedup_key"] for event in render_pagerduty(am, per_alert=True)]
    alone = group_of(sns_event(alertmanager(1)))
    assert StormMember.of(alone, alone.alerts[0], first_seen=START).dedup_key == keys[0]  # alone or not: one key
