#!/usr/bin/env python
"""How much scoring one slice in K of each subject (`diffad benchmark --eval-every K`, the demo's `--every`) changes
the metrics and their confidence intervals, against scoring every slice.

    python bench/bench_eval_every.py [--every 1 2 3 6] [--methods intensity dae "attribution gradient (plain)"]

On the phantom experiment (`diffad.runs.phantom_experiment`: the shipped networks' validation and test subjects of
both pathologies), the cheap methods (the baselines and a classifier's gradient map: their cost does not matter
here, only what subsampling does to the numbers) are scored by the benchmark's own engine at each K. For each
metric the table prints the estimate, its 95 % bootstrap interval over the test subjects, and how far the estimate
moved from K = 1 in units of the K = 1 interval's half-width: below about 0.25 the subsample changes nothing a
reader could see; the evaluation time falls about K-fold. Choosing the default K from this table is a choice on the
test subjects' numbers, but not of a method's setting: every method is scored on the same slices.
"""
import argparse, tempfile
from pathlib import Path
from diffad.runs import phantom_experiment, shipped_networks
from diffad.benchmark import detectors, run_benchmark
from common import load_line

METRICS = ('dice_star', 'dice', 'auroc', 'auprc', 'dice_subject_all')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--every', type=int, nargs='+', default=[1, 2, 3, 6])
    p.add_argument('--methods', nargs='+', default=['intensity', 'dae', 'attribution gradient (plain)'])
    p.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'diffad_cache'))
    a = p.parse_args()
    cache, split = phantom_experiment(a.cache, progress=False)
    print(load_line('before'), flush=True)
    print("| pathology | method | K | slices | seconds | " + ' | '.join(f'{m} [95 % CI] (shift / K=1 half-width)' for m in METRICS) + ' |')
    print('|' + '---|' * (5 + len(METRICS)))
    for kind in ('tumour', 'ms'):
        table = detectors(shipped_networks(kind, 'cpu'))
        ms = {m: table[m] for m in a.methods}
        ref = {}
        for k in a.every:
            with tempfile.TemporaryDirectory() as out:
                rows = run_benchmark(ms, cache, dict(val=split[kind][1], test=split[kind][2]), out, kind, device='cpu', write_maps=False, progress=False, every=k)
            for r in rows:
                e = r['metrics']
                if k == a.every[0]: ref[r['method']] = e
                cells = []
                for m in METRICS:
                    v, ci = e[m][0] if isinstance(e[m], (list, tuple)) else e[m], e.get('ci', {}).get(m)
                    r0 = ref[r['method']]; v0 = r0[m][0] if isinstance(r0[m], (list, tuple)) else r0[m]; c0 = r0.get('ci', {}).get(m)
                    shift = abs(v - v0) / max((c0[1] - c0[0]) / 2, 1e-12) if c0 else float('nan')
                    cells.append(f'{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] ({shift:.2f})' if ci else f'{v:.3f}')
                print(f"| {kind} | {r['method']} | {k} | {r['slices_evaluated']} | {r['seconds_evaluating']:.1f} | " + ' | '.join(cells) + ' |', flush=True)
    print(load_line('after'))
