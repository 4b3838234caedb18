"""Export a trained denoiser for deployment without cae-denoise: ``torch.export`` (``.pt2``), TorchScript, or ONNX.

Every format takes the same single input: an NCHW float32 batch in [0, 1] of any height and width (``.pt2`` and
ONNX: 4 pixels or more) named ``noisy``, and returns the denoised batch, clamped to [0, 1], named ``clean``. It sees
each image inside the same mirrored margin as ``cae-denoise denoise`` (``inference.margin_indices``) and crops back,
so on a photo that fits one tile it gives what ``denoise`` gives. Tiling of large photos is left to the caller. A
model told the noise level (``unet-level``, the default model) estimates each input image's level inside, as
``denoise`` does at ``--strength 1``: with Donoho's rule (``noise.estimate_noise_sigma_batch``, which every exporter
takes), or with its own estimator network (``unet-estimate``).

    program = torch.export.load("denoiser.pt2").module()   # or torch.jit.load("denoiser.pt")
    clean = program(noisy)  # N x 3 x H x W

TorchScript is deprecated by PyTorch (its warnings are kept away from the user here); ``.pt2`` is its successor.
The ONNX file is made by PyTorch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``, which needs onnx and
onnxscript); the legacy exporter cannot carry the level estimate, whose crop depends on the input's size.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..data.reads import files_read
from ..errors import CaeDenoiseError, UsageError, shorten
from ..io.outputs import check_output_option, protecting, write_file
from ..noise.estimate import central_positions, estimate_noise_sigma_batch
from .architectures import ESTIMATE_CROP, learns_level, takes_noise_level
from .checkpoint import load_model
from .inference import BORDER_MARGIN, margin_indices

#: Formats, each with the file name suffix that selects it; any other suffix is TorchScript.
FORMATS = {"export": ".pt2", "onnx": ".onnx", "torchscript": ".pt"}
#: What the help and errors call each format.
FORMAT_NAMES = {"export": "torch.export (.pt2)", "onnx": "ONNX", "torchscript": "TorchScript"}


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
        self.crop = ESTIMATE_CROP  # TorchScript reads no module-level constants

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return _cropped(self.network(_inside_margin(noisy, self.multiple, self.margin)), noisy, self.margin)


class BlindLevelDenoiser(PaddedDenoiser):
    """``PaddedDenoiser`` for a network told the noise level, which it estimates per input image with Donoho's
    rule on the whole image (before the margin), as ``inference.run_model`` does."""

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        padded = _inside_margin(noisy, self.multiple, self.margin)
        return _cropped(self.network(padded, estimate_noise_sigma_batch(noisy, self.crop)), noisy, self.margin)


class LearnedLevelDenoiser(PaddedDenoiser):
    """``PaddedDenoiser`` whose level comes from the model's own estimator network (``unet-estimate``), read on
    each image's central ``ESTIMATE_CROP`` square as ``inference.estimated_level`` reads it."""

    def __init__(self, network: nn.Module, estimator: nn.Module, multiple: int) -> None:
        super().__init__(network, multiple)
        self.estimator = estimator

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        rows = central_positions(noisy.shape[-2], self.crop, 1, noisy.device)
        columns = central_positions(noisy.shape[-1], self.crop, 1, noisy.device)
        level = self.estimator(noisy.index_select(2, rows).index_select(3, columns))
        padded = _inside_margin(noisy, self.multiple, self.margin)
        return _cropped(self.network(padded, level), noisy, self.margin)


def wrapped(network: nn.Module, inner: nn.Module | None = None, estimator: nn.Module | None = None) -> PaddedDenoiser:
    """The module every format exports: ``network`` taking the noisy batch alone, in eval mode. ``inner`` and
    ``estimator`` stand in for the network and its estimator where given (their TorchScript traces)."""
    multiple, inner = int(getattr(network, "size_multiple", 1)), inner or network
    if learns_level(network):
        return LearnedLevelDenoiser(inner, estimator or network.estimator, multiple).eval()
    if takes_noise_level(network):
        return BlindLevelDenoiser(inner, multiple).eval()
    return PaddedDenoiser(inner, multiple).eval()


def export_format(target: str | Path, fmt: str | None = None) -> str:
    """The format to write ``target`` in: ``fmt``, or without it the one its name says (``.pt2``: torch.export,
    ``.onnx``: ONNX, anything else: TorchScript). A name that contradicts ``fmt`` is refused."""
    suffix = Path(target).suffix.lower()
    by_name = next((name for name, ending in FORMATS.items() if ending == suffix and name != "torchscript"), None)
    if fmt is None:
        return by_name or "torchscript"
    if fmt not in FORMATS:
        raise UsageError(f"--format {shorten(repr(fmt))}: choose {', '.join(FORMATS)}")
    if by_name not in (None, fmt) or (fmt != "torchscript" and by_name is None):
        raise UsageError(f"{target}: --format {fmt} writes a {FORMAT_NAMES[fmt]} file; name it {FORMATS[fmt]}")
    return fmt


def export_model(
    checkpoint: str | Path, target: str | Path, *, fmt: str | None = None, overwrite: bool = False
) -> Path:
    """Write ``checkpoint`` (or ``"default"``) as a self-contained ``.pt2``, TorchScript or ONNX file at
    ``target``, in the format ``export_format`` chooses. ``target`` is checked before any work, and is never the
    checkpoint itself."""
    fmt = export_format(target, fmt)
    if fmt == "onnx":
        _check_onnx_packages()
    target = Path(target)
    with protecting(files_read(checkpoints=[(None, checkpoint)])):
        check_output_option(target, "", None, overwrite=overwrite)
        data = exported_bytes(load_model(checkpoint, "cpu").model, fmt)
        return write_file(target, data, overwrite=overwrite)


def exported_bytes(network: nn.Module, fmt: str) -> bytes:
    """The bytes of ``network`` exported in ``fmt`` (a key of ``FORMATS``)."""
    network = network.to("cpu", memory_format=torch.contiguous_format).eval()
    example = _example(int(getattr(network, "size_multiple", 1)))
    buffer = io.BytesIO()
    with torch.no_grad(), _quiet_exporters():
        if fmt == "torchscript":
            torch.jit.save(torch.jit.script(_traced(network, example)), buffer)
        elif fmt == "export":
            program = torch.export.export(wrapped(network), (example,), dynamic_shapes=_dynamic_shapes())
            torch.export.save(program, buffer)
        else:
            _onnx(wrapped(network), example, buffer)
    return buffer.getvalue()


def _example(multiple: int) -> torch.Tensor:
    """An example batch: 2 images (size-1 dimensions would be fixed by ``torch.export``) of odd sides."""
    side = 8 * multiple + 3
    return torch.rand(2, 3, side, side + 2, generator=torch.Generator().manual_seed(0))


def _dynamic_shapes() -> dict[str, dict[int, object]]:
    """Batch, height and width of ``noisy`` left free. ``Dim.AUTO``: shape facts that hold for every size but that
    the exporter cannot prove (the margin's sums) become checks at run time instead of refusals."""
    free = torch.export.Dim.AUTO
    return {"noisy": {0: free, 2: free, 3: free}}


def _traced(network: nn.Module, example: torch.Tensor) -> PaddedDenoiser:
    """The wrapper around ``torch.jit.trace`` of the network (and its estimator), for ``torch.jit.script``:
    ``models/architectures.py`` reads module-level constants, which TorchScript cannot compile, and the networks have no
    shape-dependent control flow, so a trace holds for every size."""
    multiple = int(getattr(network, "size_multiple", 1))
    example = example[:, :, : 8 * multiple, : 8 * multiple]  # what the network sees: whole multiples
    inputs = (example, torch.full((len(example),), 25.0)) if takes_noise_level(network) else (example,)
    estimator = torch.jit.trace(network.estimator, example) if learns_level(network) else None
    return wrapped(network, torch.jit.trace(network, inputs), estimator)


def _onnx(module: nn.Module, example: torch.Tensor, buffer: io.BytesIO) -> None:
    program = torch.onnx.export(
        module,
        (example,),
        dynamo=True,
        dynamic_shapes=_dynamic_shapes(),
        input_names=["noisy"],
        output_names=["clean"],
        verbose=False,
    )
    buffer.write(program.model_proto.SerializeToString())


def _check_onnx_packages() -> None:
    """PyTorch's dynamo ONNX exporter needs onnx and onnxscript: a clear error, before any work, without them (a
    missing optional package exits with 1, as everywhere)."""
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise CaeDenoiseError(f"ONNX export needs {' and '.join(missing)}: pip install 'cae-denoise[onnx]'")


@contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Keep PyTorch's exporters from talking to the user: TorchScript's deprecation warnings (the user chose the
    format), tracer warnings about the margin (it is traced for every size), and the ONNX exporter's log lines."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch._export")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
