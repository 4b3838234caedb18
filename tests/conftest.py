"""Shared fixtures: tiny generated images, archives of them, and tiny trained checkpoints (once per session)."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import NON_IMAGES, PNG_WRITERS, TEXTURES, png_writer, save_png, texture, tiny_config
from hypothesis import settings

# Property tests run the same examples every time and write no example database into the checkout.
settings.register_profile("cae_denoise", derandomize=True, database=None, deadline=None)
settings.load_profile("cae_denoise")

# The models here are tiny: one thread is several times faster than two contending ones on a small CI box,
# and it keeps timings steady when other processes share the cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of six small RGB PNG textures (two in ``sub/``) plus two non-image files."""
    root = tmp_path_factory.mktemp("images")
    for seed, (name, height, width) in enumerate(TEXTURES):
        save_png(root / name, texture(height, width, seed))
    for name, data in NON_IMAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture(scope="session")
def image_names() -> list[str]:
    """The relative names of the images in ``image_folder``, sorted."""
    return sorted(name for name, _, _ in TEXTURES)


@pytest.fixture(scope="session")
def image_zip(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``image_folder`` (non-image files included) as a zip archive."""
    path = tmp_path_factory.mktemp("zip") / "images.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(image_folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(image_folder).as_posix())
    return path


@pytest.fixture(scope="session")
def image_tar(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``image_folder`` (non-image files included) as a .tar.gz archive."""
    path = tmp_path_factory.mktemp("tar") / "images.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(image_folder.rglob("*")):
            if file.is_file():
                archive.add(file, file.relative_to(image_folder).as_posix())
    return path


@dataclass
class Run:
    """A finished tiny training run: its config and ``TrainResult``."""

    config: Any
    result: Any

    @property
    def best(self) -> Path:
        return self.result.best

    @property
    def last(self) -> Path:
        return self.result.last


@pytest.fixture(scope="session")
def trained_run(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A ``leaky`` model (channels 4, depth 1) trained for 2 epochs of 3 steps on ``image_folder``."""
    from cae_denoise.training.loop import train

    config = tiny_config(image_folder, tmp_path_factory.mktemp("run_leaky"))
    return Run(config, train(config))


@pytest.fixture(scope="session")
def baseline_run(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The same tiny run with the ``baseline`` (ReLU) architecture."""
    from cae_denoise.training.loop import train

    config = tiny_config(image_folder, tmp_path_factory.mktemp("run_baseline"), arch="baseline")
    return Run(config, train(config))


@pytest.fixture(scope="session")
def checkpoint(trained_run: Run) -> Path:
    """``best.pt`` of ``trained_run``."""
    return trained_run.best


@pytest.fixture(scope="session")
def loaded_model(checkpoint: Path):
    """``checkpoint`` loaded with ``load_model`` (eval mode, CPU)."""
    from cae_denoise.models.checkpoint import load_model

    return load_model(checkpoint)


@pytest.fixture(params=PNG_WRITERS)
def writer(request) -> Iterator[str]:
    """Run a test with each PNG writer; the test gets its name."""
    with png_writer(request.param):
        yield request.param
