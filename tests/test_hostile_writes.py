"""Hostile writes and runs (issue 20): no file a command reads is ever replaced, one run per folder at a time,
outputs named as the user named the inputs, signals that leave nothing half-done, and options or files that
would give silently wrong results refused with one line.

Every case goes through the real command line (Typer's CliRunner, or a subprocess where a signal or a second
process takes part), checks the exit code and the one ``error:`` line, and hashes every file before and after.
Nothing here depends on timing: a second process is started only once the first says it holds the lock, and
signals are sent from inside the work, at a known point.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_hostile import assert_refused, error_lines, invoke, photo, snapshot

from cae_denoise import denoising as files
from cae_denoise.cli.tables import noise_label
from cae_denoise.data.reads import files_read
from cae_denoise.errors import CaeDenoiseError
from cae_denoise.io.locks import LOCK_NAME, run_lock
from cae_denoise.io.outputs import NAME_MAX, protecting, write_file
from cae_denoise.models.checkpoint import load_checkpoint, save_checkpoint
from cae_denoise.shipped import resolve_model_path

#: A training run that takes about a second on a CPU.
TINY = ["--patch", "16", "--channels", "4", "--depth", "1", "--epochs", "1", "--steps-per-epoch", "2",
        "--batch-size", "2", "--device", "cpu"]  # fmt: skip
#: One such run per architecture and seed (an experiment has no --channels or --depth).
EXPERIMENT = ["experiment", "--archs", "leaky", "--seeds", "1", "--patch", "16", *TINY[6:]]


def run_cli(*args: object, script: str = "", timeout: int = 300) -> subprocess.CompletedProcess:
    """The real entry point in a new process, after ``script`` (Python run first, e.g. to set a trap)."""
    code = (
        f"import sys\n{script}\nfrom cae_denoise.cli.app import main\nsys.argv = ['cae-denoise', *sys.argv[1:]]\nmain()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False
    )


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


@pytest.fixture
def photos(tmp_path) -> Path:
    """Four small photos in a folder of their own, which a test may try to write into."""
    folder = tmp_path / "photos"
    for index in range(4):
        photo(folder / f"c{index}.png", index, (30, 33))
    return folder


@pytest.fixture
def model(tmp_path, checkpoint) -> Path:
    """A copy of the session's checkpoint inside the test's folder, so the snapshots cover it."""
    copy = tmp_path / "ck.pt"
    shutil.copy(checkpoint, copy)
    return copy


# --- no file a command reads is ever replaced (item 1) ----------------------------------------------------


@pytest.mark.parametrize("kind", ["same name", "other spelling", "hard link", "link"])
def test_export_never_replaces_the_checkpoint_it_reads(tmp_path, model, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    target = {"same name": "ck.pt", "other spelling": "sub/../ck.pt", "hard link": "hard.pt", "link": "link.pt"}[kind]
    if kind == "hard link":
        os.link("ck.pt", "hard.pt")
    if kind == "link":
        os.symlink("ck.pt", "link.pt")
    before = snapshot(tmp_path)
    result = invoke("export", "ck.pt", target, "--overwrite")
    assert_refused(result, 2, f"{target}: this command reads it (the checkpoint ck.pt)", "even with --overwrite")
    assert snapshot(tmp_path) == before


def test_compare_never_writes_its_grid_over_a_photo_it_compares(tmp_path, model, photos):
    before = snapshot(tmp_path)
    result = invoke(
        "compare", model, "nlm", "--data", photos, "--split", "all", "--grid", photos / "c0.png",
        "--report", tmp_path / "r.json", "--overwrite", "--device", "cpu",
    )  # fmt: skip
    assert_refused(result, 2, f"--grid {photos / 'c0.png'}: this command reads it (an image of --data {photos})")
    assert snapshot(tmp_path) == before  # refused before the work: no report either


@pytest.mark.parametrize("read_as", ["input", "model"])
def test_denoise_never_writes_its_report_over_a_file_it_reads(tmp_path, model, read_as):
    source = tmp_path / "pic.json"  # an image under an odd name, named explicitly: an input all the same
    source.write_bytes(photo(tmp_path / "p.png").read_bytes())
    checkpoint = tmp_path / "model.json"
    shutil.copy(model, checkpoint)
    report = source if read_as == "input" else checkpoint
    before = snapshot(tmp_path)
    result = invoke(
        "denoise", source, "-o", tmp_path / "out", "--report", report, "--overwrite", "--model", checkpoint,
        "--device", "cpu",
    )  # fmt: skip
    role = "an input" if read_as == "input" else f"the --model checkpoint {checkpoint}"
    assert_refused(result, 2, f"--report {report}: this command reads it ({role})")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()
    assert "files" not in result.stderr  # no progress bar: the error came before the work


def test_evaluate_never_writes_its_report_over_its_checkpoint(tmp_path, model, photos):
    checkpoint = tmp_path / "ck.json"
    shutil.copy(model, checkpoint)
    before = snapshot(tmp_path)
    result = invoke(
        "evaluate", checkpoint, "--data", photos, "--split", "all", "--report", checkpoint, "--overwrite",
        "--device", "cpu",
    )  # fmt: skip
    assert_refused(result, 2, f"--report {checkpoint}: this command reads it (the checkpoint {checkpoint})")
    assert snapshot(tmp_path) == before


def test_train_never_replaces_the_checkpoint_it_starts_from(tmp_path, trained_run, image_folder):
    out = tmp_path / "run"
    shutil.copytree(trained_run.result.out, out)
    before = snapshot(tmp_path)
    args = ["--data", image_folder, "--out", out, "--init", out / "best.pt", "--overwrite", *TINY]
    result = invoke("train", *args)
    assert_refused(result, 2, f"{out / 'best.pt'}: this command reads it (the --init checkpoint {out / 'best.pt'})")
    assert snapshot(tmp_path) == before


def test_denoise_never_replaces_an_input_through_a_hard_link(tmp_path, model):
    first = photo(tmp_path / "a.png")
    photo(tmp_path / "b.png", 1)
    os.link(first, tmp_path / "b_denoised.png")  # b's output name is a.png under another name
    before = snapshot(tmp_path)
    result = invoke("denoise", first, tmp_path / "b.png", "--overwrite", "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert f"output {tmp_path / 'b_denoised.png'} would overwrite an input" in line
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before and "a_denoised.png" in after


def test_the_read_set_is_seen_by_writer_threads_and_ends_with_the_command(tmp_path):
    victim = tmp_path / "in.png"
    victim.write_bytes(b"an input")
    os.link(victim, tmp_path / "alias.png")
    with protecting(files_read(inputs=[victim])), ThreadPoolExecutor(1) as pool:
        refused = pool.submit(write_file, tmp_path / "alias.png", b"output", overwrite=True)
        with pytest.raises(CaeDenoiseError, match=r"alias\.png: this command reads it \(an input\)"):
            refused.result()
    assert victim.read_bytes() == b"an input" and sorted(p.name for p in tmp_path.iterdir()) == ["alias.png", "in.png"]
    write_file(tmp_path / "alias.png", b"output", overwrite=True)  # no command reads it any more
    assert victim.read_bytes() == b"an input"


def test_the_shipped_model_counts_as_read_when_named_default():
    reads = files_read(checkpoints=[("--model", "default")])
    assert reads.role_of(resolve_model_path("default")) == "the --model checkpoint default"


# --- one run per folder (item 2) ------------------------------------------------------------------------------

HOLDER = """
import sys
from cae_denoise.io.locks import run_lock
with run_lock(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def test_a_second_run_is_refused_while_another_process_holds_the_folder(tmp_path, image_folder):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "holding\n"  # from here on the lock is held: no timing involved
        before = snapshot(tmp_path)
        named = f"{out} is in use by another run (pid {holder.pid} on {socket.gethostname()}"
        assert_refused(invoke("train", "--data", image_folder, "--out", out, *TINY), 1, named)
        assert_refused(invoke(*EXPERIMENT, "--data", image_folder, "--out", out), 1, named)
        assert snapshot(tmp_path) == before
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "released\n"
        assert holder.wait(timeout=60) == 0
    assert not (out / LOCK_NAME).exists()
    result = invoke("train", "--data", image_folder, "--out", out, *TINY)  # free again
    assert result.exit_code == 0, result.output
    assert not (out / LOCK_NAME).exists()


def _plant_lock(folder: Path, **changes: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    holder = {"pid": 2**22 + 1, "host": socket.gethostname(), "started": "2026-11-30 08:00:00",
              "command": "cae-denoise train --out run", "token": "0" * 32, **changes}  # fmt: skip
    (folder / LOCK_NAME).write_text(json.dumps(holder))
    return folder / LOCK_NAME


def test_a_lock_left_by_a_process_that_is_gone_is_replaced_with_a_note(tmp_path, image_folder):
    out = tmp_path / "run"
    _plant_lock(out)  # pid 2**22 + 1 is above any pid Linux hands out: that process cannot be running
    result = invoke("train", "--data", image_folder, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    [note] = [line for line in result.stderr.splitlines() if line.startswith("note: removed a lock")]
    assert f"left in {out} by a run that is gone (pid {2**22 + 1} on {socket.gethostname()}" in note
    assert not (out / LOCK_NAME).exists() and (out / "best.pt").is_file()


@pytest.mark.parametrize(("changes", "fragment"), [({"host": "elsewhere"}, "on elsewhere"), (None, "cannot be read")])
def test_a_lock_that_may_be_live_is_never_taken_over(tmp_path, image_folder, changes, fragment):
    out = tmp_path / "run"
    lock = _plant_lock(out, **(changes or {}))
    if changes is None:
        lock.write_text("{ half a lock")
    before = snapshot(tmp_path)
    assert_refused(
        invoke("train", "--data", image_folder, "--out", out, *TINY), 1, "is in use by another run", fragment
    )
    assert snapshot(tmp_path) == before


def test_a_run_that_cannot_start_leaves_no_lock_and_no_folder(tmp_path):
    out = tmp_path / "new" / "run"
    result = invoke("train", "--data", tmp_path / "missing", "--out", out, *TINY)
    assert_refused(result, 1, "no such folder or archive")
    assert sorted(tmp_path.iterdir()) == []  # the folders the lock made for the run are gone again


def test_the_lock_is_re_entrant_in_its_thread_and_refused_to_another(tmp_path):
    with run_lock(tmp_path / "run") as lock:
        with run_lock(tmp_path / "run"):  # the evaluation after training, a run inside an experiment
            assert lock.is_file()
        assert lock.is_file()
        with ThreadPoolExecutor(1) as pool, pytest.raises(CaeDenoiseError, match="in use by another run in this"):
            pool.submit(lambda: run_lock(tmp_path / "run").__enter__()).result()
    assert not lock.exists() and not (tmp_path / "run").exists()


# --- names the user gave (item 3) -------------------------------------------------------------------------------


@pytest.mark.parametrize("named", ["folder", "link"])
def test_outputs_are_named_after_the_link_and_land_where_the_user_named_it(tmp_path, model, named):
    photo(tmp_path / "img" / "small.png")
    folder = tmp_path / "a" / "dir"
    folder.mkdir(parents=True)
    (folder / "link.png").symlink_to(Path("../../img/small.png"))
    (folder / "album").symlink_to(tmp_path / "img", target_is_directory=True)
    (folder / "broken.png").symlink_to("nowhere.png")
    before = snapshot(tmp_path)
    source = folder if named == "folder" else folder / "link.png"
    result = invoke("denoise", source, "--model", model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"wrote {folder / 'link_denoised.png'}" in result.stderr
    assert Image.open(folder / "link_denoised.png").size == (26, 24)
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before and set(after) - set(before) == {"a/dir/link_denoised.png"}
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    if named == "folder":  # the scan says which links it left out, in one line
        [note] = notes
        assert "2 entries left out (links to folders, which are not followed, broken links" in note
        assert note.endswith("never opened): album, broken.png")
    else:
        assert notes == []


# --- signals, interruptions and honest counts (item 4) ----------------------------------------------------------

TERM_AT_THIRD_BATCH = """
import os, signal
from cae_denoise.data.sources import PatchSampler
original, calls = PatchSampler.batch, []
def batch(self, count, generator):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGTERM)
    return original(self, count, generator)
PatchSampler.batch = batch
"""


def test_sigterm_in_training_saves_the_step_reached_and_releases_the_folder(tmp_path, image_folder):
    out = tmp_path / "run"
    args = ["train", "--data", image_folder, "--out", out, *TINY, "--epochs", "2"]
    done = run_cli(*args, script=TERM_AT_THIRD_BATCH)
    assert done.returncode == 143, done.stderr
    assert f"terminated: saved {out / 'last.pt'}; continue with: cae-denoise train --resume {out}" in done.stderr
    assert "Traceback" not in done.stderr
    assert load_checkpoint(out / "last.pt")["train_state"]["global_step"] == 3  # the step in flight finished
    assert temporaries(out) == [] and not (out / LOCK_NAME).exists()
    resumed = invoke("train", "--resume", out)
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(out / "last.pt")["train_state"]["global_step"] == 4


TERM_WHILE_WRITING = """
import os, signal, threading
from cae_denoise import denoising
from cae_denoise.io import outputs
original_fsync, original_one, handed = os.fsync, denoising._denoise_one, []
next_output_queued = threading.Event()
def denoise_one(*args, **kwargs):  # the main thread hands an output to the writer
    result = original_one(*args, **kwargs)
    handed.append(result)
    if len(handed) == 2:
        next_output_queued.set()
    return result
def fsync(descriptor):  # SIGTERM from the writer thread, as an output is being written
    next_output_queued.wait(60)  # the first, only once the second output waits in the writer's queue
    os.kill(os.getpid(), signal.SIGTERM)
    return original_fsync(descriptor)
denoising._denoise_one = denoise_one
outputs.os.fsync = fsync
"""


def test_sigterm_while_denoising_leaves_no_temporary_and_no_partial_output(tmp_path, checkpoint, photos):
    before = snapshot(photos)
    done = run_cli("denoise", photos, "--model", checkpoint, "--device", "cpu", script=TERM_WHILE_WRITING)
    assert done.returncode == 143, done.stderr
    assert "terminated" in done.stderr and "Traceback" not in done.stderr
    assert temporaries(photos) == []
    after = snapshot(photos)
    assert {name: after[name] for name in before} == before
    written = sorted(set(after) - set(before))
    assert "c0_denoised.png" in written  # the write in flight completed
    for name in written:
        with Image.open(photos / name) as image:
            image.load()  # complete files only


def test_an_interrupt_before_the_first_step_claims_no_save(tmp_path, image_folder, monkeypatch):
    from cae_denoise.cli.progress import TrainingProgress

    def interrupted(self, start):
        raise KeyboardInterrupt

    monkeypatch.setattr(TrainingProgress, "on_start", interrupted)
    out = tmp_path / "run"
    result = invoke("train", "--data", image_folder, "--out", out, *TINY)
    assert result.exit_code == 130, result.output
    assert "interrupted before the first training step: nothing was saved" in result.stderr
    assert "--resume" not in result.stderr and not out.exists()  # the folder the run made (and its lock) are gone


def test_an_interrupt_during_the_final_evaluation_says_what_training_saved(tmp_path, image_folder, monkeypatch):
    from cae_denoise.training import tasks

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tasks, "evaluation_report", interrupted)
    out = tmp_path / "run"
    result = invoke("train", "--data", image_folder, "--out", out, *TINY)
    assert result.exit_code == 130, result.output
    assert f"interrupted: saved {out / 'last.pt'}; continue with: cae-denoise train --resume {out}" in result.stderr
    assert not (out / "eval_test.json").exists() and not (out / LOCK_NAME).exists()
    monkeypatch.undo()
    resumed = invoke("train", "--resume", out)  # a finished run: no step, then the evaluation
    assert resumed.exit_code == 0, resumed.output
    assert (out / "eval_test.json").is_file()


def test_a_side_by_side_picture_that_cannot_be_written_does_not_unsay_the_output(tmp_path, model, monkeypatch):
    source = photo(tmp_path / "a.png")
    report = tmp_path / "report.json"
    write = files.write_file

    def disk_full_for_pictures(path, data, *, overwrite=False):
        if path.name.endswith("_side_by_side.png"):
            raise CaeDenoiseError(f"{path}: cannot write (No space left on device)")
        return write(path, data, overwrite=overwrite)

    monkeypatch.setattr(files, "write_file", disk_full_for_pictures)
    args = ["denoise", source, "--side-by-side", "--report", report, "--model", model, "--device", "cpu"]
    result = invoke(*args)
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "a.png: side-by-side picture not written" in line and "No space left on device" in line
    assert "1 of 1 file done: 1 denoised, 1 side-by-side picture not written" in result.stdout
    assert Image.open(tmp_path / "a_denoised.png").size == (26, 24)
    assert not (tmp_path / "a_denoised_side_by_side.png").exists()
    body = json.loads(report.read_text())
    assert (body["denoised"], body["failed"], body["side_by_side_not_written"]) == (1, 0, 1)
    assert body["files"][0]["side_by_side"] is None and "No space left" in body["files"][0]["side_by_side_error"]


@pytest.mark.parametrize("problem", ["under a file", "name too long"])
@pytest.mark.parametrize("command", ["denoise", "evaluate", "compare"])
def test_a_report_that_cannot_be_written_is_refused_before_the_work(tmp_path, model, photos, command, problem):
    (tmp_path / "blocker").write_bytes(b"a file where a folder should be")
    report = tmp_path / "blocker" / "r.json" if problem == "under a file" else tmp_path / ("r" * 300 + ".json")
    fragment = f"{tmp_path / 'blocker'} is not a folder" if problem == "under a file" else "is 305 bytes, over the"
    args = {
        "denoise": ["denoise", photos / "c0.png", "--model", model],
        "evaluate": ["evaluate", model, "--data", photos, "--split", "all"],
        "compare": ["compare", model, "nlm", "--data", photos, "--split", "all"],
    }[command]
    before = snapshot(tmp_path)
    assert_refused(invoke(*args, "--report", report, "--device", "cpu"), 2, "--report", fragment)
    assert snapshot(tmp_path) == before  # nothing denoised or evaluated first


def test_an_onnx_name_never_holds_torchscript(tmp_path, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    out = tmp_path / "out"
    out.mkdir()
    assert_refused(invoke("export", model, out / "x.onnx"), 1, "ONNX export needs onnx")  # chosen by name
    refused = invoke("export", model, out / "x.onnx", "--format", "torchscript")
    assert_refused(refused, 2, "x.onnx: --format torchscript writes a TorchScript file; name it .pt")
    assert_refused(invoke("export", model, out / "x.pt", "--format", "onnx"), 2, "name it .onnx")
    assert sorted(out.iterdir()) == []
    done = invoke("export", model, out / "x.pt")
    assert done.exit_code == 0 and f"wrote {out / 'x.pt'} (TorchScript, as its name says)" in done.stdout
    assert torch.jit.load(str(out / "x.pt"))(torch.rand(1, 3, 20, 22)).shape == (1, 3, 20, 22)


def test_a_long_input_name_is_written_and_a_too_long_output_name_refused(tmp_path, model):
    fits = photo(tmp_path / ("a" * (NAME_MAX - len("_denoised.png")) + ".png"))  # its output name: NAME_MAX bytes
    too_long = photo(tmp_path / ("b" * (NAME_MAX - len(".png")) + ".png"), 1)
    result = invoke("denoise", fits, too_long, "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert f"its output's name would be {NAME_MAX - 4 + 13} bytes, over the {NAME_MAX}" in line and "bbbb" in line
    assert (tmp_path / f"{fits.stem}_denoised.png").is_file() and temporaries(tmp_path) == []
    assert "1 of 2 files done" in result.stdout


def test_a_run_kept_in_its_data_folder_never_learns_from_its_own_chart(tmp_path):
    data = tmp_path / "photos"
    for index in range(6):
        photo(data / f"p{index}.png", index, (40, 44))
    args = ["train", "--data", data, "--out", data, *TINY]
    assert invoke(*args).exit_code == 0
    assert (data / "training_curves.png").is_file()
    first = json.loads((data / "train_report.json").read_text())
    again = invoke(*args, "--overwrite")
    assert again.exit_code == 0, again.output
    second = json.loads((data / "train_report.json").read_text())
    assert first["training"]["images"] == second["training"]["images"] == 6
    assert first["split"] == second["split"] and "training_curves.png" not in json.dumps(second["split"])
    evaluation = json.loads((data / "eval_test.json").read_text())
    assert "training_curves.png" not in evaluation["images"]  # named among the skipped files, not scored


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--seed=1180591620717411303424"], "Invalid value for '--seed'"),
        (["experiment", "--seeds", "100000000000000000000"], "Invalid value for '--seeds'"),
    ],
)
def test_huge_seeds_are_usage_errors_not_overflows_or_hangs(tmp_path, args, fragment):
    done = run_cli(*args, "--out", tmp_path / "run", timeout=120)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and fragment in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"split": ["a.png"]}, "field 'split' must map train/val/test to lists of image names, got list"),
        ({"split": {"train": "a.png"}}, "field 'split' must map"),
        ({"training": "pairs"}, "field 'training' must be a mapping with a 'kind' name, got str"),
        ({"training": {"kind": 3}}, "'kind' name, got int"),
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_checkpoint_metadata_of_the_wrong_type_is_one_line(
    tmp_path, checkpoint, image_folder, change, fragment, command
):
    hostile = tmp_path / "hostile.pt"
    save_checkpoint(hostile, {**load_checkpoint(checkpoint), **change}, overwrite=True)
    methods = [hostile] if command == "evaluate" else [hostile, "nlm"]
    before = snapshot(tmp_path)
    result = invoke(command, *methods, "--data", image_folder, "--report", tmp_path / "r.json", "--device", "cpu")
    assert_refused(result, 1, "hostile.pt", fragment)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "content",
    ['{"levels": [{"methods"', "[]", '{"methods": {}}', '{"methods": {"m": {"kind": "model", "train_config": {}}}}'],
)
def test_an_experiment_with_a_damaged_evaluation_is_one_line(tmp_path, image_folder, content):
    out = tmp_path / "experiment"
    (out / "leaky_seed0").mkdir(parents=True)
    (out / "leaky_seed0" / "eval_test.json").write_text(content)
    before = snapshot(tmp_path)
    result = invoke(*EXPERIMENT, "--data", image_folder, "--out", out)
    assert_refused(result, 1, "leaky_seed0/eval_test.json: not a readable evaluation of that run", "remove it")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["denoise", "{photo}", "--strength", "2", "--noise-level", "20"], "give --strength or --noise-level"),
        (["denoise", "{photo}", "--format", "jpeg", "--png-level", "3"], "--png-level applies to PNG files"),
        (["evaluate", "{model}", "--noisy-data", "{photos}", "--sigma", "15"], "--sigma: with --noisy-data"),
        (
            ["evaluate", "{model}", "--noisy-data", "{photos}", "--sigma", "15", "--noise", "camera"],
            "--sigma, --noise:",
        ),
        (["compare", "{model}", "nlm", "--noisy-data", "{photos}", "--noise", "camera"], "--noise: with --noisy-data"),
        (["train", "--patch", "16", "--resize", "32"], "give --patch or --resize, not both"),
        (["train", "--val-sigma", "15", "--val-noise", "camera"], "give --val-sigma or --val-noise, not both"),
        (["train", "--arch", "baseline", "--negative-slope", "0.1"], "--negative-slope applies to LeakyReLU models"),
    ],
)
def test_options_that_would_be_ignored_are_refused(tmp_path, model, photos, args, fragment):
    fill = {"{photo}": photos / "c0.png", "{model}": model, "{photos}": photos}
    args = [fill.get(arg, arg) for arg in args]
    if args[0] in ("evaluate", "compare"):
        args += ["--data", photos, "--report", tmp_path / "r.json"]
    if args[0] == "train":
        args += ["--data", photos, "--out", tmp_path / "run"]
    before = snapshot(tmp_path)
    assert_refused(invoke(*args, "--device", "cpu"), 2, fragment)
    assert snapshot(tmp_path) == before


def test_long_values_are_quoted_short(tmp_path, model):
    value = "x" * 100_000
    for args in (["export", model, tmp_path / "x.pt", "--format", value],):
        [line] = error_lines(invoke(*args))
        assert len(line) < 200 and "100,002 characters" in line  # repr() adds the quotes
    chosen = [sys.executable, "-m", "cae_denoise", "denoise", "a.png", "--format", value]  # checked by the parser
    [line] = subprocess.run(chosen, capture_output=True, text=True, timeout=60).stderr.strip().splitlines()
    assert len(line) < 400 and "characters)" in line and line.startswith("error: ")
    mixture = "+".join(["gaussian:5"] * 5000)
    assert len(noise_label({"kind": "synthetic", "spec": mixture})) < 100
