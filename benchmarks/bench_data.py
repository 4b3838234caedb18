"""Is training starved by data preparation? Batch-making time against training-step time, per architecture.

Training makes each batch in the main process, between steps (no worker processes): random crops with a
random flip/rotation (``PatchSampler.batch``) and Gaussian noise (``GaussianNoise.add_to_batch``). This script
times that on the built-in training images (patch 64, batch 16, sigma 25, as ``TrainConfig``) and compares it
with one training step (forward, MSE, backward, Adam) of each architecture: ``data/step`` near 0 means the
device spends its time on the model; ``data share`` is the part of a whole step (data + model) spent on data.
It also times decoding the built-in source once (``load_source("builtin")``, on the CPU), paid once per run.

``--device cuda`` (or ``cuda:N``) does both on that GPU, as ``train`` does there: the training images are
copied to the GPU once and batches are cut and noised there (``DevicePatchSampler``, a generator on the
device), the steps run on the GPU, and every timed repetition is synchronised before the clock is read.
Decoding the source stays on the CPU (it always does).

    python benchmarks/bench_data.py
    python benchmarks/bench_data.py --device cuda
    python benchmarks/bench_data.py --quick
"""

from __future__ import annotations

import argparse
import time

from common import (
    add_batch_options,
    add_common_options,
    add_device_option,
    apply_threads,
    median_seconds,
    parse_device,
    print_machine,
    print_table,
    train_step_function,
)

from cae_denoise.data.sources import DevicePatchSampler, PatchSampler, load_source, make_split
from cae_denoise.models.architectures import create_model, list_models
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.loop import new_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_batch_options(parser)
    add_device_option(parser)
    parser.add_argument("--warmup", type=int, default=3, help="untimed repetitions (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repetitions, median (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, args.device)
    if args.quick:
        args.patch, args.batch_size, args.warmup, args.repeats = 32, 4, 1, 3

    print_machine(device)
    tick = time.perf_counter()
    source = load_source("builtin")
    load_seconds = time.perf_counter() - tick
    megapixels = sum(image.pixels.shape[0] * image.pixels.shape[1] for image in source.images) / 1e6
    print(
        f"load_source('builtin') on the CPU: {load_seconds:.2f} s for {len(source.images)} images, {megapixels:.1f} MP"
    )
    train = source.by_names(make_split(source).train)
    tick = time.perf_counter()
    if device.type == "cuda":
        samples = DevicePatchSampler(train, device=device, patch=args.patch)
    else:
        samples = PatchSampler(train, patch=args.patch)
    sampler_seconds = time.perf_counter() - tick
    print(f"{type(samples).__name__}({len(train)} training images, patch {args.patch}): {sampler_seconds:.3f} s")

    noise, generator = GaussianNoise(25.0, 25.0), new_generator(device, 0)
    data_seconds = median_seconds(
        lambda: noise.add_to_batch(samples.batch(args.batch_size, generator), generator),
        warmup=args.warmup,
        repeats=args.repeats,
        device=device,
    )
    batch = f"batch of {args.batch_size} on {device} (crops + flips + noise)"
    print(f"{batch}: {1000 * data_seconds:.2f} ms, median of {args.repeats}")
    print()

    rows = []
    for arch in list_models():
        step = train_step_function(create_model(arch), args.patch, args.batch_size, device)
        step_seconds = median_seconds(step, warmup=args.warmup, repeats=args.repeats, device=device)
        rows.append(
            [
                arch,
                f"{1000 * step_seconds:.1f}",
                f"{1000 * data_seconds:.2f}",
                f"{data_seconds / step_seconds:.4f}",
                f"{100 * data_seconds / (data_seconds + step_seconds):.2f}%",
            ]
        )
    print_table(["arch", "step ms", "data ms", "data/step", "data share"], rows)


if __name__ == "__main__":
    main()
