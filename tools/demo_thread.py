"""`make demo`, second part: one alert's Slack thread, from the trigger to the resolve (issue 11).

On the local pipeline (`tools.serve`) it sets one of the environment's own CloudWatch alarms to ALARM (as the drill
does: moto runs no action, so the pipeline publishes what CloudWatch would), and then, as an on-call engineer
would: clicks Acknowledge (a signed click on `/slack/interactions`: the action worker acknowledges the PagerDuty
incident), PagerDuty reassigns the incident (a signed webhook on `/pagerduty/webhooks`), clicks Mute 1 h (a
CloudWatch alarm mute rule), and the alarm goes back to OK. After each step it prints the parent message as Slack
shows it now (its title, status line and buttons) and the thread's new replies, the graph among them.

The parent, the graph, the replies of the alarm's own events and the parent's edits on them are the Slack
forwarder's (a Slack app route, `forwarders.slack_apps`); the clicks' and PagerDuty's are the action worker's.
Where the environment's config names no Slack app route, `demo_config` adds one to the paging topic, with the
`oncall` section, for the demo only (said at start).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from tools.oncall_local import (
    LOCAL_USER,
    _plain,
    click_payload,
    elements,
    incident_webhook,
    post,
    signed_click,
    signed_webhook,
)
from tools.serve import LocalPipeline
from tools.slack_api_standin import Message

# -- the thread as a person reads it ------------------------------------------------------------------------------


def describe_parent(message: Message) -> list[str]:
    """The parent's title, status line and buttons, as lines."""
    blocks = [*message.blocks, *(b for a in message.attachments for b in a.get("blocks", []))]
    header = next((b["text"]["text"] for b in blocks if b.get("type") == "header"), message.text)
    status = next(
        (
            b["elements"][0].get("text", "")
            for b in blocks
            if b.get("block_id") == "thread-status" and b.get("elements")
        ),
        "",
    )
    shown = {"blocks": message.blocks, "attachments": message.attachments}
    controls = [
        e.get("text", {}).get("text") or e.get("placeholder", {}).get("text", "")
        for e in elements(shown)
        if str(e.get("action_id", "")).startswith("alert.")
    ]
    colour = next((str(a.get("color")) for a in message.attachments if a.get("color")), "")
    lines = [f"parent  {_plain(header)[:90]}" + (f"  ({colour_name(colour)})" if colour else "")]
    if status:
        wrapped = textwrap.wrap(_plain(status), width=100) or [""]
        lines.append(f"        status: {wrapped[0]}")
        lines += [f"                {more}" for more in wrapped[1:]]
    lines.append(f"        buttons: {' | '.join(controls) if controls else '(none)'}")
    return lines


def colour_name(colour: str) -> str:
    """The parent's colour as a word (the state it stands for), else as given."""
    from alertlib.models import Status
    from alertlib.render_slack import COLOURS
    from alertlib.render_thread import ACKNOWLEDGED_COLOUR, QUIET_COLOUR

    names = {
        COLOURS[Status.FIRING]: "red: firing",
        COLOURS[Status.RESOLVED]: "green: resolved",
        ACKNOWLEDGED_COLOUR: "purple: acknowledged",
        QUIET_COLOUR: "grey: silenced or muted",
    }
    return names.get(colour.upper(), colour)


def describe_reply(reply: Message, files: dict[str, Any]) -> str:
    if reply.files:
        kept = files.get(reply.files[0])
        size = len(kept.data or b"") if kept is not None else 0
        name = kept.filename if kept is not None else reply.files[0]
        return f"reply   \U0001f4c8 graph {name} ({size:,} bytes, PNG; GetMetricWidgetImage is stood in locally)"
    return f"reply   {_plain(reply.text)[:120]}"


@dataclass
class ThreadDemo:
    pipeline: LocalPipeline
    say: Callable[[str], None] = print
    problems: list[str] = field(default_factory=list)
    shown_replies: int = 0

    def __post_init__(self) -> None:
        self.slack = self.pipeline.slack_api
        self.oncall = self.pipeline.oncall
        assert self.slack is not None
        assert self.oncall is not None
        self.cloudwatch = self.pipeline.admin("cloudwatch")
        self.user_id, self.user_name = _actor(self.pipeline)
        self.clicks = 0
        self.channel = ""
        self.alarm_name = ""

    # -- choosing --------------------------------------------------------------------------------------------

    def choose_alarm(self) -> dict[str, Any] | None:
        """A metric alarm of the environment (one metric, so it has a graph) that pages: its actions reach a topic
        routed to PagerDuty and to Slack."""
        paged = [
            arn
            for key, arn in self.pipeline.topic_arns.items()
            if key in self.pipeline.config.topics and self.pipeline.config.topics[key].pagerduty
        ]
        names = sorted(self.pipeline.world.alarms)
        for start in range(0, len(names), 100):
            answer = self.cloudwatch.describe_alarms(AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm"])
            for alarm in answer.get("MetricAlarms", []):
                if alarm.get("MetricName") and any(t in paged for t in alarm.get("AlarmActions", [])):
                    return dict(alarm)
        return None

    def app_route(self, alarm: dict[str, Any]) -> tuple[str, str] | None:
        """(secret, channel) of a Slack app route on the alarm's topic, or None."""
        for key, arn in self.pipeline.topic_arns.items():
            if arn not in alarm.get("AlarmActions", []) or key not in self.pipeline.config.topics:
                continue
            for name in self.pipeline.config.topics[key].slack:
                if name in self.pipeline.app_channels:
                    return name, self.pipeline.app_channels[name]
        return None

    # -- the story -------------------------------------------------------------------------------------------

    def run(self) -> list[str]:
        alarm = self.choose_alarm()
        if alarm is None:
            return ["no paging metric alarm in the environment's templates"]
        name = str(alarm["AlarmName"])
        route = self.app_route(alarm)
        if route is None:
            return [f"no Slack app route on the topics of {name} (forwarders.slack_apps): nothing makes a thread"]
        self.channel = route[1]
        self.alarm_name = name
        self.say(f"  alarm {name}, thread in channel {self.channel} (Slack app route {route[0]})\n")

        self.step("1. trigger", lambda: self.set_state(name, "ALARM"))
        parent = self.parent()
        if parent is None:
            return [*self.problems, f"no parent message was posted in {self.channel} for {name}"]
        self.show(parent)
        self.step("2. acknowledge (clicked in Slack)", lambda: self.click(parent.ts, "alert.ack"))
        self.show(self.parent())
        dedup = self.dedup_key(name)
        if dedup:
            self.step("3. reassigned (in PagerDuty, on the phone)", lambda: self.webhook("incident.reassigned", dedup))
            self.show(self.parent())
        self.step("4. mute 1 h (chosen in Slack)", lambda: self.click(parent.ts, "alert.mute"))
        self.show(self.parent())
        self.step("5. resolve", lambda: self.set_state(name, "OK"))
        final = self.parent()
        self.show(final)
        self.check(final, name)
        return self.problems

    def step(self, title: str, action: Callable[[], None]) -> None:
        self.say(f"  {title}")
        action()
        self.pipeline.wait_idle()
        assert self.oncall is not None
        self.oncall.wait_idle()

    def set_state(self, name: str, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"demo: {state}")
        self.pipeline.emulate_alarm_action(name)

    def click(self, ts: str, action_id: str) -> None:
        assert self.slack is not None
        message = self.slack.find(self.channel, ts)
        if message is None:
            self.problems.append(f"{action_id}: the parent is gone")
            return
        self.clicks += 1
        shown = {"text": message.text, "blocks": message.blocks, "attachments": message.attachments}
        try:
            payload = click_payload(
                shown, channel=self.channel, ts=ts, action_id=action_id, user_id=self.user_id,
                user_name=self.user_name, response_url=self.pipeline.response_url(f"demo-{self.clicks}"),
            )  # fmt: skip
        except KeyError as exc:
            self.problems.append(str(exc).strip("'\""))
            return
        assert self.pipeline.slack_signing_secret is not None
        status, _ = post(
            self.pipeline.slack_interactions_url, *signed_click(self.pipeline.slack_signing_secret, payload)
        )
        if status != 200:
            self.problems.append(f"{action_id}: /slack/interactions answered {status}")

    def webhook(self, event_type: str, dedup_key: str) -> None:
        assert self.pipeline.pagerduty_webhook_secret is not None
        value = incident_webhook(event_type, dedup_key, agent="Carla Diaz")
        status, _ = post(
            self.pipeline.pagerduty_webhooks_url, *signed_webhook(self.pipeline.pagerduty_webhook_secret, value)
        )
        if status != 202:
            self.problems.append(f"{event_type}: /pagerduty/webhooks answered {status}")

    def dedup_key(self, name: str) -> str | None:
        """The dedup key PagerDuty was triggered with for this alarm (what its incident's alerts carry)."""
        pagerduty = self.pipeline.pagerduty
        if pagerduty is None:
            return None
        for record in reversed(pagerduty.received):
            body = record.body if isinstance(record.body, dict) else {}
            if body.get("event_action") == "trigger" and name in str(body.get("dedup_key", "")):
                return str(body["dedup_key"])
        return None

    # -- reading the thread ----------------------------------------------------------------------------------

    def parent(self) -> Message | None:
        """The alarm's parent: the latest message of the channel that names it (other alerts post there too)."""
        assert self.slack is not None
        found = [m for m in self.slack.parents(self.channel) if self.alarm_name in m.text + json.dumps(m.attachments)]
        return found[-1] if found else None

    def show(self, parent: Message | None) -> None:
        assert self.slack is not None
        if parent is None:
            self.problems.append("the parent is gone")
            return
        for line in describe_parent(parent):
            self.say(f"     {line}")
        replies = self.slack.replies(self.channel, parent.ts)
        for reply in replies[self.shown_replies :]:
            self.say(f"     {describe_reply(reply, self.slack.files)}")
        self.shown_replies = len(replies)
        self.say("")

    def check(self, parent: Message | None, name: str) -> None:
        """What the story must have left: a graph, one reply per step, the parent edited each time, PagerDuty
        acknowledged, a mute rule on the alarm."""
        assert self.slack is not None
        assert self.oncall is not None
        if parent is None:
            return
        replies = self.slack.replies(self.channel, parent.ts)
        if not any(r.files for r in replies):
            self.problems.append("no graph in the thread")
        texts = " ".join(r.text for r in replies)
        wanted_replies = ["Acknowledged by", "Muted for 1 h", "Resolved"]
        if self.dedup_key(name):
            wanted_replies.append("Reassigned to")  # PagerDuty's webhook found the thread by the alert's dedup key
        for wanted in wanted_replies:
            if wanted not in texts:
                self.problems.append(f"no '{wanted}' reply in the thread")
        if len(parent.edits) < 3:
            self.problems.append(f"the parent was edited {len(parent.edits)} times, not at each step")
        pagerduty = self.pipeline.pagerduty
        actions = (
            [r.body.get("event_action") for r in pagerduty.received if isinstance(r.body, dict)] if pagerduty else []
        )
        if "acknowledge" not in actions:
            self.problems.append("PagerDuty received no acknowledge")
        if not any(name in r["MuteTargets"]["AlarmNames"] for r in self.oncall.mute_rules.rules.values()):
            self.problems.append("no mute rule on the alarm")


def _actor(pipeline: LocalPipeline) -> tuple[str, str]:
    """The Slack user who clicks: the first one the config allows, else the local user (allowed: everyone may act
    locally without `slack_actors`, and the local user is a member of every user group it names)."""
    actors = getattr(getattr(pipeline.config, "oncall", None), "slack_actors", None)
    users = list(getattr(actors, "users", None) or [])
    return (str(users[0]), "ana") if users else (LOCAL_USER, "ana")
