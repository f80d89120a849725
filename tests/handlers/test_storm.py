"""A small `make storm` (tools.storm): 60 CloudWatch alarms within 3 seconds, then their OKs, through the local
pipeline built from dev's templates (SNS -> the forwarders' queues -> event source mappings -> the real forwarders)
against stand-ins that enforce Slack's and PagerDuty's rate limits. Nothing here is timed: the run waits until the
pipeline is idle, then counts what the stand-ins accepted."""

from __future__ import annotations

from tools.storm import run


def test_a_storm_loses_nothing_stays_within_the_limits_and_resolves_everything() -> None:
    lines: list[str] = []
    result = run(60, 3.0, env="dev", seed=11, quiet_repetitions=0, timeout=900.0, say=lines.append)
    line = result.line()
    assert result.idle, lines  # the queues drained: everything published was worked off
    assert line["alerts"] == 60
    assert line["lost"] == 0, (result.lost_names, lines)  # every alarm named where its topic routes
    assert line["dead_lettered"] == 0, lines
    assert line["unresolved"] == 0, result.unresolved_keys  # every incident opened was resolved
    assert line["slack_max_per_s"] <= 1, (line, result.slack_times)  # one message a second per webhook
    assert line["pagerduty_max_per_min"] <= 120, line
    assert line["first_page_s"] is not None  # the critical alarms paged
    assert line["slack_messages"] < 60, line  # digests, not one message per alarm and per OK
    assert result.routed["pagerduty"] > 0 and result.routed["slack"] == 60
