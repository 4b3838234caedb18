"""Training-step throughput of every registered architecture, against the device's measured convolution ceiling.

A step is what ``cae_denoise.training.loop`` does per batch minus data preparation: forward, MSE loss, backward and
an Adam step on a fixed random batch. For each architecture the script reports patches per second (median
over timed steps after warm-up), the GFLOP/s this achieves (FLOPs of one forward + backward counted with
``torch.utils.flop_counter.FlopCounterMode``; convolutions and matmuls only, so element-wise work is not
counted), and that as a percentage of the best GFLOP/s a single large fp32 Conv2d forward reaches on the same
device under ``torch.inference_mode`` (3x3, 32/64/128 channels in and out).

``--device cuda`` (or ``cuda:N``) runs the steps and the ceiling on that GPU: model and batch are moved there
in the trainer's layout, cuDNN picks its kernels (``cudnn.benchmark``, as ``train`` sets it), convolutions use
TF32 (PyTorch's default; so does the ceiling), and every timed step is synchronised before the clock is read.

    python benchmarks/bench_train.py                 # defaults: patch 64, batch 16, as TrainConfig; CPU
    python benchmarks/bench_train.py --device cuda   # the same on the GPU
    python benchmarks/bench_train.py --quick         # smoke test
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import (
    add_batch_options,
    add_common_options,
    add_device_option,
    apply_threads,
    median_seconds,
    parse_device,
    print_machine,
    print_table,
    report_ceiling,
    train_step_function,
)
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cae_denoise.models.architectures import count_parameters, create_model, list_models


def step_flops(model: nn.Module, patch: int, batch_size: int, device: torch.device) -> int:
    """FLOPs of one forward + MSE + backward pass (as counted by FlopCounterMode); ``model`` is on ``device``."""
    noisy, clean = (torch.rand(batch_size, 3, patch, patch, device=device) for _ in range(2))
    with FlopCounterMode(display=False) as counter:
        F.mse_loss(model(noisy), clean).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_batch_options(parser)
    add_device_option(parser)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per arch (default %(default)s)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per arch (default %(default)s)")
    parser.add_argument("--archs", nargs="+", default=list_models(), help="architectures (default: all registered)")
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, args.device)
    if args.quick:
        args.patch, args.batch_size, args.warmup, args.steps = 32, 4, 1, 2

    print_machine(device)
    torch.manual_seed(0)
    ceiling = report_ceiling(args.quick, device)
    print(f"training step: patch {args.patch}, batch {args.batch_size}, median of {args.steps} after {args.warmup}")
    print()

    rows = []
    for arch in args.archs:
        model = create_model(arch).to(device)
        flops = step_flops(model, args.patch, args.batch_size, device)
        step = train_step_function(model, args.patch, args.batch_size, device)
        seconds = median_seconds(step, warmup=args.warmup, repeats=args.steps, device=device)
        achieved = flops / seconds / 1e9
        rows.append(
            [
                arch,
                f"{count_parameters(model):,}",
                f"{args.batch_size / seconds:.1f}",
                f"{achieved:.1f}",
                f"{ceiling:.1f}",
                f"{100 * achieved / ceiling:.0f}%",
            ]
        )
    print_table(["arch", "params", "patches/s", "GFLOP/s achieved", "ceiling GFLOP/s", "achieved/ceiling"], rows)


if __name__ == "__main__":
    main()
