"""Is training fed fast enough? The whole product step against the model step alone, on any device.

Both use the training loop's own parts (``cae_denoise.train``: ``build_data``, ``build_model``,
``build_optimizer``, the objective of the run's kind, the device layout, autocast with ``--amp``):

- ``product step``: what ``train`` does per step: sample a batch (crops, flips, noise; on a GPU this happens
  there, ``DevicePatchSampler``), copy it to the device, forward, loss, backward and Adam; the loss is read back
  every ``LOSS_READ_INTERVAL`` steps on a GPU (every step on the CPU), as the loop does;
- ``model step``: forward, loss, backward and Adam on one batch already on the device;
- ``batch``: sampling and noise alone (synchronised).

Each is the mean over ``--steps`` consecutive steps, synchronised with the device only before and after, as in a
run. ``product / model`` near 1 means the model is the bottleneck; well above 1, the device waits on the host.

    python benchmarks/bench_step.py                                    # CPU, unet, patch 64, batch 16
    python benchmarks/bench_step.py --device cuda --patch 128 --batch-size 64 --amp
    python benchmarks/bench_step.py --quick
"""

from __future__ import annotations

import argparse
import dataclasses
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
from cae_denoise.inference import preferred_layout
from cae_denoise.objectives import objective_for
from cae_denoise.train import LOSS_READ_INTERVAL, autocast_for, build_data, build_model, build_optimizer, new_generator


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
    parser.add_argument("--steps", type=int, default=40, help="timed steps (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    if args.quick:
        args.patch, args.batch_size, args.steps = 32, 4, 3
    device = parse_device(parser, args.device)
    config = dataclasses.replace(
        TrainConfig(arch=args.arch, patch=args.patch, batch_size=args.batch_size, amp=args.amp), device=str(device)
    )
    config.validate()
    print_machine()
    data = build_data(config, device)
    model = build_model(config, device)
    optimizer, _ = build_optimizer(config, model)
    objective, layout = objective_for(config.kind, config.noise_model()), preferred_layout(device)
    autocast = autocast_for(device, config.amp)
    generator = new_generator(device, 0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    def host_batch() -> tuple[torch.Tensor, ...]:
        return objective.prepare(data.sampler.batch(config.batch_size, generator), generator)

    def to_device(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(t.to(device, non_blocking=True).contiguous(memory_format=layout) for t in tensors)

    def optimise(tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        with autocast:
            loss = objective.loss(model, *tensors, progress=0.5)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    resident = to_device(host_batch())
    rows = []
    host = _per_step(host_batch, device, 3, args.steps)
    model_only = _per_step(lambda: optimise(resident), device, 3, args.steps)
    interval = 1 if device.type == "cpu" else LOSS_READ_INTERVAL
    counter = [0]

    def product_step() -> None:
        loss = optimise(to_device(host_batch()))
        counter[0] += 1
        if counter[0] % interval == 0:
            float(loss.detach())

    product = _per_step(product_step, device, 3, args.steps)
    for name, seconds in (("product step", product), ("model step", model_only), ("batch", host)):
        rows.append([name, f"{1000 * seconds:.1f}", f"{config.batch_size / seconds:.0f}"])
    print(f"{config.arch} on {device}, patch {config.patch}, batch {config.batch_size}, amp {config.amp}")
    print_table(["stage", "ms", "patches/s"], rows)
    print(f"product / model: {product / model_only:.2f}")


if __name__ == "__main__":
    main()
