"""Export for deployment: the exported model gives the checkpoint's output on any size, within 1e-5."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from cae_denoise.checkpoint import load_model
from cae_denoise.cli import app
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.export import export_model
from cae_denoise.inference import run_model
from cae_denoise.models import learns_level


def _reference(checkpoint, batch: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return run_model(load_model(checkpoint).model, batch, mirrored_margin=True).clamp(0.0, 1.0)


@pytest.mark.parametrize("spec", ["tiny", "default"])
def test_torchscript_export_matches_the_checkpoint_on_any_size(spec, checkpoint, tmp_path):
    source = checkpoint if spec == "tiny" else "default"
    exported = torch.jit.load(str(export_model(source, tmp_path / "model.pt")))
    generator = torch.Generator().manual_seed(3)
    for shape in [(1, 3, 37, 53), (2, 3, 64, 48), (1, 3, 21, 130)]:
        batch = torch.rand(*shape, generator=generator)
        with torch.no_grad():
            output = exported(batch)
        assert output.shape == batch.shape
        assert float((output - _reference(source, batch)).abs().max()) < 1e-5


def test_onnx_export_matches_the_checkpoint(checkpoint, tmp_path):
    pytest.importorskip("onnx")
    runtime = pytest.importorskip("onnxruntime")
    path = export_model(checkpoint, tmp_path / "model.onnx", fmt="onnx")
    session = runtime.InferenceSession(str(path))
    for shape in [(1, 3, 37, 53), (2, 3, 2, 90)]:  # other sizes than the traced example's 32 x 32
        batch = torch.rand(*shape, generator=torch.Generator().manual_seed(4))
        [output] = session.run(None, {"noisy": batch.numpy()})
        assert abs(output - _reference(checkpoint, batch).numpy()).max() < 1e-5


def test_onnx_without_the_package_is_a_clear_error(checkpoint, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(UsageError, match=r"pip install 'cae-denoise\[onnx\]'"):
        export_model(checkpoint, tmp_path / "model.onnx", fmt="onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_export_refuses_to_clobber_and_bad_formats(checkpoint, tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"keep")
    with pytest.raises(CaeDenoiseError, match="exists"):
        export_model(checkpoint, target)
    assert target.read_bytes() == b"keep"
    result = CliRunner().invoke(app, ["export", str(checkpoint), str(tmp_path / "x.bin"), "--format", "tflite"])
    assert result.exit_code == 2 and "--format 'tflite'" in result.stderr
    result = CliRunner().invoke(app, ["export", str(checkpoint), str(target), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert torch.jit.load(str(target)) is not None


@pytest.fixture(scope="module", params=["unet-level", "unet-estimate"])
def level_checkpoint(request, image_folder, tmp_path_factory):
    """A tiny checkpoint told the noise level (by Donoho's estimator or its own network) whose level offsets are
    far from zero (the level matters)."""
    from helpers import tiny_config

    from cae_denoise.train import train

    folder = tmp_path_factory.mktemp("level")
    result = train(tiny_config(image_folder, folder / "run", arch=request.param, noise="gaussian:5-50"))
    payload = torch.load(result.best, weights_only=True)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in payload["model"].items():
        if name.startswith("level_offsets."):
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
    torch.save(payload, folder / "level.pt")
    return folder / "level.pt"


def test_torchscript_export_of_a_level_model_estimates_the_level_of_any_size(level_checkpoint, tmp_path):
    exported = torch.jit.load(str(export_model(level_checkpoint, tmp_path / "model.pt")))
    generator = torch.Generator().manual_seed(5)
    for shape in [(1, 3, 37, 53), (2, 3, 64, 48), (1, 3, 1030, 20)]:  # 1030: the estimator's central crop
        batch = torch.rand(*shape, generator=generator) * torch.rand(shape[0], 1, 1, 1, generator=generator)
        with torch.no_grad():
            output = exported(batch)
        assert float((output - _reference(level_checkpoint, batch)).abs().max()) < 1e-5


def test_onnx_export_of_a_level_model_takes_the_level(level_checkpoint, tmp_path):
    pytest.importorskip("onnx")
    runtime = pytest.importorskip("onnxruntime")
    path = export_model(level_checkpoint, tmp_path / "model.onnx", fmt="onnx")
    batch = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(6))
    if learns_level(load_model(level_checkpoint).model):  # its estimator is inside: one input
        [output] = runtime.InferenceSession(str(path)).run(None, {"noisy": batch.numpy()})
        assert abs(output - _reference(level_checkpoint, batch).numpy()).max() < 1e-5
        return
    level = torch.tensor([5.0, 40.0])
    [output] = runtime.InferenceSession(str(path)).run(None, {"noisy": batch.numpy(), "level": level.numpy()})
    model = load_model(level_checkpoint).model
    with torch.no_grad():
        expected = torch.stack(
            [run_model(model, batch[i : i + 1], float(level[i]), mirrored_margin=True)[0] for i in range(2)]
        )
    assert abs(output - expected.clamp(0.0, 1.0).numpy()).max() < 1e-5
