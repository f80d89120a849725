"""The asset's cold path: its bytecode compiled at bundling for the runtime's Python version (or left out with a
warning), and one boto3 session for every client of a container."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import bundling
from infra.bundling import BytecodeLeftOut, LocalPipBundler, compile_bytecode, this_python

OTHER_PYTHON = "3.10" if this_python() != "3.10" else "3.12"


class _Architecture:
    name = "x86_64"


def _package(root: Path, value: str = "bundled") -> Path:
    module = root / "pkg" / "mod.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    (module.parent / "__init__.py").write_text("", encoding="utf-8")
    module.write_text(f"VALUE = {value!r}\n", encoding="utf-8")
    return module


def _imported_value(root: Path) -> str:
    """`pkg.mod.VALUE` as a fresh interpreter on a read-only task root sees it (no bytecode written)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.VALUE)"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_bundling_compiles_bytecode_for_the_same_python_version(tmp_path: Path) -> None:
    module = _package(tmp_path)
    assert compile_bytecode(tmp_path, this_python()) is True
    cached = Path(importlib.util.cache_from_source(str(module)))
    assert cached.is_file()
    flags = int.from_bytes(cached.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, source never checked: the task root is immutable


def test_bundled_bytecode_is_used_whatever_the_source_files_times(tmp_path: Path) -> None:
    module = _package(tmp_path, "compiled")
    compile_bytecode(tmp_path, this_python())
    # The zip's file times differ from the bundling machine's: unchecked-hash bytecode does not look at them.
    module.write_text("VALUE = 'recompiled at import'\n", encoding="utf-8")
    os.utime(module, (1, 1))
    assert _imported_value(tmp_path) == "compiled"


def test_bundling_for_another_python_version_leaves_bytecode_out_with_a_warning(tmp_path: Path) -> None:
    _package(tmp_path)
    with pytest.warns(BytecodeLeftOut, match=f"Python {OTHER_PYTHON} with Python {this_python()}"):
        assert compile_bytecode(tmp_path, OTHER_PYTHON) is False
    assert not list(tmp_path.rglob("*.pyc"))
    assert not list(tmp_path.rglob("__pycache__"))


@pytest.mark.parametrize(("version", "compiled"), [(this_python(), True), (OTHER_PYTHON, False)])
def test_bundler_ships_bytecode_only_for_its_own_python_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, compiled: bool
) -> None:
    source = tmp_path / "functions"
    _package(source)
    (source / "requirements.txt").write_text("requests==2.34.2\n", encoding="utf-8")
    (source / "pkg" / "__pycache__").mkdir()
    (source / "pkg" / "__pycache__" / "stale.cpython-39.pyc").write_bytes(b"stale")
    commands: list[list[str]] = []

    def pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bundling.subprocess, "run", pip)
    target = tmp_path / "asset"
    bundler = LocalPipBundler(source, version, _Architecture())  # type: ignore[arg-type]
    if compiled:
        assert bundler.try_bundle(str(target), image=None)  # type: ignore[arg-type]
    else:
        with pytest.warns(BytecodeLeftOut):
            assert bundler.try_bundle(str(target), image=None)  # type: ignore[arg-type]
    assert "--no-compile" in commands[0]  # pip's bytecode would be for this interpreter, whatever the target
    assert commands[0][commands[0].index("--python-version") + 1] == version
    assert not (target / "requirements.txt").exists()
    assert not list(target.rglob("stale*"))
    assert bool(list(target.rglob("*.pyc"))) is compiled
    assert (target / "pkg" / "mod.py").is_file()


def test_every_client_of_a_container_comes_from_one_boto3_session(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cold path pays botocore's service lists and endpoint data once: the secrets provider and the library's
    clients share boto3's default session (one loader), which a test or the local world may reset."""
    import boto3
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from alertlib.aws import AwsClient, session
    from alertlib.deliver import powertools_secret

    class Ledger(AwsClient):
        service = "dynamodb"

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    aws.create_secret(Name="bench/secret", SecretString="value")
    assert powertools_secret("bench/secret") == "value"
    assert session() is boto3.DEFAULT_SESSION
    loader = session()._session.get_component("data_loader")
    assert DEFAULT_PROVIDERS["secrets"].client._loader is loader
    assert Ledger().client._loader is loader
    boto3.DEFAULT_SESSION = None
    assert session() is not None
    assert session()._session.get_component("data_loader") is not loader
