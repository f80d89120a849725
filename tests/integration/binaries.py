"""The Debian binaries the integration tests run (`.ci/run` installs them), and the real Alertmanager they start.

Under CI a missing binary fails the run (a test cannot vanish); elsewhere the test skips, saying why
(`require`). `RealAlertmanager` is one started `prometheus-alertmanager` on a free loopback port with its own
storage and log; the `alertmanager` fixture (conftest.py) starts them and stops every one, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
ALERTMANAGER_MISSING = (
    "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager; .ci/run does this)"
)
READY_SECONDS = 30.0
STOP_SECONDS = 10.0


def require(binary: str | None, missing: str) -> str:
    """The binary's path; when it is missing, a failure under CI and a skip elsewhere, saying `missing`."""
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {missing}")
        pytest.skip(missing)
    return binary


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


@dataclass
class RealAlertmanager:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, body: Any | None = None) -> Any:
        """GET `path`, or POST `body` as JSON; the decoded answer. Any HTTP error fails the test with its text."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method="POST" if data else "GET", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"Alertmanager answered {error.code}: {error.read()[:500]!r}") from None
        return json.loads(text) if text else None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as answer:
                return int(answer.status) == 200
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate, then kill if it does not stop in time; it has exited when this returns."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)


def start_alertmanager(binary: str, config: str, directory: Path, port: int) -> RealAlertmanager:
    """`binary` with `config` (YAML text) in `directory`, listening on 127.0.0.1:`port`, no cluster; ready, or
    stopped and failed with the end of its log."""
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "alertmanager.yml"
    config_file.write_text(config)
    log = directory / "alertmanager.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    alertmanager = RealAlertmanager(port, process, log)
    if not wait_for(alertmanager.ready, READY_SECONDS):
        alertmanager.stop()
        pytest.fail(f"Alertmanager was not ready in {READY_SECONDS:.0f}s: {log.read_text()[-2000:]}")
    return alertmanager
