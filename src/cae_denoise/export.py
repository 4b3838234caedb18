"""Export a trained denoiser for deployment without cae-denoise: TorchScript, or ONNX when ``onnx`` is installed.

The exported model takes an NCHW float32 batch in [0, 1] of any height and width (ONNX: 2 or more) and returns
the denoised batch, clamped to [0, 1]: it sees each image inside the same mirrored margin as ``cae-denoise
denoise`` (``inference.margin_indices``) and crops back, so on a photo that fits one tile it gives what
``denoise`` gives. Tiling of large photos is left to the caller. A model told the noise level
(``unet-level``, the default model) estimates it per input image inside the TorchScript file (blind, as
``cae-denoise denoise`` is at ``--strength 1``); its ONNX file takes the level as a second input instead,
``level``: one value per image on the 0-255 scale (e.g. ``estimate_noise_sigma`` of each, times a strength).
A model with its own estimator network (``unet-estimate``) carries it in both formats: one input.

    model = torch.jit.load("denoiser.pt")
    clean = model(noisy)  # N x 3 x H x W
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_model
from .errors import UsageError, shorten
from .inference import BORDER_MARGIN, margin_indices
from .models import ESTIMATE_CROP, central_crop, learns_level, takes_noise_level
from .noise import estimate_noise_sigma_batch
from .outputs import check_output_option, protecting, write_file
from .reads import files_read

FORMATS = ("torchscript", "onnx")


def _inside_margin(noisy: torch.Tensor, multiple: int, margin: int) -> torch.Tensor:
    """The batch inside the mirrored margin ``denoise`` gives every image (``inference.margin_indices``)."""
    rows = margin_indices(noisy.shape[-2], multiple, margin).to(noisy.device)
    columns = margin_indices(noisy.shape[-1], multiple, margin).to(noisy.device)
    return noisy.index_select(2, rows).index_select(3, columns)


def _cropped(output: torch.Tensor, noisy: torch.Tensor, margin: int) -> torch.Tensor:
    """The part of ``output`` inside the margin, the size of ``noisy``, clamped to [0, 1]."""
    height, width = noisy.shape[-2], noisy.shape[-1]
    return output[:, :, margin : margin + height, margin : margin + width].clamp(0.0, 1.0)


class PaddedDenoiser(nn.Module):
    """A network wrapped to take any size: seen inside the mirrored margin, cropped back, clamped to [0, 1]."""

    def __init__(self, network: nn.Module, multiple: int) -> None:
        super().__init__()
        self.network = network
        self.multiple = multiple
        self.margin = BORDER_MARGIN

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return _cropped(self.network(_inside_margin(noisy, self.multiple, self.margin)), noisy, self.margin)


class PaddedLevelDenoiser(PaddedDenoiser):
    """``PaddedDenoiser`` for a network told the noise level: ``level`` (N values, 0-255) is passed on."""

    def forward(self, noisy: torch.Tensor, level: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        padded = _inside_margin(noisy, self.multiple, self.margin)
        return _cropped(self.network(padded, level), noisy, self.margin)


class BlindLevelDenoiser(PaddedLevelDenoiser):
    """``PaddedLevelDenoiser`` that estimates each input image's level itself (as ``run_model`` does)."""

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        padded = _inside_margin(noisy, self.multiple, self.margin)
        return _cropped(self.network(padded, estimate_noise_sigma_batch(noisy)), noisy, self.margin)


class LearnedLevelDenoiser(PaddedLevelDenoiser):
    """``PaddedLevelDenoiser`` whose level comes from the model's own estimator network (``unet-estimate``), read
    on each image's central ``ESTIMATE_CROP`` square as ``inference.estimated_level`` reads it."""

    def __init__(self, network: nn.Module, estimator: nn.Module, multiple: int) -> None:
        super().__init__(network, multiple)
        self.estimator = estimator
        self.crop = ESTIMATE_CROP  # TorchScript reads no module-level constants

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        level = self.estimator(central_crop(noisy, self.crop))
        padded = _inside_margin(noisy, self.multiple, self.margin)
        return _cropped(self.network(padded, level), noisy, self.margin)


def _example(multiple: int) -> torch.Tensor:
    side = 8 * multiple
    return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))


def export_format(target: str | Path, fmt: str | None = None) -> str:
    """The format to write ``target`` in: ``fmt``, or without it the one its name says (``.onnx``: ONNX, anything
    else: TorchScript). A name that contradicts ``fmt`` is refused, so no TorchScript file is named ``.onnx``."""
    onnx_name = Path(target).suffix.lower() == ".onnx"
    if fmt is None:
        return "onnx" if onnx_name else "torchscript"
    if fmt not in FORMATS:
        raise UsageError(f"--format {shorten(repr(fmt))}: choose {' or '.join(FORMATS)}")
    if fmt == "torchscript" and onnx_name:
        raise UsageError(f"{target}: an .onnx name for a TorchScript file; pass --format onnx, or name it .pt")
    if fmt == "onnx" and not onnx_name:
        raise UsageError(f"{target}: --format onnx writes an ONNX file; give it an .onnx name")
    return fmt


def export_model(
    checkpoint: str | Path, target: str | Path, *, fmt: str | None = None, overwrite: bool = False
) -> Path:
    """Write ``checkpoint`` (or ``"default"``) as a self-contained TorchScript or ONNX file at ``target``, in the
    format ``export_format`` chooses. ``target`` is checked before any work, and is never the checkpoint itself."""
    fmt = export_format(target, fmt)
    target = Path(target)
    with protecting(files_read(checkpoints=[(None, checkpoint)])):
        check_output_option(target, "", None, overwrite=overwrite)
        data = _exported(checkpoint, fmt)
        return write_file(target, data, overwrite=overwrite)


def _exported(checkpoint: str | Path, fmt: str) -> bytes:
    """The bytes of the exported file."""
    loaded = load_model(checkpoint, "cpu")
    network = loaded.model.to(memory_format=torch.contiguous_format).eval()
    multiple = int(getattr(network, "size_multiple", 1))
    example = _example(multiple)
    buffer = io.BytesIO()
    told_level, learned = takes_noise_level(network), learns_level(network)
    inputs = (example, torch.full((1,), 25.0)) if told_level else (example,)
    with torch.no_grad():
        traced = torch.jit.trace(network, inputs)  # the networks have no shape-dependent Python control flow
        if fmt == "torchscript":
            if learned:
                wrapped = LearnedLevelDenoiser(traced, torch.jit.trace(network.estimator, example), multiple)
            else:
                wrapped = BlindLevelDenoiser(traced, multiple) if told_level else PaddedDenoiser(traced, multiple)
            torch.jit.save(torch.jit.script(wrapped), buffer)
        elif learned:  # the estimator inside: one input, as in TorchScript
            _export_onnx(LearnedLevelDenoiser(network, network.estimator, multiple), (example,), buffer)
        else:
            wrapper = PaddedLevelDenoiser if told_level else PaddedDenoiser
            _export_onnx(wrapper(network, multiple), inputs, buffer)
    return buffer.getvalue()


def _export_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], buffer: io.BytesIO) -> None:
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as error:
        raise UsageError("ONNX export needs the onnx package: pip install 'cae-denoise[onnx]'") from error
    dims = {0: "batch", 2: "height", 3: "width"}
    names = ["noisy", "level"][: len(inputs)]
    axes = {"noisy": dims, "clean": dims, "level": {0: "batch"}}
    with warnings.catch_warnings():  # the margin's "max(2 * length - 2, 1)" is traced for lengths of 2 or more
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            inputs,
            buffer,
            input_names=names,
            output_names=["clean"],
            dynamic_axes={name: axes[name] for name in [*names, "clean"]},
            dynamo=False,
        )
