"""Show the exact request bodies the forwarders would send for a payload. Nothing is sent.

    python -m tools.preview PATH      (or - for standard input)

Prints one JSON document `{"alerts": [...], "pagerduty": [...], "slack": [...]}` (routing keys and webhook URLs
are never part of it). A payload the forwarders would refuse: exit 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

import tools  # noqa: F401 - puts functions/ on the path
from alertlib.deliver import Destination
from alertlib.errors import ConfigurationError, MalformedInput
from alertlib.forward import prepare, render_for
from alertlib.models import to_jsonable
from alertlib.parse import split_event
from alertlib.settings import Settings


def preview(event: Any, settings: Settings, now: datetime) -> dict[str, list[Any]]:
    """The bodies for every record; raises `MalformedInput` for the first record it refuses."""
    result: dict[str, list[Any]] = {"alerts": [], "pagerduty": [], "slack": []}
    for envelope in split_event(event):
        group = prepare(envelope, settings, now)
        result["alerts"].extend(to_jsonable(alert) for alert in group.alerts)
        result["pagerduty"].extend(render_for(Destination.PAGERDUTY, group, settings, now))
        result["slack"].extend(render_for(Destination.SLACK, group, settings, now))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a JSON payload file, or - for standard input")
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
        return 2
    try:
        result = preview(event, Settings.from_env(), datetime.now(UTC))
    except (MalformedInput, ConfigurationError) as exc:
        print(f"preview: refused: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
