"""Export for deployment: every format takes the noisy batch alone and gives the checkpoint's output on any size,
within 1e-5."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.models.architectures import ESTIMATE_CROP
from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.export import FORMATS, export_format, export_model
from cae_denoise.models.inference import run_model
from cae_denoise.noise.estimate import estimate_noise_sigma, estimate_noise_sigma_batch


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


def _onnx_runtime():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    return pytest.importorskip("onnxruntime")


def _load(path, fmt):
    """A callable that runs the exported file at ``path`` on a batch, as a user of that format would."""
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    if fmt == "export":
        return torch.export.load(str(path)).module()
    session = _onnx_runtime().InferenceSession(str(path))
    [name] = [entry.name for entry in session.get_inputs()]  # one input in every format: the noisy batch
    return lambda batch: torch.from_numpy(session.run(None, {name: batch.numpy()})[0])


@pytest.mark.parametrize("fmt", ["export", "onnx"])
def test_export_and_onnx_match_the_checkpoint_on_any_size(fmt, checkpoint, tmp_path):
    if fmt == "onnx":
        _onnx_runtime()
    path = export_model(checkpoint, tmp_path / f"model{FORMATS[fmt]}")
    exported = _load(path, fmt)
    generator = torch.Generator().manual_seed(4)
    for shape in [(1, 3, 37, 53), (3, 3, 4, 90)]:  # other sizes and batches than the example's
        batch = torch.rand(*shape, generator=generator)
        with torch.no_grad():
            output = exported(batch)
        assert output.shape == batch.shape
        assert float((output - _reference(checkpoint, batch)).abs().max()) < 1e-5


def test_export_warns_nothing(checkpoint, tmp_path, recwarn):
    """PyTorch deprecates TorchScript and tracing: the user chose the format and sees no warning about it."""
    import warnings

    warnings.simplefilter("always")
    export_model(checkpoint, tmp_path / "model.pt")
    assert [str(w.message) for w in recwarn] == []


@pytest.mark.parametrize("hidden", ["onnx", "onnxscript"])
def test_onnx_without_the_packages_is_a_clear_error(hidden, checkpoint, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, hidden, None)
    pattern = rf"ONNX export needs (onnx and )?{hidden}: pip install 'cae-denoise\[onnx\]'"
    with pytest.raises(CaeDenoiseError, match=pattern) as caught:
        export_model(checkpoint, tmp_path / "model.onnx", fmt="onnx")
    assert not isinstance(caught.value, UsageError)  # a missing optional package exits with 1, not 2
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [("m.pt", None, "torchscript"), ("m.bin", None, "torchscript"), ("m.PT2", None, "export"),
     ("m.onnx", None, "onnx"), ("m.pt2", "export", "export"), ("m.ts", "torchscript", "torchscript")],
)  # fmt: skip
def test_the_format_follows_the_name(name, fmt, expected):
    assert export_format(name, fmt) == expected


@pytest.mark.parametrize(
    ("name", "fmt", "fragment"),
    [("m.onnx", "torchscript", "name it .pt"), ("m.pt", "onnx", "name it .onnx"), ("m.pt", "export", "name it .pt2"),
     ("m.pt2", "onnx", "name it .onnx")],
)  # fmt: skip
def test_a_name_that_contradicts_the_format_is_refused(name, fmt, fragment):
    with pytest.raises(UsageError, match=fragment):
        export_format(name, fmt)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 3, 1, 9), (1, 3, 2, 2), (2, 3, 37, 53), (1, 3, 1030, 7)])
def test_the_exported_level_estimate_is_estimate_noise_sigma(shape):
    """Donoho's rule as the exporters take it gives the numbers of the float64 image estimator, crop and all."""
    batch = torch.rand(*shape, generator=torch.Generator().manual_seed(7))
    expected = torch.tensor([estimate_noise_sigma(image.permute(1, 2, 0).numpy()) for image in batch])
    assert torch.allclose(estimate_noise_sigma_batch(batch, ESTIMATE_CROP), expected, rtol=1e-4, atol=1e-4)
    scripted = torch.jit.script(estimate_noise_sigma_batch)
    assert torch.allclose(scripted(batch, ESTIMATE_CROP), expected, rtol=1e-4, atol=1e-4)


def test_export_refuses_to_clobber_and_bad_formats(checkpoint, tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"keep")
    with pytest.raises(CaeDenoiseError, match="exists"):
        export_model(checkpoint, target)
    assert target.read_bytes() == b"keep"
    result = CliRunner().invoke(app, ["export", str(checkpoint), str(tmp_path / "x.bin"), "--format", "tflite"])
    assert result.exit_code == 2 and "--format 'tflite'" in result.stderr and not (tmp_path / "x.bin").exists()
    result = CliRunner().invoke(app, ["export", str(checkpoint), str(target), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert torch.jit.load(str(target)) is not None


@pytest.fixture(scope="module", params=["unet-level", "unet-estimate"])
def level_checkpoint(request, image_folder, tmp_path_factory):
    """A tiny checkpoint told the noise level (by Donoho's estimator or its own network) whose level offsets are
    far from zero (the level matters)."""
    from helpers import tiny_config

    from cae_denoise.training.loop import train

    folder = tmp_path_factory.mktemp("level")
    result = train(tiny_config(image_folder, folder / "run", arch=request.param, noise="gaussian:5-50"))
    payload = torch.load(result.best, weights_only=True)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in payload["model"].items():
        if name.startswith("level_offsets."):
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
    torch.save(payload, folder / "level.pt")
    return folder / "level.pt"


@pytest.mark.parametrize("fmt", ["torchscript", "export", "onnx"])
def test_every_format_of_a_level_model_estimates_the_level_inside(fmt, level_checkpoint, tmp_path):
    """One input in every format, the noisy batch: the level is estimated inside, per image, as denoise does."""
    if fmt == "onnx":
        _onnx_runtime()
    exported = _load(export_model(level_checkpoint, tmp_path / f"model{FORMATS[fmt]}"), fmt)
    generator = torch.Generator().manual_seed(5)
    shapes = [(1, 3, 37, 53), (2, 3, 64, 48)] + ([(1, 3, 1030, 20)] if fmt != "onnx" else [])  # 1030: the crop
    for shape in shapes:
        batch = torch.rand(*shape, generator=generator) * torch.rand(shape[0], 1, 1, 1, generator=generator)
        with torch.no_grad():
            output = exported(batch)
        assert float((output - _reference(level_checkpoint, batch)).abs().max()) < 1e-5
