"""render_thread: the words of each thread reply, and the parent's status line, colour and actions within Slack's
limits, on messages render_slack really makes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alertlib.models import Status
from alertlib.render_slack import COLOURS, render_slack
from alertlib.render_thread import (
    ACKNOWLEDGED_COLOUR,
    QUIET_COLOUR,
    STATUS_BLOCK,
    duration,
    render_parent,
    render_reply,
    reply_line,
    status_line,
    thread_colour,
)
from alertlib.threads import Actor, EventKind, ThreadEvent, ThreadState, apply_event
from tests.conftest import NOW
from tests.unit.helpers import alarm, alertmanager, group_of
from tools.slack_api_standin import block_problems

T0 = datetime(2026, 12, 3, 2, 55, tzinfo=UTC)
ANA = Actor.of("U0ANA", "ana")
BO = Actor.of(None, "Bo <!channel> Li")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fired() -> ThreadState:
    return apply_event(ThreadState(), ThreadEvent(EventKind.FIRED, T0))


def line(event: ThreadEvent, state: ThreadState | None = None) -> str:
    return reply_line(event, apply_event(state or fired(), event))


def plain(text: str) -> str:
    """What Slack shows for a date token: its fallback."""
    import re

    return re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ThreadEvent(EventKind.RESOLVED, at(17)), "Resolved after 17 min"),
        (ThreadEvent(EventKind.ACKNOWLEDGED, at(17), actor=ANA), "Acknowledged by <@U0ANA> 03:12 UTC"),
        (ThreadEvent(EventKind.SILENCED, at(17), actor=ANA, until=at(17 + 240)),
         "Silenced for 4 h by <@U0ANA>, until 07:12 UTC"),
        (ThreadEvent(EventKind.MUTED, at(17), actor=ANA, until=at(17 + 60)),
         "Muted for 1 h by <@U0ANA>, until 04:12 UTC"),
        (ThreadEvent(EventKind.SILENCED, at(17), actor=ANA, until=at(17 + 1440)),
         "Silenced for 1 d by <@U0ANA>, until Dec 4 03:12 UTC"),
        (ThreadEvent(EventKind.UNSILENCED, at(45), actor=ANA), "Silence removed by <@U0ANA> 03:40 UTC"),
        (ThreadEvent(EventKind.UNMUTED, at(45), actor=ANA), "Unmuted by <@U0ANA> 03:40 UTC"),
        (ThreadEvent(EventKind.REPEATED, at(125)), "Still firing, for 2 h 5 min"),
        (ThreadEvent(EventKind.REASSIGNED, at(20), target=Actor.of(None, "bo")), "Reassigned to bo"),
        (ThreadEvent(EventKind.ESCALATED, at(20), target=Actor.of("U0BO")), "Escalated to <@U0BO>"),
        (ThreadEvent(EventKind.RESOLVED, at(17), actor=ANA), "Resolved by <@U0ANA> after 17 min"),
    ],
)  # fmt: skip
def test_render_thread_reply_says_what_happened(event: ThreadEvent, expected: str) -> None:
    assert plain(line(event)).endswith(expected)


def test_render_thread_reply_refire_counts_the_episodes() -> None:
    state = apply_event(fired(), ThreadEvent(EventKind.RESOLVED, at(10)))
    assert "Firing again (2nd time)" in line(ThreadEvent(EventKind.REFIRED, at(30)), state)


def test_render_thread_reply_escapes_outside_names_and_details_and_never_pings() -> None:
    event = ThreadEvent(EventKind.REASSIGNED, at(1), target=BO, actor=Actor.of("<!here>", "<@U999>"),
                        detail="<!channel> & <https://evil|x>")  # fmt: skip
    text = json.dumps(render_reply(event, fired()))
    for ping in ("<!channel>", "<!here>", "<@U999>", "<https://evil"):
        assert ping not in text
    assert "Bo &lt;!channel&gt; Li" in text and "&amp;" in text


def test_render_thread_reply_is_a_valid_message() -> None:
    body = render_reply(ThreadEvent(EventKind.ACKNOWLEDGED, at(1), actor=ANA), fired())
    assert block_problems(body) == [] and body["text"]


def test_render_thread_duration_words() -> None:
    assert [duration(s) for s in (0, 45, 17 * 60, 4 * 3600, 5400, 2 * 86400 + 3 * 3600, -5)] == [
        "0 s", "45 s", "17 min", "4 h", "1 h 30 min", "2 d 3 h", "0 s"]  # fmt: skip


def test_render_thread_status_line_names_who_and_until_when() -> None:
    state = apply_event(fired(), ThreadEvent(EventKind.ACKNOWLEDGED, at(17), actor=ANA))
    state = apply_event(state, ThreadEvent(EventKind.SILENCED, at(18), actor=ANA, until=at(17 + 240)))
    assert (
        plain(status_line(state, at(20))) == "Acknowledged by <@U0ANA> 03:12 UTC · Silenced until 07:12 UTC by <@U0ANA>"
    )
    assert "Silenced" not in status_line(state, at(17 + 241))  # over: no longer said
    assert status_line(fired(), at(1)) == "Not acknowledged"
    resolved = apply_event(fired(), ThreadEvent(EventKind.RESOLVED, at(17)))
    assert status_line(resolved, at(20)) == "Resolved after 17 min"


def test_render_thread_colour_of_each_state() -> None:
    acked = apply_event(fired(), ThreadEvent(EventKind.ACKNOWLEDGED, at(1), actor=ANA))
    muted = apply_event(acked, ThreadEvent(EventKind.MUTED, at(2), actor=ANA, until=at(62)))
    resolved = apply_event(muted, ThreadEvent(EventKind.RESOLVED, at(3)))
    assert thread_colour(fired(), at(5)) == COLOURS[Status.FIRING]
    assert thread_colour(fired(), at(5), "#E8710A") == "#E8710A"  # firing keeps the severity's colour
    assert thread_colour(acked, at(5), "#E8710A") == ACKNOWLEDGED_COLOUR
    assert thread_colour(muted, at(5)) == QUIET_COLOUR and thread_colour(muted, at(70)) == ACKNOWLEDGED_COLOUR
    assert thread_colour(resolved, at(5)) == COLOURS[Status.RESOLVED]


def buttons(count: int, prefix: str = "act") -> list[dict[str, Any]]:
    return [{"type": "button", "text": {"type": "plain_text", "text": f"B{i}"}, "action_id": f"{prefix}-{i}",
             "value": "v"} for i in range(count)]  # fmt: skip


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The blocks in the order Slack draws them: the top level, then the first attachment's."""
    return [*(message.get("blocks") or []), *(message["attachments"][0].get("blocks") or [])]


def total_blocks(message: dict[str, Any]) -> int:
    return len(message.get("blocks") or []) + sum(len(a.get("blocks") or []) for a in message["attachments"])


def test_render_thread_parent_gets_status_under_header_colour_and_actions() -> None:
    message = render_slack(group_of(alarm()), now=NOW)
    state = apply_event(fired(), ThreadEvent(EventKind.ACKNOWLEDGED, at(17), actor=ANA))
    select = {"type": "static_select", "action_id": "silence", "placeholder": {"type": "plain_text", "text": "Silence"},
              "options": [{"text": {"type": "plain_text", "text": "1 h"}, "value": "1h"}]}  # fmt: skip
    parent = render_parent(message, state, now=at(20), actions=[*buttons(1), select])
    blocks = blocks_of(parent)
    assert blocks[0] == blocks_of(message)[0] and blocks[0]["type"] == "header"
    assert blocks[1]["block_id"] == STATUS_BLOCK
    assert "Acknowledged by <@U0ANA>" in blocks[1]["elements"][0]["text"]
    assert blocks[-1]["elements"][-1]["action_id"] == "silence"
    assert blocks[2:-1] == blocks_of(message)[1:]  # everything render_slack drew, in its order
    assert parent["attachments"][0]["color"] == ACKNOWLEDGED_COLOUR
    assert parent["text"] == message["text"]
    assert block_problems(parent) == []
    assert message == render_slack(group_of(alarm()), now=NOW)  # the input is not changed


def test_render_thread_parent_status_and_actions_go_inside_the_coloured_attachment() -> None:
    message = {"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "H"}}],
               "attachments": [{"color": "#E01E5A", "blocks": [{"type": "divider"}]}]}  # fmt: skip
    parent = render_parent(message, fired(), now=at(1), actions=buttons(1))
    assert parent["blocks"] == message["blocks"]  # the header stays on top
    ids = [b.get("block_id") for b in parent["attachments"][0]["blocks"]]
    assert ids == [STATUS_BLOCK, None, "thread-actions-0"]


def test_render_thread_parent_with_only_top_level_blocks_keeps_them_there() -> None:
    message = {"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "H"}}],
               "attachments": [{"color": "#E01E5A"}]}  # fmt: skip
    parent = render_parent(message, fired(), now=at(1), actions=buttons(1))
    assert [b.get("block_id") for b in parent["blocks"]] == [None, STATUS_BLOCK, "thread-actions-0"]


def test_render_thread_parent_edited_again_replaces_its_status_and_actions() -> None:
    message = render_slack(group_of(alarm()), now=NOW)
    once = render_parent(message, fired(), now=at(1), actions=buttons(2))
    resolved = apply_event(fired(), ThreadEvent(EventKind.RESOLVED, at(17)))
    twice = render_parent(once, resolved, now=at(18), actions=())
    ids = [b.get("block_id") for b in blocks_of(twice)]
    assert ids.count(STATUS_BLOCK) == 1 and not any(str(i).startswith("thread-actions") for i in ids)
    assert twice["attachments"][0]["color"] == COLOURS[Status.RESOLVED]
    assert len(blocks_of(twice)) == len(blocks_of(message)) + 1


def test_render_thread_parent_holds_50_blocks_and_25_elements_on_the_largest_message() -> None:
    message = render_slack(group_of(alertmanager(40)), now=NOW, max_listed=40)
    parent = render_parent(message, fired(), now=at(1), actions=buttons(60))
    assert total_blocks(parent) <= 50
    blocks = blocks_of(parent)
    actions = [b for b in blocks if str(b.get("block_id", "")).startswith("thread-actions")]
    assert [len(b["elements"]) for b in actions] == [25, 25]
    assert blocks[0]["type"] == "header" and blocks[1]["block_id"] == STATUS_BLOCK
    own_actions = [b for b in blocks_of(message) if b["type"] == "actions"]
    assert own_actions and all(b in blocks for b in own_actions)  # render_slack's link buttons stay
    assert block_problems(parent) == []


def test_render_thread_parent_drops_elements_slack_would_refuse() -> None:
    message = render_slack(group_of(alarm()), now=NOW)
    taken = next(b for b in blocks_of(message) if b["type"] == "actions")["elements"][0]["action_id"]
    odd = [
        {"type": "iframe", "action_id": "x"},
        {"type": "button", "text": {"type": "plain_text", "text": "a"}},
        {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": taken},
        *buttons(1),
    ]
    parent = render_parent(message, fired(), now=at(1), actions=odd)
    assert [e["action_id"] for e in blocks_of(parent)[-1]["elements"]] == ["act-0"]
    assert block_problems(parent) == []


def test_render_thread_parent_of_a_full_message_leaves_out_its_last_sections() -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "H"}}
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": f"s{i}"}} for i in range(47)]
    links = {"type": "actions", "elements": buttons(1, "link")}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "source"}]}
    message = {"text": "t", "attachments": [{"color": "#E01E5A", "blocks": [header, *sections, links, context]}]}
    parent = render_parent(message, fired(), now=at(1), actions=buttons(30))
    blocks = blocks_of(parent)
    assert total_blocks(parent) == 50
    assert blocks[:2] == [header, blocks[1]] and blocks[1]["block_id"] == STATUS_BLOCK
    assert links in blocks and [len(b["elements"]) for b in blocks[-2:]] == [25, 5]
    kept = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert kept == [f"s{i}" for i in range(len(kept))] and len(kept) == 45  # the context, s46, s45 gave way
    assert block_problems(parent) == []


def test_render_thread_parent_takes_the_actions_block_slack_actions_builds() -> None:
    from alertlib.slack_actions import BLOCK_ID, ActionState, action_elements

    block = action_elements(ActionState(thread_key="C0ALERTS01." + "a" * 32, paged=True, cloudwatch=True))
    assert block is not None
    message = render_slack(group_of(alarm()), now=NOW)
    once = render_parent(message, fired(), now=at(1), actions=[block])
    ours = [b for b in blocks_of(once) if str(b.get("block_id", "")).startswith("thread-actions")]
    assert [e["action_id"] for b in ours for e in b["elements"]] == [e["action_id"] for e in block["elements"]]
    assert block_problems(once) == []
    stale = {"text": "t", "attachments": [{"blocks": [*blocks_of(message), block]}]}  # a parent drawn elsewhere
    again = render_parent(stale, fired(), now=at(2), actions=[block])
    assert not any(b.get("block_id") == BLOCK_ID for b in blocks_of(again))
    assert block_problems(again) == []  # no action_id twice


def test_render_thread_broadcast_per_route_choice() -> None:
    from alertlib.render_thread import DEFAULT_TO_CHANNEL, broadcast, to_channel

    assert broadcast(EventKind.REFIRED) and not broadcast(EventKind.RESOLVED)
    chosen = to_channel(["Resolved", " acknowledged "])
    assert chosen == {EventKind.RESOLVED, EventKind.ACKNOWLEDGED} and broadcast(EventKind.RESOLVED, chosen)
    assert {EventKind.REFIRED} == DEFAULT_TO_CHANNEL
    with pytest.raises(ValueError, match="unknown thread event 'resloved': use one of fired, refired"):
        to_channel(["resloved"])
