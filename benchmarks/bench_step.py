"""Is training fed fast enough? The whole product step against the model step alone, on any device.

Both use the training loop's own parts (``cae_denoise.train``: ``build_data``, ``build_model``,
``build_optimizer``, the objective of the run's kind, the device layout, autocast with ``--amp``):

- ``product step``: what ``train`` does per step: sample a batch on the host (crops, flips, noise), copy it to
  the device, forward, loss, backward, Adam, and read the loss back (the loop checks it for divergence);
- ``model step``: forward, loss, backward and Adam on one batch already on the device, synchronised after
  every step so the time is real;
- ``host batch``: sampling and noise alone.

``product / model`` near 1 means the model is the bottleneck; well above 1, the device waits on the host.

    python benchmarks/bench_step.py                                    # CPU, unet, patch 64, batch 16
    python benchmarks/bench_step.py --device cuda --patch 128 --batch-size 64 --amp
    python benchmarks/bench_step.py --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from common import add_batch_options, add_common_options, apply_threads, print_machine, print_table

from cae_denoise.config import TrainConfig, resolve_device
from cae_denoise.inference import preferred_layout
from cae_denoise.objectives import objective_for
from cae_denoise.train import autocast_for, build_data, build_model, build_optimizer


def _median(step, device: torch.device, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tick = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - tick)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_batch_options(parser)
    parser.add_argument("--arch", default="unet", help="architecture (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default %(default)s)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast, as train --amp")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    if args.quick:
        args.patch, args.batch_size, args.steps = 32, 4, 3
    device = resolve_device(args.device)
    config = dataclasses.replace(
        TrainConfig(arch=args.arch, patch=args.patch, batch_size=args.batch_size, amp=args.amp), device=str(device)
    )
    config.validate()
    print_machine()
    data = build_data(config)
    model = build_model(config, device)
    optimizer, _ = build_optimizer(config, model)
    objective, layout = objective_for(config.kind, config.noise()), preferred_layout(device)
    autocast = autocast_for(device, config.amp)
    generator = torch.Generator().manual_seed(0)
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
    host = _median(host_batch, device, 3, args.steps)
    model_only = _median(lambda: optimise(resident), device, 3, args.steps)
    product = _median(lambda: float(optimise(to_device(host_batch())).detach()), device, 3, args.steps)
    for name, seconds in (("product step", product), ("model step", model_only), ("host batch", host)):
        rows.append([name, f"{1000 * seconds:.1f}", f"{config.batch_size / seconds:.0f}"])
    print(f"{config.arch} on {device}, patch {config.patch}, batch {config.batch_size}, amp {config.amp}")
    print_table(["stage", "ms", "patches/s"], rows)
    print(f"product / model: {product / model_only:.2f}")


if __name__ == "__main__":
    main()
