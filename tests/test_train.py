"""Training: configuration round trip and validation, files written, determinism, exact resume."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal

import numpy as np
import pytest
import torch
from helpers import tiny_config

from cae_denoise.config import TrainConfig, resolve_device
from cae_denoise.data.sources import PatchSampler
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.io.reports import SCHEMA_VERSION
from cae_denoise.models.checkpoint import load_checkpoint, resume_config
from cae_denoise.training.loop import build_model, train
from cae_denoise.training.tasks import task_for

HAS_SCHEDULE = "schedule" in {f.name for f in dataclasses.fields(TrainConfig)}


def _state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _weights(path) -> dict:
    return load_checkpoint(path)["model"]


def _without_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# --- configuration ----------------------------------------------------------------------------------------


def test_config_round_trip():
    config = TrainConfig(arch="baseline", sigma="5-50", patch=32, resize=48, lr=3e-4, channels=8, depth=3, seed=7)
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-safe
    assert TrainConfig.from_dict(data) == config
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(CaeDenoiseError, match=r"unknown training settings \['warp_drive'\]"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "warp_drive": True})


def test_arch_args_only_passes_what_the_architecture_accepts():
    assert "negative_slope" not in task_for(TrainConfig(arch="baseline", channels=4, depth=1)).architecture.args
    leaky = task_for(TrainConfig(arch="leaky", channels=4, depth=1, negative_slope=0.1)).architecture.args
    assert leaky == {"channels": 4, "depth": 1, "negative_slope": 0.1}


def test_default_config_is_valid():
    task_for(TrainConfig(device="cpu"))


BAD_SETTINGS = [
    ({"patch": 4}, "--patch 4"),
    ({"resize": 4}, "--resize 4"),
    ({"batch_size": 0}, "--batch-size 0"),
    ({"lr": 0.0}, "--lr"),
    ({"lr": -1e-3}, "--lr"),
    ({"lr": math.nan}, "--lr"),
    ({"lr": math.inf}, "--lr"),
    ({"epochs": 0}, "--epochs 0"),
    ({"steps_per_epoch": 0}, "--steps-per-epoch 0"),
    ({"sigma": "abc"}, "--sigma 'abc'"),
    ({"sigma": "300"}, "255"),
    ({"sigma": "50-5"}, "low-high"),
    ({"arch": "resnet9000"}, "unknown architecture 'resnet9000'"),
    ({"channels": 0}, "--channels"),
    ({"depth": 0}, "--depth"),
    ({"val_sigma": 300.0}, "--val-sigma 300"),
    ({"device": "toaster"}, "--device 'toaster'"),
]
if HAS_SCHEDULE:
    BAD_SETTINGS.append(({"schedule": "linear"}, "--schedule 'linear'"))


@pytest.mark.parametrize(("changes", "message"), BAD_SETTINGS)
def test_validate_rejects_bad_settings(changes, message):
    config = dataclasses.replace(TrainConfig(device="cpu"), **changes)
    with pytest.raises(CaeDenoiseError, match=message.replace("(", r"\(").replace("[", r"\[")):
        task_for(config)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_unavailable_cuda_is_a_user_error():
    with pytest.raises(CaeDenoiseError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "mps")


def test_bad_settings_fail_before_any_file_is_written(tmp_path, image_folder):
    out = tmp_path / "run"
    with pytest.raises(CaeDenoiseError, match="--sigma"):
        train(tiny_config(image_folder, out, sigma="lots"))
    with pytest.raises(CaeDenoiseError, match="lower --patch"):
        train(tiny_config(image_folder, out, patch=60))
    assert not out.exists()


# --- a training run ---------------------------------------------------------------------------------------


def test_training_writes_checkpoints_and_report(trained_run, image_names):
    config, result = trained_run.config, trained_run.result
    assert result.best.is_file() and result.last.is_file() and result.report.is_file()
    names = {p.name for p in result.out.iterdir()}
    assert {"best.pt", "last.pt", "train_report.json"} <= names
    assert not [name for name in names if name.endswith(".tmp")]
    report = json.loads(result.report.read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["kind"] == "train"
    assert report["config"] == config.to_dict()
    assert report["arch"] == config.arch
    split = report["split"]
    assert sorted(split["train"] + split["val"] + split["test"]) == image_names
    assert report["skipped_files"] == []
    assert [row["epoch"] for row in report["history"]] == list(range(1, config.epochs + 1))
    assert [row["step"] for row in report["history"]] == [
        config.steps_per_epoch * (e + 1) for e in range(config.epochs)
    ]
    for row in report["history"]:
        assert {"train_loss", "val_ssim", "val_mse", "val_psnr"} <= set(row)
        assert row["train_loss"] > 0 and math.isfinite(row["val_psnr"])
    best_row = max(report["history"], key=lambda row: row["val_psnr"])
    assert report["best_epoch"] == best_row["epoch"]
    assert report["best_score"] == pytest.approx(best_row["val_psnr"])  # PSNR selects best.pt with clean images
    assert report["training"]["kind"] == "synthetic" and report["training"]["images"] == 6
    assert report["parameters"] == sum(p.numel() for p in load_checkpoint(result.best)["model"].values())
    # best.pt is the checkpoint written at the best epoch; last.pt at the end
    assert load_checkpoint(result.best)["train_state"]["epoch"] == report["best_epoch"]
    last = load_checkpoint(result.last)
    assert last["train_state"]["epoch"] == config.epochs
    assert last["train_state"]["global_step"] == config.epochs * config.steps_per_epoch
    assert resume_config(result.out, []) == config


def test_callbacks_report_every_step_and_epoch(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=2, steps_per_epoch=2)
    steps, epochs = [], []
    result = train(config, on_step=steps.append, on_epoch_end=epochs.append)
    assert [info.global_step for info in steps] == [1, 2, 3, 4]
    assert [(info.epoch, info.step) for info in steps] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert {info.total_steps for info in steps} == {4}
    assert all(math.isfinite(info.loss) and info.loss > 0 for info in steps)
    assert epochs == result.history
    assert epochs[0]["train_loss"] == pytest.approx((steps[0].loss + steps[1].loss) / 2)


def test_same_seed_gives_bit_identical_weights(tmp_path, image_folder):
    first = train(tiny_config(image_folder, tmp_path / "one"))
    second = train(tiny_config(image_folder, tmp_path / "two"))
    assert _state_dicts_equal(_weights(first.last), _weights(second.last))
    assert _without_seconds(first.history) == _without_seconds(second.history)
    other = train(tiny_config(image_folder, tmp_path / "three", seed=1))
    assert not _state_dicts_equal(_weights(first.last), _weights(other.last))


def test_resize_mode_trains(tmp_path, image_folder):
    result = train(tiny_config(image_folder, tmp_path / "run", resize=16, epochs=1, steps_per_epoch=2))
    report = json.loads(result.report.read_text())
    assert report["config"]["resize"] == 16
    assert report["skipped_too_small"] == 0


def _poison_batches_after(monkeypatch: pytest.MonkeyPatch, good_batches: int) -> None:
    """Make every training batch after the first ``good_batches`` all NaN (a deterministic divergence)."""
    original = PatchSampler.batch
    served = [0]

    def batch(self, count, generator):
        served[0] += 1
        clean = original(self, count, generator)
        return clean * float("nan") if served[0] > good_batches else clean

    monkeypatch.setattr(PatchSampler, "batch", batch)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, image_folder, monkeypatch):
    out = tmp_path / "run"
    _poison_batches_after(monkeypatch, 3)  # epoch 1 (3 steps) is fine, epoch 2 diverges
    with pytest.raises(CaeDenoiseError, match="training diverged: loss is nan at step 4") as info:
        train(tiny_config(image_folder, out, epochs=2, steps_per_epoch=3))
    assert f"{out / 'last.pt'} holds the last good epoch" in str(info.value)
    kept = load_checkpoint(out / "last.pt")
    assert kept["train_state"]["epoch"] == 1
    assert all(torch.isfinite(tensor).all() for tensor in kept["model"].values())


def test_divergence_in_the_first_epoch_names_no_missing_file(tmp_path, image_folder, monkeypatch):
    out = tmp_path / "run"
    _poison_batches_after(monkeypatch, 0)
    with pytest.raises(CaeDenoiseError, match="training diverged") as info:
        train(tiny_config(image_folder, out, epochs=1, steps_per_epoch=3))
    assert "no epoch ended" in str(info.value) and not (out / "last.pt").exists()


# --- interruption and resume ------------------------------------------------------------------------------


def _interrupt_at(step: int):
    def on_step(info) -> None:
        if info.global_step == step:
            raise KeyboardInterrupt

    return on_step


RESUME_CASES = [({}, 1), ({}, 3), ({}, 4), ({}, 6)]
if HAS_SCHEDULE:
    RESUME_CASES.append(({"schedule": "cosine"}, 4))


@pytest.mark.parametrize(("changes", "interrupt_step"), RESUME_CASES)
def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path, image_folder, changes, interrupt_step):
    reference = train(tiny_config(image_folder, tmp_path / "reference", **changes))

    config = tiny_config(image_folder, tmp_path / "interrupted", **changes)
    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=_interrupt_at(interrupt_step))
    saved = load_checkpoint(tmp_path / "interrupted" / "last.pt")
    assert saved["train_state"]["global_step"] == interrupt_step

    starts = []
    resumed = train(config, resume=True, on_start=starts.append)
    assert starts[0].global_step == interrupt_step
    assert _state_dicts_equal(_weights(resumed.last), _weights(reference.last))
    assert _without_seconds(resumed.history) == _without_seconds(reference.history)
    resumed_state = load_checkpoint(resumed.last)["train_state"]
    assert resumed_state["best_score"] == load_checkpoint(reference.last)["train_state"]["best_score"]
    assert _state_dicts_equal(_weights(resumed.best), _weights(reference.best))


def test_resume_refuses_changed_settings(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=1, steps_per_epoch=1)
    train(config)
    with pytest.raises(CaeDenoiseError, match=r"cannot resume with different settings \(lr\)"):
        train(dataclasses.replace(config, lr=0.5), resume=True)


def test_resume_config_refuses_options_given_with_resume(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=1, steps_per_epoch=1)
    train(config)
    with pytest.raises(CaeDenoiseError, match=r"cannot change it: --epochs, --lr"):
        resume_config(tmp_path / "run", ["--epochs", "--lr"])
    moved = tmp_path / "moved"
    (tmp_path / "run").rename(moved)
    assert resume_config(moved, []) == dataclasses.replace(config, out=str(moved))


def test_resume_without_a_run(tmp_path, image_folder):
    with pytest.raises(CaeDenoiseError, match=r"last\.pt: checkpoint file not found"):
        train(tiny_config(image_folder, tmp_path / "never"), resume=True)
    with pytest.raises(CaeDenoiseError, match=r"--resume .*never: no last\.pt there"):
        resume_config(tmp_path / "never", [])


def test_resuming_a_finished_run_changes_nothing(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=1, steps_per_epoch=2)
    first = train(config)
    before = _weights(first.last)
    steps = []
    again = train(config, resume=True, on_step=steps.append)
    assert steps == []
    assert _state_dicts_equal(_weights(again.last), before)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_is_deferred_to_a_step_boundary(tmp_path, image_folder, presses):
    """A real SIGINT in the middle of step 4: the step finishes, last.pt holds exactly 4 steps, resume is exact."""
    reference = train(tiny_config(image_folder, tmp_path / "reference"))
    config = tiny_config(image_folder, tmp_path / "interrupted")

    def press(info) -> None:
        if info.global_step == 4:
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)

    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=press)
    assert load_checkpoint(tmp_path / "interrupted" / "last.pt")["train_state"]["global_step"] == 4
    assert signal.getsignal(signal.SIGINT) is handler_before  # the training loop restored it
    resumed = train(config, resume=True)
    assert _state_dicts_equal(_weights(resumed.last), _weights(reference.last))


def test_a_new_run_refuses_a_folder_that_holds_a_run(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=1, steps_per_epoch=1)
    first = train(config)
    before = {p.name: p.read_bytes() for p in first.out.iterdir()}
    with pytest.raises(UsageError, match=r"--out .*run already holds a run \(last\.pt, best\.pt, train_report\.json"):
        train(dataclasses.replace(config, seed=1))
    assert {p.name: p.read_bytes() for p in first.out.iterdir()} == before
    with pytest.raises(KeyboardInterrupt):  # a new run over the old one, interrupted before its first epoch ends
        train(dataclasses.replace(config, seed=1), overwrite=True, on_step=_interrupt_at(1))
    assert sorted(p.name for p in first.out.iterdir()) == ["last.pt"]  # no old best.pt or report outlives it
    assert load_checkpoint(first.last)["config"]["seed"] == 1


def test_the_loss_is_read_back_every_step_on_the_cpu_and_every_interval_on_gpus():
    from cae_denoise.training.loop import LOSS_READ_INTERVAL, TrainState, _read_loss_now, new_generator

    config = TrainConfig(steps_per_epoch=50)
    reads = [
        step
        for step in range(100)
        if _read_loss_now(torch.device("cuda"), TrainState(global_step=step, step_in_epoch=step % 50), config)
    ]
    every = [step for step in range(100) if (step + 1) % LOSS_READ_INTERVAL == 0]
    assert reads == sorted(set(every) | {49, 99})  # and at the last step of each epoch
    assert all(_read_loss_now(torch.device("cpu"), TrainState(global_step=s), config) for s in range(10))
    assert new_generator(torch.device("cpu"), 5).device.type == "cpu"


def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=1, steps_per_epoch=1)
    train(config)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(CaeDenoiseError, match="no such folder or archive"):
        train(dataclasses.replace(config, data=str(tmp_path / "missing")), overwrite=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_validation_noise_is_made_once_and_is_the_evaluations_seeded_noise(image_folder, monkeypatch):
    config = tiny_config(image_folder, "unused", noise="camera:high", val_noise="camera:low")
    task = task_for(config)
    data = task.build_data()
    expected = [
        task.val_noise.add_seeded(image.pixels, config.val_seed, index) for index, image in enumerate(data.val_images)
    ]
    assert len(data.val_noisy) == len(expected) > 0
    for made, reference in zip(data.val_noisy, expected, strict=True):
        np.testing.assert_array_equal(made, reference)
    calls = []
    monkeypatch.setattr(type(task.val_noise), "add_seeded", lambda *args: calls.append(args))
    model = build_model(task, torch.device("cpu")).eval()
    task.validation_scores(model, data, torch.device("cpu"))
    assert calls == []  # no noise is drawn again at a validation


# --- extending a run (--resume DIR --epochs N) and the learning-rate rule ---------------------------------------


def _cosine(base: float, step: int, total: int) -> float:
    return base * (1 + math.cos(math.pi * step / total)) / 2


def test_extending_a_finished_cosine_run_reschedules_it_over_the_new_total(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=1, schedule="cosine", lr=0.01)
    train(config)
    extended = train(resume_config(config.out, [], epochs=2), resume=True)
    assert [row["epoch"] for row in extended.history] == [1, 2]
    assert load_checkpoint(extended.last)["train_state"]["global_step"] == 6
    assert [row["total_steps"] for row in extended.history] == [3, 6]
    assert [row["lr"] for row in extended.history] == [pytest.approx(0.0, abs=1e-15), pytest.approx(0.0, abs=1e-15)]
    longer = train(resume_config(config.out, [], epochs=4), resume=True)  # mid-way, the rate is the new cosine's
    assert longer.history[2]["lr"] == pytest.approx(_cosine(0.01, 9, 12), rel=1e-9)
    assert longer.history[2]["lr"] > 0 and longer.history[3]["lr"] == pytest.approx(0.0, abs=1e-15)
    report = json.loads((tmp_path / "run" / "train_report.json").read_text())
    assert report["config"]["epochs"] == 4 and report["learning_rate"]["total_steps"] == 12
    assert report["learning_rate"]["extended"] == [
        {"at_step": 3, "total_steps_before": 3, "total_steps": 6},
        {"at_step": 6, "total_steps_before": 6, "total_steps": 12},
    ]


def test_extending_a_constant_run_equals_a_run_planned_that_long(tmp_path, image_folder):
    short = tiny_config(image_folder, tmp_path / "short", epochs=1, schedule="constant")
    train(short)
    extended = train(resume_config(short.out, [], epochs=2), resume=True)
    planned = train(dataclasses.replace(short, out=str(tmp_path / "planned"), epochs=2))
    assert _state_dicts_equal(_weights(extended.last), _weights(planned.last))
    assert [row.pop("total_steps") for row in extended.history] == [3, 6]  # the plan, as it was at each epoch
    assert [row.pop("total_steps") for row in planned.history] == [6, 6]
    assert _without_seconds(extended.history) == _without_seconds(planned.history)


def test_extending_refuses_fewer_epochs_than_trained_and_any_other_change(tmp_path, image_folder):
    config = tiny_config(image_folder, tmp_path / "run", epochs=2)
    train(config)
    with pytest.raises(UsageError, match=r"--epochs 1: the run in .*run has trained 2 epoch\(s\) already; give at"):
        resume_config(config.out, [], epochs=1)
    with pytest.raises(UsageError, match=r"cannot change it: --lr \(only --epochs can"):
        resume_config(config.out, ["--lr"], epochs=3)
    with pytest.raises(CaeDenoiseError, match=r"cannot resume with different settings \(steps_per_epoch\)"):
        train(dataclasses.replace(config, epochs=3, steps_per_epoch=5), resume=True)


def test_resume_with_epochs_through_the_cli(tmp_path, image_folder):
    from typer.testing import CliRunner

    from cae_denoise.cli.app import app

    out = tmp_path / "run"
    train(tiny_config(image_folder, out, epochs=1))
    result = CliRunner().invoke(app, ["train", "--resume", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert len(load_checkpoint(out / "last.pt")["history"]) == 2
    refused = CliRunner().invoke(app, ["train", "--resume", str(out), "--epochs", "3", "--patch", "32"])
    assert refused.exit_code == 2 and "cannot change it: --patch (only --epochs can" in refused.stderr


def test_fine_tuning_takes_a_lower_learning_rate_unless_lr_is_given(tmp_path, image_folder):
    from cae_denoise.config import DEFAULT_LR, FINE_TUNE_LR, LR_RULE

    assert TrainConfig().lr == DEFAULT_LR == 1e-3 and TrainConfig(init="default").lr == FINE_TUNE_LR == 1e-4
    assert TrainConfig(init="default", lr=3e-4).lr == 3e-4
    assert TrainConfig.from_dict({"lr": 1e-3, "init": "default"}).lr == 1e-3  # old checkpoints: the rate they used
    first = train(tiny_config(image_folder, tmp_path / "first", epochs=1))
    tuned = tiny_config(image_folder, tmp_path / "tuned", epochs=1, init=str(first.best), schedule="constant")
    assert tuned.lr == FINE_TUNE_LR
    train(tuned)
    payload = load_checkpoint(tmp_path / "tuned" / "last.pt")
    assert payload["config"]["lr"] == FINE_TUNE_LR and payload["training"]["lr_rule"] == LR_RULE
    assert payload["optimizer"]["param_groups"][0]["lr"] == FINE_TUNE_LR
    report = json.loads((tmp_path / "tuned" / "train_report.json").read_text())
    assert report["learning_rate"]["lr"] == FINE_TUNE_LR and report["learning_rate"]["lr_rule"] == LR_RULE
