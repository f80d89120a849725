"""Lambda assets bundled on this machine, without Docker: the function code plus its pinned requirements,
installed for the Lambda platform (manylinux, the function's architecture and Python version), with their bytecode
compiled when this interpreter is the runtime's Python version (bytecode is version-specific, not
platform-specific); otherwise the asset ships without bytecode, with a warning."""

from __future__ import annotations

import compileall
import hashlib
import py_compile
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

# The asset root: inside the installed package (the wheel's `infra/functions`), else the repository's `functions/`.
_PACKAGED = Path(__file__).resolve().parent / "functions"
FUNCTIONS = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "functions"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", "tests")
BUNDLER_VERSION = "2"  # bump when the way the asset is built changes


class BytecodeLeftOut(UserWarning):
    """The asset ships without bytecode: every cold start compiles every module it imports."""


def this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def compile_bytecode(target: Path, python_version: str) -> bool:
    """Compile every module of the asset for `python_version`, if this interpreter is that version; else warn.

    Lambda's task root is read-only, so the bytecode must be there before deployment or every cold start compiles
    again (a `.pyc` of another Python version is ignored). Unchecked-hash bytecode: the asset is immutable, and a
    timestamp `.pyc` would be judged stale against the zip's file times and recompiled at every cold start anyway."""
    if python_version != this_python():
        warnings.warn(
            f"bundling for Python {python_version} with Python {this_python()}: the asset ships without bytecode "
            f"(each cold start compiles every module it imports); bundle with Python {python_version} to include it",
            BytecodeLeftOut,
            stacklevel=2,
        )
        return False
    compiled = compileall.compile_dir(
        target, quiet=2, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    if not compiled:  # a module that does not compile would fail at import anyway; its siblings keep their bytecode
        warnings.warn(f"bundling {target}: some modules did not compile", BytecodeLeftOut, stacklevel=2)
    return True


@jsii.implements(ILocalBundling)
class LocalPipBundler:
    """`pip install --platform manylinux2014_<arch> --only-binary=:all:` into the asset, then the code beside it,
    then their bytecode when this interpreter is the runtime's Python version."""

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
        compile_bytecode(target, self.python_version)
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
    """What the bundle is made of: every source file (requirements included), the platform and Python version, and
    whether it holds bytecode (bundled by that Python version or not).
    A change to any of them is a new asset; a re-run of the same is not."""
    bytecode = "bytecode" if python_version == this_python() else "no-bytecode"  # what `compile_bytecode` will do
    digest = hashlib.sha256(f"{platform}|{python_version}|{bytecode}|{BUNDLER_VERSION}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
