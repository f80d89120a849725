#!/usr/bin/env python3
"""The CDK app: `cdk synth|diff|deploy -c env=NAME` builds the environment described by `config/NAME.json`.

No AWS call happens at synth: every stack names its account and region from the config.
"""

from __future__ import annotations

import sys

from aws_cdk import App

from infra.app_builder import build
from infra.config import ConfigError, load_config


def main() -> None:
    app = App()
    name = app.node.try_get_context("env")
    if not name:
        print("error: choose an environment: cdk synth -c env=NAME (a file config/NAME.json)", file=sys.stderr)
        sys.exit(1)
    try:
        config = load_config(str(name))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    build(app, config)
    try:
        app.synth()
    except RuntimeError as exc:  # jsii carries the JavaScript error; its first line is the message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "ValidationFailed" in first:
            first = (
                "cdk-nag found findings that are not acknowledged (listed above); fix them or acknowledge with a reason"
            )
        print(f"error: {first}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
