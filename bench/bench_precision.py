#!/usr/bin/env python
"""Free CPU throughput for the maps? bf16 autocast, `torch.inference_mode` and channels-last, measured on Wolleb's map.

    python bench/bench_precision.py [--every 6] [--steps 10] [--repeats 3]

On the phantom experiment's validation subjects of each pathology (every `--every`-th slice), with the
shipped networks at the L and s of `PHANTOM_CHOICES`, `--steps` DDIM steps each way:

1. one UNet call of a batch of 16 slices in fp32 under `no_grad`, under `inference_mode`, with
   channels-last input, and under bf16 autocast (seconds per slice, the ratio to fp32, interleaved
   rounds so that every variant sees the same load);
2. Wolleb's map in fp32 and under bf16 autocast: seconds per slice and pooled validation Dice*, and
   the difference. Issue 19's rule: bf16 stays off where it moves Dice* by more than 0.005, or where it
   is not faster.

Ratios in one run, never a timed test; the machine's load is printed before and after.
"""
import argparse, statistics, tempfile, time
from pathlib import Path
import torch
from diffad.core import seed_everything
from diffad.data import SliceDataset
from diffad.runs import phantom_experiment, shipped_networks
from diffad.metrics import detect_dataset, evaluate_maps
from diffad.wolleb import wolleb_detect
from diffad.benchmark import PHANTOM_CHOICES
from common import load_line

def per_call(fns:dict, repeats:int) -> dict:
    "Seconds of each function, `repeats` interleaved rounds after one warm-up call each."
    for f in fns.values(): f()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter(); f(); ts[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in ts.items()}

def wolleb_maps(nets, ds, c:dict, steps:int, bf16:bool) -> dict:
    "Wolleb's maps of `ds` (fp32, or under bf16 autocast), scored: Dice*, seconds per slice."
    det = lambda x: wolleb_detect(nets.diffusion, nets.plain, nets.schedule, x, c['level'], c['scale'], steps)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        r = detect_dataset(lambda x: {k: v.float() if torch.is_tensor(v) else v for k, v in det(x).items()}, ds, 16, 'cpu', progress=False)
    e = evaluate_maps(r['maps'], r['masks'], r['brains'], r['ids'], labels=r['labels'], n_boot=0)
    return dict(dice_star=e['dice_star'], s_per_slice=r['seconds_per_slice'])

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--every', type=int, default=6); p.add_argument('--steps', type=int, default=10); p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args()
    print(load_line('before') + f'; torch {torch.__version__}, {torch.get_num_threads()} threads')
    seed_everything(0)
    cache, split = phantom_experiment(Path(tempfile.gettempdir()) / 'diffad_cache', progress=False)
    nets = shipped_networks('tumour', 'cpu')
    m, x, t = nets.diffusion.eval(), torch.stack([SliceDataset(cache, subjects=split['tumour'][1])[i]['image'] for i in range(16)]), torch.full((16,), 250)
    xc = x.contiguous(memory_format=torch.channels_last)
    def under(ctx, f):
        "`f` run under the context manager `ctx()`."
        def g():
            with ctx(): f()
        return g
    bf16 = lambda: torch.autocast('cpu', dtype=torch.bfloat16)
    calls = per_call({'fp32, no_grad': under(torch.no_grad, lambda: m(x, t)), 'fp32, inference_mode': under(torch.inference_mode, lambda: m(x, t)),
                      'fp32, channels-last input': under(torch.inference_mode, lambda: m(xc, t)),
                      'bf16 autocast': under(torch.inference_mode, under(bf16, lambda: m(x, t)))}, a.repeats)
    ref = calls['fp32, no_grad']
    print('\nOne UNet call, batch of 16 slices (64x64, 4 contrasts):')
    print(f"{'variant':28s} {'ms/slice':>9s} {'/ fp32':>7s}")
    for k, v in calls.items(): print(f'{k:28s} {v / 16 * 1e3:9.2f} {v / ref:7.2f}')
    print(f"\nWolleb's map, {a.steps} DDIM steps each way, validation subjects (every {a.every}th slice):")
    print(f"{'pathology':10s} {'L':>4s} {'s':>6s} {'precision':>9s} {'Dice*':>7s} {'s/slice':>8s} {'ΔDice*':>8s} {'time / fp32':>11s}")
    for kind in ('tumour', 'ms'):
        nets = shipped_networks(kind, 'cpu'); c = PHANTOM_CHOICES[kind]['wolleb']
        ds = SliceDataset(cache, subjects=split[kind][1], every=a.every)
        r32, r16 = wolleb_maps(nets, ds, c, a.steps, False), wolleb_maps(nets, ds, c, a.steps, True)
        for name, r in (('fp32', r32), ('bf16', r16)):
            print(f"{kind:10s} {c['level']:4d} {c['scale']:6.1f} {name:>9s} {r['dice_star']:7.3f} {r['s_per_slice']:8.3f} "
                  f"{r['dice_star'] - r32['dice_star']:+8.4f} {r['s_per_slice'] / r32['s_per_slice']:11.2f}")
    print('\n' + load_line('after'))
