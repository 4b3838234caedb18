"""Is training fed fast enough? The whole product step against the model step alone, on any device.

Both time the training loop's own functions on its own parts (``cae_denoise.training.loop``: ``build_run``,
``next_batch``, ``train_step``, with the run's task, layout and autocast with ``--amp``):

- ``product step``: what ``train`` does per step: ``next_batch`` (crops, flips, noise; on a GPU this happens
  there, ``DevicePatchSampler``; copied to the device), then ``train_step`` (forward and loss in autocast,
  backward, gradient clipping with ``--grad-clip``, Adam, the schedule with ``--schedule``); the loss is read
  back every ``LOSS_READ_INTERVAL`` steps on a GPU (every step on the CPU), as the loop does;
- ``model step``: ``train_step`` on one batch already on the device;
- ``batch``: ``next_batch`` alone (sampling, noise and the copy to the device; synchronised).

Each is the mean over ``--steps`` consecutive steps, synchronised with the device only before and after, as in a
run. ``product / model`` near 1 means the model is the bottleneck; well above 1, the device waits on the host.

    python benchmarks/bench_step.py                                    # CPU, unet, patch 64, batch 16
    python benchmarks/bench_step.py --device cuda --patch 128 --batch-size 64 --amp
    python benchmarks/bench_step.py --grad-clip 1 --schedule cosine
    python benchmarks/bench_step.py --quick
"""

from __future__ import annotations

import argparse
import time

import torch
from common import (
    add_batch_options,
    add_common_options,
    add_device_option,
    apply_threads,
    parse_device,
    print_machine,
    print_table,
    synchronize,
)

from cae_denoise.config import TrainConfig
from cae_denoise.training import distributed
from cae_denoise.training.loop import LOSS_READ_INTERVAL, build_run, next_batch, train_step
from cae_denoise.training.tasks import task_for


def _per_step(step, device: torch.device, warmup: int, steps: int) -> float:
    """Mean seconds per step over ``steps`` consecutive steps, synchronised only before and after (as a run)."""
    for _ in range(warmup):
        step()
    synchronize(device)
    tick = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - tick) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_batch_options(parser)
    parser.add_argument("--arch", default="unet", help="architecture (default %(default)s)")
    add_device_option(parser)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast, as train --amp")
    parser.add_argument("--grad-clip", type=float, default=0.0, help="as train --grad-clip (default off)")
    parser.add_argument("--schedule", default="constant", help="as train --schedule (default %(default)s)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    if args.quick:
        args.patch, args.batch_size, args.steps = 32, 4, 3
    device = parse_device(parser, args.device)
    settings = {"patch": args.patch, "batch_size": args.batch_size, "amp": args.amp, "grad_clip": args.grad_clip}
    config = TrainConfig(arch=args.arch, schedule=args.schedule, device=str(device), **settings)
    task = task_for(config)
    print_machine()
    run = build_run(task, distributed.Context(), device)
    run.model.train()
    resident = next_batch(run)
    rows = []
    host = _per_step(lambda: next_batch(run), device, 3, args.steps)
    model_only = _per_step(lambda: train_step(run, resident, progress=0.5), device, 3, args.steps)
    interval = 1 if device.type == "cpu" else LOSS_READ_INTERVAL
    counter = [0]

    def product_step() -> None:
        loss = train_step(run, next_batch(run), progress=0.5)
        counter[0] += 1
        if counter[0] % interval == 0:
            float(loss)

    product = _per_step(product_step, device, 3, args.steps)
    for name, seconds in (("product step", product), ("model step", model_only), ("batch", host)):
        rows.append([name, f"{1000 * seconds:.1f}", f"{config.batch_size / seconds:.0f}"])
    print(f"{config.arch} on {device}, patch {config.patch}, batch {config.batch_size}, amp {config.amp}")
    print_table(["stage", "ms", "patches/s"], rows)
    print(f"product / model: {product / model_only:.2f}")


if __name__ == "__main__":
    main()
