"""Show the exact request bodies the forwarders would send for a payload. Nothing is sent.

    python -m tools.preview PATH      (or - for standard input)
    python -m tools.preview PATH --html DIR

Prints one JSON document `{"alerts": [...], "pagerduty": [...], "slack": [...]}` (routing keys and webhook URLs
are never part of it). A payload the forwarders would refuse: exit 2 and one line on stderr.

With `--html DIR`, writes instead one page per Slack message, drawn as Slack draws it, with the phone's lock screen
of the Slack push text and the PagerDuty summary under it (`tools.slack_html`), and prints each page's path and a
Block Kit Builder link for the message. A refused payload gets a page saying why (and exit 2). No network.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from alertlib.deliver import Destination
from alertlib.errors import ConfigurationError, MalformedInput
from alertlib.forward import prepare, render_for
from alertlib.models import to_jsonable
from alertlib.parse import split_event
from alertlib.settings import Settings
from tools import slack_html


def preview(event: Any, settings: Settings, now: datetime) -> dict[str, list[Any]]:
    """The bodies for every record; raises `MalformedInput` for the first record it refuses."""
    result: dict[str, list[Any]] = {"alerts": [], "pagerduty": [], "slack": []}
    for envelope in split_event(event):
        group = prepare(envelope, settings, now)
        result["alerts"].extend(to_jsonable(alert) for alert in group.alerts)
        result["pagerduty"].extend(render_for(Destination.PAGERDUTY, group, settings, now))
        result["slack"].extend(render_for(Destination.SLACK, group, settings, now))
    return result


def pages(event: Any, settings: Settings, now: datetime) -> list[tuple[dict[str, Any], list[str], str]]:
    """Per Slack message: the message, the PagerDuty summaries its record triggers, and what PagerDuty gets
    when it triggers nothing. Raises `MalformedInput` for the first record it refuses."""
    drawn: list[tuple[dict[str, Any], list[str], str]] = []
    for envelope in split_event(event):
        group = prepare(envelope, settings, now)
        events = render_for(Destination.PAGERDUTY, group, settings, now)
        summaries = [e["payload"]["summary"] for e in events if e.get("event_action") == "trigger"]
        if summaries:
            note = ""
        elif events:
            note = "resolve sent (no notification)"
        elif any(a.suppression for a in group.alerts):
            note = "nothing sent: CloudWatch suppressed the alarm's actions"
        else:
            note = "nothing sent"
        for message in render_for(Destination.SLACK, group, settings, now):
            drawn.append((message, summaries, note))
    return drawn


def write_html(
    event: Any, directory: Path, stem: str, settings: Settings, now: datetime
) -> list[tuple[Path, dict[str, Any]]]:
    """The pages of an event's Slack messages in `directory` (`<stem>.html`, or `<stem>-N.html` for several);
    raises `MalformedInput` (or `ConfigurationError`) for a payload the forwarders refuse."""
    drawn = pages(event, settings, now)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, dict[str, Any]]] = []
    for index, (message, summaries, note) in enumerate(drawn, start=1):
        name = f"{stem}.html" if len(drawn) == 1 else f"{stem}-{index}.html"
        path = directory / name
        title = f"{stem} ({index} of {len(drawn)})"
        path.write_text(slack_html.page(message, title=title, pagerduty=summaries, pagerduty_note=note), "utf-8")
        written.append((path, message))
    return written


def write_refused(directory: Path, stem: str, reason: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.html"
    message = {"text": f"Not forwarded: {reason}", "blocks": []}
    path.write_text(slack_html.page(message, title=stem, pagerduty_note=f"nothing sent ({reason})"), encoding="utf-8")
    return path


def _stem(path: str) -> str:
    name = "stdin" if path == "-" else Path(path).name.removesuffix(".json")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "payload"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a JSON payload file, or - for standard input")
    parser.add_argument("--html", metavar="DIR", help="write one HTML page per Slack message into DIR")
    args = parser.parse_args(argv)
    try:
        if args.path == "-":
            text = sys.stdin.read()
        else:
            with open(args.path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"preview: cannot read {args.path}: {exc.strerror if isinstance(exc, OSError) else exc}", file=sys.stderr)
        return 2
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        print(f"preview: not JSON: {str(exc)[:120]}", file=sys.stderr)
        if args.html:
            write_refused(Path(args.html), _stem(args.path), "not JSON")
        return 2
    if args.html:
        return _main_html(event, Path(args.html), _stem(args.path))
    try:
        result = preview(event, Settings.from_env(), datetime.now(UTC))
    except (MalformedInput, ConfigurationError) as exc:
        print(f"preview: refused: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _main_html(event: Any, directory: Path, stem: str) -> int:
    try:
        written = write_html(event, directory, stem, Settings.from_env(), datetime.now(UTC))
    except (MalformedInput, ConfigurationError) as exc:
        path = write_refused(directory, stem, str(exc)[:300])
        print(f"preview: refused: {exc}", file=sys.stderr)
        print(path)
        return 2
    except OSError as exc:
        print(f"preview: cannot write into {directory}: {exc.strerror}", file=sys.stderr)
        return 2
    for path, message in written:
        print(path)
        print(f"  Block Kit Builder: {slack_html.block_kit_builder_url(message)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
