"""Export a trained denoiser for deployment without cae-denoise: TorchScript, or ONNX when ``onnx`` is installed.

The exported model takes an NCHW float32 batch in [0, 1] of any height and width and returns the denoised
batch, clamped to [0, 1]: it pads (edge replicate) to the architecture's size multiple and crops back inside,
as ``inference.run_model`` does. Tiling of large photos is left to the caller.

    model = torch.jit.load("denoiser.pt")
    clean = model(noisy)  # N x 3 x H x W
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn.functional as functional
from torch import nn

from .checkpoint import load_model
from .errors import UsageError
from .outputs import write_file

FORMATS = ("torchscript", "onnx")


class PaddedDenoiser(nn.Module):
    """A network wrapped to take any size: pad to its multiple, run, crop back, clamp to [0, 1]."""

    def __init__(self, network: nn.Module, multiple: int) -> None:
        super().__init__()
        self.network = network
        self.multiple = multiple

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        height, width = noisy.shape[-2], noisy.shape[-1]
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        padded = functional.pad(noisy, [0, pad_w, 0, pad_h], mode="replicate")
        return self.network(padded)[:, :, :height, :width].clamp(0.0, 1.0)


def _example(multiple: int) -> torch.Tensor:
    side = 8 * multiple
    return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))


def export_model(
    checkpoint: str | Path, target: str | Path, *, fmt: str = "torchscript", overwrite: bool = False
) -> Path:
    """Write ``checkpoint`` (or ``"default"``) as a self-contained TorchScript or ONNX file at ``target``."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose {' or '.join(FORMATS)}")
    loaded = load_model(checkpoint, "cpu")
    network = loaded.model.to(memory_format=torch.contiguous_format).eval()
    multiple = int(getattr(network, "size_multiple", 1))
    example = _example(multiple)
    buffer = io.BytesIO()
    with torch.no_grad():
        traced = torch.jit.trace(network, example)  # the networks have no shape-dependent Python control flow
        wrapped = PaddedDenoiser(traced, multiple)
        if fmt == "torchscript":
            torch.jit.save(torch.jit.script(wrapped), buffer)
        else:
            _export_onnx(PaddedDenoiser(network, multiple), example, buffer)
    return write_file(target, buffer.getvalue(), overwrite=overwrite)


def _export_onnx(model: nn.Module, example: torch.Tensor, buffer: io.BytesIO) -> None:
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as error:
        raise UsageError("ONNX export needs the onnx package: pip install 'cae-denoise[onnx]'") from error
    dims = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(
        model,
        (example,),
        buffer,
        input_names=["noisy"],
        output_names=["clean"],
        dynamic_axes={"noisy": dims, "clean": dims},
        dynamo=False,
    )
