"""Checkpoints: atomic save, self-describing load, and refusal of anything that is not plain data."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.models.architectures import create_model
from cae_denoise.models.checkpoint import FORMAT, load_checkpoint, load_model, save_checkpoint


def _save_tiny(path: Path, arch: str = "leaky", **arch_args: object) -> torch.nn.Module:
    arch_args = arch_args or {"channels": 4, "depth": 1}
    torch.manual_seed(5)
    model = create_model(arch, **arch_args)
    save_checkpoint(path, {"arch": arch, "arch_args": arch_args, "model": model.state_dict()}, overwrite=True)
    return model.eval()


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    path = tmp_path / "deep" / "folder" / "model.pt"
    model = _save_tiny(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
    loaded = load_model(path)
    assert Path(loaded.name).name == "model.pt"
    assert not loaded.model.training
    batch = torch.rand(2, 3, 20, 14, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded.model(batch), model(batch))
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor)


def test_trained_checkpoint_rebuilds_itself(trained_run, checkpoint):
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)  # plain data only
    assert payload["format"] == FORMAT
    loaded = load_model(checkpoint)
    assert loaded.payload["arch"] == trained_run.config.arch
    assert loaded.config == trained_run.config
    assert set(loaded.payload["split"]) == {"train", "val", "test"}
    assert len(loaded.payload["history"]) >= 1
    expected = create_model(payload["arch"], **payload["arch_args"])
    assert [p.shape for p in loaded.model.parameters()] == [p.shape for p in expected.parameters()]
    image = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        output = loaded.model(image)
    assert output.shape == image.shape and torch.isfinite(output).all()


def test_save_checkpoint_is_atomic(tmp_path):
    path = tmp_path / "a.pt"
    save_checkpoint(path, {"value": torch.arange(3)}, overwrite=True)
    save_checkpoint(path, {"value": torch.arange(5)}, overwrite=True)
    assert torch.equal(load_checkpoint(path)["value"], torch.arange(5))
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_failed_save_leaves_no_temporary(tmp_path):
    path = tmp_path / "bad.pt"
    with pytest.raises(Exception):  # noqa: B017 - torch.save's exact error for an unpicklable value varies
        save_checkpoint(path, {"value": lambda: None}, overwrite=True)
    assert list(tmp_path.iterdir()) == []


# --- hostile and foreign files ----------------------------------------------------------------------------


class _SystemTouch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _PathTouch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("payload_kind", [_SystemTouch, _PathTouch])
@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, payload_kind, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": FORMAT, "format_version": 1, "arch": "leaky", "x": payload_kind(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    # a torch zip file gets as far as the forbidden global; a bare pickle is not even a checkpoint container
    expected = r"evil\.pt: refused" if writer == "torch" else r"evil\.pt: (refused|not a cae-denoise checkpoint)"
    with warnings.catch_warnings(record=True) as caught, pytest.raises(CaeDenoiseError, match=expected):
        warnings.simplefilter("always")
        load_checkpoint(path)
    assert [str(w.message) for w in caught] == [], "only our one-line error should reach the user"
    with pytest.raises(CaeDenoiseError, match=expected):
        load_model(path)
    assert not marker.exists()


def test_the_malicious_payload_is_live(tmp_path):
    """Control for the test above: unpickling the same payload unsafely does create the marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps({"x": _PathTouch(marker)}))
    assert marker.exists()


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _text(path: Path) -> None:
    path.write_text("hello world\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _plain_torch(path: Path) -> None:
    torch.save({"a": 1}, path)


def _tensor_only(path: Path) -> None:
    torch.save(torch.zeros(3), path)


@pytest.mark.parametrize(
    "make",
    [
        _empty,
        _plain_torch,
        _tensor_only,
        _random_bytes,
        _text,
    ],
)
def test_foreign_files_are_not_checkpoints(tmp_path, make):
    path = tmp_path / "foreign.pt"
    make(path)
    with pytest.raises(CaeDenoiseError, match=r"foreign\.pt: not a cae-denoise checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint(tmp_path, checkpoint):
    data = checkpoint.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CaeDenoiseError, match=r"cut\.pt: not a cae-denoise checkpoint"):
        load_model(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CaeDenoiseError, match=r"nothing\.pt: checkpoint file not found"):
        load_model(tmp_path / "nothing.pt")
    with pytest.raises(CaeDenoiseError, match="is a folder, not a checkpoint file"):
        load_model(tmp_path)


def test_weights_that_do_not_fit(tmp_path, checkpoint):
    payload = load_checkpoint(checkpoint)
    payload["arch_args"] = {**payload["arch_args"], "channels": payload["arch_args"]["channels"] * 2}
    path = tmp_path / "mismatch.pt"
    save_checkpoint(path, payload, overwrite=True)
    with pytest.raises(CaeDenoiseError, match=r"mismatch\.pt: weights do not fit architecture 'leaky'"):
        load_model(path)


def test_missing_fields_and_unknown_arch(tmp_path):
    path = tmp_path / "partial.pt"
    save_checkpoint(path, {"arch_args": {}}, overwrite=True)
    with pytest.raises(CaeDenoiseError, match=r"partial\.pt: checkpoint lacks the field 'arch'"):
        load_model(path)
    save_checkpoint(path, {"arch": "no_such_arch", "model": {}}, overwrite=True)
    with pytest.raises(CaeDenoiseError, match="unknown architecture 'no_such_arch'"):
        load_model(path)


def test_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": FORMAT, "format_version": 99}, path)
    with pytest.raises(CaeDenoiseError, match="format 99 is newer"):
        load_checkpoint(path)


# --- export and the shipped model -------------------------------------------------------------------------


def test_export_for_inference_drops_training_state(tmp_path, checkpoint):
    from cae_denoise.models.checkpoint import TRAINING_ONLY_FIELDS, export_for_inference

    target = tmp_path / "small.pt"
    export_for_inference(checkpoint, target)
    payload = load_checkpoint(target)
    assert not set(TRAINING_ONLY_FIELDS) & set(payload)
    assert {"arch", "arch_args", "config", "model"} <= set(payload)
    assert target.stat().st_size < checkpoint.stat().st_size
    original, exported = load_model(checkpoint), load_model(target)
    batch = torch.rand(1, 3, 21, 19, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.equal(original.model(batch), exported.model(batch))
    assert [p.name for p in tmp_path.iterdir()] == ["small.pt"]


def test_default_model_spec():
    from cae_denoise import shipped as shipped_module
    from cae_denoise.models.inference import run_model
    from cae_denoise.shipped import DEFAULT_MODEL, resolve_model_path

    assert resolve_model_path("runs/x/best.pt") == Path("runs/x/best.pt")
    shipped = Path(shipped_module.__file__).parent / "assets" / "default_model.pt"
    if shipped.is_file():
        loaded = load_model(DEFAULT_MODEL)
        batch = torch.rand(1, 3, 17, 23)
        with torch.no_grad():
            assert run_model(loaded.model, batch).shape == batch.shape
    else:
        with pytest.raises(CaeDenoiseError, match="shipped default model is missing"):
            resolve_model_path(DEFAULT_MODEL)


# --- hostile metadata: checked before anything is built -----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arch_args": {"channels": 4, "depth": 40}}, r"depth=40 is outside \[1, 6\]"),
        ({"arch_args": {"channels": 10**9, "depth": 1}}, r"channels=1000000000 is outside \[1, 512\]"),
        ({"arch_args": {"channels": "4", "depth": 1}}, r"channels='4' is outside"),
        ({"arch_args": {"channels": True, "depth": 1}}, r"channels=True is outside"),
        ({"arch_args": {"negative_slope": float("nan")}}, r"negative_slope=nan is outside"),
        ({"arch_args": {"width_multiplier": 3}}, r"unknown architecture argument 'width_multiplier'"),
        ({"arch_args": [4, 1]}, r"field 'arch_args' must be a mapping, got list"),
        ({"arch": ["leaky"]}, r"field 'arch' must be a name, got list"),
        ({"arch": "resnet" * 100}, r"unknown architecture 'resnetresnet"),
        ({"arch": "unet", "arch_args": {"channels": 512, "depth": 6}}, r"weights, over the limit"),
        ({"model": [1, 2, 3]}, r"field 'model' must hold the weights, got list"),
        ({"config": {"patch": "sixty-four"}}, r"training setting 'patch' has a value of the wrong type \(str\)"),
        ({"config": {"teleport": 1}}, r"unknown training settings \['teleport'\]"),
        ({"config": ["leaky"]}, r"training settings must be a mapping, got list"),
    ],
)
def test_hostile_metadata_is_refused_before_building(tmp_path, checkpoint, change, message):
    payload = {**load_checkpoint(checkpoint), **change}
    path = tmp_path / "hostile.pt"
    save_checkpoint(path, payload, overwrite=True)
    with pytest.raises(CaeDenoiseError, match=r"hostile\.pt: .*" + message):
        load_model(path)


def test_weights_with_a_wrong_shape_or_a_non_tensor(tmp_path, checkpoint):
    payload = load_checkpoint(checkpoint)
    name = next(iter(payload["model"]))
    path = tmp_path / "bad.pt"
    save_checkpoint(path, {**payload, "model": {**payload["model"], name: torch.zeros(1)}}, overwrite=True)
    with pytest.raises(CaeDenoiseError, match=rf"weights do not fit architecture 'leaky'.*shape of \['{name}'\]"):
        load_model(path)
    save_checkpoint(path, {**payload, "model": {**payload["model"], name: 3}}, overwrite=True)
    with pytest.raises(CaeDenoiseError, match=r"weights do not fit"):
        load_model(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, checkpoint, bad):
    payload = load_checkpoint(checkpoint)
    name = next(iter(payload["model"]))
    weights = {**payload["model"], name: payload["model"][name].clone()}
    weights[name][(0,) * weights[name].ndim] = bad
    path = tmp_path / "broken.pt"
    save_checkpoint(path, {**payload, "model": weights}, overwrite=True)
    with pytest.raises(CaeDenoiseError, match=rf"broken\.pt: weight {name} holds NaN or infinite values"):
        load_model(path)


@pytest.mark.parametrize("dtype", [torch.int32, torch.complex64, torch.bool])
def test_weights_that_are_not_floating_point_are_refused(tmp_path, checkpoint, dtype):
    payload = load_checkpoint(checkpoint)
    path = tmp_path / "cast.pt"
    save_checkpoint(path, {**payload, "model": {k: v.to(dtype) for k, v in payload["model"].items()}}, overwrite=True)
    with pytest.raises(
        CaeDenoiseError, match=r"cast\.pt: weight .* is torch\.(int32|complex64|bool), not floating point"
    ):
        load_model(path)


def test_half_precision_weights_load_as_the_model_s_floats(tmp_path, checkpoint):
    payload = load_checkpoint(checkpoint)
    path = tmp_path / "half.pt"
    save_checkpoint(path, {**payload, "model": {k: v.half() for k, v in payload["model"].items()}}, overwrite=True)
    assert next(load_model(path).model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("version", ["two", 2.5, None, True])
def test_a_format_version_that_is_not_a_number_is_refused(tmp_path, version):
    path = tmp_path / "odd.pt"
    torch.save({"format": FORMAT, "format_version": version}, path)
    with pytest.raises(CaeDenoiseError, match=r"odd\.pt: not a cae-denoise checkpoint \(format version"):
        load_checkpoint(path)


def test_a_compressed_checkpoint_bomb_is_refused_before_it_is_unpacked(tmp_path, checkpoint, monkeypatch):
    import zipfile

    payload = load_checkpoint(checkpoint)
    plain = tmp_path / "plain.pt"
    torch.save({**payload, "padding": torch.zeros(8 * 2**20)}, plain)  # 32 MiB of zeros
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(bomb, "w") as target:
        for info in source.infolist():
            target.writestr(zipfile.ZipInfo(info.filename, info.date_time), source.read(info), zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2**20
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("torch.load must not see the bomb"))
    with pytest.raises(CaeDenoiseError, match=r"bomb\.pt: refused, it would unpack to 32 MiB"):
        load_model(bomb)
