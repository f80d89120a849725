"""Slack action elements, click parsing and authorisation (issue 11)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertlib.errors import ConfigurationError, MalformedInput
from alertlib.slack_actions import (
    MAX_THREAD_KEY,
    Action,
    ActionKind,
    ActionState,
    Authoriser,
    NotAnAlertAction,
    Verdict,
    action_elements,
    parse_interaction,
    refusal,
    working_on_it,
)
from tests.unit.interactions_helpers import THREAD_KEY, click, form


def ids(block: dict[str, Any] | None) -> list[str]:
    return [e["action_id"] for e in (block or {}).get("elements", [])]


def test_slack_actions_firing_paged_alertmanager_group_gets_ack_and_silence() -> None:
    block = action_elements(ActionState(THREAD_KEY, paged=True, alertmanager=True))
    assert block is not None and block["type"] == "actions"
    assert ids(block) == ["alert.ack", "alert.silence"]
    silence = block["elements"][1]
    assert [o["value"] for o in silence["options"]] == [f"1h|{THREAD_KEY}", f"4h|{THREAD_KEY}", f"24h|{THREAD_KEY}"]
    assert [o["text"]["text"] for o in silence["options"]] == ["1 h", "4 h", "24 h"]
    assert block["elements"][0]["value"] == THREAD_KEY


def test_slack_actions_cloudwatch_alarm_gets_mute_then_unmute() -> None:
    assert ids(action_elements(ActionState(THREAD_KEY, cloudwatch=True))) == ["alert.mute"]
    assert ids(action_elements(ActionState(THREAD_KEY, cloudwatch=True, muted=True))) == ["alert.unmute"]


def test_slack_actions_silenced_group_gets_unsilence_even_when_resolved() -> None:
    assert ids(action_elements(ActionState(THREAD_KEY, alertmanager=True, silenced=True))) == ["alert.unsilence"]
    assert ids(action_elements(ActionState(THREAD_KEY, alertmanager=True, silenced=True, resolved=True))) == [
        "alert.unsilence"
    ]


@pytest.mark.parametrize(
    "state",
    [
        ActionState(THREAD_KEY, alertmanager=True, resolved=True),  # no silence on a resolved group
        ActionState(THREAD_KEY, cloudwatch=True, resolved=True),
        ActionState(THREAD_KEY, paged=True, resolved=True),  # nothing to acknowledge
        ActionState(THREAD_KEY, paged=True, acknowledged=True),
        ActionState(THREAD_KEY),  # Slack only, not paged
    ],
)
def test_slack_actions_nothing_to_offer_is_no_block(state: ActionState) -> None:
    assert action_elements(state) is None


def test_slack_actions_ack_only_when_paged() -> None:
    assert "alert.ack" not in ids(action_elements(ActionState(THREAD_KEY, alertmanager=True)))


@pytest.mark.parametrize("key", ["", "a" * (MAX_THREAD_KEY + 1), "key with space", "k|ey", "ké", "<@U1>"])
def test_slack_actions_unfit_thread_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="thread key"):
        action_elements(ActionState(key, paged=True))


def test_slack_actions_every_value_fits_slacks_limits() -> None:
    key = "k" * MAX_THREAD_KEY
    block = action_elements(ActionState(key, paged=True, alertmanager=True, cloudwatch=True))
    assert block is not None and len(block["elements"]) <= 25
    for element in block["elements"]:
        assert element["action_id"].startswith("alert.")
        if element["type"] == "button":
            assert len(element["value"]) <= 2000
        else:
            assert all(len(o["value"]) <= 150 for o in element["options"])


def test_slack_actions_round_trip_of_built_elements_through_a_click() -> None:
    block = action_elements(ActionState(THREAD_KEY, paged=True, alertmanager=True))
    assert block is not None
    four_hours = block["elements"][1]["options"][1]["value"]
    action = parse_interaction(form(click("alert.silence", selected=four_hours)))
    assert (action.kind, action.thread_key, action.duration_seconds) == (ActionKind.SILENCE, THREAD_KEY, 4 * 3600)
    assert action.duration_label == "4 h"


def test_slack_actions_parse_a_button_click() -> None:
    action = parse_interaction(form(click("alert.ack")))
    assert action == Action(
        kind=ActionKind.ACKNOWLEDGE,
        thread_key=THREAD_KEY,
        user_id="W111",
        user_name="ana",
        team_id="T111",
        channel_id="C111",
        message_ts="111.222",
        response_url="https://hooks.slack.com/actions/T111/111/random-value",
        action_ts="1596530385.194939",
        duration_seconds=None,
        team_domain="acme",
    )
    assert Action.from_json(json.loads(json.dumps(action.as_json()))) == action
    assert action.message_link == "https://acme.slack.com/archives/C111/p111222"


@pytest.mark.parametrize("domain", [None, "", "Acme", "evil.com/x", "a" * 70, 5])
def test_slack_actions_no_link_from_an_unfit_domain(domain: Any) -> None:
    payload = click()
    payload["team"]["domain"] = domain
    assert parse_interaction(form(payload)).message_link is None


def test_slack_actions_a_click_on_something_not_ours_is_told_apart() -> None:
    payload = click()
    payload["actions"] = [{"action_id": "open-runbook", "type": "button", "url": "https://runbooks.example.com"}]
    with pytest.raises(NotAnAlertAction):
        parse_interaction(form(payload))


def test_slack_actions_other_actions_in_the_payload_are_ignored() -> None:
    payload = click("alert.unmute")
    payload["actions"].insert(0, {"action_id": "someone-else", "value": "x"})
    assert parse_interaction(form(payload)).kind is ActionKind.UNMUTE


def _bad(mutate: Any) -> bytes:
    payload = click("alert.ack")
    mutate(payload)
    return form(payload)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "form|payload"),
        (b"payload=%7B", "not JSON"),
        (b"payload=%5B%5D", "not a JSON object"),
        (b"payload=a&payload=b", "single payload"),
        (b"\xff\xfe", "form"),
        (b"payload=" + b"%5B" * 100_000, "JSON"),
        (form({**click(), "type": "view_submission"}), "block_actions"),
        (_bad(lambda p: p.update(actions=[])), "no actions"),
        (_bad(lambda p: p.update(actions="x")), "no actions"),
        (_bad(lambda p: p["actions"].append(dict(p["actions"][0]))), "single alert action"),
        (_bad(lambda p: p["actions"][0].update(action_id="alert.delete")), "unknown"),
        (_bad(lambda p: p["actions"][0].update(value="bad key")), "thread key"),
        (_bad(lambda p: p["actions"][0].update(value=None)), "thread key"),
        (_bad(lambda p: p.update(user="W111")), "user"),
        (_bad(lambda p: p["user"].update(id="<script>")), "user id"),
        (_bad(lambda p: p.update(container={}, channel={})), "channel"),
        (_bad(lambda p: p.update(container={}, message={})), "message ts"),
        (_bad(lambda p: p.update(response_url="https://evil.example.com/x")), "response_url"),
        (_bad(lambda p: p.update(response_url="http://hooks.slack.com/x")), "response_url"),
        (_bad(lambda p: p.update(response_url="https://hooks.slack.com:8443/x")), "response_url"),
        (_bad(lambda p: p.update(response_url="https://hooks.slack.com.evil.com/x")), "response_url"),
        (_bad(lambda p: p.update(response_url=None)), "response_url"),
        (form(click("alert.silence", selected="2h|" + THREAD_KEY)), "duration"),
        (form(click("alert.silence", selected=THREAD_KEY)), "duration|key"),
        (_bad(lambda p: p["actions"][0].update(action_id="alert.mute")), "selected option"),
    ],
)
def test_slack_actions_malformed_or_hostile_payload_is_one_line(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason) as caught:
        parse_interaction(raw)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


@given(st.binary(max_size=300))
def test_slack_actions_any_bytes_parse_or_malformed(raw: bytes) -> None:
    try:
        parse_interaction(raw)
    except MalformedInput:
        pass


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
        max_leaves=20,
    )
)
def test_slack_actions_any_json_payload_parses_or_is_malformed(value: Any) -> None:
    for payload in (value, {**click(), "actions": value}, {**click(), "user": value, "container": value}):
        try:
            parse_interaction(form(payload))
        except MalformedInput:
            pass


def test_slack_actions_a_hostile_user_name_falls_back_to_the_id() -> None:
    payload = click()
    payload["user"]["username"] = "<!channel> *bold*"
    assert parse_interaction(form(payload)).user_name == "W111"


def test_slack_actions_local_response_host_only_when_configured() -> None:
    payload = click(response_url="http://127.0.0.1:9999/response")
    with pytest.raises(MalformedInput):
        parse_interaction(form(payload))
    assert parse_interaction(form(payload), response_hosts={"127.0.0.1"}).response_url.startswith("http://127.0.0.1")


def test_slack_actions_queued_action_is_checked_again() -> None:
    good = parse_interaction(form(click("alert.mute", selected=f"1h|{THREAD_KEY}"))).as_json()
    for change in ({"kind": "alert.nope"}, {"duration_seconds": 7}, {"duration_seconds": None}, {"user_id": "x y"}):
        with pytest.raises(MalformedInput):
            Action.from_json({**good, **change})
    with pytest.raises(MalformedInput):
        Action.from_json([good])


def test_slack_actions_listed_user_is_allowed_anyone_else_refused() -> None:
    authoriser = Authoriser.from_config(json.dumps({"users": ["W111"]}))
    assert authoriser.allows("W111")
    assert not authoriser.allows("U999")


def test_slack_actions_user_group_members_are_allowed_others_refused() -> None:
    calls: list[str] = []

    def members(group: str) -> list[str]:
        calls.append(group)
        return ["U222"]

    authoriser = Authoriser(usergroup_ids=frozenset({"S0123"}), members_of=members)
    assert authoriser.decide("U222") is Verdict.ALLOWED and authoriser.allows("U222")
    assert authoriser.decide("U333") is Verdict.REFUSED
    assert calls == ["S0123"] * 3  # the Authoriser keeps nothing: slack_api.UsergroupMembers keeps a minute


def test_slack_actions_unreadable_user_group_is_unchecked_never_granted_and_asked_again() -> None:
    answers: list[Any] = [RuntimeError("ratelimited"), ["U222"]]

    def members(group: str) -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    authoriser = Authoriser(usergroup_ids=frozenset({"S0123"}), members_of=members)
    assert authoriser.decide("U222") is Verdict.UNCHECKED
    assert authoriser.decide("U222") is Verdict.ALLOWED


def test_slack_actions_one_unreadable_group_does_not_hide_a_listed_user_or_another_group() -> None:
    def members(group: str) -> list[str]:
        if group == "S0BAD":
            raise TimeoutError("slow")
        return ["U222"]

    authoriser = Authoriser(
        user_ids=frozenset({"W111"}), usergroup_ids=frozenset({"S0BAD", "S0GOOD"}), members_of=members
    )
    assert authoriser.decide("W111") is Verdict.ALLOWED
    assert authoriser.decide("U222") is Verdict.ALLOWED
    assert authoriser.decide("U333") is Verdict.UNCHECKED  # not in the group read; the other one is unknown


@pytest.mark.parametrize(
    "value",
    [
        "nope",
        "[]",
        json.dumps({"users": "W111"}),
        json.dumps({"users": ["bad id"]}),
        json.dumps({"usergroups": ["U1"]}),
    ],
)
def test_slack_actions_malformed_actor_config_fails_fast(value: str) -> None:
    with pytest.raises(ConfigurationError):
        Authoriser.from_config(value, members_of=lambda g: [])


def test_slack_actions_user_groups_without_a_reader_fail_fast() -> None:
    with pytest.raises(ConfigurationError, match="members"):
        Authoriser.from_config(json.dumps({"usergroups": ["S0123"]}))


def test_slack_actions_refusal_is_ephemeral_and_keeps_the_message() -> None:
    action = parse_interaction(form(click()))
    body = refusal(action)
    assert body["response_type"] == "ephemeral" and body["replace_original"] is False
    assert "not allowed" in body["text"]
    unchecked = refusal(action, unchecked=True)
    assert unchecked["response_type"] == "ephemeral" and unchecked["replace_original"] is False
    assert unchecked["text"].startswith("Could not check") and "not allowed" not in unchecked["text"]
    assert working_on_it(parse_interaction(form(click("alert.silence", selected=f"24h|{THREAD_KEY}"))))[
        "text"
    ].startswith("Silencing for 24 h")
