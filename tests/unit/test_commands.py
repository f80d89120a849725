"""Every command a person runs answers --help describing each option, refuses unknown options, and says one line
(never a traceback) for an unknown environment or missing AWS credentials (issue 14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["demo", "bench", "faults", "storm", "drill", "redrive", "serve", "preview", "audit", "inventory",
            "slo_rules", "config_schema"]  # fmt: skip
WITH_ENV = ["drill", "redrive", "audit", "serve", "storm", "inventory", "slo_rules"]
AWS = ["audit", "redrive", "drill"]
SAMPLE = "tests/events/eventbridge-alarm-state-change-single-metric__aws-docs.json"
REQUIRED = {c: ["--env", "dev"] for c in ["drill", "redrive", "audit", "slo_rules"]} | {
    "preview": [SAMPLE],
    "inventory": ["--env", "dev", "--region", "eu-west-1"],
}


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="eu-west-1", NO_PROXY="*",
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _present(command: str) -> bool:
    return (ROOT / "tools" / f"{command}.py").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_describes_every_option(command: str) -> None:
    if not _present(command):
        pytest.fail(f"tools/{command}.py is missing")
    done = _run(f"tools.{command}", "--help")
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("usage: python -m tools."), done.stdout[:200]
    lines = done.stdout.splitlines()
    options = lines[next(i for i, line in enumerate(lines) if line.startswith(("options:", "optional arguments:"))) :]
    for i, line in enumerate(options):
        match = re.match(r"^  (-\S+(?:[ ,]+[^ ]+)*?)(?:\s{2,}(?P<text>\S.*))?$", line)
        if not match or line.startswith("  -h"):
            continue
        described = match.group("text") or (i + 1 < len(options) and options[i + 1].startswith(" " * 8))
        assert described, f"tools.{command}: option without a description: {line.strip()}"


@pytest.mark.parametrize("command", COMMANDS)
def test_command_refuses_unknown_options(command: str) -> None:
    done = _run(f"tools.{command}", *REQUIRED.get(command, []), "--no-such-option")
    assert done.returncode == 2, done.stderr[-500:]
    assert "unrecognized arguments: --no-such-option" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", WITH_ENV)
def test_command_unknown_environment_is_one_line(command: str) -> None:
    done = _run(f"tools.{command}", "--env", "nosuchenv")
    assert done.returncode not in (0, None)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()
    assert last and "nosuchenv" in last[-1], done.stderr[-500:]
    assert len([line for line in last if "nosuchenv" in line]) == 1


@pytest.mark.parametrize("command", AWS)
def test_command_missing_credentials_is_one_line(command: str) -> None:
    done = _run(f"tools.{command}", "--env", "dev", timeout=120)
    assert done.returncode not in (0, None)
    assert "Traceback" not in done.stderr, done.stderr[-800:]
    assert "credentials" in done.stderr.lower(), done.stderr[-500:]
