"""The wheel as someone else's CDK app uses it: built from the sources with the pinned backend, installed in a fresh
virtual environment (no repository on its path), and an app outside the repository synthesizes an environment
from its own config file and from a typed config object, with the Lambda asset found inside the installed package.

Kept fast: the fresh environment reads the project venv's installed dependencies through a `.pth` file instead of
downloading them, the wheel is installed `--no-deps --no-index`, and bundling is skipped
(`aws:cdk:bundling-stacks`) as in the other CDK tests. The build needs the pinned setuptools: the project venv's
when it is that version, else pip fetches it once (PyPI) into its cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "external-app"
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "infra", "functions")

pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources, so setuptools' build/ and egg-info never land in the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    pin = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"][0]
    isolation = ["--no-build-isolation"] if pin == f"setuptools=={metadata.version('setuptools')}" else []
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         *isolation, "--wheel-dir", str(dist), str(source)],
        cwd=source,
    )  # fmt: skip
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the wheel installed; its dependencies come from the project venv (after its own)."""
    home = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(home)], cwd=home)
    python = home / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=home).strip())
    (site / "project-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-index",
         "--target", str(site), str(wheel)],
        cwd=home,
    )  # fmt: skip
    return home


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("CDK_")}
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    return env | extra


def test_wheel_holds_every_module_of_infra_and_functions_and_the_lambda_requirements(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"infra/{p.relative_to(ROOT / 'infra')}" for p in (ROOT / "infra").rglob("*.py")}
    expected |= {f"infra/functions/{p.relative_to(ROOT / 'functions')}" for p in (ROOT / "functions").rglob("*.py")}
    expected |= {"infra/functions/requirements.txt", "infra/py.typed"}
    assert not expected - names, f"missing from the wheel (list the package in pyproject.toml): {expected - names}"
    assert any(n.endswith("/licenses/LICENSE") for n in names)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert wheel.name.startswith(f"alert_forwarding_for_aws-{version}-")


def test_wheel_installed_finds_its_lambda_asset_and_version_inside_the_package(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    out = _run(
        [python, "-c", "import infra, infra.bundling as b; print(infra.__file__); print(b.FUNCTIONS); "
         "print(infra.__version__)"],
        cwd=venv, env=_clean_env(),
    )  # fmt: skip
    package, functions, version = out.split()
    assert Path(package).is_relative_to(venv), "infra was imported from outside the fresh environment"
    assert Path(functions) == Path(package).parent / "functions"
    assert (Path(functions) / "pagerduty_forwarder.py").is_file()
    assert (Path(functions) / "requirements.txt").is_file()
    assert version == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("script", ["app.py", "app_typed.py"])
def test_wheel_external_app_synthesizes_an_environment(venv: Path, tmp_path: Path, script: str) -> None:
    app = tmp_path / "my-app"
    shutil.copytree(EXAMPLE, app)
    out = tmp_path / "cdk.out"
    context = {"env": "shop", "aws:cdk:bundling-stacks": [], "aws:cdk:enable-asset-metadata": True}
    env = _clean_env(CDK_OUTDIR=str(out), CDK_CONTEXT_JSON=json.dumps(context))
    _run([str(venv / "bin" / "python"), script], cwd=app, env=env)
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"}
    assert {"shop-alerting", "shop-alarms-rds", "shop-alarms-ecs"} <= stacks
    alerting = json.loads((out / "shop-alerting.template.json").read_text())
    functions = [r for r in alerting["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions
    assets = [r["Metadata"]["aws:asset:path"] for r in functions if "aws:asset:path" in r.get("Metadata", {})]
    assert assets and all(Path(a).is_relative_to(venv) for a in assets), assets
    rds = json.loads((out / "shop-alarms-rds.template.json").read_text())
    names = {r["Properties"]["AlarmName"] for r in rds["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert "shop-rds-orders-db-DatabaseConnections" in names
