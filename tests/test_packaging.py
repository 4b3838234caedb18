"""The distributions: the sdist holds what its tests need and they run from it; wheel and sdist carry the licence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The project's tracked files (git's view, or the unpacked tree this runs from), copied: building writes an
    egg-info folder into the tree, which must not land in the checkout."""
    copy = tmp_path_factory.mktemp("source") / "cae-denoise"
    ignore = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", "build", "dist", "runs", ".*cache")
    shutil.copytree(ROOT, copy, ignore=ignore)
    return copy


def _build(kind: str, source: Path, out: Path) -> Path:
    """Build the sdist or the wheel of ``source`` with setuptools' own PEP 517 backend (no network, no isolation)."""
    pytest.importorskip("setuptools", minversion="77")
    code = f"from setuptools import build_meta; print(build_meta.build_{kind}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=source, capture_output=True, text=True, check=False, env=_quiet_env()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def sdist(source_copy, tmp_path_factory) -> Path:
    return _build("sdist", source_copy, tmp_path_factory.mktemp("sdist"))


def test_the_sdist_holds_the_licence_and_everything_its_tests_need(sdist):
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = {"LICENSE", "README.md", "pyproject.toml", "tests/conftest.py", "tests/helpers.py"}
    needed |= {f"tests/{path.name}" for path in (ROOT / "tests").glob("test_*.py")}
    needed |= {"examples/train_default_model.py", "examples/training_photos.py", "examples/training_photos.json"}
    needed |= {"src/cae_denoise/assets/default_model.pt", "src/cae_denoise/py.typed"}
    assert needed <= names, sorted(needed - names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_a_test_runs_from_the_unpacked_sdist(sdist, tmp_path):
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    [unpacked] = tmp_path.iterdir()
    env = {**_quiet_env(), "PYTHONPATH": str(unpacked / "src")}
    code = "import cae_denoise, sys; print(cae_denoise.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(unpacked))  # the sdist's own code, not the checkout's
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_stats.py"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout


def test_the_wheel_carries_the_licence_and_the_metadata(source_copy, tmp_path):
    wheel = _build("wheel", source_copy, tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "cae_denoise/assets/default_model.pt" in names
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text
    assert "Classifier: Topic :: Scientific/Engineering :: Image Processing" in text
