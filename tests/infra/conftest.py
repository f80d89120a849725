"""Synthesized environments, once per session: bundling skipped (`aws:cdk:bundling-stacks`), as in CI's tests."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app_builder import build
from infra.config import load_config


class Synthesized:
    def __init__(self, name: str) -> None:
        self.config = load_config(name)
        self.app = App(context={"aws:cdk:bundling-stacks": []})
        self.stacks = build(self.app, self.config, nag=False)
        self.templates = {stack.stack_name: Template.from_stack(stack) for stack in self.stacks}

    def template(self, suffix: str) -> Template:
        return self.templates[f"{self.config.name}-{suffix}"]

    def resources(self, stack: str, kind: str) -> dict[str, Any]:
        found: dict[str, Any] = self.template(stack).find_resources(kind)
        return found


_CACHE: dict[str, Synthesized] = {}


def synthesized(name: str) -> Synthesized:
    if name not in _CACHE:
        _CACHE[name] = Synthesized(name)
    return _CACHE[name]


@pytest.fixture(scope="session")
def dev() -> Synthesized:
    return synthesized("dev")


@pytest.fixture(scope="session")
def prod() -> Synthesized:
    return synthesized("prod")
