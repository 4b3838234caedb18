"""The names the command line offers, declared where importing them costs nothing (no torch).

``--help`` and shell completion answer without importing torch, so the keys of the two registries that live
beside torch code are declared here, each with the one line ``--help`` shows: the architectures that
``models.register_model`` registers and the noise models that ``noise.register_noise`` registers (which refuses
a name not declared here). ``tests/test_registries.py`` checks that every name declared here is registered.
"""

from __future__ import annotations

#: ``--arch``: each built-in architecture of ``models/architectures.py`` and what it is.
ARCHITECTURES = {
    "baseline": "ReLU CAE",
    "leaky": "its LeakyReLU twin",
    "unet": "residual U-Net",
    "unet-level": "unet told the noise level: the default model's",
    "unet-estimate": "unet-level with its own noise-level estimator",
}
#: ``--noise``: each noise model of ``noise/models.py`` and the forms of its spec.
NOISE_FORMS = {
    "gaussian": "gaussian:25, gaussian:5-50",
    "poisson-gaussian": "poisson-gaussian[:shot=0.01][:read=2]",
    "camera": "camera[:low|high|1e-3-1e-2][:jpeg=90|85-95|none][:demosaic=bilinear|mhc|any][:matrix=random|none|any]",
    "jpeg": "jpeg:90, jpeg:70-95",
    "grey": "grey:SPEC",
}
#: How noise models combine (``noise.parse_noise``).
MIXTURE_FORM = "mixtures joined by + with optional weights (gaussian:0-55+2*camera)"


def noise_forms() -> str:
    """Every form a noise spec takes, as errors and ``--help`` list them."""
    return f"{', '.join(NOISE_FORMS.values())}, and {MIXTURE_FORM}"


def architecture_names() -> list[str]:
    """The architectures ``--arch`` accepts, sorted (as ``models.list_models``)."""
    return sorted(ARCHITECTURES)
