"""JSON reports (with ``schema_version``) and the environment they were made in."""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .outputs import write_file

SCHEMA_VERSION = 1


def package_version() -> str:
    """The installed cae-denoise version (``"unknown"`` when run from a source tree)."""
    try:
        return metadata.version("cae-denoise")
    except metadata.PackageNotFoundError:
        return "unknown"


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions, platform, device, thread count and the CPU instruction set the kernels use: what CPU training's
    bit-for-bit determinism depends on (``README.md``, "Reproducibility"), so two reports can be compared."""
    import os

    import numpy
    import skimage

    return {
        "cae_denoise": package_version(),
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
        "scikit_image": str(skimage.__version__),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "device": str(device) if device is not None else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
    }


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (JSON has none) with strings such as ``"inf"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def report_text(kind: str, body: dict[str, Any]) -> str:
    """``{"schema_version", "kind", **body}`` as indented JSON, one line break at the end."""
    document = {"schema_version": SCHEMA_VERSION, "kind": kind, **body}
    return json.dumps(_json_safe(document), indent=2) + "\n"


def write_report(path: str | Path, kind: str, body: dict[str, Any], *, overwrite: bool) -> Path:
    """Write ``report_text(kind, body)`` (``outputs.write_file``); returns the path."""
    return write_file(path, report_text(kind, body).encode(), overwrite=overwrite)
