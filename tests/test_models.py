"""Every registered architecture: shapes on odd sizes, gradients, no NaN; the registry itself."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cae_denoise.config import TrainConfig
from cae_denoise.errors import CaeDenoiseError
from cae_denoise.models import architectures as models
from cae_denoise.models.architectures import (
    architecture,
    count_parameters,
    create_model,
    list_models,
    model_factory,
    register_model,
)
from cae_denoise.models.inference import run_model
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.objectives import SyntheticNoise

ODD_SIZES = [(37, 31), (17, 9), (1, 1), (1, 7), (33, 17)]


def _tiny(name: str, depth: int = 2) -> nn.Module:
    """A small instance of any registered architecture (only the size arguments it accepts are passed)."""
    torch.manual_seed(0)
    return architecture(name, channels=4, depth=depth, negative_slope=TrainConfig.negative_slope).build()


def test_registry_has_the_experiment_pair():
    assert {"baseline", "leaky"} <= set(list_models())
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("depth", [1, 2])
def test_shape_in_equals_shape_out_on_odd_sizes(name, depth):
    model = _tiny(name, depth).eval()
    multiple = getattr(model, "size_multiple", 1)
    with torch.no_grad():
        for height, width in ODD_SIZES:
            batch = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height * width))
            output = run_model(model, batch)
            assert output.shape == batch.shape
            assert torch.isfinite(output).all()
        aligned = torch.rand(1, 3, 2 * multiple, 3 * multiple)
        assert model(aligned).shape == aligned.shape


@pytest.mark.parametrize("name", list_models())
def test_gradients_reach_every_parameter(name):
    """Through the real training loss: a learned level estimator learns from its own error term."""
    model = _tiny(name).train()
    clean = torch.rand(3, 3, 20, 28, generator=torch.Generator().manual_seed(1))
    noisy = GaussianNoise(0, 50).add_to_batch(clean, torch.Generator().manual_seed(2))
    loss = SyntheticNoise(GaussianNoise(0, 50)).loss(model, noisy, clean, progress=0.0)
    assert torch.isfinite(loss)
    loss.backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert float(parameter.grad.abs().sum()) > 0, parameter_name


@pytest.mark.parametrize("name", list_models())
def test_a_few_steps_reduce_the_loss(name):
    model = _tiny(name, depth=1).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    losses = []
    for _ in range(15):
        loss = nn.functional.mse_loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(map(torch.isfinite, map(torch.tensor, losses)))
    assert losses[-1] < losses[0]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(CaeDenoiseError, match="unknown architecture 'no_such_arch'") as info:
        create_model("no_such_arch")
    assert str(info.value).endswith(", ".join(sorted(list_models())))
    with pytest.raises(CaeDenoiseError, match="choose one of: baseline, leaky"):
        model_factory("nope")


def test_bad_constructor_arguments_are_a_user_error():
    with pytest.raises(CaeDenoiseError, match=r"'baseline': bad arguments"):
        create_model("baseline", negative_slope=0.1)


def test_baseline_and_leaky_differ_only_in_activation():
    baseline = create_model("baseline", channels=4, depth=2)
    leaky = create_model("leaky", channels=4, depth=2, negative_slope=0.1)
    assert [(n, p.shape) for n, p in baseline.named_parameters()] == [(n, p.shape) for n, p in leaky.named_parameters()]
    assert count_parameters(baseline) == count_parameters(leaky)
    baseline_kinds = [type(m) for m in baseline.modules() if not isinstance(m, nn.ReLU)]
    leaky_kinds = [type(m) for m in leaky.modules() if not isinstance(m, nn.LeakyReLU)]
    assert baseline_kinds == leaky_kinds
    relus = [m for m in baseline.modules() if isinstance(m, nn.ReLU)]
    leakies = [m for m in leaky.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(relus) == len(leakies) > 0
    assert all(m.negative_slope == 0.1 for m in leakies)
    assert not any(isinstance(m, nn.LeakyReLU) for m in baseline.modules())
    # LeakyReLU with slope 0 is ReLU: with the same weights the outputs are the same
    zero_slope = create_model("leaky", channels=4, depth=2, negative_slope=0.0)
    zero_slope.load_state_dict(baseline.state_dict())
    batch = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        torch.testing.assert_close(zero_slope(batch), baseline(batch))


def test_count_parameters_and_size_multiple():
    model = create_model("leaky", channels=4, depth=3)
    assert model.size_multiple == 8
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    model.encoder[0].weight.requires_grad_(False)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters()) - 4 * 3 * 3 * 3


@pytest.mark.parametrize(("channels", "depth"), [(0, 2), (4, 0)])
def test_invalid_sizes(channels, depth):
    with pytest.raises(ValueError, match="positive"):
        create_model("baseline", channels=channels, depth=depth)


def test_duplicate_registration_is_refused(monkeypatch):
    monkeypatch.setattr(models, "_REGISTRY", dict(models._REGISTRY))
    with pytest.raises(ValueError, match="'leaky' is already registered"):
        register_model("leaky")(lambda: nn.Identity())
    register_model("test_identity")(lambda: nn.Identity())
    assert "test_identity" in list_models()
    assert isinstance(create_model("test_identity"), nn.Identity)
