"""Training-step throughput of every registered architecture, against the CPU's measured convolution ceiling.

A step is what ``cae_denoise.train`` does per batch minus data preparation: forward, MSE loss, backward and
an Adam step on a fixed random batch. For each architecture the script reports patches per second (median
over timed steps after warm-up), the GFLOP/s this achieves (FLOPs of one forward + backward counted with
``torch.utils.flop_counter.FlopCounterMode``; convolutions and matmuls only, so element-wise work is not
counted), and that as a percentage of the best GFLOP/s a single large fp32 Conv2d forward reaches on this
machine under ``torch.inference_mode`` (3x3, 32/64/128 channels in and out).

    python benchmarks/bench_train.py            # defaults: patch 64, batch 16, as TrainConfig
    python benchmarks/bench_train.py --quick    # smoke test
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import (
    add_batch_options,
    add_common_options,
    apply_threads,
    median_seconds,
    print_machine,
    print_table,
    report_ceiling,
    train_step_function,
)
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cae_denoise.models import count_parameters, create_model, list_models


def step_flops(model: nn.Module, patch: int, batch_size: int) -> int:
    """FLOPs of one forward + MSE + backward pass (as counted by FlopCounterMode)."""
    noisy, clean = torch.rand(batch_size, 3, patch, patch), torch.rand(batch_size, 3, patch, patch)
    with FlopCounterMode(display=False) as counter:
        F.mse_loss(model(noisy), clean).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_batch_options(parser)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per arch (default %(default)s)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per arch (default %(default)s)")
    parser.add_argument("--archs", nargs="+", default=list_models(), help="architectures (default: all registered)")
    args = parser.parse_args()
    apply_threads(args.threads)
    if args.quick:
        args.patch, args.batch_size, args.warmup, args.steps = 32, 4, 1, 2

    print_machine()
    torch.manual_seed(0)
    ceiling = report_ceiling(args.quick)
    print(f"training step: patch {args.patch}, batch {args.batch_size}, median of {args.steps} after {args.warmup}")
    print()

    rows = []
    for arch in args.archs:
        model = create_model(arch)
        flops = step_flops(model, args.patch, args.batch_size)
        step = train_step_function(model, args.patch, args.batch_size)
        seconds = median_seconds(step, warmup=args.warmup, repeats=args.steps)
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
