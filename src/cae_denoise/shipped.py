"""Where the model shipped inside the package is: the name ``default`` and its file."""

from __future__ import annotations

from pathlib import Path

from .errors import CaeDenoiseError, UsageError

#: The name that stands for the model shipped inside the package.
DEFAULT_MODEL = "default"


def resolve_model_path(spec: str | Path) -> Path:
    """A checkpoint path as given, or the shipped default model's path for ``"default"``."""
    if not str(spec).strip():
        raise UsageError("--model: give a checkpoint file, or 'default' for the shipped model")
    if str(spec) != DEFAULT_MODEL:
        return Path(spec)
    path = Path(__file__).parent / "assets" / "default_model.pt"
    if not path.is_file():
        raise CaeDenoiseError(f"the shipped default model is missing from this installation ({path}); reinstall")
    return path
