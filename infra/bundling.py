"""Lambda assets bundled on this machine, without Docker: the function code plus its pinned requirements,
installed for the Lambda platform (manylinux, the function's architecture and Python version)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", "tests")
BUNDLER_VERSION = "1"  # bump when the way the asset is built changes


@jsii.implements(ILocalBundling)
class LocalPipBundler:
    """`pip install --platform manylinux2014_<arch> --only-binary=:all:` into the asset, then the code beside it."""

    def __init__(self, source: Path, python_version: str, architecture: lambda_.Architecture) -> None:
        self.source = source
        self.python_version = python_version
        # jsii hands out a new proxy per access: compare the name, not the object.
        self.platform = "manylinux2014_aarch64" if architecture.name == "arm64" else "manylinux2014_x86_64"

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        target = Path(output_dir)
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--requirement", str(self.source / "requirements.txt"),
            "--target", str(target),
            "--platform", self.platform, "--implementation", "cp",
            "--python-version", self.python_version, "--only-binary=:all:", "--no-deps",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"bundling {self.source.name}: pip failed: {result.stderr.strip()[-500:]}")
        shutil.copytree(self.source, target, dirs_exist_ok=True, ignore=_SKIP)
        return True


def function_code(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> lambda_.Code:
    """The forwarders' shared asset: `functions/` with its requirements, bundled locally."""
    version = runtime.name.removeprefix("python")
    bundler = LocalPipBundler(FUNCTIONS, version, architecture)
    return lambda_.Code.from_asset(
        str(FUNCTIONS),
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            local=bundler,
            command=["bash", "-c", "echo local bundling only && exit 1"],
        ),
        exclude=["__pycache__", "*.pyc"],
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_hash(FUNCTIONS, bundler.platform, version),
    )


def source_hash(source: Path, platform: str, python_version: str) -> str:
    """What the bundle is made of: every source file (requirements included), the platform and Python version.
    A change to any of them is a new asset; a re-run of the same is not."""
    digest = hashlib.sha256(f"{platform}|{python_version}|{BUNDLER_VERSION}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
