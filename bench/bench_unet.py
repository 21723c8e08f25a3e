#!/usr/bin/env python
"""Time one UNet denoising step (forward only, no grad, eval mode) of diffad against diffusers.

    python bench/bench_unet.py [--batch 8] [--size 64] [--repeats 10] [--threads N] [--nchw]

Prints seconds per step (median and best of `--repeats` runs after warm-up), GFLOP per step counted
by `torch.utils.flop_counter.FlopCounterMode`, the achieved GFLOP/s, this machine's measured fp32
matmul and 3x3-convolution throughput, and the fraction of those peaks. When `diffusers` is
importable (it is not a diffad dependency: `pip install diffusers`, without upgrading torch), the
equivalent `UNet2DModel` is timed in the same run, interleaved step by step with diffad's so that
both see the same load, and the ratio diffad/diffusers is printed.
"""
import argparse, platform, statistics, time
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from diffad.unet import UNet
from common import load_line

WIDTHS, N_RES = (64, 128, 128), 2

def cpu_name() -> str:
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def best_seconds(f, repeats:int=5) -> float:
    "Best wall time of `f()` over `repeats` calls, after one warm-up call."
    f(); ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return min(ts)

def matmul_peak(n:int=2048) -> float:
    "GFLOP/s of an n x n fp32 matmul (BLAS)."
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_seconds(lambda: a @ b) / 1e9

def conv_peak(batch:int=8, ch:int=128, size:int=32) -> float:
    "GFLOP/s of a 3x3 fp32 convolution, ch -> ch channels, NHWC (the UNet's dominant operation)."
    x = torch.randn(batch, ch, size, size).contiguous(memory_format=torch.channels_last)
    w = torch.randn(ch, ch, 3, 3)
    return 2 * batch * ch * ch * 9 * size * size / best_seconds(lambda: F.conv2d(x, w, padding=1)) / 1e9

def gflop(model, x, t) -> float:
    "GFLOP of one forward pass, as counted by FlopCounterMode (matmuls, convolutions, attention)."
    with FlopCounterMode(display=False) as fc: model(x, t)
    return fc.get_total_flops() / 1e9

def diffusers_unet(in_ch:int, size:int):
    "diffusers' UNet2DModel equivalent to diffad's default UNet, or None if diffusers is not installed."
    try: from diffusers import UNet2DModel
    except ImportError: return None
    return UNet2DModel(sample_size=size, in_channels=in_ch, out_channels=in_ch, block_out_channels=WIDTHS,
                       layers_per_block=N_RES, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))

class ChannelsLast(torch.nn.Module):
    "`model` with NHWC weights and input: what a caller can do by hand for a model that does not do it itself."
    def __init__(self, model): super().__init__(); self.model = model.to(memory_format=torch.channels_last)
    def forward(self, x, t): return self.model(x.contiguous(memory_format=torch.channels_last), t)

def time_interleaved(models:dict, x, t, repeats:int, warmup:int=2) -> dict:
    "Seconds per step of each model: `repeats` rounds, each model called once per round, after warm-up."
    for m in models.values():
        for _ in range(warmup): m(x, t)
    times = {k: [] for k in models}
    for _ in range(repeats):
        for k, m in models.items():
            t0 = time.perf_counter(); m(x, t); times[k].append(time.perf_counter() - t0)
    return times

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--repeats', type=int, default=10, help='timed steps per model')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    p.add_argument('--nchw', action='store_true', help="also time diffad's UNet with channels_last=False")
    p.add_argument('--diffusers-nhwc', action='store_true',
                   help="also time diffusers' UNet2DModel with channels_last weights and input (set up by the caller)")
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, t = torch.randn(a.batch, 4, a.size, a.size), torch.randint(0, 1000, (a.batch,))
    models = {'diffad UNet': UNet(in_ch=4, widths=WIDTHS, n_res=N_RES, attn_levels=(2,))}
    if a.nchw: models['diffad UNet (NCHW)'] = UNet(in_ch=4, widths=WIDTHS, n_res=N_RES, attn_levels=(2,), channels_last=False)
    d = diffusers_unet(4, a.size)
    if d is not None: models['diffusers UNet2DModel'] = d
    if d is not None and a.diffusers_nhwc:
        models['diffusers (NHWC)'] = ChannelsLast(diffusers_unet(4, a.size))
    print(load_line('before'), flush=True)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"batch {a.batch}, 4x{a.size}x{a.size}, widths {WIDTHS}, {N_RES} res blocks, attention at the lowest resolution")
    with torch.inference_mode():
        mm, cv = matmul_peak(), conv_peak()
        for m in models.values(): m.eval()
        flops = {k: gflop(m, x, t) for k, m in models.items()}
        times = time_interleaved(models, x, t, a.repeats)
        mm, cv = max(mm, matmul_peak()), max(cv, conv_peak())  # peaks: best of before and after
    print(f"peak: fp32 matmul 2048x2048 {mm:.0f} GFLOP/s; fp32 3x3 conv 8x128x32x32 NHWC {cv:.0f} GFLOP/s (best seen)")
    print(f"\n{'model':24s} {'params':>8s} {'GFLOP':>6s} {'s/step':>7s} {'(best)':>7s} {'GFLOP/s':>8s} {'(best)':>7s}"
          f" {'best/matmul':>12s} {'best/conv':>10s}")
    for k, m in models.items():
        med, best = statistics.median(times[k]), min(times[k])
        print(f"{k:24s} {sum(q.numel() for q in m.parameters())/1e6:7.2f}M {flops[k]:6.1f} {med:7.3f} {best:7.3f} "
              f"{flops[k]/med:8.0f} {flops[k]/best:7.0f} {flops[k]/best/mm:12.2f} {flops[k]/best/cv:10.2f}")
    print("(s/step: median over the timed steps; best: fastest step; fractions of peak compare best with best,\n"
          " since the peaks are best-of-several too. Under a busy machine only the ratios below are meaningful.)")
    if d is None: print("\n(diffusers is not installed: `pip install diffusers` to compare)"); return
    ours, ref = times['diffad UNet'], times['diffusers UNet2DModel']
    print(f"\ndiffad / diffusers: {statistics.median(ours) / statistics.median(ref):.2f} (medians), "
          f"{statistics.median([o / r for o, r in zip(ours, ref)]):.2f} (median of per-round ratios), "
          f"{min(ours) / min(ref):.2f} (best times)")
    print(load_line('after'))

if __name__ == '__main__': main()
