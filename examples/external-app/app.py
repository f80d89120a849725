#!/usr/bin/env python3
"""A CDK app of your own, outside this repository, that deploys alert forwarding from the installed package:

    pip install alert_forwarding_for_aws-<version>-py3-none-any.whl
    cdk synth -c env=shop        # or deploy; cdk.json says "app": "python3 app.py"

Its environments are its own files (`config/<env>.json`, the same format as this repository's `config/`)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App

from infra.app_builder import build
from infra.config import load_config

app = App()
config = load_config(app.node.try_get_context("env") or "shop", Path(__file__).resolve().parent / "config")
build(app, config)
app.synth()
