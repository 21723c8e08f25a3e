#!/usr/bin/env python
"""What a constrained training step of Wargnier-Dauchelle et al.'s clean classifier costs, with its per-sample attribution
computed on the whole batch (the reference: diffad before 2026-12-04) or on the batch's healthy slices alone (`constrained_loss` now).

    python bench/bench_constraint_step.py [--attributions integrated_gradients gradient] [--batch 32] [--repeat 3] [--pathologies tumour ms]

On batches of the phantom experiment's training slices (as `scripts/train_phantom.py` draws them, shuffled, seed 0), the
shipped plain clean classifier of each pathology takes the loss and backward pass of a training step with the protocol's
constraint (`PROTOCOL.clean_constraint`, λ = `CLEAN_LAMBDA`, `TRAIN_IG_STEPS` points) both ways. The table gives the
healthy share of the batches, the seconds per step of each way (median of `--repeat` batches), their ratio, and the
relative difference between the two ways' parameter gradients, all parameters as one vector (the classifier in eval
mode, so that dropout could draw no different masks): only the work differs, not the step (2026-12-04, batches of 32, 2 idle CPU
cores, median of 2: integrated gradients at 8 points 26.0 → 6.9 s a step on the tumour's, 23.6 → 8.2 s on the MS ones;
the gradient 2.7 → 1.7 and 2.6 → 1.5 s; the gradients within 2.2e-4 of each other).
"""
import argparse, statistics, time
from pathlib import Path
import torch
import torch.nn.functional as F
from diffad.data import SliceDataset
from diffad.runs import phantom_experiment, shipped_networks, CLEAN_LAMBDA, TRAIN_IG_STEPS
from diffad.attribution import constrained_loss, attribute, attribution_constraint, LogOdds
from diffad.benchmark import PROTOCOL
from common import load_line

def whole_batch(clf, x, y, t, lam, attribution, form, brain, steps):
    "The reference: the attribution of every slice of the batch, the penalty read on the healthy ones."
    attr = attribute(attribution, LogOdds(clf, 0), x, 0, t, steps, create_graph=True, baseline=-1.)
    return F.cross_entropy(clf(x, t), y) + lam * attribution_constraint(attr, y, 0, form, False, brain)

def timed(fn, clf):
    clf.zero_grad(); t = time.perf_counter(); fn().backward(); s = time.perf_counter() - t
    return s, [p.grad.clone() for p in clf.parameters()]

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--attributions', nargs='+', default=['integrated_gradients', 'gradient'])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument('--pathologies', nargs='+', default=['tumour', 'ms'])
    p.add_argument('--cache', default='runs/cache', help="the phantom experiment (train_phantom.py's default)")
    a = p.parse_args()
    path, split = phantom_experiment(Path(a.cache), progress=False)
    print(load_line('before'), flush=True)
    print('| pathology | attribution | healthy share | s / step, whole batch | s / step, healthy alone | ratio | gradient difference ‖g − g_ref‖ / ‖g_ref‖ |')
    print('|---|---|---|---|---|---|---|')
    c = PROTOCOL.clean_constraint
    for kind in a.pathologies:
        clf = shipped_networks(kind, 'cpu').clean.float().eval()   # eval: no dropout draws, so both ways compute the same step
        ds = SliceDataset(path, subjects=split[kind][0])
        batches = iter(torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, generator=torch.Generator().manual_seed(0)))
        for name in a.attributions:
            rows = []
            for _ in range(a.repeat):
                b = next(batches); x, y, br = b['image'], b['label'].long(), b['brain'] if c['brain'] else None
                t = torch.zeros(len(x), dtype=torch.long)   # a clean classifier is asked at t = 0, as it was trained
                s0, g0 = timed(lambda: whole_batch(clf, x, y, t, CLEAN_LAMBDA[kind], name, c['form'], br, TRAIN_IG_STEPS), clf)
                s1, g1 = timed(lambda: constrained_loss(clf, x, y, t, CLEAN_LAMBDA[kind], name, c['form'], steps=TRAIN_IG_STEPS, brain=br), clf)
                diff = float(torch.cat([(u - v).flatten() for u, v in zip(g1, g0)]).norm() / torch.cat([v.flatten() for v in g0]).norm())
                rows.append((float((y == 0).float().mean()), s0, s1, diff))
            h, s0, s1 = (statistics.median(r[i] for r in rows) for i in range(3))
            print(f'| {kind} | {name} | {h:.2f} | {s0:.2f} | {s1:.2f} | {s0 / s1:.2f} | {max(r[3] for r in rows):.1e} |', flush=True)
    print(load_line('after'), flush=True)
