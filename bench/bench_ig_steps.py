#!/usr/bin/env python
"""How many quadrature points Integrated Gradients needs for its anomaly map (diffad's default: 32 Gauss–Legendre points),
and how many references Expected Gradients needs (`--expected`; diffad's default: 16 per slice).

    python bench/bench_ig_steps.py [--steps 4 8 16 32] [--reference 128] [--every 3] [--classifiers clean_constrained ...] [--expected]

On the phantom experiment's validation slices of each pathology (every `--every`-th), for each classifier diffad
ships (the noisy plain and constrained guides asked at t = 0, Wargnier-Dauchelle et al.'s clean plain and clean
constrained ones), the IG map (baseline −1, as `attribution_detect` computes it) with S points is set against the
same map with `--reference` points: the relative L1 difference of the maps over brain voxels, the completeness gap
|Σ IG − (f(x) − f(x'))| relative to |f(x) − f(x')| (f the healthy log-odds), the pooled Dice* of the map (every
brain voxel of the validation slices) and its difference from the reference's, and the seconds per slice. A
step count whose Dice* is within 0.005 of the reference's and whose map differs by a few per cent computes the
same map as far as any table can tell, for S gradient evaluations per slice instead of 32.

With `--expected` the same table is made for Expected Gradients with S references per slice (and S positions α),
drawn from 64 training slices as the benchmark draws its background (`PROTOCOL.references`), one generator seed
for every S; its completeness gap is against the mean reference, and its map differences include the Monte
Carlo noise of S draws, which only more references remove.
"""
import argparse, tempfile, time
from pathlib import Path
import torch
from diffad.data import SliceDataset
from diffad.runs import phantom_experiment, shipped_networks
from diffad.attribution import LogOdds, integrated_gradients, expected_gradients, attribution_map
from diffad.metrics import best_dice
from common import load_line

CLASSIFIERS = ('plain', 'constrained', 'clean', 'clean_constrained')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--steps', type=int, nargs='+', default=[4, 8, 16, 32])
    p.add_argument('--reference', type=int, default=128)
    p.add_argument('--every', type=int, default=3)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--classifiers', nargs='+', default=list(CLASSIFIERS), choices=CLASSIFIERS)
    p.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'diffad_cache'))
    p.add_argument('--expected', action='store_true', help='Expected Gradients with S references instead of Integrated Gradients with S points')
    a = p.parse_args()
    torch.manual_seed(0)
    cache, split = phantom_experiment(a.cache, progress=False)
    print(load_line('before'), flush=True)
    print('| pathology | classifier | S | map difference vs S = {0} (rel. L1, brain) | completeness gap (rel.) | Dice* | Dice* − Dice*(S = {0}) | s / slice |'.format(a.reference))
    print('|---|---|---|---|---|---|---|---|')
    for kind in ('tumour', 'ms'):
        nets, val = shipped_networks(kind, 'cpu'), SliceDataset(cache, subjects=split[kind][1], every=a.every)
        batches = list(torch.utils.data.DataLoader(val, batch_size=a.batch, shuffle=False))
        train = SliceDataset(cache, subjects=split[kind][0])
        refs = torch.stack([train[int(i)]['image'] for i in torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:64]])
        for c in a.classifiers:
            lo = LogOdds(getattr(nets, c))
            res = {}
            for S in [a.reference] + a.steps:
                maps, masks, brains, gaps, t0, g = [], [], [], [], time.perf_counter(), torch.Generator().manual_seed(0)
                for b in batches:
                    x, t = b['image'], torch.zeros(len(b['image']), dtype=torch.long)
                    if a.expected:
                        A = expected_gradients(lo, x, 0, t, references=refs, k=S, generator=g).detach()
                        with torch.no_grad(): df = lo(x, t)[:, 0] - lo(refs, torch.zeros(len(refs), dtype=torch.long))[:, 0].mean()
                    else:
                        A = integrated_gradients(lo, x, 0, t, baseline=-1., steps=S).detach()
                        with torch.no_grad(): df = lo(x, t)[:, 0] - lo(torch.full_like(x, -1.), t)[:, 0]
                    gaps.append(((A.flatten(1).sum(1) - df).abs() / df.abs().clamp_min(1e-8)))
                    maps.append(attribution_map(A)); masks.append(b['mask']); brains.append(b['brain'])
                secs = (time.perf_counter() - t0) / len(val)
                m, y, br = torch.cat(maps), torch.cat(masks).bool(), torch.cat(brains).bool()
                res[S] = dict(map=m, dice=best_dice(m[br], y[br])[0], gap=torch.cat(gaps).median().item(), secs=secs)
            ref = res[a.reference]
            for S in [a.reference] + a.steps:
                r = res[S]
                diff = ((r['map'] - ref['map']).abs() * br).sum() / (ref['map'].abs() * br).sum().clamp_min(1e-12)
                print(f"| {kind} | {c} | {S} | {diff.item():.4f} | {r['gap']:.2e} | {r['dice']:.4f} | {r['dice'] - ref['dice']:+.4f} | {r['secs']:.3f} |", flush=True)
    print(load_line('after'))
