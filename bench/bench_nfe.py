#!/usr/bin/env python
"""Quality against network evaluations (NFE) per map, for each encode–decode method: validation Dice* and AUROC at
a few step counts of DDIM and DPM-Solver++(2M), beside the full-step reference.

    python bench/bench_nfe.py [--kinds tumour ms] [--methods wolleb combined masked] [--per-subject 1] [--factors 1]
                              [--runs ddim:10 dpm++2m:10 ...] [--reference-cache DIR]

On the phantom experiment's validation subjects (`diffad.runs.phantom_experiment`; the slice with the most lesion of
each subject that has one, as `07_wolleb`'s steps table), with the shipped networks at the L and s that `09_combined`
chose (`PHANTOM_CHOICES`): DDIM with 3, 5, 10, 20, 25, 50 and 100 steps each way, DPM-Solver++(2M) with 3, 5, 10, 20 and 25, and
the full-step reference (DDIM over every step of the 1000-step chain from L: L + 1 steps each way). With --factors
(e.g. 0.33 1 3), each setting, the reference included, gets its own s: the chosen s times each factor, the best
pooled Dice* kept (the protocol chooses s at the test run's step count, so a setting is judged at its own best s, not
at the one 09 chose for 10 DDIM steps). The best s is picked on the slices it is reported on, which flatters every row
a little, the reference as much (it gets as many tries); the differences are what to read. --per-subject takes that
many slices of each subject, most lesion first. The reference is
computed once and cached in --reference-cache, keyed by everything that makes it (method, pathology, L, s, the
slices, the networks' files); a later run reuses it. Encodings are not shared between methods here (each row costs
what the method costs alone). NFE per slice are counted by `count_evaluations`: diffusion-model calls and
classifier calls (the guidance gradient, the attribution masks) apart. The goal (issue 19): a default of at most
20 diffusion-model evaluations per map (encode + decode) with Dice* within 0.01 of the reference, on both pathologies. A handful of slices: a direction.
"""
import argparse, hashlib, json, tempfile, time
from pathlib import Path
import numpy as np, torch
from diffad.core import count_evaluations, markdown_table, write_json
from diffad.data import SliceDataset
from diffad.metrics import detect_dataset, evaluate_maps
from diffad.runs import phantom_experiment, shipped_networks, shipped_model
from diffad.benchmark import detectors, PHANTOM_CHOICES
from common import load_line

RUNS = [('ddim', s) for s in (3, 5, 10, 20, 25, 50, 100)] + [('dpm++2m', s) for s in (3, 5, 10, 20, 25)]   # steps each way (2 x steps diffusion-model calls a map)

def lesion_slices(ds, per_subject:int=1) -> list[int]:
    "The `per_subject` slices with the largest lesion area of every subject of `ds` (those with lesion only)."
    area = np.asarray(ds.arrays['mask'])[ds.idx].reshape(len(ds.idx), -1).sum(1, dtype=np.int64)
    ids, out = np.asarray(ds.arrays['subject'])[ds.idx], []
    for u in dict.fromkeys(ids):
        w = np.flatnonzero(ids == u); w = w[np.argsort(-area[w], kind='stable')][:per_subject]
        out += [int(i) for i in w if area[i] > 0]
    return out

def score(det, ds) -> dict:
    "Dice*, AUROC, seconds and NFE per slice of one detector on `ds`."
    with count_evaluations() as n:
        r = detect_dataset(det, ds, batch_size=8, progress=False)
    e = evaluate_maps(r['maps'], r['masks'], r['brains'], r['ids'], labels=r['labels'], n_boot=0)
    calls = {k: v / len(ds) for k, v in n.items()}
    return dict(dice_star=e['dice_star'], auroc=e['auroc'], s_per_slice=r['seconds_per_slice'],
                unet=sum(v for k, v in calls.items() if k in ('UNet', 'Conditioned')), classifier=sum(v for k, v in calls.items() if k not in ('UNet', 'Conditioned')))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--kinds', nargs='+', default=['tumour', 'ms'])
    p.add_argument('--methods', nargs='+', default=['wolleb', 'combined', 'masked'])
    p.add_argument('--cache', default=str(Path(tempfile.gettempdir()) / 'diffad_cache'))
    p.add_argument('--reference-cache', default=str(Path(tempfile.gettempdir()) / 'diffad_nfe_reference'))
    p.add_argument('--per-subject', type=int, default=1, help='validation slices per subject, most lesion first')
    p.add_argument('--factors', type=float, nargs='+', default=[1.], help="s tried per setting: 09's s times each factor, the best kept")
    p.add_argument('--runs', nargs='+', default=None, help="solver:steps settings (default: DDIM 3-100, DPM-Solver++(2M) 3-25)")
    a = p.parse_args()
    runs = [(r.split(':')[0], int(r.split(':')[1])) for r in a.runs] if a.runs else RUNS
    print(load_line('before'), flush=True)
    torch.set_num_threads(torch.get_num_threads())
    cache, split = phantom_experiment(a.cache, progress=False)
    rows, t0 = [], time.time()
    files = {n: hashlib.sha256(shipped_model(n).read_bytes()).hexdigest()[:12] for n in ('diffusion', 'classifier_tumour_constrained_share', 'classifier_ms_constrained_share',
                                                                                         'classifier_tumour', 'classifier_ms')}
    for kind in a.kinds:
        val = SliceDataset(cache, subjects=split[kind][1])
        idx = lesion_slices(val, a.per_subject); print(f'{kind}: {len(idx)} validation slices', flush=True)
        ds, nets = torch.utils.data.Subset(val, idx), shipped_networks(kind, 'cpu')
        for method in a.methods:
            c = PHANTOM_CHOICES[kind][method]
            make = lambda solver, steps, s: next(d for d in detectors(nets, level=c['level'], steps=steps, scales={method: s}, share=False,
                                                                       solver=solver).values() if d.method == method)
            def reference(s):
                "The full-step map's scores at scale s, from the cache or computed and cached."
                key = dict(method=method, kind=kind, level=c['level'], scale=s, slices=idx, networks=files)
                f = Path(a.reference_cache) / (hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16] + '.json')
                if f.exists(): return json.loads(f.read_text())['score']
                r = score(make('ddim', c['level'] + 1, s), ds); f.parent.mkdir(parents=True, exist_ok=True); write_json(f, dict(key=key, score=r))
                return r
            def best(run):
                "(s, scores) of the best of the scales tried, by pooled Dice*."
                tried = {c['scale'] * k: run(c['scale'] * k) for k in a.factors}
                return max(tried.items(), key=lambda kv: kv[1]['dice_star'])
            rs, ref = best(reference)
            rows.append(dict(pathology=kind, method=method, L=c['level'], s=rs, solver='ddim (full-step reference)', steps=c['level'] + 1, **ref,
                             **{'Δ Dice* vs ref': 0., 'Δ AUROC vs ref': 0.}))
            for solver, steps in [(sv, st) for sv, st in runs if st <= c['level']]:   # fewer steps than the reference's L + 1
                s_, r = best(lambda s: score(make(solver, steps, s), ds))
                rows.append(dict(pathology=kind, method=method, L=c['level'], s=s_, solver=solver, steps=steps, **r,
                                 **{'Δ Dice* vs ref': r['dice_star'] - ref['dice_star'], 'Δ AUROC vs ref': r['auroc'] - ref['auroc']}))
            print(f'{kind} {method}: done at {time.time() - t0:.0f} s', flush=True)
    for r in rows: r['NFE'] = r['unet'] + r['classifier']
    print(markdown_table(rows, floatfmt='.3f'))
    print(load_line('after'))
    print(f'\ns per setting: the best of {[round(k, 3) for k in a.factors]} × 09\'s s, on the slices it is scored on.')
    print('NFE = diffusion-model calls (unet: the encode and the decode) + classifier calls per slice. Within 0.01 of the reference at <= 20 diffusion-model calls:')
    for kind in a.kinds:
        for method in a.methods:
            ok = [f"{r['solver']} {r['steps']}" for r in rows if r['pathology'] == kind and r['method'] == method and 'reference' not in r['solver']
                  and r['unet'] <= 20 and abs(r['Δ Dice* vs ref']) <= 0.01]
            print(f"- {kind} {method}: {', '.join(ok) if ok else 'none'}")
