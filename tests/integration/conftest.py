"""Fixtures of the integration tests: a real Prometheus Alertmanager, started with each test's config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.binaries import ALERTMANAGER, ALERTMANAGER_MISSING, RealAlertmanager, require, start_alertmanager
from tools.localaws import free_port


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[[str], RealAlertmanager]]:
    """Starts Debian's `prometheus-alertmanager` with a config (YAML text), ready, on a free port; every one started
    is stopped when the test ends, whatever happens. A missing binary fails under CI and skips elsewhere."""
    binary = require(ALERTMANAGER, ALERTMANAGER_MISSING)
    started: list[RealAlertmanager] = []

    def start(config: str) -> RealAlertmanager:
        instance = start_alertmanager(binary, config, tmp_path / f"alertmanager-{len(started)}", free_port())
        started.append(instance)
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
    assert all(instance.process.poll() is not None for instance in started)
